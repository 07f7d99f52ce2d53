//! `cargo xtask ner --model DIR [--aggregation none|simple|first|average|max] [--stride N]`: `{"text"}` →
//! `{"text","entities":[..]}` as `pipeline("token-classification")`; long texts run in overlapping windows.
use crate::io::IoArgs;
use crate::pipeline::{stream, ModelArgs};
use roberta::{Aggregation, Entity, Ner};
use serde_json::{json, Value};
use std::process::ExitCode;

/// Arguments of `cargo xtask ner`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// none, simple, first, average or max.
    #[arg(long, default_value = "none")]
    pub aggregation: String,
    /// Tokens shared by consecutive windows of a text longer than the model allows (default: a quarter).
    #[arg(long)]
    pub stride: Option<usize>,
    #[command(flatten)]
    pub io: IoArgs,
}

/// One entity as HF's pipeline writes it.
pub fn entity_json(e: &Entity) -> Value {
    let mut v = if e.grouped { json!({ "entity_group": e.label }) } else { json!({ "entity": e.label }) };
    v["score"] = json!(e.score);
    if let Some(i) = e.index {
        v["index"] = json!(i);
    }
    v["word"] = json!(e.word);
    v["start"] = json!(e.start);
    v["end"] = json!(e.end);
    v
}

/// Runs the command.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let agg: Aggregation = a.aggregation.parse()?;
    let mut ner = Ner::new(a.model.load()?, agg)?;
    if let Some(s) = a.stride {
        ner = ner.with_stride(s);
    }
    stream(&a.io, "ner", a.model.batch_size * 4, |texts| {
        ner.run(texts)
            .into_iter()
            .zip(texts)
            .map(|(r, t)| {
                r.map(|ents| json!({ "text": t, "entities": ents.iter().map(entity_json).collect::<Vec<_>>() })).map_err(|e| e.to_string())
            })
            .collect()
    })
}
