// block_cache: LibTorch's CPU allocator for large tensors. Checked against its stated rules: a freed block serves a
// later request of its size class, the mapped total never exceeds the largest live total so far plus the slack, a
// loop over equal shapes maps nothing after its first pass (so its peak does not grow with the number of passes),
// and small or raw allocations still work. The counters are process-wide, so every check uses differences or
// invariants that hold whatever ran before in the same process.
#include "snnkit/core/block_cache.h"
#include "snnkit/core/runtime.h"

#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>
#include <gtest/gtest.h>

#include <random>
#include <thread>
#include <vector>

namespace {

constexpr size_t k_mib = size_t{1} << 20;

snnkit::block_cache_options options(size_t slack_mib) {
    snnkit::block_cache_options o;
    o.min_bytes = k_mib;
    o.slack_bytes = slack_mib * k_mib;
    return o;
}

at::Tensor bytes_tensor(size_t bytes) { return at::empty({static_cast<int64_t>(bytes / 4)}, at::kFloat); }

} // namespace

TEST(block_cache, size_classes_are_within_an_eighth_of_the_request) {
    EXPECT_EQ(snnkit::block_cache_class_bytes(4 * k_mib), 4 * k_mib);
    EXPECT_EQ(snnkit::block_cache_class_bytes(4 * k_mib + 1), 4 * k_mib + k_mib / 2);
    EXPECT_EQ(snnkit::block_cache_class_bytes(1), size_t{64} << 10);
    for (size_t n = 1000; n < (size_t{1} << 34); n = n * 7 / 5 + 12345) {
        const size_t c = snnkit::block_cache_class_bytes(n);
        EXPECT_GE(c, n);
        EXPECT_EQ(c % (size_t{64} << 10), 0U) << n;
        EXPECT_LE(c, std::max(n + n / 8, n + (size_t{64} << 10))) << n;
        EXPECT_EQ(snnkit::block_cache_class_bytes(c), c) << "a class size is its own class: " << n;
    }
}

TEST(block_cache, a_freed_block_serves_the_next_request_of_its_class) {
    snnkit::block_cache_install(options(64));
    ASSERT_TRUE(snnkit::block_cache_installed());
    const snnkit::block_cache_stats s0 = snnkit::block_cache_stats_now();
    void * first = nullptr;
    {
        at::Tensor a = bytes_tensor(4 * k_mib);
        first = a.data_ptr();
        a.fill_(3.0F);
        EXPECT_FLOAT_EQ(a.sum().item<float>(), 3.0F * static_cast<float>(a.numel()));
    }
    const snnkit::block_cache_stats s1 = snnkit::block_cache_stats_now();
    EXPECT_EQ(s1.misses - s0.misses, 1U);
    EXPECT_GE(s1.cached_bytes, 4 * k_mib);
    // 4 MiB less 4 KiB is in the same class: the same block comes back
    at::Tensor b = bytes_tensor(4 * k_mib - 4096);
    EXPECT_EQ(b.data_ptr(), first);
    const snnkit::block_cache_stats s2 = snnkit::block_cache_stats_now();
    EXPECT_EQ(s2.hits - s1.hits, 1U);
    EXPECT_EQ(s2.misses, s1.misses);
    // values computed in a reused block are right (an op writes its whole output)
    at::Tensor x = at::arange(static_cast<int64_t>(b.numel()), at::kDouble);
    b.copy_(x);
    EXPECT_DOUBLE_EQ(b.to(at::kDouble).sum().item<double>(), x.sum().item<double>());
    // a different class (and none cached: every block freed so far was 4 or 8 MiB) maps a new block
    const snnkit::block_cache_stats s3 = snnkit::block_cache_stats_now();
    at::Tensor c = bytes_tensor(5 * k_mib);
    EXPECT_NE(c.data_ptr(), first);
    EXPECT_EQ(snnkit::block_cache_stats_now().misses - s3.misses, 1U);
}

TEST(block_cache, the_mapped_total_stays_within_the_live_peak_plus_the_slack) {
    const size_t slack = 8 * k_mib;
    snnkit::block_cache_install(options(8));
    snnkit::block_cache_release();
    const auto within = [&](const char * where) {
        const snnkit::block_cache_stats s = snnkit::block_cache_stats_now();
        EXPECT_LE(s.mapped_bytes, s.peak_live_bytes + slack) << where;
        EXPECT_LE(s.peak_mapped_bytes, s.peak_live_bytes + slack) << where;
    };
    const size_t peak_before = snnkit::block_cache_stats_now().peak_live_bytes;
    {
        std::vector<at::Tensor> big;
        for (int i = 0; i < 10; ++i) {
            big.push_back(bytes_tensor(4 * k_mib));
            within("growing");
        }
    }  // 40 MiB cached
    std::vector<at::Tensor> other;  // another class: the cached 4 MiB blocks cannot serve it
    for (int i = 0; i < 12; ++i) {
        other.push_back(bytes_tensor(3 * k_mib));
        within("another class");
    }
    const snnkit::block_cache_stats s = snnkit::block_cache_stats_now();
    EXPECT_GT(s.evictions, 0U);
    EXPECT_GE(s.peak_live_bytes, std::max<size_t>(peak_before, 40 * k_mib));
    other.clear();
    within("all freed");
    snnkit::block_cache_release();
    const snnkit::block_cache_stats r = snnkit::block_cache_stats_now();
    EXPECT_EQ(r.cached_bytes, 0U);
    EXPECT_EQ(r.mapped_bytes, 0U) << "nothing is live in this test after release";
}

TEST(block_cache, a_loop_over_equal_shapes_maps_nothing_after_its_first_pass) {
    snnkit::block_cache_install(options(8));  // room to keep the 3 MiB block freed in the middle of a pass
    snnkit::block_cache_release();
    // one "chunk": a few activations of different sizes, some freed before others are made
    const auto chunk = [] {
        at::Tensor a = bytes_tensor(8 * k_mib);
        at::Tensor b = bytes_tensor(3 * k_mib);
        at::Tensor c = at::empty({16, 64, 32, 32}, at::kFloat);  // 4 MiB
        b.reset();
        at::Tensor d = at::relu(c);
        at::Tensor e = bytes_tensor(2 * k_mib);
        return (d.sum() + a.numel() + e.numel()).item<float>();
    };
    const snnkit::block_cache_stats s0 = snnkit::block_cache_stats_now();
    chunk();
    const snnkit::block_cache_stats s1 = snnkit::block_cache_stats_now();
    for (int i = 0; i < 2; ++i) {
        chunk();
    }
    const snnkit::block_cache_stats s3 = snnkit::block_cache_stats_now();
    for (int i = 0; i < 6; ++i) {
        chunk();
    }
    const snnkit::block_cache_stats s9 = snnkit::block_cache_stats_now();
    EXPECT_GT(s1.misses, s0.misses);
    EXPECT_EQ(s3.misses, s1.misses) << "passes 2 and 3 mapped new blocks";
    EXPECT_EQ(s9.misses, s1.misses) << "passes 4 to 9 mapped new blocks";
    EXPECT_EQ(s9.peak_mapped_bytes, s3.peak_mapped_bytes);
    EXPECT_GT(s3.hits, s1.hits);
    EXPECT_EQ(s9.hits - s3.hits, 3 * (s3.hits - s1.hits)) << "every later pass takes all its blocks from the cache";
}

TEST(block_cache, small_and_raw_allocations_work_beside_it) {
    snnkit::block_cache_install(options(64));
    const snnkit::block_cache_stats s0 = snnkit::block_cache_stats_now();
    at::Tensor small = at::ones({1000}, at::kFloat);
    EXPECT_FLOAT_EQ(small.sum().item<float>(), 1000.0F);
    EXPECT_EQ(snnkit::block_cache_stats_now().misses, s0.misses) << "a 4 KB tensor went to the cache";
    EXPECT_EQ(snnkit::block_cache_stats_now().hits, s0.hits);
    c10::Allocator * alloc = c10::GetCPUAllocator();
    for (const size_t n : {size_t{4096}, size_t{100}, 3 * k_mib}) {
        void * p = alloc->raw_allocate(n);
        ASSERT_NE(p, nullptr);
        static_cast<char *>(p)[n - 1] = 7;
        alloc->raw_deallocate(p);
    }
    const snnkit::block_cache_stats s1 = snnkit::block_cache_stats_now();
    EXPECT_EQ(s1.misses + s1.hits - s0.misses - s0.hits, 1U) << "only the 3 MiB request is a large block";
    void * again = alloc->raw_allocate(3 * k_mib);
    EXPECT_EQ(snnkit::block_cache_stats_now().hits - s1.hits, 1U) << "the raw block was cached on raw_deallocate";
    alloc->raw_deallocate(again);
}

TEST(block_cache, runtime_init_bounded_installs_it) {
    snnkit::runtime_init(1, snnkit::runtime_memory::bounded);
    EXPECT_TRUE(snnkit::block_cache_installed());
    const snnkit::block_cache_stats s0 = snnkit::block_cache_stats_now();
    at::Tensor t = at::zeros({1 << 20}, at::kFloat);
    const snnkit::block_cache_stats s1 = snnkit::block_cache_stats_now();
    EXPECT_EQ(s1.hits + s1.misses - s0.hits - s0.misses, 1U) << "at::zeros of 4 MiB did not reach the cache";
    EXPECT_EQ(t.sum().item<float>(), 0.0F);
}

TEST(block_cache, threads_allocating_at_once_keep_the_counts_consistent) {
    const size_t slack = 16 * k_mib;
    snnkit::block_cache_install(options(16));
    snnkit::block_cache_release();
    const snnkit::block_cache_stats s0 = snnkit::block_cache_stats_now();
    std::vector<std::thread> workers;
    for (int w = 0; w < 4; ++w) {
        workers.emplace_back([w] {
            std::mt19937 rng(static_cast<unsigned>(w));
            std::vector<at::Tensor> held;
            for (int i = 0; i < 300; ++i) {
                const size_t bytes = (1 + rng() % 6) * k_mib + (rng() % 4096) * 4;
                at::Tensor t = bytes_tensor(bytes);
                t.fill_(static_cast<float>(w));
                held.push_back(t);
                if (held.size() > 3) {  // keep a few alive, free the oldest
                    EXPECT_EQ(held.front().max().item<float>(), static_cast<float>(w)) << "a block was shared between threads";
                    held.erase(held.begin());
                }
            }
        });
    }
    for (std::thread & t : workers) {
        t.join();
    }
    const snnkit::block_cache_stats s = snnkit::block_cache_stats_now();
    EXPECT_EQ(s.mapped_bytes, s.cached_bytes) << "every tensor of this test is freed: all mapped bytes are cached";
    EXPECT_LE(s.peak_mapped_bytes, s.peak_live_bytes + slack);
    EXPECT_EQ(s.hits + s.misses - s0.hits - s0.misses, 1200U);
    EXPECT_GT(s.hits - s0.hits, 0U);
}
