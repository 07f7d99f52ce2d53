//! The runner: `cargo xtask <command>`. Parses arguments and dispatches to one file per command.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod io;
mod tokenize;
mod test;
mod check_kernels;
mod gpu_check;
mod validate;
mod convert;
mod random_model;
mod compare;
mod compare_cuda;
mod pipeline;
mod fill_mask;
mod ner;
mod classify;
mod embed;
mod eval_ner;
mod demo;
mod fuzz;
mod emulate;
mod emulated;
mod mutants;

#[derive(Parser)]
#[command(name = "xtask", about = "roberta-rs runner and automation")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Tokenize JSON Lines records (`{"text"}`, `{"text","text_pair"}` or `{"words"}`).
    Tokenize(tokenize::Args),
    /// Run the whole test suite (installs what it needs).
    Test(test::Args),
    /// Compile every kernel with NVRTC for sm_70, sm_80, sm_90; fail on any error, warning or spill.
    CheckKernels(check_kernels::Args),
    /// Build .gpu-bundle/ (test and bench binaries, sm_90 cubins, run.sh) for one GPU-machine call.
    GpuCheck(gpu_check::Args),
    /// Compare hidden states and logits with a reference safetensors file (max abs / rel error).
    Validate(validate::Args),
    /// Write model.safetensors from a pytorch_model.bin.
    Convert(convert::Args),
    /// Write a deterministic random checkpoint (config.json + model.safetensors).
    RandomModel(random_model::Args),
    /// Time our CPU forward against PyTorch's on the same random full-size model.
    Compare(compare::Args),
    /// Top-k tokens for each <mask> (`{"text"}` → `{"text","predictions"}`), as pipeline("fill-mask").
    FillMask(fill_mask::Args),
    /// Entities with character offsets, as pipeline("token-classification").
    Ner(ner::Args),
    /// Labels with scores, as pipeline("text-classification").
    Classify(classify::Args),
    /// One vector per text (mean or <s> pooling).
    Embed(embed::Args),
    /// NER scores on a CoNLL file (first sub-word protocol, seqeval's default matching).
    EvalNer(eval_ner::Args),
    /// Fill-mask and NER on the small Spanish clinical models in tests/fixtures.
    Demo(demo::Args),
    /// Run a command on the emulated CUDA driver (builds it when missing or stale).
    Emulate(emulate::Args),
    /// The GPU tests under the emulated driver in every CI configuration, validate --device cuda, mutants.
    EmulatedTests(emulated::Args),
    /// Run the cargo-fuzz targets of tests/fuzz for a bounded time each (installs cargo-fuzz when missing).
    Fuzz(fuzz::Args),
}

/// Prints the libraries' `log` records (device choices, warnings) on stderr as they are: the libraries print
/// nothing themselves.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Info && m.target().starts_with("roberta")
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!("{}", r.args());
        }
    }
    fn flush(&self) {}
}

fn main() -> ExitCode {
    if log::set_logger(&StderrLog).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let cli = Cli::parse();
    let res = match cli.cmd {
        Cmd::Tokenize(a) => tokenize::run(a),
        Cmd::Test(a) => test::run(a),
        Cmd::CheckKernels(a) => check_kernels::run(a),
        Cmd::GpuCheck(a) => gpu_check::run(a),
        Cmd::Validate(a) => validate::run(a),
        Cmd::Convert(a) => convert::run(a),
        Cmd::RandomModel(a) => random_model::run(a),
        Cmd::Compare(a) => compare::run(a),
        Cmd::FillMask(a) => fill_mask::run(a),
        Cmd::Ner(a) => ner::run(a),
        Cmd::Classify(a) => classify::run(a),
        Cmd::Embed(a) => embed::run(a),
        Cmd::EvalNer(a) => eval_ner::run(a),
        Cmd::Demo(a) => demo::run(a),
        Cmd::Fuzz(a) => fuzz::run(a),
        Cmd::Emulate(a) => emulate::run(a),
        Cmd::EmulatedTests(a) => emulated::run(a).map(|()| ExitCode::SUCCESS),
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Errors of the runner: a message for the user (each command builds it with the context it knows).
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
