//! Byte-level BPE tokenizer for RoBERTa, giving exactly what Hugging Face's tokenizer gives.
//!
//! Stages, each in its own module: added-token split ([`added`]) → GPT-2 pre-tokenization ([`pretokenize`]) →
//! BPE by merge rank ([`bpe`]) → RoBERTa post-processing, truncation and padding ([`encoding`]).
//!
//! ```no_run
//! use roberta_tokenizer::Tokenizer;
//! let tok = Tokenizer::from_dir("tests/fixtures/models/tiny-mlm")?;
//! let enc = tok.encode("Paciente con fiebre.");
//! assert_eq!(enc.ids[0], 0); // <s>
//! # Ok::<(), roberta_tokenizer::TokenizerError>(())
//! ```
pub mod added;
pub mod bpe;
pub mod bytes;
pub mod encoding;
mod error;
mod fxhash;
mod load;
pub mod pretokenize;
mod tokenizer;
mod unicode_tables;

pub use added::AddedToken;
pub use encoding::{pad, Encoding, Padding, TruncationStrategy};
pub use error::{Result, TokenizerError};
pub use tokenizer::{EncodeOptions, Input, SpecialTokens, Tokenizer};
