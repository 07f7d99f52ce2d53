//! `cargo xtask classify --model DIR [--top-k K]`: `{"text"}` → `{"text","labels":[{"label","score"}]}`, sorted
//! by score (every label unless `--top-k`).
use crate::io::IoArgs;
use crate::pipeline::{run_records, stream, ModelArgs};
use roberta::Classifier;
use std::process::ExitCode;

/// Arguments of `cargo xtask classify`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Keep only the K best labels.
    #[arg(long)]
    pub top_k: Option<usize>,
    #[command(flatten)]
    pub io: IoArgs,
}

/// Runs the command.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let cls = Classifier::new(a.model.load()?, a.top_k)?;
    stream(&a.io, "classify", a.model.batch_size * 4, |texts| run_records(&cls, "labels", texts))
}
