// Just enough of CUDA to compile minidl/ops/cuda/*.cu as ordinary C++ and run the kernels on the
// CPU (see cuda_emulator.py). Threads of a block run one after another, so __syncthreads() is a
// no-op: grid-stride kernels are exact with any block size, row kernels (shared-memory
// reductions) only with one thread per block, which is how the emulator launches them.
#include <cmath>
#include <cstring>
#include <cstddef>
#include <type_traits>
#include <utility>

// CUDA's math functions have float overloads, as std's do: sqrt(float) is a float square root,
// not C's sqrt(double), whose one rounding at the end would hide a kernel's float roundings.
using std::exp;
using std::expm1;
using std::log;
using std::sqrt;
using std::tanh;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static

struct EmulatedDim { unsigned x = 0, y = 1, z = 1; };
static EmulatedDim threadIdx, blockIdx, blockDim, gridDim;
inline void __syncthreads() {}

inline float __int_as_float(int bits) { float f; std::memcpy(&f, &bits, sizeof f); return f; }
inline double __longlong_as_double(unsigned long long bits) {
    double d; std::memcpy(&d, &bits, sizeof d); return d;
}

// float16 conversions for common.cuh's half16, by GCC's _Float16 (round to nearest even, as
// the GPU's cvt.rn.f16.f32) in place of the PTX instructions.
#define HOST_HALF_CONVERSIONS
inline float half_to_float(unsigned short bits) {
    _Float16 h; std::memcpy(&h, &bits, sizeof h); return (float)h;
}
inline unsigned short float_to_half(float f) {
    _Float16 h = (_Float16)f; unsigned short bits; std::memcpy(&bits, &h, sizeof bits);
    return bits;
}

// Launch kernel k on grid x block "threads", its arguments given as cuLaunchKernel takes them:
// an array of pointers to each argument's value.
template <typename... A, std::size_t... I>
void emulated_call(void (*k)(A...), void** args, std::index_sequence<I...>) {
    k(*static_cast<std::remove_reference_t<A>*>(args[I])...);
}

template <typename... A>
void emulated_launch(void (*k)(A...), unsigned grid, unsigned block, void** args) {
    gridDim.x = grid;
    blockDim.x = block;
    for (blockIdx.x = 0; blockIdx.x < grid; ++blockIdx.x)
        for (threadIdx.x = 0; threadIdx.x < block; ++threadIdx.x)
            emulated_call(k, args, std::index_sequence_for<A...>{});
}

// A kernel's parameter types, one letter each ("ppxiif"). CuPy packs each launch argument by its
// NumPy type and the kernel reads it by its C type; where they differ (an int64 for an int, a
// double alpha for a float kernel) the GPU reads garbage without an error. The emulator compares
// this string with the arguments it is given, so such a mismatch fails here instead.
template <typename T>
constexpr char emulated_type_code() {
    if constexpr (std::is_pointer_v<T>) return 'p';
    else if constexpr (std::is_same_v<T, float>) return 'f';
    else if constexpr (std::is_same_v<T, double>) return 'd';
    else if constexpr (std::is_same_v<T, int>) return 'i';
    else if constexpr (std::is_same_v<T, long long>) return 'x';
    else if constexpr (std::is_same_v<T, bool>) return 'b';
    else return '?';
}

template <typename... A>
const char* emulated_signature(void (*)(A...)) {
    static const char codes[] = {emulated_type_code<A>()..., '\0'};
    return codes;
}
