//! roberta-encoder: the RoBERTa encoder (HF `RobertaModel` without the pooler) and its `config.json`, on two
//! backends with one contract — f32 on the CPU ([`RobertaModel`], within 1e-4 of HF `transformers`) and f16
//! storage with f32 accumulation on CUDA ([`CudaModel`]) — behind [`Encoder`]. Batches in and out of both are
//! in [`batch`]; weights are read through `roberta_checkpoint`'s [`TensorSource`], names from its `names`.
pub mod backend;
pub mod batch;
pub mod config;
pub mod cuda;
pub mod error;
pub mod matmul;
pub mod model;
pub mod ops;
pub mod qmatmul;
pub mod random;

pub use backend::{Device, Encoder, EncoderOptions};
pub use batch::{BatchInput, BatchPlan, EncoderOutput, Layout, TokenRows};
pub use config::{Activation, Config, Family};
pub use cuda::{CudaModel, CudaOptions, ForwardStats};
pub use roberta_gpu::GpuOptions;
pub use error::{CheckpointError, EncoderError};
pub use matmul::{CpuDType, CpuGemm, CpuOptions};
pub use qmatmul::Int8Kernel;
pub use model::{RobertaModel, WordEmbeddings};
pub use roberta_checkpoint::{DType, Tensor, TensorSource, Weights};
