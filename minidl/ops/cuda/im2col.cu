// im2col and col2im for channels-last (NHWC) arrays, as minidl/ops/window.py defines them.
//
// xpad is the padded input [n, Hp, Wp, C]; col holds every window as
// [n, rows, OW, KH, KW, C]: output pixel (oy, ox), kernel tap (i, j), channel ch reads padded
// pixel ((oy0 + oy) * sy + i * dy, ox * sx + j * dx). One thread per element of the output
// array, consecutive threads on consecutive channels, so reads and writes are coalesced.

template <typename T>
__global__ void im2col_nhwc(const T* __restrict__ xpad, T* __restrict__ col, long long total,
                            int hp, int wp, int c, int rows, int ow, int kh, int kw,
                            int sy, int sx, int dy, int dx, int oy0) {
    GRID_STRIDE_LOOP(idx, total) {
        long long r = idx;
        const int ch = r % c;   r /= c;
        const int j = r % kw;   r /= kw;
        const int i = r % kh;   r /= kh;
        const int ox = r % ow;  r /= ow;
        const int oy = r % rows;
        const long long b = r / rows;
        const int y = (oy0 + oy) * sy + i * dy;
        const int x = ox * sx + j * dx;
        col[idx] = xpad[((b * hp + y) * wp + x) * c + ch];
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
