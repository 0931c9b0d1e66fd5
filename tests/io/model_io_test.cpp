// Model directories: round trip (identical outputs), and each kind of damaged model file.
#include "snnkit/core/error.h"
#include "snnkit/io/atomic_file.h"
#include "snnkit/io/model_io.h"
#include "snnkit/io/safetensors.h"
#include "snnkit/nn/act_stats.h"
#include "snnkit/nn/forward.h"
#include "snnkit/nn/zoo.h"
#include "snnkit/train/snn_model.h"

#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <filesystem>

using namespace snnkit;

namespace {

std::string tmp_dir(const std::string & name) {
    const std::string d = std::string(SNNKIT_BINARY_DIR) + "/tmp_model_io/" + name;
    std::filesystem::remove_all(d);
    make_dirs(d);
    return d;
}

void expect_load_error(const std::string & dir, const std::string & needle) {
    try {
        load_model(dir);
        FAIL() << "no error, expected: " << needle;
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
}

} // namespace

TEST(model_io, round_trip_gives_identical_outputs_and_metadata) {
    zoo_options o;
    o.arch = "resnet20-he";
    o.input_shape = {3, 16, 16};
    graph g = zoo_build(o);
    at::manual_seed(3);
    record_activation_stats(g, at::randn({16, 3, 16, 16}));
    const std::string d = tmp_dir("rt");
    model_meta m;
    m.kind = "ann";
    m.extra = R"({"note":"x"})";
    save_model(d, g, m);
    model_meta meta;
    const graph h = load_model(d, &meta);
    EXPECT_EQ(meta.kind, "ann");
    EXPECT_EQ(meta.extra, R"({"note":"x"})");
    EXPECT_EQ(h.nodes.size(), g.nodes.size());
    EXPECT_EQ(h.arch, "resnet20-he");
    const at::Tensor x = at::randn({2, 3, 16, 16});
    at::NoGradGuard ng;
    EXPECT_TRUE(at::equal(ann_forward(g, x), ann_forward(h, x)));
    const int r = h.find("conv1.relu");
    EXPECT_TRUE(at::equal(h.nodes[r].buffers.at("act_channel_max"), g.nodes[r].buffers.at("act_channel_max")));
    // unknown keys are a JSON object (readers look keys up in it): other JSON is refused, the saved model kept
    try {
        m.extra = "[1, 2]";
        save_model(d, g, m);
        FAIL() << "saved array metadata";
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find("'extra' (and an epoch's note) must be a JSON object, got: [1, 2]"),
                  std::string::npos)
            << e.what();
    }
    model_meta kept;
    load_model(d, &kept);
    EXPECT_EQ(model_meta_to_json(kept), model_meta_to_json(meta));
}

TEST(model_io, damaged_models_give_clear_errors) {
    zoo_options o;
    graph g = zoo_build(o);
    const std::string d = tmp_dir("bad");
    save_model(d, g);
    const std::string json = read_file(d + "/model.json");
    const std::string weights = read_file(d + "/model.safetensors");

    expect_load_error(tmp_dir("empty"), "no such file");

    write_file_atomic(d + "/model.json", json.substr(0, json.size() / 2));
    expect_load_error(d, "not valid JSON");

    std::string unknown = json;
    unknown.replace(unknown.find("\"conv2d\""), 8, "\"conv9d\"");
    write_file_atomic(d + "/model.json", unknown);
    expect_load_error(d, "unknown op 'conv9d'");

    write_file_atomic(d + "/model.json", json);
    write_file_atomic(d + "/model.safetensors", weights.substr(0, weights.size() - 100));
    expect_load_error(d, "model.safetensors");

    // Weights of another save beside this model.json (a save interrupted between its two writes).
    graph other = g.clone();
    other.nodes[1].params["weight"] = other.nodes[1].params["weight"] + 1.0;
    const std::string d2 = tmp_dir("bad_other");
    save_model(d2, other);
    write_file_atomic(d + "/model.safetensors", read_file(d2 + "/model.safetensors"));
    expect_load_error(d, "model.json and model.safetensors come from different saves");
    write_file_atomic(d + "/model.safetensors", weights);
    EXPECT_NO_THROW(load_model(d));
    // The cases below pair model.json with hand-written weights: a description without a save id (as
    // models saved before ids had) is not checked against them.
    std::string no_id = json;
    const size_t id_at = no_id.find("\"save_id\"");
    ASSERT_NE(id_at, std::string::npos);
    no_id.erase(id_at, no_id.find('\n', id_at) + 1 - id_at);
    write_file_atomic(d + "/model.json", no_id);
    EXPECT_NO_THROW(load_model(d));

    // A tensor with the wrong shape: the error names the layer.
    graph bad = g.clone();
    bad.nodes[1].params["weight"] = at::zeros({32, 1, 5, 5});
    safetensors_save(d + "/model.safetensors", bad.named_tensors());
    expect_load_error(d, "conv1");

    // A tensor of another dtype (here float64): named with the layer before any kernel sees it.
    graph f64 = g.clone();
    f64.nodes[1].params["weight"] = f64.nodes[1].params["weight"].to(at::kDouble);
    safetensors_save(d + "/model.safetensors", f64.named_tensors());
    expect_load_error(d, "layer 'conv1': tensor 'weight' is F64; snnkit models hold F32");

    // A missing tensor.
    named_tensors t = g.named_tensors();
    t.erase(t.begin());
    safetensors_save(d + "/model.safetensors", t);
    expect_load_error(d, "missing");

    // NaN weights are refused on load.
    graph nan = g.clone();
    nan.nodes[1].params["weight"][0][0][0][0] = NAN;
    safetensors_save(d + "/model.safetensors", nan.named_tensors());
    expect_load_error(d, "NaN");
    // ... and never saved: the model already there stays.
    const std::string keep = tmp_dir("keep");
    save_model(keep, g);
    const std::string before = read_file(keep + "/model.safetensors");
    try {
        save_model(keep, nan);
        ADD_FAILURE() << "saved NaN weights";
    } catch (const snnkit::error & e) {
        EXPECT_NE(std::string(e.what()).find("tensor 'conv1.weight' holds NaN or Inf"), std::string::npos) << e.what();
    }
    EXPECT_EQ(read_file(keep + "/model.safetensors"), before);
    EXPECT_NO_THROW(load_model(keep));

    // Header fields of the wrong JSON type (fuzz_model: a "format" that was an object escaped as
    // nlohmann's type_error): one snnkit::error each.
    write_file_atomic(d + "/model.safetensors", weights);
    std::string fmt = json;
    fmt.replace(fmt.find("\"format\": \"snnkit"), 9, "\"format\": {}, \"x\":");
    write_file_atomic(d + "/model.json", fmt);
    expect_load_error(d, "not an snnkit model");
    std::string ver = json;
    const size_t v = ver.find("\"version\": ") + 11;
    ver.replace(v, ver.find_first_of(",\n}", v) - v, "\"one\"");
    write_file_atomic(d + "/model.json", ver);
    expect_load_error(d, "unsupported model format version \"one\"");

    // An integer field holding a float out of int range (fuzz_model: UBSan, float-to-int conversion in
    // nlohmann's get<int>): refused before the conversion.
    std::string flt = json;
    const size_t in = flt.find("\"inputs\": [") + 11;
    flt.replace(in, flt.find(']', in) - in, "4.7e11");
    write_file_atomic(d + "/model.json", flt);
    expect_load_error(d, "'inputs' must be an integer, got 470000000000.0");
}

// A float in a string or bool neuron attribute is a type error, not an "integer" one: the integer check is
// for integer attributes only.
TEST(model_io, float_in_string_or_bool_attribute_says_wrong_type) {
    const graph snn = snn_from_ann(zoo_build(zoo_options{}), snn_model_options{});
    const std::string d = tmp_dir("attr_type");
    save_model(d, snn);
    const std::string json = read_file(d + "/model.json");
    const auto replace_value = [&](const std::string & key, const std::string & value) {
        std::string s = json;
        const size_t k = s.find("\"" + key + "\": ");
        EXPECT_NE(k, std::string::npos) << key;
        const size_t v = k + key.size() + 4;
        s.replace(v, s.find_first_of(",\n}", v) - v, value);
        return s;
    };
    write_file_atomic(d + "/model.json", replace_value("reset", "1.5"));
    expect_load_error(d, "attribute 'reset' has the wrong type");
    write_file_atomic(d + "/model.json", replace_value("detach_reset", "0.5"));
    expect_load_error(d, "attribute 'detach_reset' has the wrong type");
    // Integer attributes keep the float refusal.
    write_file_atomic(d + "/model.json", replace_value("groups", "2.5"));
    expect_load_error(d, "attribute 'groups' must be an integer, got 2.5");
    // Surrogate shape values out of range.
    write_file_atomic(d + "/model.json", replace_value("surrogate_width", "0.0"));
    expect_load_error(d, "surrogate_width must be finite and > 0");
    write_file_atomic(d + "/model.json", replace_value("surrogate_param", "-2.0"));
    expect_load_error(d, "surrogate_param must be finite and >= 0");
}
