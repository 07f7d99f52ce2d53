//! `cargo xtask random-model --shape bsc-bio-ehr-es|tiny --out DIR`: a deterministic random checkpoint
//! (config.json + model.safetensors, f32) of the given shape.
use roberta_encoder::random::{write_random_model, Shape};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `random-model`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// bsc-bio-ehr-es (12 layers, hidden 768, vocab 50262) or tiny.
    #[arg(long, default_value = "bsc-bio-ehr-es")]
    shape: Shape,
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `random-model`.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let t0 = std::time::Instant::now();
    write_random_model(&a.out, a.shape)?;
    eprintln!("wrote {:?} model to {} in {:.1} s", a.shape, a.out.display(), t0.elapsed().as_secs_f64());
    Ok(ExitCode::SUCCESS)
}
