//! [`TensorSource`]: the one way the encoders and heads read a checkpoint's tensors, whatever holds them — a
//! safetensors file read tensor by tensor, a sharded safetensors checkpoint, a torch zip archive, or tensors
//! already in memory ([`crate::Weights`]). A reader asks for a tensor by its [`crate::names`] name and the
//! shape its config implies; it gets an owned f32 (or f16) copy of that tensor alone, or an error naming the
//! tensor and the file.
use crate::error::{CheckpointError, Result};
use half::f16;
use std::path::Path;

/// A set of named float tensors that can be read one at a time.
///
/// Names are without the `roberta.` prefix ([`crate::names::normalise`]); buffers and integer tensors are not
/// listed. `Sync`: the CPU encoder reads tensors from several threads.
pub trait TensorSource: Sync {
    /// The file the tensors come from (the index file of a sharded checkpoint), for errors.
    fn path(&self) -> &Path;

    /// The shape of tensor `name`, when present.
    fn shape(&self, name: &str) -> Option<Vec<usize>>;

    /// Tensor `name` decoded to f32, row-major. The caller has checked its shape ([`TensorSource::read_f32`]).
    fn read_f32_unchecked(&self, name: &str) -> Result<Vec<f32>>;

    /// Every tensor name, sorted.
    fn names(&self) -> Vec<String>;

    /// Whether tensor `name` is present.
    fn contains(&self, name: &str) -> bool {
        self.shape(name).is_some()
    }

    /// Tensor `name` as f32, which must have `shape`: otherwise [`CheckpointError::MissingTensor`] or
    /// [`CheckpointError::ShapeMismatch`], naming the tensor and the file.
    fn read_f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        expect_shape(self, name, shape)?;
        self.read_f32_unchecked(name)
    }

    /// Tensor `name` rounded to f16 (round to nearest even, as the CUDA encoder stores its weights), checked as
    /// [`TensorSource::read_f32`]. Only the one tensor is held in f32 meanwhile.
    fn read_f16(&self, name: &str, shape: &[usize]) -> Result<Vec<f16>> {
        Ok(self.read_f32(name, shape)?.into_iter().map(f16::from_f32).collect())
    }
}

/// Names, sorted (what [`TensorSource::names`] returns).
pub(crate) fn sorted<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut v: Vec<String> = names.cloned().collect();
    v.sort_unstable();
    v
}

/// Checks that `src` holds `name` with `shape`.
pub fn expect_shape<S: TensorSource + ?Sized>(src: &S, name: &str, shape: &[usize]) -> Result<()> {
    match src.shape(name) {
        None => Err(CheckpointError::missing(src.path(), name)),
        Some(found) if found != shape => Err(CheckpointError::ShapeMismatch {
            path: src.path().into(),
            tensor: name.to_string(),
            expected: shape.to_vec(),
            found,
        }),
        Some(_) => Ok(()),
    }
}
