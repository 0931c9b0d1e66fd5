// Items side by side (parallel_items.h): every item once, really at the same time on two workers, each worker
// single-threaded inside and the caller's thread count back afterwards, the caller's grad mode on every worker,
// the first exception rethrown, a call from inside an item run in place.
#include "snnkit/core/error.h"
#include "snnkit/core/parallel_items.h"
#include "core/intra_op_threads.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using namespace snnkit;
using snnkit_test::intra_op_threads;

TEST(parallel_items, every_item_once) {
    intra_op_threads threads(3);
    for (const int workers : {1, 2, 3, 5}) {
        for (const int64_t n : {0, 1, 2, 3, 7, 17}) {
            std::vector<std::atomic<int>> runs(static_cast<size_t>(n));
            parallel_items(n, workers, [&](int64_t i) { runs[static_cast<size_t>(i)].fetch_add(1); });
            for (int64_t i = 0; i < n; ++i) {
                EXPECT_EQ(runs[static_cast<size_t>(i)].load(), 1) << "workers " << workers << ", n " << n << ", item " << i;
            }
        }
    }
}

// Two items on two workers: each waits until the other has started, so a serial run would time out here.
TEST(parallel_items, two_workers_run_two_items_at_once) {
    intra_op_threads threads(2);
    std::atomic<int> started{0};
    std::atomic<int> met{0};
    std::mutex mu;
    std::set<std::thread::id> ids;
    parallel_items(2, 2, [&](int64_t) {
        {
            std::lock_guard<std::mutex> lock(mu);
            ids.insert(std::this_thread::get_id());
        }
        started.fetch_add(1);
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (started.load() < 2 && std::chrono::steady_clock::now() < until) {
            std::this_thread::yield();
        }
        if (started.load() == 2) {
            met.fetch_add(1);
        }
    });
    EXPECT_EQ(met.load(), 2);
    EXPECT_EQ(ids.size(), 2u);
}

TEST(parallel_items, each_worker_single_threaded_and_the_callers_threads_back) {
    intra_op_threads threads(2);
    std::atomic<int> inside_max{0};
    parallel_items(4, 2, [&](int64_t) {
        const int t = at::get_num_threads();
        int seen = inside_max.load();
        while (t > seen && !inside_max.compare_exchange_weak(seen, t)) {
        }
    });
    EXPECT_EQ(inside_max.load(), 1);
    EXPECT_EQ(at::get_num_threads(), 2);
}

TEST(parallel_items, workers_run_in_the_callers_grad_mode) {
    intra_op_threads threads(2);
    for (const bool grad : {false, true}) {
        at::AutoGradMode mode(grad);
        std::atomic<int> same{0};
        std::mutex mu;
        std::set<std::thread::id> ids;
        parallel_items(6, 2, [&](int64_t) {
            same.fetch_add(at::GradMode::is_enabled() == grad ? 1 : 0);
            std::lock_guard<std::mutex> lock(mu);
            ids.insert(std::this_thread::get_id());
            std::this_thread::sleep_for(std::chrono::milliseconds(20)); // so that both workers take items
        });
        EXPECT_EQ(same.load(), 6) << "grad " << grad;
        EXPECT_EQ(ids.size(), 2u);
    }
}

TEST(parallel_items, first_exception_rethrown_after_the_workers_stop) {
    intra_op_threads threads(2);
    std::atomic<int> runs{0};
    try {
        parallel_items(50, 2, [&](int64_t i) {
            runs.fetch_add(1);
            if (i == 3) {
                fail("item 3", "broken");
            }
        });
        FAIL() << "no exception";
    } catch (const error & e) {
        EXPECT_NE(std::string(e.what()).find("item 3"), std::string::npos) << e.what();
    }
    EXPECT_LE(runs.load(), 50);
    // and the next call works
    std::atomic<int> again{0};
    parallel_items(5, 2, [&](int64_t) { again.fetch_add(1); });
    EXPECT_EQ(again.load(), 5);
}

TEST(parallel_items, a_call_from_inside_an_item_runs_in_place) {
    intra_op_threads threads(2);
    std::atomic<int> inner{0};
    parallel_items(3, 2, [&](int64_t) {
        const std::thread::id me = std::this_thread::get_id();
        parallel_items(4, 2, [&](int64_t) { inner.fetch_add(std::this_thread::get_id() == me ? 1 : 100); });
    });
    EXPECT_EQ(inner.load(), 12);
}
