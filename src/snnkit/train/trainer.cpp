// snnkit/train/trainer.cpp
#include "snnkit/train/trainer.h"

#include "snnkit/core/clock.h"
#include "snnkit/core/error.h"
#include "snnkit/core/rng.h"
#include "snnkit/data/dataset_by_name.h"
#include "snnkit/io/atomic_file.h"
#include "snnkit/io/safetensors.h"
#include "snnkit/nn/anomaly.h"
#include "snnkit/nn/forward.h"
#include "snnkit/core/progress.h"

#include <ATen/core/grad_mode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <filesystem>

namespace snnkit {

namespace {

using json = nlohmann::json;

std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int sig) { g_signal.store(sig); }

// Installs SIGINT/SIGTERM handlers for the lifetime of the object (training saves and exits cleanly).
struct signal_scope {
    struct sigaction old_int {}, old_term {};
    signal_scope() {
        g_signal.store(0);
        struct sigaction sa {};
        sa.sa_handler = on_stop_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
    }
    ~signal_scope() {
        sigaction(SIGINT, &old_int, nullptr);
        sigaction(SIGTERM, &old_term, nullptr);
    }
};

// The keys of a log entry that the trainer writes; an epoch note (merged into the entry) may not use them.
const char * const k_log_keys[] = {"epoch", "train_loss", "train_accuracy", "test_accuracy", "lr", "seconds"};

bool is_log_key(const std::string & k) {
    for (const char * l : k_log_keys) {
        if (k == l) {
            return true;
        }
    }
    return false;
}

// A hook's note must merge into the log entry without replacing the trainer's own fields.
void check_epoch_note(const std::string & note) {
    if (note.empty()) {
        return;
    }
    const json j = json::parse(note, nullptr, false);
    if (!j.is_object()) {
        fail("train_hooks::on_epoch", "the epoch note must be a JSON object, got: " + note.substr(0, 80));
    }
    for (const auto & kv : j.items()) {
        if (is_log_key(kv.key())) {
            fail("train_hooks::on_epoch", "the epoch note uses the log's own key '" + kv.key() + "'");
        }
    }
}

struct position {
    int epoch = 0;      // epoch in progress (0-based)
    int64_t step = 0;   // next step within that epoch
    double seconds = 0; // training wall time so far
    std::string note;   // the current epoch's train_hooks::on_epoch note
    double loss_sum = 0;
    int64_t correct = 0, seen = 0;
};

// A setting that lays out the steps and the schedule: every one is saved in the checkpoint, and a resume must use
// the same value where `checked` (checkpoints of older versions lack some keys; those are then not checked).
struct checkpoint_setting {
    const char * key;
    std::string value;
    std::string flag;   // how the user sets it, for the error message
    bool checked;
};

std::vector<checkpoint_setting> checkpoint_settings(const trainer_options & o, int64_t n_train) {
    const bool cosine = o.schedule == "cosine"; // laid out over all epochs; a constant rate may be extended
    const bool sgd = o.optim.kind == "sgd";
    return {
        {"batch_size", std::to_string(o.batch_size), "--batch-size", true},
        {"train_samples", std::to_string(n_train), "training images (--limit-train)", true},
        {"lr", json(o.optim.lr).dump(), "--lr", true},
        {"schedule", o.schedule, "--schedule", true},
        {"lr_min", json(o.lr_min).dump(), "--lr-min", cosine},
        {"optimizer", o.optim.kind, "--optimizer", true},
        {"weight_decay", json(o.optim.weight_decay).dump(), "--weight-decay", true},
        {"momentum", json(o.optim.momentum).dump(), "--momentum", sgd},
        {"nesterov", o.optim.nesterov ? "on" : "off", "--nesterov", sgd},
        {"label_smoothing", json(o.label_smoothing).dump(), "--label-smoothing", true},
        {"augment", augment_name(o.augment), "augmentation (--augment / --crop-pad)", true},
        {"snn_T", std::to_string(o.snn_T), "--T", true},
        {"epochs", std::to_string(o.epochs), "--epochs", cosine},
    };
}

void save_checkpoint(const std::string & path, const graph & g, const optimizer & opt, const position & pos,
                     const std::vector<epoch_metrics> & history, const trainer_options & o,
                     const train_hooks & hooks, int64_t n_train) {
    named_tensors t;
    for (const auto & kv : g.named_tensors()) {
        t.emplace_back("model." + kv.first, kv.second.detach());
    }
    for (const auto & kv : opt.state()) {
        t.emplace_back("optim." + kv.first, kv.second);
    }
    std::map<std::string, std::string> meta = {
        {"format", "snnkit-checkpoint"},
        {"epoch", std::to_string(pos.epoch)},
        {"step", std::to_string(pos.step)},
        {"seed", std::to_string(o.seed)},
        {"seconds", json(pos.seconds).dump()},
        {"loss_sum", json(pos.loss_sum).dump()},
        {"correct", std::to_string(pos.correct)},
        {"seen", std::to_string(pos.seen)},
        {"history", history_to_json(history)},
        {"epoch_note", pos.note},
        {"hook_state", hooks.save_state ? hooks.save_state() : std::string()},
    };
    for (const auto & c : checkpoint_settings(o, n_train)) {
        meta[c.key] = c.value;
    }
    safetensors_save(path, t, meta);
}

// Refuses (naming the tensor) to save weights or buffers that hold NaN/Inf: a step can overflow them even from a
// finite gradient, and such a checkpoint would replace the last good one with one that no resume can use.
void save_finite_checkpoint(const std::string & path, const graph & g, const optimizer & opt, const position & pos,
                            const std::vector<epoch_metrics> & history, const trainer_options & o,
                            const train_hooks & hooks, int64_t n_train, const std::string & where) {
    const std::string bad = first_nonfinite_tensor(g);
    if (!bad.empty()) {
        fail("training", "'" + bad + "' holds NaN/Inf at " + where +
                             " (lower the learning rate?); the checkpoint was not overwritten, checkpoints saved "
                             "before are kept");
    }
    save_checkpoint(path, g, opt, pos, history, o, hooks, n_train);
}

// `bytes`: the file at `path` (read by rank 0 and broadcast in data-parallel training).
position load_checkpoint(const std::string & path, const std::string & bytes, graph & g, optimizer & opt,
                         std::vector<epoch_metrics> * history, const trainer_options & o, const train_hooks & hooks,
                         int64_t n_train) {
    std::map<std::string, std::string> meta;
    named_tensors t = safetensors_decode(bytes, path, &meta);
    if (meta["format"] != "snnkit-checkpoint") {
        fail(path, "not an snnkit checkpoint");
    }
    if (meta["seed"] != std::to_string(o.seed)) {
        fail(path, "checkpoint was made with --seed " + meta["seed"] + ", not " + std::to_string(o.seed));
    }
    for (const auto & c : checkpoint_settings(o, n_train)) {
        const auto it = meta.find(c.key);
        if (c.checked && it != meta.end() && it->second != c.value) {
            fail(path, "checkpoint was made with " + c.flag + " " + it->second + ", not " + c.value +
                           " (resume with the same setting, or start a new --out)");
        }
    }
    // The hooks check their own settings (e.g. the model flags) before the tensors are matched, so that a resume
    // of another model names the flag rather than a tensor shape.
    if (hooks.load_state) {
        hooks.load_state(meta.count("hook_state") ? meta.at("hook_state") : std::string());
    }
    std::map<std::string, at::Tensor> by(t.begin(), t.end());
    at::NoGradGuard no_grad;
    for (auto & n : g.nodes) {
        for (auto * m : {&n.params, &n.buffers}) {
            for (auto & kv : *m) {
                auto it = by.find("model." + n.name + "." + kv.first);
                if (it == by.end() || it->second.sizes() != kv.second.sizes()) {
                    fail(path, "layer '" + n.name + "': tensor '" + kv.first +
                                   "' is missing or has another shape (checkpoint of a different model?)");
                }
                kv.second.copy_(it->second);
            }
        }
    }
    named_tensors os;
    for (const auto & kv : t) {
        if (kv.first.rfind("optim.", 0) == 0) {
            os.emplace_back(kv.first.substr(6), kv.second);
        }
    }
    opt.load_state(os);
    position p;
    try {
        p.epoch = std::stoi(meta.at("epoch"));
        p.step = std::stoll(meta.at("step"));
        p.seconds = json::parse(meta.at("seconds")).get<double>();
        p.loss_sum = json::parse(meta.at("loss_sum")).get<double>();
        p.correct = std::stoll(meta.at("correct"));
        p.seen = std::stoll(meta.at("seen"));
        *history = history_from_json(meta.at("history"), path);
        p.note = meta.count("epoch_note") ? meta.at("epoch_note") : std::string();
    } catch (const std::exception & e) {
        fail(path, std::string("checkpoint metadata is malformed: ") + e.what());
    }
    return p;
}

void write_log(const std::string & path, const std::vector<epoch_metrics> & h) {
    std::string s;
    for (const auto & j : json::parse(history_to_json(h))) {
        s += j.dump() + "\n";
    }
    write_file_atomic(path, s);
}

// Images of [begin, end) of `data` that forward classifies right.
int64_t count_correct(const forward_fn & forward, const dataset & data, const augment_options & pre,
                      int64_t batch_size, int64_t begin, int64_t end, bool progress) {
    if (batch_size <= 0) {
        fail("evaluate", "batch size must be positive, got " + std::to_string(batch_size));
    }
    at::NoGradGuard no_grad;
    int64_t correct = 0;
    progress_bar bar("eval", end - begin, progress);
    for (int64_t s = begin; s < end; s += batch_size) {
        const int64_t e = std::min(end, s + batch_size);
        const at::Tensor idx = at::arange(s, e, at::kLong);
        const at::Tensor x = make_batch(data.images, idx, pre, 0);
        const at::Tensor logits = forward(x, false, at::Generator());
        correct += logits.argmax(1).eq(data.labels.slice(0, s, e)).sum().item<int64_t>();
        bar.update(e - begin);
    }
    return correct;
}

// The settings every rank of a data-parallel run must share (compared by hash at start-up).
std::vector<std::pair<std::string, std::string>> shared_settings(const trainer_options & o, int64_t n_train,
                                                                 int64_t n_test) {
    std::vector<std::pair<std::string, std::string>> v;
    for (const auto & c : checkpoint_settings(o, n_train)) {
        v.emplace_back(c.flag, c.value);
    }
    v.emplace_back("--seed", std::to_string(o.seed));
    v.emplace_back("test images (--limit-test)", std::to_string(n_test));
    v.emplace_back("--resume", o.resume ? "on" : "off");
    v.emplace_back("--max-steps", std::to_string(o.max_steps));
    v.emplace_back("--checkpoint-steps", std::to_string(o.checkpoint_steps));
    v.emplace_back("--eval-batch-size", std::to_string(o.eval_batch_size));
    return v;
}

} // namespace

forward_fn ann_forward_fn(const graph & g) {
    return [&g](const at::Tensor & x, bool train, const at::Generator & dropout) {
        forward_options fo;
        fo.train = train;
        fo.dropout_generator = dropout;
        return ann_forward(g, x, fo);
    };
}

double evaluate_accuracy(const forward_fn & forward, const dataset & data, const augment_options & pre,
                         int64_t batch_size, bool progress) {
    const int64_t n = data.images.size(0);
    const int64_t correct = count_correct(forward, data, pre, batch_size, 0, n, progress);
    return n == 0 ? 0.0 : 100.0 * static_cast<double>(correct) / static_cast<double>(n);
}

train_result train_loop(graph & g, const forward_fn & forward, const dataset & train, const dataset & test,
                        const trainer_options & o, const train_hooks & hooks) {
    const int64_t n = train.images.size(0);
    if (n < o.batch_size) {
        fail("training data", "has " + std::to_string(n) + " samples, fewer than one batch of " +
                                  std::to_string(o.batch_size));
    }
    if (o.epochs < 1) {
        fail("--epochs", "must be at least 1");
    }
    if (o.batch_size < 1) {
        fail("--batch-size", "must be at least 1, got " + std::to_string(o.batch_size));
    }
    if (o.schedule != "cosine" && o.schedule != "constant") {
        fail("--schedule " + o.schedule, "unknown learning-rate schedule (known: cosine, constant)");
    }
    const int64_t steps_per_epoch = n / o.batch_size; // the last partial batch is dropped
    const int64_t total_steps = steps_per_epoch * o.epochs;
    train_parallel * par = o.parallel.get();
    const int world = par ? par->world_size() : 1;
    const int rank = par ? par->rank() : 0;
    const bool writer = rank == 0;      // rank 0 alone writes checkpoints, the log and the progress line
    const bool progress = o.progress && writer;
    if (o.batch_size < world) {
        fail("--batch-size", "the global batch " + std::to_string(o.batch_size) + " is smaller than the " +
                                 std::to_string(world) + " ranks");
    }
    // this rank's images of each global batch: positions rank, rank + N, ...; its loss weighs b_r N / B
    const int64_t local_batch = (o.batch_size - rank + world - 1) / world;
    const double loss_weight = static_cast<double>(local_batch * world) / static_cast<double>(o.batch_size);
    const int64_t n_test = test.images.defined() ? test.images.size(0) : 0;
    if (par) {
        par->check_same(shared_settings(o, n, n_test));
    }
    for (auto & kv : g.named_params()) {
        kv.second.requires_grad_(true);
    }
    optimizer opt(g.named_params(), o.optim);
    std::vector<epoch_metrics> history;
    position pos;
    std::string ckpt, log;
    if (!o.out_dir.empty()) {
        if (writer) {
            make_dirs(o.out_dir);
        }
        ckpt = o.out_dir + "/checkpoint.safetensors";
        log = o.out_dir + "/train_log.jsonl";
    }
    // Rank 0 looks for the checkpoint: 'N' none, 'X' one there without --resume, 'C' + its bytes
    std::string found = "N";
    if (writer && !ckpt.empty() && std::filesystem::exists(ckpt)) {
        found = o.resume ? "C" + read_file(ckpt) : "X";
    }
    if (par) {
        found = par->broadcast_bytes(found, "checkpoint from rank 0");
    }
    if (o.resume) {
        if (ckpt.empty()) {
            fail("--resume", "needs an output directory");
        }
        if (found[0] == 'C') {
            pos = load_checkpoint(ckpt, found.substr(1), g, opt, &history, o, hooks, n);
            if (progress) {
                std::fprintf(stderr, "resuming from %s at epoch %d step %lld\n", ckpt.c_str(), pos.epoch + 1,
                             static_cast<long long>(pos.step));
            }
        } else if (progress) {
            std::fprintf(stderr, "no checkpoint at %s: starting from scratch\n", ckpt.c_str());
        }
        // A checkpoint past the end of this run (a constant schedule resumed with fewer --epochs) would be
        // reported as a shorter run than its history holds.
        if (pos.epoch > o.epochs || (pos.epoch == o.epochs && pos.step > 0)) {
            fail(ckpt, "checkpoint is at epoch " + std::to_string(pos.epoch + (pos.step > 0 ? 1 : 0)) +
                           ", past --epochs " + std::to_string(o.epochs) + " (resume with --epochs " +
                           std::to_string(pos.epoch + 1) + " or more)");
        }
    } else if (found[0] == 'X') {
        // Starting over would overwrite that run's checkpoint at the first save.
        fail(ckpt, "a checkpoint of an earlier run is here: continue it with --resume, or choose another --out "
                   "(nothing was overwritten)");
    }
    found.clear();
    const auto model_tensors = [&g]() {
        std::vector<at::Tensor> v;
        for (const auto & kv : g.named_tensors()) {
            v.push_back(kv.second);
        }
        return v;
    };
    if (par) { // as DDP: every rank starts from rank 0's weights and buffers
        par->broadcast_tensors(model_tensors(), "initial weights from rank 0");
        par->attach(g);
    }
    // A stop (signal) seen by any rank stops every rank at the same point.
    const auto signalled = [&]() {
        if (!par) {
            return g_signal.load() != 0;
        }
        at::Tensor f = at::full({1}, g_signal.load() != 0 ? 1.0 : 0.0, at::kDouble);
        par->sum(f, "stop flag");
        return f.item<double>() > 0;
    };

    signal_scope signals;
    train_result r;
    int64_t run_steps = 0;
    // dropout draws from the run's own generator (reseeded per step, so a resume draws the same masks), never
    // from ATen's global one, which other code in the process may use
    at::Generator dropout_gen = at::make_generator<at::CPUGeneratorImpl>(rng_mix(o.seed, 0xd70));
    std::vector<double> epoch_walls; // this run's whole epochs, per-epoch hook and test pass included
    // The run stops (a signal, or --max-steps) after the checkpoint it just wrote, or, for a signal during the
    // test pass, the checkpoint or the per-epoch hook, at the next epoch's start without a step: the checkpoint
    // written at the last epoch's end is then where a resume starts (the hook, e.g. Dspike's FDG, is a function
    // of that state and runs again).
    const auto stopped = [&]() {
        if (progress) {
            const char * why = g_signal.load() ? " by signal" : "";
            if (!ckpt.empty() && std::filesystem::exists(ckpt)) {
                std::fprintf(stderr, "\nstopped%s; checkpoint saved to %s (continue with --resume)\n", why, ckpt.c_str());
            } else {
                std::fprintf(stderr, "\nstopped%s before the first checkpoint; nothing was saved\n", why);
            }
        }
        r.interrupted = true;
        r.history = history;
        r.epochs = pos.epoch;
        return r;
    };
    for (; pos.epoch < o.epochs; ++pos.epoch) {
        if (pos.step == 0 && signalled()) {
            return stopped();
        }
        const auto wall0 = clock_now();
        const bool whole_epoch = pos.step == 0;
        at::Generator order_gen = at::make_generator<at::CPUGeneratorImpl>(rng_mix(o.seed, 0x0e0c, pos.epoch));
        const at::Tensor perm = at::randperm(n, order_gen, at::kLong);
        if (hooks.on_epoch && pos.step == 0) {
            const at::Tensor idx = perm.slice(0, 0, o.batch_size);
            pos.note = hooks.on_epoch(pos.epoch,
                                      make_batch(train.images, idx, o.augment, rng_mix(o.seed, 0x00e0, pos.epoch)),
                                      train.labels.index_select(0, idx));
            check_epoch_note(pos.note);
            if (signalled()) {
                return stopped();
            }
        }
        // A resumed epoch already took this long before the checkpoint (pos.seconds counts finished epochs
        // plus the part of this one).
        double epoch_prior = 0;
        if (pos.step > 0) {
            epoch_prior = pos.seconds;
            for (const epoch_metrics & e : history) {
                epoch_prior -= e.seconds;
            }
            epoch_prior = std::max(0.0, epoch_prior);
        }
        progress_bar bar("epoch " + std::to_string(pos.epoch + 1) + "/" + std::to_string(o.epochs),
                         steps_per_epoch, progress, pos.step, epoch_prior);
        auto t0 = clock_now();
        // the rate of the last step taken (a checkpoint may sit at the end of this epoch)
        double lr = o.schedule == "cosine"
                        ? cosine_lr(o.optim.lr, o.lr_min,
                                    std::max<int64_t>(0, pos.epoch * steps_per_epoch + pos.step - 1), total_steps)
                        : o.optim.lr;
        for (; pos.step < steps_per_epoch; ++pos.step) {
            const int64_t global = pos.epoch * steps_per_epoch + pos.step;
            lr = o.schedule == "cosine" ? cosine_lr(o.optim.lr, o.lr_min, global, total_steps) : o.optim.lr;
            const at::Tensor idx =
                perm.slice(0, pos.step * o.batch_size, (pos.step + 1) * o.batch_size).slice(0, rank, c10::nullopt, world);
            const at::Tensor x = make_batch(train.images, idx, o.augment, rng_mix(o.seed, pos.epoch, pos.step));
            const at::Tensor y = train.labels.index_select(0, idx);
            {
                std::lock_guard<std::mutex> lock(dropout_gen.mutex());
                const uint64_t s = rng_mix(o.seed, 0xd70, global);
                dropout_gen.set_current_seed(rank == 0 ? s : rng_mix(s, 0xd70, rank)); // other masks per rank
            }
            opt.zero_grad();
            if (par) {
                par->begin_step();
            }
            const std::string where = "epoch " + std::to_string(pos.epoch + 1) + " step " + std::to_string(pos.step);
            at::Tensor logits;
            try {
                logits = forward(x, true, dropout_gen);
            } catch (const snnkit::error &) { // a spiking layer refuses NaN input: name where it started
                std::string layer;
                try {
                    layer = first_nonfinite_node(g, x, o.snn_T, true);
                } catch (const std::exception &) { // the diagnosis failed too: keep the original error
                }
                if (layer.empty()) {
                    throw;
                }
                fail("training", "the first NaN/Inf value is the output of layer '" + layer + "' at " + where +
                                     " (lower the learning rate? checkpoints saved before are kept)");
            }
            const at::Tensor loss = at::cross_entropy_loss(logits, y, {}, at::Reduction::Mean, -100, o.label_smoothing);
            const double lv = loss.item<double>();
            if (!std::isfinite(lv)) {
                const std::string layer = first_nonfinite_node(g, x, o.snn_T, true);
                fail("training", "loss is " + std::to_string(lv) + " at " + where +
                                     (layer.empty() ? std::string() : "; the first NaN/Inf value is the output of layer '" + layer + "'") +
                                     " (lower the learning rate? checkpoints saved before are kept)");
            }
            // The global batch's loss and accuracy, and whether any rank got a signal (all stop after this
            // step), summed over ranks while backward runs.
            const int64_t right = logits.detach().argmax(1).eq(y).sum().item<int64_t>();
            const double metrics[4] = {lv * static_cast<double>(y.size(0)), static_cast<double>(right),
                                       static_cast<double>(y.size(0)), g_signal.load() != 0 ? 1.0 : 0.0};
            at::Tensor metrics_sum;
            if (par) {
                metrics_sum = at::tensor(c10::ArrayRef<double>(metrics, 4), at::kDouble);
                par->start_sum(metrics_sum, "step metrics");
            }
            if (loss_weight != 1.0) {
                (loss * loss_weight).backward();
            } else {
                loss.backward();
            }
            if (par) {
                par->end_step();
            }
            if (o.check_grads) {
                const std::string bad = first_nonfinite_grad(g);
                if (!bad.empty()) {
                    fail("training", "the gradient of '" + bad + "' holds NaN/Inf at " + where +
                                         " (lower the learning rate? checkpoints saved before are kept)");
                }
            }
            opt.step(lr);
            bool any_signal = g_signal.load() != 0;
            if (par) { // only the summed flag, so that every rank stops after the same step
                par->wait_sum();
                const double * m = metrics_sum.data_ptr<double>();
                pos.loss_sum += m[0];
                pos.correct += static_cast<int64_t>(m[1]);
                pos.seen += static_cast<int64_t>(m[2]);
                any_signal = m[3] > 0;
            } else {
                pos.loss_sum += metrics[0];
                pos.correct += right;
                pos.seen += y.size(0);
            }
            char extra[96];
            std::snprintf(extra, sizeof extra, "loss %.4f acc %.2f%% lr %.4g", pos.loss_sum / pos.seen,
                          100.0 * pos.correct / pos.seen, lr);
            bar.update(pos.step + 1, extra);
            ++run_steps;
            const bool stop = any_signal || (o.max_steps > 0 && run_steps >= o.max_steps);
            const bool periodic = o.checkpoint_steps > 0 && run_steps % o.checkpoint_steps == 0;
            if ((stop || periodic) && !ckpt.empty() && writer) {
                position next = pos;
                next.step += 1;
                next.seconds += seconds_since(t0);
                save_finite_checkpoint(ckpt, g, opt, next, history, o, hooks, n, where);
            }
            if (stop) {
                return stopped();
            }
        }
        const double secs = seconds_since(t0);
        pos.seconds += secs;
        epoch_metrics m;
        m.epoch = pos.epoch + 1;
        m.train_loss = pos.loss_sum / std::max<int64_t>(1, pos.seen);
        m.train_accuracy = 100.0 * pos.correct / std::max<int64_t>(1, pos.seen);
        if (par) { // rank 0's BatchNorm running statistics on every rank, as DDP's buffer broadcast
            std::vector<at::Tensor> buffers;
            for (auto & nd : g.nodes) {
                for (auto & kv : nd.buffers) {
                    buffers.push_back(kv.second);
                }
            }
            par->broadcast_tensors(buffers, "buffers from rank 0");
        }
        if (n_test > 0) { // rank r evaluates the r-th of N contiguous parts
            const int64_t b = n_test * rank / world, e = n_test * (rank + 1) / world;
            at::Tensor c = at::full({1}, static_cast<double>(count_correct(forward, test, o.eval_preprocess,
                                                                           o.eval_batch_size, b, e, false)),
                                    at::kDouble);
            if (par) {
                par->sum(c, "evaluation counts");
            }
            m.test_accuracy = 100.0 * c.item<double>() / static_cast<double>(n_test);
        } else {
            m.test_accuracy = 0.0;
        }
        m.lr = lr;
        m.seconds = epoch_prior + secs;
        m.note = pos.note;
        history.push_back(m);
        char extra[128];
        std::snprintf(extra, sizeof extra, "loss %.4f train %.2f%% test %.2f%%", m.train_loss, m.train_accuracy,
                      m.test_accuracy);
        std::string line = extra;
        if (whole_epoch) {
            epoch_walls.push_back(seconds_since(wall0));
        }
        const int left = o.epochs - pos.epoch - 1;
        if (left > 0 && !epoch_walls.empty()) { // the run's time left, from its last (up to) 3 whole epochs
            const size_t k = std::min<size_t>(3, epoch_walls.size());
            double mean = 0;
            for (size_t i = epoch_walls.size() - k; i < epoch_walls.size(); ++i) {
                mean += epoch_walls[i] / static_cast<double>(k);
            }
            line += "; about " + format_duration(mean * left) + " left for " + std::to_string(left) + " epoch" +
                    (left > 1 ? "s" : "");
        }
        bar.finish(line);
        pos.step = 0;
        pos.note.clear();
        pos.loss_sum = 0;
        pos.correct = pos.seen = 0;
        if (!ckpt.empty() && writer) {
            position next = pos;
            next.epoch += 1;
            save_finite_checkpoint(ckpt, g, opt, next, history, o, hooks, n,
                                   "the end of epoch " + std::to_string(pos.epoch + 1));
            write_log(log, history);
        }
    }
    for (auto & kv : g.named_params()) {
        kv.second.requires_grad_(false);
    }
    r.history = history;
    r.epochs = o.epochs;
    r.test_accuracy = history.empty() ? 0.0 : history.back().test_accuracy;
    r.train_seconds = pos.seconds;
    return r;
}

} // namespace snnkit
