//! Errors of roberta-gpu.
use cudarc::driver::DriverError;

/// Everything that can go wrong between NVRTC, the driver and a launcher's shape checks.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No CUDA driver library (libcuda) could be loaded.
    #[error("no CUDA driver: libcuda could not be loaded")]
    NoDriver,
    /// The driver loaded but the requested device does not exist.
    #[error("no CUDA device {ordinal} ({count} found)")]
    NoDevice { ordinal: usize, count: i32 },
    /// libnvrtc could not be loaded.
    #[error("libnvrtc not found: put its folder (e.g. .tools/nvrtc/nvidia/cuda_nvrtc/lib or /usr/local/cuda/lib64) on LD_LIBRARY_PATH")]
    NoNvrtc,
    /// NVRTC rejected a kernel file; carries NVRTC's log.
    #[error("NVRTC could not compile {file} for {arch} ({status}):\n{log}")]
    Compile { file: String, arch: String, status: String, log: String },
    /// A CUDA driver call failed.
    #[error("CUDA driver: {0}")]
    Driver(#[from] DriverError),
    /// A launcher's argument does not fit the kernel's constraints.
    #[error("{kernel}: {what}")]
    Shape { kernel: &'static str, what: String },
    /// `ROBERTA_CUBIN_DIR` holds a cubin of this kernel file and architecture built from other sources (its
    /// name carries another source hash, or none), and none of the current sources: loading it could launch
    /// kernels whose arguments no longer match.
    #[error(
        "stale cubin {path}: built from other kernel sources than this binary's (it would load {expected}); \
         rebuild the cubins (`cargo xtask gpu-check`, or nvrtc-check --out DIR), or unset ROBERTA_CUBIN_DIR to \
         compile with NVRTC"
    )]
    StaleCubin { path: String, expected: String },
    /// A precompiled kernel image could not be read.
    #[error("cannot read {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Returns a [`Error::Shape`] from a launcher unless `cond` holds.
pub(crate) fn ensure(cond: bool, kernel: &'static str, what: impl FnOnce() -> String) -> Result<()> {
    if cond {
        Ok(())
    } else {
        Err(Error::Shape { kernel, what: what() })
    }
}
