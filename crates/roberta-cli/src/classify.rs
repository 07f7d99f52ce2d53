//! `roberta classify --model DIR [--top-k K]`: `{"text"}` or `{"text","text_pair"}` (cross-encoders, NLI) →
//! the record with `"labels":[{"label","score"}]`, sorted by score (every label unless `--top-k`).
use crate::io::{text_and_pair, IoArgs};
use crate::pipeline::{run_texts, stream, ModelArgs};
use roberta::Classifier;
use std::process::ExitCode;

/// Arguments of `roberta classify`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Keep only the K best labels (at least 1; every label by default).
    #[arg(long)]
    pub top_k: Option<usize>,
    #[command(flatten)]
    pub io: IoArgs,
}

/// Runs the command.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    a.io.check()?;
    if a.top_k == Some(0) {
        return Err("--top-k must be at least 1".into());
    }
    let cls = Classifier::new(a.model.load()?, a.top_k)?;
    stream(&a.io, "classify", a.model.batch_size * 4, text_and_pair, |recs| {
        let pairs: Vec<(&str, Option<&str>)> = recs.iter().map(|(t, p)| (t.as_str(), p.as_deref())).collect();
        run_texts(cls.run_pairs(&pairs), "labels")
    })
}
