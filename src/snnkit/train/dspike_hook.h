// snnkit/train/dspike_hook.h: Dspike's temperature adaptation (dspike_adapt.h) as a training hook: the
// state it carries from epoch to epoch (the current temperature b, the seconds spent adapting), the epoch note
// it adds to the log, and what a checkpoint keeps of it so that a resumed training continues bit for bit.
#pragma once

#include "snnkit/train/dspike_adapt.h"
#include "snnkit/train/trainer.h"

#include <string>

namespace snnkit {

class dspike_epoch_hook {
public:
    // g: the SNN being trained over T steps, its spike nodes using the Dspike surrogate; b0: the starting
    // temperature; progress: one line per epoch on stderr. g must outlive the hook.
    dspike_epoch_hook(graph & g, int64_t T, double b0, const dspike_adapt_options & opt, bool progress);

    // train_hooks::on_epoch: one adaptation step on the batch (x, y); g's spike nodes then carry the chosen b.
    // Returns the epoch's note, {"dspike": dspike_epoch_report::to_json()}.
    std::string on_epoch(int epoch, const at::Tensor & x, const at::Tensor & y);

    // The current temperature.
    double b() const { return b_; }
    // Seconds spent adapting (FDG + BPTT), over all runs of a resumed training.
    double seconds() const { return seconds_; }
    // The method's settings as one line ("db 0.5, eps 0.01, fdg coords 0"); a resume must use the same
    // (copies and threads change only the speed, so they may change).
    std::string settings_text() const;
    // What a checkpoint keeps: a JSON object (text) {"dspike_b", "adapt_seconds", "dspike_adapt": settings_text()}.
    std::string state_json() const;
    // Restores the state from a checkpoint's JSON object (text) holding state_json()'s keys ("adapt_seconds" and
    // "dspike_adapt" may be absent: older checkpoints). Fails naming `ckpt` when the settings differ.
    void restore(const std::string & state, const std::string & ckpt);

private:
    graph & g_;
    int64_t T_;
    double b_;
    double seconds_ = 0;
    dspike_adapt_options opt_;
    bool progress_;
};

// Adds the hook to `hooks`: on_epoch calls it (hook must outlive hooks); save_state / load_state are the
// caller's, who stores state_json()'s keys with its own.
void add_dspike_hook(train_hooks & hooks, dspike_epoch_hook & hook);

} // namespace snnkit
