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

/// Include folders holding cuda_fp16.h and mma.h: `first` (the caller's, e.g. [`crate::GpuOptions::include_dirs`],
/// which the command line fills from `ROBERTA_CUDA_INCLUDE`), searched before the defaults, then the defaults —
/// the NVRTC wheels under `.tools/nvrtc` (workspace root or current folder), `$CUDA_HOME/include` (or
/// `$CUDA_PATH`, the toolkit's own convention), `/usr/local/cuda/include` — each default only if it exists.
/// `first` is prepended, never a replacement: a folder it names that lacks a header still leaves the defaults
/// to find it.
pub fn include_dirs(first: &[PathBuf]) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = first.iter().filter(|p| !p.as_os_str().is_empty()).cloned().collect();
    let mut defaults = Vec::new();
    for root in wheel_roots() {
        for sub in ["cuda_runtime/include", "cuda_nvcc/include"] {
            defaults.push(root.join(sub));
        }
    }
    if let Ok(h) = std::env::var("CUDA_HOME").or_else(|_| std::env::var("CUDA_PATH")) {
        defaults.push(Path::new(&h).join("include"));
    }
    defaults.push(PathBuf::from("/usr/local/cuda/include"));
    defaults.retain(|p| p.join("cuda_fp16.h").exists() || p.join("crt/mma.h").exists());
    out.extend(defaults);
    dedup_keep_first(out)
}

/// Removes later duplicates (same path, or the same folder once canonicalized), keeping the order.
fn dedup_keep_first(v: Vec<PathBuf>) -> Vec<PathBuf> {
    let mut seen = std::collections::HashSet::new();
    v.into_iter().filter(|p| seen.insert(p.canonicalize().unwrap_or_else(|_| p.clone()))).collect()
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

/// FNV-1a, 64 bits: a small content hash that is the same on every platform, toolchain and run.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The hash a kernel file's cubin is named by: FNV-1a 64 of the file name, [`full_source`] (common.cuh
/// included) and [`BASE_OPTIONS`], each followed by a NUL. The architecture is not hashed: it is a separate
/// part of the name. Include folders are not hashed either (they are machine paths; the headers are NVIDIA's).
pub fn source_hash(file: &str, src: &str) -> u64 {
    let mut bytes = Vec::new();
    for part in [file, &full_source(src)].into_iter().chain(BASE_OPTIONS.iter().copied()) {
        bytes.extend_from_slice(part.as_bytes());
        bytes.push(0);
    }
    fnv1a64(&bytes)
}

/// The file name of a kernel file's cubin for `sm_XX`: `<stem>.<source_hash, 16 hex digits>.sm_XX.cubin`
/// (`gemm.0123456789abcdef.sm_90.cubin`), what `nvrtc-check --out` writes and [`Gpu::new`](crate::Gpu::new)
/// loads from `ROBERTA_CUBIN_DIR`.
pub fn cubin_name(file: &str, src: &str, sm: u32) -> String {
    format!("{}.{:016x}.sm_{sm}.cubin", stem(file), source_hash(file, src))
}

fn stem(file: &str) -> &str {
    file.strip_suffix(".cu").unwrap_or(file)
}

/// What a cubin folder holds for one kernel file and architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CubinLookup {
    /// The cubin of the current sources (file name).
    Current(String),
    /// Only cubins of other sources: another hash, or the old unhashed `<stem>.sm_XX.cubin` (one of them).
    Stale(String),
    /// No cubin of this file for this architecture.
    Missing,
}

/// Picks a kernel file's cubin for `sm_XX` from the file names of a folder: the current one when present
/// (whatever else is there), else any other cubin of that stem and arch is [`CubinLookup::Stale`]. Names of
/// other stems, other archs or other shapes are ignored.
pub fn find_cubin<'a>(names: impl IntoIterator<Item = &'a str>, file: &str, src: &str, sm: u32) -> CubinLookup {
    let want = cubin_name(file, src, sm);
    let (prefix, arch) = (format!("{}.", stem(file)), format!("sm_{sm}"));
    let mut stale = None;
    for n in names {
        if n == want {
            return CubinLookup::Current(want);
        }
        let Some(mid) = n.strip_prefix(prefix.as_str()).and_then(|r| r.strip_suffix(".cubin")) else { continue };
        let hashed = mid
            .strip_suffix(arch.as_str())
            .and_then(|h| h.strip_suffix('.'))
            .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if (mid == arch || hashed) && stale.as_ref().is_none_or(|s: &String| n < s.as_str()) {
            stale = Some(n.to_string());
        }
    }
    stale.map_or(CubinLookup::Missing, CubinLookup::Stale)
}

/// The cubin of a kernel file for `sm_XX` in folder `dir` (see [`find_cubin`]): `Ok(Some(path))` for the
/// current one, `Ok(None)` when the folder has none of that file and arch, [`Error::StaleCubin`] when it has
/// only cubins of other sources, [`Error::Io`] when the folder cannot be listed.
pub fn lookup_cubin(dir: &Path, file: &str, src: &str, sm: u32) -> Result<Option<PathBuf>> {
    let io = |e| Error::Io { path: dir.display().to_string(), source: e };
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io)? {
        names.push(e.map_err(io)?.file_name().to_string_lossy().into_owned());
    }
    match find_cubin(names.iter().map(String::as_str), file, src, sm) {
        CubinLookup::Current(n) => Ok(Some(dir.join(n))),
        CubinLookup::Missing => Ok(None),
        CubinLookup::Stale(n) => Err(Error::StaleCubin {
            path: dir.join(n).display().to_string(),
            expected: cubin_name(file, src, sm),
        }),
    }
}

/// NVRTC's version, e.g. `Some((12, 9))`; `None` when libnvrtc cannot be loaded. (CUDA 13's NVRTC no longer
/// builds sm_70.)
pub fn nvrtc_version() -> Option<(i32, i32)> {
    if !crate::nvrtc_present() {
        return None;
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: libnvrtc is loaded (checked above); both pointers are to live locals.
    unsafe { sys::nvrtcVersion(&mut major, &mut minor) }.result().ok()?;
    Some((major, minor))
}

/// The architectures NVRTC can build for (`nvrtcGetSupportedArchs`), ascending, e.g. `[50, …, 90, 100, 120]`;
/// `None` when libnvrtc cannot be loaded.
pub fn nvrtc_supported_archs() -> Option<Vec<u32>> {
    if !crate::nvrtc_present() {
        return None;
    }
    let mut n = 0;
    // SAFETY: libnvrtc is loaded; `n` is a live local, and the buffer holds the `n` ints NVRTC writes.
    unsafe {
        sys::nvrtcGetNumSupportedArchs(&mut n).result().ok()?;
        let mut v = vec![0i32; n.max(0) as usize];
        sys::nvrtcGetSupportedArchs(v.as_mut_ptr()).result().ok()?;
        let mut v: Vec<u32> = v.into_iter().filter_map(|a| u32::try_from(a).ok()).collect();
        v.sort_unstable();
        Some(v)
    }
}

/// Whether an NVRTC log says the requested architecture is not one it knows: a line with "invalid value for
/// --gpu-architecture" (NVRTC 12 and 13), or one that names the arch and says it is not supported.
pub fn arch_unsupported(log: &str) -> bool {
    log.lines().map(str::to_ascii_lowercase).any(|l| {
        l.contains("invalid value for --gpu-architecture")
            || ((l.contains("architecture") || l.contains("-arch"))
                && (l.contains("unsupported") || l.contains("not supported")))
    })
}

/// The architecture of the PTX fallback for a device of `sm_XX` that NVRTC cannot build SASS for: the
/// highest one NVRTC supports below it (the driver JITs compute_YY PTX for any newer device). `None` when
/// there is none, or when NVRTC claims `sm` itself (then PTX for it would fail the same way).
pub fn ptx_fallback_arch(sm: u32, supported: &[u32]) -> Option<u32> {
    supported.iter().copied().filter(|&a| a <= sm).max().filter(|&a| a != sm)
}

/// Compiles one kernel file (its bare source; common.cuh is prepended) for `target` with NVRTC, headers from
/// the default [`include_dirs`]. `extra` options are appended (e.g. `--ptxas-options=-v`). A compile error
/// carries NVRTC's log.
pub fn compile(file: &str, src: &str, target: Target, extra: &[&str]) -> Result<Compiled> {
    compile_with(file, src, target, extra, &[])
}

/// [`compile`] with include folders searched before the defaults.
pub fn compile_with(file: &str, src: &str, target: Target, extra: &[&str], include_first: &[PathBuf]) -> Result<Compiled> {
    if !crate::nvrtc_present() {
        return Err(Error::NoNvrtc);
    }
    let arch = target.arch();
    let code = CString::new(full_source(src)).expect("kernel source has no NUL");
    let name = CString::new(file).expect("file name has no NUL");
    let mut opts: Vec<String> = vec![format!("--gpu-architecture={arch}")];
    opts.extend(BASE_OPTIONS.iter().map(|s| s.to_string()));
    opts.extend(include_dirs(include_first).iter().map(|d| format!("-I{}", d.display())));
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
    fn fnv1a64_matches_the_published_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn cubin_names_carry_a_hash_of_the_sources() {
        let (file, src, _) = KERNEL_FILES[0];
        let name = cubin_name(file, src, 90);
        let hash = format!("{:016x}", source_hash(file, src));
        assert_eq!(name, format!("gemm.{hash}.sm_90.cubin"));
        assert_eq!(cubin_name(file, src, 70), format!("gemm.{hash}.sm_70.cubin"));
        // any change of the source (common.cuh included, via full_source) changes the name
        assert_ne!(cubin_name(file, &format!("{src} "), 90), name);
        assert_ne!(source_hash("attention.cu", src), source_hash(file, src));
        // every file gets its own hash
        let hashes: std::collections::HashSet<u64> = KERNEL_FILES.iter().map(|(f, s, _)| source_hash(f, s)).collect();
        assert_eq!(hashes.len(), KERNEL_FILES.len());
    }

    #[test]
    fn find_cubin_picks_the_current_one_and_flags_stale_ones() {
        let (file, src, _) = KERNEL_FILES[0];
        let cur = cubin_name(file, src, 90);
        let other = "gemm.0123456789abcdef.sm_90.cubin";
        assert_ne!(cur, other);
        let look = |names: &[&str]| find_cubin(names.iter().copied(), file, src, 90);
        assert_eq!(look(&[]), CubinLookup::Missing);
        assert_eq!(look(&[&cur]), CubinLookup::Current(cur.clone()));
        assert_eq!(look(&[other, &cur, "gemm.sm_90.cubin"]), CubinLookup::Current(cur.clone()));
        assert_eq!(look(&[other]), CubinLookup::Stale(other.into()));
        // the old unhashed name is stale too
        assert_eq!(look(&["gemm.sm_90.cubin"]), CubinLookup::Stale("gemm.sm_90.cubin".into()));
        // other stems, other archs and names of another shape are none of this file's business
        let unrelated = [
            "attention.0123456789abcdef.sm_90.cubin",
            "gemm.0123456789abcdef.sm_80.cubin",
            "gemm.0123456789abcdef.sm_900.cubin",
            "gemm.sm_80.cubin",
            "gemm.xyz.sm_90.cubin",
            "gemm.0123456789abcdef.sm_90.cubin.bak",
            "gemm2.sm_90.cubin",
            "README",
        ];
        assert_eq!(look(&unrelated), CubinLookup::Missing);
    }

    /// A fresh empty folder under the temp dir.
    fn temp_dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("roberta-gpu-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn lookup_cubin_in_a_folder() {
        let (file, src, _) = KERNEL_FILES[1];
        let d = temp_dir("cubins");
        assert!(matches!(lookup_cubin(&d, file, src, 90), Ok(None)));
        let stale = d.join("attention.fedcba9876543210.sm_90.cubin");
        std::fs::write(&stale, b"old").unwrap();
        match lookup_cubin(&d, file, src, 90) {
            Err(Error::StaleCubin { path, expected }) => {
                assert_eq!(path, stale.display().to_string());
                assert_eq!(expected, cubin_name(file, src, 90));
                let msg = Error::StaleCubin { path, expected }.to_string();
                assert!(msg.contains("stale cubin") && msg.contains("attention.fedcba9876543210.sm_90.cubin"), "{msg}");
            }
            other => panic!("a stale cubin must be an error, got {other:?}"),
        }
        // another arch's stale cubin does not concern sm_80
        assert!(matches!(lookup_cubin(&d, file, src, 80), Ok(None)));
        let cur = d.join(cubin_name(file, src, 90));
        std::fs::write(&cur, b"new").unwrap();
        assert_eq!(lookup_cubin(&d, file, src, 90).unwrap(), Some(cur));
        // a folder that cannot be listed is an error, not a silent NVRTC compile
        assert!(matches!(lookup_cubin(&d.join("missing"), file, src, 90), Err(Error::Io { .. })));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn ptx_fallback_goes_to_the_highest_supported_arch_below() {
        let v129 = [50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90, 100, 101, 103, 120, 121];
        assert_eq!(ptx_fallback_arch(130, &v129), Some(121));
        assert_eq!(ptx_fallback_arch(110, &v129), Some(103));
        // NVRTC 13 dropped sm_70: a V100 cannot be rescued by PTX of a newer arch
        assert_eq!(ptx_fallback_arch(70, &[75, 80, 90, 100, 120]), None);
        // a supported arch is no reason to retry
        assert_eq!(ptx_fallback_arch(90, &v129), None);
        assert_eq!(ptx_fallback_arch(90, &[]), None);
    }

    #[test]
    fn only_an_unknown_arch_counts_as_unsupported() {
        assert!(arch_unsupported("nvrtc: error: invalid value for --gpu-architecture (-arch)\n"));
        assert!(arch_unsupported("nvcc fatal   : Unsupported gpu architecture 'compute_70'"));
        assert!(!arch_unsupported("gemm.cu(12): error: identifier \"x\" is undefined"));
        assert!(!arch_unsupported("cuda_fp16.h: catastrophic error: cannot open source file"));
        assert!(!arch_unsupported(""));
        // "arch" and "unsupported" on different lines are about different things
        assert!(!arch_unsupported("#if __CUDA_ARCH__ >= 800\nerror: unsupported operand types"));
    }

    /// Only where libnvrtc loads (LD_LIBRARY_PATH, e.g. `cargo xtask check-kernels`'s); nothing to check elsewhere.
    #[test]
    fn nvrtc_reports_its_version_archs_and_an_unknown_arch() {
        if !crate::nvrtc_present() {
            assert_eq!(nvrtc_version(), None);
            assert_eq!(nvrtc_supported_archs(), None);
            return;
        }
        let (major, _) = nvrtc_version().expect("a loaded NVRTC has a version");
        assert!(major >= 11, "{major}");
        let archs = nvrtc_supported_archs().expect("a loaded NVRTC lists its archs");
        assert!(archs.contains(&90) && archs.windows(2).all(|w| w[0] < w[1]), "{archs:?}");
        let (file, src, _) = KERNEL_FILES[2];
        match compile(file, src, Target::Cubin(99), &[]) {
            Err(Error::Compile { log, .. }) => assert!(arch_unsupported(&log), "{log}"),
            other => panic!("sm_99 is no arch: {other:?}"),
        }
        assert_eq!(ptx_fallback_arch(99, &archs), archs.iter().copied().filter(|&a| a < 99).max());
    }

    #[test]
    fn cuda_include_is_prepended_to_the_defaults() {
        let d = temp_dir("include");
        let before = include_dirs(&[]);
        let with = include_dirs(std::slice::from_ref(&d));
        assert_eq!(with[0], d);
        assert_eq!(&with[1..], &before[..], "the defaults stay, after it");
        std::fs::remove_dir_all(&d).unwrap();
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
