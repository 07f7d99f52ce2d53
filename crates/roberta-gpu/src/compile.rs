//! NVRTC compilation of kernels/*.cu: source assembly, include paths, cubin or PTX, ptxas statistics.
use crate::{Error, Result};
use cudarc::nvrtc::{result as nvrtc, sys};
use std::ffi::CString;
use std::path::{Path, PathBuf};

/// kernels/common.cuh, prepended to every kernel file.
pub const COMMON: &str = include_str!("../../../kernels/common.cuh");

/// Every kernel file: (file name, source) and the entry points it defines.
pub const KERNEL_FILES: [(&str, &str, &[&str]); 4] = [
    ("gemm.cu", include_str!("../../../kernels/gemm.cu"), &[
        "gemm1_128x128_bias", "gemm1_128x128_gelu", "gemm1_128x128_residual",
        "gemm1_64x64_bias", "gemm1_64x64_gelu", "gemm1_64x64_residual",
        "gemm2_128x128_bias", "gemm2_128x128_gelu", "gemm2_128x128_residual",
        "gemm2_64x64_bias", "gemm2_64x64_gelu", "gemm2_64x64_residual",
    ]),
    ("attention.cu", include_str!("../../../kernels/attention.cu"), &["attention1", "attention1_d32", "attention1_d16", "softmax_rows"]),
    ("layernorm.cu", include_str!("../../../kernels/layernorm.cu"), &["layernorm1"]),
    ("embeddings.cu", include_str!("../../../kernels/embeddings.cu"), &["embeddings1", "pack1", "unpack1"]),
];

/// The full source NVRTC sees for a kernel file: common.cuh, then the file (which resets `#line`).
pub fn full_source(src: &str) -> String {
    format!("{COMMON}\n{src}")
}

/// What to compile to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// SASS for one architecture, e.g. `Cubin(90)` = sm_90.
    Cubin(u32),
    /// PTX for a virtual architecture, e.g. `Ptx(80)` = compute_80 (the driver JITs it).
    Ptx(u32),
}

impl Target {
    /// NVRTC's `--gpu-architecture` value.
    pub fn arch(self) -> String {
        match self {
            Target::Cubin(sm) => format!("sm_{sm}"),
            Target::Ptx(sm) => format!("compute_{sm}"),
        }
    }
}

/// A compiled image.
#[derive(Clone, Debug)]
pub enum Image {
    /// SASS for the device's own architecture.
    Cubin(Vec<u8>),
    /// PTX text.
    Ptx(String),
}

/// The result of one NVRTC compilation: the image and NVRTC's log (ptxas statistics with `-v`).
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The image to load.
    pub image: Image,
    /// NVRTC's program log.
    pub log: String,
}

/// Include folders holding cuda_fp16.h and mma.h: `ROBERTA_CUDA_INCLUDE` (':'-separated) when set, else
/// those of the NVRTC wheels under `.tools/nvrtc` (workspace root or current folder), `$CUDA_HOME/include`,
/// `/usr/local/cuda/include` — each only if it exists.
pub fn include_dirs() -> Vec<PathBuf> {
    if let Ok(v) = std::env::var("ROBERTA_CUDA_INCLUDE") {
        return std::env::split_paths(&v).filter(|p| !p.as_os_str().is_empty()).collect();
    }
    let mut out = Vec::new();
    for root in wheel_roots() {
        for sub in ["cuda_runtime/include", "cuda_nvcc/include"] {
            out.push(root.join(sub));
        }
    }
    if let Ok(h) = std::env::var("CUDA_HOME").or_else(|_| std::env::var("CUDA_PATH")) {
        out.push(Path::new(&h).join("include"));
    }
    out.push(PathBuf::from("/usr/local/cuda/include"));
    out.retain(|p| p.join("cuda_fp16.h").exists() || p.join("crt/mma.h").exists());
    out.dedup();
    out
}

/// Folders that may hold the NVRTC wheels' `nvidia/` tree.
pub fn wheel_roots() -> Vec<PathBuf> {
    let ws = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut v: Vec<PathBuf> = [ws.join(".tools/nvrtc/nvidia"), PathBuf::from(".tools/nvrtc/nvidia")]
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .collect();
    v.dedup();
    v
}

/// Options every compilation gets (besides the architecture and includes).
pub const BASE_OPTIONS: &[&str] = &["--std=c++17", "-lineinfo"];

/// Compiles one kernel file (its bare source; common.cuh is prepended) for `target` with NVRTC.
/// `extra` options are appended (e.g. `--ptxas-options=-v`). A compile error carries NVRTC's log.
pub fn compile(file: &str, src: &str, target: Target, extra: &[&str]) -> Result<Compiled> {
    if !crate::nvrtc_present() {
        return Err(Error::NoNvrtc);
    }
    let arch = target.arch();
    let code = CString::new(full_source(src)).expect("kernel source has no NUL");
    let name = CString::new(file).expect("file name has no NUL");
    let mut opts: Vec<String> = vec![format!("--gpu-architecture={arch}")];
    opts.extend(BASE_OPTIONS.iter().map(|s| s.to_string()));
    opts.extend(include_dirs().iter().map(|d| format!("-I{}", d.display())));
    opts.extend(extra.iter().map(|s| s.to_string()));
    let cerr = |status: String, log: String| Error::Compile { file: file.into(), arch: arch.clone(), status, log };
    let prog = nvrtc::create_program(&code, Some(&name)).map_err(|e| cerr(format!("{e}"), String::new()))?;
    // SAFETY: `prog` was just created and is destroyed once below; `code` and `name` outlive it.
    unsafe {
        let res = nvrtc::compile_program(prog, &opts);
        let log = nvrtc::get_program_log(prog).map(|l| c_chars_to_string(&l)).unwrap_or_default();
        let out = match res {
            Err(e) => Err(cerr(format!("{e}"), log)),
            Ok(()) => match target {
                Target::Ptx(_) => nvrtc::get_ptx(prog)
                    .map(|p| Image::Ptx(c_chars_to_string(&p)))
                    .map_err(|e| cerr(format!("{e}"), log.clone())),
                Target::Cubin(_) => get_cubin(prog).map(Image::Cubin).map_err(|e| cerr(format!("{e}"), log.clone())),
            }
            .map(|image| Compiled { image, log }),
        };
        let _ = nvrtc::destroy_program(prog);
        out
    }
}

/// # Safety
/// `prog` is a live, successfully compiled program for an `sm_XX` target.
unsafe fn get_cubin(prog: sys::nvrtcProgram) -> std::result::Result<Vec<u8>, nvrtc::NvrtcError> {
    let mut size = 0usize;
    sys::nvrtcGetCUBINSize(prog, &mut size).result()?;
    let mut buf = vec![0u8; size];
    sys::nvrtcGetCUBIN(prog, buf.as_mut_ptr().cast()).result()?;
    Ok(buf)
}

fn c_chars_to_string(v: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = v.iter().map(|&c| c as u8).take_while(|&b| b != 0).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Register, spill and shared-memory use of one entry function, from a `--ptxas-options=-v` log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Entry function name.
    pub name: String,
    /// Registers per thread.
    pub registers: u32,
    /// Bytes of spill stores.
    pub spill_stores: u32,
    /// Bytes of spill loads.
    pub spill_loads: u32,
    /// Bytes of stack frame.
    pub stack: u32,
    /// Bytes of static shared memory.
    pub smem: u32,
}

/// Parses ptxas' `-v` lines ("Compiling entry function 'x'", "N bytes stack frame, N bytes spill stores,
/// N bytes spill loads", "Used N registers, … N bytes smem").
pub fn parse_ptxas(log: &str) -> Vec<KernelStats> {
    let mut out: Vec<KernelStats> = Vec::new();
    let num_before = |line: &str, key: &str| -> Option<u32> {
        let i = line.find(key)?;
        line[..i].split_whitespace().last()?.parse().ok()
    };
    for line in log.lines() {
        if let Some(i) = line.find("Compiling entry function '") {
            let rest = &line[i + "Compiling entry function '".len()..];
            let name = rest.split('\'').next().unwrap_or("").to_string();
            out.push(KernelStats { name, ..Default::default() });
        } else if let Some(k) = out.last_mut() {
            if let Some(v) = num_before(line, "bytes spill stores") {
                k.spill_stores = v;
                k.spill_loads = num_before(line, "bytes spill loads").unwrap_or(0);
                k.stack = num_before(line, "bytes stack frame").unwrap_or(0);
            }
            if let Some(v) = num_before(line, "registers") {
                k.registers = v;
                k.smem = num_before(line, "bytes smem").unwrap_or(0);
            }
        }
    }
    out
}

/// The one warning allowed: NVRTC 12.x says sm_70 is deprecated (`-w` does not silence it, and silencing
/// every warning would hide real ones).
pub const ALLOWED_WARNING: &str = "Architectures prior to '<compute/sm>_75' are deprecated";

/// Warning and error lines of a log, besides [`ALLOWED_WARNING`].
pub fn log_problems(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| {
            let lc = l.to_ascii_lowercase();
            (lc.contains("warning") || lc.contains("error")) && !l.contains(ALLOWED_WARNING)
        })
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ptxas_verbose_log() {
        let log = "ptxas info    : 0 bytes gmem\n\
ptxas info    : Compiling entry function 'k1' for 'sm_70'\n\
ptxas info    : Function properties for k1\n\
    8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n\
ptxas info    : Used 128 registers, used 1 barriers, 40960 bytes smem, 404 bytes cmem[0]\n\
ptxas info    : Compiling entry function 'k2' for 'sm_70'\n\
ptxas info    : Function properties for k2\n\
    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads\n\
ptxas info    : Used 22 registers, used 0 barriers, 384 bytes cmem[0]\n";
        let s = parse_ptxas(log);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0],
            KernelStats { name: "k1".into(), registers: 128, spill_stores: 4, spill_loads: 12, stack: 8, smem: 40960 }
        );
        assert_eq!(s[1].registers, 22);
        assert_eq!(s[1].spill_stores + s[1].spill_loads + s[1].smem, 0);
    }

    #[test]
    fn only_the_sm70_deprecation_warning_is_allowed() {
        let log = "nvrtc: warning: Architectures prior to '<compute/sm>_75' are deprecated and may be removed\n\
gemm.cu(12): warning #177-D: variable \"x\" was declared but never referenced\n";
        assert_eq!(log_problems(log).len(), 1);
        assert!(log_problems(log)[0].contains("#177"));
    }

    #[test]
    fn every_entry_point_is_in_its_file() {
        for (file, src, names) in KERNEL_FILES {
            assert!(src.starts_with(&format!("#line 1 \"{file}\"")), "{file} starts with its #line");
            for n in names {
                assert!(src.contains(&format!("{n}(")) || src.contains("GEMM_VERSION"), "{n} in {file}");
            }
        }
    }
}
