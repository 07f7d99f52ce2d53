//! The CUDA context of one model: device, one stream, the kernels loaded once per process per arch.
use crate::compile::{arch_unsupported, compile_with, lookup_cubin, nvrtc_supported_archs, ptx_fallback_arch, Image, Target, KERNEL_FILES};
use crate::{Error, Result};
use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, DeviceRepr, ValidAsZeroBits};
use cudarc::nvrtc::Ptx;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Where a kernel image came from.
#[derive(Clone, Debug)]
enum Origin {
    /// A cubin file of [`GpuOptions::cubin_dir`].
    File(std::path::PathBuf),
    /// NVRTC, in this process.
    Nvrtc,
}

/// Images of every kernel file (in [`KERNEL_FILES`] order), per device architecture (e.g. 90) and options, made
/// once per process.
type ImageSet = Arc<Vec<(&'static str, Image, Origin)>>;
type ImageKey = (u32, GpuOptions);
static IMAGES: OnceLock<Mutex<HashMap<ImageKey, ImageSet>>> = OnceLock::new();

/// Where a [`Gpu`]'s kernels come from. The library reads no environment variable on its own: binaries (the
/// runner, test and bench binaries, nvrtc-check) call [`GpuOptions::from_env`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct GpuOptions {
    /// A folder of prebuilt cubins, `<stem>.<hash16>.sm_XX.cubin` (what `nvrtc-check --out` writes): a file's
    /// cubin for the device's sm and the current sources is loaded instead of compiling it.
    pub cubin_dir: Option<std::path::PathBuf>,
    /// Folders NVRTC searches for cuda_fp16.h and mma.h before the defaults ([`crate::compile::include_dirs`]).
    pub include_dirs: Vec<std::path::PathBuf>,
}

impl GpuOptions {
    /// The options the environment names: `ROBERTA_CUBIN_DIR` (a cubin folder; empty means none) and
    /// `ROBERTA_CUDA_INCLUDE` (':'-separated include folders). For binaries only: nothing in the libraries
    /// calls it, so a library user's options are what they pass.
    pub fn from_env() -> GpuOptions {
        GpuOptions {
            cubin_dir: std::env::var_os("ROBERTA_CUBIN_DIR").filter(|v| !v.is_empty()).map(Into::into),
            include_dirs: std::env::var_os("ROBERTA_CUDA_INCLUDE").map(|v| std::env::split_paths(&v).collect()).unwrap_or_default(),
        }
    }
}

/// A CUDA device with its own stream and every kernel loaded: what one model holds.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    name: String,
    sm: u32,
    sm_count: u32,
    funcs: HashMap<&'static str, CudaFunction>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu(ordinal {}, {}, sm_{}, {} SMs)", self.ctx.ordinal(), self.name, self.sm, self.sm_count)
    }
}

impl Gpu {
    /// Opens device `ordinal` with the default [`GpuOptions`] (every kernel compiled with NVRTC): see
    /// [`Gpu::with_options`].
    pub fn new(ordinal: usize) -> Result<Self> {
        Self::with_options(ordinal, &GpuOptions::default())
    }

    /// Opens device `ordinal`: an error, never a panic, when there is no driver or no such device. Loads
    /// the kernels, for each kernel file:
    /// - when [`GpuOptions::cubin_dir`] is set and holds its cubin for the device's sm, named by the hash of the
    ///   current sources (`<stem>.<hash16>.sm_XX.cubin`, see [`cubin_name`](crate::compile::cubin_name)), that
    ///   cubin; if it fails to load, it is compiled once with NVRTC instead (with a warning through `log`);
    /// - when the folder holds only cubins of that file and sm with another hash (or none), an
    ///   [`Error::StaleCubin`]: nothing stale is ever loaded;
    /// - else NVRTC compiles it for the device's own sm. If NVRTC does not know that arch, it builds PTX for
    ///   the highest arch it supports below it (the driver JITs it); any other compile error is returned.
    pub fn with_options(ordinal: usize, opts: &GpuOptions) -> Result<Self> {
        if !crate::driver_present() {
            return Err(Error::NoDriver);
        }
        if let Err(e) = cudarc::driver::result::init() {
            return Err(match e.0 {
                cudarc::driver::sys::cudaError_enum::CUDA_ERROR_NO_DEVICE => Error::NoDevice { ordinal, count: 0 },
                _ => Error::Driver(e),
            });
        }
        let count = CudaContext::device_count()?;
        if ordinal as i64 >= count as i64 {
            return Err(Error::NoDevice { ordinal, count });
        }
        let ctx = CudaContext::new(ordinal)?;
        let stream = ctx.new_stream()?;
        let name = ctx.name().unwrap_or_else(|e| format!("unnamed CUDA device ({e})"));
        let (major, minor) = ctx.compute_capability()?;
        let sm = (major * 10 + minor) as u32;
        let sm_count = ctx.attribute(
            cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
        )? as u32;
        let key: ImageKey = (sm, opts.clone());
        let images = images_for(&key)?;
        let mut funcs = HashMap::new();
        for ((file, src, names), (_, image, origin)) in KERNEL_FILES.iter().zip(images.iter()) {
            let module = match (load(&ctx, file, sm, image), origin) {
                (Ok(m), _) => m,
                (Err(e), Origin::File(path)) => {
                    log::warn!(
                        "roberta-gpu: {} did not load ({e}); compiling {file} with NVRTC for sm_{sm} instead",
                        path.display()
                    );
                    let fresh = compile_for_device(file, src, sm, &opts.include_dirs).map_err(|c| match e {
                        Error::Compile { file, arch, status, .. } => Error::Compile {
                            file,
                            arch,
                            status: format!("{status}; NVRTC retry failed too"),
                            log: c.to_string(),
                        },
                        other => other,
                    })?;
                    let m = load(&ctx, file, sm, &fresh)?;
                    replace_image(&key, file, fresh);
                    m
                }
                (Err(e), Origin::Nvrtc) => return Err(e),
            };
            for n in names.iter() {
                funcs.insert(*n, module.load_function(n)?);
            }
        }
        Ok(Gpu { ctx, stream, name, sm, sm_count, funcs })
    }

    /// The device's name, as the driver reports it (e.g. `NVIDIA H200`; `emulated sm_90` from the emulated
    /// driver).
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// The device for messages: `cuda:{ordinal} {name} (sm_{sm})`, e.g. `cuda:0 NVIDIA H200 (sm_90)`; just the
    /// name when the driver is the emulated one (its names start with `emulated`, e.g. `emulated sm_90`).
    pub fn describe(&self) -> String {
        describe(self.ctx.ordinal(), &self.name, self.sm)
    }

    /// The context.
    pub fn ctx(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// The model's stream: every launcher enqueues on it.
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// Compute capability as one number (70, 80, 90, …).
    pub fn sm(&self) -> u32 {
        self.sm
    }

    /// Number of streaming multiprocessors.
    pub fn sm_count(&self) -> u32 {
        self.sm_count
    }

    pub(crate) fn func(&self, name: &str) -> &CudaFunction {
        &self.funcs[name]
    }

    /// Copies host data to a new device buffer.
    pub fn upload<T: DeviceRepr>(&self, data: &[T]) -> Result<CudaSlice<T>> {
        Ok(self.stream.clone_htod(data)?)
    }

    /// Copies a device buffer to the host (synchronizes the stream).
    pub fn download<T: DeviceRepr>(&self, buf: &CudaSlice<T>) -> Result<Vec<T>> {
        Ok(self.stream.clone_dtoh(buf)?)
    }

    /// A zeroed device buffer of `n` elements.
    pub fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, n: usize) -> Result<CudaSlice<T>> {
        Ok(self.stream.alloc_zeros::<T>(n)?)
    }

    /// Waits for the stream.
    pub fn sync(&self) -> Result<()> {
        Ok(self.stream.synchronize()?)
    }

    /// Offsets of a packed batch (see [`SeqOffsets`]) from the sequence lengths.
    pub fn seq_offsets(&self, lengths: &[usize]) -> Result<SeqOffsets> {
        let host = crate::seq_offsets(lengths);
        let dev = self.upload(&host)?;
        Ok(SeqOffsets { max_len: lengths.iter().copied().max().unwrap_or(0), host, dev })
    }
}

/// Sequence offsets of a packed batch, on host and device: `host[b]..host[b+1]` are sequence b's rows.
/// Launchers check their grids and buffer sizes against the host copy (it is what the device copy holds).
pub struct SeqOffsets {
    /// `[0, l0, l0+l1, …]`.
    pub host: Vec<i32>,
    /// The same, on the device.
    pub dev: CudaSlice<i32>,
    /// Longest sequence.
    pub max_len: usize,
}

impl SeqOffsets {
    /// Number of sequences.
    pub fn batch(&self) -> usize {
        self.host.len() - 1
    }

    /// Number of real tokens (rows of the packed batch).
    pub fn tokens(&self) -> usize {
        *self.host.last().unwrap_or(&0) as usize
    }
}

/// See [`Gpu::describe`].
fn describe(ordinal: usize, name: &str, sm: u32) -> String {
    if name.starts_with("emulated") {
        name.to_string()
    } else {
        format!("cuda:{ordinal} {name} (sm_{sm})")
    }
}

/// Loads one image as a module; a failure is an [`Error::Compile`] whose status starts with "module load".
fn load(ctx: &Arc<CudaContext>, file: &str, sm: u32, image: &Image) -> Result<Arc<cudarc::driver::CudaModule>> {
    let ptx = match image {
        Image::Cubin(b) => Ptx::from_binary(b.clone()),
        Image::Ptx(s) => Ptx::from_src(s.clone()),
    };
    ctx.load_module(ptx).map_err(|e| Error::Compile {
        file: file.into(),
        arch: format!("sm_{sm}"),
        status: format!("module load: {e}"),
        log: String::new(),
    })
}

/// NVRTC's image of one kernel file for a device of `sm_XX`: its cubin; when NVRTC says it does not know
/// that arch, PTX for the highest arch it supports below it (see [`ptx_fallback_arch`]), with a note on
/// stderr. Any other error is returned as it is (the same source would fail the same way again).
fn compile_for_device(file: &str, src: &str, sm: u32, includes: &[std::path::PathBuf]) -> Result<Image> {
    match compile_with(file, src, Target::Cubin(sm), &[], includes) {
        Ok(c) => Ok(c.image),
        Err(e @ Error::Compile { .. }) => {
            let Error::Compile { log, .. } = &e else { unreachable!() };
            if !arch_unsupported(log) {
                return Err(e);
            }
            let Some(v) = nvrtc_supported_archs().and_then(|a| ptx_fallback_arch(sm, &a)) else { return Err(e) };
            log::warn!("roberta-gpu: NVRTC cannot build sm_{sm}; {file} as PTX for compute_{v} (the driver JITs it)");
            Ok(compile_with(file, src, Target::Ptx(v), &[], includes)?.image)
        }
        Err(e) => Err(e),
    }
}

fn cache() -> std::sync::MutexGuard<'static, HashMap<ImageKey, ImageSet>> {
    IMAGES.get_or_init(|| Mutex::new(HashMap::new())).lock().unwrap_or_else(|p| p.into_inner())
}

/// Puts NVRTC's `image` of `file` into the process's set for `key` (after a cubin of the folder failed to load).
fn replace_image(key: &ImageKey, file: &str, image: Image) {
    let mut map = cache();
    if let Some(set) = map.get(key) {
        let mut v: Vec<_> = set.iter().cloned().collect();
        for e in v.iter_mut().filter(|e| e.0 == file) {
            e.1 = image.clone();
            e.2 = Origin::Nvrtc;
        }
        map.insert(key.clone(), Arc::new(v));
    }
}

fn images_for(key: &ImageKey) -> Result<ImageSet> {
    let mut map = cache();
    if let Some(set) = map.get(key) {
        return Ok(set.clone());
    }
    let (sm, opts) = (key.0, &key.1);
    let mut set = Vec::new();
    let dir = opts.cubin_dir.as_ref().filter(|d| !d.as_os_str().is_empty());
    for (file, src, _) in KERNEL_FILES {
        let pre = match &dir {
            Some(d) => lookup_cubin(d, file, src, sm)?,
            None => None,
        };
        let (image, origin) = match pre {
            Some(p) => (
                Image::Cubin(std::fs::read(&p).map_err(|e| Error::Io { path: p.display().to_string(), source: e })?),
                Origin::File(p),
            ),
            None => (compile_for_device(file, src, sm, &opts.include_dirs)?, Origin::Nvrtc),
        };
        set.push((file, image, origin));
    }
    let set = Arc::new(set);
    map.insert(key.clone(), set.clone());
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only where libnvrtc loads (LD_LIBRARY_PATH, e.g. `cargo xtask check-kernels`'s).
    #[test]
    fn nvrtc_falls_back_to_ptx_only_for_an_unknown_arch() {
        if !crate::nvrtc_present() {
            return;
        }
        let (file, src, _) = KERNEL_FILES[2];
        assert!(matches!(compile_for_device(file, src, 90, &[]), Ok(Image::Cubin(_))));
        // sm_99 is no arch NVRTC knows: PTX of the highest one below it, for the driver to JIT
        let below = nvrtc_supported_archs().unwrap().into_iter().filter(|&a| a < 99).max().unwrap();
        match compile_for_device(file, src, 99, &[]) {
            Ok(Image::Ptx(p)) => assert!(p.contains(&format!(".target sm_{below}")), "{}", &p[..p.len().min(400)]),
            other => panic!("PTX expected: {other:?}"),
        }
        // a source error is returned as it is, for the device's own arch (no retry for PTX)
        match compile_for_device("bad.cu", "#line 1 \"bad.cu\"\n__global__ void k() { no_such_thing(); }\n", 90, &[]) {
            Err(Error::Compile { arch, log, .. }) => assert!(arch == "sm_90" && log.contains("no_such_thing"), "{arch}: {log}"),
            other => panic!("a compile error expected: {other:?}"),
        }
    }

    #[test]
    fn describe_names_the_device_or_just_the_emulator() {
        assert_eq!(describe(0, "NVIDIA H200", 90), "cuda:0 NVIDIA H200 (sm_90)");
        assert_eq!(describe(1, "Tesla V100-SXM2-16GB", 70), "cuda:1 Tesla V100-SXM2-16GB (sm_70)");
        assert_eq!(describe(0, "emulated sm_90", 90), "emulated sm_90");
    }
}
