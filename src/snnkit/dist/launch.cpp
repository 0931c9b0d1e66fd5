// snnkit/dist/launch.cpp
#include "snnkit/dist/launch.h"

#include "snnkit/core/clock.h"
#include "snnkit/core/error.h"
#include "snnkit/dist/dist_options.h"
#include "snnkit/dist/process_group.h"

#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

extern char ** environ;

namespace snnkit {

namespace {

std::atomic<int> g_launcher_signal{0};

extern "C" void on_launcher_signal(int sig) { g_launcher_signal.store(sig); }

// The environment of worker `rank`: this process's, without the job variables, plus the job's.
std::vector<std::string> worker_env(const launch_options & o, int rank, int port, const std::vector<int> & cpus) {
    const char * const job_vars[] = {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "LOCAL_WORLD_SIZE=", "MASTER_ADDR=",
                                     "MASTER_PORT=", "TORCHELASTIC_", "SNNKIT_DIST_LAUNCHER=", "SNNKIT_DIST_CPUS="};
    std::vector<std::string> env;
    for (char ** e = environ; *e != nullptr; ++e) {
        bool job = false;
        for (const char * v : job_vars) {
            job = job || std::strncmp(*e, v, std::strlen(v)) == 0;
        }
        if (!job) {
            env.emplace_back(*e);
        }
    }
    env.push_back("RANK=" + std::to_string(rank));
    env.push_back("LOCAL_RANK=" + std::to_string(rank));
    env.push_back("WORLD_SIZE=" + std::to_string(o.nproc));
    env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(o.nproc));
    env.push_back("MASTER_ADDR=" + o.master_addr);
    env.push_back("MASTER_PORT=" + std::to_string(port));
    env.push_back(std::string(dist_launcher_env()) + "=1");
    if (!cpus.empty()) {
        std::string list;
        for (const int c : cpus) {
            list += (list.empty() ? "" : ",") + std::to_string(c);
        }
        env.push_back(std::string(dist_cpus_env()) + "=" + list);
    }
    return env;
}

// The program to spawn for argv[0]: /proc/self/exe resolved to the file it names, so that a worker's process
// name (ps, top) is the program's ("snnkit") rather than "exe"; /proc/self/exe itself when the file is gone.
std::string spawn_path(const std::string & argv0) {
    if (argv0 != "/proc/self/exe") {
        return argv0;
    }
    char buf[4096];
    const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) {
        return argv0;
    }
    const std::string path(buf, static_cast<size_t>(n));
    return access(path.c_str(), X_OK) == 0 ? path : argv0;
}

std::vector<char *> c_strings(std::vector<std::string> & v) {
    std::vector<char *> p;
    for (auto & s : v) {
        p.push_back(s.data());
    }
    p.push_back(nullptr);
    return p;
}

std::string describe(int rank, pid_t pid, int st) {
    const std::string who = "rank " + std::to_string(rank) + " (pid " + std::to_string(pid) + ")";
    if (WIFSIGNALED(st)) {
        return who + " was killed by signal " + std::to_string(WTERMSIG(st)) + " (" + strsignal(WTERMSIG(st)) + ")";
    }
    return who + " exited with status " + std::to_string(WEXITSTATUS(st));
}

} // namespace

std::vector<int> worker_cpus(const std::vector<int> & allowed, int nproc, int per_worker, int rank) {
    if (per_worker <= 0 || nproc <= 0 || static_cast<size_t>(nproc) * static_cast<size_t>(per_worker) > allowed.size() ||
        rank < 0 || rank >= nproc) {
        return {};
    }
    return std::vector<int>(allowed.begin() + static_cast<ptrdiff_t>(rank) * per_worker,
                            allowed.begin() + static_cast<ptrdiff_t>(rank + 1) * per_worker);
}

std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> cpus;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        for (int c = 0; c < CPU_SETSIZE; ++c) {
            if (CPU_ISSET(c, &set)) {
                cpus.push_back(c);
            }
        }
    }
    return cpus;
}

launch_result launch_workers(const launch_options & o) {
    if (o.nproc < 1) {
        fail("--nproc", "must be at least 1");
    }
    if (o.argv.empty()) {
        fail("launch_workers", "no command to run");
    }
    store_server store(o.master_addr, o.master_port, o.timeout_s);
    const int port = store.port();
    struct sigaction sa {}, old_int {}, old_term {};
    sa.sa_handler = on_launcher_signal;
    sigemptyset(&sa.sa_mask);
    g_launcher_signal.store(0);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    std::vector<pid_t> pids(static_cast<size_t>(o.nproc), -1);
    std::vector<std::string> args = o.argv;
    args[0] = spawn_path(args[0]);
    std::vector<char *> argv = c_strings(args);
    launch_result r;
    const std::vector<int> cpus = allowed_cpus();
    for (int rank = 0; rank < o.nproc; ++rank) {
        std::vector<std::string> env = worker_env(o, rank, port, worker_cpus(cpus, o.nproc, o.cpus_per_worker, rank));
        std::vector<char *> envp = c_strings(env);
        pid_t pid = -1;
        const int rc = posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), envp.data());
        if (rc != 0) {
            r.status = 1;
            r.failure = "rank " + std::to_string(rank) + " could not be started: " + std::strerror(rc);
            break;
        }
        pids[static_cast<size_t>(rank)] = pid;
    }
    int alive = 0;
    for (pid_t p : pids) {
        alive += p > 0 ? 1 : 0;
    }
    bool stopping = !r.failure.empty(); // the others were told to stop
    clock_point stop_at = clock_now();
    bool forwarded = false;
    const auto signal_all = [&](int sig) {
        for (pid_t p : pids) {
            if (p > 0) {
                kill(p, sig);
            }
        }
    };
    if (stopping) {
        signal_all(SIGTERM);
    }
    bool killed = false;
    bool lost_found = false;
    while (alive > 0) {
        int st = 0;
        const pid_t done = waitpid(-1, &st, WNOHANG);
        if (done > 0) {
            for (size_t k = 0; k < pids.size(); ++k) {
                if (pids[k] != done) {
                    continue;
                }
                pids[k] = -1;
                --alive;
                const bool bad = !(WIFEXITED(st) && WEXITSTATUS(st) == 0);
                // A worker killed by a signal that the launcher did not send is the lost rank (the others then
                // fail in their next collective, and may be reaped first); otherwise the first failure is the cause.
                const int sig = WIFSIGNALED(st) ? WTERMSIG(st) : 0;
                const bool ours = (sig == SIGTERM && (stopping || forwarded)) || (sig == SIGKILL && killed);
                const bool lost = sig != 0 && !ours;
                if (bad && (r.failure.empty() || (lost && !lost_found))) {
                    r.failure = describe(static_cast<int>(k), done, st);
                    r.status = sig != 0 ? 128 + sig : WEXITSTATUS(st);
                    lost_found = lost;
                }
                if (bad && !stopping) {
                    stopping = true;
                    stop_at = clock_now();
                    signal_all(SIGTERM);
                }
            }
            continue;
        }
        if (g_launcher_signal.load() != 0 && !forwarded) {
            forwarded = true;
            signal_all(SIGTERM);
        }
        if (stopping && !killed && seconds_since(stop_at) > o.timeout_s + 5.0) {
            killed = true;
            signal_all(SIGKILL);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
    if (r.failure.empty() && forwarded) {
        r.status = 128 + g_launcher_signal.load();
        r.failure = "stopped by signal " + std::to_string(g_launcher_signal.load());
    }
    return r;
}

} // namespace snnkit
