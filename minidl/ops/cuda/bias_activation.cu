// Fused bias + activation: y = f(z + b) in one pass over memory, and its backward.
//
// z and y are contiguous [rows, n_out] (a dense layer's output, or a conv output channels-last:
// [N*OH*OW, n_out]), so the bias of element idx is b[idx % n_out]. The derivative is written in
// terms of the output y (as in minidl/ops/activations.py), so the backward needs only y and gy,
// not z: relu' = [y > 0], sigmoid' = y (1 - y), tanh' = 1 - y^2, leakyrelu' = 1 or alpha,
// elu' = 1 or y + alpha (both valid for alpha > 0, where the sign of y is the sign of z),
// relu6' = [0 < y < 6], hardsigmoid' = 0.2 [0 < y < 1]. Swish and hardswish are the exception:
// not one-to-one, so their backward is handed z in place of y (see ACT_SWISH).

// Activation codes; minidl/ops/cuda/__init__.py holds the same table (ACTIVATIONS).
#define ACT_IDENTITY 0
#define ACT_RELU 1
#define ACT_SIGMOID 2
#define ACT_TANH 3
#define ACT_LEAKYRELU 4
#define ACT_ELU 5
#define ACT_RELU6 6
#define ACT_HARDSIGMOID 7
// From here on derivative_from_output reads z, not y (minidl/ops/activations.py NEEDS_INPUT).
#define ACT_SWISH 8
#define ACT_HARDSWISH 9

template <typename T> __device__ __forceinline__ T clamp(T v, T lo, T hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

// 0.5 (1 + tanh(z / 2)) is the logistic function without overflow for large |z|.
template <typename T> __device__ __forceinline__ T logistic(T z) {
    return T(0.5) * (T(1) + tanh(T(0.5) * z));
}

template <typename T> __device__ __forceinline__ T activate(T z, int act, T alpha) {
    switch (act) {
        case ACT_RELU: return z > T(0) ? z : T(0);
        case ACT_SIGMOID: return logistic(z);
        case ACT_TANH: return tanh(z);
        case ACT_LEAKYRELU: return z > T(0) ? z : alpha * z;
        case ACT_ELU: return z > T(0) ? z : alpha * expm1(z);
        case ACT_RELU6: return clamp(z, T(0), T(6));
        case ACT_HARDSIGMOID: return clamp(T(0.2) * z + T(0.5), T(0), T(1));  // DL4J's
        case ACT_SWISH: return z * logistic(z);
        case ACT_HARDSWISH: return z * clamp(z + T(3), T(0), T(6)) / T(6);
        default: return z;
    }
}

template <typename T> __device__ __forceinline__ T derivative_from_output(T y, int act, T alpha) {
    switch (act) {
        case ACT_RELU: return y > T(0) ? T(1) : T(0);
        case ACT_SIGMOID: return y * (T(1) - y);
        case ACT_TANH: return T(1) - y * y;
        case ACT_LEAKYRELU: return y > T(0) ? T(1) : alpha;
        case ACT_ELU: return y > T(0) ? T(1) : y + alpha;
        case ACT_RELU6: return y > T(0) && y < T(6) ? T(1) : T(0);
        case ACT_HARDSIGMOID: return y > T(0) && y < T(1) ? T(0.2) : T(0);
        case ACT_SWISH: {  // y is z here: s (1 + z (1 - s))
            const T s = logistic(y);
            return s * (T(1) + y * (T(1) - s));
        }
        case ACT_HARDSWISH:  // y is z here
            return y < T(-3) ? T(0) : (y > T(3) ? T(1) : (T(2) * y + T(3)) / T(6));
        default: return T(1);
    }
}

// y = f(z + b); b may be null (no bias). y may be z itself (in place). In float for half16.
template <typename T>
__global__ void bias_activation_forward(const T* z, const T* __restrict__ b, T* y,
                                        long long total, int n_out, int act,
                                        Arithmetic<T> alpha) {
    typedef Arithmetic<T> A;
    GRID_STRIDE_LOOP(idx, total) {
        const A v = b != nullptr ? A(z[idx]) + A(b[idx % n_out]) : A(z[idx]);
        y[idx] = activate(v, act, alpha);
    }
}

// gz = gy * f'(z + b), from the forward's output y (from z + b itself for swish, hardswish).
// The bias gradient is gz summed over rows, which the caller does with a library reduction.
template <typename T>
__global__ void bias_activation_backward(const T* __restrict__ y, const T* __restrict__ gy,
                                         T* __restrict__ gz, long long total, int act, T alpha) {
    GRID_STRIDE_LOOP(idx, total) {
        gz[idx] = gy[idx] * derivative_from_output(y[idx], act, alpha);
    }
}
