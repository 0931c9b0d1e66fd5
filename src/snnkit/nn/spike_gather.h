// snnkit/nn/spike_gather.h: convolution of binary spikes by gathering weight rows, for CPUs without matrix units.
//
// A spike input holds, per channel, 0 or one amplitude a_c, so each output position of a convolution is the sum,
// over the active inputs under its kernel, of the weight row a_c * W[:, c, i, j]. Here the spikes are packed as
// bits, C bits per position, channels last, so the kw positions one kernel row covers are kw * C contiguous bits;
// each output position walks the set bits of its kh spans and adds their rows into accumulators that stay in
// registers (output-stationary: no scatter, no transposes, channels-last in and out). The work is the number of
// spikes times O, against C kh kw O multiply-adds for the dense kernel: bench/bench_sparse.cpp measures the
// firing rate below which it wins, and the SNN executor picks it per layer and call from the measured rate
// (spike_gather_wins). The sums are the float sums of the same products in another order (equal to at::conv2d up to
// that order).
#pragma once

#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <mutex>
#include <vector>

namespace snnkit {

// The weight rows: weight [O, C, kh, kw] with the amplitudes amp folded in (undefined: 1; one value; or [C]) and
// scaled by `scale` (1 / k^2 for spikes average-pooled over k x k windows, spike_gather_pool.h) as [kh, kw * Cp, Op]
// float, row (i, j * Cp + c) = scale * amp_c * weight[:, c, i, j], where Cp = 8 * ceil(C / 8) (a position's bits
// fill whole bytes) and Op = O rounded up to 16 (one vector); zero rows and columns in the padding.
at::Tensor spike_gather_rows(const at::Tensor & weight, const at::Tensor & amp, double scale = 1.0);

// Spikes packed as bits: [N, H, pad_left + W + pad_right, Cv / 8] bytes, Cv = 8 * ceil(C * group / 8). group 1
// (spike_gather_pack): bit c of a position's bytes = [x != 0] of channel c. group g > 1 (spikes average-pooled over
// windows of g positions, spike_gather_pool_pack): bit c g + s = the spike of channel c at the window's s-th
// position, so the pooled value is the window's set bits of the channel times amp_c / g. Zero in the padding
// columns; `ones` counts the set bits.
struct spike_bits {
    /// uint8 [N, H, Wp, Cv / 8], with 8 spare bytes after it (the plain kernel reads whole 64-bit words)
    at::Tensor bits;
    int64_t C = 0, pad_left = 0;
    /// bits per channel and position: 1, or the pooling window's positions
    int64_t group = 1;
    /// set bits: the input's number of spikes
    int64_t ones = 0;
};

// x [N, C, H, W] float, any layout (channels last is read as it lies; other layouts are copied to it first).
// portable: the plain loops instead of the AVX-512 ones (both are tested against each other).
spike_bits spike_gather_pack(const at::Tensor & x, int64_t pad_left, int64_t pad_right, bool portable = false);

// One row of W positions of C channels (x channels last, contiguous) into W * ceil(C / 8) bytes at dst (zeroed), as
// spike_gather_pack packs a row; returns the set bits. portable: as spike_gather_pack.
int64_t spike_gather_pack_row(const float * x, int64_t W, int64_t C, uint8_t * dst, bool portable = false);

// conv2d (groups 1, dilation 1) of the packed spikes with rows from spike_gather_rows and bias [O] (may be
// undefined): [N, O, OH, OW] float with channels-last strides. The packing's padding must cover the convolution's:
// pad_left = padding[1] and pad_right at least spike_gather_pad_right(...). portable: as spike_gather_pack.
at::Tensor spike_gather_conv2d(const spike_bits & x, int64_t H, int64_t W, const at::Tensor & rows, int64_t O,
                               const at::Tensor & bias, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                               std::array<int64_t, 2> padding, bool portable = false);

// The right padding, in positions, that spike_gather_conv2d reads past W for this geometry (0 if none).
int64_t spike_gather_pad_right(int64_t W, int64_t kernel_w, int64_t stride_w, int64_t padding_w);

// The shapes of a convolution of packed spikes (bits [N, H, Wp, Cb]) into O outputs, Op = O rounded up to 16; group
// bits per channel (spike_bits::group), whose rows' Cp = Cr.
struct spike_gather_shape {
    int64_t N, H, W, Wp, Cb, O, Op, kh, kw, sh, sw, ph, OH, OW, group, Cr;
};

// The shapes of conv2d of the packed spikes x (H x W) with a kernel, stride and padding, checked against the packing
// (H, the padding it holds); fails naming `what`.
spike_gather_shape spike_gather_shape_of(const spike_bits & x, int64_t H, int64_t W, int64_t O,
                                         std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                                         std::array<int64_t, 2> padding, const char * what);

// bias [O] (may be undefined: zeros) as Op floats, zeros past O; fails naming `what` when it has not O values.
at::Tensor spike_gather_bias(const at::Tensor & bias, int64_t O, int64_t Op, const char * what);

// All three in one: conv2d of x [N, C, H, W] (values 0 or the channel's amplitude amp) with weight [O, C, kh, kw].
at::Tensor spike_gather_conv2d(const at::Tensor & x, const at::Tensor & weight, const at::Tensor & amp,
                               const at::Tensor & bias, std::array<int64_t, 2> kernel, std::array<int64_t, 2> stride,
                               std::array<int64_t, 2> padding, bool portable = false);

// Weight rows made once per layer and reused across calls (eval's batches, a benchmark's repetitions), keyed on the
// weight and amplitude tensors (held, so their identity cannot pass to another tensor) and their version counters
// (changing either in place makes the rows again). Tensors without a version counter (inference tensors) get rows
// made on every call. Thread-safe.
class spike_gather_cache {
  public:
    /// spike_gather_rows(weight, amp, 1 / group): group 1 for spikes, the window's positions for pooled spikes
    at::Tensor rows(const at::Tensor & weight, const at::Tensor & amp, int64_t group = 1);
    /// spike_gather_table of those rows (spike_gather_table.h)
    at::Tensor table(const at::Tensor & weight, const at::Tensor & amp);
    /// layers whose rows or table were made (again)
    int64_t preparations() const {
        std::lock_guard<std::mutex> lock(mu_);
        return preparations_;
    }

  private:
    struct entry {
        at::Tensor weight, amp, rows, table;
        int64_t weight_version = 0, amp_version = 0, group = 1;
    };
    at::Tensor get(const at::Tensor & weight, const at::Tensor & amp, bool table, int64_t group);
    std::vector<entry> entries_;
    int64_t preparations_ = 0;
    mutable std::mutex mu_;
};

// Whether gathering is expected to beat the dense float convolution for a layer of out_channels outputs whose input
// has this fraction of nonzero values (below the crossovers bench/bench_sparse.cpp measured; see spike_gather.cpp).
// pooled: the input is spikes average-pooled over windows (spike_gather_pool.h) and rate their spikes per pooled
// value (set bits / (N C H' W')), the gather after its packing against the average pooling and the dense
// convolution together (the executor decides once the spikes are packed).
bool spike_gather_wins(double rate, int64_t out_channels, bool pooled = false);

} // namespace snnkit
