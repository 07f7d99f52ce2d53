//! [`Weights`]: a whole checkpoint decoded to f32 tensors in memory, by name without the `roberta.` prefix,
//! buffers dropped. The streaming readers ([`crate::SafetensorsFile`], [`crate::TorchZipFile`],
//! [`crate::ShardedSafetensors`]) are the lean way to load a model; `Weights` is the in-memory
//! [`TensorSource`] for tests, conversions and checkpoints built in code.
use crate::error::{CheckpointError, Result};
use crate::files::{ModelFiles, WeightsFile};
use crate::{names, safetensors, sharded, torch_zip, Tensor, TensorSource};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A loaded checkpoint: f32 tensors by name (without the `roberta.` prefix) and the file they came from.
#[derive(Debug, Clone, Default)]
pub struct Weights {
    tensors: HashMap<String, Arc<Tensor>>,
    source: PathBuf,
}

impl Weights {
    /// Loads the checkpoint of a model directory ([`ModelFiles::resolve`] says which file) whole into memory.
    pub fn load_dir(dir: &Path) -> Result<Weights> {
        match ModelFiles::resolve(dir)?.weights {
            WeightsFile::Safetensors(p) | WeightsFile::TorchZip(p) => Self::load_file(&p),
            WeightsFile::ShardedSafetensors(index) => {
                let mut raw = Vec::new();
                for shard in sharded::ShardedSafetensors::open(&index)?.shard_paths() {
                    raw.extend(safetensors::load_f32(shard)?);
                }
                Ok(Self::from_named(raw, &index))
            }
        }
    }

    /// Loads one checkpoint file: `.safetensors`, or anything else as a torch zip archive.
    pub fn load_file(path: &Path) -> Result<Weights> {
        let raw = if path.extension().is_some_and(|e| e == "safetensors") {
            safetensors::load_f32(path)?
        } else {
            torch_zip::load_f32(path)?
        };
        Ok(Self::from_named(raw, path))
    }

    /// Builds the map from (original name, tensor) pairs: prefix stripped, buffers dropped.
    pub fn from_named(raw: Vec<(String, Arc<Tensor>)>, source: &Path) -> Weights {
        let mut tensors = HashMap::with_capacity(raw.len());
        for (name, t) in raw {
            if names::is_buffer(&name) {
                continue;
            }
            tensors.insert(names::normalise(&name).to_string(), t);
        }
        Weights { tensors, source: source.into() }
    }

    /// The tensor called `name` (with or without the `roberta.` prefix).
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(names::normalise(name).as_ref()).map(|t| t.as_ref())
    }

    /// The tensor called `name`, which must have `shape`; otherwise an error naming it and the file.
    pub fn expect(&self, name: &str, shape: &[usize]) -> Result<&Tensor> {
        crate::source::expect_shape(self, &names::normalise(name), shape)?;
        Ok(self.get(name).expect("checked present"))
    }

    /// Whether a tensor called `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(names::normalise(name).as_ref())
    }

    /// All tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.tensors.keys().map(|s| s.as_str()).collect();
        v.sort_unstable();
        v
    }

    /// The checkpoint file the tensors came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Adds or replaces a tensor (name normalised).
    pub fn insert(&mut self, name: &str, t: Tensor) {
        self.tensors.insert(names::normalise(name).to_string(), Arc::new(t));
    }
}

impl TensorSource for Weights {
    fn path(&self) -> &Path {
        &self.source
    }
    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.get(name).map(|t| t.shape.clone())
    }
    fn read_f32_unchecked(&self, name: &str) -> Result<Vec<f32>> {
        self.get(name)
            .map(|t| t.data.clone())
            .ok_or_else(|| CheckpointError::missing(&self.source, name))
    }
    fn names(&self) -> Vec<String> {
        Weights::names(self).into_iter().map(String::from).collect()
    }
}

/// Memory-maps a file read-only.
pub(crate) fn map_file(path: &Path) -> Result<memmap2::Mmap> {
    map_open(&std::fs::File::open(path).map_err(|e| CheckpointError::io(path, e))?, path)
}

/// Memory-maps an open file read-only (`path` for errors).
pub(crate) fn map_open(f: &std::fs::File, path: &Path) -> Result<memmap2::Mmap> {
    // SAFETY: the map is read-only and lives as long as its reader (a decode, or an open TensorSource); like
    // every mmap-based loader (safetensors, torch) we assume nobody truncates the file meanwhile.
    unsafe { memmap2::Mmap::map(f) }.map_err(|e| CheckpointError::io(path, e))
}

/// Converts a torch zip checkpoint to safetensors (f32, original names; shared storages written once per name).
pub fn convert_bin_to_safetensors(src: &Path, dst: &Path) -> Result<usize> {
    let tensors = torch_zip::load_f32(src)?;
    let refs: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t.as_ref())).collect();
    safetensors::write_f32(dst, &refs)?;
    Ok(refs.len())
}
