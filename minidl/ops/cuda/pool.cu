// Max and average pooling, forward and backward, on channels-last (NHWC) arrays.
//
// x is the *unpadded* input [n, H, W, C]; the border (pad_top, pad_left, and whatever the output
// size implies at the bottom/right) is handled by bounds checks instead of a padded copy. Window
// (oy, ox), kernel tap (i, j) = tap number t = i * kw + j reads input pixel
// (oy * sy + i * dy - pad_top, ox * sx + j * dx - pad_left). The semantics are those of
// minidl/ops/pooling.py: max pooling treats the border as -inf and keeps the first tap on ties;
// average pooling divides by KH*KW (include_pad) or by the number of real pixels under the window.
//
// The backward kernels gather: one thread per input pixel and channel loops over the windows
// that contain it. No atomics, a fixed sum order, deterministic results.

// The output pixels whose windows see input pixel y (padded coordinate py = y + pad) through tap
// row i: oy = (py - i * d) / s when that divides exactly and lies in [0, out).
__device__ __forceinline__ int source_window(int py, int i, int d, int s, int out) {
    const int t = py - i * d;
    if (t < 0 || t % s != 0 || t / s >= out) return -1;
    return t / s;
}

template <typename T>
__global__ void max_pool_forward_nhwc(const T* __restrict__ x, T* __restrict__ y,
                                      unsigned char* __restrict__ argmax, long long total,
                                      int h, int w, int c, int oh, int ow, int kh, int kw,
                                      int sy, int sx, int dy, int dx, int pad_top, int pad_left) {
    GRID_STRIDE_LOOP(idx, total) {
        const Pixel p = nhwc_pixel(idx, oh, ow, c);
        const int ch = p.ch, ox = p.x, oy = p.y;
        const long long b = p.b;
        typedef Arithmetic<T> A;
        A best = negative_infinity<A>();
        int best_tap = 0;
        for (int i = 0; i < kh; ++i) {
            const int yy = oy * sy + i * dy - pad_top;
            for (int j = 0; j < kw; ++j) {
                const int xx = ox * sx + j * dx - pad_left;
                const bool inside = yy >= 0 && yy < h && xx >= 0 && xx < w;
                const A v = inside ? A(x[((b * h + yy) * w + xx) * c + ch])
                                   : negative_infinity<A>();
                // Strictly greater: on ties the earlier tap wins (tap 0 starts as the best).
                if ((i == 0 && j == 0) || v > best) {
                    best = v;
                    best_tap = i * kw + j;
                }
            }
        }
        y[idx] = best;
        if (argmax != nullptr) argmax[idx] = (unsigned char)best_tap;
    }
}

// Sum, over every window (oy, ox) that sees input pixel (yy, xx) through tap t, of
// share(oy, ox, t): the gradient that window sends back to this pixel. Both backward kernels
// are this loop with a different share.
template <typename T, typename Share>
__device__ __forceinline__ T gather_windows(int yy, int xx, int oh, int ow, int kh, int kw,
                                            int sy, int sx, int dy, int dx, int pad_top,
                                            int pad_left, Share share) {
    T sum = 0;
    for (int i = 0; i < kh; ++i) {
        const int oy = source_window(yy + pad_top, i, dy, sy, oh);
        if (oy < 0) continue;
        for (int j = 0; j < kw; ++j) {
            const int ox = source_window(xx + pad_left, j, dx, sx, ow);
            if (ox >= 0) sum += share(oy, ox, i * kw + j);
        }
    }
    return sum;
}

template <typename T>
__global__ void max_pool_backward_nhwc(const T* __restrict__ gy,
                                       const unsigned char* __restrict__ argmax,
                                       T* __restrict__ gx, long long total,
                                       int h, int w, int c, int oh, int ow, int kh, int kw,
                                       int sy, int sx, int dy, int dx, int pad_top, int pad_left) {
    GRID_STRIDE_LOOP(idx, total) {
        const Pixel p = nhwc_pixel(idx, h, w, c);
        const int ch = p.ch, xx = p.x, yy = p.y;
        const long long b = p.b;
        gx[idx] = gather_windows<T>(yy, xx, oh, ow, kh, kw, sy, sx, dy, dx, pad_top, pad_left,
                                    [&](int oy, int ox, int t) {
            const long long o = ((b * oh + oy) * ow + ox) * c + ch;
            return argmax[o] == t ? gy[o] : (T)0;  // only the window this pixel won
        });
    }
}

// The divisor of window (oy, ox): KH*KW, or the number of its taps that land inside the image.
__device__ __forceinline__ int window_count(int oy, int ox, int h, int w, int kh, int kw,
                                            int sy, int sx, int dy, int dx,
                                            int pad_top, int pad_left, bool include_pad) {
    if (include_pad) return kh * kw;
    int rows = 0, cols = 0;
    for (int i = 0; i < kh; ++i) {
        const int yy = oy * sy + i * dy - pad_top;
        rows += yy >= 0 && yy < h;
    }
    for (int j = 0; j < kw; ++j) {
        const int xx = ox * sx + j * dx - pad_left;
        cols += xx >= 0 && xx < w;
    }
    return rows * cols;
}

template <typename T>
__global__ void avg_pool_forward_nhwc(const T* __restrict__ x, T* __restrict__ y, long long total,
                                      int h, int w, int c, int oh, int ow, int kh, int kw,
                                      int sy, int sx, int dy, int dx, int pad_top, int pad_left,
                                      bool include_pad) {
    GRID_STRIDE_LOOP(idx, total) {
        const Pixel p = nhwc_pixel(idx, oh, ow, c);
        const int ch = p.ch, ox = p.x, oy = p.y;
        const long long b = p.b;
        Arithmetic<T> sum = 0;
        for (int i = 0; i < kh; ++i) {
            const int yy = oy * sy + i * dy - pad_top;
            if (yy < 0 || yy >= h) continue;
            for (int j = 0; j < kw; ++j) {
                const int xx = ox * sx + j * dx - pad_left;
                if (xx >= 0 && xx < w) sum += x[((b * h + yy) * w + xx) * c + ch];
            }
        }
        const int count = window_count(oy, ox, h, w, kh, kw, sy, sx, dy, dx, pad_top,
                                       pad_left, include_pad);
        y[idx] = sum / (Arithmetic<T>)count;
    }
}

template <typename T>
__global__ void avg_pool_backward_nhwc(const T* __restrict__ gy, T* __restrict__ gx,
                                       long long total, int h, int w, int c, int oh, int ow,
                                       int kh, int kw, int sy, int sx, int dy, int dx,
                                       int pad_top, int pad_left, bool include_pad) {
    GRID_STRIDE_LOOP(idx, total) {
        const Pixel p = nhwc_pixel(idx, h, w, c);
        const int ch = p.ch, xx = p.x, yy = p.y;
        const long long b = p.b;
        gx[idx] = gather_windows<T>(yy, xx, oh, ow, kh, kw, sy, sx, dy, dx, pad_top, pad_left,
                                    [&](int oy, int ox, int) {
            // Every pixel of a window gets the same share of its gradient.
            return gy[((b * oh + oy) * ow + ox) * c + ch] /
                   (T)window_count(oy, ox, h, w, kh, kw, sy, sx, dy, dx, pad_top, pad_left,
                                   include_pad);
        });
    }
}
