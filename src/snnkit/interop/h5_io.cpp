// snnkit/interop/h5_io.cpp: HDF5 C API, wrapped for NIR files (see h5_io.h).
#include "snnkit/interop/h5_io.h"

#include "snnkit/core/error.h"
#include "snnkit/io/atomic_file.h"

#if __has_include(<hdf5.h>)
#include <hdf5.h>
#else
#include <hdf5/serial/hdf5.h> // Debian's serial HDF5, when the include path was not given
#endif

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace snnkit {

namespace {

// One HDF5 handle, closed with the matching H5?close.
class handle {
public:
    handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
    ~handle() {
        if (id_ >= 0) {
            close_(id_);
        }
    }
    handle(const handle &) = delete;
    handle & operator=(const handle &) = delete;
    hid_t get() const { return id_; }
    bool ok() const { return id_ >= 0; }

private:
    hid_t id_;
    herr_t (*close_)(hid_t);
};

void quiet_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

hid_t vlen_string_type() {
    const hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

} // namespace

h5_file::h5_file(int64_t id, std::string name) : id_(id), name_(std::move(name)) {}

h5_file::h5_file(h5_file && o) noexcept : id_(o.id_), name_(std::move(o.name_)) { o.id_ = -1; }

h5_file::~h5_file() {
    if (id_ >= 0) {
        H5Fclose(id_);
    }
}

void h5_file::fail_at(const std::string & path, const std::string & problem) const {
    fail(name_, path + ": " + problem);
}

h5_file h5_file::create() {
    quiet_hdf5();
    handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    H5Pset_fapl_core(fapl.get(), 1 << 20, 0); // in memory, no backing file
    const hid_t f = H5Fcreate("snnkit-nir-image", H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
    if (f < 0) {
        fail("hdf5", "cannot create an in-memory file");
    }
    return h5_file(f, "nir");
}

h5_file h5_file::open(const std::string & path) {
    quiet_hdf5();
    if (!std::filesystem::exists(path)) {
        fail(path, "no such file");
    }
    if (H5Fis_hdf5(path.c_str()) <= 0) {
        fail(path, "not an HDF5 file (truncated or wrong format)");
    }
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        fail(path, "cannot open the HDF5 file (truncated or corrupt?)");
    }
    return h5_file(f, path);
}

void h5_file::group(const std::string & path) {
    handle g(H5Gcreate2(id_, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!g.ok()) {
        fail_at(path, "cannot create group");
    }
}

void h5_file::write_string(const std::string & path, const std::string & s) {
    handle type(vlen_string_type(), H5Tclose);
    handle space(H5Screate(H5S_SCALAR), H5Sclose);
    handle d(H5Dcreate2(id_, path.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    const char * p = s.c_str();
    if (!d.ok() || H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p) < 0) {
        fail_at(path, "cannot write string");
    }
}

void h5_file::write_string_pairs(const std::string & path, const std::vector<std::pair<std::string, std::string>> & v) {
    handle type(vlen_string_type(), H5Tclose);
    const hsize_t dims[2] = {static_cast<hsize_t>(v.size()), 2};
    handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
    handle d(H5Dcreate2(id_, path.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    std::vector<const char *> p;
    for (const auto & e : v) {
        p.push_back(e.first.c_str());
        p.push_back(e.second.c_str());
    }
    if (!d.ok() || (!v.empty() && H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()) < 0)) {
        fail_at(path, "cannot write string pairs");
    }
}

void h5_file::write_floats(const std::string & path, const at::Tensor & t) {
    const at::Tensor c = t.detach().to(at::kCPU, at::kFloat).contiguous();
    std::vector<hsize_t> dims(c.sizes().begin(), c.sizes().end());
    handle space(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                 H5Sclose);
    handle d(H5Dcreate2(id_, path.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    if (!d.ok() || (c.numel() > 0 && H5Dwrite(d.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr<float>()) < 0)) {
        fail_at(path, "cannot write float array");
    }
}

void h5_file::write_ints(const std::string & path, const std::vector<int64_t> & v, bool scalar) {
    const hsize_t n = v.size();
    handle space(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
    handle d(H5Dcreate2(id_, path.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    if (scalar && v.size() != 1) {
        fail_at(path, "a scalar needs exactly one value");
    }
    if (!d.ok() || (!v.empty() && H5Dwrite(d.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0)) {
        fail_at(path, "cannot write int array");
    }
}

void h5_file::save(const std::string & dest) {
    H5Fflush(id_, H5F_SCOPE_GLOBAL);
    const ssize_t n = H5Fget_file_image(id_, nullptr, 0);
    if (n <= 0) {
        fail(dest, "cannot get the HDF5 file image");
    }
    std::string bytes(static_cast<size_t>(n), '\0');
    if (H5Fget_file_image(id_, bytes.data(), bytes.size()) != n) {
        fail(dest, "cannot copy the HDF5 file image");
    }
    write_file_atomic(dest, bytes);
}

bool h5_file::exists(const std::string & path) const {
    // Each prefix must exist for H5Lexists on the full path to be valid.
    size_t pos = 1;
    while (true) {
        const size_t next = path.find('/', pos);
        const std::string prefix = path.substr(0, next);
        if (H5Lexists(id_, prefix.c_str(), H5P_DEFAULT) <= 0) {
            return false;
        }
        if (next == std::string::npos) {
            return true;
        }
        pos = next + 1;
    }
}

bool h5_file::is_group(const std::string & path) const {
    if (!exists(path)) {
        return false;
    }
    handle o(H5Oopen(id_, path.c_str(), H5P_DEFAULT), H5Oclose);
    return o.ok() && H5Iget_type(o.get()) == H5I_GROUP;
}

std::vector<std::string> h5_file::children(const std::string & path) const {
    handle g(H5Gopen2(id_, path.c_str(), H5P_DEFAULT), H5Gclose);
    if (!g.ok()) {
        fail_at(path, "missing group");
    }
    H5G_info_t info;
    if (H5Gget_info(g.get(), &info) < 0) {
        fail_at(path, "cannot list group");
    }
    std::vector<std::string> out;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
        const ssize_t len = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
        if (len < 0) {
            fail_at(path, "cannot read a member name");
        }
        std::string name(static_cast<size_t>(len) + 1, '\0');
        H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size(), H5P_DEFAULT);
        name.resize(static_cast<size_t>(len));
        out.push_back(name);
    }
    return out;
}

namespace {

// The dims of dataset d (empty for a scalar). Throws "<where>: ..." when the dims claim more elements
// than the file stores for the dataset: the element count times the element size must fit the bytes HDF5
// allocated for it (times 1040, the deflate bound, when the dataset is compressed), so a damaged header
// cannot make the reader allocate gigabytes.
std::vector<hsize_t> dims_of(hid_t d, const std::string & where) {
    handle space(H5Dget_space(d), H5Sclose);
    const int nd = H5Sget_simple_extent_ndims(space.get());
    std::vector<hsize_t> dims(nd > 0 ? nd : 0);
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
    handle ftype(H5Dget_type(d), H5Tclose);
    handle dcpl(H5Dget_create_plist(d), H5Pclose);
    const uint64_t esize = std::max<size_t>(1, H5Tget_size(ftype.get()));
    const uint64_t stored = H5Dget_storage_size(d);
    const bool filtered = dcpl.ok() && H5Pget_nfilters(dcpl.get()) > 0;
    const uint64_t room = filtered ? stored * 1040 + 4096 : stored;
    if (count > 0 && count > room / esize) {
        fail(where, "dataset claims " + std::to_string(count) + " elements of " + std::to_string(esize) +
                        " bytes but the file stores " + std::to_string(stored) + " bytes for it");
    }
    return dims;
}

// Reads every string of a string dataset (variable- or fixed-length).
std::vector<std::string> read_strings(hid_t d, size_t count, bool * ok) {
    handle ftype(H5Dget_type(d), H5Tclose);
    std::vector<std::string> out;
    *ok = H5Tget_class(ftype.get()) == H5T_STRING;
    if (!*ok) {
        return out;
    }
    if (H5Tis_variable_str(ftype.get()) > 0) {
        handle mtype(vlen_string_type(), H5Tclose);
        std::vector<char *> p(count, nullptr);
        *ok = H5Dread(d, mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()) >= 0;
        for (char * s : p) {
            out.emplace_back(s ? s : "");
        }
        if (*ok) {
            handle space(H5Dget_space(d), H5Sclose);
            H5Dvlen_reclaim(mtype.get(), space.get(), H5P_DEFAULT, p.data());
        }
    } else {
        const size_t len = H5Tget_size(ftype.get());
        handle mtype(H5Tcopy(H5T_C_S1), H5Tclose);
        H5Tset_size(mtype.get(), len);
        std::vector<char> buf(len * count + 1, '\0');
        *ok = H5Dread(d, mtype.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) >= 0;
        for (size_t i = 0; i < count; ++i) {
            const char * s = buf.data() + i * len;
            out.emplace_back(s, strnlen(s, len));
        }
    }
    return out;
}

} // namespace

std::string h5_file::read_string(const std::string & path) const {
    handle d(H5Dopen2(id_, path.c_str(), H5P_DEFAULT), H5Dclose);
    if (!d.ok()) {
        fail_at(path, "missing dataset");
    }
    const auto dims = dims_of(d.get(), name_ + ": " + path);
    size_t count = 1;
    for (hsize_t x : dims) {
        count *= x;
    }
    bool ok = false;
    const auto s = read_strings(d.get(), count, &ok);
    if (!ok || s.size() != 1) {
        fail_at(path, "expected one string");
    }
    return s[0];
}

std::vector<std::pair<std::string, std::string>> h5_file::read_string_pairs(const std::string & path) const {
    handle d(H5Dopen2(id_, path.c_str(), H5P_DEFAULT), H5Dclose);
    if (!d.ok()) {
        fail_at(path, "missing dataset");
    }
    const auto dims = dims_of(d.get(), name_ + ": " + path);
    if (dims.size() == 1 && dims[0] == 0) {
        return {};
    }
    if (dims.size() != 2 || dims[1] != 2) {
        fail_at(path, "expected an [n, 2] array of strings");
    }
    bool ok = false;
    const auto s = read_strings(d.get(), dims[0] * 2, &ok);
    if (!ok) {
        fail_at(path, "expected strings");
    }
    std::vector<std::pair<std::string, std::string>> out;
    for (size_t i = 0; i + 1 < s.size(); i += 2) {
        out.emplace_back(s[i], s[i + 1]);
    }
    return out;
}

at::Tensor h5_file::read_floats(const std::string & path) const {
    handle d(H5Dopen2(id_, path.c_str(), H5P_DEFAULT), H5Dclose);
    if (!d.ok()) {
        fail_at(path, "missing dataset");
    }
    handle ftype(H5Dget_type(d.get()), H5Tclose);
    const H5T_class_t cls = H5Tget_class(ftype.get());
    if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
        fail_at(path, "expected a numeric array");
    }
    const auto dims = dims_of(d.get(), name_ + ": " + path);
    std::vector<int64_t> shape(dims.begin(), dims.end());
    at::Tensor t = at::empty(shape, at::kFloat);
    if (t.numel() > 0 && H5Dread(d.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr<float>()) < 0) {
        fail_at(path, "cannot read (truncated file?)");
    }
    return t;
}

std::vector<int64_t> h5_file::read_ints(const std::string & path) const {
    handle d(H5Dopen2(id_, path.c_str(), H5P_DEFAULT), H5Dclose);
    if (!d.ok()) {
        fail_at(path, "missing dataset");
    }
    handle ftype(H5Dget_type(d.get()), H5Tclose);
    if (H5Tget_class(ftype.get()) != H5T_INTEGER && H5Tget_class(ftype.get()) != H5T_FLOAT) {
        fail_at(path, "expected a numeric array");
    }
    const auto dims = dims_of(d.get(), name_ + ": " + path);
    size_t count = 1;
    for (hsize_t x : dims) {
        count *= x;
    }
    std::vector<int64_t> v(count);
    if (count > 0 && H5Dread(d.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0) {
        fail_at(path, "cannot read (truncated file?)");
    }
    return v;
}

} // namespace snnkit
