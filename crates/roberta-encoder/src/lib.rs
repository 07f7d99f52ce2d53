//! roberta-encoder: RoBERTa `config.json`, checkpoint loading (`model.safetensors` in f32 / f16 / bf16 and
//! `pytorch_model.bin` through a hand-written zip reader and pickle VM) and the f32 CPU encoder, matching
//! HF `transformers` to 1e-4.
pub mod backend;
pub mod config;
pub mod cuda;
pub mod error;
pub mod matmul;
pub mod model;
pub mod ops;
pub mod random;
pub mod weights;

pub use backend::{Device, Encoder};
pub use config::{Activation, Config};
pub use cuda::{CudaModel, ForwardStats, Layout};
pub use error::EncoderError;
pub use model::{BatchInput, EncoderOutput, RobertaModel};
pub use weights::{DType, Tensor, Weights};
