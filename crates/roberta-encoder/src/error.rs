//! The crate's error type: every variant carries the file, tensor or position it is about.
use std::path::PathBuf;

/// Everything that can go wrong loading a checkpoint or running the encoder.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    /// An I/O error on a file.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// `config.json` is not valid JSON or has a key of the wrong type.
    #[error("{path}: invalid config: {msg}")]
    Config { path: PathBuf, msg: String },
    /// A config value this implementation does not support (rather than a wrong answer).
    #[error("{path}: unsupported {key} = {value:?} ({supported})")]
    Unsupported { path: PathBuf, key: &'static str, value: String, supported: &'static str },
    /// The model directory has neither `model.safetensors` nor `pytorch_model.bin`.
    #[error("{dir}: no model.safetensors or pytorch_model.bin")]
    NoWeights { dir: PathBuf },
    /// A safetensors file whose header is malformed.
    #[error("{path}: bad safetensors header: {msg}")]
    SafetensorsHeader { path: PathBuf, msg: String },
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
        EncoderError::Io { path: path.into(), source }
    }
    /// A bad tensor record in `path`.
    pub fn tensor(path: impl Into<PathBuf>, tensor: impl Into<String>, msg: impl Into<String>) -> Self {
        EncoderError::BadTensor { path: path.into(), tensor: tensor.into(), msg: msg.into() }
    }
}
