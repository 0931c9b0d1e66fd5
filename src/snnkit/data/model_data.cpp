// snnkit/data/model_data.cpp
#include "snnkit/data/model_data.h"

#include "snnkit/data/dataset_by_name.h"

namespace snnkit {

void check_model_classes(const model_meta & meta, const dataset & test, const std::string & where) {
    dataset trained;
    trained.class_names = meta.classes;
    check_same_classes(trained, test, where);
}

augment_options model_preprocess(const model_meta & meta, const std::string & dataset_name) {
    augment_options p = dataset_preprocess(dataset_name);
    if (!meta.mean.empty()) {
        p.mean = meta.mean;
        p.std = meta.std;
    }
    return p;
}

} // namespace snnkit
