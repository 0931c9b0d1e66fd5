// snnkit/dist/dist_env.cpp
#include "snnkit/dist/dist_options.h"

#include "snnkit/core/error.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace snnkit {

namespace {

const char * env(const char * name) {
    const char * v = std::getenv(name);
    return v != nullptr && *v != '\0' ? v : nullptr;
}

std::string required(const char * name) {
    const char * v = env(name);
    if (v == nullptr) {
        fail(std::string("environment variable ") + name, "is not set (a data-parallel job needs RANK, WORLD_SIZE, "
                                                           "MASTER_ADDR and MASTER_PORT)");
    }
    return v;
}

int int_var(const char * name, const std::string & text, long lo, long hi) {
    char * end = nullptr;
    const long v = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v < lo || v > hi) {
        fail(std::string("environment variable ") + name,
             "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + text + "'");
    }
    return static_cast<int>(v);
}

} // namespace

void set_comm_sched(dist_options & o, const std::string & mode, const std::string & allreduce) {
    if (mode != "defer" && mode != "off") {
        fail("--comm-sched " + mode, "unknown mode (known: defer, off)");
    }
    if (allreduce != "auto" && allreduce != "ring") {
        fail("--allreduce " + allreduce, "unknown algorithm (known: auto, ring)");
    }
    const bool defer = mode == "defer";
    o.io_thread_nice = defer ? 19 : 0;
    o.worker_slice_us = defer ? 100 : 0;
    o.pair_exchange = defer && allreduce == "auto";
}

bool dist_env_present() { return env("WORLD_SIZE") != nullptr; }

dist_options dist_options_from_env(double timeout_s) {
    dist_options o;
    o.timeout_s = timeout_s;
    if (!dist_env_present()) {
        return o;
    }
    o.world_size = int_var("WORLD_SIZE", required("WORLD_SIZE"), 1, 1 << 20);
    o.rank = int_var("RANK", required("RANK"), 0, o.world_size - 1);
    o.local_rank = env("LOCAL_RANK") ? int_var("LOCAL_RANK", env("LOCAL_RANK"), 0, o.world_size - 1) : o.rank;
    o.master_addr = required("MASTER_ADDR");
    o.master_port = int_var("MASTER_PORT", required("MASTER_PORT"), 1, 65535);
    if (env(dist_launcher_env())) {
        o.launch = "snnkit";
        o.agent_store = true;
        o.store_prefix = "/snnkit";
    } else if (env("TORCHELASTIC_RUN_ID") || env("TORCHELASTIC_USE_AGENT_STORE")) {
        o.launch = "torchrun";
        // torch/distributed/rendezvous.py (1.13), _create_c10d_store: with the agent's store every rank is a
        // client and the keys live under PrefixStore(f"/worker/attempt_{TORCHELASTIC_RESTART_COUNT}")
        const char * agent = env("TORCHELASTIC_USE_AGENT_STORE");
        o.agent_store = agent != nullptr && std::string(agent) == "True";
        if (o.agent_store) {
            o.store_prefix = "/worker/attempt_" +
                             std::to_string(int_var("TORCHELASTIC_RESTART_COUNT",
                                                    required("TORCHELASTIC_RESTART_COUNT"), 0, 1 << 20));
        }
    } else {
        o.launch = "env";
    }
    return o;
}

std::vector<int> bind_cpus_from_env() {
    const char * text = env(dist_cpus_env());
    if (text == nullptr) {
        return {};
    }
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    const std::string list = text;
    for (size_t s = 0; s <= list.size();) {
        const size_t e = std::min(list.find(',', s), list.size());
        const std::string item = list.substr(s, e - s);
        char * end = nullptr;
        const long c = std::strtol(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || c < 0 || c >= CPU_SETSIZE) {
            fail(std::string(dist_cpus_env()) + "=" + list, "not a comma-separated list of CPU numbers");
        }
        cpus.push_back(static_cast<int>(c));
        CPU_SET(static_cast<int>(c), &set);
        s = e + 1;
    }
    if (sched_setaffinity(0, sizeof set, &set) != 0) { // binding only speeds things up: go on unbound
        std::fprintf(stderr, "snnkit: warning: %s=%s: cannot bind to these CPUs (%s); running unbound\n",
                     dist_cpus_env(), list.c_str(), std::strerror(errno));
        return {};
    }
    return cpus;
}

} // namespace snnkit
