//! roberta-checkpoint: reading and writing RoBERTa-family checkpoints, by hand so that every inconsistency is a
//! precise error naming the file, tensor or byte.
//!
//! - Formats: `model.safetensors` in f32 / f16 / bf16 ([`safetensors`]), sharded safetensors with
//!   `model.safetensors.index.json` ([`sharded`]), and `pytorch_model.bin` (a torch zip archive, [`torch_zip`],
//!   whose pickle a small VM reads, [`pickle`]); writers for safetensors and torch zips ([`torch_write`]).
//! - [`ModelFiles`]: which of them a model directory holds, decided in one place.
//! - [`TensorSource`]: the one boundary through which the encoders and heads read tensors, one at a time, by
//!   name and expected shape; implemented by the streaming readers and by [`Weights`] (tensors in memory).
//! - [`hub`]: models by name (`org/name[@revision]`) from the Hugging Face Hub, in `huggingface_hub`'s cache.
//! - [`names`]: the family's parameter names (prefix, buffers, layers, heads, the tied decoder).
pub mod error;
pub mod files;
pub mod hub;
pub mod names;
pub mod pickle;
pub mod safetensors;
pub mod sharded;
pub mod source;
pub mod tensor;
pub mod torch_write;
pub mod torch_zip;
pub mod weights;

pub use error::{CheckpointError, Result};
pub use files::{ModelFiles, WeightsFile};
pub use safetensors::SafetensorsFile;
pub use sharded::ShardedSafetensors;
pub use source::TensorSource;
pub use tensor::{DType, Tensor};
pub use torch_zip::TorchZipFile;
pub use weights::{convert_bin_to_safetensors, Weights};
pub(crate) use weights::{map_file, map_open};
