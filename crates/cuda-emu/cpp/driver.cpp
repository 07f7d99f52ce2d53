// driver.cpp: the CUDA driver API entry points that cudarc 0.19 resolves (by name, lazily, through
// dlopen("libcuda.so")), over the execution engine of runtime.cpp.
//
// Device memory is host memory. Every stream operation runs at once on the calling thread (streams are
// always idle afterwards), except while a stream captures: then kernels, device copies, memsets and event
// records become graph nodes (kernel arguments copied at capture, as CUDA does) that cuGraphLaunch replays.
// Calls CUDA forbids during a capture (synchronisation, host copies, allocation: stream-ordered allocation
// nodes are not emulated) invalidate it, as does a launch that fails; the capture mode is not modelled (every
// capture behaves as RELAXED, the mode the encoder uses). A kernel
// that fails (illegal address, deadlock, divergent barrier, bad WMMA use) leaves a sticky error, as on a
// GPU: every later call of the context returns it, until the primary context is released by all users.
// A symbol cudarc asks for and this file lacks makes cudarc panic with "Missing symbol": add it here.
#include <cuda.h>
#include "emu_kernel.h"
#include "emu_runtime.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unistd.h>
#include <vector>

namespace {
using emu::Kernel;

std::atomic<bool> g_init{false};
std::mutex& g_mu = *new std::mutex;  // contexts, sticky error
int g_ctx_refs = 0;
std::atomic<int> g_sticky{CUDA_SUCCESS};
struct Ctx { int device; } g_ctx{0};
thread_local CUcontext t_current = nullptr;

struct Func { const Kernel* k; int max_dyn_smem; };
struct Module { std::vector<std::unique_ptr<Func>> funcs; std::string image; };

struct Node {
  enum Kind { KERNEL, COPY, SET, EVENT } kind;
  Func* f = nullptr;
  dim3 grid{}, block{};
  unsigned smem = 0;
  std::vector<unsigned char> args;
  std::vector<size_t> offsets;
  void* dst = nullptr;
  const void* src = nullptr;
  size_t n = 0;
  unsigned char val = 0;
  CUevent event = nullptr;
};
struct Graph { std::vector<Node> nodes; };
struct Stream { Graph* capture = nullptr; bool invalid = false; uint64_t capture_id = 0; };
struct Event { unsigned flags; bool recorded = false; double t_ms = 0; uint64_t capture_id = 0; };
std::atomic<uint64_t> g_capture_ids{1};
Stream g_legacy;  // the NULL stream

Stream* S(CUstream s) { return s ? reinterpret_cast<Stream*>(s) : &g_legacy; }
bool capturing(CUstream s) { return S(s)->capture != nullptr; }
CUresult forbid_in_capture(CUstream s) {
  S(s)->invalid = true;
  return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;
}
double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}
int sm_count() {
  switch (emu::sm()) {
    case 70: return 80;   // V100
    case 80: return 108;  // A100
    default: return 132;  // H100 / H200
  }
}
const char* device_name() {
  static const std::string n = "emulated sm_" + std::to_string(emu::sm());
  return n.c_str();
}

bool sticky_code(int c) {
  return c == CUDA_ERROR_ILLEGAL_ADDRESS || c == CUDA_ERROR_LAUNCH_FAILED || c == CUDA_ERROR_MISALIGNED_ADDRESS;
}
#define CHECK_STICKY()                                          \
  do {                                                          \
    const int s_ = g_sticky.load();                             \
    if (s_ != CUDA_SUCCESS) return static_cast<CUresult>(s_);  \
  } while (0)

CUresult run_node(const Node& n) {
  switch (n.kind) {
    case Node::KERNEL: {
      std::vector<unsigned char> args = n.args;  // a kernel may not write its parameters, but be safe
      void* ptrs[256];
      for (size_t i = 0; i < n.offsets.size(); ++i) ptrs[i] = args.data() + n.offsets[i];
      std::string why;
      const int r = emu::run_kernel(n.f->k, ptrs, n.grid, n.block, n.smem, &why);
      if (r != CUDA_SUCCESS) {
        fprintf(stderr, "emulated CUDA (%s, %s order): %s\n", device_name(), emu::order_name(), why.c_str());
        if (sticky_code(r)) g_sticky.store(r);
      }
      return static_cast<CUresult>(r);
    }
    case Node::COPY: std::memmove(n.dst, n.src, n.n); return CUDA_SUCCESS;
    case Node::SET: std::memset(n.dst, n.val, n.n); return CUDA_SUCCESS;
    case Node::EVENT: {
      auto* e = reinterpret_cast<Event*>(n.event);
      e->recorded = true;
      e->t_ms = now_ms();
      return CUDA_SUCCESS;
    }
  }
  return CUDA_ERROR_UNKNOWN;
}
CUresult enqueue(CUstream s, Node&& n) {
  if (capturing(s)) {
    S(s)->capture->nodes.push_back(std::move(n));
    return CUDA_SUCCESS;
  }
  return run_node(n);
}
// A device range must lie inside one allocation (as the driver checks copies and memsets).
bool dev_ok(CUdeviceptr p, size_t n) { return n == 0 || emu::mem_range_ok(reinterpret_cast<void*>(p), n); }

// The image names the entry point: a cubin's string table, or a PTX `.entry`.
bool image_has(const std::string& img, const char* name) {
  const std::string n(name);
  if (img.compare(0, 4, "\x7f" "ELF") == 0) {
    const std::string key = n + '\0';
    for (size_t p = img.find(key); p != std::string::npos; p = img.find(key, p + 1))
      if (p == 0 || img[p - 1] == '\0' || img[p - 1] == '.') return true;
    return false;
  }
  const std::string key = ".entry " + n;
  for (size_t p = img.find(key); p != std::string::npos; p = img.find(key, p + 1)) {
    const char c = p + key.size() < img.size() ? img[p + key.size()] : '\0';
    if (c == '(' || c == ' ' || c == '\n' || c == '\r' || c == '\t') return true;
  }
  return false;
}

// The architecture an image is for: a cubin's e_flags (EF_CUDA_SM), a PTX `.target sm_XX`; 0 if unknown.
int image_arch(const std::string& img, bool* is_ptx) {
  *is_ptx = false;
  if (img.compare(0, 4, "\x7f" "ELF") == 0) {
    if (img.size() < 52) return -1;
    uint32_t flags;
    std::memcpy(&flags, img.data() + 48, 4);
    const int abi = (unsigned char)img[8];
    return abi >= 8 ? (int)((flags >> 8) & 0xff) : (int)(flags & 0xff);
  }
  *is_ptx = true;
  const size_t p = img.find(".target sm_");
  return p == std::string::npos ? 0 : atoi(img.c_str() + p + 11);
}
}  // namespace

extern "C" {
// ---- initialisation and devices ----
CUresult cuInit(unsigned flags) {
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  g_init = true;
  return CUDA_SUCCESS;
}
CUresult cuDriverGetVersion(int* v) {
  if (!v) return CUDA_ERROR_INVALID_VALUE;
  *v = 12090;
  return CUDA_SUCCESS;
}
CUresult cuDeviceGetCount(int* n) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (!n) return CUDA_ERROR_INVALID_VALUE;
  *n = 1;
  return CUDA_SUCCESS;
}
CUresult cuDeviceGet(CUdevice* d, int ordinal) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (ordinal != 0) return CUDA_ERROR_INVALID_DEVICE;
  *d = 0;
  return CUDA_SUCCESS;
}
CUresult cuDeviceGetName(char* name, int len, CUdevice d) {
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  if (!name || len <= 0) return CUDA_ERROR_INVALID_VALUE;
  snprintf(name, len, "%s", device_name());
  return CUDA_SUCCESS;
}
CUresult cuDeviceTotalMem_v2(size_t* b, CUdevice d) {
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  *b = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
  return CUDA_SUCCESS;
}
CUresult cuMemGetInfo_v2(size_t* free_b, size_t* total) {
  CHECK_STICKY();
  *total = (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
  *free_b = (size_t)sysconf(_SC_AVPHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
  return CUDA_SUCCESS;
}
CUresult cuDeviceGetAttribute(int* v, CUdevice_attribute a, CUdevice d) {
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  if (!v) return CUDA_ERROR_INVALID_VALUE;
  switch (a) {
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *v = emu::sm() / 10; break;
    case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *v = emu::sm() % 10; break;
    case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *v = sm_count(); break;
    case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED: *v = 1; break;
    case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X: *v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y: *v = 1024; break;
    case CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z: *v = 64; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X: *v = 2147483647; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y: *v = 65535; break;
    case CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z: *v = 65535; break;
    case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *v = 32; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK: *v = 48 << 10; break;
    case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN: *v = 48 << 10; break;
    case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING: *v = 1; break;
    case CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS: *v = 1; break;
    default: *v = 0; break;
  }
  return CUDA_SUCCESS;
}

// ---- contexts ----
CUresult cuDevicePrimaryCtxRetain(CUcontext* c, CUdevice d) {
  if (!g_init) return CUDA_ERROR_NOT_INITIALIZED;
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  std::lock_guard<std::mutex> lk(g_mu);
  ++g_ctx_refs;
  *c = reinterpret_cast<CUcontext>(&g_ctx);
  return CUDA_SUCCESS;
}
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
  if (d != 0) return CUDA_ERROR_INVALID_DEVICE;
  std::lock_guard<std::mutex> lk(g_mu);
  if (g_ctx_refs > 0 && --g_ctx_refs == 0) g_sticky.store(CUDA_SUCCESS);  // the context is destroyed: a fresh one
  return CUDA_SUCCESS;
}
CUresult cuCtxGetCurrent(CUcontext* c) {
  *c = t_current;
  return CUDA_SUCCESS;
}
CUresult cuCtxSetCurrent(CUcontext c) {
  t_current = c;
  return CUDA_SUCCESS;
}
CUresult cuCtxGetDevice(CUdevice* d) {
  if (!t_current) return CUDA_ERROR_INVALID_CONTEXT;
  *d = 0;
  return CUDA_SUCCESS;
}
CUresult cuCtxSynchronize() {
  CHECK_STICKY();
  return CUDA_SUCCESS;
}

// ---- streams and events ----
CUresult cuStreamCreate(CUstream* s, unsigned) {
  CHECK_STICKY();
  *s = reinterpret_cast<CUstream>(new Stream);
  return CUDA_SUCCESS;
}
CUresult cuStreamCreateWithPriority(CUstream* s, unsigned flags, int) { return cuStreamCreate(s, flags); }
CUresult cuStreamDestroy_v2(CUstream s) {
  if (!s) return CUDA_ERROR_INVALID_HANDLE;
  delete S(s)->capture;
  delete S(s);
  return CUDA_SUCCESS;
}
CUresult cuStreamSynchronize(CUstream s) {
  if (capturing(s)) return forbid_in_capture(s);
  CHECK_STICKY();
  return CUDA_SUCCESS;
}
CUresult cuStreamQuery(CUstream s) {
  if (capturing(s)) return forbid_in_capture(s);
  CHECK_STICKY();
  return CUDA_SUCCESS;
}
CUresult cuEventCreate(CUevent* e, unsigned flags) {
  CHECK_STICKY();
  *e = reinterpret_cast<CUevent>(new Event{flags});
  return CUDA_SUCCESS;
}
CUresult cuEventDestroy_v2(CUevent e) {
  delete reinterpret_cast<Event*>(e);
  return CUDA_SUCCESS;
}
CUresult cuEventRecord(CUevent e, CUstream s) {
  CHECK_STICKY();
  if (!e) return CUDA_ERROR_INVALID_HANDLE;
  if (capturing(s)) reinterpret_cast<Event*>(e)->capture_id = S(s)->capture_id;
  Node n{Node::EVENT};
  n.event = e;
  return enqueue(s, std::move(n));
}
CUresult cuStreamWaitEvent(CUstream s, CUevent e, unsigned) {
  CHECK_STICKY();
  if (!e) return CUDA_ERROR_INVALID_HANDLE;
  // Streams are always idle, so a wait is satisfied; inside a capture, only events of the same capture may
  // be waited on (CUDA: an event recorded outside is a cross-capture dependency).
  if (capturing(s) && reinterpret_cast<Event*>(e)->capture_id != S(s)->capture_id) {
    S(s)->invalid = true;
    return CUDA_ERROR_STREAM_CAPTURE_ISOLATION;
  }
  return CUDA_SUCCESS;
}
CUresult cuEventQuery(CUevent e) {
  CHECK_STICKY();
  return reinterpret_cast<Event*>(e) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}
CUresult cuEventSynchronize(CUevent e) { return cuEventQuery(e); }
CUresult cuEventElapsedTime_v2(float* ms, CUevent a, CUevent b) {
  auto *x = reinterpret_cast<Event*>(a), *y = reinterpret_cast<Event*>(b);
  if (!x || !y) return CUDA_ERROR_INVALID_HANDLE;
  if ((x->flags | y->flags) & CU_EVENT_DISABLE_TIMING) return CUDA_ERROR_INVALID_HANDLE;
  if (!x->recorded || !y->recorded) return CUDA_ERROR_NOT_READY;
  *ms = float(y->t_ms - x->t_ms);
  return CUDA_SUCCESS;
}
CUresult cuEventElapsedTime(float* ms, CUevent a, CUevent b) { return cuEventElapsedTime_v2(ms, a, b); }

// ---- memory ----
CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t n) {
  CHECK_STICKY();
  void* m = nullptr;
  const int r = emu::mem_alloc(n, &m);
  if (r == CUDA_SUCCESS) *p = reinterpret_cast<CUdeviceptr>(m);
  return static_cast<CUresult>(r);
}
CUresult cuMemFree_v2(CUdeviceptr p) {
  if (!p) return CUDA_SUCCESS;
  return static_cast<CUresult>(emu::mem_free(reinterpret_cast<void*>(p)));
}
CUresult cuMemAllocAsync(CUdeviceptr* p, size_t n, CUstream s) {
  if (capturing(s)) return forbid_in_capture(s);  // (allocation nodes are not emulated)
  return cuMemAlloc_v2(p, n);
}
CUresult cuMemFreeAsync(CUdeviceptr p, CUstream s) {
  if (capturing(s)) return forbid_in_capture(s);
  return cuMemFree_v2(p);
}
CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, CUstream s) {
  CHECK_STICKY();
  if (!dev_ok(d, n)) return CUDA_ERROR_INVALID_VALUE;
  Node nd{Node::SET};
  nd.dst = reinterpret_cast<void*>(d);
  nd.val = v;
  nd.n = n;
  return enqueue(s, std::move(nd));
}
CUresult cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) { return cuMemsetD8Async(d, v, n, nullptr); }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void* h, size_t n, CUstream s) {
  if (capturing(s)) return forbid_in_capture(s);  // host memory: not capturable here
  CHECK_STICKY();
  if (!dev_ok(d, n)) return CUDA_ERROR_INVALID_VALUE;
  std::memcpy(reinterpret_cast<void*>(d), h, n);
  return CUDA_SUCCESS;
}
CUresult cuMemcpyDtoHAsync_v2(void* h, CUdeviceptr d, size_t n, CUstream s) {
  if (capturing(s)) return forbid_in_capture(s);
  CHECK_STICKY();
  if (!dev_ok(d, n)) return CUDA_ERROR_INVALID_VALUE;
  std::memcpy(h, reinterpret_cast<void*>(d), n);
  return CUDA_SUCCESS;
}
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr src, size_t n, CUstream s) {
  CHECK_STICKY();
  if (!dev_ok(d, n) || !dev_ok(src, n)) return CUDA_ERROR_INVALID_VALUE;
  Node nd{Node::COPY};
  nd.dst = reinterpret_cast<void*>(d);
  nd.src = reinterpret_cast<void*>(src);
  nd.n = n;
  return enqueue(s, std::move(nd));
}
CUresult cuMemcpyHtoD_v2(CUdeviceptr d, const void* h, size_t n) { return cuMemcpyHtoDAsync_v2(d, h, n, nullptr); }
CUresult cuMemcpyDtoH_v2(void* h, CUdeviceptr d, size_t n) { return cuMemcpyDtoHAsync_v2(h, d, n, nullptr); }
CUresult cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) { return cuMemcpyDtoDAsync_v2(d, s, n, nullptr); }

// ---- modules and kernels ----
CUresult cuModuleLoadData(CUmodule* m, const void* image) {
  CHECK_STICKY();
  if (!m || !image) return CUDA_ERROR_INVALID_VALUE;
  const char* p = static_cast<const char*>(image);
  std::string img;
  if (std::memcmp(p, "\x7f" "ELF", 4) == 0) {
    uint64_t shoff;
    uint16_t shentsize, shnum;
    std::memcpy(&shoff, p + 40, 8);
    std::memcpy(&shentsize, p + 58, 2);
    std::memcpy(&shnum, p + 60, 2);
    img.assign(p, shoff + (size_t)shentsize * shnum);  // an ELF64 image ends with its section headers
  } else {
    img.assign(p);  // PTX: NUL-terminated text
    if (img.find(".version") == std::string::npos) return CUDA_ERROR_INVALID_IMAGE;
  }
  bool ptx;
  const int arch = image_arch(img, &ptx);
  // SASS runs on its own major architecture at an equal or later minor; PTX on any later architecture.
  if (arch < 0 || (!ptx && (arch / 10 != emu::sm() / 10 || arch > emu::sm())) || (ptx && arch > emu::sm())) {
    fprintf(stderr, "emulated CUDA (%s): module image is for sm_%d\n", device_name(), arch);
    return CUDA_ERROR_NO_BINARY_FOR_GPU;
  }
  auto* mod = new Module;
  mod->image = std::move(img);
  *m = reinterpret_cast<CUmodule>(mod);
  return CUDA_SUCCESS;
}
CUresult cuModuleUnload(CUmodule m) {
  delete reinterpret_cast<Module*>(m);
  return CUDA_SUCCESS;
}
CUresult cuModuleGetFunction(CUfunction* f, CUmodule m, const char* name) {
  CHECK_STICKY();
  if (!f || !m || !name) return CUDA_ERROR_INVALID_VALUE;
  auto* mod = reinterpret_cast<Module*>(m);
  const Kernel* k = emu::find_kernel(name);
  if (!k || !image_has(mod->image, name)) {
    fprintf(stderr, "emulated CUDA (%s): no kernel named %s %s\n", device_name(), name,
            k ? "in this module image" : "(neither in the image nor in the emulator's host build of kernels/*.cu)");
    return CUDA_ERROR_NOT_FOUND;
  }
  mod->funcs.push_back(std::unique_ptr<Func>(new Func{k, 48 << 10}));
  *f = reinterpret_cast<CUfunction>(mod->funcs.back().get());
  return CUDA_SUCCESS;
}
CUresult cuFuncSetAttribute(CUfunction f, CUfunction_attribute a, int v) {
  if (!f) return CUDA_ERROR_INVALID_HANDLE;
  if (a == CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) {
    if (v < 0 || v > (48 << 10)) return CUDA_ERROR_INVALID_VALUE;
    reinterpret_cast<Func*>(f)->max_dyn_smem = v;
  }
  return CUDA_SUCCESS;
}
CUresult cuFuncGetAttribute(int* v, CUfunction_attribute a, CUfunction f) {
  if (!f || !v) return CUDA_ERROR_INVALID_VALUE;
  *v = a == CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK ? 1024 : 0;
  return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned smem, CUstream s, void** params, void** extra) {
  CHECK_STICKY();
  // A launch that fails inside a capture invalidates it, as CUDA does (no graph missing a node).
  const auto bad = [s](CUresult r) {
    if (capturing(s)) S(s)->invalid = true;
    return r;
  };
  if (!fn) return bad(CUDA_ERROR_INVALID_HANDLE);
  auto* f = reinterpret_cast<Func*>(fn);
  if (extra) return bad(CUDA_ERROR_NOT_SUPPORTED);  // (cudarc passes `params`)
  if (!params && emu::kernel_nparams(f->k) > 0) return bad(CUDA_ERROR_INVALID_VALUE);
  if (!gx || !gy || !gz || !bx || !by || !bz || gx > 2147483647u || gy > 65535 || gz > 65535 || bx > 1024 ||
      by > 1024 || bz > 64 || (uint64_t)bx * by * bz > 1024) {
    fprintf(stderr, "emulated CUDA: launch of %s with grid (%u,%u,%u), block (%u,%u,%u): invalid configuration\n",
            emu::kernel_name(f->k), gx, gy, gz, bx, by, bz);
    return bad(CUDA_ERROR_INVALID_VALUE);
  }
  if (smem > (unsigned)f->max_dyn_smem) {
    fprintf(stderr, "emulated CUDA: launch of %s with %u bytes of dynamic shared memory (limit %d)\n",
            emu::kernel_name(f->k), smem, f->max_dyn_smem);
    return bad(CUDA_ERROR_INVALID_VALUE);
  }
  Node n{Node::KERNEL};
  n.f = f;
  n.grid = dim3{gx, gy, gz};
  n.block = dim3{bx, by, bz};
  n.smem = smem;
  const int np = emu::kernel_nparams(f->k);
  n.offsets.resize(np);
  n.args.resize(emu::pack_args(f->k, params, nullptr, nullptr) + 1);
  emu::pack_args(f->k, params, n.args.data(), n.offsets.data());  // CUDA copies the arguments at launch
  return enqueue(s, std::move(n));
}

// ---- graphs ----
CUresult cuStreamBeginCapture_v2(CUstream s, CUstreamCaptureMode) {
  CHECK_STICKY();
  if (!s) return CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED;  // the legacy stream cannot capture
  if (capturing(s)) return CUDA_ERROR_ILLEGAL_STATE;
  S(s)->capture = new Graph;
  S(s)->invalid = false;
  S(s)->capture_id = g_capture_ids++;
  return CUDA_SUCCESS;
}
CUresult cuStreamEndCapture(CUstream s, CUgraph* g) {
  if (!capturing(s)) return CUDA_ERROR_ILLEGAL_STATE;
  Graph* gr = S(s)->capture;
  S(s)->capture = nullptr;
  if (S(s)->invalid) {
    delete gr;
    *g = nullptr;
    return CUDA_ERROR_STREAM_CAPTURE_INVALIDATED;
  }
  *g = reinterpret_cast<CUgraph>(gr);
  return CUDA_SUCCESS;
}
CUresult cuStreamIsCapturing(CUstream s, CUstreamCaptureStatus* st) {
  *st = !capturing(s) ? CU_STREAM_CAPTURE_STATUS_NONE
        : S(s)->invalid ? CU_STREAM_CAPTURE_STATUS_INVALIDATED
                        : CU_STREAM_CAPTURE_STATUS_ACTIVE;
  return CUDA_SUCCESS;
}
CUresult cuGraphInstantiateWithFlags(CUgraphExec* e, CUgraph g, unsigned long long) {
  CHECK_STICKY();
  if (!g || !e) return CUDA_ERROR_INVALID_VALUE;
  *e = reinterpret_cast<CUgraphExec>(new Graph(*reinterpret_cast<Graph*>(g)));  // nodes hold argument copies
  return CUDA_SUCCESS;
}
CUresult cuGraphUpload(CUgraphExec e, CUstream s) {
  CHECK_STICKY();
  if (!e) return CUDA_ERROR_INVALID_VALUE;
  if (capturing(s)) return forbid_in_capture(s);
  return CUDA_SUCCESS;
}
CUresult cuGraphLaunch(CUgraphExec e, CUstream s) {
  CHECK_STICKY();
  if (!e) return CUDA_ERROR_INVALID_VALUE;
  if (capturing(s)) return forbid_in_capture(s);  // (child graph nodes are not emulated)
  for (const Node& n : reinterpret_cast<Graph*>(e)->nodes) {
    const CUresult r = run_node(n);
    if (r != CUDA_SUCCESS) return r;
  }
  return CUDA_SUCCESS;
}
CUresult cuGraphExecDestroy(CUgraphExec e) {
  delete reinterpret_cast<Graph*>(e);
  return CUDA_SUCCESS;
}
CUresult cuGraphDestroy(CUgraph g) {
  delete reinterpret_cast<Graph*>(g);
  return CUDA_SUCCESS;
}

// ---- errors ----
CUresult cuGetErrorName(CUresult r, const char** s) {
  switch (r) {
#define E(x)      \
  case x:         \
    *s = #x;      \
    return CUDA_SUCCESS;
    E(CUDA_SUCCESS) E(CUDA_ERROR_INVALID_VALUE) E(CUDA_ERROR_OUT_OF_MEMORY) E(CUDA_ERROR_NOT_INITIALIZED)
    E(CUDA_ERROR_NO_DEVICE) E(CUDA_ERROR_INVALID_DEVICE) E(CUDA_ERROR_INVALID_IMAGE) E(CUDA_ERROR_INVALID_CONTEXT)
    E(CUDA_ERROR_NO_BINARY_FOR_GPU) E(CUDA_ERROR_INVALID_HANDLE) E(CUDA_ERROR_NOT_FOUND) E(CUDA_ERROR_NOT_READY)
    E(CUDA_ERROR_ILLEGAL_ADDRESS) E(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES) E(CUDA_ERROR_MISALIGNED_ADDRESS)
    E(CUDA_ERROR_LAUNCH_FAILED) E(CUDA_ERROR_NOT_SUPPORTED) E(CUDA_ERROR_ILLEGAL_STATE)
    E(CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED) E(CUDA_ERROR_STREAM_CAPTURE_INVALIDATED)
    E(CUDA_ERROR_STREAM_CAPTURE_ISOLATION) E(CUDA_ERROR_UNKNOWN)
#undef E
    default: *s = nullptr; return CUDA_ERROR_INVALID_VALUE;
  }
}
CUresult cuGetErrorString(CUresult r, const char** s) {
  switch (r) {
    case CUDA_ERROR_ILLEGAL_ADDRESS: *s = "an illegal memory access was encountered"; return CUDA_SUCCESS;
    case CUDA_ERROR_LAUNCH_FAILED: *s = "unspecified launch failure"; return CUDA_SUCCESS;
    case CUDA_ERROR_MISALIGNED_ADDRESS: *s = "misaligned address"; return CUDA_SUCCESS;
    case CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES: *s = "too many resources requested for launch"; return CUDA_SUCCESS;
    case CUDA_ERROR_INVALID_VALUE: *s = "invalid argument"; return CUDA_SUCCESS;
    case CUDA_ERROR_NOT_FOUND: *s = "named symbol not found"; return CUDA_SUCCESS;
    case CUDA_ERROR_NO_BINARY_FOR_GPU: *s = "no kernel image is available for execution on the device"; return CUDA_SUCCESS;
    default: return cuGetErrorName(r, s);
  }
}
// NVRTC 12.9 dlopens libcuda.so.1 (never this file, which is only libcuda.so) and asks for this opaque
// export table; answering "not supported" is what a machine without a driver does.
CUresult cuGetExportTable(const void** table, const CUuuid*) {
  if (table) *table = nullptr;
  return CUDA_ERROR_NOT_SUPPORTED;
}
}  // extern "C"
