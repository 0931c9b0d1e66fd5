// snnkit/data/model_data.h: what a model's metadata (snnkit/io/model_meta.h) says about the data it takes: the
// class folders it was trained on and its input normalisation.
#pragma once

#include "snnkit/data/augment.h"
#include "snnkit/data/dataset.h"
#include "snnkit/io/model_meta.h"

#include <string>

namespace snnkit {

// Fails (naming `where`) when the model's metadata lists the class folders it was trained on (classes,
// written by train-ann / train-snn and kept by convert) and the test split names others: ImageFolder labels
// are folder indices, so a missing folder would shift every later label. Models without the list pass.
void check_model_classes(const model_meta & meta, const dataset & test, const std::string & where);

// The normalisation a model expects: its metadata's mean / std when recorded, else the dataset's standard one.
augment_options model_preprocess(const model_meta & meta, const std::string & dataset_name);

} // namespace snnkit
