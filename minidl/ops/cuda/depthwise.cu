// Depthwise convolution on channels-last (NHWC) arrays, forward and backward, as
// minidl/ops/depthwise.py defines it.
//
// x is the *unpadded* input [n, H, W, C] (the border is handled by bounds checks, as in pool.cu),
// weight is [KH, KW, C, m] (DL4J's layout), y and gy are [n, OH, OW, C*m]. Output channel
// oc = c*m + k of output pixel (oy, ox) is the sum over taps (i, j) of
//     x[b, oy*sy + i*dy - pad_top, ox*sx + j*dx - pad_left, c] * weight[i, j, c, k]
// and weight[i, j, c, k] lies at (i*KW + j) * C*m + oc: for one tap, consecutive output channels
// read consecutive weights, as they read consecutive pixels of x and gy. Every kernel gives
// consecutive threads consecutive channels, so all their reads are coalesced.

// The input pixel (yy, xx) that tap (i, j) of output pixel (oy, ox) reads, or false when the tap
// falls on the border.
__device__ __forceinline__ bool depthwise_tap(int oy, int ox, int i, int j, int h, int w, int sy,
                                              int sx, int dy, int dx, int pad_top, int pad_left,
                                              int* yy, int* xx) {
    *yy = oy * sy + i * dy - pad_top;
    *xx = ox * sx + j * dx - pad_left;
    return *yy >= 0 && *yy < h && *xx >= 0 && *xx < w;
}

template <typename T>
__global__ void depthwise_forward_nhwc(const T* __restrict__ x, const T* __restrict__ weight,
                                       T* __restrict__ y, long long total, int h, int w, int c,
                                       int m, int oh, int ow, int kh, int kw, int sy, int sx,
                                       int dy, int dx, int pad_top, int pad_left) {
    const int cm = c * m;
    GRID_STRIDE_LOOP(idx, total) {
        const Pixel p = nhwc_pixel(idx, oh, ow, cm);
        const int ch = p.ch / m;  // the input channel of output channel p.ch
        Arithmetic<T> sum = 0;
        for (int i = 0; i < kh; ++i) {
            for (int j = 0; j < kw; ++j) {
                int yy, xx;
                if (depthwise_tap(p.y, p.x, i, j, h, w, sy, sx, dy, dx, pad_top, pad_left, &yy,
                                  &xx))
                    sum += Arithmetic<T>(x[((p.b * h + yy) * w + xx) * c + ch]) *
                           Arithmetic<T>(weight[(i * kw + j) * cm + p.ch]);
            }
        }
        y[idx] = sum;
    }
}

// gx[b, yy, xx, c] = sum over the output pixels (oy, ox) whose tap (i, j) read (yy, xx), and over
// k, of gy[b, oy, ox, c*m + k] * weight[i, j, c, k]. A gather: one thread per input number, no
// atomics, a fixed sum order (deterministic). Output row oy meets padded row yy + pad_top through
// tap row i when yy + pad_top - i*dy = oy*sy for an oy in [0, OH); likewise for columns.
template <typename T>
__global__ void depthwise_backward_input_nhwc(const T* __restrict__ gy,
                                              const T* __restrict__ weight, T* __restrict__ gx,
                                              long long total, int h, int w, int c, int m, int oh,
                                              int ow, int kh, int kw, int sy, int sx, int dy,
                                              int dx, int pad_top, int pad_left) {
    const int cm = c * m;
    GRID_STRIDE_LOOP(idx, total) {
        const Pixel p = nhwc_pixel(idx, h, w, c);
        T sum = 0;
        for (int i = 0; i < kh; ++i) {
            const int ty = p.y + pad_top - i * dy;
            if (ty < 0 || ty % sy != 0 || ty / sy >= oh) continue;
            const int oy = ty / sy;
            for (int j = 0; j < kw; ++j) {
                const int tx = p.x + pad_left - j * dx;
                if (tx < 0 || tx % sx != 0 || tx / sx >= ow) continue;
                const int ox = tx / sx;
                const T* g = gy + ((p.b * oh + oy) * ow + ox) * cm + p.ch * m;
                const T* wt = weight + (i * kw + j) * cm + p.ch * m;
                for (int k = 0; k < m; ++k) sum += g[k] * wt[k];
            }
        }
        gx[idx] = sum;
    }
}

// The weight gradient in two steps: this kernel sums over one chunk of output positions,
//     partial[chunk, i, j, oc] = sum over the chunk's positions q of
//                                x[tap (i, j) of q, oc / m] * gy[q, oc]
// (q = (b*OH + oy)*OW + ox; chunks of `chunk` consecutive positions), and the caller adds the
// chunks up with a library reduction. Summing all positions in one thread per weight would
// leave a GPU mostly idle: a 3x3 layer of 144 channels has only 1296 weights.
template <typename T>
__global__ void depthwise_weight_partial_nhwc(const T* __restrict__ x, const T* __restrict__ gy,
                                              T* __restrict__ partial, long long total, int h,
                                              int w, int c, int m, int oh, int ow, int kh,
                                              int kw, int sy, int sx, int dy, int dx,
                                              int pad_top, int pad_left, long long positions,
                                              int chunk) {
    const int cm = c * m;
    GRID_STRIDE_LOOP(idx, total) {  // total = chunks * KH * KW * C*m
        long long s = idx;
        const int oc = (int)(s % cm);  s /= cm;
        const int j = (int)(s % kw);   s /= kw;
        const int i = (int)(s % kh);
        const long long q0 = (s / kh) * chunk;
        const long long q1 = q0 + chunk < positions ? q0 + chunk : positions;
        // (b, oy, ox) of position q0, then stepped along with q (no division per position)
        int ox = (int)(q0 % ow), oy = (int)((q0 / ow) % oh);
        long long b = q0 / ((long long)ow * oh);
        T sum = 0;
        for (long long q = q0; q < q1; ++q) {
            int yy, xx;
            if (depthwise_tap(oy, ox, i, j, h, w, sy, sx, dy, dx, pad_top, pad_left, &yy, &xx))
                sum += x[((b * h + yy) * w + xx) * c + oc / m] * gy[q * cm + oc];
            if (++ox == ow) {
                ox = 0;
                if (++oy == oh) {
                    oy = 0;
                    ++b;
                }
            }
        }
        partial[idx] = sum;
    }
}
