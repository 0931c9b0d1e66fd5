// snnkit/train/dspike_hook.cpp
#include "snnkit/train/dspike_hook.h"

#include "snnkit/core/error.h"
#include "snnkit/train/snn_model.h"
#include "snnkit/train/train_job_internal.h"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace snnkit {

dspike_epoch_hook::dspike_epoch_hook(graph & g, int64_t T, double b0, const dspike_adapt_options & opt, bool progress)
    : g_(g), T_(T), b_(b0), opt_(opt), progress_(progress) {}

std::string dspike_epoch_hook::on_epoch(int epoch, const at::Tensor & x, const at::Tensor & y) {
    const dspike_epoch_report r = dspike_adapt(g_, T_, x, y, b_, opt_, epoch);
    b_ = r.b;
    seconds_ += r.fdg_seconds + r.bptt_seconds;
    if (progress_) {
        std::fprintf(stderr,
                     "dspike epoch %d: cosine %.4f / %.4f / %.4f at b = %.3f / %.3f / %.3f -> b = %.3f "
                     "(FDG over %lld weights %.1f s, BPTT %.1f s)\n",
                     epoch + 1, r.cosine[0], r.cosine[1], r.cosine[2], r.candidates[0], r.candidates[1],
                     r.candidates[2], r.b, static_cast<long long>(r.coords), r.fdg_seconds, r.bptt_seconds);
    }
    return "{\"dspike\":" + r.to_json() + "}";
}

std::string dspike_epoch_hook::settings_text() const {
    return "db " + nlohmann::json(opt_.db).dump() + ", eps " + nlohmann::json(opt_.eps).dump() + ", fdg coords " +
           std::to_string(opt_.coords) + (opt_.bn_batch_stats ? ", fdg bn batch" : ""); // as before --fdg-bn
}

std::string dspike_epoch_hook::state_json() const {
    return nlohmann::json({{"dspike_b", b_}, {"adapt_seconds", seconds_}, {"dspike_adapt", settings_text()}}).dump();
}

void dspike_epoch_hook::restore(const std::string & state, const std::string & ckpt) {
    const nlohmann::json j = nlohmann::json::parse(state, nullptr, false);
    if (!j.is_object() || !j.contains("dspike_b") || !j["dspike_b"].is_number()) {
        fail(ckpt, "the checkpoint holds no Dspike temperature (made without --dspike-adapt?)");
    }
    check_saved_setting(ckpt, "Dspike adaptation settings", j.value("dspike_adapt", std::string()), // absent in older checkpoints
                        settings_text(), "resume with the same --db/--eps/--fdg-coords/--fdg-bn");
    b_ = j["dspike_b"].get<double>();
    seconds_ = j.value("adapt_seconds", 0.0); // the runs before this resume (absent in old checkpoints)
    set_surrogate_param(g_, b_);
}

void add_dspike_hook(train_hooks & hooks, dspike_epoch_hook & hook) {
    hooks.on_epoch = [&hook](int epoch, const at::Tensor & x, const at::Tensor & y) { return hook.on_epoch(epoch, x, y); };
}

} // namespace snnkit
