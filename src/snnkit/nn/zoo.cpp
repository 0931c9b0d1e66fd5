// snnkit/nn/zoo.cpp: the model zoo, written with graph_builder.
#include "snnkit/nn/zoo.h"

#include "snnkit/core/error.h"

namespace snnkit {

namespace {

// The activation: ReLU, clipped ReLU when opt.clip > 0, or QCFS (the node keeps the ".relu" name).
int act(graph_builder & b, const zoo_options & opt, const std::string & name, int from = -1) {
    if (opt.act == "qcfs") {
        return b.qcfs(name, opt.levels, opt.lambda, from);
    }
    return opt.clip > 0 ? b.clip_relu(name, opt.clip, from) : b.relu(name, from);
}

// conv -> BN -> activation
int conv_bn_act(graph_builder & b, const zoo_options & opt, const std::string & name, int64_t in, int64_t out,
                int64_t k, int64_t stride, int64_t pad, bool bias, int from = -1) {
    b.conv2d(name, in, out, k, stride, pad, bias, 1, from);
    b.batch_norm(name + ".bn", out);
    return act(b, opt, name + ".relu");
}

// He et al.'s basic block: conv-BN-act, conv-BN, + shortcut (1x1 conv + BN projection when the shape
// changes), act. Returns the block's output node.
int basic_block(graph_builder & b, const zoo_options & opt, const std::string & p, int64_t in, int64_t planes,
                int64_t stride, int x) {
    int shortcut = x;
    conv_bn_act(b, opt, p + ".conv1", in, planes, 3, stride, 1, false, x);
    b.conv2d(p + ".conv2", planes, planes, 3, 1, 1, false);
    const int main = b.batch_norm(p + ".conv2.bn", planes);
    if (stride != 1 || in != planes) {
        b.conv2d(p + ".downsample", in, planes, 1, stride, 0, false, 1, x);
        shortcut = b.batch_norm(p + ".downsample.bn", planes);
    }
    b.add(p + ".add", {main, shortcut});
    return act(b, opt, p + ".relu");
}

int64_t spatial_after(int64_t s, int pools) {
    for (int i = 0; i < pools; ++i) {
        s /= 2;
    }
    return s;
}

graph build_cnn(const zoo_options & opt) {
    graph_builder b(opt.input_shape, opt.num_classes, opt.seed);
    const int64_t c = opt.input_shape[0];
    conv_bn_act(b, opt, "conv1", c, 16, 3, 1, 1, false);
    b.avg_pool("pool1", 2, 2);
    conv_bn_act(b, opt, "conv2", 16, 64, 3, 1, 1, false);
    b.avg_pool("pool2", 2, 2);
    b.flatten("flatten");
    const int64_t h = spatial_after(opt.input_shape[1], 2), w = spatial_after(opt.input_shape[2], 2);
    b.linear("fc1", 64 * h * w, 256);
    act(b, opt, "fc1.relu");
    b.dropout("drop", opt.dropout < 0 ? 0.3 : opt.dropout);
    b.linear("fc2", 256, opt.num_classes);
    return b.finish("cnn");
}

// The smallest net: flatten, fc128, ReLU, fc; no BatchNorm and no dropout, so that data-parallel training
// equals one process's exactly (the equivalence tests of snnkit/dist).
graph build_mlp(const zoo_options & opt) {
    graph_builder b(opt.input_shape, opt.num_classes, opt.seed);
    b.flatten("flatten");
    b.linear("fc1", opt.input_shape[0] * opt.input_shape[1] * opt.input_shape[2], 128);
    act(b, opt, "fc1.relu");
    b.linear("fc2", 128, opt.num_classes);
    return b.finish("mlp");
}

// After Fang et al.'s (PLIF, ICCV 2021) Fashion-MNIST network: two 128-channel conv blocks with pooling,
// then two fully connected layers. PLIF-like, not a copy: average pooling (PLIF: max), linear layers with
// bias (PLIF: none), and an analog fc to the classes read out as the mean over T (PLIF: a spiking FC100
// and a voting average over groups of 10); Kaiming initialisation.
graph build_cnn_plif(const zoo_options & opt) {
    graph_builder b(opt.input_shape, opt.num_classes, opt.seed);
    const int64_t c = opt.input_shape[0];
    conv_bn_act(b, opt, "conv1", c, 128, 3, 1, 1, false);
    b.avg_pool("pool1", 2, 2);
    conv_bn_act(b, opt, "conv2", 128, 128, 3, 1, 1, false);
    b.avg_pool("pool2", 2, 2);
    b.flatten("flatten");
    const int64_t h = spatial_after(opt.input_shape[1], 2), w = spatial_after(opt.input_shape[2], 2);
    b.dropout("drop1", opt.dropout < 0 ? 0.5 : opt.dropout);
    b.linear("fc1", 128 * h * w, 128 * 4 * 4);
    act(b, opt, "fc1.relu");
    b.dropout("drop2", opt.dropout < 0 ? 0.5 : opt.dropout);
    b.linear("fc2", 128 * 4 * 4, opt.num_classes);
    return b.finish("cnn-plif");
}

graph build_vgg16(const zoo_options & opt) {
    graph_builder b(opt.input_shape, opt.num_classes, opt.seed);
    const int cfg[] = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
    int64_t in = opt.input_shape[0];
    int conv = 0, pool = 0;
    for (int v : cfg) {
        if (v == 0) {
            b.avg_pool("pool" + std::to_string(++pool), 2, 2);
        } else {
            conv_bn_act(b, opt, "conv" + std::to_string(++conv), in, v, 3, 1, 1, true);
            in = v;
        }
    }
    const int64_t h = spatial_after(opt.input_shape[1], 5), w = spatial_after(opt.input_shape[2], 5);
    b.flatten("flatten");
    if (opt.dropout > 0) {
        b.dropout("drop", opt.dropout);
    }
    b.linear("fc", 512 * h * w, opt.num_classes);
    return b.finish("vgg16");
}

// ResNet body and head after the stem: stages of basic blocks (widths width, 2 width, ...; the first block
// of every stage but the first has stride 2), global average pool, flatten, linear classifier.
graph resnet_body(graph_builder & b, const zoo_options & opt, const std::string & arch, int x, int64_t width,
                  const std::vector<int> & blocks) {
    int64_t in = width;
    for (size_t stage = 0; stage < blocks.size(); ++stage) {
        const int64_t planes = width << stage;
        for (int blk = 0; blk < blocks[stage]; ++blk) {
            const std::string p = "layer" + std::to_string(stage + 1) + "." + std::to_string(blk);
            const int64_t stride = (stage > 0 && blk == 0) ? 2 : 1;
            x = basic_block(b, opt, p, in, planes, stride, x);
            in = planes;
        }
    }
    b.global_avg_pool("avgpool");
    b.flatten("flatten");
    b.linear("fc", in, opt.num_classes);
    return b.finish(arch);
}

// CIFAR ResNet: 3x3 stem, three stages, 1x1 conv + BN projection shortcuts where the shape changes.
graph build_cifar_resnet(const zoo_options & opt, const std::string & arch, int64_t width, int blocks) {
    graph_builder b(opt.input_shape, opt.num_classes, opt.seed);
    const int x = conv_bn_act(b, opt, "conv1", opt.input_shape[0], width, 3, 1, 1, false);
    return resnet_body(b, opt, arch, x, width, {blocks, blocks, blocks});
}

// ImageNet ResNet (torchvision layout): 7x7 stride-2 stem, 3x3 max-pool, four stages.
graph build_imagenet_resnet(const zoo_options & opt, const std::string & arch, const std::vector<int> & blocks) {
    graph_builder b(opt.input_shape, opt.num_classes, opt.seed);
    conv_bn_act(b, opt, "conv1", opt.input_shape[0], 64, 7, 2, 3, false);
    const int x = b.max_pool("maxpool", 3, 2, 1);
    return resnet_body(b, opt, arch, x, 64, blocks);
}

} // namespace

std::vector<std::string> zoo_names() {
    return {"cnn", "cnn-plif", "vgg16", "resnet20", "resnet20-he", "resnet18", "resnet34", "mlp"};
}

graph zoo_build(const zoo_options & opt) {
    if (opt.input_shape.size() != 3) {
        fail("--arch " + opt.arch, "input shape must be [C, H, W]");
    }
    if (opt.num_classes < 1) {
        fail("--arch " + opt.arch, "number of classes must be positive");
    }
    if (opt.act != "relu" && opt.act != "qcfs") {
        fail("--act " + opt.act, "unknown activation (known: relu, qcfs)");
    }
    if (opt.act == "qcfs" && opt.clip > 0) {
        fail("--act qcfs --clip", "QCFS clips at its own trainable lambda; leave out --clip");
    }
    if (opt.act == "qcfs" && (opt.levels < 1 || !(opt.lambda > 0))) {
        fail("--act qcfs", "needs levels >= 1 and lambda > 0");
    }
    if (opt.arch == "cnn") {
        return build_cnn(opt);
    }
    if (opt.arch == "mlp") {
        return build_mlp(opt);
    }
    if (opt.arch == "cnn-plif") {
        return build_cnn_plif(opt);
    }
    if (opt.arch == "vgg16") {
        return build_vgg16(opt);
    }
    if (opt.arch == "resnet20") {
        return build_cifar_resnet(opt, "resnet20", 64, 3);
    }
    if (opt.arch == "resnet20-he") {
        return build_cifar_resnet(opt, "resnet20-he", 16, 3);
    }
    if (opt.arch == "resnet18") {
        return build_imagenet_resnet(opt, "resnet18", {2, 2, 2, 2});
    }
    if (opt.arch == "resnet34") {
        return build_imagenet_resnet(opt, "resnet34", {3, 4, 6, 3});
    }
    std::string names;
    for (const auto & n : zoo_names()) {
        names += (names.empty() ? "" : ", ") + n;
    }
    fail("--arch " + opt.arch, "unknown architecture (known: " + names + ")");
}

} // namespace snnkit
