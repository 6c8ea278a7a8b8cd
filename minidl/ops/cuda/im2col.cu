// im2col and col2im for channels-last (NHWC) arrays, as minidl/ops/window.py defines them.
//
// xpad is the padded input [n, Hp, Wp, C]; col holds every window as
// [n, rows, OW, KH, KW, C]: output pixel (oy, ox), kernel tap (i, j), channel ch reads padded
// pixel ((oy0 + oy) * sy + i * dy, ox * sx + j * dx).

// im2col copies segments: a segment is the KW*C numbers of one kernel row i of one window,
// col[b, oy, ox, i, :, :]. Without dilation (dx = 1) they are one contiguous run of a padded row
// of xpad as well, so the copy is a memcpy. A group of 2^lane_bits threads shares a segment
// (32, a warp, unless a segment is shorter), consecutive threads on consecutive numbers, so
// reads and writes are coalesced; and the index arithmetic (integer division is slow on a GPU,
// tens of instructions) is done once per segment rather than once per number, which made the
// kernel compute-bound (measured on an H200: VGG16's block1_conv2 went from 12.6 to 5.2 ms).
template <typename T>
__global__ void im2col_nhwc(const T* __restrict__ xpad, T* __restrict__ col, long long total,
                            int hp, int wp, int c, int rows, int ow, int kh, int kw,
                            int sy, int sx, int dy, int dx, int oy0, int lane_bits) {
    const int run = kw * c;  // numbers per segment
    const int lanes = 1 << lane_bits;
    GRID_STRIDE_LOOP(idx, total) {  // total = segments * lanes
        const long long segment = idx >> lane_bits;
        const int lane = (int)(idx & (lanes - 1));
        long long s = segment;
        const int i = (int)(s % kh);    s /= kh;
        const int ox = (int)(s % ow);   s /= ow;
        const int oy = (int)(s % rows);
        const long long b = s / rows;
        const int y = (oy0 + oy) * sy + i * dy;
        const T* src = xpad + ((b * hp + y) * wp + (long long)ox * sx) * c;  // tap (i, 0), ch 0
        T* dst = col + segment * run;
        if (dx == 1) {
            for (int k = lane; k < run; k += lanes) dst[k] = src[k];
        } else {
            for (int k = lane; k < run; k += lanes) {
                const int j = k / c;
                dst[k] = src[j * dx * c + (k - j * c)];
            }
        }
    }
}

// The adjoint: every padded pixel sums the column entries that were read from it. Written as a
// gather (one thread per padded pixel and channel, looping over the taps that can reach it)
// rather than a scatter, so no atomics are needed and the sum order is fixed (tap order, as on
// the CPU): results are deterministic.
template <typename T>
__global__ void col2im_nhwc(const T* __restrict__ col, T* __restrict__ xpad, long long total,
                            int hp, int wp, int c, int oh, int ow, int kh, int kw,
                            int sy, int sx, int dy, int dx) {
    GRID_STRIDE_LOOP(idx, total) {
        const Pixel p = nhwc_pixel(idx, hp, wp, c);
        const int ch = p.ch, x = p.x, y = p.y;
        const long long b = p.b;
        T sum = 0;
        for (int i = 0; i < kh; ++i) {
            const int ty = y - i * dy;  // = oy * sy if output row oy meets y through tap row i
            if (ty < 0) break;
            if (ty % sy != 0 || ty / sy >= oh) continue;
            const int oy = ty / sy;
            for (int j = 0; j < kw; ++j) {
                const int tx = x - j * dx;
                if (tx < 0) break;
                if (tx % sx != 0 || tx / sx >= ow) continue;
                const int ox = tx / sx;
                sum += col[((((b * oh + oy) * ow + ox) * kh + i) * kw + j) * c + ch];
            }
        }
        xpad[idx] = sum;
    }
}
