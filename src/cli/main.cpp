// src/cli/main.cpp: the `snnkit` command.
#include "commands.h"

#include "snnkit/core/error.h"

#include <c10/util/Exception.h>

#include <cstdio>

int main(int argc, char ** argv) {
    CLI::App app{"snnkit: convert ANNs to accurate low-latency spiking networks, train SNNs with surrogate "
                 "gradients, and run and measure them, in C++ on LibTorch."};
    app.require_subcommand(1);
    app.set_version_flag("--version", "snnkit 0.1.0");
    snnkit_cli::add_all_commands(app);
    snnkit_cli::set_command_line(argc, argv);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError & e) {
        return app.exit(e);
    } catch (const snnkit::error & e) {
        std::fprintf(stderr, "snnkit: error: %s\n", e.what());
        return 1;
    } catch (const c10::Error & e) {
        std::fprintf(stderr, "snnkit: error: %s\n", e.what_without_backtrace());
        return 1;
    } catch (const std::exception & e) {
        std::fprintf(stderr, "snnkit: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
