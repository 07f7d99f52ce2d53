//! `cargo xtask fill-mask --model DIR [--top-k K]`: `{"text"}` → `{"text","predictions":[..]}` (a list per
//! mask when the text has several), as `pipeline("fill-mask")`.
use crate::io::IoArgs;
use crate::pipeline::{run_records, stream, ModelArgs};
use roberta::FillMask;
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

/// Runs the command.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let fm = FillMask::new(a.model.load()?, a.top_k)?;
    stream(&a.io, "fill-mask", a.model.batch_size * 4, |texts| run_records(&fm, "predictions", texts))
}
