//! `cargo xtask test`: the README's test command and CI's. Runs every workspace test (release profile, so the
//! build is shared with the runner's), the Python package's tests (xtask/src/python.rs), the NVRTC kernel check, the CUDA path under the emulated driver
//! (xtask/src/emulated.rs) and a bounded fuzzing run. Installs what it needs.
use std::process::{Command, ExitCode};

/// Arguments of `cargo xtask test`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds of fuzzing per cargo-fuzz target after the tests (0 skips the fuzz step).
    #[arg(long, default_value_t = 20)]
    pub fuzz_seconds: u64,
    /// Skip the emulated-CUDA step (the GPU tests under the emulated driver, validate, mutants).
    #[arg(long)]
    pub no_emulated: bool,
    /// Skip the Python package's step (the wheel built and installed into .tools/python, pytest on tests/python).
    #[arg(long)]
    pub no_python: bool,
    /// Extra arguments passed to `cargo test` (e.g. a test name filter).
    #[arg(trailing_var_arg = true)]
    pub rest: Vec<String>,
}

/// Runs a command, printing it first; fails with its exit status.
pub fn run_cmd(cmd: &mut Command) -> crate::Result<()> {
    eprintln!("+ {cmd:?}");
    let st = cmd.status().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if !st.success() {
        return Err(format!("{cmd:?} failed: {st}").into());
    }
    Ok(())
}

/// One executable cargo built, from its `--message-format=json` messages.
pub struct Artifact {
    /// The target's name (e.g. `gpu_kernels`, `nvrtc-check`).
    pub name: String,
    /// The target's kinds (`test`, `bin`, `bench`, …).
    pub kinds: Vec<String>,
    /// Where the executable is.
    pub exe: std::path::PathBuf,
}

/// Runs `cargo ARGS --message-format=json` in the workspace root (printed first) and returns the
/// executables it built.
pub fn cargo_executables(args: &[&str]) -> crate::Result<Vec<Artifact>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(crate::check_kernels::root()).args(args).arg("--message-format=json").stdout(std::process::Stdio::piped());
    eprintln!("+ {cmd:?}");
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", out.status).into());
    }
    let mut v = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(j) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if j["reason"] != "compiler-artifact" {
            continue;
        }
        let (Some(exe), Some(name)) = (j["executable"].as_str(), j["target"]["name"].as_str()) else { continue };
        let kinds = j["target"]["kind"].as_array().map_or(Vec::new(), |k| k.iter().filter_map(|x| x.as_str().map(String::from)).collect());
        v.push(Artifact { name: name.to_string(), kinds, exe: exe.into() });
    }
    Ok(v)
}

/// Runs the suite.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_cmd(Command::new(&cargo).args(["test", "--workspace", "--release"]).args(&a.rest))?;
    if !a.no_python {
        // the roberta_rs wheel against the HF references, the Dask runner on a LocalCluster (~1.5 min)
        crate::python::test(crate::python::TestArgs { pytest: Vec::new() })?;
    }
    crate::check_kernels::run(crate::check_kernels::Args::default())?;
    if !a.no_emulated {
        // The CUDA path on the emulated driver: 5 configurations, validate on every fixture, the mutants.
        crate::emulated::run(crate::emulated::Args { seed: 1, no_mutants: false, only: None })?;
    }
    if a.fuzz_seconds > 0 {
        // every fuzz target for a bounded time (issue 8); ~4 min with the instrumented build on 2 cores
        let code = crate::fuzz::run(crate::fuzz::Args { seconds: a.fuzz_seconds, targets: Vec::new(), jobs: 1 })?;
        if code != ExitCode::SUCCESS {
            eprintln!("cargo xtask test: a fuzz target crashed (see above)");
            return Ok(code);
        }
    }
    eprintln!("cargo xtask test: all checks passed");
    Ok(ExitCode::SUCCESS)
}
