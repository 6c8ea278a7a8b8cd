// Softmax over the rows of [n, k] (classes along the contiguous axis), its backward, and softmax
// fused with cross-entropy, as minidl/ops/activations.py (Softmax) and minidl/ops/losses.py
// (SoftmaxCrossEntropy) define them.
//
// One block of ROW_BLOCK threads per row: the threads stride over the row's k classes and
// combine their partial max / sums in shared memory (block_max, block_sum in common.cuh).

// p[row] = exp(z - max) / sum(exp(z - max)); returns log of the sum, for the loss. In float
// for half16 (buf holds Arithmetic<T>).
template <typename T>
__device__ Arithmetic<T> softmax_row(const T* z, T* p, int k, Arithmetic<T>* buf) {
    typedef Arithmetic<T> A;
    A m = negative_infinity<A>();
    for (int c = threadIdx.x; c < k; c += blockDim.x) m = A(z[c]) > m ? A(z[c]) : m;
    m = block_max(m, buf);
    // Subtracting the row maximum leaves softmax unchanged and keeps exp() from overflowing.
    A s = 0;
    for (int c = threadIdx.x; c < k; c += blockDim.x) s += exp(A(z[c]) - m);
    const A log_z = log(block_sum(s, buf));
    for (int c = threadIdx.x; c < k; c += blockDim.x) p[c] = exp(A(z[c]) - m - log_z);
    return m + log_z;
}

template <typename T>
__global__ void softmax_forward(const T* __restrict__ z, T* __restrict__ p, int n, int k) {
    __shared__ Arithmetic<T> buf[ROW_BLOCK];
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        softmax_row(z + row * k, p + row * k, k, buf);
    }
}

// Jacobian-vector product of softmax: gz = p * (gy - <gy, p>), row by row.
template <typename T>
__global__ void softmax_backward(const T* __restrict__ p, const T* __restrict__ gy,
                                 T* __restrict__ gz, int n, int k) {
    __shared__ T buf[ROW_BLOCK];
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        const T* pr = p + row * k;
        const T* gr = gy + row * k;
        T dot = 0;
        for (int c = threadIdx.x; c < k; c += blockDim.x) dot += gr[c] * pr[c];
        dot = block_sum(dot, buf);
        for (int c = threadIdx.x; c < k; c += blockDim.x) gz[row * k + c] = pr[c] * (gr[c] - dot);
    }
}

// p = softmax(z) and row_loss[row] = -sum(labels * log p) = sum(labels) * logsumexp(z) -
// sum(labels * z), the log-probabilities never formed (no log of a tiny p).
template <typename T>
__global__ void softmax_xent_forward(const T* __restrict__ z, const T* __restrict__ labels,
                                     T* __restrict__ p, T* __restrict__ row_loss, int n, int k) {
    __shared__ T buf[ROW_BLOCK];
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        const T* zr = z + row * k;
        const T* yr = labels + row * k;
        const T lse = softmax_row(zr, p + row * k, k, buf);
        T part = 0;
        for (int c = threadIdx.x; c < k; c += blockDim.x) part += yr[c] * (lse - zr[c]);
        part = block_sum(part, buf);
        if (threadIdx.x == 0) row_loss[row] = part;
    }
}

// gz = g * (p * sum(labels) - labels) / n: the gradient of the batch loss sum(row_loss) / n
// scaled by the upstream gradient g (a scalar on the device, *gy).
template <typename T>
__global__ void softmax_xent_backward(const T* __restrict__ p, const T* __restrict__ labels,
                                      const T* __restrict__ gy, T* __restrict__ gz, int n, int k) {
    __shared__ T buf[ROW_BLOCK];
    const T scale = gy[0] / T(n);
    for (long long row = blockIdx.x; row < n; row += gridDim.x) {
        const T* yr = labels + row * k;
        T total = 0;
        for (int c = threadIdx.x; c < k; c += blockDim.x) total += yr[c];
        total = block_sum(total, buf);
        for (int c = threadIdx.x; c < k; c += blockDim.x)
            gz[row * k + c] = scale * (p[row * k + c] * total - yr[c]);
    }
}
