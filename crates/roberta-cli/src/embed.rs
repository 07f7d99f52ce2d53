//! `roberta embed --model DIR [--pooling mean|cls] [--normalize]`: `{"text"}` → `{"text","embedding":[..]}`.
use crate::io::IoArgs;
use crate::pipeline::{run_texts, stream, strs, text_of, ModelArgs, Task, TaskFn};
use roberta::{Embedder, Pooling};
use std::process::ExitCode;

/// Arguments of `roberta embed`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// mean (over the attention mask; long texts in windows) or cls (the <s> token; long texts truncated).
    #[arg(long, default_value = "mean")]
    pub pooling: String,
    /// Scale every vector to unit L2 norm.
    #[arg(long)]
    pub normalize: bool,
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
    let pooling: Pooling = a.pooling.parse()?;
    let emb = Embedder::new(a.model.load()?, pooling, a.normalize)?;
    Ok(TaskFn::boxed("embed", a.model.batch_size * 4, text_of, move |t: &[String]| run_texts(emb.run(&strs(t)), "embedding")))
}
