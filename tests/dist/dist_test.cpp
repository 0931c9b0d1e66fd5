// Tests of snnkit/dist: collectives, the bucketed gradient all-reduce, the settings check and the environment,
// with the ranks as threads of this process on loopback (each its own TCPStore client and Gloo mesh); the
// multi-process runs (launcher, torchrun, faults) are tests/cli/dist_*.sh.
#include "snnkit/core/clock.h"
#include "snnkit/core/error.h"
#include "snnkit/dist/data_parallel.h"
#include "snnkit/dist/dist_options.h"
#include "snnkit/dist/grad_reducer.h"
#include "snnkit/dist/launch.h"
#include "snnkit/dist/process_group.h"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace snnkit;

namespace {

// Runs body(rank) in `world` threads joined through a store the test hosts (as the launcher does); returns
// each rank's exception text ("" = none).
std::vector<std::string> run_ranks(int world, const std::function<void(process_group &)> & body, double timeout_s = 20,
                                   const std::function<void(dist_options &)> & tweak = {}) {
    store_server store("127.0.0.1", 0, timeout_s);
    std::vector<std::string> errors(static_cast<size_t>(world));
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
        threads.emplace_back([&, r]() {
            try {
                dist_options o;
                o.rank = r;
                o.world_size = world;
                o.master_port = store.port();
                o.timeout_s = timeout_s;
                o.agent_store = true;
                o.store_prefix = "/test";
                if (tweak) {
                    tweak(o);
                }
                process_group pg(o);
                body(pg);
            } catch (const std::exception & e) {
                errors[static_cast<size_t>(r)] = e.what();
            }
        });
    }
    for (auto & t : threads) {
        t.join();
    }
    return errors;
}

void expect_no_errors(const std::vector<std::string> & errors) {
    for (size_t r = 0; r < errors.size(); ++r) {
        EXPECT_EQ(errors[r], "") << "rank " << r;
    }
}

} // namespace

TEST(ProcessGroup, CollectivesMatchClosedForm) {
    const int world = 3;
    expect_no_errors(run_ranks(world, [&](process_group & pg) {
        const int r = pg.rank();
        at::Tensor t = at::arange(5, at::kFloat) * (r + 1); // sum over ranks: arange * (1 + 2 + 3)
        pg.all_reduce_sum(t, "test sum");
        EXPECT_TRUE(at::allclose(t, at::arange(5, at::kFloat) * 6));
        at::Tensor b = at::full({4}, static_cast<double>(r), at::kDouble);
        pg.broadcast(b, "test broadcast", 2);
        EXPECT_TRUE(at::equal(b, at::full({4}, 2.0, at::kDouble)));
        const auto all = pg.all_gather(at::full({2}, r * 10, at::kLong), "test gather");
        ASSERT_EQ(all.size(), 3u);
        for (int q = 0; q < world; ++q) {
            EXPECT_EQ(all[q][1].item<int64_t>(), q * 10);
        }
        const std::string text = pg.broadcast_bytes(r == 0 ? std::string("from rank 0\0!", 13) : "x", "bytes");
        EXPECT_EQ(text, std::string("from rank 0\0!", 13));
        EXPECT_EQ(pg.failed_ranks(r != 1, "test step"), std::vector<int>{1});
    }));
}

TEST(ProcessGroup, TwoRankExchangeGivesTheRingsSumBitForBit) {
    // each rank's tensors from a generator of its own; three all-reduces in flight at once, twice (the second
    // round reuses the receive buffers), floats and doubles; once by pair exchange and once by Gloo's ring
    const auto inputs = [](int rank) {
        at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(100 + rank);
        return std::vector<at::Tensor>{at::randn({1000}, gen), at::randn({7, 3}, gen).to(at::kDouble),
                                       at::randn({300000}, gen)};
    };
    std::vector<at::Tensor> want; // rank 0's + rank 1's, in closed form
    for (size_t k = 0; k < 3; ++k) {
        want.push_back(inputs(0)[k] + inputs(1)[k]);
    }
    std::vector<std::vector<at::Tensor>> got[2]; // [exchange?][rank] -> tensors
    for (const bool exchange : {true, false}) {
        auto & out = got[exchange ? 1 : 0];
        out.assign(2, {});
        expect_no_errors(run_ranks(
            2,
            [&](process_group & pg) {
                std::vector<at::Tensor> mine;
                for (int round = 0; round < 2; ++round) {
                    mine = inputs(pg.rank());
                    std::vector<std::unique_ptr<pending_collective>> p;
                    for (auto & t : mine) {
                        p.push_back(pg.all_reduce_sum_async(t, "test sum"));
                    }
                    for (auto & q : p) {
                        q->wait();
                    }
                }
                out[static_cast<size_t>(pg.rank())] = mine;
            },
            20, [&](dist_options & o) { o.pair_exchange = exchange; }));
    }
    for (int e = 0; e < 2; ++e) {
        for (int r = 0; r < 2; ++r) {
            ASSERT_EQ(got[e][r].size(), 3u) << "exchange " << e << " rank " << r;
            for (size_t k = 0; k < 3; ++k) {
                EXPECT_TRUE(at::equal(got[e][r][k], want[k])) << "exchange " << e << " rank " << r << " tensor " << k;
            }
        }
    }
}

TEST(GradReducer, AveragesGradientsLikeTheMeanOfEachRanksOwn) {
    const int world = 2;
    // the same model on both ranks; each rank's input differs; one parameter gets no gradient
    const auto make_params = []() {
        // a generator of its own: the ranks are threads of this process, and the global one would interleave
        at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(7);
        std::vector<at::Tensor> p = {at::randn({16, 8}, gen), at::randn({16}, gen), at::randn({4, 16}, gen),
                                     at::randn({4}, gen), at::randn({3}, gen)};
        for (auto & t : p) {
            t.requires_grad_(true);
        }
        return p;
    };
    const auto loss_of = [](const std::vector<at::Tensor> & p, int rank) {
        at::Tensor x = at::linspace(-1, 1, 5 * 8).view({5, 8}) * (rank + 1.5);
        at::Tensor h = at::relu(at::linear(x, p[0], p[1]));
        return at::linear(h, p[2], p[3]).pow(2).mean(); // p[4] unused
    };
    // reference: each rank's gradients computed alone, averaged by hand
    std::vector<at::Tensor> want;
    for (int r = 0; r < world; ++r) {
        auto p = make_params();
        loss_of(p, r).backward();
        for (size_t k = 0; k < 4; ++k) {
            if (r == 0) {
                want.push_back(p[k].grad().clone() / world);
            } else {
                want[k] += p[k].grad() / world;
            }
        }
    }
    size_t buckets = 0;
    expect_no_errors(run_ranks(world, [&](process_group & pg) {
        auto p = make_params();
        grad_reducer_options o;
        o.bucket_bytes = 300; // several buckets for these small tensors
        grad_reducer red(pg, p, o);
        for (int step = 0; step < 2; ++step) { // a second pass reuses the buckets
            for (auto & t : p) {
                if (t.grad().defined()) {
                    t.mutable_grad().zero_();
                }
            }
            red.arm();
            loss_of(p, pg.rank()).backward();
            red.finish();
            for (size_t k = 0; k < 4; ++k) {
                EXPECT_TRUE(at::allclose(p[k].grad(), want[k], 1e-6, 1e-7)) << "param " << k << " step " << step;
            }
            EXPECT_TRUE(at::equal(p[4].grad(), at::zeros({3}))); // no gradient on any rank: zero
        }
        // a .grad replaced by a fresh tensor (not zeroed in place) still gets the average
        p[1].mutable_grad() = at::zeros({16});
        for (auto & t : p) {
            t.mutable_grad().zero_();
        }
        red.arm();
        loss_of(p, pg.rank()).backward();
        red.finish();
        EXPECT_TRUE(at::allclose(p[1].grad(), want[1], 1e-6, 1e-7)) << "replaced .grad";
        EXPECT_TRUE(at::allclose(p[0].grad(), want[0], 1e-6, 1e-7));
        // a backward outside arm()/finish() (e.g. Dspike's probe) leaves the gradients alone
        for (auto & t : p) {
            t.mutable_grad().zero_();
        }
        loss_of(p, pg.rank()).backward();
        EXPECT_FALSE(at::allclose(p[0].grad(), want[0])) << "rank " << pg.rank();
        if (pg.rank() == 0) {
            buckets = red.buckets();
        }
    }));
    EXPECT_GE(buckets, 3u);
}

TEST(DataParallel, SettingsCheckNamesTheDifferingSetting) {
    store_server store("127.0.0.1", 0, 20);
    std::vector<std::string> errors(2);
    std::vector<std::thread> threads;
    for (int r = 0; r < 2; ++r) {
        threads.emplace_back([&, r]() {
            try {
                dist_options o;
                o.rank = r;
                o.world_size = 2;
                o.master_port = store.port();
                o.timeout_s = 20;
                o.agent_store = true;
                data_parallel dp(o);
                dp.check_same({{"--arch", "mlp"}, {"--seed", "1"}}); // the same: passes
                dp.check_same({{"--arch", "mlp"}, {"--T", r == 0 ? "4" : "8"}, {"--seed", "1"}});
            } catch (const std::exception & e) {
                errors[static_cast<size_t>(r)] = e.what();
            }
        });
    }
    for (auto & t : threads) {
        t.join();
    }
    for (int r = 0; r < 2; ++r) {
        EXPECT_NE(errors[r].find("rank 1 differs from rank 0 in --T"), std::string::npos) << errors[r];
        EXPECT_EQ(errors[r].find("--seed"), std::string::npos) << errors[r];
    }
}

namespace {

// The nice value of each thread of this process (field 19 of /proc/self/task/T/stat).
std::vector<int> thread_nice_values() {
    std::vector<int> v;
    for (const auto & e : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream f(e.path() / "stat");
        std::string line;
        std::getline(f, line);
        std::istringstream rest(line.substr(line.rfind(')') + 2)); // fields 3.. after "pid (comm) "
        std::string field;
        for (int k = 3; k <= 19 && rest >> field; ++k) {
        }
        v.push_back(std::stoi(field));
    }
    return v;
}

// The scheduler slice (sched_getattr's sched_runtime, ns) of each thread of this process; Linux >= 6.12 reports
// a SCHED_OTHER thread's slice there.
std::vector<uint64_t> thread_slices() {
    struct {
        uint32_t size, policy;
        uint64_t flags;
        int32_t nice;
        uint32_t prio;
        uint64_t runtime, deadline, period;
        uint32_t umin, umax;
    } a{};
    std::vector<uint64_t> v;
    for (const auto & e : std::filesystem::directory_iterator("/proc/self/task")) {
        a = {};
        if (syscall(SYS_sched_getattr, std::stol(e.path().filename().string()), &a, sizeof a, 0) == 0) {
            v.push_back(a.runtime);
        }
    }
    return v;
}

} // namespace

TEST(ProcessGroup, CommSchedReachesGloosThreadsOnly) {
    for (const bool defer : {false, true}) {
        const int nice = defer ? 19 : 0;
        store_server store("127.0.0.1", 0, 20);
        dist_options o;
        o.world_size = 1;
        o.master_port = store.port();
        o.timeout_s = 20;
        o.agent_store = true;
        o.io_thread_nice = nice;
        o.worker_slice_us = defer ? 100 : 0;
        const std::vector<int> before = thread_nice_values();
        ASSERT_EQ(std::count(before.begin(), before.end(), 19), 0);
        const std::vector<uint64_t> slices0 = thread_slices();
        ASSERT_EQ(std::count(slices0.begin(), slices0.end(), 100000u), 0);
        process_group pg(o);
        const std::vector<int> after = thread_nice_values();
        // Gloo's device started one event-loop thread (nice 19); ProcessGroupGloo its 2 workers (100 us slices)
        EXPECT_GT(after.size(), before.size() + 1);
        EXPECT_EQ(std::count(after.begin(), after.end(), 19), defer ? 1 : 0) << "defer " << defer;
        struct utsname u {};
        uname(&u);
        int major = 0, minor = 0;
        std::sscanf(u.release, "%d.%d", &major, &minor);
        if (major > 6 || (major == 6 && minor >= 12)) { // older kernels ignore (and do not report) the slice
            const std::vector<uint64_t> slices = thread_slices();
            EXPECT_EQ(std::count(slices.begin(), slices.end(), 100000u), defer ? 2 : 0) << "defer " << defer;
        }
        at::Tensor t = at::ones({3});
        pg.all_reduce_sum(t, "test sum"); // the group still works
        EXPECT_TRUE(at::equal(t, at::ones({3})));
        // the 3 threads were told apart, so their CPU time is known: a part of this process's
        const double c = pg.comm_thread_cpu_seconds();
        EXPECT_GE(c, 0.0);
        EXPECT_LT(c, process_cpu_seconds());
    }
    dist_options bad;
    bad.io_thread_nice = -1;
    try {
        process_group pg(bad);
        FAIL() << "accepted io_thread_nice -1";
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find("outside 0-19"), std::string::npos) << e.what();
    }
    bad.io_thread_nice = 0;
    bad.worker_slice_us = 50;
    try {
        process_group pg(bad);
        FAIL() << "accepted worker_slice_us 50";
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find("outside 100-100000"), std::string::npos) << e.what();
    }
}

TEST(ProcessGroup, AMissingRankFailsWithinTheTimeout) {
    store_server store("127.0.0.1", 0, 2);
    dist_options o;
    o.rank = 0;
    o.world_size = 2; // rank 1 never comes
    o.master_port = store.port();
    o.timeout_s = 1.5;
    o.agent_store = true;
    const auto t0 = std::chrono::steady_clock::now();
    try {
        process_group pg(o);
        FAIL() << "joined a job whose rank 1 never came";
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find("did not all connect within 1 s"), std::string::npos) << e.what();
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(s, 10.0);
}

TEST(ProcessGroup, NothingListeningFailsNamingTheAddress) {
    int port = 0;
    {
        store_server probe("127.0.0.1", 0, 1); // a port that was free a moment ago; closed again below
        port = probe.port();
    }
    dist_options o;
    o.rank = 1;
    o.world_size = 2;
    o.master_port = port;
    o.timeout_s = 1;
    try {
        process_group pg(o);
        FAIL() << "connected to nothing";
    } catch (const snnkit::error & e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << m;
        EXPECT_NE(m.find("cannot reach the store"), std::string::npos) << m;
    }
}

TEST(DistEnv, TorchrunAgentStoreAndPlainEnv) {
    setenv("WORLD_SIZE", "4", 1);
    setenv("RANK", "3", 1);
    setenv("LOCAL_RANK", "1", 1);
    setenv("MASTER_ADDR", "10.1.2.3", 1);
    setenv("MASTER_PORT", "29400", 1);
    setenv("TORCHELASTIC_RUN_ID", "none", 1);
    setenv("TORCHELASTIC_USE_AGENT_STORE", "True", 1);
    setenv("TORCHELASTIC_RESTART_COUNT", "2", 1);
    dist_options o = dist_options_from_env(30);
    EXPECT_EQ(o.launch, "torchrun");
    EXPECT_TRUE(o.agent_store);
    EXPECT_EQ(o.store_prefix, "/worker/attempt_2"); // torch/distributed/rendezvous.py, _create_c10d_store
    EXPECT_EQ(o.rank, 3);
    EXPECT_EQ(o.world_size, 4);
    EXPECT_EQ(o.local_rank, 1);
    EXPECT_EQ(o.master_addr, "10.1.2.3");
    EXPECT_EQ(o.master_port, 29400);
    EXPECT_EQ(o.timeout_s, 30);
    for (const char * v : {"TORCHELASTIC_RUN_ID", "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT"}) {
        unsetenv(v);
    }
    o = dist_options_from_env(30);
    EXPECT_EQ(o.launch, "env");
    EXPECT_FALSE(o.agent_store); // rank 0 hosts the store
    setenv("RANK", "4", 1);      // outside the world
    try {
        dist_options_from_env(30);
        FAIL() << "RANK 4 of 4 accepted";
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find("RANK"), std::string::npos) << e.what();
    }
    for (const char * v : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) {
        unsetenv(v);
    }
    EXPECT_FALSE(dist_env_present());
    EXPECT_EQ(dist_options_from_env(30).world_size, 1);
}

TEST(DistEnv, LocalAddressTowardsLoopback) {
    EXPECT_EQ(local_address_towards("127.0.0.1"), "127.0.0.1");
    EXPECT_EQ(local_address_towards("localhost"), "127.0.0.1");
    EXPECT_THROW(local_address_towards("no-such-host.invalid"), snnkit::error);
}

// --nproc's CPU binding: worker k gets the k-th group of CPUs among those allowed, or none when the groups do not
// fit; a worker binds itself (and the threads it starts) to the list its launcher put in SNNKIT_DIST_CPUS.
TEST(Launch, WorkerCpusSplitTheAllowedSetOrNothing) {
    const std::vector<int> four = {0, 1, 2, 3}, gaps = {4, 6, 9};
    EXPECT_EQ(worker_cpus(four, 2, 2, 0), (std::vector<int>{0, 1}));
    EXPECT_EQ(worker_cpus(four, 2, 2, 1), (std::vector<int>{2, 3}));
    EXPECT_EQ(worker_cpus(four, 4, 1, 3), (std::vector<int>{3}));
    EXPECT_EQ(worker_cpus(gaps, 3, 1, 1), (std::vector<int>{6}));
    EXPECT_TRUE(worker_cpus(four, 3, 2, 0).empty()); // 6 CPUs wanted, 4 allowed: unbound
    EXPECT_TRUE(worker_cpus(four, 2, 0, 0).empty());
    EXPECT_TRUE(worker_cpus(four, 2, 1, 2).empty()); // no such rank
    const std::vector<int> allowed = allowed_cpus();
    ASSERT_FALSE(allowed.empty());

    // binding happens in a thread of its own, so that this test process keeps all its CPUs
    std::vector<int> bound, seen;
    std::string error;
    setenv(dist_cpus_env(), std::to_string(allowed.back()).c_str(), 1);
    std::thread([&] {
        bound = bind_cpus_from_env();
        seen = allowed_cpus();
    }).join();
    EXPECT_EQ(bound, std::vector<int>{allowed.back()});
    EXPECT_EQ(seen, std::vector<int>{allowed.back()});
    EXPECT_EQ(allowed_cpus(), allowed);
    setenv(dist_cpus_env(), "0,x", 1);
    std::thread([&] {
        try {
            bind_cpus_from_env();
        } catch (const snnkit::error & e) {
            error = e.what();
        }
    }).join();
    EXPECT_NE(error.find("SNNKIT_DIST_CPUS=0,x: not a comma-separated list of CPU numbers"), std::string::npos) << error;
    // a CPU this machine does not have: the system refuses, the process goes on unbound (a warning, no error)
    setenv(dist_cpus_env(), "1000", 1);
    std::thread([&] {
        bound = bind_cpus_from_env();
        seen = allowed_cpus();
    }).join();
    EXPECT_TRUE(bound.empty());
    EXPECT_EQ(seen, allowed);
    unsetenv(dist_cpus_env());
    EXPECT_TRUE(bind_cpus_from_env().empty());
}
