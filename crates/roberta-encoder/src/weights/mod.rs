//! Checkpoint loading: `model.safetensors` (f32 / f16 / bf16) or `pytorch_model.bin` (torch zip + pickle),
//! normalised to f32 tensors named without the `roberta.` prefix.
pub mod pickle;
pub mod safetensors;
pub mod torch_write;
pub mod torch_zip;

use crate::error::{EncoderError, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A row-major f32 tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The elements, row-major.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor from its shape and data (the lengths must agree).
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Tensor {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "tensor shape and data disagree");
        Tensor { shape, data }
    }
    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// Element types found in checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// 64-bit float.
    F64,
    /// 64-bit signed integer.
    I64,
    /// 32-bit signed integer.
    I32,
    /// 16-bit signed integer.
    I16,
    /// 8-bit signed integer.
    I8,
    /// 8-bit unsigned integer.
    U8,
    /// Boolean (one byte).
    Bool,
}

impl DType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::F64 | DType::I64 => 8,
            DType::F32 | DType::I32 => 4,
            DType::F16 | DType::BF16 | DType::I16 => 2,
            DType::I8 | DType::U8 | DType::Bool => 1,
        }
    }
    /// Whether this is a floating-point type (the only kind loaded as weights).
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::BF16 | DType::F64)
    }
    /// Decodes little-endian elements of a float type to f32 (None for integer types).
    pub fn to_f32(self, bytes: &[u8]) -> Option<Vec<f32>> {
        Some(match self {
            DType::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            DType::F16 => {
                bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            DType::BF16 => {
                bytes.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
            }
            DType::F64 => bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
            _ => return None,
        })
    }
    /// Decodes little-endian elements of an integer type to i64 (None for float types).
    pub fn to_i64(self, bytes: &[u8]) -> Option<Vec<i64>> {
        Some(match self {
            DType::I64 => bytes.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(),
            DType::I32 => bytes.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64).collect(),
            DType::I16 => bytes.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as i64).collect(),
            DType::I8 => bytes.iter().map(|&b| b as i8 as i64).collect(),
            DType::U8 | DType::Bool => bytes.iter().map(|&b| b as i64).collect(),
            _ => return None,
        })
    }
}

/// A loaded checkpoint: f32 tensors by name (without the `roberta.` prefix) and the file they came from.
#[derive(Debug, Clone, Default)]
pub struct Weights {
    tensors: HashMap<String, Arc<Tensor>>,
    source: PathBuf,
}

/// The weight name as the encoder looks it up: the `roberta.` prefix removed.
pub fn normalise_name(name: &str) -> &str {
    name.strip_prefix("roberta.").unwrap_or(name)
}

/// Whether a checkpoint entry is a buffer rather than a weight (ignored at load).
pub fn is_buffer(name: &str) -> bool {
    name.ends_with("position_ids") || name.ends_with("token_type_ids")
}

impl Weights {
    /// Loads `dir/model.safetensors` if present, else `dir/pytorch_model.bin`.
    pub fn load_dir(dir: &Path) -> Result<Weights> {
        let st = dir.join("model.safetensors");
        let bin = dir.join("pytorch_model.bin");
        if st.is_file() {
            Self::load_file(&st)
        } else if bin.is_file() {
            Self::load_file(&bin)
        } else {
            Err(EncoderError::NoWeights { dir: dir.into() })
        }
    }

    /// Loads only the tensors whose name (without the `roberta.` prefix) `keep` accepts — e.g. a task head's, next
    /// to an encoder built with `RobertaModel::load_dir`. From safetensors the others are never read; a torch
    /// archive is read whole and then filtered. The decoder is still tied to the word embeddings when kept.
    pub fn load_dir_where(dir: &Path, keep: impl Fn(&str) -> bool) -> Result<Weights> {
        let st = dir.join("model.safetensors");
        let mut w = if st.is_file() {
            Self::from_named(safetensors::load_f32_where(&st, |n| keep(normalise_name(n)))?, &st)
        } else {
            Self::load_dir(dir)?
        };
        w.tensors.retain(|n, _| keep(n));
        Ok(w)
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

    /// Builds the map from (original name, tensor) pairs: prefix stripped, buffers dropped, decoder tied.
    pub fn from_named(raw: Vec<(String, Arc<Tensor>)>, source: &Path) -> Weights {
        let mut tensors = HashMap::with_capacity(raw.len() + 1);
        for (name, t) in raw {
            if is_buffer(&name) {
                continue;
            }
            tensors.insert(normalise_name(&name).to_string(), t);
        }
        if !tensors.contains_key("lm_head.decoder.weight") {
            if let Some(w) = tensors.get("embeddings.word_embeddings.weight").cloned() {
                tensors.insert("lm_head.decoder.weight".into(), w);
            }
        }
        Weights { tensors, source: source.into() }
    }

    /// The tensor called `name` (without the `roberta.` prefix).
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(normalise_name(name)).map(|t| t.as_ref())
    }

    /// The tensor called `name`, which must have `shape`; otherwise an error naming it and the file.
    pub fn expect(&self, name: &str, shape: &[usize]) -> Result<&Tensor> {
        let t = self.get(name).ok_or_else(|| EncoderError::MissingTensor {
            path: self.source.clone(),
            tensor: name.to_string(),
        })?;
        if t.shape != shape {
            return Err(EncoderError::ShapeMismatch {
                path: self.source.clone(),
                tensor: name.to_string(),
                expected: shape.to_vec(),
                found: t.shape.clone(),
            });
        }
        Ok(t)
    }

    /// Whether a tensor called `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(normalise_name(name))
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
        self.tensors.insert(normalise_name(name).to_string(), Arc::new(t));
    }
}

/// Memory-maps a file read-only.
pub(crate) fn map_file(path: &Path) -> Result<memmap2::Mmap> {
    let f = std::fs::File::open(path).map_err(|e| EncoderError::io(path, e))?;
    // SAFETY: the map is read-only and lives only while the checkpoint is decoded; like every mmap-based
    // loader (safetensors, torch) we assume nobody truncates the file meanwhile.
    unsafe { memmap2::Mmap::map(&f) }.map_err(|e| EncoderError::io(path, e))
}

/// Converts a torch zip checkpoint to safetensors (f32, original names; shared storages written once per name).
pub fn convert_bin_to_safetensors(src: &Path, dst: &Path) -> Result<usize> {
    let tensors = torch_zip::load_f32(src)?;
    let refs: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t.as_ref())).collect();
    safetensors::write_f32(dst, &refs)?;
    Ok(refs.len())
}
