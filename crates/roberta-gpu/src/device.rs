//! The CUDA context of one model: device, one stream, the kernels loaded once per process per arch.
use crate::compile::{compile, Image, Target, KERNEL_FILES};
use crate::{Error, Result};
use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, DeviceRepr, ValidAsZeroBits};
use cudarc::nvrtc::Ptx;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Compiled images of every kernel file, per device architecture (e.g. 90), compiled once per process.
type ImageSet = Arc<Vec<(&'static str, Image)>>;
static IMAGES: OnceLock<Mutex<HashMap<u32, ImageSet>>> = OnceLock::new();

/// A CUDA device with its own stream and every kernel loaded: what one model holds.
pub struct Gpu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    sm: u32,
    sm_count: u32,
    funcs: HashMap<&'static str, CudaFunction>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Gpu(ordinal {}, sm_{}, {} SMs)", self.ctx.ordinal(), self.sm, self.sm_count)
    }
}

impl Gpu {
    /// Opens device `ordinal`: an error, never a panic, when there is no driver or no such device. Loads
    /// the kernels: cubins from `ROBERTA_CUBIN_DIR` (`<file stem>.sm_XX.cubin`) when set, else compiled by
    /// NVRTC for the device's own sm (PTX for its compute_XX as fallback).
    pub fn new(ordinal: usize) -> Result<Self> {
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
        let (major, minor) = ctx.compute_capability()?;
        let sm = (major * 10 + minor) as u32;
        let sm_count = ctx.attribute(
            cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT,
        )? as u32;
        let images = images_for(sm)?;
        let mut funcs = HashMap::new();
        for ((file, _, names), (_, image)) in KERNEL_FILES.iter().zip(images.iter()) {
            let ptx = match image {
                Image::Cubin(b) => Ptx::from_binary(b.clone()),
                Image::Ptx(s) => Ptx::from_src(s.clone()),
            };
            let module = ctx.load_module(ptx).map_err(|e| Error::Compile {
                file: (*file).into(),
                arch: format!("sm_{sm}"),
                status: format!("module load: {e}"),
                log: String::new(),
            })?;
            for n in names.iter() {
                funcs.insert(*n, module.load_function(n)?);
            }
        }
        Ok(Gpu { ctx, stream, sm, sm_count, funcs })
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

fn images_for(sm: u32) -> Result<ImageSet> {
    let cache = IMAGES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(set) = map.get(&sm) {
        return Ok(set.clone());
    }
    let mut set = Vec::new();
    let dir = std::env::var_os("ROBERTA_CUBIN_DIR");
    for (file, src, _) in KERNEL_FILES {
        let stem = file.trim_end_matches(".cu");
        let pre = dir.as_ref().map(|d| std::path::Path::new(d).join(format!("{stem}.sm_{sm}.cubin")));
        let image = match pre {
            Some(p) if p.exists() => Image::Cubin(
                std::fs::read(&p).map_err(|e| Error::Io { path: p.display().to_string(), source: e })?,
            ),
            _ => match compile(file, src, Target::Cubin(sm), &[]) {
                Ok(c) => c.image,
                Err(Error::Compile { .. }) => compile(file, src, Target::Ptx(sm), &[])?.image,
                Err(e) => return Err(e),
            },
        };
        set.push((file, image));
    }
    let set = Arc::new(set);
    map.insert(sm, set.clone());
    Ok(set)
}
