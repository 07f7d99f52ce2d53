//! The tokenizer's errors: each names the file (and line) or the input at fault.
use std::path::PathBuf;

/// Everything that can go wrong loading a tokenizer or encoding with it.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// The directory has neither tokenizer.json, nor vocab.json + merges.txt, nor vocab.txt, nor
    /// sentencepiece.bpe.model: `missing` names what is not there (`merges.txt` when only vocab.json is, ...).
    #[error("{dir}: no tokenizer: {missing} (a tokenizer is tokenizer.json, or vocab.json and merges.txt for RoBERTa, vocab.txt for BERT, sentencepiece.bpe.model for XLM-R)")]
    NoTokenizer { dir: PathBuf, missing: String },
    /// A JSON file does not parse, or lacks what a tokenizer needs.
    #[error("{path}: invalid JSON: {msg}")]
    BadJson { path: PathBuf, msg: String },
    /// A vocabulary entry is malformed (id not an integer, duplicate id...).
    #[error("{path}: bad vocabulary entry {token:?}: {msg}")]
    BadVocab { path: PathBuf, token: String, msg: String },
    /// A merges line is not two space-separated tokens.
    #[error("{path}:{line}: malformed merge {text:?} (expected two tokens separated by one space)")]
    BadMerges { path: PathBuf, line: usize, text: String },
    /// A merge names a token absent from the vocabulary.
    #[error("{path}:{line}: merge {text:?} uses token {token:?}, which is not in the vocabulary")]
    MergeUnknownToken { path: PathBuf, line: usize, text: String, token: String },
    /// A merge's result is absent from the vocabulary.
    #[error("{path}:{line}: merge {text:?} produces {token:?}, which is not in the vocabulary")]
    MergeResultUnknown { path: PathBuf, line: usize, text: String, token: String },
    /// tokenizer.json uses a component this crate does not implement.
    #[error("{path}: unsupported {what} {kind:?} (roberta-tokenizer implements byte-level BPE for RoBERTa, WordPiece for BERT and SentencePiece Unigram for XLM-R)")]
    Unsupported { path: PathBuf, what: &'static str, kind: String },
    /// A special token the post-processing needs is missing.
    #[error("special token {token:?} is not in the vocabulary")]
    MissingSpecial { token: String },
    /// A binary model file (sentencepiece.bpe.model, a compiled charsmap) is malformed.
    #[error("{path}: malformed {what}: {msg}")]
    BadModel { path: PathBuf, what: &'static str, msg: String },
    /// max_length cannot even hold the special tokens.
    #[error("max_length {max_length} is smaller than the {special} special tokens it must hold")]
    MaxLengthTooSmall { max_length: usize, special: usize },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, TokenizerError>;
