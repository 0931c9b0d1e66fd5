// snnkit/stats/gnuplot.cpp
#include "snnkit/stats/gnuplot.h"

#include "snnkit/core/error.h"
#include "snnkit/io/atomic_file.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sstream>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace snnkit {

namespace {

bool executable(const std::string & path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

bool is_number(const std::string & s) {
    if (s.empty()) {
        return false;
    }
    char * end = nullptr;
    std::strtod(s.c_str(), &end);
    return end && *end == '\0';
}

// A temporary file holding `text`; removed by the destructor.
struct temp_file {
    std::string path;
    explicit temp_file(const std::string & text, const char * pattern) {
        const char * dir = std::getenv("TMPDIR");
        std::string tmpl = std::string(dir && *dir ? dir : "/tmp") + "/" + pattern;
        std::vector<char> buf(tmpl.begin(), tmpl.end());
        buf.push_back('\0');
        const int fd = ::mkstemp(buf.data());
        if (fd < 0) {
            fail(tmpl, std::string("cannot create a temporary file: ") + std::strerror(errno));
        }
        path = buf.data();
        size_t off = 0;
        while (off < text.size()) {
            const ssize_t w = ::write(fd, text.data() + off, text.size() - off);
            if (w <= 0) {
                ::close(fd);
                fail(path, "cannot write the temporary file");
            }
            off += static_cast<size_t>(w);
        }
        ::close(fd);
    }
    ~temp_file() { ::unlink(path.c_str()); }
};

} // namespace

bool program_available(const std::string & program) {
    if (program.empty()) {
        return false;
    }
    if (program.find('/') != std::string::npos) {
        return executable(program);
    }
    const char * path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/bin:/bin");
    std::string d;
    while (std::getline(dirs, d, ':')) {
        if (executable((d.empty() ? "." : d) + "/" + program)) {
            return true;
        }
    }
    return false;
}

void run_gnuplot(const std::string & program, const std::string & script, const std::string & where) {
    if (!program_available(program)) {
        fail(where, "cannot draw charts: '" + program +
                        "' not found (install gnuplot: apt-get install gnuplot-nox, or pass --gnuplot PATH)");
    }
    const temp_file gp(script, "snnkit-plot-XXXXXX");
    const temp_file err("", "snnkit-plot-err-XXXXXX");
    const pid_t pid = ::fork();
    if (pid < 0) {
        fail(where, std::string("cannot start gnuplot: ") + std::strerror(errno));
    }
    if (pid == 0) {
        const int fd = ::open(err.path.c_str(), O_WRONLY | O_TRUNC);
        if (fd >= 0) {
            ::dup2(fd, 2);
            ::dup2(fd, 1);
            ::close(fd);
        }
        const char * argv[] = {program.c_str(), gp.path.c_str(), nullptr};
        ::execvp(program.c_str(), const_cast<char * const *>(argv));
        ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        // gnuplot names the failing script line as '"FILE", line N: problem'; else take its last line.
        std::string first, last;
        std::stringstream lines(read_file(err.path));
        for (std::string l; std::getline(lines, l);) {
            if (first.empty() && l.find(", line ") != std::string::npos) {
                first = l.substr(l.find(", line ") + 2);
            }
            if (l.find_first_not_of(" \t^") != std::string::npos) {
                last = l;
            }
        }
        first = first.empty() ? last : first;
        fail(where, "gnuplot failed (exit " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")" +
                        (first.empty() ? std::string() : ": " + first));
    }
}

// Control characters (a newline above all: it would end the string or the data block, and the next
// line would run as a gnuplot command) become spaces; names come from model files and ONNX / NIR imports.
static char gp_safe(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c; }

std::string gp_quote(const std::string & text) {
    std::string q = "'";
    for (char c : text) {
        q += c == '\'' ? std::string("''") : std::string(1, gp_safe(c));
    }
    return q + "'";
}

std::string gp_datablock(const std::string & name, const std::vector<std::vector<std::string>> & rows) {
    std::string s = "$" + name + " << EOD\n";
    for (const auto & row : rows) {
        for (size_t i = 0; i < row.size(); ++i) {
            std::string f = row[i];
            if (!is_number(f) && f != "?") {
                for (char & c : f) {
                    c = c == '"' ? '\'' : gp_safe(c);
                }
                f = "\"" + f + "\"";
            }
            s += (i ? " " : "") + f;
        }
        s += "\n";
    }
    return s + "EOD\n";
}

} // namespace snnkit
