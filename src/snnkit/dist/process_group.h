// snnkit/dist/process_group.h: the collectives of data-parallel training on LibTorch's c10d: a ProcessGroupGloo
// over a TCPStore (rank 0 hosts the store, or a launcher does: snnkit's --nproc or torchrun's agent). Every
// collective waits at most dist_options::timeout_s and turns a failure into one snnkit::error naming the rank
// and the operation. CPU tensors go through Gloo; a CUDA build would make a ProcessGroupNCCL here for CUDA
// tensors behind the same class (nothing CUDA is built).
#pragma once

#include "snnkit/dist/dist_options.h"

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

namespace snnkit {

// An all-reduce in flight (process_group::all_reduce_sum_async).
class pending_collective {
public:
    virtual ~pending_collective() = default;
    // Blocks until it is done; a failure (a peer gone, the timeout) throws snnkit::error.
    virtual void wait() = 0;
};

class process_group {
public:
    // Joins the job: connects to (or, for rank 0 without an agent store, hosts) the TCPStore at
    // master_addr:master_port and connects the Gloo mesh. Fails with one error naming the address and the
    // problem (port taken, nothing listening, a rank that never came) within about timeout_s.
    explicit process_group(const dist_options & o);
    ~process_group();
    process_group(const process_group &) = delete;
    process_group & operator=(const process_group &) = delete;

    int rank() const;
    int world_size() const;
    const dist_options & options() const;
    // CPU seconds that Gloo's threads of this rank (its event loop and its 2 workers) have run so far: what the
    // collectives cost this process beyond the calling thread. Negative when they could not be told apart at
    // start-up or /proc cannot be read.
    double comm_thread_cpu_seconds() const;

    // Whether all_reduce_sum of a tensor of this many bytes goes by pair exchange (dist_options::pair_exchange,
    // 2 ranks, pair_exchange_min_bytes or more) rather than Gloo's all-reduce.
    bool exchanges(size_t bytes) const;
    // Element-wise sum over ranks, in place (`what` names the operation in errors). Two ranks exchange their
    // tensors and add (dist_options::pair_exchange); more use Gloo's all-reduce.
    void all_reduce_sum(at::Tensor & t, const std::string & what);
    // The same, started in the background (a contiguous t that must stay alive and untouched until wait(), where
    // an exchange adds the other rank's part). Every rank starts its collectives in the same order.
    std::unique_ptr<pending_collective> all_reduce_sum_async(at::Tensor & t, const std::string & what);
    // Rank `root`'s t is copied into every rank's t (same shape and dtype everywhere).
    void broadcast(at::Tensor & t, const std::string & what, int root = 0);
    // Every rank's t (same shape and dtype), in rank order.
    std::vector<at::Tensor> all_gather(const at::Tensor & t, const std::string & what);
    // Rank root's bytes to every rank (any length).
    std::string broadcast_bytes(const std::string & bytes, const std::string & what, int root = 0);
    // The ranks whose `ok` is false (the same list on every rank): a start-up step that may fail on some ranks
    // ends with this, so that the others fail naming them instead of waiting in the next collective.
    std::vector<int> failed_ranks(bool ok, const std::string & what);

private:
    struct impl;
    std::unique_ptr<impl> p_;
};

// A TCPStore server that outlives no process: snnkit's launcher hosts the job's store so that its workers all
// connect as clients (as under torchrun's agent). port 0 = a free port, chosen by the system.
class store_server {
public:
    store_server(const std::string & addr, int port, double timeout_s);
    ~store_server();
    int port() const;

private:
    struct impl;
    std::unique_ptr<impl> p_;
};

// The local address of this machine through which `host` is reached (a connected UDP socket's name: no packet
// is sent); "127.0.0.1" for a loopback host. Fails naming the host when it does not resolve or has no route.
std::string local_address_towards(const std::string & host);

} // namespace snnkit
