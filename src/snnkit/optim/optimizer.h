// snnkit/optim/optimizer.h: SGD (momentum, Nesterov), Adam and AdamW with weight decay, the cosine
// schedule, and an explicit state that checkpoints save and restore.
#pragma once

#include "snnkit/io/safetensors.h"

#include <ATen/ATen.h>

#include <string>

namespace snnkit {

struct optimizer_options {
    /// "sgd" | "adam" | "adamw"
    std::string kind = "sgd";
    /// peak learning rate
    double lr = 0.1;
    /// SGD momentum
    double momentum = 0.9;
    /// SGD: Nesterov momentum
    bool nesterov = false;
    /// L2 weight decay (decoupled for adamw)
    double weight_decay = 5e-4;
    /// Adam: first and second moment decay rates
    double beta1 = 0.9;
    double beta2 = 0.999;
    /// Adam: denominator epsilon
    double eps = 1e-8;
};

class optimizer {
public:
    // params: the tensors to optimise (they must require grad), named for the saved state.
    optimizer(named_tensors params, optimizer_options opt);

    void zero_grad();
    // One update with learning rate lr (parameters without a gradient are skipped).
    void step(double lr);

    // The moment buffers and step count, for checkpoints ("<kind>.<param>.<buffer>" names).
    named_tensors state() const;
    // Restores state(); throws snnkit::error if names or shapes do not match.
    void load_state(const named_tensors & s);

    int64_t steps() const { return steps_; }
    const optimizer_options & options() const { return opt_; }

private:
    named_tensors params_;
    optimizer_options opt_;
    std::vector<at::Tensor> m1_; // SGD momentum buffer / Adam first moment
    std::vector<at::Tensor> m2_; // Adam second moment
    int64_t steps_ = 0;
};

// Cosine annealing from lr to lr_min over total steps (step in [0, total]).
double cosine_lr(double lr, double lr_min, int64_t step, int64_t total);

} // namespace snnkit
