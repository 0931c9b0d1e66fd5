// snnkit/dist/process_group.cpp
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1 // Debian's libtorch_cpu is built with Gloo; its header hides the class without this
#endif
#include "snnkit/dist/process_group.h"

#include "snnkit/core/error.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <mutex>

namespace snnkit {

namespace {

std::chrono::milliseconds to_ms(double s) {
    return std::chrono::milliseconds(static_cast<int64_t>(s * 1000.0));
}

std::string endpoint(const dist_options & o) { return o.master_addr + ":" + std::to_string(o.master_port); }

// The Gloo transport device of this rank: GLOO_SOCKET_IFNAME's interface as in PyTorch, else the address
// options().bind_addr or the one that reaches the master (so that two machines, or two network namespaces,
// reach each other without relying on the host name resolving to the right interface).
std::shared_ptr<::gloo::transport::Device> make_device(const dist_options & o) {
    const char * ifname = std::getenv("GLOO_SOCKET_IFNAME");
    if (ifname != nullptr && *ifname != '\0') {
        return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
    }
    return c10d::ProcessGroupGloo::createDeviceForHostname(o.bind_addr.empty() ? local_address_towards(o.master_addr)
                                                                               : o.bind_addr);
}

// The threads of this process (their ids in /proc/self/task).
std::vector<long> process_threads() {
    std::vector<long> v;
    if (DIR * d = opendir("/proc/self/task")) {
        while (const dirent * e = readdir(d)) {
            if (e->d_name[0] != '.') {
                v.push_back(std::atol(e->d_name));
            }
        }
        closedir(d);
    }
    std::sort(v.begin(), v.end());
    return v;
}

// sched_setattr's argument (linux/sched/types.h; glibc 2.36 has no wrapper)
struct sched_attr_v1 {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
    uint32_t sched_util_min;
    uint32_t sched_util_max;
};

// The threads that started since `before` (sorted process_threads()).
std::vector<long> new_threads(const std::vector<long> & before) {
    const std::vector<long> after = process_threads();
    std::vector<long> fresh;
    std::set_difference(after.begin(), after.end(), before.begin(), before.end(), std::back_inserter(fresh));
    return fresh;
}

// Applies `set` (returns 0 or sets errno) to `fresh` (the threads that a Gloo call started) when they are the
// `expected` ones; otherwise, or when the system refuses, warns naming `what` and leaves them.
void apply_to_threads(const std::vector<long> & fresh, size_t expected, const std::string & what, int rank,
                      const std::function<int(long)> & set) {
    if (fresh.size() != expected) {
        std::fprintf(stderr, "snnkit: warning: rank %d: %s not applied (%zu new threads, expected %zu)\n", rank,
                     what.c_str(), fresh.size(), expected);
        return;
    }
    for (const long t : fresh) {
        if (set(t) != 0) {
            std::fprintf(stderr, "snnkit: warning: rank %d: %s not applied: %s\n", rank, what.c_str(),
                         std::strerror(errno));
            return;
        }
    }
}

// CPU seconds a thread of this process has run: /proc's schedstat (ns), else its stat's utime + stime (clock
// ticks); negative when neither can be read (the thread is gone).
double thread_cpu_seconds(long tid) {
    const std::string dir = "/proc/self/task/" + std::to_string(tid);
    if (FILE * f = std::fopen((dir + "/schedstat").c_str(), "r")) {
        unsigned long long ns = 0;
        const int n = std::fscanf(f, "%llu", &ns);
        std::fclose(f);
        if (n == 1) {
            return static_cast<double>(ns) * 1e-9;
        }
    }
    if (FILE * f = std::fopen((dir + "/stat").c_str(), "r")) {
        char buf[1024];
        const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
        std::fclose(f);
        buf[n] = '\0';
        const char * p = std::strrchr(buf, ')'); // after the command name, which may hold spaces
        unsigned long long ut = 0, st = 0;
        const char * fields = " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu"; // state .. stime
        if (p != nullptr && std::sscanf(p + 1, fields, &ut, &st) == 2) {
            return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
        }
    }
    return -1.0;
}

// Receive buffers of pair exchanges, kept for reuse (one per bucket size in flight): no large allocation and no
// page faults every step.
class recv_buffer_pool {
public:
    // A contiguous tensor shaped and typed like `like`: a kept one when one fits.
    at::Tensor take(const at::Tensor & like) {
        std::lock_guard<std::mutex> lock(mu_);
        for (size_t i = 0; i < kept_.size(); ++i) {
            if (kept_[i].numel() == like.numel() && kept_[i].scalar_type() == like.scalar_type()) {
                at::Tensor b = std::move(kept_[i]);
                kept_.erase(kept_.begin() + static_cast<std::ptrdiff_t>(i));
                return b.view(like.sizes());
            }
        }
        return at::empty_like(like, at::MemoryFormat::Contiguous);
    }
    void give_back(at::Tensor b) {
        std::lock_guard<std::mutex> lock(mu_);
        if (kept_.size() < 16) {
            kept_.push_back(std::move(b));
        }
    }

private:
    std::mutex mu_;
    std::vector<at::Tensor> kept_;
};

// A thread at this nice value (setpriority on its id).
int set_thread_nice(long tid, int nice) { return setpriority(PRIO_PROCESS, static_cast<id_t>(tid), nice); }

// A scheduler slice of slice_us for a thread, keeping its policy (SCHED_OTHER) and nice value.
int set_thread_slice(long tid, int slice_us) {
    sched_attr_v1 a{};
    a.size = sizeof a;
    a.sched_policy = SCHED_OTHER;
    a.sched_nice = getpriority(PRIO_PROCESS, static_cast<id_t>(tid));
    a.sched_runtime = static_cast<uint64_t>(slice_us) * 1000;
    return static_cast<int>(syscall(SYS_sched_setattr, tid, &a, 0));
}

} // namespace

std::string local_address_towards(const std::string & host) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo * res = nullptr;
    if (getaddrinfo(host.c_str(), "9", &hints, &res) != 0 || res == nullptr) {
        fail("MASTER_ADDR " + host, "does not resolve to an IPv4 address");
    }
    const auto * in = reinterpret_cast<const sockaddr_in *>(res->ai_addr);
    if ((ntohl(in->sin_addr.s_addr) >> 24) == 127) {
        freeaddrinfo(res);
        return "127.0.0.1";
    }
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    const int rc = fd < 0 ? -1 : connect(fd, res->ai_addr, res->ai_addrlen); // UDP connect: routing only
    freeaddrinfo(res);
    sockaddr_in self{};
    socklen_t len = sizeof self;
    if (rc != 0 || getsockname(fd, reinterpret_cast<sockaddr *>(&self), &len) != 0) {
        const std::string why = std::strerror(errno);
        if (fd >= 0) {
            close(fd);
        }
        fail("MASTER_ADDR " + host, "no route from this machine (" + why + ")");
    }
    close(fd);
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &self.sin_addr, buf, sizeof buf);
    return buf;
}

struct process_group::impl {
    dist_options opt;
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
    std::vector<long> comm_threads; // Gloo's event loop and workers (empty when they could not be told apart)
    // pair exchanges: the tag of the next one (the same sequence on both ranks) and their receive buffers
    int next_tag = 0;
    recv_buffer_pool pool;

    [[noreturn]] void failed(const std::string & what, const std::exception & e) const {
        fail("rank " + std::to_string(opt.rank) + " of " + std::to_string(opt.world_size),
             what + " failed: " + first_line(e.what()) + " (another rank stopped, or none answered within " +
                 std::to_string(static_cast<int>(opt.timeout_s)) + " s of --dist-timeout)");
    }
    void run(const c10::intrusive_ptr<c10d::Work> & w, const std::string & what) const {
        try {
            w->wait();
        } catch (const std::exception & e) {
            failed(what, e);
        }
    }
};

namespace {

class gloo_pending : public pending_collective {
public:
    gloo_pending(c10::intrusive_ptr<c10d::Work> w, std::function<void(const std::exception &)> on_error)
        : w_(std::move(w)), on_error_(std::move(on_error)) {}
    void wait() override {
        try {
            w_->wait();
        } catch (const snnkit::error &) {
            throw;
        } catch (const std::exception & e) {
            on_error_(e);
        }
    }

private:
    c10::intrusive_ptr<c10d::Work> w_;
    std::function<void(const std::exception &)> on_error_;
};

// A two-rank exchange in flight: the other rank's tensor arrives in `peer`, ours leaves from t; wait() adds.
class pair_pending : public pending_collective {
public:
    pair_pending(std::function<void(const std::exception &)> on_error, recv_buffer_pool & pool, at::Tensor t,
                 at::Tensor peer, c10::intrusive_ptr<c10d::Work> recv, c10::intrusive_ptr<c10d::Work> send)
        : on_error_(std::move(on_error)), pool_(pool), t_(std::move(t)), peer_(std::move(peer)), recv_(std::move(recv)),
          send_(std::move(send)) {}
    ~pair_pending() override {
        if (done_) { // (not waited for: Gloo may still write into the buffer, so it is not reused)
            pool_.give_back(std::move(peer_));
        }
    }
    void wait() override {
        try {
            recv_->wait();
            send_->wait();
        } catch (const snnkit::error &) {
            throw;
        } catch (const std::exception & e) {
            on_error_(e);
        }
        at::NoGradGuard no_grad;
        t_.add_(peer_); // a + b on one rank, b + a on the other: the same bits
        done_ = true;
    }

private:
    std::function<void(const std::exception &)> on_error_; // throws snnkit::error naming the rank and operation
    recv_buffer_pool & pool_;
    at::Tensor t_, peer_;
    c10::intrusive_ptr<c10d::Work> recv_, send_;
    bool done_ = false;
};

} // namespace

process_group::process_group(const dist_options & o) : p_(std::make_unique<impl>()) {
    p_->opt = o;
    if (o.world_size < 1 || o.rank < 0 || o.rank >= o.world_size) {
        fail("process group", "rank " + std::to_string(o.rank) + " is outside world size " +
                                  std::to_string(o.world_size));
    }
    if (o.io_thread_nice < 0 || o.io_thread_nice > 19) {
        fail("io_thread_nice", std::to_string(o.io_thread_nice) + " is outside 0-19 (a process may only lower its "
                                                                  "own threads' priority)");
    }
    if (o.worker_slice_us < 0 || (o.worker_slice_us > 0 && (o.worker_slice_us < 100 || o.worker_slice_us > 100000))) {
        fail("worker_slice_us", std::to_string(o.worker_slice_us) + " is outside 100-100000 (Linux's range) or 0");
    }
    if (!(o.timeout_s > 0)) {
        fail("--dist-timeout", "must be positive");
    }
    const std::string where = "rank " + std::to_string(o.rank) + ": rendezvous at " + endpoint(o);
    try {
        c10d::TCPStoreOptions so;
        so.port = static_cast<std::uint16_t>(o.master_port);
        so.isServer = !o.agent_store && o.rank == 0;
        so.numWorkers = o.agent_store ? c10::nullopt : c10::optional<std::size_t>(o.world_size);
        so.waitWorkers = false; // the Gloo mesh below waits for every rank, within the same timeout
        so.timeout = to_ms(o.timeout_s);
        so.multiTenant = false;
        c10::intrusive_ptr<c10d::Store> tcp = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
        if (!o.store_prefix.empty()) {
            tcp = c10::make_intrusive<c10d::PrefixStore>(o.store_prefix, tcp);
        }
        p_->store = c10::make_intrusive<c10d::PrefixStore>("snnkit_pg", tcp);
    } catch (const std::exception & e) {
        const std::string msg = first_line(e.what());
        const bool server = !o.agent_store && o.rank == 0;
        fail(where, (server ? "cannot host the store (is MASTER_PORT taken by another program?): "
                            : "cannot reach the store within " + std::to_string(static_cast<int>(o.timeout_s)) +
                                  " s (is MASTER_ADDR:MASTER_PORT right, and rank 0 / the launcher running?): ") +
                        msg);
    }
    try {
        auto go = c10d::ProcessGroupGloo::Options::create(to_ms(o.timeout_s));
        const std::vector<long> before_device = process_threads();
        go->devices.push_back(make_device(o));
        const std::vector<long> io = new_threads(before_device); // the device started its event loop
        if (o.io_thread_nice != 0) {
            apply_to_threads(io, 1, "io_thread_nice " + std::to_string(o.io_thread_nice), o.rank,
                             [&](long t) { return set_thread_nice(t, o.io_thread_nice); });
        }
        go->threads = 2;
        const std::vector<long> before_pg = process_threads();
        p_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(p_->store, o.rank, o.world_size, go);
        const std::vector<long> workers = new_threads(before_pg); // the process group started its workers
        if (o.worker_slice_us != 0) {
            apply_to_threads(workers, static_cast<size_t>(go->threads),
                             "worker_slice_us " + std::to_string(o.worker_slice_us), o.rank,
                             [&](long t) { return set_thread_slice(t, o.worker_slice_us); });
        }
        if (io.size() == 1 && workers.size() == static_cast<size_t>(go->threads)) { // told apart: count their CPU
            p_->comm_threads = io;
            p_->comm_threads.insert(p_->comm_threads.end(), workers.begin(), workers.end());
        }
    } catch (const snnkit::error &) {
        throw;
    } catch (const std::exception & e) {
        fail(where, "the " + std::to_string(o.world_size) + " ranks did not all connect within " +
                        std::to_string(static_cast<int>(o.timeout_s)) + " s: " + first_line(e.what()));
    }
}

process_group::~process_group() = default;

int process_group::rank() const { return p_->opt.rank; }
int process_group::world_size() const { return p_->opt.world_size; }
const dist_options & process_group::options() const { return p_->opt; }

bool process_group::exchanges(size_t bytes) const {
    return world_size() == 2 && p_->opt.pair_exchange && bytes >= pair_exchange_min_bytes;
}

double process_group::comm_thread_cpu_seconds() const {
    if (p_->comm_threads.empty()) {
        return -1.0;
    }
    double sum = 0;
    for (const long t : p_->comm_threads) {
        const double s = thread_cpu_seconds(t);
        if (s < 0) {
            return -1.0;
        }
        sum += s;
    }
    return sum;
}

void process_group::all_reduce_sum(at::Tensor & t, const std::string & what) {
    all_reduce_sum_async(t, what)->wait();
}

std::unique_ptr<pending_collective> process_group::all_reduce_sum_async(at::Tensor & t, const std::string & what) {
    impl * p = p_.get();
    auto on_error = [p, what](const std::exception & e) { p->failed(what, e); };
    if (exchanges(t.nbytes())) {
        if (!t.is_contiguous()) {
            fail("rank " + std::to_string(rank()), what + ": the tensor is not contiguous");
        }
        const int peer = 1 - rank();
        const int tag = p_->next_tag;
        p_->next_tag = (p_->next_tag + 1) % (1 << 30);
        at::Tensor buf = p_->pool.take(t);
        std::vector<at::Tensor> in{buf}, out{t};
        c10::intrusive_ptr<c10d::Work> recv, send;
        try {
            recv = p_->pg->recv(in, peer, tag); // posted first: the other rank's send can go straight in
            send = p_->pg->send(out, peer, tag);
        } catch (const std::exception & e) {
            p_->failed(what, e);
        }
        return std::make_unique<pair_pending>(on_error, p_->pool, t, buf, recv, send);
    }
    std::vector<at::Tensor> v{t};
    c10::intrusive_ptr<c10d::Work> w;
    try {
        w = p_->pg->allreduce(v, c10d::AllreduceOptions{});
    } catch (const std::exception & e) {
        p_->failed(what, e);
    }
    return std::make_unique<gloo_pending>(w, on_error);
}

void process_group::broadcast(at::Tensor & t, const std::string & what, int root) {
    std::vector<at::Tensor> v{t};
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    try {
        p_->run(p_->pg->broadcast(v, bo), what);
    } catch (const snnkit::error &) {
        throw;
    } catch (const std::exception & e) {
        p_->failed(what, e);
    }
}

std::vector<at::Tensor> process_group::all_gather(const at::Tensor & t, const std::string & what) {
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < world_size(); ++r) {
        out[0].push_back(at::empty_like(t));
    }
    std::vector<at::Tensor> in{t.contiguous()};
    try {
        p_->run(p_->pg->allgather(out, in), what);
    } catch (const snnkit::error &) {
        throw;
    } catch (const std::exception & e) {
        p_->failed(what, e);
    }
    return out[0];
}

std::string process_group::broadcast_bytes(const std::string & bytes, const std::string & what, int root) {
    at::Tensor n = at::tensor({static_cast<int64_t>(bytes.size())}, at::kLong);
    broadcast(n, what + " (length)", root);
    at::Tensor b = at::empty({n.item<int64_t>()}, at::kByte);
    if (rank() == root) {
        std::memcpy(b.data_ptr<uint8_t>(), bytes.data(), bytes.size());
    }
    if (b.numel() > 0) {
        broadcast(b, what, root);
    }
    return std::string(reinterpret_cast<const char *>(b.data_ptr<uint8_t>()), static_cast<size_t>(b.numel()));
}

std::vector<int> process_group::failed_ranks(bool ok, const std::string & what) {
    at::Tensor flags = at::zeros({world_size()}, at::kInt);
    flags[rank()] = ok ? 0 : 1;
    all_reduce_sum(flags, what);
    std::vector<int> bad;
    for (int r = 0; r < world_size(); ++r) {
        if (flags[r].item<int>() != 0) {
            bad.push_back(r);
        }
    }
    return bad;
}

struct store_server::impl {
    c10::intrusive_ptr<c10d::TCPStore> store;
};

store_server::store_server(const std::string & addr, int port, double timeout_s) : p_(std::make_unique<impl>()) {
    try {
        c10d::TCPStoreOptions so;
        so.port = static_cast<std::uint16_t>(port);
        so.isServer = true;
        so.waitWorkers = false;
        so.timeout = to_ms(timeout_s);
        p_->store = c10::make_intrusive<c10d::TCPStore>(addr, so);
    } catch (const std::exception & e) {
        fail("MASTER_PORT " + std::to_string(port), "cannot host the job's store at " + addr + " (taken by another "
                                                    "program?): " + first_line(e.what()));
    }
}

store_server::~store_server() = default;

int store_server::port() const { return p_->store->getPort(); }

} // namespace snnkit
