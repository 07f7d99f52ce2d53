//! `roberta fill-mask --model DIR [--top-k K]`: `{"text"}` → `{"text","predictions":[..]}` (a list per mask
//! when the text has several), as `pipeline("fill-mask")`.
use crate::io::IoArgs;
use crate::pipeline::{run_texts, stream, strs, text_of, ModelArgs, Task, TaskFn};
use roberta::FillMask;
use std::process::ExitCode;

/// Arguments of `roberta fill-mask`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Candidates per mask: 1 to the vocabulary size.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
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
    if a.top_k == 0 {
        return Err("--top-k must be at least 1".into());
    }
    let model = a.model.load()?;
    let vocab = model.config().vocab_size;
    if a.top_k > vocab {
        return Err(format!("--top-k {} is above the vocabulary size {vocab}", a.top_k).into());
    }
    let fm = FillMask::new(model, a.top_k)?;
    Ok(TaskFn::boxed("fill-mask", a.model.batch_size * 4, text_of, move |t: &[String]| run_texts(fm.run(&strs(t)), "predictions")))
}
