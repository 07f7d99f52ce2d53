//! `cargo xtask fill-mask --model DIR [--top-k K]`: `{"text"}` → `{"text","predictions":[..]}` (a list per
//! mask when the text has several), as `pipeline("fill-mask")`.
use crate::io::IoArgs;
use crate::pipeline::{stream, ModelArgs};
use roberta::FillMask;
use serde_json::{json, Value};
use std::process::ExitCode;

/// Arguments of `cargo xtask fill-mask`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Candidates per mask.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    #[command(flatten)]
    pub io: IoArgs,
}

/// The output record of one text.
pub fn record(text: &str, out: &roberta::FillMaskOutput) -> Value {
    let list = |ps: &[roberta::Prediction]| -> Value {
        ps.iter().map(|p| json!({"token": p.token, "token_str": p.token_str, "score": p.score, "sequence": p.sequence})).collect()
    };
    let predictions = if out.masks.len() == 1 { list(&out.masks[0]) } else { out.masks.iter().map(|m| list(m)).collect() };
    let mut v = json!({ "text": text, "predictions": predictions });
    if let Some(w) = &out.warning {
        v["warning"] = json!(w);
    }
    v
}

/// Runs the command.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let fm = FillMask::new(a.model.load()?, a.top_k)?;
    stream(&a.io, "fill-mask", a.model.batch_size * 4, |texts| {
        fm.run(texts).into_iter().zip(texts).map(|(r, t)| r.map(|o| record(t, &o)).map_err(|e| e.to_string())).collect()
    })
}
