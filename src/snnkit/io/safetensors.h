// snnkit/io/safetensors.h: the safetensors format (data only, no code): an 8-byte little-endian header
// length, a JSON header {"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}, raw bytes.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace snnkit {

using named_tensors = std::vector<std::pair<std::string, at::Tensor>>;

// Serialises tensors (CPU, any of F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL) and string metadata.
std::string safetensors_encode(const named_tensors & tensors, const std::map<std::string, std::string> & meta = {});

// Parses bytes read from `where` (named in errors). Validates the header, dtypes, shapes and offsets
// (every byte accounted for, no tensor larger than the file) before allocating anything.
named_tensors safetensors_decode(const std::string & bytes, const std::string & where,
                                 std::map<std::string, std::string> * meta = nullptr);

// The safetensors name of a tensor's dtype ("F32", "I64", ...); fails for a dtype the format lacks.
const char * safetensors_dtype_name(const at::Tensor & t);

// File versions (the write is atomic).
void safetensors_save(const std::string & path, const named_tensors & tensors,
                      const std::map<std::string, std::string> & meta = {});
named_tensors safetensors_load(const std::string & path, std::map<std::string, std::string> * meta = nullptr);

} // namespace snnkit
