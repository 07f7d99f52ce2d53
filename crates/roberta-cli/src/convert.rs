//! `roberta convert DIR`: writes `DIR/model.safetensors` (f32, original names) from `DIR/pytorch_model.bin`.
use roberta_checkpoint::convert_bin_to_safetensors;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `convert`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory holding pytorch_model.bin.
    dir: PathBuf,
    /// Output file (default DIR/model.safetensors).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Overwrite an existing output file.
    #[arg(long)]
    force: bool,
}

/// Runs `convert`.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let src = a.dir.join("pytorch_model.bin");
    let dst = a.out.unwrap_or_else(|| a.dir.join("model.safetensors"));
    if dst.exists() && !a.force {
        return Err(format!("{} exists (use --force to overwrite)", dst.display()).into());
    }
    let n = convert_bin_to_safetensors(&src, &dst)?;
    eprintln!("wrote {} ({n} tensors, f32) from {}", dst.display(), src.display());
    Ok(ExitCode::SUCCESS)
}
