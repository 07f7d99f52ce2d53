//! `cargo xtask tokenize`: JSON Lines through the tokenizer.
use std::process::ExitCode;

/// Arguments of `cargo xtask tokenize`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Tokenizer directory (tokenizer.json, or vocab.json + merges.txt).
    #[arg(long)]
    pub tokenizer: std::path::PathBuf,
}

/// Runs the command.
pub fn run(_a: Args) -> crate::Result<ExitCode> {
    Err("tokenize: not yet implemented".into())
}
