//! Byte-level BPE tokenizer for RoBERTa, giving exactly what Hugging Face's tokenizer gives.
//!
//! Stages, each in its own module: added-token split ([`added`]) → GPT-2 pre-tokenization ([`pretokenize`]) →
//! BPE by merge rank ([`bpe`]) → RoBERTa post-processing, truncation and padding ([`encoding`]).
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
pub mod pretokenize;
mod tokenizer;
mod unicode_tables;

pub use added::AddedToken;
pub use encoding::{pad, Encoding, Padding, TruncationStrategy};
pub use error::{Result, TokenizerError};
pub use tokenizer::{EncodeOptions, Input, SpecialTokens, Tokenizer};
