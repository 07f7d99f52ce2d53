//! Which files a model directory holds: the one place that decides it. `config.json`, and one weights format
//! in HF's order of preference: `model.safetensors`, a sharded `model.safetensors.index.json`, then
//! `pytorch_model.bin`. (The tokenizer's files are `roberta_tokenizer::TokenizerFiles`' decision: the
//! tokenizer crate knows its formats.) [`ModelFiles::open_weights`] gives the streaming [`TensorSource`] of
//! whichever it is.
use crate::error::{CheckpointError, Result};
use crate::{safetensors::SafetensorsFile, sharded::ShardedSafetensors, torch_zip::TorchZipFile, TensorSource};
use std::path::{Path, PathBuf};

/// The weights file of a model directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsFile {
    /// `model.safetensors`.
    Safetensors(PathBuf),
    /// `model.safetensors.index.json`, naming its shards.
    ShardedSafetensors(PathBuf),
    /// `pytorch_model.bin` (torch zip + pickle).
    TorchZip(PathBuf),
}

impl WeightsFile {
    /// The file's path (the index of a sharded checkpoint).
    pub fn path(&self) -> &Path {
        match self {
            WeightsFile::Safetensors(p) | WeightsFile::ShardedSafetensors(p) | WeightsFile::TorchZip(p) => p,
        }
    }
}

/// The files of an HF model directory the engine reads (besides the tokenizer's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    /// The directory.
    pub dir: PathBuf,
    /// `config.json` (it may not exist: reading it says so, naming the file).
    pub config: PathBuf,
    /// The weights.
    pub weights: WeightsFile,
}

/// File names, in the order HF's `from_pretrained` prefers them.
pub const SAFETENSORS: &str = "model.safetensors";
/// The index of a sharded safetensors checkpoint.
pub const SAFETENSORS_INDEX: &str = "model.safetensors.index.json";
/// A torch checkpoint.
pub const TORCH: &str = "pytorch_model.bin";
/// The model's configuration.
pub const CONFIG: &str = "config.json";

impl ModelFiles {
    /// Finds the files of `dir`: an error naming the directory when it holds no weights.
    pub fn resolve(dir: &Path) -> Result<ModelFiles> {
        let weights = if dir.join(SAFETENSORS).is_file() {
            WeightsFile::Safetensors(dir.join(SAFETENSORS))
        } else if dir.join(SAFETENSORS_INDEX).is_file() {
            WeightsFile::ShardedSafetensors(dir.join(SAFETENSORS_INDEX))
        } else if dir.join(TORCH).is_file() {
            WeightsFile::TorchZip(dir.join(TORCH))
        } else {
            return Err(CheckpointError::NoWeights { dir: dir.into() });
        };
        Ok(ModelFiles { dir: dir.into(), config: dir.join(CONFIG), weights })
    }

    /// Opens the weights as a streaming source: tensors are read one at a time, on demand (the file's header,
    /// or the archive's index and pickle, are parsed and checked now).
    pub fn open_weights(&self) -> Result<Box<dyn TensorSource>> {
        Ok(match &self.weights {
            WeightsFile::Safetensors(p) => Box::new(SafetensorsFile::open(p)?),
            WeightsFile::ShardedSafetensors(p) => Box::new(ShardedSafetensors::open(p)?),
            WeightsFile::TorchZip(p) => Box::new(TorchZipFile::open(p)?),
        })
    }
}
