// snnkit/interop/h5_io.cpp: writing HDF5 files for NIR with the HDF5 C API (see h5_io.h).
#include "snnkit/interop/h5_io.h"

#include "snnkit/core/error.h"
#include "snnkit/io/atomic_file.h"

#include "snnkit/interop/h5_common_internal.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

namespace snnkit {


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
    h5_quiet();
    h5_handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    H5Pset_fapl_core(fapl.get(), 1 << 20, 0); // in memory, no backing file
    const hid_t f = H5Fcreate("snnkit-nir-image", H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get());
    if (f < 0) {
        fail("hdf5", "cannot create an in-memory file");
    }
    return h5_file(f, "nir");
}

void h5_file::group(const std::string & path) {
    h5_handle g(H5Gcreate2(id_, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (!g.ok()) {
        fail_at(path, "cannot create group");
    }
}

void h5_file::write_string(const std::string & path, const std::string & s) {
    h5_handle type(h5_vlen_string_type(), H5Tclose);
    h5_handle space(H5Screate(H5S_SCALAR), H5Sclose);
    h5_handle d(H5Dcreate2(id_, path.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    const char * p = s.c_str();
    if (!d.ok() || H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p) < 0) {
        fail_at(path, "cannot write string");
    }
}

void h5_file::write_string_pairs(const std::string & path, const std::vector<std::pair<std::string, std::string>> & v) {
    h5_handle type(h5_vlen_string_type(), H5Tclose);
    const hsize_t dims[2] = {static_cast<hsize_t>(v.size()), 2};
    h5_handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
    h5_handle d(H5Dcreate2(id_, path.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
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
    h5_handle space(dims.empty() ? H5Screate(H5S_SCALAR) : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
                 H5Sclose);
    h5_handle d(H5Dcreate2(id_, path.c_str(), H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
    if (!d.ok() || (c.numel() > 0 && H5Dwrite(d.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, c.data_ptr<float>()) < 0)) {
        fail_at(path, "cannot write float array");
    }
}

void h5_file::write_ints(const std::string & path, const std::vector<int64_t> & v, bool scalar) {
    const hsize_t n = v.size();
    h5_handle space(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
    h5_handle d(H5Dcreate2(id_, path.c_str(), H5T_STD_I64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
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

} // namespace snnkit
