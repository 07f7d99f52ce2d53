//! Hugging Face's tokenizers for the RoBERTa, BERT and XLM-R families, giving exactly what Hugging Face's
//! tokenizer gives: byte-level BPE (RoBERTa), WordPiece (BERT) and SentencePiece Unigram (XLM-R).
//!
//! Stages, each in its own module: added-token split ([`added`]) → normalizer ([`normalizer`] for BERT's,
//! [`unigram`] for SentencePiece's compiled map) → pre-tokenization (GPT-2's in [`pretokenize`], BERT's in
//! [`wordpiece`], Metaspace in [`unigram`]) → model (BPE by merge rank in [`bpe`], WordPiece in [`wordpiece`],
//! Viterbi in [`unigram`]) → post-processing (RoBERTa's, BERT's or any template), truncation and padding
//! ([`encoding`]). [`sentencepiece`] reads `sentencepiece.bpe.model`.
//!
//! ```
//! use roberta_tokenizer::Tokenizer;
//! # let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/models/tiny-mlm");
//! let tok = Tokenizer::from_dir(dir)?; // vocab.json + merges.txt, or tokenizer.json
//! let enc = tok.encode("Paciente con fiebre.");
//! assert_eq!(enc.ids[0], 0); // <s>
//! assert_eq!(enc.offsets[1], (0, 2)); // "Pa" (of "Paciente"), in characters
//! assert_eq!(tok.decode(&enc.ids, true), " Paciente con fiebre.");
//! # Ok::<(), roberta_tokenizer::TokenizerError>(())
//! ```
pub mod added;
pub mod bpe;
pub mod bytes;
pub mod encoding;
mod error;
mod fxhash;
mod load;
pub mod sentencepiece;
pub mod normalizer;
pub mod pretokenize;
mod tokenizer;
mod unicode_tables;
pub mod unigram;
pub mod wordpiece;

pub use added::AddedToken;
pub use encoding::{pad, Encoding, Padding, TruncationStrategy};
pub use error::{Result, TokenizerError};
pub use tokenizer::{EncodeOptions, Input, SpecialTokens, Tokenizer};
