//! `roberta classify --model DIR [--top-k K]`: `{"text"}` or `{"text","text_pair"}` (cross-encoders, NLI) →
//! the record with `"labels":[{"label","score"}]`, sorted by score (every label unless `--top-k`).
use crate::io::{text_and_pair, IoArgs};
use crate::pipeline::{run_texts, stream, ModelArgs, Task, TaskFn};
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
    stream(&a.io, &*task(&a)?)
}

/// The command's task (its model loaded), without its input and output.
pub fn task(a: &Args) -> crate::Result<Box<dyn Task>> {
    if a.top_k == Some(0) {
        return Err("--top-k must be at least 1".into());
    }
    let cls = Classifier::new(a.model.load()?, a.top_k)?;
    Ok(TaskFn::boxed("classify", a.model.batch_size * 4, text_and_pair, move |recs: &[(String, Option<String>)]| {
        let pairs: Vec<(&str, Option<&str>)> = recs.iter().map(|(t, p)| (t.as_str(), p.as_deref())).collect();
        run_texts(cls.run_pairs(&pairs), "labels")
    }))
}
