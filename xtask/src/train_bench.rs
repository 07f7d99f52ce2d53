//! `cargo xtask train-bench --model DIR`: training tokens/s of roberta-train (crates/roberta-train/examples/
//! train_step.rs) against PyTorch's (benches/train_step.py, torch from .tools/pyenv) on the same shapes and the
//! same number of threads, and each one's peak RSS. One process each, run one after the other.
use crate::check_kernels::root;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// Arguments of `cargo xtask train-bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// A RoBERTa directory (e.g. the full-size random bsc-bio-ehr-es-shaped model of `random-model`).
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    /// Timed steps (after one warm-up step), each engine.
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

fn json_line(out: &[u8]) -> crate::Result<serde_json::Value> {
    let text = String::from_utf8_lossy(out);
    let line = text.lines().rev().find(|l| l.starts_with('{')).ok_or_else(|| format!("no JSON result in: {text}"))?;
    Ok(serde_json::from_str(line)?)
}

/// Runs both and prints the ratio.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let pyenv = root().join(".tools/pyenv");
    crate::compare::ensure_python_packages(&pyenv, false)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let (b, t, s, th) = (a.batch.to_string(), a.seq_len.to_string(), a.steps.to_string(), a.threads.to_string());
    let ours = Command::new(cargo)
        .current_dir(root())
        .args(["run", "--release", "-q", "-p", "roberta-train", "--example", "train_step", "--"])
        .arg(&a.model)
        .args([&b, &t, &s])
        .env("RAYON_NUM_THREADS", &th)
        .output()?;
    if !ours.status.success() {
        return Err(format!("train_step failed: {}", String::from_utf8_lossy(&ours.stderr)).into());
    }
    let ours = json_line(&ours.stdout)?;
    let torch = Command::new("python3")
        .arg(root().join("benches/train_step.py"))
        .arg(&a.model)
        .args([&b, &t, &s, &th])
        .env("PYTHONPATH", &pyenv)
        .output()?;
    if !torch.status.success() {
        return Err(format!("train_step.py failed: {}", String::from_utf8_lossy(&torch.stderr)).into());
    }
    let torch = json_line(&torch.stdout)?;
    for r in [&ours, &torch] {
        println!("{r}");
    }
    let ratio = ours["tokens_per_s"].as_f64().unwrap_or(0.0) / torch["tokens_per_s"].as_f64().unwrap_or(f64::NAN);
    println!(
        "roberta-train / pytorch training tokens/s: {ratio:.2}x ({:.0} vs {:.0}); peak RSS {:.0} MB vs {:.0} MB",
        ours["tokens_per_s"].as_f64().unwrap_or(0.0),
        torch["tokens_per_s"].as_f64().unwrap_or(0.0),
        ours["peak_rss_mb"].as_f64().unwrap_or(0.0),
        torch["peak_rss_mb"].as_f64().unwrap_or(0.0)
    );
    Ok(ExitCode::SUCCESS)
}
