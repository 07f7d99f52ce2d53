//! Sets `cfg(roberta_avx512)` when the compiler has stable AVX-512 intrinsics (Rust ≥ 1.89) and the
//! target is x86_64: the hand-written AVX-512 kernels are compiled only then, so the crate still builds
//! with the workspace's rust-version (1.85), falling back to the `gemm` crate and scalar/auto-vectorised code.
fn main() {
    println!("cargo:rustc-check-cfg=cfg(roberta_avx512)");
    println!("cargo:rerun-if-changed=build.rs");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let minor = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.split_whitespace().nth(1)?.split('.').nth(1)?.parse::<u32>().ok());
    let x86_64 = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "x86_64");
    if x86_64 && minor.is_some_and(|m| m >= 89) {
        println!("cargo:rustc-cfg=roberta_avx512");
    }
}
