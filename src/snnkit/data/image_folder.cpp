// snnkit/data/image_folder.cpp: ImageFolder datasets (root/<split>/<class>/<image>.{jpg,jpeg,png}).
//
// Classes are the sub-directories of root/<split>, sorted by name (byte order, like Python's sorted);
// the images come class-interleaved: image r of every class (files sorted by name), then image r + 1.
// Images are decoded in parallel with libjpeg-turbo and libpng to 8-bit RGB (grayscale, palette,
// 16-bit and alpha inputs are converted; alpha is dropped, like PIL's convert("RGB")), optionally
// resized (shorter side, bilinear, antialiased when shrinking) and center-cropped, and returned as uint8 [N, 3, H, W].
//
// Both C libraries report fatal errors through a callback that must not return: we longjmp back to
// the decode function, which therefore keeps no C++ objects with destructors of its own between
// setjmp and the library calls (all buffers belong to the caller).
#include "snnkit/core/error.h"
#include "snnkit/data/dataset.h"
#include "snnkit/data/file_util.h"

#include <ATen/Parallel.h>

#include <sys/stat.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>

namespace fs = std::filesystem;

namespace snnkit {

namespace {

/// Refuse images with more pixels than this (about 16k x 16k): guards against absurd headers.
constexpr uint64_t max_image_pixels = uint64_t(1) << 28;
/// Working memory libjpeg may use for one image (coefficient buffers of progressive JPEGs).
constexpr long max_jpeg_memory = 1L << 30;
/// Refuse image files larger than this.
constexpr uint64_t max_image_file_bytes = uint64_t(1) << 30;

/// One decoded image, interleaved RGB (HWC). Owned by the caller of the decoders.
struct rgb_image {
    int width = 0, height = 0;
    std::vector<uint8_t> pixels;   // height * width * 3
    std::vector<uint8_t *> rows;   // scratch row pointers (PNG)
};

// ------------------------------------------------------------------------------------------ JPEG

struct jpeg_error_state {
    jpeg_error_mgr pub;     // must be first: libjpeg hands us a pointer to it
    std::jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

void jpeg_error_exit_cb(j_common_ptr cinfo) {
    auto * st = reinterpret_cast<jpeg_error_state *>(cinfo->err);
    (*cinfo->err->format_message)(cinfo, st->message);
    std::longjmp(st->jump, 1);
}

// Warnings are silent, except premature end of data: a truncated file is an error for a dataset. That is
// either the end of the file (JWRN_JPEG_EOF) or a marker where entropy-coded data should continue
// (JWRN_HIT_MARKER, e.g. EOI right after the first rows): libjpeg would fill the rest of the image with
// gray, so a few hundred bytes claiming 16000x16000 would decode to 768 MB.
void jpeg_emit_message_cb(j_common_ptr cinfo, int level) {
    const int code = cinfo->err->msg_code;
    if (level < 0 && (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER)) {
        auto * st = reinterpret_cast<jpeg_error_state *>(cinfo->err);
        std::snprintf(st->message, sizeof st->message, "truncated JPEG data (premature end of %s)",
                      code == JWRN_JPEG_EOF ? "file" : "data segment");
        std::longjmp(st->jump, 1);
    }
}

void jpeg_output_message_cb(j_common_ptr) {}

/// Decodes a JPEG to RGB. Returns false and fills `err` on failure.
bool decode_jpeg(const uint8_t * data, size_t size, rgb_image & out, char * err, size_t err_len) {
    jpeg_decompress_struct cinfo;
    jpeg_error_state st;
    cinfo.err = jpeg_std_error(&st.pub);
    st.pub.error_exit = jpeg_error_exit_cb;
    st.pub.emit_message = jpeg_emit_message_cb;
    st.pub.output_message = jpeg_output_message_cb;
    st.message[0] = 0;
    if (setjmp(st.jump)) {
        jpeg_destroy_decompress(&cinfo);
        std::snprintf(err, err_len, "undecodable JPEG: %s", st.message);
        return false;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, const_cast<unsigned char *>(data), static_cast<unsigned long>(size));
    jpeg_read_header(&cinfo, TRUE);
    const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;  // libjpeg-turbo converts grayscale to RGB itself
    if (uint64_t(cinfo.image_width) * cinfo.image_height > max_image_pixels) {
        std::snprintf(err, err_len, "absurd JPEG size %ux%u", cinfo.image_width, cinfo.image_height);
        jpeg_destroy_decompress(&cinfo);
        return false;
    }
    // Progressive / multi-scan files keep every DCT coefficient in memory (2 bytes per sample); beyond this
    // libjpeg would need a backing store and stops with an error instead of allocating more.
    cinfo.mem->max_memory_to_use = max_jpeg_memory;
    jpeg_start_decompress(&cinfo);
    const int w = static_cast<int>(cinfo.output_width), h = static_cast<int>(cinfo.output_height);
    const int comps = cinfo.output_components;  // 3 (RGB) or 4 (CMYK)
    out.width = w;
    out.height = h;
    // The buffer grows (doubling) as rows arrive: a truncated file claiming a huge image stops at its end
    // of data (JWRN_JPEG_EOF above) long before the whole buffer would be allocated.
    const size_t row_bytes = size_t(w) * comps, total = row_bytes * h;
    out.pixels.clear();
    while (cinfo.output_scanline < cinfo.output_height) {
        const size_t need = (size_t(cinfo.output_scanline) + 1) * row_bytes;
        if (out.pixels.size() < need) out.pixels.resize(std::min(total, std::max(need, 2 * out.pixels.size())));
        JSAMPROW row = out.pixels.data() + size_t(cinfo.output_scanline) * w * comps;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    const bool adobe_inverted = cinfo.saw_Adobe_marker;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    if (comps == 4) {
        // CMYK -> RGB (Adobe files store inverted CMYK): R = C * K / 255 for the stored values.
        const size_t n = size_t(w) * h;
        uint8_t * p = out.pixels.data();
        for (size_t i = 0; i < n; ++i) {
            int c = p[4 * i], m = p[4 * i + 1], y = p[4 * i + 2], k = p[4 * i + 3];
            if (!adobe_inverted) { c = 255 - c; m = 255 - m; y = 255 - y; k = 255 - k; }
            p[3 * i + 0] = static_cast<uint8_t>((c * k + 127) / 255);
            p[3 * i + 1] = static_cast<uint8_t>((m * k + 127) / 255);
            p[3 * i + 2] = static_cast<uint8_t>((y * k + 127) / 255);
        }
        out.pixels.resize(n * 3);
    }
    return true;
}

// ------------------------------------------------------------------------------------------- PNG

struct png_state {
    const uint8_t * data;
    size_t size;
    size_t pos;
    char message[256];
};

void png_error_cb(png_structp png, png_const_charp msg) {
    auto * st = static_cast<png_state *>(png_get_error_ptr(png));
    std::snprintf(st->message, sizeof st->message, "%s", msg ? msg : "unknown libpng error");
    png_longjmp(png, 1);
}

void png_warning_cb(png_structp, png_const_charp) {}

void png_read_cb(png_structp png, png_bytep dst, png_size_t n) {
    auto * st = static_cast<png_state *>(png_get_io_ptr(png));
    if (n > st->size - st->pos) png_error(png, "truncated PNG data (premature end of file)");
    std::memcpy(dst, st->data + st->pos, n);
    st->pos += n;
}

/// Decodes a PNG to 8-bit RGB. Returns false and fills `err` on failure.
bool decode_png(const uint8_t * data, size_t size, rgb_image & out, char * err, size_t err_len) {
    png_state st{data, size, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, png_error_cb, png_warning_cb);
    if (!png) {
        std::snprintf(err, err_len, "libpng: out of memory");
        return false;
    }
    png_infop info = png_create_info_struct(png);
    if (!info || setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, nullptr);
        std::snprintf(err, err_len, "undecodable PNG: %s", st.message[0] ? st.message : "out of memory");
        return false;
    }
    png_set_read_fn(png, &st, png_read_cb);
    png_set_user_limits(png, 1u << 16, 1u << 16);
    png_read_info(png, info);
    const png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (uint64_t(w) * h > max_image_pixels) png_error(png, "absurd image size");
    const int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
    // The filtered rows are deflate-compressed (at most ~1032:1): a header whose rows cannot fit in this
    // file is refused before the pixel buffer is allocated (a 100-byte file could otherwise claim 768 MB).
    const uint64_t row_bytes = (uint64_t(w) * png_get_channels(png, info) * depth + 7) / 8;
    if (uint64_t(h) * (row_bytes + 1) > uint64_t(size) * detail::max_gzip_ratio + 4096)
        png_error(png, "header claims more pixel data than the file can hold");
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16) png_set_strip_16(png);
    // Alpha is dropped, also a tRNS chunk's (which png_set_palette_to_rgb would expand into a 4th channel)
    if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
    if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_channels(png, info) != 3 || png_get_bit_depth(png, info) != 8 ||
        png_get_rowbytes(png, info) != size_t(w) * 3)
        png_error(png, "unsupported PNG pixel format");
    out.width = static_cast<int>(w);
    out.height = static_cast<int>(h);
    out.pixels.resize(size_t(w) * h * 3);
    out.rows.resize(h);
    for (png_uint_32 y = 0; y < h; ++y) out.rows[y] = out.pixels.data() + size_t(y) * w * 3;
    png_read_image(png, out.rows.data());
    png_read_end(png, nullptr);
    png_destroy_read_struct(&png, &info, nullptr);
    return true;
}

// ------------------------------------------------------------------------------ resize and crop

/// Taps of a separable triangle (bilinear) filter from `in` samples to `out`, PIL's and ATen's antialiased
/// rule: output sample i is centred at (i + 0.5)·scale with scale = in / out; when shrinking (scale > 1)
/// the triangle is widened to a support of `scale` input pixels, so every input pixel contributes
/// (no aliasing); when enlarging it is plain bilinear with half-pixel centres (align_corners = false).
/// Taps outside the image are dropped and the rest renormalised. Output sample i reads count[i] inputs
/// from first[i], with the weights at weights[i * width].
struct resize_taps {
    std::vector<int> first, count;
    std::vector<float> weights;
    int width = 0; ///< the most taps one output sample can have
};

resize_taps make_resize_taps(int in, int out) {
    resize_taps t;
    const double scale = double(in) / out;
    const double support = std::max(scale, 1.0);  // triangle radius 1, stretched when shrinking
    t.width = static_cast<int>(std::ceil(support)) * 2 + 1;
    t.first.resize(out);
    t.count.resize(out);
    t.weights.assign(size_t(out) * t.width, 0.0f);
    for (int i = 0; i < out; ++i) {
        const double centre = (i + 0.5) * scale;
        const int lo = std::max(static_cast<int>(centre - support + 0.5), 0);
        const int hi = std::min(static_cast<int>(centre + support + 0.5), in); // hi - lo <= width
        double total = 0;
        float * w = t.weights.data() + size_t(i) * t.width;
        for (int j = lo; j < hi; ++j) {
            const double d = std::abs((j - centre + 0.5) / support);
            const double v = d < 1 ? 1 - d : 0;
            w[j - lo] = static_cast<float>(v);
            total += v;
        }
        if (total > 0)
            for (int k = 0; k < hi - lo; ++k) w[k] = static_cast<float>(w[k] / total);
        t.first[i] = lo;
        t.count[i] = hi - lo;
    }
    return t;
}

/// Resizes so the shorter side is `size` (longer side scaled like torchvision: truncated) with the
/// antialiased bilinear filter of make_resize_taps: rows first into a float buffer, then columns.
void resize_shorter(rgb_image & img, int size, std::vector<uint8_t> & scratch) {
    const int w = img.width, h = img.height;
    if (std::min(w, h) == size) return;
    int nw, nh;
    if (w <= h) { nw = size; nh = static_cast<int>(int64_t(size) * h / w); }
    else        { nh = size; nw = static_cast<int>(int64_t(size) * w / h); }
    nw = std::max(nw, 1);
    nh = std::max(nh, 1);
    const resize_taps tx = make_resize_taps(w, nw), ty = make_resize_taps(h, nh);
    std::vector<float> rows(size_t(h) * nw * 3);  // horizontally resized, full height
    const uint8_t * src = img.pixels.data();
    for (int y = 0; y < h; ++y) {
        const uint8_t * line = src + size_t(y) * w * 3;
        float * dst = rows.data() + size_t(y) * nw * 3;
        for (int x = 0; x < nw; ++x) {
            const float * wt = tx.weights.data() + size_t(x) * tx.width;
            const int x0 = tx.first[x], n = tx.count[x];
            float acc[3] = {0, 0, 0};
            for (int k = 0; k < n; ++k)
                for (int c = 0; c < 3; ++c) acc[c] += wt[k] * line[(x0 + k) * 3 + c];
            for (int c = 0; c < 3; ++c) dst[x * 3 + c] = acc[c];
        }
    }
    scratch.resize(size_t(nw) * nh * 3);
    const size_t row_len = size_t(nw) * 3;
    for (int y = 0; y < nh; ++y) {
        const float * wt = ty.weights.data() + size_t(y) * ty.width;
        const int y0 = ty.first[y], n = ty.count[y];
        uint8_t * dst = scratch.data() + size_t(y) * row_len;
        for (size_t i = 0; i < row_len; ++i) {
            float v = 0;
            for (int k = 0; k < n; ++k) v += wt[k] * rows[size_t(y0 + k) * row_len + i];
            dst[i] = static_cast<uint8_t>(std::min(255.0f, std::max(0.0f, v + 0.5f)));
        }
    }
    img.pixels.swap(scratch);
    img.width = nw;
    img.height = nh;
}

/// Center crop to crop x crop (offsets rounded down). Returns false if the image is too small.
bool center_crop(rgb_image & img, int crop) {
    if (img.width < crop || img.height < crop) return false;
    if (img.width == crop && img.height == crop) return true;
    const int ox = (img.width - crop) / 2, oy = (img.height - crop) / 2;
    for (int y = 0; y < crop; ++y)  // in place: destination rows never overtake source rows
        std::memmove(img.pixels.data() + size_t(y) * crop * 3,
                     img.pixels.data() + (size_t(y + oy) * img.width + ox) * 3, size_t(crop) * 3);
    img.pixels.resize(size_t(crop) * crop * 3);
    img.width = img.height = crop;
    return true;
}

// ---------------------------------------------------------------------------------- file listing

bool has_image_extension(const fs::path & p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

/// Sorted names of the entries of `dir` that are directories (want_dirs) or image files.
std::vector<std::string> list_sorted(const std::string & dir, bool want_dirs) {
    std::vector<std::string> names;
    std::error_code ec;
    fs::directory_iterator it(dir, ec), end;
    if (ec) fail(dir, "cannot list directory: " + ec.message());
    for (; it != end; it.increment(ec)) {
        if (ec) fail(dir, "cannot list directory: " + ec.message());
        const fs::path & p = it->path();
        std::string name = p.filename().string();
        if (name.empty() || name[0] == '.') continue;  // hidden files and folders
        std::error_code ec2;  // directory_entry caches the type readdir reports: no stat per file
        if (want_dirs ? it->is_directory(ec2) : (it->is_regular_file(ec2) && has_image_extension(p)))
            names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
}

/// Reads and decodes one file (format from its magic bytes), then resizes and crops it.
/// Returns an empty string on success, otherwise the problem.
std::string load_one(const std::string & path, const image_folder_options & opt, rgb_image & img,
                     std::vector<uint8_t> & file_buf, std::vector<uint8_t> & scratch) {
    std::FILE * f = std::fopen(path.c_str(), "rb");
    if (!f) return std::string("cannot open file: ") + std::strerror(errno);
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        std::fclose(f);
        return "not a regular file";
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size > max_image_file_bytes) {
        std::fclose(f);
        return "image file too large (" + std::to_string(size) + " bytes)";
    }
    file_buf.resize(size);
    const size_t got = size ? std::fread(file_buf.data(), 1, size, f) : 0;
    std::fclose(f);
    if (got != size) return "read error";
    const uint8_t * d = file_buf.data();
    const size_t n = file_buf.size();
    char err[320] = {0};
    bool ok;
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF)
        ok = decode_jpeg(d, n, img, err, sizeof err);
    else if (n >= 8 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0)
        ok = decode_png(d, n, img, err, sizeof err);
    else
        return n == 0 ? "empty image file" : "not a JPEG or PNG file (unknown magic bytes)";
    if (!ok) return err;
    if (opt.resize > 0) resize_shorter(img, opt.resize, scratch);
    if (opt.crop > 0 && !center_crop(img, opt.crop))
        return "image " + std::to_string(img.width) + "x" + std::to_string(img.height) + " is smaller than the crop " +
               std::to_string(opt.crop) + "x" + std::to_string(opt.crop);
    return "";
}

} // namespace

dataset load_image_folder(const std::string & root, split s, const image_folder_options & opt) {
    if (opt.resize < 0 || opt.crop < 0) fail(root, "image_folder_options: resize and crop must be >= 0");
    detail::require_dir(root, "image folder root");
    const std::string split_dir = root + "/" + (s == split::train ? "train" : "test");
    detail::require_dir(split_dir, "split directory");

    // Enumerate classes and files.
    dataset d;
    d.class_names = list_sorted(split_dir, true);
    if (d.class_names.empty()) fail(split_dir, "no class directories");
    // Classes interleaved (the first image of every class, then the second, ...), so that the first N
    // images of a split (--limit, --limit-test) hold every class in proportion, not just the first ones.
    std::vector<std::vector<std::string>> per_class(d.class_names.size());
    size_t longest = 0;
    for (size_t c = 0; c < d.class_names.size(); ++c) {
        const std::string cdir = split_dir + "/" + d.class_names[c];
        per_class[c] = list_sorted(cdir, false);
        if (per_class[c].empty()) fail(cdir, "empty class directory (no .jpg/.jpeg/.png images)");
        longest = std::max(longest, per_class[c].size());
    }
    std::vector<std::string> files;
    std::vector<int64_t> labels;
    for (size_t r = 0; r < longest; ++r) {
        for (size_t c = 0; c < per_class.size(); ++c) {
            if (r < per_class[c].size()) {
                files.push_back(split_dir + "/" + d.class_names[c] + "/" + per_class[c][r]);
                labels.push_back(static_cast<int64_t>(c));
            }
        }
    }
    d.num_classes = static_cast<int64_t>(d.class_names.size());
    const int64_t n = static_cast<int64_t>(files.size());

    // Decode in parallel: `threads` tasks pull images from a shared counter (balances uneven sizes).
    std::vector<rgb_image> images(n);
    std::vector<std::string> errors(n);
    int threads = opt.threads > 0 ? std::min(opt.threads, at::get_num_threads()) : at::get_num_threads();
    threads = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n)));
    std::atomic<int64_t> next{0};
    std::atomic<bool> failed{false};
    at::parallel_for(0, threads, 1, [&](int64_t, int64_t) {
        std::vector<uint8_t> file_buf, scratch;
        for (int64_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) {
            errors[i] = load_one(files[i], opt, images[i], file_buf, scratch);
            if (!errors[i].empty()) failed = true;
            images[i].rows = {};
        }
    });
    for (int64_t i = 0; i < n; ++i)
        if (!errors[i].empty()) fail(files[i], errors[i]);

    // All images must share one size (guaranteed with crop).
    const int h = images[0].height, w = images[0].width;
    for (int64_t i = 1; i < n; ++i)
        if (images[i].height != h || images[i].width != w)
            fail(files[i], "image size " + std::to_string(images[i].width) + "x" + std::to_string(images[i].height) +
                               " differs from " + std::to_string(w) + "x" + std::to_string(h) + " of " + files[0] +
                               " (set a crop to mix sizes)");

    // HWC -> CHW into the output tensor, in parallel, freeing the buffers as we go.
    d.images = at::empty({n, 3, h, w}, at::kByte);
    d.labels = at::from_blob(labels.data(), {n}, at::kLong).clone();
    uint8_t * out = d.images.data_ptr<uint8_t>();
    const size_t plane = size_t(h) * w;
    at::parallel_for(0, n, 64, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const uint8_t * src = images[i].pixels.data();
            uint8_t * dst = out + size_t(i) * 3 * plane;
            for (size_t p = 0; p < plane; ++p) {
                dst[p] = src[3 * p];
                dst[plane + p] = src[3 * p + 1];
                dst[2 * plane + p] = src[3 * p + 2];
            }
            std::vector<uint8_t>().swap(images[i].pixels);
        }
    });
    return d;
}

} // namespace snnkit
