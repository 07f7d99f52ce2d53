//! What every pipeline returns: for each input text, its own `Result<Output<T>>` — the value as HF's pipeline
//! gives it, and a warning when the text was cut or only partly seen. The values serialise (serde) with HF's
//! field names, so the command line, a server and the Python package write the same JSON.
use crate::Result;
use serde::{Serialize, Serializer};

/// One text's result: the pipeline's value and, when there was one, a warning about this text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Output<T> {
    /// What HF's pipeline returns for this text.
    pub value: T,
    /// Set when the text was truncated, or (`<s>` pooling) only its first window was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl<T> Output<T> {
    /// A value without a warning.
    pub fn new(value: T) -> Output<T> {
        Output { value, warning: None }
    }
}

/// The four pipelines' common shape: a batch of texts in, one result per text out, in order (a text that
/// cannot be processed is an error for it alone; a failed forward pass is every text's error).
pub trait Pipeline: Send + Sync {
    /// What one text gives (serialisable with HF's field names).
    type Value: Serialize;
    /// Runs the pipeline on a batch of texts.
    fn run(&self, texts: &[&str]) -> Vec<Result<Output<Self::Value>>>;
    /// The model it runs.
    fn model(&self) -> &crate::Model;
}

/// Writes an f32 as the f64 it widens to (what `serde_json::json!` writes for an f32), so that scores read the
/// same wherever they are serialised.
pub(crate) fn f32_as_f64<S: Serializer>(x: &f32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(f64::from(*x))
}

/// f32 values written as the f64s they widen to (see [`f32_as_f64`]).
pub(crate) fn f32s_as_f64<S: Serializer>(v: &[f32], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|&x| f64::from(x)))
}

/// A batch-level failure as every text's error: the one error, shared ([`crate::Error::Batch`]).
pub(crate) fn each_failed<T>(n: usize, e: crate::Error) -> Vec<Result<T>> {
    let e = std::sync::Arc::new(e);
    (0..n).map(|_| Err(crate::Error::Batch(e.clone()))).collect()
}
