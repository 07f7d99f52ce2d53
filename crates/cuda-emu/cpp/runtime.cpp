// runtime.cpp: the execution engine of the emulated CUDA driver.
//
// - One fiber per CUDA thread (a hand-written x86-64 context switch: ~40 ns, no syscall), 64 KiB stacks
//   with a guard page below each.
// - A block runs on one OS thread: each warp's lanes run, in the configured order, until each reaches a
//   barrier, a collective or its end; barriers are released when every lane they name has arrived;
//   when nothing can run and nothing can be released, the launch fails (deadlock), never hangs.
// - Orders (ROBERTA_EMU_ORDER): forward (warp 0 lane 0 first), reverse, random:SEED (a fresh shuffle of
//   warps and lanes at every scheduling pass). A missing barrier shows in some order: CI runs several.
// - Blocks of one launch are handed to ROBERTA_EMU_THREADS OS threads (default: every core) through an
//   atomic counter; one launch runs at a time.
// - __shared__ arrays are poisoned with NaN bytes at the start of each block (reads of shared memory
//   nobody wrote show); device allocations are poisoned the same way when allocated.
// - cp.async copies are queued per thread and performed at the wait_group that must complete them (the
//   latest legal moment, so a missing wait shows); the destination turns to NaN bytes when the copy is
//   issued (the earliest moment it may change, so a refill of a buffer other warps still read shows).
// - Not seen: races between lanes inside one barrier interval (a lane runs to its next barrier without
//   interleaving, so e.g. a non-atomic += by many lanes never loses an update), __launch_bounds__ (ignored),
//   and anything about speed.
// - Faults (SIGSEGV/SIGBUS) inside a kernel become CUDA_ERROR_ILLEGAL_ADDRESS naming the kernel, block,
//   thread and the allocation nearest to the address; the bounds-checking build (EMU_CHECK_BOUNDS) puts
//   each allocation against a guard page so that an access past its end faults. In every build each
//   allocation is followed by a red zone checked after every launch: a write past the end is
//   CUDA_ERROR_ILLEGAL_ADDRESS even without guard pages (reads past the end need them).
#include "emu_kernel.h"
#include "emu_runtime.h"
#include <cuda.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csetjmp>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <sys/mman.h>
#include <thread>
#include <tuple>
#include <unistd.h>
#include <vector>

#ifndef EMU_SM
#error "build with -DEMU_SM=70|80|90"
#endif

// void emu_switch(void** save_sp, void* load_sp): saves the callee-saved registers, MXCSR and the x87
// control word on the current stack, stores the stack pointer in *save_sp, and resumes the context whose
// stack pointer is load_sp. emu_fiber_entry is where a new fiber starts (its Lane* in r12).
asm(R"(
.text
.globl emu_switch
.hidden emu_switch
.type emu_switch,@function
emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size emu_switch, .-emu_switch
.globl emu_fiber_entry
.hidden emu_fiber_entry
.type emu_fiber_entry,@function
emu_fiber_entry:
  movq %r12, %rdi
  andq $-16, %rsp
  call emu_fiber_main
  ud2
.size emu_fiber_entry, .-emu_fiber_entry
)");
extern "C" void emu_switch(void** save_sp, void* load_sp);
extern "C" void emu_fiber_entry();

namespace emu {
thread_local const ThreadCoord* g_thread;
thread_local BlockCoord g_block;

int sm() { return EMU_SM; }
bool check_bounds() {
#ifdef EMU_CHECK_BOUNDS
  return true;
#else
  return false;
#endif
}

namespace {
constexpr size_t kStack = 64 << 10;
constexpr unsigned kMaxShared = 48 << 10;  // static + dynamic shared memory per block, bytes
const size_t kPage = (size_t)sysconf(_SC_PAGESIZE);

enum class Order { Forward, Reverse, Random };
struct OrderCfg { Order order; uint64_t seed; std::string name; };
const OrderCfg& order_cfg() {
  static const OrderCfg cfg = [] {
    const char* e = getenv("ROBERTA_EMU_ORDER");
    std::string s = e ? e : "forward";
    if (s == "forward" || s.empty()) return OrderCfg{Order::Forward, 0, "forward"};
    if (s == "reverse") return OrderCfg{Order::Reverse, 0, "reverse"};
    if (s.rfind("random", 0) == 0) {
      uint64_t seed = 1;
      if (s.size() > 7 && s[6] == ':') seed = strtoull(s.c_str() + 7, nullptr, 10);
      return OrderCfg{Order::Random, seed, "random:" + std::to_string(seed)};
    }
    fprintf(stderr, "emulated CUDA: unknown ROBERTA_EMU_ORDER %s (forward, reverse, random:SEED); using forward\n",
            s.c_str());
    return OrderCfg{Order::Forward, 0, "forward"};
  }();
  return cfg;
}

enum State : uint8_t { READY, AT_WARP, AT_COLLECTIVE, AT_BLOCK, DONE };

struct Copy { unsigned char* dst; const unsigned char* src; int n, size, group; };

struct Lane {
  ThreadCoord coord;
  void* sp = nullptr;
  State state = READY;
  const char* site = nullptr;  // where it waits
  unsigned mask = 0;           // warp barrier / collective mask
  uint64_t value = 0;          // its collective's contribution
  uint64_t inbox[32];          // the values of a released collective
  unsigned inbox_lanes = 0;    // which lanes took part in it
  std::vector<Copy> copies;    // cp.async copies not yet performed
  int group = 0;               // the open cp.async group
  uint64_t wmma_hash = 0;
  uint32_t wmma_calls = 0;
};

struct KernelInfo { std::string name; ThreadFn run; PackFn pack; int nparams; };

struct Worker {
  void* sched_sp = nullptr;
  std::vector<Lane> lanes;
  std::vector<char*> stacks;  // each: a guard page, then kStack bytes
  const KernelInfo* kernel = nullptr;
  void** params = nullptr;
  Lane* cur = nullptr;
  int nthreads = 0, nwarps = 0;
  unsigned dyn_smem = 0;
  // shared arrays announced in this block: (address, bytes)
  std::vector<std::pair<unsigned char*, size_t>> shared;
  size_t shared_bytes = 0;
  // failure of the running block
  bool failed = false;
  int code = CUDA_SUCCESS;
  char why[1024];
  bool in_kernel = false;
  sigjmp_buf fault_jmp;
  uint64_t rng = 0;
  std::vector<int> perm;
  char* altstack = nullptr;
};

thread_local Worker* t_worker = nullptr;
Worker& worker() {
  if (!t_worker) t_worker = new Worker;  // never freed: pool threads live as long as the process
  return *t_worker;
}

std::map<std::string, KernelInfo>& registry() {
  static auto* r = new std::map<std::string, KernelInfo>;
  return *r;
}

// ---- failures ----
void vset_failure(Worker& w, int code, const char* fmt, va_list ap) {
  if (w.failed) return;
  w.failed = true;
  w.code = code;
  char msg[700];
  vsnprintf(msg, sizeof msg, fmt, ap);
  if (w.cur) {
    const ThreadCoord& c = w.cur->coord;
    snprintf(w.why, sizeof w.why, "kernel %s, block (%u,%u,%u), thread (%u,%u,%u): %s", w.kernel->name.c_str(),
             g_block.bid.x, g_block.bid.y, g_block.bid.z, c.tid.x, c.tid.y, c.tid.z, msg);
  } else {
    snprintf(w.why, sizeof w.why, "kernel %s, block (%u,%u,%u): %s", w.kernel->name.c_str(), g_block.bid.x,
             g_block.bid.y, g_block.bid.z, msg);
  }
}
void set_failure(Worker& w, int code, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
void set_failure(Worker& w, int code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vset_failure(w, code, fmt, ap);
  va_end(ap);
}

void yield_to_scheduler() {
  Worker& w = *t_worker;
  emu_switch(&w.cur->sp, w.sched_sp);
}

// ---- random order ----
uint64_t next_rand(uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}
// Fills w.perm with 0..n-1 in the configured order.
void order(Worker& w, int n) {
  w.perm.resize(n);
  const OrderCfg& o = order_cfg();
  for (int i = 0; i < n; ++i) w.perm[i] = o.order == Order::Reverse ? n - 1 - i : i;
  if (o.order == Order::Random)
    for (int i = n - 1; i > 0; --i) std::swap(w.perm[i], w.perm[next_rand(w.rng) % (uint64_t)(i + 1)]);
}
}  // namespace

[[noreturn]] void fail(int code, const char* fmt, ...) {
  Worker& w = *t_worker;
  va_list ap;
  va_start(ap, fmt);
  vset_failure(w, code, fmt, ap);
  va_end(ap);
  w.cur->state = DONE;
  yield_to_scheduler();
  __builtin_trap();  // a failed block is never resumed
}
}  // namespace emu

extern "C" __attribute__((visibility("hidden"))) void emu_fiber_main(emu::Lane* l) {
  using namespace emu;
  Worker& w = *t_worker;
  w.kernel->run(w.params);
  l->state = DONE;
  yield_to_scheduler();
  __builtin_trap();
}

namespace emu {
namespace {
void* init_stack(char* base, Lane* l) {
  uintptr_t top = (reinterpret_cast<uintptr_t>(base) + kPage + kStack) & ~uintptr_t(15);
  uint64_t* sp = reinterpret_cast<uint64_t*>(top - 72);
  uint32_t* csr = reinterpret_cast<uint32_t*>(sp);
  csr[0] = 0x1F80;                               // MXCSR: default rounding, exceptions masked
  reinterpret_cast<uint16_t*>(csr)[2] = 0x037F;  // x87 control word default
  sp[1] = sp[2] = sp[3] = 0;                     // r15, r14, r13
  sp[4] = reinterpret_cast<uint64_t>(l);         // r12: emu_fiber_main's argument
  sp[5] = sp[6] = 0;                             // rbx, rbp
  sp[7] = reinterpret_cast<uint64_t>(&emu_fiber_entry);
  return sp;
}

const char* state_name(State s) {
  switch (s) {
    case READY: return "running";
    case AT_WARP: return "__syncwarp";
    case AT_COLLECTIVE: return "a warp collective";
    case AT_BLOCK: return "__syncthreads";
    case DONE: return "exited";
  }
  return "?";
}

// Describes where every thread of the block stands (for deadlock and divergence reports).
std::string describe_block(Worker& w) {
  std::map<std::string, int> groups;
  for (int t = 0; t < w.nthreads; ++t) {
    const Lane& l = w.lanes[t];
    std::string k = state_name(l.state);
    if (l.site && l.state != DONE && l.state != READY) k += std::string(" at ") + l.site;
    ++groups[k];
  }
  std::string s;
  for (auto& [k, n] : groups) s += (s.empty() ? "" : ", ") + std::to_string(n) + " threads " + k;
  return s;
}

enum Release { NONE, RELEASED, ERROR };

// Releases the warp barriers and collectives of warp wi whose lanes have all arrived.
Release release_warp(Worker& w, int wi) {
  const int first = wi * 32, end = std::min(w.nthreads, first + 32);
  const unsigned exists = end - first == 32 ? 0xffffffffu : (1u << (end - first)) - 1;
  Release r = NONE;
  for (int t = first; t < end; ++t) {
    Lane& l = w.lanes[t];
    if (l.state != AT_WARP && l.state != AT_COLLECTIVE) continue;
    const unsigned want = l.mask & exists;
    bool all = true;
    for (int u = first; u < end && all; ++u) {
      const Lane& o = w.lanes[u];
      if (!(want >> (u - first) & 1) || o.state == DONE) continue;
      if (o.state != l.state || o.mask != l.mask) all = false;
    }
    if (!all) continue;
    if (!(want >> (t - first) & 1)) {
      w.cur = &l;
      set_failure(w, CUDA_ERROR_LAUNCH_FAILED, "%s at %s with a mask (0x%08x) that leaves out the calling lane",
                  state_name(l.state), l.site, l.mask);
      return ERROR;
    }
    unsigned took = 0;
    for (int u = first; u < end; ++u) {
      const Lane& o = w.lanes[u];
      if ((want >> (u - first) & 1) && o.state != DONE) took |= 1u << (u - first);
    }
    if (l.state == AT_COLLECTIVE) {
      for (int u = first; u < end; ++u) {
        const Lane& o = w.lanes[u];
        if ((took >> (u - first) & 1) && o.site != l.site) {
          w.cur = &w.lanes[u];
          set_failure(w, CUDA_ERROR_LAUNCH_FAILED, "lanes of warp %d meet at different collectives: lane %d at %s, "
                      "lane %d at %s", wi, t - first, l.site, u - first, o.site);
          return ERROR;
        }
      }
      uint64_t vals[32] = {};
      for (int u = first; u < end; ++u)
        if (took >> (u - first) & 1) vals[u - first] = w.lanes[u].value;
      for (int u = first; u < end; ++u)
        if (took >> (u - first) & 1) {
          std::memcpy(w.lanes[u].inbox, vals, sizeof vals);
          w.lanes[u].inbox_lanes = took;
        }
    }
    for (int u = first; u < end; ++u)
      if (took >> (u - first) & 1) w.lanes[u].state = READY;
    r = RELEASED;
  }
  return r;
}

// Releases __syncthreads once every thread that has not exited waits there.
Release release_block(Worker& w) {
  const char* site = nullptr;
  int waiting = 0;
  for (int t = 0; t < w.nthreads; ++t) {
    const Lane& l = w.lanes[t];
    if (l.state == DONE) continue;
    if (l.state != AT_BLOCK) return NONE;
    if (!site) site = l.site;
    ++waiting;
  }
  if (!waiting) return NONE;
  for (int t = 0; t < w.nthreads; ++t) {
    const Lane& l = w.lanes[t];
    if (l.state == AT_BLOCK && std::strcmp(l.site, site) != 0) {
      w.cur = nullptr;
      set_failure(w, CUDA_ERROR_LAUNCH_FAILED, "divergent __syncthreads: threads wait at %s and at %s", site, l.site);
      return ERROR;
    }
  }
  // Whole warps may have exited (they drop out, as on the hardware); a warp with only some lanes gone
  // while the others wait at __syncthreads is the undefined case of a barrier in divergent code.
  for (int wi = 0; wi < w.nwarps; ++wi) {
    int done = 0, n = 0;
    for (int t = wi * 32; t < std::min(w.nthreads, wi * 32 + 32); ++t, ++n) done += w.lanes[t].state == DONE;
    if (done && done != n) {
      w.cur = nullptr;
      set_failure(w, CUDA_ERROR_LAUNCH_FAILED, "__syncthreads at %s is reached by %d lanes of warp %d; the other %d "
                  "have exited (a barrier in divergent code)", site, n - done, wi, done);
      return ERROR;
    }
  }
  for (int t = 0; t < w.nthreads; ++t)
    if (w.lanes[t].state == AT_BLOCK) w.lanes[t].state = READY;
  return RELEASED;
}

// After a block: every lane of a warp made the same WMMA calls.
bool check_wmma(Worker& w) {
  for (int wi = 0; wi < w.nwarps; ++wi) {
    const int first = wi * 32, end = std::min(w.nthreads, first + 32);
    for (int t = first + 1; t < end; ++t) {
      const Lane &a = w.lanes[first], &b = w.lanes[t];
      if (a.wmma_calls != b.wmma_calls || a.wmma_hash != b.wmma_hash) {
        w.cur = nullptr;
        set_failure(w, CUDA_ERROR_LAUNCH_FAILED, "lanes 0 and %d of warp %d made different WMMA calls (%u and %u calls, "
                    "or other arguments): the API needs every lane, converged, with the same arguments",
                    t - first, wi, a.wmma_calls, b.wmma_calls);
        return false;
      }
    }
  }
  return true;
}

// Runs one block on the calling OS thread; false on failure (w.why says why).
bool run_block(Worker& w, uint3 bid) {
  g_block.bid = bid;
  w.shared.clear();
  w.shared_bytes = 0;
  for (int t = 0; t < w.nthreads; ++t) {
    Lane& l = w.lanes[t];
    const dim3& bd = g_block.bdim;
    l.coord.tid = uint3{(unsigned)(t % bd.x), (unsigned)(t / bd.x % bd.y), (unsigned)(t / (bd.x * bd.y))};
    l.coord.lane = t & 31;
    l.coord.warp = t >> 5;
    l.state = READY;
    l.site = nullptr;
    l.copies.clear();
    l.group = 0;
    l.wmma_hash = 0;
    l.wmma_calls = 0;
    l.sp = init_stack(w.stacks[t], &l);
  }
  w.rng = order_cfg().seed * 0x9E3779B97F4A7C15ull ^ ((uint64_t)bid.x << 1 | (uint64_t)bid.y << 22 | (uint64_t)bid.z << 43) ^ 0x2545F4914F6CDD1Dull;
  if (!w.rng) w.rng = 1;
  std::vector<int> warp_order, lane_order;
  for (;;) {
    bool progress = false;
    order(w, w.nwarps);
    warp_order = w.perm;
    for (int wi : warp_order) {
      const int first = wi * 32, n = std::min(w.nthreads, first + 32) - first;
      for (;;) {
        bool ran = false;
        order(w, n);
        lane_order = w.perm;
        for (int li : lane_order) {
          Lane& l = w.lanes[first + li];
          if (l.state != READY) continue;
          w.cur = &l;
          g_thread = &l.coord;
          emu_switch(&w.sched_sp, l.sp);
          ran = true;
          if (w.failed) return false;
        }
        progress |= ran;
        const Release r = release_warp(w, wi);
        if (r == ERROR) return false;
        if (r == RELEASED) {
          progress = true;
          continue;
        }
        break;
      }
    }
    bool all_done = true;
    for (int t = 0; t < w.nthreads && all_done; ++t) all_done = w.lanes[t].state == DONE;
    if (all_done) return check_wmma(w);
    const Release r = release_block(w);
    if (r == ERROR) return false;
    if (r == RELEASED) continue;
    if (!progress) {
      w.cur = nullptr;
      set_failure(w, CUDA_ERROR_LAUNCH_FAILED, "deadlock: no thread can go on (%s)", describe_block(w).c_str());
      return false;
    }
  }
}

// ---- faults ----
struct sigaction g_old_segv, g_old_bus;
void describe_address(uintptr_t a, char* buf, size_t len);

void on_fault(int sig, siginfo_t* si, void* uc) {
  Worker* w = t_worker;
  if (!w || !w->in_kernel) {
    struct sigaction* old = sig == SIGSEGV ? &g_old_segv : &g_old_bus;
    if (old->sa_flags & SA_SIGINFO) {
      old->sa_sigaction(sig, si, uc);
    } else if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
      signal(sig, SIG_DFL);  // return: the access faults again, now fatally
    } else {
      old->sa_handler(sig);
    }
    return;
  }
  const uintptr_t a = reinterpret_cast<uintptr_t>(si->si_addr);
  // No allocation here: the fault may come from a corrupted heap.
  char where[320] = "";
  bool stack = false;
  for (int t = 0; t < w->nthreads && !stack; ++t) {
    const uintptr_t g = reinterpret_cast<uintptr_t>(w->stacks[t]);
    stack = a >= g && a < g + kPage;
  }
  if (stack) {
    snprintf(where, sizeof where, "stack overflow (more than 64 KiB of locals)");
  } else if (a == 0 && si->si_code == SI_KERNEL) {
    snprintf(where, sizeof where, "general protection fault (a misaligned vector access?)");
  } else {
    describe_address(a, where, sizeof where);
  }
  set_failure(*w, stack ? CUDA_ERROR_LAUNCH_FAILED : CUDA_ERROR_ILLEGAL_ADDRESS, "%s access to 0x%lx: %s",
              sig == SIGSEGV ? "invalid" : "bus error on", (unsigned long)a, where);
  siglongjmp(w->fault_jmp, 1);
}

void install_fault_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_old_segv);
    sigaction(SIGBUS, &sa, &g_old_bus);
  });
}

// Gives the calling thread what it needs to run blocks: fiber stacks, lanes, a signal stack.
void prepare_worker(Worker& w, int threads) {
  if (!w.altstack) {
    // Our own signal stack (64 KiB) for the fault handler, whatever the thread had (Rust's is ~8 KiB).
    const size_t n = 64 << 10;
    void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED) {
      stack_t ss {};
      ss.ss_sp = p;
      ss.ss_size = n;
      sigaltstack(&ss, nullptr);
      w.altstack = static_cast<char*>(p);
    }
  }
  if ((int)w.lanes.size() < threads) w.lanes.resize(threads);
  while ((int)w.stacks.size() < threads) {
    void* p = mmap(nullptr, kPage + kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      perror("emulated CUDA: mmap of a fiber stack");
      abort();
    }
    if (mprotect(p, kPage, PROT_NONE) != 0) {  // guard page: a stack overflow faults
      perror("emulated CUDA: mprotect of a fiber stack's guard page");
      abort();
    }
    w.stacks.push_back(static_cast<char*>(p));
  }
}

// ---- the worker pool: blocks of one launch handed out through an atomic counter ----
struct Job {
  const KernelInfo* kernel;
  void** params;
  dim3 grid, block;
  unsigned dyn_smem;
  std::atomic<uint64_t> next{0};
  uint64_t total = 0;
  std::atomic<bool> failed{false};
  std::mutex mu;
  int code = CUDA_SUCCESS;
  std::string why;
};

void run_blocks(Job& j) {
  Worker& w = worker();
  prepare_worker(w, (int)(j.block.x * j.block.y * j.block.z));
  w.kernel = j.kernel;
  w.params = j.params;
  w.nthreads = (int)(j.block.x * j.block.y * j.block.z);
  w.nwarps = (w.nthreads + 31) / 32;
  w.dyn_smem = j.dyn_smem;
  g_block.bdim = j.block;
  g_block.gdim = j.grid;
  for (uint64_t b; !j.failed.load(std::memory_order_relaxed) && (b = j.next.fetch_add(1)) < j.total;) {
    const uint3 bid{(unsigned)(b % j.grid.x), (unsigned)(b / j.grid.x % j.grid.y),
                    (unsigned)(b / ((uint64_t)j.grid.x * j.grid.y))};
    w.failed = false;
    w.cur = nullptr;
    bool ok;
    w.in_kernel = true;
    if (sigsetjmp(w.fault_jmp, 1) == 0) {
      ok = run_block(w, bid);
    } else {
      ok = false;  // a fault: the block is abandoned (its fibers are reset at the next block)
    }
    w.in_kernel = false;
    if (!ok) {
      std::lock_guard<std::mutex> lk(j.mu);
      if (!j.failed.exchange(true)) {
        j.code = w.code;
        j.why = w.why;
      }
    }
  }
  g_thread = nullptr;
}

std::mutex g_launch_mu;
std::mutex& g_pool_mu = *new std::mutex;
std::condition_variable& g_pool_cv = *new std::condition_variable;
std::condition_variable& g_done_cv = *new std::condition_variable;
Job* g_job = nullptr;
uint64_t g_generation = 0;
int g_finished = 0;  // pool threads done with the current generation (every one takes part)
int g_pool_threads = 0;

void pool_loop() {
  uint64_t seen = 0;
  for (;;) {
    Job* j;
    {
      std::unique_lock<std::mutex> lk(g_pool_mu);
      g_pool_cv.wait(lk, [&] { return g_generation != seen; });
      seen = g_generation;
      j = g_job;
    }
    run_blocks(*j);
    std::lock_guard<std::mutex> lk(g_pool_mu);
    if (++g_finished == g_pool_threads) g_done_cv.notify_all();
  }
}

int os_threads() {
  static const int n = [] {
    const char* e = getenv("ROBERTA_EMU_THREADS");
    const int v = e ? atoi(e) : std::min(16, (int)std::thread::hardware_concurrency());
    return std::max(1, std::min(v, 64));
  }();
  return n;
}
}  // namespace

bool redzones_intact(std::string* why);
const char* order_name() { return order_cfg().name.c_str(); }

void register_kernel(const char* name, ThreadFn run, PackFn pack, int nparams) {
  registry()[name] = KernelInfo{name, run, pack, nparams};
}
const Kernel* find_kernel(const char* name) {
  auto& r = registry();
  auto it = r.find(name);
  return it == r.end() ? nullptr : reinterpret_cast<const Kernel*>(&it->second);
}
static const KernelInfo& info(const Kernel* k) { return *reinterpret_cast<const KernelInfo*>(k); }
const char* kernel_name(const Kernel* k) { return info(k).name.c_str(); }
int kernel_nparams(const Kernel* k) { return info(k).nparams; }
size_t pack_args(const Kernel* k, void** params, unsigned char* out, size_t* offsets) {
  return info(k).pack(params, out, offsets);
}

int run_kernel(const Kernel* k, void** params, const dim3& grid, const dim3& block, unsigned dyn_smem, std::string* why) {
  std::lock_guard<std::mutex> launch(g_launch_mu);
  install_fault_handler();
  Job j;
  j.kernel = &info(k);
  j.params = params;
  j.grid = grid;
  j.block = block;
  j.dyn_smem = dyn_smem;
  j.total = (uint64_t)grid.x * grid.y * grid.z;
  const int helpers = (int)std::min<uint64_t>(os_threads() - 1, j.total ? j.total - 1 : 0);
  if (helpers > 0) {
    std::unique_lock<std::mutex> lk(g_pool_mu);
    while (g_pool_threads < os_threads() - 1) {
      std::thread(pool_loop).detach();
      ++g_pool_threads;
    }
    g_job = &j;
    g_finished = 0;
    ++g_generation;
    g_pool_cv.notify_all();
  }
  run_blocks(j);  // the launching thread runs blocks too
  if (helpers > 0) {
    // Every pool thread must have left the job (it lives on this stack) before it goes away.
    std::unique_lock<std::mutex> lk(g_pool_mu);
    g_done_cv.wait(lk, [&] { return g_finished == g_pool_threads; });
    g_job = nullptr;
  }
  if (j.failed.load()) {
    if (why) *why = j.why;
    return j.code;
  }
  std::string rz;
  if (!redzones_intact(&rz)) {
    if (why) *why = "kernel " + j.kernel->name + " " + rz;
    return CUDA_ERROR_ILLEGAL_ADDRESS;
  }
  return CUDA_SUCCESS;
}

// ---- barriers and collectives (called from fibers) ----
void syncthreads(const char* site) {
  Worker& w = *t_worker;
  w.cur->state = AT_BLOCK;
  w.cur->site = site;
  yield_to_scheduler();
}

void syncwarp(unsigned mask, const char* site) {
  Worker& w = *t_worker;
  w.cur->state = AT_WARP;
  w.cur->mask = mask;
  w.cur->site = site;
  yield_to_scheduler();
}

const uint64_t* exchange(uint64_t v, unsigned mask, const char* site) {
  Worker& w = *t_worker;
  Lane* l = w.cur;
  l->state = AT_COLLECTIVE;
  l->mask = mask;
  l->site = site;
  l->value = v;
  yield_to_scheduler();
  return l->inbox;
}

uint64_t slot_of(const uint64_t* slots, int lane, const char* site) {
  Worker& w = *t_worker;
  if (!(w.cur->inbox_lanes >> lane & 1)) {
    const Lane& src = w.lanes[w.cur->coord.warp * 32 + lane];
    fail(CUDA_ERROR_LAUNCH_FAILED, "the shuffle at %s reads lane %d, which %s (an undefined value on a GPU)", site, lane,
         src.state == DONE ? "has exited" : "is not in the mask");
  }
  return slots[lane];
}

bool lane_exited(int lane) {
  Worker& w = *t_worker;
  const int t = w.cur->coord.warp * 32 + lane;
  return t >= w.nthreads || !(w.cur->inbox_lanes >> lane & 1);
}

void wmma_call(int op, const void* ptr, unsigned ldm, int layout, unsigned align, unsigned ld_unit) {
  Worker& w = *t_worker;
  Lane& l = *w.cur;
  if (ptr && (reinterpret_cast<uintptr_t>(ptr) % align) != 0)
    fail(CUDA_ERROR_MISALIGNED_ADDRESS, "WMMA load/store pointer %p is not %u-byte aligned", ptr, align);
  if (ptr && ldm % ld_unit != 0)
    fail(CUDA_ERROR_MISALIGNED_ADDRESS, "WMMA leading dimension %u is not a multiple of 16 bytes", ldm);
  uint64_t h = l.wmma_hash ^ ((uint64_t)op << 56 | (uint64_t)layout << 48 | ldm);
  h = (h ^ reinterpret_cast<uintptr_t>(ptr)) * 0x100000001B3ull;
  l.wmma_hash = h ^ (h >> 29);
  ++l.wmma_calls;
}

void shared_decl(void* p, size_t bytes, const char* name) {
  Worker& w = *t_worker;
  unsigned char* a = static_cast<unsigned char*>(p);
  for (auto& s : w.shared)
    if (s.first == a) return;
  w.shared.emplace_back(a, bytes);
  w.shared_bytes += bytes;
  if (w.shared_bytes + w.dyn_smem > kMaxShared)
    fail(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "%zu bytes of shared memory (static, up to %s) + %u dynamic: over the "
         "%u-byte limit", w.shared_bytes, name, w.dyn_smem, kMaxShared);
  std::memset(a, 0xFF, bytes);  // NaN in f16 and f32: a read of shared memory nobody wrote shows
}
}  // namespace emu

// ---- cp.async (sm_80), reached through the generator's rewrite of inline asm ----
namespace {
thread_local char t_shared_anchor;
}
unsigned emu_cvta_generic_to_shared(const void* p) {
  return (unsigned)(int32_t)(reinterpret_cast<intptr_t>(p) - reinterpret_cast<intptr_t>(&t_shared_anchor));
}

namespace emu {
namespace {
unsigned char* shared_ptr(unsigned handle, int bytes) {
  Worker& w = *t_worker;
  unsigned char* p = reinterpret_cast<unsigned char*>(&t_shared_anchor) + (int32_t)handle;
  for (auto& s : w.shared)
    if (p >= s.first && p + bytes <= s.first + s.second) return p;
  fail(CUDA_ERROR_ILLEGAL_ADDRESS, "cp.async destination (shared handle 0x%x) is outside every __shared__ array", handle);
}
// Performs the copies of every group but the newest `keep` committed ones.
void complete(Lane& l, int keep) {
  size_t kept = 0;
  for (size_t i = 0; i < l.copies.size(); ++i) {
    Copy& c = l.copies[i];
    if (c.group < l.group - keep) {
      if (c.n) std::memcpy(c.dst, c.src, c.n);
      std::memset(c.dst + c.n, 0, c.size - c.n);
    } else {
      l.copies[kept++] = c;
    }
  }
  l.copies.resize(kept);
}
}  // namespace
}  // namespace emu

void emu_asm(const char* tmpl, ...) {
  using namespace emu;
  Worker& w = *t_worker;
  Lane& l = *w.cur;
  va_list ap;
  va_start(ap, tmpl);
  if (!strncmp(tmpl, "cp.async.cg.shared.global", 25) || !strncmp(tmpl, "cp.async.ca.shared.global", 25)) {
    // "cp.async.cg.shared.global [%0], [%1], CP_SIZE[, %2];"
    const unsigned handle = va_arg(ap, unsigned);
    const unsigned char* src = va_arg(ap, const unsigned char*);
    const char* c = strstr(tmpl, "[%1]");
    const int size = c ? atoi(c + 5) : 0;
    const bool has_src_size = c && strchr(c + 5, '%') != nullptr;
    const int n = has_src_size ? va_arg(ap, int) : size;
    va_end(ap);
    if (size != 4 && size != 8 && size != 16) fail(CUDA_ERROR_LAUNCH_FAILED, "cp.async with copy size %d: %s", size, tmpl);
    if (n < 0 || n > size) fail(CUDA_ERROR_LAUNCH_FAILED, "cp.async src-size %d is outside 0..%d", n, size);
    unsigned char* dst = shared_ptr(handle, size);
    if (reinterpret_cast<uintptr_t>(dst) % size || reinterpret_cast<uintptr_t>(src) % size)
      fail(CUDA_ERROR_MISALIGNED_ADDRESS, "cp.async of %d bytes from %p to shared %p: not aligned", size, src, dst);
    if (n && check_bounds() && !mem_range_ok(src, n))
      fail(CUDA_ERROR_ILLEGAL_ADDRESS, "cp.async reads %d bytes at %p, outside every allocation", n, src);
    std::memset(dst, 0xFF, size);  // undefined until the wait: a read (or a refill race) before it sees NaN
    l.copies.push_back(Copy{dst, src, n, size, l.group});
    return;
  }
  if (!strncmp(tmpl, "cp.async.commit_group", 21)) {
    va_end(ap);
    ++l.group;
    return;
  }
  if (!strncmp(tmpl, "cp.async.wait_group", 19)) {
    const int keep = va_arg(ap, int);
    va_end(ap);
    complete(l, keep);
    return;
  }
  if (!strncmp(tmpl, "cp.async.wait_all", 17)) {
    va_end(ap);
    ++l.group;
    complete(l, 0);
    return;
  }
  va_end(ap);
  fail(CUDA_ERROR_NOT_SUPPORTED, "inline asm the emulator does not know: %s", tmpl);
}

// ---- device memory ----
namespace emu {
namespace {
struct Alloc {
  size_t size;          // bytes asked for
  size_t redzone = 0;   // bytes after them holding kRedzoneByte, checked after every launch
  size_t lead = 0;      // bounds build: red-zone bytes in front of the start (the page's slack)
  char* map = nullptr;  // the mapping (bounds build: guard page, body, guard page)
  size_t map_len = 0;
};
constexpr unsigned char kRedzoneByte = 0xA5;
constexpr size_t kRedzone = 64;  // without guard pages
std::mutex& g_mem_mu = *new std::mutex;
std::map<uintptr_t, Alloc>& g_allocs = *new std::map<uintptr_t, Alloc>;
// Bounds build: freed allocations stay mapped PROT_NONE (a late access faults) — the newest 1024.
std::map<uintptr_t, Alloc>& g_freed = *new std::map<uintptr_t, Alloc>;
std::deque<uintptr_t>& g_freed_order = *new std::deque<uintptr_t>;

void describe_address(uintptr_t a, char* buf, size_t len) {
  // Runs in the fault handler: no lock (the faulting thread may not hold it; a torn read only blurs a message)
  // and no allocation.
  auto near = [&](std::map<uintptr_t, Alloc>& m, const char* what) -> bool {
    auto it = m.upper_bound(a);
    if (it != m.begin()) {
      auto p = std::prev(it);
      if (a >= p->first && a < p->first + p->second.size) {
        snprintf(buf, len, "byte %lu of a %s %zu-byte allocation at 0x%lx", (unsigned long)(a - p->first), what,
                 p->second.size, (unsigned long)p->first);
        return true;
      }
      if (a >= p->first + p->second.size && a < p->first + p->second.size + 65536) {
        snprintf(buf, len, "%lu bytes past the end of a %s %zu-byte allocation at 0x%lx",
                 (unsigned long)(a - p->first - p->second.size), what, p->second.size, (unsigned long)p->first);
        return true;
      }
    }
    if (it != m.end() && it->first - a < 65536) {
      snprintf(buf, len, "%lu bytes before a %s %zu-byte allocation at 0x%lx", (unsigned long)(it->first - a), what,
               it->second.size, (unsigned long)it->first);
      return true;
    }
    return false;
  };
  if (near(g_allocs, "live") || near(g_freed, "freed")) return;
  snprintf(buf, len, "not in or near any device allocation");
}
}  // namespace

int mem_alloc(size_t n, void** out) {
  if (n == 0) return CUDA_ERROR_INVALID_VALUE;  // as cuMemAlloc: a zero-size allocation is an error
  Alloc a{n};
  char* p;
  if (check_bounds()) {
    // The allocation ends at a guard page: a read or write past its end faults. Its start is 16-byte aligned
    // (the widest vector the kernels use): up to 15 bytes past an odd size, and the slack in front of the
    // start, are red zones instead (writes there are caught after the launch, reads are not).
    const size_t len = (n + 15) / 16 * 16;
    const size_t body = (len + kPage - 1) / kPage * kPage;
    a.map_len = body + 2 * kPage;
    a.map = static_cast<char*>(mmap(nullptr, a.map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
    if (a.map == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
    if (mprotect(a.map + kPage, body, PROT_READ | PROT_WRITE) != 0) {
      munmap(a.map, a.map_len);
      return CUDA_ERROR_OUT_OF_MEMORY;
    }
    p = a.map + kPage + body - len;
    a.redzone = len - n;
    a.lead = (size_t)(p - (a.map + kPage));
  } else {
    // Its own pages (not the malloc heap: a wild write must not corrupt what the fault handler needs),
    // 256-byte aligned as cuMemAlloc's, then a red zone.
    a.map_len = (n + kRedzone + kPage - 1) / kPage * kPage;
    a.map = static_cast<char*>(mmap(nullptr, a.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (a.map == MAP_FAILED) return CUDA_ERROR_OUT_OF_MEMORY;
    p = a.map;
    a.redzone = a.map_len - n < kRedzone ? a.map_len - n : kRedzone;
  }
  std::memset(p, 0xFF, n);  // device memory starts as garbage: NaN bytes make a read of it show
  std::memset(p + n, kRedzoneByte, a.redzone);
  std::memset(p - a.lead, kRedzoneByte, a.lead);
  std::lock_guard<std::mutex> lk(g_mem_mu);
  g_allocs[reinterpret_cast<uintptr_t>(p)] = a;
  *out = p;
  return CUDA_SUCCESS;
}

int mem_free(void* p) {
  std::lock_guard<std::mutex> lk(g_mem_mu);
  auto it = g_allocs.find(reinterpret_cast<uintptr_t>(p));
  if (it == g_allocs.end()) return CUDA_ERROR_INVALID_VALUE;
  Alloc a = it->second;
  g_allocs.erase(it);
  if (!check_bounds()) {
    munmap(a.map, a.map_len);
    return CUDA_SUCCESS;
  }
  // Keep the range reserved and inaccessible (its memory is released): a use after free faults.
  mmap(a.map, a.map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  g_freed[reinterpret_cast<uintptr_t>(p)] = a;
  g_freed_order.push_back(reinterpret_cast<uintptr_t>(p));
  if (g_freed_order.size() > 1024) {
    auto old = g_freed.find(g_freed_order.front());
    g_freed_order.pop_front();
    if (old != g_freed.end()) {
      munmap(old->second.map, old->second.map_len);
      g_freed.erase(old);
    }
  }
  return CUDA_SUCCESS;
}

bool redzones_intact(std::string* why) {
  std::lock_guard<std::mutex> lk(g_mem_mu);
  for (auto& [start, a] : g_allocs) {
    unsigned char* after = reinterpret_cast<unsigned char*>(start) + a.size;
    unsigned char* before = reinterpret_cast<unsigned char*>(start) - a.lead;
    for (auto [z, n, where] : {std::make_tuple(after, a.redzone, "past the end"), std::make_tuple(before, a.lead, "before the start")}) {
      size_t first = n, last = 0;
      for (size_t i = 0; i < n; ++i)
        if (z[i] != kRedzoneByte) {
          first = std::min(first, i);
          last = i;
        }
      if (first == n) continue;
      char buf[256];
      snprintf(buf, sizeof buf, "wrote %s of a %zu-byte allocation at 0x%lx (red-zone bytes %zu..%zu changed)", where,
               a.size, (unsigned long)start, first, last);
      *why = buf;
      std::memset(z, kRedzoneByte, n);  // report it once
      return false;
    }
  }
  return true;
}

bool mem_range_ok(const void* p, size_t n) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lk(g_mem_mu);
  auto it = g_allocs.upper_bound(a);
  if (it == g_allocs.begin()) return false;
  --it;
  return a >= it->first && a + n <= it->first + it->second.size;
}
}  // namespace emu
