// snnkit/io/safetensors.cpp
#include "snnkit/io/safetensors.h"

#include "snnkit/core/error.h"
#include "snnkit/io/atomic_file.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>

namespace snnkit {

namespace {

struct dtype_name {
    at::ScalarType type;
    const char * name;
};

const dtype_name k_dtypes[] = {
    {at::kDouble, "F64"}, {at::kFloat, "F32"}, {at::kHalf, "F16"}, {at::kBFloat16, "BF16"},
    {at::kLong, "I64"},   {at::kInt, "I32"},   {at::kShort, "I16"}, {at::kChar, "I8"},
    {at::kByte, "U8"},    {at::kBool, "BOOL"},
};

const char * dtype_to_name(at::ScalarType t, const std::string & tensor) {
    for (const auto & d : k_dtypes) {
        if (d.type == t) {
            return d.name;
        }
    }
    fail("tensor '" + tensor + "'", std::string("dtype ") + at::toString(t) + " cannot be saved");
}

bool dtype_from_name(const std::string & n, at::ScalarType * t) {
    for (const auto & d : k_dtypes) {
        if (n == d.name) {
            *t = d.type;
            return true;
        }
    }
    return false;
}

constexpr uint64_t k_max_header = 100u << 20; // 100 MiB of JSON header is already absurd

} // namespace

const char * safetensors_dtype_name(const at::Tensor & t) { return dtype_to_name(t.scalar_type(), "?"); }

std::string safetensors_encode(const named_tensors & tensors, const std::map<std::string, std::string> & meta) {
    nlohmann::json header = nlohmann::json::object();
    if (!meta.empty()) {
        header["__metadata__"] = meta;
    }
    uint64_t offset = 0;
    std::vector<at::Tensor> contiguous;
    contiguous.reserve(tensors.size());
    for (const auto & kv : tensors) {
        const at::Tensor t = kv.second.detach().to(at::kCPU).contiguous();
        const uint64_t n = static_cast<uint64_t>(t.numel()) * t.element_size();
        if (kv.first == "__metadata__" || header.contains(kv.first)) { // one header entry per data block
            fail("safetensors", "tensor name '" + kv.first + "' is used twice (or is reserved)");
        }
        header[kv.first] = {{"dtype", dtype_to_name(t.scalar_type(), kv.first)},
                            {"shape", t.sizes().vec()},
                            {"data_offsets", {offset, offset + n}}};
        offset += n;
        contiguous.push_back(t);
    }
    std::string h = header.dump();
    while ((h.size() + 8) % 8 != 0) {
        h += ' '; // align the data section to 8 bytes, as the reference writer does
    }
    std::string out;
    out.reserve(8 + h.size() + offset);
    const uint64_t hl = h.size();
    for (int i = 0; i < 8; ++i) {
        out.push_back(static_cast<char>((hl >> (8 * i)) & 0xff));
    }
    out += h;
    for (const auto & t : contiguous) {
        out.append(static_cast<const char *>(t.data_ptr()), static_cast<size_t>(t.numel()) * t.element_size());
    }
    return out;
}

named_tensors safetensors_decode(const std::string & bytes, const std::string & where,
                                 std::map<std::string, std::string> * meta) {
    if (bytes.size() < 8) {
        fail(where, "truncated safetensors file (" + std::to_string(bytes.size()) + " bytes, no header)");
    }
    uint64_t hl = 0;
    for (int i = 0; i < 8; ++i) {
        hl |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
    }
    if (hl > k_max_header || hl > bytes.size() - 8) {
        fail(where, "safetensors header length " + std::to_string(hl) + " exceeds the file size " +
                        std::to_string(bytes.size()));
    }
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(hl));
    } catch (const std::exception & e) {
        fail(where, std::string("safetensors header is not valid JSON: ") + e.what());
    }
    if (!header.is_object()) {
        fail(where, "safetensors header is not a JSON object");
    }
    const uint64_t data_size = bytes.size() - 8 - hl;
    const char * data = bytes.data() + 8 + hl;
    // Everything is validated before the first allocation: tensors may not overlap (else a small file
    // could name the same bytes many times and need far more memory than its size).
    struct entry {
        std::string name;
        at::ScalarType dtype;
        std::vector<int64_t> shape;
        uint64_t begin, bytes;
    };
    std::vector<entry> entries;
    uint64_t covered = 0;
    std::vector<std::pair<uint64_t, uint64_t>> spans; // [begin, end) of each non-empty tensor
    for (auto it = header.begin(); it != header.end(); ++it) {
        if (it.key() == "__metadata__") {
            if (meta && it.value().is_object()) {
                for (auto m = it.value().begin(); m != it.value().end(); ++m) {
                    if (m.value().is_string()) {
                        (*meta)[m.key()] = m.value().get<std::string>();
                    }
                }
            }
            continue;
        }
        const std::string tw = where + ": tensor '" + it.key() + "'";
        const auto & e = it.value();
        if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets") ||
            !e["dtype"].is_string() || !e["shape"].is_array() || !e["data_offsets"].is_array() ||
            e["data_offsets"].size() != 2) {
            fail(tw, "malformed entry (needs dtype, shape, data_offsets)");
        }
        at::ScalarType st;
        if (!dtype_from_name(e["dtype"].get<std::string>(), &st)) {
            fail(tw, "unsupported dtype " + e["dtype"].get<std::string>());
        }
        std::vector<int64_t> shape;
        uint64_t numel = 1;
        for (const auto & d : e["shape"]) {
            if (!d.is_number_unsigned()) {
                fail(tw, "shape entries must be non-negative integers");
            }
            const uint64_t v = d.get<uint64_t>();
            if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) ||
                (v > 0 && numel > std::numeric_limits<uint64_t>::max() / v)) {
                fail(tw, "shape overflows");
            }
            numel *= v;
            shape.push_back(static_cast<int64_t>(v));
        }
        const auto & off = e["data_offsets"];
        if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
            fail(tw, "data_offsets must be non-negative integers");
        }
        const uint64_t b = off[0].get<uint64_t>(), en = off[1].get<uint64_t>();
        const uint64_t esize = c10::elementSize(st);
        if (en < b || en > data_size) {
            fail(tw, "data_offsets [" + std::to_string(b) + ", " + std::to_string(en) + ") lie outside the " +
                         std::to_string(data_size) + "-byte data section (truncated file?)");
        }
        if (numel > data_size / esize || numel * esize != en - b) {
            fail(tw, "shape needs " + std::to_string(numel) + " elements but the data span holds " +
                         std::to_string((en - b) / esize));
        }
        covered += en - b;
        if (en > b) {
            spans.emplace_back(b, en);
        }
        entries.push_back({it.key(), st, std::move(shape), b, en - b});
    }
    std::sort(spans.begin(), spans.end());
    for (size_t i = 1; i < spans.size(); ++i) {
        if (spans[i].first < spans[i - 1].second) {
            fail(where, "tensors overlap in the data section (bytes " + std::to_string(spans[i].first) + " to " +
                            std::to_string(std::min(spans[i].second, spans[i - 1].second)) + ")");
        }
    }
    if (covered != data_size) {
        fail(where, "data section has " + std::to_string(data_size) + " bytes but the tensors use " +
                        std::to_string(covered));
    }
    named_tensors out;
    for (auto & e : entries) {
        at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype));
        if (e.bytes > 0) {
            std::memcpy(t.data_ptr(), data + e.begin, e.bytes);
        }
        out.emplace_back(std::move(e.name), std::move(t));
    }
    return out;
}

void safetensors_save(const std::string & path, const named_tensors & tensors,
                      const std::map<std::string, std::string> & meta) {
    write_file_atomic(path, safetensors_encode(tensors, meta));
}

named_tensors safetensors_load(const std::string & path, std::map<std::string, std::string> * meta) {
    return safetensors_decode(read_file(path), path, meta);
}

} // namespace snnkit
