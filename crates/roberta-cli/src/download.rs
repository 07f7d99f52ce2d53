//! `roberta download ID [--revision R] [--tokenizer-only] [--refresh]`: fetches what the engine needs of a model
//! on the Hugging Face Hub into the HF cache (as `huggingface_hub` lays it out) and prints the snapshot
//! directory, which every `--model` also accepts.
use roberta_checkpoint::hub::{Hub, ModelRef, Want};
use std::process::ExitCode;

/// Arguments of `download`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model id, `org/name` or `org/name@revision` (e.g. PlanTL-GOB-ES/bsc-bio-ehr-es@refs/pr/1).
    id: String,
    /// The revision: a branch, a tag, a commit, or refs/pr/N (default main).
    #[arg(long)]
    revision: Option<String>,
    /// Only the tokenizer's files (and config.json), not the weights.
    #[arg(long)]
    tokenizer_only: bool,
    /// Ask the Hub which commit the revision is now, even when the cache holds a complete copy of it.
    #[arg(long)]
    refresh: bool,
}

/// Runs `download`.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let mut model = ModelRef::parse(&a.id).ok_or_else(|| {
        format!("{:?} is not a model id: give org/name or org/name@revision (e.g. PlanTL-GOB-ES/bsc-bio-ehr-es)", a.id)
    })?;
    if let Some(r) = a.revision {
        if model.revision.as_ref().is_some_and(|given| *given != r) {
            return Err(format!("{}: the revision is given twice (@{} and --revision {r})", a.id, model.revision()).into());
        }
        model = ModelRef::parse(&format!("{}@{r}", model.repo_id)).ok_or_else(|| format!("--revision {r:?} is not a revision name"))?;
    }
    let mut hub = Hub::from_env()?;
    hub.refresh = a.refresh;
    let dir = hub.snapshot(&model, if a.tokenizer_only { Want::Tokenizer } else { Want::Model })?;
    println!("{}", dir.display());
    Ok(ExitCode::SUCCESS)
}
