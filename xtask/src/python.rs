//! The Python package (`crates/roberta-python`, module `roberta_rs`). `cargo xtask python [--out DIR]` builds its
//! wheel (one abi3 wheel for CPython >= 3.9) with maturin; `cargo xtask python-test` (a step of `cargo xtask test`)
//! builds it, installs it into the tools venv and runs the pytest suite of tests/python. The venv, `.tools/python`,
//! is made on first use with the pinned [`TOOLS`] (never transformers or torch: the tests compare with the HF
//! references in tests/fixtures).
use crate::check_kernels::root;
use crate::test::run_cmd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// What the venv holds: the wheel builder, the test runner, numpy (return_tensors="np") and Dask (the runner).
const TOOLS: [&str; 5] = ["maturin==1.16.0", "pytest==9.2.0", "numpy==2.4.6", "dask[bag]==2026.8.0", "distributed==2026.8.0"];

/// Arguments of `cargo xtask python`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the wheel goes (default target/wheels).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Arguments of `cargo xtask python-test`.
#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// Extra pytest arguments (e.g. `-k tokenizer`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub pytest: Vec<String>,
}

/// Arguments of `cargo xtask python-bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Model directory or Hub id whose head serves --task (e.g. a PharmaCoNER fine-tune of bsc-bio-ehr-es).
    #[arg(long)]
    pub model: PathBuf,
    /// ner, fill-mask or text-classification (the model's head must serve it).
    #[arg(long, default_value = "ner")]
    pub task: String,
    /// Sentences of the PharmaCoNER dev split.
    #[arg(long, default_value_t = 256)]
    pub texts: usize,
    /// Sequences per forward pass, both pipelines.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// CPU threads, both pipelines.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// roberta_rs's dtype: f32 or int8 (transformers runs f32).
    #[arg(long, default_value = "f32")]
    pub dtype: String,
}

/// The tools venv's folder.
fn venv_dir() -> PathBuf {
    root().join(".tools/python")
}

/// The tools venv's interpreter, the venv made and [`TOOLS`] installed when missing (a marker names them).
pub fn venv() -> crate::Result<PathBuf> {
    let dir = venv_dir();
    let python = dir.join("bin/python");
    if !python.exists() {
        let sys = if Command::new("python3").arg("--version").output().is_ok() { "python3" } else { "python" };
        run_cmd(Command::new(sys).args(["-m", "venv", "--clear"]).arg(&dir))?;
    }
    let marker = dir.join(".roberta-tools");
    let want = TOOLS.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(want.as_str()) {
        run_cmd(Command::new(&python).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"]).args(TOOLS))?;
        std::fs::write(&marker, &want)?;
    }
    Ok(python)
}

/// Builds the wheel into `out` (older roberta_rs wheels there removed first); returns its path.
pub fn build_wheel(out: &Path) -> crate::Result<PathBuf> {
    let python = venv()?;
    std::fs::create_dir_all(out)?;
    for e in std::fs::read_dir(out)? {
        let p = e?.path();
        if p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("roberta_rs-") && n.ends_with(".whl")) {
            std::fs::remove_file(&p)?;
        }
    }
    let maturin = python.parent().expect("bin").join("maturin");
    run_cmd(
        Command::new(maturin)
            .current_dir(root())
            .args(["build", "--release", "--quiet", "--manifest-path", "crates/roberta-python/Cargo.toml", "--interpreter"])
            .arg(&python)
            .arg("--out")
            .arg(out),
    )?;
    let wheel = std::fs::read_dir(out)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("roberta_rs-") && n.ends_with(".whl")))
        .ok_or_else(|| format!("maturin wrote no roberta_rs wheel into {}", out.display()))?;
    Ok(wheel)
}

/// `cargo xtask python`.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let out = a.out.unwrap_or_else(|| root().join("target/wheels"));
    let wheel = build_wheel(&out)?;
    println!("{}", wheel.display());
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask python-test`: the wheel built and installed into the tools venv, then pytest on tests/python with
/// `ROBERTA_RS_WHEEL` (the fresh-venv install test) and `ROBERTA_BIN` (the runner the Dask output is compared
/// with; built here when missing).
pub fn test(a: TestArgs) -> crate::Result<ExitCode> {
    let wheel = build_wheel(&root().join("target/wheels"))?;
    let python = venv()?;
    run_cmd(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--force-reinstall", "--no-deps"])
            .arg(&wheel),
    )?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_cmd(Command::new(cargo).current_dir(root()).args(["build", "--release", "-q", "-p", "roberta-cli", "--bin", "roberta"]))?;
    let bin = root().join("target/release/roberta");
    // from the tests' folder, so that `import roberta_rs` is the installed wheel, not the source tree
    run_cmd(
        Command::new(&python)
            .current_dir(root().join("tests/python"))
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "."])
            .args(&a.pytest)
            .env("ROBERTA_RS_WHEEL", &wheel)
            .env("ROBERTA_BIN", &bin),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask python-bench`: benches/python_pipeline.py, roberta_rs.pipeline against transformers.pipeline on the
/// same texts in one process (transformers and torch from .tools/pyenv, installed by `compare` when missing).
pub fn bench(a: BenchArgs) -> crate::Result<ExitCode> {
    let pyenv = root().join(".tools/pyenv");
    crate::compare::ensure_python_packages(&pyenv, false)?;
    let model = a.model;
    let wheel = build_wheel(&root().join("target/wheels"))?;
    let python = venv()?;
    run_cmd(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--force-reinstall", "--no-deps"])
            .arg(&wheel),
    )?;
    run_cmd(
        Command::new(&python)
            .arg(root().join("benches/python_pipeline.py"))
            .arg("--model")
            .arg(&model)
            .args(["--task", &a.task, "--texts", &a.texts.to_string(), "--batch-size", &a.batch_size.to_string()])
            .args(["--threads", &a.threads.to_string(), "--dtype", &a.dtype])
            .env("PYTHONPATH", &pyenv)
            .env("RAYON_NUM_THREADS", a.threads.to_string()),
    )?;
    Ok(ExitCode::SUCCESS)
}
