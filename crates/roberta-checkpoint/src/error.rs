//! The crate's error type: every variant names the file, tensor or byte it is about.
use std::path::PathBuf;

/// Everything that can go wrong reading or writing a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// An I/O error on a file.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// The model directory has neither `model.safetensors` nor `pytorch_model.bin` (nor a sharded index).
    #[error("{dir}: no model.safetensors or pytorch_model.bin")]
    NoWeights { dir: PathBuf },
    /// A safetensors file whose header is malformed.
    #[error("{path}: bad safetensors header: {msg}")]
    SafetensorsHeader { path: PathBuf, msg: String },
    /// A sharded checkpoint's `model.safetensors.index.json` that is malformed or disagrees with its shards.
    #[error("{path}: bad safetensors index: {msg}")]
    Index { path: PathBuf, msg: String },
    /// A tensor whose record (dtype, shape, offsets, storage) disagrees with the file.
    #[error("{path}: tensor {tensor}: {msg}")]
    BadTensor { path: PathBuf, tensor: String, msg: String },
    /// A malformed zip archive (torch `pytorch_model.bin`).
    #[error("{path}: bad zip archive at byte {offset}: {msg}")]
    Zip { path: PathBuf, offset: u64, msg: String },
    /// A pickle that is malformed or uses something outside the supported subset.
    #[error("{path}: pickle error at byte {offset}: {msg}")]
    Pickle { path: PathBuf, offset: usize, msg: String },
    /// A pickle opcode outside the supported subset.
    #[error("{path}: unsupported pickle opcode 0x{opcode:02x} ({name}) at byte {offset}")]
    PickleOpcode { path: PathBuf, opcode: u8, name: &'static str, offset: usize },
    /// A tensor the model needs is not in the checkpoint.
    #[error("{path}: missing tensor {tensor}")]
    MissingTensor { path: PathBuf, tensor: String },
    /// A tensor whose shape disagrees with the config.
    #[error("{path}: tensor {tensor} has shape {found:?}, config expects {expected:?}")]
    ShapeMismatch { path: PathBuf, tensor: String, expected: Vec<usize>, found: Vec<usize> },
}

/// Shorthand for results of this crate.
pub type Result<T> = std::result::Result<T, CheckpointError>;

impl CheckpointError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CheckpointError::Io { path: path.into(), source }
    }
    /// Tensor `tensor` is not in `path`.
    pub fn missing(path: impl Into<PathBuf>, tensor: impl Into<String>) -> Self {
        CheckpointError::MissingTensor { path: path.into(), tensor: tensor.into() }
    }
    /// A bad tensor record in `path`.
    pub fn tensor(path: impl Into<PathBuf>, tensor: impl Into<String>, msg: impl Into<String>) -> Self {
        CheckpointError::BadTensor { path: path.into(), tensor: tensor.into(), msg: msg.into() }
    }
}
