// Model metadata (model_meta.h): model directories written before the metadata was typed (the "meta" object
// exactly as the commands wrote it then) load into the typed fields, and saving them again gives the same JSON
// object back, unknown keys included.
#include "snnkit/core/error.h"
#include "snnkit/io/atomic_file.h"
#include "snnkit/io/model_io.h"
#include "snnkit/nn/zoo.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

using namespace snnkit;
using json = nlohmann::json;

namespace {

std::string tmp_dir(const std::string & name) {
    const std::string d = std::string(SNNKIT_BINARY_DIR) + "/tmp_model_meta/" + name;
    std::filesystem::remove_all(d);
    make_dirs(d);
    return d;
}

// A model directory whose model.json holds `old_meta` as its "meta", as an older snnkit wrote it.
std::string old_model(const std::string & name, const json & old_meta) {
    const std::string d = tmp_dir(name);
    save_model(d, zoo_build(zoo_options{}));
    const json j = json::parse(read_file(d + "/model.json"));
    EXPECT_EQ(j.at("meta"), json::object());
    std::string text = j.dump(1);
    const size_t at = text.find("\"meta\": {}");
    EXPECT_NE(at, std::string::npos);
    text.replace(at, 10, "\"meta\": " + old_meta.dump());
    write_file_atomic(d + "/model.json", text + "\n");
    return d;
}

// Loads the old directory, and checks that saving what was loaded writes the same "meta" object.
model_meta load_and_resave(const std::string & name, const json & old_meta) {
    const std::string d = old_model(name, old_meta);
    model_meta m;
    const graph g = load_model(d, &m);
    const std::string d2 = tmp_dir(name + "_resaved");
    save_model(d2, g, m);
    EXPECT_EQ(json::parse(read_file(d2 + "/model.json")).at("meta"), old_meta) << name;
    return m;
}

// The history train-ann and train-snn wrote: the trainer's keys, plus a hook's note ("dspike") in one entry.
const json k_history = json::parse(R"([
  {"epoch": 1, "train_loss": 1.25, "train_accuracy": 55.5, "test_accuracy": 60.25, "lr": 0.05, "seconds": 3.5},
  {"epoch": 2, "train_loss": 0.75, "train_accuracy": 70.0, "test_accuracy": 72.5, "lr": 0.0, "seconds": 3.0,
   "dspike": {"b": 3.5, "candidates": [3.0, 3.5, 4.0], "cosine": [0.5, 0.75, null], "fdg_seconds": 1.5}}])");

const json k_train = json::parse(R"({"epochs": 2, "batch_size": 64, "optimizer": "sgd", "lr": 0.05, "lr_min": 0.0,
  "weight_decay": 0.0005, "momentum": 0.9, "nesterov": true, "schedule": "cosine", "label_smoothing": 0.1,
  "dropout": 0.25, "seed": 7, "augment": "crop+flip", "threads": 2, "eval_batch_size": 200})");

} // namespace

TEST(model_meta, old_train_ann_qcfs_model_loads_typed_and_resaves_the_same) {
    json train = k_train;
    train["clip"] = 0.0;
    train["act"] = "qcfs";
    train["qcfs"] = json::parse(R"({"levels": 4, "layers": 3, "lambda_init": "p99.9 of the layer's ReLU output",
        "lambda_samples": 256, "lambda_initial": {"conv1.relu": 2.5, "fc1.relu": 1.25}, "lambda_weight_decay": 0.0005,
        "init": "/models/ann"})");
    const json old = {{"kind", "ann"},
                      {"dataset", "cifar10"},
                      {"classes", {"airplane", "automobile"}},
                      {"preprocess", {{"mean", {0.5, 0.25, 0.125}}, {"std", {0.25, 0.5, 1.0}}}},
                      {"train", train},
                      {"metrics", {{"test_accuracy", 72.5}, {"train_seconds", 6.5}, {"epochs", 2}}},
                      {"stats_samples", 1024},
                      {"history", k_history}};
    const model_meta m = load_and_resave("ann", old);
    EXPECT_EQ(m.kind, "ann");
    EXPECT_EQ(m.dataset, "cifar10");
    EXPECT_EQ(m.classes, (std::vector<std::string>{"airplane", "automobile"}));
    EXPECT_EQ(m.mean, (std::vector<float>{0.5f, 0.25f, 0.125f}));
    EXPECT_EQ(m.std, (std::vector<float>{0.25f, 0.5f, 1.0f}));
    EXPECT_EQ(m.stats_samples, 1024);
    ASSERT_TRUE(m.train.has_value());
    EXPECT_EQ(m.train->batch_size, 64);
    EXPECT_EQ(m.train->optimizer, "sgd");
    EXPECT_DOUBLE_EQ(m.train->weight_decay, 0.0005);
    EXPECT_TRUE(m.train->nesterov);
    EXPECT_EQ(m.train->seed, 7u);
    EXPECT_EQ(m.train->act, "qcfs");
    ASSERT_TRUE(m.train->clip.has_value());
    ASSERT_TRUE(m.train->qcfs.has_value());
    EXPECT_EQ(m.train->qcfs->levels, 4);
    EXPECT_DOUBLE_EQ(m.train->qcfs->lambda_initial.at("fc1.relu"), 1.25);
    EXPECT_EQ(m.train->qcfs->init, "/models/ann");
    ASSERT_TRUE(m.metrics.has_value());
    EXPECT_DOUBLE_EQ(m.metrics->test_accuracy, 72.5);
    EXPECT_EQ(m.metrics->epochs, 2);
    ASSERT_EQ(m.history.size(), 2u);
    EXPECT_EQ(m.history[1].epoch, 2);
    EXPECT_DOUBLE_EQ(m.history[0].test_accuracy, 60.25);
    EXPECT_EQ(m.history[0].note, "");                          // the trainer's keys only
    EXPECT_EQ(json::parse(m.history[1].note), json({{"dspike", k_history[1]["dspike"]}})); // the hook's note
    EXPECT_EQ(json::parse(history_to_json(m.history)), k_history);
    EXPECT_EQ(json::parse(history_to_json(history_from_json(k_history.dump(), "h"))), k_history);
    EXPECT_EQ(model_time_steps(m, 32), 32); // an ANN: the caller's default
}

TEST(model_meta, old_train_snn_model_loads_typed_and_resaves_the_same) {
    const json neuron = json::parse(R"({"neuron": "lif", "alpha": 0.5, "learn_alpha": false, "learned_alpha": null,
        "v_th": 1.0, "reset": "hard", "detach_reset": true, "surrogate": "dspike", "surrogate_param": 3.0,
        "dspike_adapt": true, "dspike_adapt_settings": {"b0": 3.0, "db": 0.5, "eps": 0.01, "fdg_coords": 0,
        "fdg_bn": "frozen"}, "final_surrogate_param": 3.5})");
    const json old = {{"kind", "snn"},
                      {"source", "train-snn"},
                      {"dataset", "fmnist"},
                      {"classes", {"a", "b"}},
                      {"T", 4},
                      {"preprocess", {{"mean", {0.5}}, {"std", {0.25}}}},
                      {"neuron", neuron},
                      {"train", k_train},
                      {"dropout_mask", "shared"},
                      {"init", ""},
                      {"metrics", {{"test_accuracy", 80.0}, {"train_seconds", 12.0}, {"epochs", 2}}},
                      {"history", k_history}};
    const model_meta m = load_and_resave("snn", old);
    EXPECT_EQ(m.kind, "snn");
    EXPECT_EQ(m.source, "train-snn");
    EXPECT_EQ(m.T, 4);
    EXPECT_EQ(model_time_steps(m, 32), 4);
    EXPECT_EQ(m.dropout_mask, "shared");
    ASSERT_TRUE(m.init.has_value()); // recorded as none: kept apart from not recorded
    EXPECT_EQ(*m.init, "");
    ASSERT_TRUE(m.neuron.has_value());
    EXPECT_EQ(m.neuron->surrogate, "dspike");
    EXPECT_TRUE(m.neuron->detach_reset);
    EXPECT_FALSE(m.neuron->learned_alpha.has_value()); // null
    ASSERT_TRUE(m.neuron->dspike_adapt_settings.has_value());
    EXPECT_DOUBLE_EQ(m.neuron->dspike_adapt_settings->db, 0.5);
    EXPECT_DOUBLE_EQ(m.neuron->final_surrogate_param, 3.5);
    EXPECT_FALSE(m.train->clip.has_value()); // train-snn records no clip / act
    EXPECT_EQ(m.train->act, "");
}

TEST(model_meta, old_converted_and_onnx_models_load_typed_and_resave_the_same) {
    json conversion = json::parse(R"({"T": 8, "threshold": "max", "channel_wise": true, "bias_shift": false,
        "half_init": true, "calib": "light", "threshold_search": true, "bias_correction": true,
        "potential_correction": false, "weight_calibration": false, "calib_samples": 1024, "memory_budget_mib": 4096,
        "calib_chunk_images": 256, "wc_images": 0, "wc_iters": 300, "wc_lr": 0.0001,
        "qcfs": {"levels": -1, "layers": 3, "lambda": "keep", "v_th": "lambda", "v0": "V_th/2", "reset": "soft"}})");
    conversion["source_train"] = k_train;
    const json old = {{"kind", "snn-converted"},
                      {"dataset", "fmnist"},
                      {"classes", {"x"}},
                      {"preprocess", {{"mean", {0.5}}, {"std", {0.25}}}},
                      {"source_model", "/models/ann"},
                      {"source_metrics", {{"test_accuracy", 90.5}, {"train_seconds", 1.5}, {"epochs", 1}}},
                      {"conversion", conversion},
                      {"calibration",
                       {{{"layer", "conv1.relu"}, {"v_th_before", 2.0}, {"v_th_after", 1.5}, {"mse_before", 0.25},
                         {"mse_after", 0.125}}}},
                      {"calibration_seconds", 4.25}};
    const model_meta m = load_and_resave("converted", old);
    ASSERT_TRUE(m.conversion.has_value());
    EXPECT_EQ(model_time_steps(m, 32), 8); // from the conversion
    EXPECT_TRUE(m.conversion->channel_wise);
    EXPECT_EQ(m.conversion->calib, "light");
    EXPECT_DOUBLE_EQ(m.conversion->wc_lr, 0.0001);
    ASSERT_TRUE(m.conversion->qcfs.has_value());
    EXPECT_EQ(m.conversion->qcfs->levels, -1);
    ASSERT_TRUE(m.conversion->source_train.has_value());
    EXPECT_EQ(m.conversion->source_train->epochs, 2);
    ASSERT_TRUE(m.calibration.has_value());
    ASSERT_EQ(m.calibration->size(), 1u);
    EXPECT_EQ((*m.calibration)[0].layer, "conv1.relu");
    EXPECT_DOUBLE_EQ((*m.calibration)[0].mse_after, 0.125);
    EXPECT_EQ(m.source_model, "/models/ann");
    EXPECT_DOUBLE_EQ(m.source_metrics->test_accuracy, 90.5);
    EXPECT_DOUBLE_EQ(*m.calibration_seconds, 4.25);

    const json onnx = {{"kind", "ann"},
                       {"source", "onnx"},
                       {"onnx_file", "/models/net.onnx"},
                       {"dataset", "fmnist"},
                       {"preprocess", {{"mean", {0.5}}, {"std", {0.25}}}},
                       {"stats_samples", 512}};
    const model_meta o = load_and_resave("onnx", onnx);
    EXPECT_EQ(o.onnx_file, "/models/net.onnx");
    EXPECT_EQ(o.stats_samples, 512);
    EXPECT_FALSE(o.train.has_value());
}

// Keys this version does not know, at the top and inside a section, are kept and written back.
TEST(model_meta, unknown_keys_round_trip) {
    json train = k_train;
    train["future_knob"] = {{"a", 1}};
    const json old = {{"kind", "ann"}, {"made_by", "snnkit 0.9"}, {"train", train}, {"tags", {"x", "y"}}};
    const model_meta m = load_and_resave("unknown", old);
    EXPECT_EQ(json::parse(m.extra), json({{"made_by", "snnkit 0.9"}, {"tags", {"x", "y"}}}));
    EXPECT_EQ(json::parse(m.train->extra), json({{"future_knob", {{"a", 1}}}}));
}

// What older files held that now reads as "not recorded": an empty class list and an empty preprocess (convert
// copied them from models without one), an empty meta, a model.json without "meta".
TEST(model_meta, empty_old_sections_read_as_not_recorded) {
    model_meta m;
    load_model(old_model("empty_sections", {{"kind", "snn-converted"}, {"classes", json::array()},
                                             {"preprocess", json::object()}}),
               &m);
    EXPECT_EQ(m.kind, "snn-converted");
    EXPECT_TRUE(m.classes.empty());
    EXPECT_TRUE(m.mean.empty() && m.std.empty());
    EXPECT_EQ(model_meta_to_json(m), R"({"kind":"snn-converted"})");
    EXPECT_EQ(model_meta_to_json(model_meta_from_json("", "x")), "{}");
}

// A known key of the wrong type: one error naming the file and the key, not a default read silently.
TEST(model_meta, known_key_of_wrong_type_is_named) {
    const auto error_of = [](const json & meta) {
        try {
            model_meta m;
            load_model(old_model("wrong_type", meta), &m);
            return std::string("no error");
        } catch (const snnkit::error & e) {
            return std::string(e.what());
        }
    };
    std::string e = error_of({{"T", "eight"}});
    EXPECT_NE(e.find("wrong_type/model.json: meta 'T' must be an integer, got \"eight\""), std::string::npos) << e;
    e = error_of({{"T", 4.5}});
    EXPECT_NE(e.find("meta 'T' must be an integer, got 4.5"), std::string::npos) << e;
    e = error_of({{"classes", {"a", 3}}});
    EXPECT_NE(e.find("meta 'classes[1]' must be a string, got 3"), std::string::npos) << e;
    e = error_of({{"train", {{"seed", -1}}}});
    EXPECT_NE(e.find("meta 'train.seed' must be a non-negative integer, got -1"), std::string::npos) << e;
    e = error_of({{"history", {{{"epoch", 1}, {"lr", "high"}}}}});
    EXPECT_NE(e.find("meta 'history[0].lr' must be a number, got \"high\""), std::string::npos) << e;
    e = error_of({{"preprocess", {{"mean", {0.5, 0.5}}, {"std", {1.0}}}}});
    EXPECT_NE(e.find("meta 'preprocess' has 2 means and 1 stds"), std::string::npos) << e;
    e = error_of(json::array({1}));
    EXPECT_NE(e.find("must be a JSON object"), std::string::npos) << e;
}
