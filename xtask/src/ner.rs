//! `cargo xtask ner --model DIR [--aggregation none|simple|first|average|max] [--stride N]`: `{"text"}` →
//! `{"text","entities":[..]}` as `pipeline("token-classification")`; long texts run in overlapping windows.
use crate::io::IoArgs;
use crate::pipeline::{run_records, stream, ModelArgs};
use roberta::{Aggregation, Ner};
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

/// Runs the command.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let agg: Aggregation = a.aggregation.parse()?;
    let mut ner = Ner::new(a.model.load()?, agg)?;
    if let Some(s) = a.stride {
        ner = ner.with_stride(s);
    }
    stream(&a.io, "ner", a.model.batch_size * 4, |texts| run_records(&ner, "entities", texts))
}
