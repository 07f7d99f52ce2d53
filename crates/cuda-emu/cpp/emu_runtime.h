// emu_runtime.h: what the driver entry points (driver.cpp) need from the execution engine (runtime.cpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

struct dim3;

namespace emu {
struct Kernel;

// ---- configuration (fixed when the library is built, or read once from the environment) ----
int sm();                 // EMU_SM, baked in at build time (70, 80, 90)
bool check_bounds();      // EMU_CHECK_BOUNDS build: guard pages around allocations
const char* order_name(); // ROBERTA_EMU_ORDER: forward, reverse, random:SEED

// ---- kernels ----
const Kernel* find_kernel(const char* name);
const char* kernel_name(const Kernel* k);
int kernel_nparams(const Kernel* k);
// Copies the launch arguments into `out` (nullptr: returns the size only); offsets[i]: argument i.
size_t pack_args(const Kernel* k, void** params, unsigned char* out, size_t* offsets);
// Runs every block of a launch; returns a CUresult, with a description of a failure in `why`.
int run_kernel(const Kernel* k, void** params, const dim3& grid, const dim3& block, unsigned dyn_smem,
               std::string* why);

// ---- device memory (host memory; guard pages in the bounds-checking build) ----
int mem_alloc(size_t n, void** out);  // CUresult
int mem_free(void* p);                // CUresult
// Whether [p, p+n) lies inside one live allocation (copies and memsets are checked against this).
bool mem_range_ok(const void* p, size_t n);
}  // namespace emu
