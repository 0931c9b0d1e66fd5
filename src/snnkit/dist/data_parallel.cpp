// snnkit/dist/data_parallel.cpp
#include "snnkit/dist/data_parallel.h"

#include "snnkit/core/error.h"
#include "snnkit/core/fnv1a.h"
#include "snnkit/dist/sync_batch_norm.h"
#include "snnkit/nn/forward.h"

#include <ATen/core/grad_mode.h>

#include <cstring>

namespace snnkit {

uint64_t settings_hash(const std::string & text) { return fnv1a(text); }

data_parallel::data_parallel(const dist_options & o, const grad_reducer_options & buckets)
    : pg_(o), bucket_opt_(buckets) {}

data_parallel::~data_parallel() {
    if (sync_bn_) {
        set_batch_norm_override({});
    }
}

void data_parallel::enable_sync_batch_norm() {
    sync_bn_ = true;
    set_batch_norm_override([this](const node & n, const at::Tensor & x) { return sync_batch_norm(pg_, n, x); });
}

int data_parallel::rank() const { return pg_.rank(); }
int data_parallel::world_size() const { return pg_.world_size(); }

void data_parallel::check_same(const std::vector<std::pair<std::string, std::string>> & settings) {
    // [count, hash of the names, hash of each value]: a fixed length, so that even ranks that disagree on the
    // list itself meet in the same all-gather
    constexpr int64_t k_slots = 64;
    at::Tensor mine = at::zeros({k_slots}, at::kLong);
    auto * m = mine.data_ptr<int64_t>();
    std::string names;
    for (const auto & kv : settings) {
        names += kv.first + '\n';
    }
    m[0] = static_cast<int64_t>(settings.size());
    m[1] = static_cast<int64_t>(settings_hash(names));
    for (size_t i = 0; i < settings.size(); ++i) { // settings past the last slot share it
        const int64_t slot = std::min<int64_t>(2 + static_cast<int64_t>(i), k_slots - 1);
        m[slot] = static_cast<int64_t>(settings_hash(std::to_string(m[slot]) + '\n' + settings[i].second));
    }
    const std::vector<at::Tensor> all = pg_.all_gather(mine, "settings check");
    std::string diff;
    for (int r = 0; r < world_size(); ++r) {
        const auto * o = all[r].data_ptr<int64_t>();
        if (std::memcmp(o, all[0].data_ptr<int64_t>(), sizeof(int64_t) * k_slots) == 0) {
            continue;
        }
        std::string what;
        if (o[0] != all[0].data_ptr<int64_t>()[0] || o[1] != all[0].data_ptr<int64_t>()[1]) {
            what = "the list of settings (another snnkit version or command?)";
        } else {
            for (size_t i = 0; i < settings.size(); ++i) {
                const int64_t slot = std::min<int64_t>(2 + static_cast<int64_t>(i), k_slots - 1);
                if (o[slot] != all[0].data_ptr<int64_t>()[slot]) {
                    what += (what.empty() ? "" : ", ") + settings[std::min<size_t>(i, k_slots - 3)].first;
                    if (slot == k_slots - 1) {
                        break;
                    }
                }
            }
        }
        diff += (diff.empty() ? "" : "; ") + std::string("rank ") + std::to_string(r) + " differs from rank 0 in " + what;
    }
    if (!diff.empty()) {
        fail("rank " + std::to_string(rank()) + " of " + std::to_string(world_size()),
             "the ranks were started with different configurations: " + diff +
                 " (every rank needs the same flags and data)");
    }
}

std::string data_parallel::broadcast_bytes(const std::string & bytes, const std::string & what) {
    return pg_.broadcast_bytes(bytes, what, 0);
}

void data_parallel::broadcast_tensors(const std::vector<at::Tensor> & tensors, const std::string & what) {
    if (tensors.empty()) {
        return;
    }
    // one flat message per dtype (the weights of a small net are many small tensors)
    std::vector<at::Tensor> flat;
    for (const auto & t : tensors) {
        flat.push_back(t.detach().reshape({-1}).to(at::kDouble));
    }
    at::Tensor all = at::cat(flat);
    pg_.broadcast(all, what, 0);
    at::NoGradGuard no_grad;
    int64_t off = 0;
    for (const auto & t : tensors) {
        at::Tensor dst = t.detach();
        dst.copy_(all.narrow(0, off, t.numel()).view(t.sizes()));
        off += t.numel();
    }
}

void data_parallel::sum(at::Tensor & t, const std::string & what) { pg_.all_reduce_sum(t, what); }

void data_parallel::start_sum(at::Tensor & t, const std::string & what) {
    if (pending_sum_) {
        fail("data_parallel", "start_sum() while another sum is pending (call wait_sum() first)");
    }
    pending_sum_ = pg_.all_reduce_sum_async(t, what);
}

void data_parallel::wait_sum() {
    if (!pending_sum_) {
        fail("data_parallel", "wait_sum() without start_sum()");
    }
    std::unique_ptr<pending_collective> p = std::move(pending_sum_);
    p->wait();
}

void data_parallel::attach(graph & g) {
    std::vector<at::Tensor> params;
    for (auto & kv : g.named_params()) {
        params.push_back(kv.second);
    }
    reducer_ = std::make_unique<grad_reducer>(pg_, params, bucket_opt_);
}

void data_parallel::begin_step() {
    if (!reducer_) {
        fail("data_parallel", "begin_step() before attach()");
    }
    reducer_->arm();
}

void data_parallel::end_step() { reducer_->finish(); }

double data_parallel::exposed_allreduce_seconds() const { return reducer_ ? reducer_->exposed_seconds() : 0.0; }

size_t data_parallel::buckets() const { return reducer_ ? reducer_->buckets() : 0; }

} // namespace snnkit
