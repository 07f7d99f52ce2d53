//! The crate's error type: every variant carries the file, tensor or position it is about. Checkpoint errors
//! (files, formats, missing or mis-shaped tensors) are `roberta_checkpoint`'s, wrapped unchanged.
use std::path::PathBuf;

pub use roberta_checkpoint::CheckpointError;

/// Everything that can go wrong loading a model or running the encoder.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// Reading the checkpoint: I/O, a malformed file, a missing tensor or one of the wrong shape.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// `config.json` is not valid JSON or has a key of the wrong type.
    #[error("{path}: invalid config: {msg}")]
    Config { path: PathBuf, msg: String },
    /// A config value this implementation does not support (rather than a wrong answer).
    #[error("{path}: unsupported {key} = {value:?} ({supported})")]
    Unsupported { path: PathBuf, key: &'static str, value: String, supported: &'static str },
    /// Load options this CPU or backend cannot honour (an int8 kernel the CPU lacks, int8 on CUDA).
    #[error("{0}")]
    Options(String),
    /// A forward input that the model cannot take.
    #[error("bad input: {0}")]
    Input(String),
    /// The CUDA backend failed: no driver or device, a kernel compile, a launch or a copy.
    #[error("CUDA: {0}")]
    Cuda(#[from] roberta_gpu::Error),
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, EncoderError>;

impl EncoderError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CheckpointError::io(path, source).into()
    }
}
