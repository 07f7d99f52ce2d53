//! roberta-cuda-emu: a test-only emulated CUDA driver, so that the CUDA path (every kernel of kernels/*.cu,
//! the GPU encoder, CUDA graphs, the pipelines with `--device cuda`) runs on machines without a GPU.
//!
//! It is a `libcuda.so` written in C++ (`cpp/`): cudarc loads it in place of NVIDIA's when its folder is
//! first on `LD_LIBRARY_PATH`. Device memory is host memory; each kernel runs the same `kernels/*.cu`
//! source, compiled as host C++ with an emulation header (one fiber per CUDA thread, barriers, warp
//! collectives, WMMA, cp.async queued until its wait, graphs recorded and replayed, events). It proves
//! indexing, synchronisation and host orchestration; it says nothing about speed.
//!
//! This crate builds that library ([`build`]); `cargo xtask emulate -- COMMAND` builds it and runs a
//! command with it. The library is written under `target/cuda-emu/`, a folder cargo never puts on a
//! library path, so it cannot shadow a real driver; the device it reports is named `emulated sm_XX`.
//!
//! Run-time settings (environment): `ROBERTA_EMU_ORDER` = `forward` | `reverse` | `random:SEED` (the order
//! lanes and warps run between barriers), `ROBERTA_EMU_THREADS` (OS threads running blocks, default: every
//! core). Build-time: the architecture (`__CUDA_ARCH__`, so sm_70 takes the kernels' pre-cp.async path) and
//! the bounds-checking variant (each allocation against a guard page: an access past its end is
//! `CUDA_ERROR_ILLEGAL_ADDRESS` naming the kernel).
pub mod gen;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The C++ sources, embedded so that a build never depends on the working directory.
const SOURCES: [(&str, &str); 6] = [
    ("emu_kernel.h", include_str!("../cpp/emu_kernel.h")),
    ("emu_runtime.h", include_str!("../cpp/emu_runtime.h")),
    ("runtime.cpp", include_str!("../cpp/runtime.cpp")),
    ("driver.cpp", include_str!("../cpp/driver.cpp")),
    ("include/cuda_fp16.h", include_str!("../cpp/include/cuda_fp16.h")),
    ("include/mma.h", include_str!("../cpp/include/mma.h")),
];

/// Test kernels of the emulator itself (deadlock, out-of-bounds, ...): real CUDA, in the library too.
pub const SELFTEST_CU: &str = include_str!("../cpp/selftest.cu");
/// Entry points of [`SELFTEST_CU`].
pub const SELFTEST_ENTRIES: &[&str] = &[
    "emu_test_copy", "emu_test_deadlock", "emu_test_divergent_sync", "emu_test_oob_read", "emu_test_shuffle_exited",
    "emu_test_shared_poison", "emu_test_wmma_misaligned",
];

/// Errors of the build.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A kernel file has a construct the generator does not understand.
    #[error("{file}:{line}: {what}")]
    Generate { file: String, line: usize, what: String },
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// The C++ compiler could not be run, or failed.
    #[error("{cmd} failed:\n{log}")]
    Compile { cmd: String, log: String },
    /// `cuda.h` was not found (it comes with the NVRTC wheels' cuda_runtime/include).
    #[error("cuda.h not found in {0} (install the NVRTC wheels: cargo xtask check-kernels)")]
    NoCudaHeader(PathBuf),
}

/// What to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// Emulated architecture: 70, 80 or 90 (`__CUDA_ARCH__` = 10×).
    pub sm: u32,
    /// Guard pages after every device allocation.
    pub check_bounds: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { sm: 90, check_bounds: false }
    }
}

/// Builds the emulated driver (when missing or stale) under `out_root` and returns the folder holding
/// its `libcuda.so`. `cuda_include` holds the wheel's `cuda.h` (for the driver API's exact enums). The
/// folder's name carries a hash of every input (C++ sources, kernel sources, options, compiler version),
/// so an edited kernel gets a fresh build and an old one is never reused.
pub fn build(opts: Options, out_root: &Path, cuda_include: &Path) -> Result<PathBuf, Error> {
    build_patched(opts, out_root, cuda_include, &[])
}

/// [`build`] with some kernel files' sources replaced: `(file name, source)`, e.g. `("gemm.cu", …)`. The
/// mutation check builds deliberately broken kernels this way (the NVRTC image the tests load is still
/// the real one; only the code the emulator runs changes).
pub fn build_patched(opts: Options, out_root: &Path, cuda_include: &Path, patches: &[(&str, &str)]) -> Result<PathBuf, Error> {
    if let Some((f, _)) = patches.iter().find(|(f, _)| !roberta_gpu::KERNEL_FILES.iter().any(|k| k.0 == *f)) {
        return Err(Error::Generate { file: f.to_string(), line: 0, what: "not a kernel file of KERNEL_FILES".into() });
    }
    if !cuda_include.join("cuda.h").exists() {
        return Err(Error::NoCudaHeader(cuda_include.to_path_buf()));
    }
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".into());
    let version = Command::new(&cxx).arg("--version").output().map_err(|e| Error::Compile {
        cmd: format!("{cxx} --version"),
        log: e.to_string(),
    })?;
    let units = units(patches)?;
    // Every input, NUL-separated: the compiler, the flags, this CPU's features (-march=native), the sources.
    let mut key: Vec<u8> = version.stdout.clone();
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags_line = cpu.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    for part in [format!("{opts:?}{:?}", flags(opts)), flags_line.to_string()] {
        key.push(0);
        key.extend(part.bytes());
    }
    for (n, s) in SOURCES.iter().map(|(n, s)| (n.to_string(), s.to_string())).chain(units.iter().cloned()) {
        key.push(0);
        key.extend(n.bytes());
        key.push(0);
        key.extend(s.bytes());
    }
    let hash = roberta_gpu::compile::fnv1a64(&key);
    let name = format!("sm{}{}-{hash:016x}", opts.sm, if opts.check_bounds { "-bounds" } else { "" });
    let dir = out_root.join(&name);
    let lib = dir.join("libcuda.so");
    if lib.exists() {
        return Ok(dir);
    }
    let work = out_root.join(format!("{name}.build-{}", std::process::id()));
    let write = |p: &Path, s: &str| -> Result<(), Error> {
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| Error::Io { path: d.to_path_buf(), source: e })?;
        }
        std::fs::write(p, s).map_err(|e| Error::Io { path: p.to_path_buf(), source: e })
    };
    for (n, s) in SOURCES {
        write(&work.join(n), s)?;
    }
    for (n, s) in &units {
        write(&work.join(n), s)?;
    }
    let mut objects = Vec::new();
    let mut jobs = Vec::new();
    let cpp: Vec<String> = ["runtime.cpp", "driver.cpp"].iter().map(|s| s.to_string()).chain(units.iter().map(|u| u.0.clone())).collect();
    for src in &cpp {
        let obj = work.join(format!("{src}.o"));
        let mut cmd = Command::new(&cxx);
        cmd.args(flags(opts)).arg("-I").arg(&work).arg("-I").arg(work.join("include"));
        if src == "runtime.cpp" || src == "driver.cpp" {
            cmd.arg("-I").arg(cuda_include); // the real cuda.h, for the driver API's enums
        }
        cmd.arg("-c").arg(work.join(src)).arg("-o").arg(&obj);
        objects.push(obj);
        jobs.push(cmd);
    }
    let mut link = Command::new(&cxx);
    link.args(["-shared", "-Wl,-soname,libcuda.so", "-o"]).arg(work.join("libcuda.so")).args(&objects).arg("-lpthread");
    if let Err(e) = run_parallel(jobs).and_then(|()| run(&mut link)) {
        let _ = std::fs::remove_dir_all(&work);
        return Err(e);
    }
    std::fs::create_dir_all(&dir).map_err(|e| Error::Io { path: dir.clone(), source: e })?;
    let tmp = dir.join(format!("libcuda.so.tmp-{}", std::process::id()));
    std::fs::copy(work.join("libcuda.so"), &tmp).map_err(|e| Error::Io { path: tmp.clone(), source: e })?;
    std::fs::rename(&tmp, &lib).map_err(|e| Error::Io { path: lib.clone(), source: e })?;
    for (n, s) in &units {
        let _ = std::fs::write(dir.join(n), s); // the generated sources, for reading a failure's line numbers
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(dir)
}

/// Compiler flags of every translation unit.
fn flags(opts: Options) -> Vec<String> {
    let mut f: Vec<String> = [
        "-std=gnu++17", "-O2", "-march=native", "-fPIC", "-fno-strict-aliasing", "-Wall", "-Wno-unknown-pragmas",
        "-Wno-unused-variable", "-Wno-unused-function", "-Wno-unused-but-set-variable",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    f.push(format!("-D__CUDA_ARCH__={}", opts.sm * 10));
    f.push(format!("-DEMU_SM={}", opts.sm));
    if opts.check_bounds {
        f.push("-DEMU_CHECK_BOUNDS=1".into());
    }
    f
}

/// (file name, generated C++) for every kernel file, and the emulator's own test kernels.
fn units(patches: &[(&str, &str)]) -> Result<Vec<(String, String)>, Error> {
    let common = roberta_gpu::compile::COMMON;
    let mut v = Vec::new();
    for (file, src, entries) in roberta_gpu::KERNEL_FILES {
        let src = patches.iter().find(|p| p.0 == file).map_or(src, |p| p.1);
        v.push((format!("k_{}.cpp", file.trim_end_matches(".cu")), gen::translation_unit(file, src, common, entries)?));
    }
    v.push(("k_selftest.cpp".into(), gen::translation_unit("selftest.cu", SELFTEST_CU, common, SELFTEST_ENTRIES)?));
    Ok(v)
}

fn run(cmd: &mut Command) -> Result<(), Error> {
    let out = cmd.output().map_err(|e| Error::Compile { cmd: format!("{cmd:?}"), log: e.to_string() })?;
    if !out.status.success() {
        return Err(Error::Compile {
            cmd: format!("{cmd:?}"),
            log: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        });
    }
    Ok(())
}

/// Runs the compile jobs, as many at once as there are cores.
fn run_parallel(jobs: Vec<Command>) -> Result<(), Error> {
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let jobs = std::sync::Mutex::new(jobs);
    let first_err = std::sync::Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..n {
            s.spawn(|| loop {
                let Some(mut cmd) = jobs.lock().unwrap().pop() else { break };
                if let Err(e) = run(&mut cmd) {
                    first_err.lock().unwrap().get_or_insert(e);
                }
            });
        }
    });
    match first_err.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
