//! `cargo xtask emulate [--sm 90|80|70] [--order forward|reverse|random[:SEED]] [--check-bounds] -- COMMAND
//! [ARGS...]`: builds the emulated CUDA driver (crates/cuda-emu) when missing or stale, then runs COMMAND
//! with it and the NVRTC wheel first on LD_LIBRARY_PATH, so that cudarc loads it in place of a real
//! driver; the exit code is COMMAND's. The library lives under `target/cuda-emu/`, never on cargo's
//! library path, and only this command puts it on one. `ROBERTA_REQUIRE_GPU=1` is set for COMMAND: a GPU
//! test that would skip fails instead.
use crate::check_kernels::{ensure_wheels, root};
use clap::builder::TypedValueParser;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

/// Arguments of `cargo xtask emulate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Emulated architecture: 90 (H100/H200: cp.async path), 80, or 70 (V100: register-staged path).
    #[arg(long, default_value_t = 90, value_parser = clap::builder::PossibleValuesParser::new(["90", "80", "70"]).map(|s| s.parse::<u32>().expect("a listed value")))]
    pub sm: u32,
    /// Order in which lanes and warps run between barriers: forward, reverse, random or random:SEED.
    #[arg(long, default_value = "forward")]
    pub order: String,
    /// Guard pages after every device allocation: an out-of-bounds access fails naming the kernel.
    #[arg(long)]
    pub check_bounds: bool,
    /// The command to run, and its arguments.
    #[arg(trailing_var_arg = true, required = true)]
    pub command: Vec<String>,
}

/// Checks an order argument; `random` alone becomes `random:1`.
pub fn parse_order(o: &str) -> crate::Result<String> {
    match o {
        "forward" | "reverse" => Ok(o.into()),
        "random" => Ok("random:1".into()),
        _ => match o.strip_prefix("random:").map(str::parse::<u64>) {
            Some(Ok(seed)) => Ok(format!("random:{seed}")),
            _ => Err(format!("--order {o:?}: forward, reverse, random or random:SEED").into()),
        },
    }
}

/// Cargo's target folder, absolute (`CARGO_TARGET_DIR` may be relative; children run elsewhere).
pub fn target_dir() -> PathBuf {
    let t = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"));
    if t.is_absolute() { t } else { std::env::current_dir().map(|d| d.join(&t)).unwrap_or(t) }
}

/// The kernel sources compiled into this binary must be those on disk: the emulator runs the compiled-in
/// copies while the tests' NVRTC compiles theirs, so a stale xtask would test old kernels.
fn check_kernels_current() -> crate::Result<()> {
    let dir = root().join("kernels");
    let files = roberta_gpu::KERNEL_FILES.iter().map(|(f, s, _)| (*f, *s)).chain([("common.cuh", roberta_gpu::compile::COMMON)]);
    for (file, src) in files {
        if std::fs::read_to_string(dir.join(file)).ok().as_deref() != Some(src) {
            return Err(format!(
                "kernels/{file} changed since this xtask was built: rebuild it (`cargo build --release -p xtask`, or run \
                 through `cargo xtask`, which rebuilds)"
            )
            .into());
        }
    }
    Ok(())
}

/// Builds the driver for `opts` and returns its folder.
pub fn driver_dir(opts: roberta_cuda_emu::Options) -> crate::Result<PathBuf> {
    driver_dir_patched(opts, &[])
}

/// [`driver_dir`] with kernel files replaced (the mutation check's broken kernels).
pub fn driver_dir_patched(opts: roberta_cuda_emu::Options, patches: &[(&str, &str)]) -> crate::Result<PathBuf> {
    check_kernels_current()?;
    let nv = ensure_wheels()?;
    let target = target_dir();
    let t0 = std::time::Instant::now();
    let out = target.join(if patches.is_empty() { "cuda-emu" } else { "cuda-emu/mutants" });
    let dir = roberta_cuda_emu::build_patched(opts, &out, &nv.join("cuda_runtime/include"), patches)?;
    if t0.elapsed().as_secs_f64() > 1.0 {
        eprintln!("emulate: built {} in {:.1} s", dir.join("libcuda.so").display(), t0.elapsed().as_secs_f64());
    }
    Ok(dir)
}

/// `program args…` set up to run on the emulated driver.
pub fn command(opts: roberta_cuda_emu::Options, order: &str, program: &str, args: &[String]) -> crate::Result<Command> {
    command_with(&driver_dir(opts)?, opts, order, program, args)
}

/// [`command`] with the driver of folder `dir` (built for `opts`).
pub fn command_with(
    dir: &std::path::Path,
    opts: roberta_cuda_emu::Options,
    order: &str,
    program: &str,
    args: &[String],
) -> crate::Result<Command> {
    let order = parse_order(order)?;
    let dir = dir.to_path_buf();
    let nvrtc = ensure_wheels()?.join("cuda_nvrtc/lib");
    let old = std::env::var_os("LD_LIBRARY_PATH");
    let paths = [dir, nvrtc].into_iter().chain(old.iter().flat_map(std::env::split_paths));
    let ld = std::env::join_paths(paths)?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env("LD_LIBRARY_PATH", ld)
        .env("ROBERTA_EMU_ORDER", &order)
        .env("ROBERTA_REQUIRE_GPU", "1");
    if opts.check_bounds {
        cmd.env("ROBERTA_EMU_BOUNDS", "1"); // (tests that expect a guard-page fault read it)
    } else {
        cmd.env_remove("ROBERTA_EMU_BOUNDS");
    }
    eprintln!(
        "emulate: sm_{}, {order} order{}: {program} {}",
        opts.sm,
        if opts.check_bounds { ", bounds-checked" } else { "" },
        args.join(" ")
    );
    Ok(cmd)
}

/// Runs the command under the emulator; its exit code is ours.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let opts = roberta_cuda_emu::Options { sm: a.sm, check_bounds: a.check_bounds };
    let mut cmd = command(opts, &a.order, &a.command[0], &a.command[1..])?;
    let st = cmd.status().map_err(|e| format!("cannot start {}: {e}", a.command[0]))?;
    Ok(match st.code() {
        Some(c) => ExitCode::from(c.clamp(0, 255) as u8),
        None => {
            use std::os::unix::process::ExitStatusExt;
            eprintln!("emulate: {} was killed by a signal ({st})", a.command[0]);
            ExitCode::from(128u8.saturating_add(st.signal().unwrap_or(6) as u8))
        }
    })
}
