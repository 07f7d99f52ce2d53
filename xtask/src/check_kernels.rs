//! `cargo xtask check-kernels`: compiles every kernel (kernels/*.cu) with NVRTC for sm_70, sm_80 and sm_90
//! and fails on any error, warning or register spill (ptxas -v). Installs the NVRTC 12.9 wheels from PyPI
//! into .tools/nvrtc (git-ignored) when missing, then runs roberta-gpu's `nvrtc-check` binary with the
//! wheel's libnvrtc on LD_LIBRARY_PATH.
use crate::test::run_cmd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Arguments of `cargo xtask check-kernels`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Architectures, comma-separated.
    #[arg(long, default_value = "sm_70,sm_80,sm_90")]
    pub arch: String,
    /// Also write each file's cubin here (`<stem>.<source hash>.sm_XX.cubin`, what ROBERTA_CUBIN_DIR holds).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl Default for Args {
    fn default() -> Self {
        Args { arch: "sm_70,sm_80,sm_90".into(), out: None }
    }
}

/// The pinned wheels: libnvrtc, cuda_fp16.h / mma.h, crt/mma.h (CUDA 13 dropped sm_70).
const WHEELS: [&str; 3] =
    ["nvidia-cuda-nvrtc-cu12==12.9.86", "nvidia-cuda-runtime-cu12==12.9.79", "nvidia-cuda-nvcc-cu12==12.9.86"];

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is in the workspace").to_path_buf()
}

/// Installs the wheels into .tools/nvrtc if libnvrtc is not there; returns the `nvidia/` folder.
pub fn ensure_wheels() -> crate::Result<PathBuf> {
    let tools = root().join(".tools/nvrtc");
    let nv = tools.join("nvidia");
    if !nv.join("cuda_nvrtc/lib/libnvrtc.so.12").exists() || !nv.join("cuda_nvcc/include/crt/mma.h").exists() {
        let python = if Command::new("python3").arg("--version").output().is_ok() { "python3" } else { "python" };
        run_cmd(Command::new(python).args(["-m", "pip", "install", "--quiet", "--target"]).arg(&tools).args(WHEELS))?;
    }
    Ok(nv)
}

/// A `cargo run` of nvrtc-check with the wheel's library and include folders set.
pub fn nvrtc_check_cmd(nv: &Path, arch: &str, out: Option<&Path>) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root()).args(["run", "--release", "-q", "-p", "roberta-gpu", "--bin", "nvrtc-check", "--", "--arch", arch]);
    if let Some(o) = out {
        cmd.arg("--out").arg(o);
    }
    let lib = nv.join("cuda_nvrtc/lib");
    let ld = match std::env::var_os("LD_LIBRARY_PATH") {
        Some(old) => std::env::join_paths(std::iter::once(lib).chain(std::env::split_paths(&old))).expect("paths"),
        None => lib.into_os_string(),
    };
    let inc = std::env::join_paths([nv.join("cuda_runtime/include"), nv.join("cuda_nvcc/include")]).expect("paths");
    cmd.env("LD_LIBRARY_PATH", ld).env("ROBERTA_CUDA_INCLUDE", inc);
    cmd
}

/// Runs the check.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let nv = ensure_wheels()?;
    run_cmd(&mut nvrtc_check_cmd(&nv, &a.arch, a.out.as_deref()))?;
    Ok(ExitCode::SUCCESS)
}
