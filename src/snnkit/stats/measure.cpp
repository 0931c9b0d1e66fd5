// snnkit/stats/measure.cpp
#include "snnkit/stats/measure.h"

#include "snnkit/core/error.h"
#include "snnkit/data/dataset_by_name.h"
#include "snnkit/nn/snn_batch.h"
#include "snnkit/nn/spike_conv_bf16.h"
#include "snnkit/nn/spike_gather.h"
#include "snnkit/core/progress.h"

#include <ATen/core/grad_mode.h>

namespace snnkit {

int64_t snn_run_batch(const graph & g, const dataset & data, const augment_options & pre, int64_t T,
                      int64_t requested, int64_t cap, int64_t memory_budget) {
    if (requested < 0) {
        fail("snn run", "batch size must be >= 0 (0 = auto), got " + std::to_string(requested));
    }
    if (requested > 0) {
        return requested;
    }
    if (data.images.size(0) == 0) {
        return cap;
    }
    const at::Tensor first = make_batch(data.images, at::arange(0, 1, at::kLong), pre, 0);
    return snn_batch_for_memory(g, first, T, cap, snn_tensor_bytes(memory_budget));
}

at::Tensor run_snn_on_dataset(const graph & g, const dataset & data, const augment_options & pre,
                              const snn_run_options & opt) {
    at::NoGradGuard ng;
    const int64_t n = data.images.size(0);
    const int64_t batch = snn_run_batch(g, data, pre, opt.T, opt.batch, 200, opt.memory_budget);
    at::Tensor correct = at::zeros({opt.T}, at::kLong);
    snn_options so;
    so.T = opt.T;
    so.encoding = opt.encoding;
    so.input_mean = pre.mean; // Poisson spikes are drawn from the raw intensities, then normalised
    so.input_std = pre.std;
    so.observer = opt.observer;
    so.observe_in_groups = true; // the observers of eval and stats sum over batches
    so.chunk = opt.chunk;
    so.sparse = opt.sparse;
    so.spike_bf16 = opt.spike_bf16;
    so.spike_bf16_parts = opt.spike_bf16_parts;
    so.spike_int8 = opt.spike_int8;
    spike_conv_bf16_cache prepared; // the AMX layers' weights, prepared once for all batches
    so.spike_bf16_cache = &prepared;
    spike_gather_cache rows; // the gathered layers' weight rows, made once for all batches
    so.gather_cache = &rows;
    progress_bar bar("eval T=" + std::to_string(opt.T), n, opt.progress);
    for (int64_t s = 0; s < n; s += batch) {
        const int64_t e = std::min(n, s + batch);
        const at::Tensor x = make_batch(data.images, at::arange(s, e, at::kLong), pre, 0);
        so.seed = static_cast<uint64_t>(s);
        const snn_output out = snn_forward(g, x, so);
        correct += correct_per_step(out.out, data.labels.slice(0, s, e));
        bar.update(e);
    }
    bar.finish();
    return correct;
}

void set_input_encoding(stats_options & so, const std::string & encoding, const augment_options & pre) {
    so.input_events = encoding == "poisson";
    so.input_mean = so.input_events ? pre.mean : std::vector<float>();
    so.input_std = so.input_events ? pre.std : std::vector<float>();
}

dataset load_test_set(const std::string & name, const std::string & dir, int64_t limit) {
    dataset_spec spec;
    spec.name = name;
    spec.dir = dir;
    dataset test = load_dataset(spec, split::test);
    if (limit > 0 && limit < test.images.size(0)) {
        test.images = test.images.slice(0, 0, limit);
        test.labels = test.labels.slice(0, 0, limit);
    }
    return test;
}

} // namespace snnkit
