// snnkit/dist/data_parallel.h: data-parallel training with PyTorch DDP's semantics on c10d (Gloo): give one to
// trainer_options::parallel and run train_loop on every rank. Usable without the command:
//
//     snnkit::trainer_options t = ...;                         // batch_size = the global batch
//     auto dp = std::make_shared<snnkit::data_parallel>(snnkit::dist_options_from_env(60.0));
//     dp->check_same({{"arch", "cnn"}, {"data", data_hash}}); // optional: the caller's own settings
//     t.parallel = dp;
//     snnkit::train_loop(g, snnkit::ann_forward_fn(g), train, test, t);
//
// The trainer broadcasts rank 0's weights, buffers and checkpoint, shards each global batch, averages gradients
// through grad_reducer (bucketed all-reduce started from autograd hooks during backward) and sums the metrics.
#pragma once

#include "snnkit/dist/grad_reducer.h"
#include "snnkit/dist/process_group.h"
#include "snnkit/train/train_parallel.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace snnkit {

class data_parallel : public train_parallel {
public:
    // Joins the job o describes (process_group).
    explicit data_parallel(const dist_options & o, const grad_reducer_options & buckets = {});
    ~data_parallel() override;

    // --sync-bn: from now on training-mode BatchNorm uses the global batch's statistics (sync_batch_norm.h) in
    // this process, until this object is destroyed.
    void enable_sync_batch_norm();

    int rank() const override;
    int world_size() const override;
    void check_same(const std::vector<std::pair<std::string, std::string>> & settings) override;
    std::string broadcast_bytes(const std::string & bytes, const std::string & what) override;
    void broadcast_tensors(const std::vector<at::Tensor> & tensors, const std::string & what) override;
    void sum(at::Tensor & t, const std::string & what) override;
    void start_sum(at::Tensor & t, const std::string & what) override;
    void wait_sum() override;
    void attach(graph & g) override;
    void begin_step() override;
    void end_step() override;

    process_group & group() { return pg_; }
    /// seconds the steps waited for gradient all-reduces after backward (0 before attach)
    double exposed_allreduce_seconds() const;
    /// CPU seconds of Gloo's threads of this rank so far (negative: unknown; process_group)
    double comm_thread_cpu_seconds() const { return pg_.comm_thread_cpu_seconds(); }
    /// gradient buckets (0 before attach)
    size_t buckets() const;

private:
    process_group pg_;
    grad_reducer_options bucket_opt_;
    std::unique_ptr<grad_reducer> reducer_;
    std::unique_ptr<pending_collective> pending_sum_; // start_sum's, until wait_sum
    bool sync_bn_ = false;
};

// FNV-1a, 64 bits: the settings hash compared across ranks (the same on every machine and build).
uint64_t settings_hash(const std::string & text);

} // namespace snnkit
