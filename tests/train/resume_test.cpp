// Training: a resumed run ends with exactly the weights of an uninterrupted one (same seed), and a
// small model learns a separable task.
#include "snnkit/io/atomic_file.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/graph.h"
#include "snnkit/train/trainer.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace snnkit;

namespace {

// 2-class images 1x8x8: class 1 has a bright left half, class 0 a bright right half, plus noise.
dataset toy(int64_t n, uint64_t seed) {
    at::manual_seed(seed);
    dataset d;
    d.num_classes = 2;
    d.labels = at::randint(2, {n}, at::kLong);
    at::Tensor img = at::randint(0, 90, {n, 1, 8, 8}, at::kLong);
    at::Tensor left = d.labels.view({n, 1, 1, 1}).eq(1);
    img.slice(3, 0, 4).add_(left.to(at::kLong) * 120);
    img.slice(3, 4, 8).add_(left.logical_not().to(at::kLong) * 120);
    d.images = img.to(at::kByte);
    return d;
}

graph tiny(uint64_t seed) {
    graph_builder b({1, 8, 8}, 2, seed);
    b.conv2d("conv", 1, 4, 3, 1, 1, false);
    b.batch_norm("bn", 4);
    b.relu("relu");
    b.avg_pool("pool", 2, 2);
    b.flatten("flat");
    b.dropout("drop", 0.2);
    b.linear("fc", 64, 2);
    return b.finish("custom");
}

trainer_options opts(const std::string & dir) {
    trainer_options o;
    o.epochs = 3;
    o.batch_size = 32;
    o.optim.lr = 0.05;
    o.seed = 11;
    o.augment.pad_crop = 1;
    o.augment.hflip = false;
    o.out_dir = dir;
    o.progress = false;
    return o;
}

std::string fresh(const std::string & name) {
    const std::string d = std::string(SNNKIT_BINARY_DIR) + "/tmp_train/" + name;
    std::filesystem::remove_all(d);
    return d;
}

} // namespace

TEST(trainer, resume_after_interruption_is_bit_identical) {
    const dataset train = toy(320, 1), test = toy(64, 2);
    graph a = tiny(5);
    const forward_fn fa = ann_forward_fn(a);
    const train_result ra = train_loop(a, fa, train, test, opts(fresh("a")));
    EXPECT_FALSE(ra.interrupted);

    // Interrupted twice: mid-epoch (step 4 of 10) and again mid-way through epoch 2, each in a new "process"
    // (a fresh graph built from the same seed, state restored only from the checkpoint).
    const std::string dir = fresh("b");
    int stops = 0;
    train_result rb;
    for (int64_t limit : {4, 13, 0}) {
        graph b = tiny(5);
        const forward_fn fb = ann_forward_fn(b);
        trainer_options o = opts(dir);
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
    EXPECT_EQ(rb.history.back().test_accuracy, ra.history.back().test_accuracy);
    EXPECT_TRUE(std::filesystem::exists(dir + "/train_log.jsonl"));
}

TEST(trainer, learns_a_separable_task) {
    const dataset train = toy(640, 3), test = toy(200, 4);
    graph g = tiny(6);
    const forward_fn f = ann_forward_fn(g);
    trainer_options o = opts("");
    o.out_dir.clear();
    const train_result r = train_loop(g, f, train, test, o);
    EXPECT_GE(r.test_accuracy, 99.0);
    EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
}
