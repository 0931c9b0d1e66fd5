// bench/bench_args.h: the benchmarks' flags, "--flag value" pairs. --help (or -h) prints the usage and exits 0; a
// flag without a value, an unknown flag or a value the flag cannot take is one error line and the usage, exit 2.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <stdexcept>
#include <string>

namespace bench {

// Calls set(flag, value) for each pair of argv; set returns false for a flag it does not know (and may throw, e.g.
// std::stoll on a bad number).
inline void parse_flag_pairs(int argc, char ** argv, const char * usage,
                             const std::function<bool(const std::string &, const std::string &)> & set) {
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        if (k == "--help" || k == "-h") {
            std::printf("%s\n", usage);
            std::exit(0);
        }
        std::string problem;
        if (i + 1 >= argc) {
            problem = k + " needs a value";
        } else {
            try {
                if (!set(k, argv[i + 1])) {
                    problem = "unknown flag " + k;
                }
            } catch (const std::exception & e) {
                problem = k + " " + argv[i + 1] + ": not a valid value (" + e.what() + ")";
            }
        }
        if (!problem.empty()) {
            std::fprintf(stderr, "%s: %s\n%s\n", argv[0], problem.c_str(), usage);
            std::exit(2);
        }
        ++i;
    }
}

// "on" -> true, "off" -> false; anything else throws (parse_flag_pairs reports it as an invalid value).
inline bool on_off(const std::string & v) {
    if (v != "on" && v != "off") {
        throw std::invalid_argument("expected on or off");
    }
    return v == "on";
}

} // namespace bench
