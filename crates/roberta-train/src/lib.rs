//! roberta-train: fine-tuning RoBERTa-family encoders with a token- or sequence-classification head on the CPU,
//! with HF Trainer's semantics. [`ops`] holds every op's forward beside its backward; [`model`] the trainable
//! model (forward keeping activations, backward); [`adamw`] the optimizer, clipping and schedule; [`data`] the
//! examples; [`train`] the Trainer loop and the HF directory it writes.
pub mod adamw;
pub mod data;
pub mod model;
pub mod ops;
pub mod train;

/// What training can fail with; each message names the file, tensor or record at fault.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the checkpoint.
    #[error(transparent)]
    Checkpoint(#[from] roberta_checkpoint::CheckpointError),
    /// The config or the encoder.
    #[error(transparent)]
    Encoder(#[from] roberta_encoder::EncoderError),
    /// The tokenizer.
    #[error(transparent)]
    Tokenizer(#[from] roberta_tokenizer::TokenizerError),
    /// Something this trainer does not do (yet).
    #[error("{0}")]
    Unsupported(String),
    /// The training or dev data.
    #[error("{0}")]
    Data(String),
    /// Writing the output.
    #[error("{path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
