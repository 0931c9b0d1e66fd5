// snnkit/interop/h5_common_internal.h: internal to the HDF5 files of snnkit (h5_io.cpp writes, h5_read.cpp reads):
// the HDF5 C header and a handle that closes what it holds.
#pragma once

#if __has_include(<hdf5.h>)
#include <hdf5.h>
#else
#include <hdf5/serial/hdf5.h> // Debian's serial HDF5, when the include path was not given
#endif

namespace snnkit {

// One HDF5 handle, closed with the matching H5?close.
class h5_handle {
public:
    h5_handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
    ~h5_handle() {
        if (id_ >= 0) {
            close_(id_);
        }
    }
    h5_handle(const h5_handle &) = delete;
    h5_handle & operator=(const h5_handle &) = delete;
    hid_t get() const { return id_; }
    bool ok() const { return id_ >= 0; }

private:
    hid_t id_;
    herr_t (*close_)(hid_t);
};

// HDF5 prints its error stack by default; snnkit reports errors itself.
inline void h5_quiet() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// A variable-length UTF-8 string type (the caller closes it).
inline hid_t h5_vlen_string_type() {
    const hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

} // namespace snnkit
