// snnkit/interop/h5_read.cpp: the HDF5 snapshot (see h5_read.h). The child process walks the file with the
// HDF5 C library and writes one record per object; the parent parses the records.
//
// Record: kind (1 byte) | path | for datasets: ndims, dims | payload, where numbers are 8-byte host order
// and a string is its length then its bytes. Payload: strings: count, strings; ints: count, int64s;
// floats: count, doubles; bad: the error message.
#include "snnkit/interop/h5_read.h"

#include "snnkit/core/error.h"
#include "snnkit/core/isolate.h"
#include "snnkit/interop/h5_common_internal.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

namespace snnkit {

namespace {

constexpr int k_max_depth = 64;
constexpr size_t k_max_objects = 200000;

using entry = h5_snapshot::entry;

// ---- child side: HDF5 -> records ----

void put_u64(std::string & out, uint64_t v) { out.append(reinterpret_cast<const char *>(&v), 8); }

void put_str(std::string & out, const std::string & s) {
    put_u64(out, s.size());
    out += s;
}

// The dims of dataset d (empty for a scalar). Throws "<where>: ..." when the dims claim more elements
// than the file stores for the dataset: the element count times the element size must fit the bytes HDF5
// allocated for it (times 1040, the deflate bound, when the dataset is compressed), so a damaged header
// cannot make the reader allocate gigabytes.
std::vector<hsize_t> dims_of(hid_t d, const std::string & where, uint64_t * count_out) {
    h5_handle space(H5Dget_space(d), H5Sclose);
    const int nd = H5Sget_simple_extent_ndims(space.get());
    if (nd < 0) {
        fail(where, "unreadable dataspace");
    }
    std::vector<hsize_t> dims(static_cast<size_t>(nd));
    if (nd > 0) {
        H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
    }
    uint64_t count = 1;
    for (hsize_t x : dims) {
        if (x != 0 && count > (uint64_t(1) << 40) / x) {
            fail(where, "absurd dataset size (more than 2^40 elements)");
        }
        count *= x;
    }
    h5_handle ftype(H5Dget_type(d), H5Tclose);
    h5_handle dcpl(H5Dget_create_plist(d), H5Pclose);
    const uint64_t esize = std::max<size_t>(1, H5Tget_size(ftype.get()));
    const uint64_t stored = H5Dget_storage_size(d);
    const bool filtered = dcpl.ok() && H5Pget_nfilters(dcpl.get()) > 0;
    const uint64_t room = filtered ? stored * 1040 + 4096 : stored;
    if (count > 0 && count > room / esize) {
        fail(where, "dataset claims " + std::to_string(count) + " elements of " + std::to_string(esize) +
                        " bytes but the file stores " + std::to_string(stored) + " bytes for it");
    }
    *count_out = count;
    return dims;
}

// Every string of a string dataset (variable- or fixed-length), in storage order.
std::vector<std::string> read_strings(hid_t d, hid_t ftype, size_t count, const std::string & where) {
    std::vector<std::string> out;
    if (count == 0) {
        return out;
    }
    if (H5Tis_variable_str(ftype) > 0) {
        h5_handle mtype(h5_vlen_string_type(), H5Tclose);
        std::vector<char *> p(count, nullptr);
        if (H5Dread(d, mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()) < 0) {
            fail(where, "cannot read the strings (truncated file?)");
        }
        for (char * s : p) {
            out.emplace_back(s ? s : "");
        }
        h5_handle space(H5Dget_space(d), H5Sclose);
        H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, p.data());
    } else {
        // Read as stored (the file's own type: no conversion). A C string type would null-terminate each
        // string, cutting the last byte of a null-padded one that fills its width, and refuses UTF-8.
        const size_t len = H5Tget_size(ftype);
        h5_handle mtype(H5Tcopy(ftype), H5Tclose);
        std::vector<char> buf(len * count + 1, '\0');
        if (H5Dread(d, mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0) {
            fail(where, "cannot read the strings (truncated file?)");
        }
        for (size_t i = 0; i < count; ++i) {
            const char * s = buf.data() + i * len;
            out.emplace_back(s, strnlen(s, len));
        }
    }
    return out;
}

// One dataset's record (a 'bad' record when it cannot be read).
void put_dataset(std::string & out, hid_t d, const std::string & file, const std::string & path) {
    const std::string where = file + ": " + path;
    std::string rec;
    try {
        uint64_t count = 0;
        const auto dims = dims_of(d, where, &count);
        h5_handle ftype(H5Dget_type(d), H5Tclose);
        const H5T_class_t cls = H5Tget_class(ftype.get());
        std::string payload;
        char kind = 0;
        if (cls == H5T_STRING) {
            kind = entry::strings;
            const auto s = read_strings(d, ftype.get(), count, where);
            put_u64(payload, s.size());
            for (const auto & x : s) {
                put_str(payload, x);
            }
        } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
            const bool ints = cls == H5T_INTEGER;
            kind = ints ? entry::ints : entry::floats;
            put_u64(payload, count);
            const size_t at = payload.size();
            payload.resize(at + count * 8);
            if (count > 0 && H5Dread(d, ints ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                     &payload[at]) < 0) {
                fail(where, "cannot read (truncated file?)");
            }
        } else {
            fail(where, "neither a numeric nor a string dataset");
        }
        rec += kind;
        put_str(rec, path);
        put_u64(rec, dims.size());
        for (hsize_t x : dims) {
            put_u64(rec, x);
        }
        rec += payload;
    } catch (const error & e) {
        rec.clear();
        rec += static_cast<char>(entry::bad);
        put_str(rec, path);
        put_u64(rec, 0);
        put_str(rec, e.what());
    }
    out += rec;
}

struct walker {
    const std::string & file;
    std::string & out;
    size_t objects = 0;

    void group(hid_t g, const std::string & path, int depth) {
        out += static_cast<char>(entry::group);
        put_str(out, path);
        H5G_info_t info;
        if (H5Gget_info(g, &info) < 0) {
            fail(file, path + ": cannot list the group");
        }
        for (hsize_t i = 0; i < info.nlinks; ++i) {
            const ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
            if (len <= 0) {
                fail(file, path + ": cannot read a member name");
            }
            std::string name(static_cast<size_t>(len) + 1, '\0');
            H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
            name.resize(static_cast<size_t>(len));
            H5L_info_t li;
            if (name.find('/') != std::string::npos || H5Lget_info(g, name.c_str(), &li, H5P_DEFAULT) < 0 ||
                li.type != H5L_TYPE_HARD) {
                continue; // soft and external links are not followed (an external link names another file)
            }
            if (++objects > k_max_objects) {
                fail(file, "more than " + std::to_string(k_max_objects) + " objects (a cycle of links?)");
            }
            const std::string child = path == "/" ? "/" + name : path + "/" + name;
            h5_handle o(H5Oopen(g, name.c_str(), H5P_DEFAULT), H5Oclose);
            if (!o.ok()) {
                continue;
            }
            const H5I_type_t type = H5Iget_type(o.get());
            if (type == H5I_GROUP) {
                if (depth >= k_max_depth) {
                    fail(file, child + ": groups nested deeper than " + std::to_string(k_max_depth));
                }
                group(o.get(), child, depth + 1);
            } else if (type == H5I_DATASET) {
                put_dataset(out, o.get(), file, child);
            }
        }
    }
};

void snapshot_in_child(const std::string & path, std::string & out) {
    h5_quiet();
    if (H5Fis_hdf5(path.c_str()) <= 0) {
        fail(path, "not an HDF5 file (truncated or wrong format)");
    }
    h5_handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!f.ok()) {
        fail(path, "cannot open the HDF5 file (truncated or corrupt?)");
    }
    h5_handle root(H5Gopen2(f.get(), "/", H5P_DEFAULT), H5Gclose);
    if (!root.ok()) {
        fail(path, "cannot open the root group");
    }
    walker{path, out}.group(root.get(), "/", 0);
}

// ---- parent side: records -> objects ----

struct record_reader {
    const std::string & b;
    const std::string & file;
    size_t pos = 0;

    void need(uint64_t n) const {
        if (n > b.size() - pos) {
            fail(file, "internal error: the HDF5 reader process sent a short record");
        }
    }
    uint64_t u64() {
        need(8);
        uint64_t v;
        std::memcpy(&v, b.data() + pos, 8);
        pos += 8;
        return v;
    }
    std::string str() {
        const uint64_t n = u64();
        need(n);
        std::string s = b.substr(pos, n);
        pos += n;
        return s;
    }
    // A count of items that take at least 8 bytes each, checked against the bytes left.
    uint64_t count() {
        const uint64_t n = u64();
        need(n > (b.size() - pos) / 8 ? b.size() + 1 : n * 8);
        return n;
    }
    template <class T> std::vector<T> numbers() {
        const uint64_t n = count();
        std::vector<T> v(n);
        if (n > 0) {
            std::memcpy(v.data(), b.data() + pos, n * 8);
        }
        pos += n * 8;
        return v;
    }
};

} // namespace

h5_snapshot h5_snapshot::load(const std::string & path) {
    if (!std::filesystem::exists(path)) {
        fail(path, "no such file");
    }
    isolate_options io;
    io.actor = "the HDF5 library";
    // The snapshot holds at most about twice the file (float32 read as double) plus HDF5's own buffers;
    // a damaged header must not make the library allocate gigabytes.
    const uint64_t bytes_on_disk = std::filesystem::file_size(path);
    io.extra_memory = (uint64_t(1) << 30) + 16 * bytes_on_disk;
    // HDF5 reads a valid file at hundreds of MB/s; some damaged global heaps make it spin for minutes
    // (fuzz_nir). 5 s plus 1 s per 20 MB is ample for a valid file.
    io.timeout_s = 5 + static_cast<int>(bytes_on_disk / (20u << 20));
    const std::string bytes = run_isolated(path, [&](std::string & out) { snapshot_in_child(path, out); }, io);
    h5_snapshot s;
    s.name_ = path;
    record_reader r{bytes, path};
    while (r.pos < bytes.size()) {
        const auto kind = static_cast<entry::kind_t>(bytes[r.pos++]);
        const std::string p = r.str();
        entry e;
        e.kind = kind;
        if (kind != entry::group) {
            const uint64_t nd = r.count();
            for (uint64_t i = 0; i < nd; ++i) {
                e.dims.push_back(static_cast<int64_t>(r.u64()));
            }
        }
        switch (kind) {
        case entry::group: break;
        case entry::strings: {
            const uint64_t n = r.count();
            for (uint64_t i = 0; i < n; ++i) {
                e.text.push_back(r.str());
            }
            break;
        }
        case entry::ints: e.ivals = r.numbers<int64_t>(); break;
        case entry::floats: e.fvals = r.numbers<double>(); break;
        case entry::bad: e.text.push_back(r.str()); break;
        default: fail(path, "internal error: unknown record from the HDF5 reader process");
        }
        s.objects_[p] = std::move(e);
    }
    return s;
}

void h5_snapshot::fail_at(const std::string & path, const std::string & problem) const {
    fail(name_, path + ": " + problem);
}

bool h5_snapshot::exists(const std::string & path) const { return objects_.count(path) > 0; }

bool h5_snapshot::is_group(const std::string & path) const {
    const auto it = objects_.find(path);
    return it != objects_.end() && it->second.kind == entry::group;
}

std::vector<std::string> h5_snapshot::children(const std::string & path) const {
    if (!is_group(path)) {
        fail_at(path, "missing group");
    }
    const std::string prefix = path == "/" ? "/" : path + "/";
    std::vector<std::string> out;
    for (auto it = objects_.lower_bound(prefix); it != objects_.end() && it->first.compare(0, prefix.size(), prefix) == 0;
         ++it) {
        const std::string rest = it->first.substr(prefix.size());
        if (!rest.empty() && rest.find('/') == std::string::npos) {
            out.push_back(rest);
        }
    }
    return out;
}

const h5_snapshot::entry & h5_snapshot::dataset(const std::string & path) const {
    const auto it = objects_.find(path);
    if (it == objects_.end() || it->second.kind == entry::group) {
        fail_at(path, "missing dataset");
    }
    if (it->second.kind == entry::bad) {
        throw error(it->second.text.at(0));
    }
    return it->second;
}

std::string h5_snapshot::read_string(const std::string & path) const {
    const entry & e = dataset(path);
    if (e.kind != entry::strings || e.text.size() != 1) {
        fail_at(path, "expected one string");
    }
    return e.text[0];
}

std::vector<std::pair<std::string, std::string>> h5_snapshot::read_string_pairs(const std::string & path) const {
    const entry & e = dataset(path);
    if (e.dims.size() == 1 && e.dims[0] == 0) {
        return {};
    }
    if (e.dims.size() != 2 || e.dims[1] != 2) {
        fail_at(path, "expected an [n, 2] array of strings");
    }
    if (e.kind != entry::strings) {
        fail_at(path, "expected strings");
    }
    std::vector<std::pair<std::string, std::string>> out;
    for (size_t i = 0; i + 1 < e.text.size(); i += 2) {
        out.emplace_back(e.text[i], e.text[i + 1]);
    }
    return out;
}

at::Tensor h5_snapshot::read_floats(const std::string & path) const {
    const entry & e = dataset(path);
    if (e.kind != entry::ints && e.kind != entry::floats) {
        fail_at(path, "expected a numeric array");
    }
    at::Tensor t = at::empty(e.dims, at::kFloat);
    if (static_cast<size_t>(t.numel()) != (e.kind == entry::ints ? e.ivals.size() : e.fvals.size())) {
        fail_at(path, "internal error: element count does not match the dims");
    }
    float * p = t.data_ptr<float>();
    for (int64_t i = 0; i < t.numel(); ++i) {
        p[i] = e.kind == entry::ints ? static_cast<float>(e.ivals[i]) : static_cast<float>(e.fvals[i]);
    }
    return t;
}

std::vector<int64_t> h5_snapshot::read_ints(const std::string & path) const {
    const entry & e = dataset(path);
    if (e.kind == entry::ints) {
        return e.ivals;
    }
    if (e.kind != entry::floats) {
        fail_at(path, "expected a numeric array");
    }
    std::vector<int64_t> v;
    v.reserve(e.fvals.size());
    for (double x : e.fvals) {
        if (!std::isfinite(x) || std::fabs(x) > 9.0e18 || x != std::floor(x)) {
            fail_at(path, "expected integers, found " + std::to_string(x));
        }
        v.push_back(static_cast<int64_t>(x));
    }
    return v;
}

} // namespace snnkit
