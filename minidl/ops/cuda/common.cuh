// Helpers shared by every kernel file in this folder.
//
// minidl/ops/cuda/__init__.py puts this text in front of each .cu file before compiling it (so
// CuPy's kernel cache, keyed on the source text, sees a change here too). Kernels compile with
// NVRTC, which has no C++ standard library: nothing here includes a header.

// Every kernel walks its elements with a grid-stride loop: any grid size covers any number of
// elements, and 64-bit indices cover arrays past 2^31 elements (im2col matrices get that big).
#define GRID_STRIDE_LOOP(idx, total)                                                    \
    for (long long idx = (long long)blockIdx.x * blockDim.x + threadIdx.x; idx < (total); \
         idx += (long long)blockDim.x * gridDim.x)

// Element ``idx`` of a channels-last [batch, height, width, channels] array, as coordinates:
// the index arithmetic every elementwise window kernel starts with, written once.
struct Pixel {
    long long b;
    int y, x, ch;
};

__device__ __forceinline__ Pixel nhwc_pixel(long long idx, int height, int width, int channels) {
    Pixel p;
    p.ch = (int)(idx % channels);  idx /= channels;
    p.x = (int)(idx % width);      idx /= width;
    p.y = (int)(idx % height);
    p.b = idx / height;
    return p;
}

// Half precision (float16) storage, for inference in half (``minidl.nn.precision``). A kernel
// instantiated for ``half16`` reads each number widened to float, computes in float and rounds
// once when it writes: the arithmetic of cuBLAS's float16 GEMMs (float accumulation), and no
// sum loses digits to 11-bit partial results. ``Arithmetic<T>`` is the type a kernel computes
// in: T itself for float and double, float for half16. The conversions are one PTX instruction
// each (round to nearest even, as NumPy's float16 casts), so no CUDA header is needed; the
// emulator (tests/emulated_gpu/host_shim.h) brings its own.
#ifndef HOST_HALF_CONVERSIONS
__device__ __forceinline__ float half_to_float(unsigned short bits) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(bits));
    return f;
}
__device__ __forceinline__ unsigned short float_to_half(float f) {
    unsigned short bits;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(bits) : "f"(f));
    return bits;
}
#endif

struct half16 {
    unsigned short bits;
    half16() = default;
    __device__ __forceinline__ half16(float f) : bits(float_to_half(f)) {}
    __device__ __forceinline__ operator float() const { return half_to_float(bits); }
};

template <typename T> struct ArithmeticOf { typedef T type; };
template <> struct ArithmeticOf<half16> { typedef float type; };
template <typename T> using Arithmetic = typename ArithmeticOf<T>::type;

// Threads per block of the row kernels (softmax): one block per row, reductions in shared memory.
#define ROW_BLOCK 256

// -infinity without <cmath>: the IEEE bit pattern.
template <typename T> __device__ __forceinline__ T negative_infinity();
template <> __device__ __forceinline__ float negative_infinity<float>() {
    return __int_as_float(0xff800000);
}
template <> __device__ __forceinline__ double negative_infinity<double>() {
    return __longlong_as_double(0xfff0000000000000ULL);
}

// Block-wide reductions of one value per thread (blockDim.x a power of two, <= ROW_BLOCK).
// Every thread of the block must call them; every thread gets the result.
template <typename T> __device__ T block_sum(T v, T* buf) {
    buf[threadIdx.x] = v;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half) buf[threadIdx.x] += buf[threadIdx.x + half];
        __syncthreads();
    }
    T total = buf[0];
    __syncthreads();  // buf is reused by the next reduction
    return total;
}

template <typename T> __device__ T block_max(T v, T* buf) {
    buf[threadIdx.x] = v;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half /= 2) {
        if (threadIdx.x < half && buf[threadIdx.x + half] > buf[threadIdx.x])
            buf[threadIdx.x] = buf[threadIdx.x + half];
        __syncthreads();
    }
    T best = buf[0];
    __syncthreads();
    return best;
}
