// Training: a resumed run ends with exactly the weights of an uninterrupted one (same seed), and a
// small model learns a separable task.
#include "snnkit/core/error.h"
#include "snnkit/io/atomic_file.h"
#include "snnkit/io/safetensors.h"
#include "snnkit/nn/anomaly.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/graph.h"
#include "snnkit/train/trainer.h"
#include "train/toy_task.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <functional>
#include <map>

using namespace snnkit;
using namespace snnkit_test;

TEST(trainer, resume_after_interruption_is_bit_identical) {
    const dataset train = toy(320, 1), test = toy(64, 2);
    graph a = tiny(5);
    const forward_fn fa = ann_forward_fn(a);
    const train_result ra = train_loop(a, fa, train, test, toy_options(fresh_dir("tmp_train/a"), 0.05, 11));
    EXPECT_FALSE(ra.interrupted);

    // Interrupted twice: mid-epoch (step 4 of 10) and again mid-way through epoch 2, each in a new "process"
    // (a fresh graph built from the same seed, state restored only from the checkpoint).
    const std::string dir = fresh_dir("tmp_train/b");
    int stops = 0;
    train_result rb;
    for (int64_t limit : {4, 13, 0}) {
        graph b = tiny(5);
        const forward_fn fb = ann_forward_fn(b);
        trainer_options o = toy_options(dir, 0.05, 11);
        o.resume = true;
        o.max_steps = limit;
        rb = train_loop(b, fb, train, test, o);
        stops += rb.interrupted;
        if (!rb.interrupted) {
            const auto ta = a.named_tensors(), tb = b.named_tensors();
            ASSERT_EQ(ta.size(), tb.size());
            for (size_t i = 0; i < ta.size(); ++i) {
                EXPECT_TRUE(at::equal(ta[i].second, tb[i].second)) << ta[i].first;
            }
        }
    }
    EXPECT_EQ(stops, 2);
    ASSERT_EQ(rb.history.size(), ra.history.size());
    // Each epoch's seconds include the part run before a restart: they add up to the total training time.
    double epoch_sum = 0;
    for (const epoch_metrics & e : rb.history) {
        epoch_sum += e.seconds;
    }
    EXPECT_NEAR(epoch_sum, rb.train_seconds, 1e-9 * (1 + rb.train_seconds));
    EXPECT_EQ(rb.history.back().test_accuracy, ra.history.back().test_accuracy);
    EXPECT_TRUE(std::filesystem::exists(dir + "/train_log.jsonl"));
}

TEST(trainer, learns_a_separable_task) {
    const dataset train = toy(640, 3), test = toy(200, 4);
    graph g = tiny(6);
    const forward_fn f = ann_forward_fn(g);
    trainer_options o = toy_options("", 0.05, 11);
    const train_result r = train_loop(g, f, train, test, o);
    EXPECT_GE(r.test_accuracy, 99.0);
    EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
}

// Numerical guards: a NaN that enters through a layer's parameters stops training with the epoch, the step
// and the first layer whose output is not finite; a non-finite gradient is named by its parameter.
TEST(trainer, a_nan_is_reported_with_its_layer_and_step) {
    const dataset train = toy(128, 1), test = toy(32, 2);
    graph g = tiny(5);
    g.nodes[g.find("bn")].params["weight"][2] = NAN;
    try {
        train_loop(g, ann_forward_fn(g), train, test, toy_options("", 0.05, 11));
        FAIL() << "no error";
    } catch (const snnkit::error & e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("epoch 1 step 0"), std::string::npos) << m;
        EXPECT_NE(m.find("layer 'bn'"), std::string::npos) << m;
    }
    EXPECT_EQ(first_nonfinite_node(g, at::zeros({2, 1, 8, 8}), 0, false), "bn");
    EXPECT_EQ(first_nonfinite_node(g, at::full({2, 1, 8, 8}, NAN), 0, false), "input");
    graph h = tiny(5);
    EXPECT_EQ(first_nonfinite_node(h, at::zeros({2, 1, 8, 8}), 0, false), "");
    for (auto & kv : h.named_params()) {
        kv.second.mutable_grad() = at::zeros_like(kv.second);
    }
    EXPECT_EQ(first_nonfinite_grad(h), "");
    // finite gradients whose float sum overflows: the quick check fails, the exact search finds nothing
    for (auto & kv : h.named_params()) {
        kv.second.mutable_grad().fill_(3e38);
    }
    EXPECT_EQ(first_nonfinite_grad(h), "");
    for (auto & kv : h.named_params()) {
        kv.second.mutable_grad().zero_();
    }
    h.nodes[h.find("fc")].params["bias"].mutable_grad()[1] = INFINITY;
    EXPECT_EQ(first_nonfinite_grad(h), "fc.bias");
    h.nodes[h.find("fc")].params["bias"].mutable_grad()[1] = 0;
    h.nodes[h.find("fc")].params["weight"].mutable_grad()[0][2] = NAN;
    EXPECT_EQ(first_nonfinite_grad(h), "fc.weight");
}

// A resume must lay out the same steps and schedule: another batch size, training-set size, learning rate,
// optimizer setting, label smoothing, augmentation, T or (under the cosine schedule) epoch count / lr-min is
// refused, naming the setting; bad settings fail up front.
TEST(trainer, resume_with_other_settings_is_refused) {
    const dataset train = toy(320, 1), test = toy(64, 2);
    const std::string dir = fresh_dir("tmp_train/settings");
    {
        graph g = tiny(5);
        trainer_options o = toy_options(dir, 0.05, 11);
        o.max_steps = 3;
        EXPECT_TRUE(train_loop(g, ann_forward_fn(g), train, test, o).interrupted);
    }
    const auto resume_error = [&](const std::function<void(trainer_options &)> & change, const dataset & tr) {
        graph g = tiny(5);
        trainer_options o = toy_options(dir, 0.05, 11);
        o.resume = true;
        change(o);
        try {
            train_loop(g, ann_forward_fn(g), tr, test, o);
        } catch (const snnkit::error & e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    EXPECT_NE(resume_error([](trainer_options & o) { o.batch_size = 16; }, train).find("--batch-size 32, not 16"),
              std::string::npos);
    EXPECT_NE(resume_error([](trainer_options & o) { o.epochs = 5; }, train).find("--epochs 3, not 5"), std::string::npos);
    EXPECT_NE(resume_error([](trainer_options & o) { o.optim.lr = 0.1; }, train).find("--lr"), std::string::npos);
    EXPECT_NE(resume_error([](trainer_options & o) { o.lr_min = 0.01; }, train).find("--lr-min"), std::string::npos);
    EXPECT_NE(resume_error([](trainer_options & o) { o.optim.kind = "adam"; }, train).find("--optimizer sgd, not adam"),
              std::string::npos);
    EXPECT_NE(resume_error([](trainer_options & o) { o.schedule = "constant"; }, train).find("--schedule cosine, not constant"),
              std::string::npos);
    EXPECT_NE(resume_error([](trainer_options &) {}, toy(256, 1)).find("training images (--limit-train) 320, not 256"),
              std::string::npos);
    EXPECT_NE(resume_error([](trainer_options & o) { o.schedule = "cos"; }, train).find("unknown learning-rate schedule"),
              std::string::npos);
    EXPECT_NE(resume_error([](trainer_options & o) { o.batch_size = 0; }, train).find("--batch-size"), std::string::npos);
    EXPECT_NE(resume_error([](trainer_options & o) { o.optim.weight_decay = 0; }, train).find("--weight-decay 0.0005, not 0"),
              std::string::npos);
    EXPECT_NE(resume_error([](trainer_options & o) { o.optim.momentum = 0.5; }, train).find("--momentum 0.9, not 0.5"),
              std::string::npos);
    EXPECT_NE(resume_error([](trainer_options & o) { o.optim.nesterov = true; }, train).find("--nesterov off, not on"),
              std::string::npos);
    EXPECT_NE(resume_error([](trainer_options & o) { o.label_smoothing = 0.1; }, train).find("--label-smoothing"),
              std::string::npos);
    EXPECT_NE(resume_error([](trainer_options & o) { o.augment.hflip = true; }, train)
                  .find("(--augment / --crop-pad) crop (pad 1), not crop (pad 1) + flip"),
              std::string::npos);
    EXPECT_NE(resume_error([](trainer_options & o) { o.snn_T = 4; }, train).find("--T 0, not 4"), std::string::npos);
    // The same settings resume and finish.
    EXPECT_EQ(resume_error([](trainer_options &) {}, train), "no error");
}

// Settings that do not shape the run are not checked: under a constant schedule the epoch count and lr-min may
// change (the run is extended), and Adam ignores SGD's momentum and Nesterov flag.
TEST(trainer, resume_ignores_settings_the_run_does_not_use) {
    const dataset train = toy(320, 1), test = toy(64, 2);
    const std::string dir = fresh_dir("tmp_train/unchecked");
    const auto options = [&]() {
        trainer_options o = toy_options(dir, 0.01, 11);
        o.schedule = "constant";
        o.optim.kind = "adam";
        return o;
    };
    {
        graph g = tiny(5);
        trainer_options o = options();
        o.max_steps = 3;
        EXPECT_TRUE(train_loop(g, ann_forward_fn(g), train, test, o).interrupted);
    }
    graph g = tiny(5);
    trainer_options o = options();
    o.resume = true;
    o.epochs = 4;
    o.lr_min = 0.001;
    o.optim.momentum = 0.5;
    o.optim.nesterov = true;
    const train_result r = train_loop(g, ann_forward_fn(g), train, test, o);
    EXPECT_FALSE(r.interrupted);
    EXPECT_EQ(r.epochs, 4);
}

namespace {

std::string train_error(graph & g, const dataset & train, const dataset & test, const trainer_options & o,
                        const train_hooks & hooks = {}) {
    try {
        train_loop(g, ann_forward_fn(g), train, test, o, hooks);
    } catch (const snnkit::error & e) {
        return e.what();
    }
    return "no error";
}

} // namespace

// Nothing already saved is lost: without resume an existing checkpoint is refused (not overwritten), and a
// resume past the end of the run (a constant schedule with fewer epochs) is refused, naming the epoch.
TEST(trainer, an_existing_checkpoint_is_neither_overwritten_nor_resumed_past_its_end) {
    const dataset train = toy(320, 1), test = toy(64, 2);
    const std::string dir = fresh_dir("tmp_train/kept");
    trainer_options o = toy_options(dir, 0.05, 11);
    o.schedule = "constant";
    o.epochs = 2;
    {
        graph g = tiny(5);
        ASSERT_FALSE(train_loop(g, ann_forward_fn(g), train, test, o).interrupted);
    }
    const std::string ckpt = dir + "/checkpoint.safetensors";
    const std::string before = read_file(ckpt);
    ASSERT_FALSE(before.empty());
    graph g = tiny(5);
    const std::string m = train_error(g, train, test, o);
    EXPECT_NE(m.find("checkpoint.safetensors: a checkpoint of an earlier run is here: continue it with --resume"),
              std::string::npos)
        << m;
    EXPECT_EQ(read_file(ckpt), before);
    trainer_options fewer = o;
    fewer.resume = true;
    fewer.epochs = 1;
    const std::string past = train_error(g, train, test, fewer);
    EXPECT_NE(past.find("checkpoint is at epoch 2, past --epochs 1 (resume with --epochs 3 or more)"), std::string::npos)
        << past;
    trainer_options same = o;
    same.resume = true; // a finished run resumes to the same end
    EXPECT_EQ(train_error(g, train, test, same), "no error");
}

// A tensor that turns non-finite during training (here a BN running variance, set to NaN before the second
// step; a step can also overflow the weights from a finite gradient) is never checkpointed: the save
// is refused, naming the tensor, and the last good checkpoint stays as it was.
TEST(trainer, non_finite_tensors_are_never_checkpointed) {
    const dataset train = toy(128, 1), test = toy(32, 2);
    const std::string dir = fresh_dir("tmp_train/overflow");
    trainer_options o = toy_options(dir, 0.05, 11);
    o.checkpoint_steps = 1;
    graph g = tiny(5);
    const forward_fn base = ann_forward_fn(g);
    int calls = 0;
    std::string good; // the checkpoint after the first step
    const forward_fn corrupt = [&](const at::Tensor & x, bool train_mode, const at::Generator & dropout) {
        if (train_mode && ++calls == 2) { // training BN normalises by the batch's statistics: the loss stays finite
            good = read_file(dir + "/checkpoint.safetensors");
            at::NoGradGuard no_grad;
            g.nodes[g.find("bn")].buffers["running_var"][1] = NAN;
        }
        return base(x, train_mode, dropout);
    };
    std::string m = "no error";
    try {
        train_loop(g, corrupt, train, test, o);
    } catch (const snnkit::error & e) {
        m = e.what();
    }
    EXPECT_NE(m.find("'bn.running_var' holds NaN/Inf at epoch 1 step 1"), std::string::npos) << m;
    EXPECT_NE(m.find("the checkpoint was not overwritten"), std::string::npos) << m;
    ASSERT_FALSE(good.empty());
    EXPECT_EQ(read_file(dir + "/checkpoint.safetensors"), good);
    graph h = tiny(5);
    EXPECT_EQ(first_nonfinite_tensor(h), "");
    h.nodes[h.find("fc")].params["weight"][0][3] = INFINITY;
    EXPECT_EQ(first_nonfinite_tensor(h), "fc.weight");
}

// A signal during the per-epoch hook (Dspike's FDG, minutes on CIFAR) stops before the next step; the checkpoint
// from the end of the last epoch is where the resume starts, the hook runs again, and the run ends with exactly
// the weights of an uninterrupted one.
TEST(trainer, a_signal_in_the_epoch_hook_stops_at_once_and_resumes_exactly) {
    const dataset train = toy(320, 1), test = toy(64, 2);
    train_hooks plain;
    plain.on_epoch = [](int e, const at::Tensor & x, const at::Tensor &) {
        return "{\"hook_epoch\":" + std::to_string(e) + ",\"x\":" + std::to_string(x.sum().item<double>()) + "}";
    };
    graph a = tiny(5);
    const train_result ra = train_loop(a, ann_forward_fn(a), train, test, toy_options(fresh_dir("tmp_train/sig_a"), 0.05, 11), plain);
    ASSERT_FALSE(ra.interrupted);

    const std::string dir = fresh_dir("tmp_train/sig_b");
    train_hooks raising = plain;
    raising.on_epoch = [&plain](int e, const at::Tensor & x, const at::Tensor & y) {
        if (e == 1) {
            std::raise(SIGTERM); // train_loop's handler records it; the process goes on
        }
        return plain.on_epoch(e, x, y);
    };
    graph b = tiny(5);
    const train_result rb = train_loop(b, ann_forward_fn(b), train, test, toy_options(dir, 0.05, 11), raising);
    EXPECT_TRUE(rb.interrupted);
    EXPECT_EQ(rb.history.size(), 1u); // epoch 1 done, no step of epoch 2
    std::map<std::string, std::string> meta;
    safetensors_load(dir + "/checkpoint.safetensors", &meta);
    EXPECT_EQ(meta["epoch"], "1");
    EXPECT_EQ(meta["step"], "0"); // the end-of-epoch checkpoint: no step was taken after the signal

    graph c = tiny(5);
    trainer_options o = toy_options(dir, 0.05, 11);
    o.resume = true;
    const train_result rc = train_loop(c, ann_forward_fn(c), train, test, o, plain);
    ASSERT_FALSE(rc.interrupted);
    const auto ta = a.named_tensors(), tc = c.named_tensors();
    ASSERT_EQ(ta.size(), tc.size());
    for (size_t i = 0; i < ta.size(); ++i) {
        EXPECT_TRUE(at::equal(ta[i].second, tc[i].second)) << ta[i].first;
    }
    ASSERT_EQ(rc.history.size(), ra.history.size());
    for (size_t e = 0; e < ra.history.size(); ++e) {
        EXPECT_EQ(rc.history[e].note, ra.history[e].note) << "epoch " << e;
    }
}

// An epoch note is merged into the log entry: one that is not a JSON object, or that would replace one of the
// trainer's own fields, is refused before any step.
TEST(trainer, an_epoch_note_may_not_replace_the_logs_fields) {
    const dataset train = toy(64, 1), test = toy(32, 2);
    for (const std::string note : {std::string("{\"epoch\":7}"), std::string("[1]")}) {
        train_hooks h;
        h.on_epoch = [&note](int, const at::Tensor &, const at::Tensor &) { return note; };
        graph g = tiny(5);
        const std::string m = train_error(g, train, test, toy_options("", 0.05, 11), h);
        EXPECT_NE(m.find("train_hooks::on_epoch: the epoch note"), std::string::npos) << m;
    }
}

// The trainer draws dropout masks (and everything else) from its own generators: ATen's global generator,
// which the program around the library may use, is neither reseeded nor advanced by a training run. The
// dropout masks stay a function of the seed: two runs give the same weights whatever the global state.
TEST(trainer, leaves_the_global_generator_alone) {
    const dataset train = toy(160, 1), test = toy(32, 2);
    at::manual_seed(1234);
    const at::Tensor expect = at::rand({8});
    graph a = tiny(5); // tiny() has a dropout layer
    at::manual_seed(1234);
    train_loop(a, ann_forward_fn(a), train, test, toy_options("", 0.05, 11));
    EXPECT_TRUE(at::equal(at::rand({8}), expect)) << "training moved or reseeded ATen's global generator";
    at::manual_seed(999); // another global state: the same training
    graph b = tiny(5);
    train_loop(b, ann_forward_fn(b), train, test, toy_options("", 0.05, 11));
    const auto ta = a.named_tensors(), tb = b.named_tensors();
    for (size_t i = 0; i < ta.size(); ++i) {
        EXPECT_TRUE(at::equal(ta[i].second, tb[i].second)) << ta[i].first;
    }
}
