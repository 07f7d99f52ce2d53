//! `cargo xtask test`: the README's test command and CI's. Runs every workspace test (release profile, so the
//! build is shared with the runner's) and then each further check the issues add. Installs what it needs.
use std::process::{Command, ExitCode};

/// Arguments of `cargo xtask test`.
#[derive(clap::Args, Debug)]
pub struct Args {
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

/// Runs the suite.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_cmd(Command::new(&cargo).args(["test", "--workspace", "--release"]).args(&a.rest))?;
    crate::check_kernels::run(crate::check_kernels::Args::default())?;
    eprintln!("cargo xtask test: all checks passed");
    Ok(ExitCode::SUCCESS)
}
