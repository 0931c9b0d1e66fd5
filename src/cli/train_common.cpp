// src/cli/train_common.cpp
#include "train_common.h"

#include "commands.h"

#include "snnkit/core/clock.h"
#include "snnkit/core/error.h"
#include "snnkit/dist/launch.h"
#include "snnkit/io/atomic_file.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace snnkit_cli {

namespace {

// This process's command line without --nproc and --threads, plus "--threads share" (a worker's command).
std::vector<std::string> worker_argv(int threads) {
    const std::string raw = snnkit::read_file("/proc/self/cmdline");
    std::vector<std::string> in;
    for (size_t s = 0; s < raw.size();) {
        const size_t e = raw.find('\0', s);
        in.push_back(raw.substr(s, e - s));
        s = e == std::string::npos ? raw.size() : e + 1;
    }
    std::vector<std::string> out{"/proc/self/exe"};
    for (size_t i = 1; i < in.size(); ++i) {
        const std::string & t = in[i];
        if (t == "--nproc" || t == "--threads") {
            ++i; // and its value
        } else if (t.rfind("--nproc=", 0) != 0 && t.rfind("--threads=", 0) != 0) {
            out.push_back(t);
        }
    }
    out.push_back("--threads");
    out.push_back(std::to_string(threads));
    return out;
}

// --nproc N: runs the job's N workers and exits with their status (one line names the first failure).
[[noreturn]] void launch_and_exit(const train_cli & a, const char * command) {
    const int total = a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    snnkit::launch_options lo;
    lo.nproc = a.nproc;
    lo.timeout_s = a.dist_timeout;
    lo.argv = worker_argv(std::max(1, total / a.nproc));
    lo.cpus_per_worker = a.no_cpu_bind ? 0 : std::max(1, total / a.nproc);
    if (const char * port = std::getenv("MASTER_PORT")) { // else a free port
        lo.master_port = std::atoi(port);
    }
    const snnkit::launch_result r = snnkit::launch_workers(lo);
    std::fflush(stdout);
    if (r.status != 0) {
        std::fprintf(stderr, "snnkit: error: %s --nproc %d: %s; the job stopped\n", command, a.nproc,
                     r.failure.c_str());
    }
    std::exit(r.status);
}

// Joins the job the environment names (torchrun, snnkit's launcher); nothing without one.
void join_job(train_cli & a) {
    if (!snnkit::dist_env_present()) {
        return;
    }
    snnkit::dist_options o = snnkit::dist_options_from_env(a.dist_timeout);
    snnkit::set_comm_sched(o, a.comm_sched, a.allreduce);
    a.launch = o.launch;
    if (o.world_size > 1) {
        snnkit::grad_reducer_options bo;
        bo.bucket_bytes = a.bucket_kib * 1024;
        a.dist = std::make_shared<snnkit::data_parallel>(o, bo);
        a.train.parallel = a.dist;
        if (a.sync_bn) {
            a.dist->enable_sync_batch_norm();
        }
        a.quiet = a.quiet || o.rank != 0;
    }
}

} // namespace

void add_train_flags(CLI::App * s, train_cli & a) {
    a.cli = s;
    s->add_option("--dataset", a.data.name, "fmnist | mnist | cifar10 | cifar100 | imagefolder")->capture_default_str();
    s->add_option("--data", a.data.dir, "Dataset directory (fmnist default: /usr/share/datasets/fashion-mnist)");
    s->add_option("--arch", a.zoo.arch, "cnn | cnn-plif | vgg16 | resnet20 | resnet20-he | resnet18 | resnet34 | mlp")
        ->capture_default_str();
    s->add_option("--epochs", a.train.epochs, "Training epochs")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--batch-size", a.train.batch_size, "Batch size")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--optimizer", a.train.optim.kind, "sgd | adam | adamw")->capture_default_str();
    s->add_option("--lr", a.train.optim.lr, "Peak learning rate")->check(snnkit_cli::positive())->capture_default_str();
    s->add_option("--lr-min", a.train.lr_min, "Final learning rate of the cosine schedule")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_option("--schedule", a.train.schedule, "cosine | constant")->capture_default_str();
    s->add_option("--momentum", a.train.optim.momentum, "SGD momentum")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_flag("--nesterov", a.train.optim.nesterov, "Nesterov momentum");
    s->add_option("--weight-decay", a.train.optim.weight_decay, "Weight decay")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_option("--label-smoothing", a.train.label_smoothing, "Label smoothing in [0, 1]")->check(CLI::Range(0.0, 1.0))->capture_default_str();
    s->add_option("--dropout", a.zoo.dropout, "Dropout before the classifier (< 0: the architecture's default)");
    s->add_option("--augment", a.augment,
                  "default | none | crop | flip | crop+flip (default = crop+flip for CIFAR / imagefolder, "
                  "none for (F)MNIST)")
        ->capture_default_str();
    s->add_option("--crop-pad", a.crop_pad, "Zero-padding of the random crop, pixels")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_flag("--no-augment", a.no_augment, "Same as --augment none");
    s->add_option("--seed", a.train.seed, "Seed of init, data order, augmentation, dropout")->capture_default_str();
    s->add_option("--out", a.train.out_dir, "Output directory (model, checkpoint, log)")->required();
    s->add_flag("--resume", a.train.resume, "Continue from OUT/checkpoint.safetensors");
    s->add_option("--checkpoint-steps", a.train.checkpoint_steps, "Also checkpoint every N steps (0 = per epoch)")->check(snnkit_cli::non_negative());
    s->add_option("--max-steps", a.train.max_steps, "Stop after N steps with a checkpoint (0 = no limit)")->check(snnkit_cli::non_negative());
    s->add_option("--limit-train", a.limit_train, "Use only the first N training images (0 = all)")->check(snnkit_cli::non_negative());
    s->add_option("--limit-test", a.limit_test, "Use only the first N test images (0 = all)")->check(snnkit_cli::non_negative());
    s->add_option("--eval-batch-size", a.train.eval_batch_size,
                  "Images per batch of the per-epoch test pass (0 = auto: the most, up to 1000 for train-ann and 200 for "
                  "train-snn, that keep one activation tensor over T steps within 1 GiB)")
        ->check(snnkit_cli::non_negative())
        ->capture_default_str();
    s->add_option("--json", a.json_path, "Write the final metrics as JSON to this file ('-' = stdout)");
    s->add_option("--threads", a.threads, "Intra-op threads (0 = all cores)")->check(snnkit_cli::non_negative())->capture_default_str();
    s->add_flag("--quiet", a.quiet, "No progress output");
    s->add_option("--nproc", a.nproc, "Data-parallel: start N worker processes on this machine, --threads shared "
                                      "among them; --batch-size stays the global batch (torchrun: leave it out)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    s->add_option("--dist-timeout", a.dist_timeout, "Data-parallel: seconds to wait for the other ranks and for "
                                                    "each collective before failing")
        ->check(snnkit_cli::positive())
        ->capture_default_str();
    s->add_option("--bucket-kib", a.bucket_kib, "Data-parallel: gradient KiB per all-reduce bucket (smaller: more "
                                                "overlap with backward, more messages)")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    s->add_option("--comm-sched", a.comm_sched,
                  "Data-parallel: defer | off. defer: each rank's Gloo I/O thread runs at nice 19 and its workers "
                  "ask for 100 us scheduler slices, so that on CPUs busy with compute the I/O thread no longer "
                  "preempts a worker and spins, and 2 ranks exchange gradients (--allreduce auto); communication then "
                  "mostly runs when backward ends (docs/dist.md). off: Gloo's threads as they start, Gloo's ring")
        ->check(CLI::IsMember({"defer", "off"}))
        ->capture_default_str();
    s->add_option("--allreduce", a.allreduce,
                  "Data-parallel: auto | ring. auto: with --comm-sched defer, 2 ranks send each other their gradient "
                  "buckets and add them (Gloo send/recv: the ring's bytes in one round, the same sum on both); "
                  "otherwise Gloo's ring. ring: Gloo's ring always")
        ->check(CLI::IsMember({"auto", "ring"}))
        ->capture_default_str();
    s->add_flag("--no-cpu-bind", a.no_cpu_bind,
                "Data-parallel --nproc: leave the workers unbound (default: worker k runs on its own --threads/N "
                "CPUs when N groups fit, as Intel's PyTorch launcher binds its instances)");
    s->add_flag("--sync-bn", a.sync_bn, "Data-parallel: BatchNorm normalises with the statistics of the global batch "
                                        "(all ranks), not each rank's share");
    s->add_flag("--no-grad-check", [&a](int64_t) { a.train.check_grads = false; },
                "Skip the per-step NaN/Inf check of the gradients (the loss is always checked)");
}

snnkit::train_job_options job_options(train_cli & a, const char * command) {
    if (a.nproc > 1 && snnkit::dist_env_present()) {
        snnkit::fail("--nproc", "this process is already a rank of a job (WORLD_SIZE is set, e.g. by torchrun); "
                                "leave out --nproc");
    }
    if (a.nproc > 1) {
        launch_and_exit(a, command);
    }
    a.cpus = snnkit::bind_cpus_from_env(); // a --nproc worker: first, before threads start
    set_threads(a.threads);
    join_job(a);
    if (a.cli) {
        refuse_unused_flags(*a.cli, {"--sync-bn", "--bucket-kib", "--comm-sched", "--allreduce", "--no-cpu-bind"},
                            a.dist != nullptr,
                            "has an effect only in data-parallel training (--nproc N > 1, torchrun)");
    }
    if (a.dist) { // every rank must run the same job (the library compares the model and data settings)
        // (the all-reduce's algorithm too: a rank exchanging while another runs Gloo's ring would wait forever)
        const bool exchange = a.dist->group().options().pair_exchange;
        a.dist->check_same({{"--sync-bn", a.sync_bn ? "on" : "off"},
                            {"--comm-sched/--allreduce", exchange ? "exchange" : "ring"}});
    }
    snnkit::train_job_options o = a;
    if (a.no_augment) {
        o.augment = "none";
    }
    o.train.progress = !a.quiet;
    if (a.cli) { // flags that would change nothing are refused, not ignored
        refuse_unused_flags(*a.cli, {"--lr-min"}, o.train.schedule == "cosine", "has an effect only with --schedule cosine");
        refuse_unused_flags(*a.cli, {"--momentum", "--nesterov"}, o.train.optim.kind == "sgd",
                            "has an effect only with --optimizer sgd");
        refuse_unused_flags(*a.cli, {"--crop-pad"},
                            snnkit::dataset_augment(o.data.name, o.augment, o.crop_pad).pad_crop > 0 || o.crop_pad == 0,
                            "has an effect only with a random crop (--augment crop or crop+flip; the default for "
                            "CIFAR and ImageFolder)");
    }
    return o;
}

bool finish_training(const train_cli & a, const snnkit::train_job_result & r, const char * command) {
    if (r.train.interrupted) {
        snnkit::fail(command, "training stopped before the end; resume with --resume");
    }
    if (a.dist && a.dist->rank() != 0) { // data-parallel: rank 0 writes the model and the results
        return false;
    }
    nlohmann::json result = nlohmann::json::parse(r.result_json);
    result["dist"] = dist_json(a);
    write_json_file(a.json_path, result,
                    {{a.data.name, a.data.dir, "train", r.train_images}, {a.data.name, a.data.dir, "test", r.test_images}});
    return true;
}

namespace {

// Rank 0's Gloo threads' CPU seconds over the whole run (start-up broadcasts and evaluation sums included);
// null for one process or when unknown.
nlohmann::json comm_cpu(const train_cli & a) {
    const double s = a.dist ? a.dist->comm_thread_cpu_seconds() : -1.0;
    return s >= 0 ? nlohmann::json(s) : nlohmann::json(nullptr);
}

} // namespace

nlohmann::json dist_json(const train_cli & a) {
    return {{"world_size", a.dist ? a.dist->world_size() : 1},
            {"launch", a.launch},
            {"timeout_s", a.dist_timeout},
            {"comm_sched", a.comm_sched},
            {"allreduce", !a.dist ? "none" // (the gradient buckets': those of 4 KiB or more when they exchange)
                          : a.dist->group().exchanges(snnkit::pair_exchange_min_bytes) ? "pair exchange" : "gloo ring"},
            {"gradient_buckets", a.dist ? a.dist->buckets() : 0},
            {"cpus", a.cpus.empty() ? nlohmann::json(nullptr) : nlohmann::json(a.cpus)},
            {"allreduce_exposed_seconds", a.dist ? a.dist->exposed_allreduce_seconds() : 0.0},
            {"comm_thread_cpu_seconds", comm_cpu(a)},
            {"process_cpu_seconds", snnkit::process_cpu_seconds()}};
}

} // namespace snnkit_cli
