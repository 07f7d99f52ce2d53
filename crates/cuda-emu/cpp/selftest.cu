#line 1 "selftest.cu"
// selftest.cu: kernels that exercise the emulated driver's checks (crates/cuda-emu/tests). Real CUDA: the
// tests compile it with NVRTC (the module image the emulator loads) and the emulator runs its host build.

// out[i] = in[i] for i < n: a plain launch.
extern "C" __global__ void emu_test_copy(const float* __restrict__ in, float* __restrict__ out, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = in[i];
}

// Block of 64: warp 0 waits at __syncthreads; half of warp 1 waits at __syncwarp (which needs the whole
// warp), the other half at __syncthreads. Nothing can go on: a deadlock, which a GPU would hang on.
extern "C" __global__ void emu_test_deadlock(int* out) {
    if (threadIdx.x >= 32 && threadIdx.x < 48) {
        __syncwarp();
    } else {
        __syncthreads();
    }
    out[threadIdx.x] = 1;
}

// Two halves of the block wait at two different __syncthreads.
extern "C" __global__ void emu_test_divergent_sync(int* out) {
    if (threadIdx.x < 32) {
        __syncthreads();
        out[threadIdx.x] = 1;
    } else {
        __syncthreads();
        out[threadIdx.x] = 2;
    }
}

// An off-by-one tail: thread i reads in[i + 1], so the last one reads one element past the end.
extern "C" __global__ void emu_test_oob_read(const float* __restrict__ in, float* __restrict__ out, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = in[i + 1];
}

// Odd lanes exit; even lanes then shuffle with their odd neighbour: an undefined value on a GPU.
extern "C" __global__ void emu_test_shuffle_exited(float* out) {
    if (threadIdx.x & 1) return;
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, (float)threadIdx.x, 1);
}

// Only the first half of the shared array is written: the second half reads back as the emulator's poison.
extern "C" __global__ void emu_test_shared_poison(float* out) {
    __shared__ float s[64];
    if (threadIdx.x < 32) s[threadIdx.x] = 1.0f;
    __syncthreads();
    out[threadIdx.x] = s[threadIdx.x];
}

// A WMMA load from a shared pointer 8 bytes past a 32-byte boundary.
extern "C" __global__ void emu_test_wmma_misaligned(float* out) {
    __shared__ __align__(128) __half tile[16 * 16 + 16];
    for (int i = threadIdx.x; i < 16 * 16 + 16; i += 32) tile[i] = __float2half(1.0f);
    __syncwarp();
    nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __half, nvcuda::wmma::row_major> a;
    nvcuda::wmma::load_matrix_sync(a, tile + 4, 16);
    out[threadIdx.x] = 0.0f;
}
