// One training step of a parameter in one pass: w -= update, the updater's state advanced.
//
// The NumPy code (minidl/learning/updaters.py) makes one pass over memory per operation, and on
// a GPU each pass is a kernel launch: Adam's step is ten of them per parameter, which for a
// small head (fit_featurized's) costs more than the arithmetic. Here each updater is one kernel.
//
// Every kernel computes in the order the NumPy code does, operation by operation, and this file
// is compiled with --fmad=false (minidl/ops/cuda/__init__.py OPTIONS): no multiply-add is fused
// into one rounding, so each number comes out bit for bit as NumPy's float32 (or float64)
// arithmetic gives it. The scalars arrive already rounded to T, as NumPy rounds a Python float
// against a float32 array. The formulas (DL4J's) are in updaters.py's table.

// Sgd: w -= lr g.
template <typename T>
__global__ void sgd_step(T* w, const T* g, long long total, T lr) {
    GRID_STRIDE_LOOP(i, total) { w[i] = w[i] - g[i] * lr; }
}

// Nesterovs: v' = mu v - lr g;  w -= mu v - (1 + mu) v'.
template <typename T>
__global__ void nesterov_step(T* w, const T* g, T* v, long long total, T lr, T mu,
                              T one_plus_mu) {
    GRID_STRIDE_LOOP(i, total) {
        const T mu_v = v[i] * mu;
        const T v_new = mu_v - lr * g[i];
        v[i] = v_new;
        w[i] = w[i] - (mu_v - one_plus_mu * v_new);
    }
}

// Adam: m' = b1 m + (1 - b1) g;  v' = b2 v + (1 - b2) g^2;  w -= alpha m' / (sqrt(v') + eps),
// with alpha (the bias-corrected step size) worked out on the host.
template <typename T>
__global__ void adam_step(T* w, const T* g, T* m, T* v, long long total, T beta1,
                          T one_minus_beta1, T beta2, T one_minus_beta2, T alpha, T epsilon) {
    GRID_STRIDE_LOOP(i, total) {
        const T gi = g[i];
        const T m_new = m[i] * beta1 + one_minus_beta1 * gi;
        const T v_new = v[i] * beta2 + one_minus_beta2 * gi * gi;
        m[i] = m_new;
        v[i] = v_new;
        w[i] = w[i] - alpha * m_new / (sqrt(v_new) + epsilon);
    }
}

// RmsProp: G' = d G + (1 - d) g^2;  w -= lr g / (sqrt(G') + eps).
template <typename T>
__global__ void rmsprop_step(T* w, const T* g, T* history, long long total, T lr, T decay,
                             T one_minus_decay, T epsilon) {
    GRID_STRIDE_LOOP(i, total) {
        const T gi = g[i];
        const T h = history[i] * decay + one_minus_decay * gi * gi;
        history[i] = h;
        w[i] = w[i] - lr * gi / (sqrt(h) + epsilon);
    }
}

// AdaGrad: H' = H + g^2;  w -= lr g / (sqrt(H') + eps).
template <typename T>
__global__ void adagrad_step(T* w, const T* g, T* history, long long total, T lr, T epsilon) {
    GRID_STRIDE_LOOP(i, total) {
        const T gi = g[i];
        const T h = history[i] + gi * gi;
        history[i] = h;
        w[i] = w[i] - lr * gi / (sqrt(h) + epsilon);
    }
}
