//! roberta: RoBERTa inference pipelines with Hugging Face's answers — [`FillMask`], [`Ner`], [`Classifier`],
//! [`Embedder`] — and NER evaluation on CoNLL files ([`eval_ner`]). Built on `roberta-tokenizer`,
//! `roberta-checkpoint`, `roberta-encoder` and `roberta-heads`; CPU (f32) by default, CUDA when asked for.
//!
//! Every pipeline is a [`Pipeline`]: a batch of texts in, one `Result<`[`Output`]`>` per text out, the values
//! serialisable with HF's field names. Pipelines share one loaded [`Model`] (`Arc<Model>`); [`LoadOptions`]
//! says how it loads. The library reads no environment variable and prints nothing (warnings go to `log`).
//!
//! ```
//! use roberta::{Device, FillMask, Model};
//! # let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/models/tiny-mlm");
//! let model = Model::load(dir, Device::Cpu)?;          // an HF directory, e.g. bsc-bio-ehr-es
//! let fill = FillMask::new(model, 3)?;
//! let out = fill.run(&["El paciente presenta dolor <mask>."]).remove(0)?;
//! for p in &out.value[0] {
//!     println!("{:>12} {:.3}", p.token_str, p.score);
//! }
//! assert_eq!(out.value[0].len(), 3);
//! # Ok::<(), roberta::Error>(())
//! ```
mod classify;
mod embed;
pub mod eval_ner;
mod fill_mask;
mod model;
mod ner;
mod output;

pub use classify::{Classifier, LabelScore, ScoreFunction};
pub use embed::{Embedder, Embedding, TokenStates};
pub use fill_mask::{FillMask, Masks, Prediction};
pub use model::{LoadOptions, Model};
pub use ner::{Ner, Words};
pub use output::{Output, Pipeline};
pub use roberta_encoder::{BatchInput, CpuDType, CpuGemm, CpuOptions, Int8Kernel, CudaOptions, EncoderOutput, GpuOptions};
pub use roberta_encoder::Device;
pub use roberta_heads::ner::{Aggregation, Entity};
pub use roberta_heads::pooling::Pooling;

/// Everything a pipeline can fail with; each message names the file, record or limit at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Loading or running the tokenizer.
    #[error(transparent)]
    Tokenizer(#[from] roberta_tokenizer::TokenizerError),
    /// Loading or running the encoder or a head.
    #[error(transparent)]
    Encoder(#[from] roberta_encoder::EncoderError),
    /// Resolving a model id on the Hugging Face Hub (`org/name[@revision]`).
    #[error(transparent)]
    Hub(#[from] roberta_checkpoint::hub::HubError),
    /// The model cannot serve this pipeline (wrong head, no mask token...).
    #[error("{0}")]
    Model(String),
    /// One input cannot be processed (no `<mask>`, ...).
    #[error("{0}")]
    Input(String),
    /// Reading a data file.
    #[error("{path}: {msg}")]
    Data { path: std::path::PathBuf, msg: String },
    /// A failure of a whole batch (a forward pass), given to each of its texts.
    #[error(transparent)]
    Batch(std::sync::Arc<Error>),
}

/// A checkpoint error is an encoder error (as the encoder's own loaders give it).
impl From<roberta_encoder::CheckpointError> for Error {
    fn from(e: roberta_encoder::CheckpointError) -> Self {
        Error::Encoder(e.into())
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

