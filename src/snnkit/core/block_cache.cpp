// snnkit/core/block_cache.cpp
#include "snnkit/core/block_cache.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <c10/util/Exception.h>

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace snnkit {
namespace {

constexpr size_t k_page = 4096;
constexpr size_t k_huge_page = size_t{2} << 20;

struct block_cache_block {
    void * ptr;
    size_t bytes;
};

struct block_cache_state {
    std::mutex mu;
    block_cache_options opt;
    std::atomic<size_t> min_bytes{SIZE_MAX};  // opt.min_bytes, read without the lock by every allocation
    std::unordered_map<void *, size_t> live;  // mapped blocks in use, by address
    std::vector<block_cache_block> cached;    // freed blocks kept for reuse, oldest first
    block_cache_stats stats;
    bool installed = false;
};

// Never destroyed: tensors may be freed while the process exits.
block_cache_state & block_cache_get() {
    static auto * s = new block_cache_state;
    return *s;
}

// Takes the oldest cached blocks out while the mapped total, with `extra` bytes about to be mapped, exceeds the
// largest live total so far plus the slack; the caller unmaps them unlocked.
void block_cache_evict_locked(block_cache_state & s, size_t extra, std::vector<block_cache_block> & out) {
    const size_t bound = s.stats.peak_live_bytes + s.opt.slack_bytes;
    size_t n = 0;
    while (n < s.cached.size() && s.stats.mapped_bytes + extra > bound) {
        s.stats.cached_bytes -= s.cached[n].bytes;
        s.stats.mapped_bytes -= s.cached[n].bytes;
        s.stats.evictions += 1;
        out.push_back(s.cached[n]);
        n += 1;
    }
    s.cached.erase(s.cached.begin(), s.cached.begin() + static_cast<std::ptrdiff_t>(n));
}

void block_cache_unmap(const std::vector<block_cache_block> & blocks) {
    for (const block_cache_block & b : blocks) {
        munmap(b.ptr, b.bytes);
    }
}

// The one deleter of every block this allocator hands out (LibTorch's raw_deallocate takes a single one): mapped
// blocks go to the cache, the rest (small, from c10::alloc_cpu) to c10::free_cpu. Only a page-aligned address can
// be a mapped block, so most small frees skip the lock.
void block_cache_free(void * p) {
    if (p != nullptr && reinterpret_cast<uintptr_t>(p) % k_page == 0) {
        block_cache_state & s = block_cache_get();
        std::lock_guard<std::mutex> lock(s.mu);
        const auto it = s.live.find(p);
        if (it != s.live.end()) {
            s.cached.push_back({p, it->second});
            s.stats.cached_bytes += it->second;
            s.live.erase(it);
            return;
        }
    }
    c10::free_cpu(p);
}

c10::DataPtr block_cache_data_ptr(void * p) { return {p, p, &block_cache_free, c10::Device(c10::DeviceType::CPU)}; }

c10::DataPtr block_cache_allocate(size_t n) {
    block_cache_state & s = block_cache_get();
    if (n == 0 || n < s.min_bytes.load(std::memory_order_relaxed)) {  // most tensors: nothing more to do
        return block_cache_data_ptr(c10::alloc_cpu(n));
    }
    const size_t bytes = block_cache_class_bytes(n);
    std::vector<block_cache_block> drop;
    {
        std::lock_guard<std::mutex> lock(s.mu);
        s.stats.peak_live_bytes = std::max(s.stats.peak_live_bytes, s.stats.mapped_bytes - s.stats.cached_bytes + bytes);
        for (size_t i = s.cached.size(); i-- > 0;) {  // the most recently freed block of this class
            if (s.cached[i].bytes == bytes) {
                void * p = s.cached[i].ptr;
                s.cached.erase(s.cached.begin() + static_cast<std::ptrdiff_t>(i));
                s.stats.cached_bytes -= bytes;
                s.stats.hits += 1;
                s.live.emplace(p, bytes);
                return block_cache_data_ptr(p);
            }
        }
        block_cache_evict_locked(s, bytes, drop);
        s.stats.mapped_bytes += bytes;  // counted before mapping, so that concurrent requests see it
        s.stats.peak_mapped_bytes = std::max(s.stats.peak_mapped_bytes, s.stats.mapped_bytes);
        s.stats.misses += 1;
    }
    block_cache_unmap(drop);
    void * p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        block_cache_release();
        p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (p == MAP_FAILED) {
        const int err = errno;
        std::lock_guard<std::mutex> lock(s.mu);
        s.stats.mapped_bytes -= bytes;
        TORCH_CHECK(false, "block_cache: cannot map ", bytes, " bytes for a tensor of ", n, " bytes (", std::strerror(err),
                    ")");
    }
    if (bytes >= k_huge_page) {
        madvise(p, bytes, MADV_HUGEPAGE);  // where THP is "madvise": one fault per 2 MiB instead of per 4 KiB
    }
    std::lock_guard<std::mutex> lock(s.mu);
    s.live.emplace(p, bytes);
    return block_cache_data_ptr(p);
}

// LibTorch 1.x declares allocate const, 2.x non-const, and 2.3+ adds copy_data: both overloads are defined, so
// whichever the headers declare is overridden.
class block_cache_allocator final : public c10::Allocator {
public:
    c10::DataPtr allocate(size_t n) const { return block_cache_allocate(n); }
    c10::DataPtr allocate(size_t n) { return block_cache_allocate(n); }
    c10::DeleterFnPtr raw_deleter() const override { return &block_cache_free; }
    void copy_data(void * dest, const void * src, size_t count) const { std::memcpy(dest, src, count); }
};

} // namespace

size_t block_cache_class_bytes(size_t n) {
    size_t p = 1;
    while (p <= n / 2) {
        p <<= 1;
    }
    const size_t step = std::max<size_t>(p / 8, size_t{64} << 10);
    return (n + step - 1) / step * step;
}

void block_cache_install(const block_cache_options & opt) {
    static auto * alloc = new block_cache_allocator;  // never destroyed: LibTorch keeps the pointer until exit
    block_cache_state & s = block_cache_get();
    std::vector<block_cache_block> drop;
    {
        std::lock_guard<std::mutex> lock(s.mu);
        s.opt = opt;
        s.min_bytes.store(opt.min_bytes);
        block_cache_evict_locked(s, 0, drop);
        s.installed = true;
    }
    block_cache_unmap(drop);
    c10::SetCPUAllocator(alloc, 1);
    TORCH_CHECK(c10::GetCPUAllocator() == alloc,
                "block_cache: LibTorch kept another CPU allocator (registered with a higher priority)");
}

bool block_cache_installed() {
    block_cache_state & s = block_cache_get();
    std::lock_guard<std::mutex> lock(s.mu);
    return s.installed;
}

block_cache_stats block_cache_stats_now() {
    block_cache_state & s = block_cache_get();
    std::lock_guard<std::mutex> lock(s.mu);
    return s.stats;
}

void block_cache_release() {
    block_cache_state & s = block_cache_get();
    std::vector<block_cache_block> drop;
    {
        std::lock_guard<std::mutex> lock(s.mu);
        for (const block_cache_block & b : s.cached) {
            s.stats.mapped_bytes -= b.bytes;
            s.stats.evictions += 1;
        }
        drop.swap(s.cached);
        s.stats.cached_bytes = 0;
    }
    block_cache_unmap(drop);
}

} // namespace snnkit
