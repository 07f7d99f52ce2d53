//! roberta-gpu: RoBERTa's forward-pass kernels (kernels/*.cu) for NVIDIA tensor cores, compiled at run time
//! by NVRTC and launched through cudarc, with [`reference`]: a plain CPU function for every kernel.
//!
//! Nothing here needs a GPU or a CUDA toolkit to build: [`Gpu::new`] returns [`Error::NoDriver`] or
//! [`Error::NoDevice`] where there is none, and [`compile`] needs only libnvrtc (the PyPI wheel is enough).
//!
//! Precompiled kernels: [`GpuOptions::cubin_dir`] (the command line's `ROBERTA_CUBIN_DIR`) may hold
//! `<stem>.<hash16>.sm_XX.cubin` files (`nvrtc-check --out DIR` writes them), named by [`compile::source_hash`]
//! of the sources this binary was built with; a cubin of other sources there is an [`Error::StaleCubin`], never
//! loaded. The library reads no environment variable of its own and prints nothing: warnings go to `log`.
pub mod compile;
mod device;
mod error;
mod launch;
pub mod reference;

pub use compile::{compile, compile_with, nvrtc_supported_archs, nvrtc_version, Compiled, Image, KernelStats, Target, KERNEL_FILES};
pub use device::{Gpu, GpuOptions, SeqOffsets};
pub use error::{Error, Result};
pub use launch::{EmbeddingTables, Epilogue, GemmAlgo, GemmTile, GemmVersion};

/// Device element type of activations and weights.
pub use half::f16;

/// Whether a CUDA driver library can be loaded (checked before anything touches the driver).
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen libcuda; no driver call is made.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Whether libnvrtc can be loaded (for run-time kernel compilation).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen libnvrtc.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Prefix sums of sequence lengths: `[0, l0, l0+l1, …]`, the offsets of a packed (padding-free) batch.
pub fn seq_offsets(lengths: &[usize]) -> Vec<i32> {
    let mut off = Vec::with_capacity(lengths.len() + 1);
    let mut acc = 0i32;
    off.push(0);
    for &l in lengths {
        acc += i32::try_from(l).expect("sequence length fits i32");
        off.push(acc);
    }
    off
}
