//! `nvrtc-check --arch sm_70,sm_80,sm_90 [--out DIR]`: compiles every kernel file with NVRTC for each
//! arch (cubin, `--ptxas-options=-v`), prints registers / spills / shared memory per kernel, and exits 1 on
//! any error, warning (besides NVRTC's sm_70 deprecation notice) or spill. `--out` writes
//! `<stem>.<hash16>.sm_XX.cubin` files, named by `compile::source_hash` of the sources: what `Gpu::new` loads
//! from `ROBERTA_CUBIN_DIR` (cubins of older sources left there are never loaded). Needs libnvrtc on
//! LD_LIBRARY_PATH (`cargo xtask check-kernels` sets it).
use roberta_gpu::compile::{cubin_name, log_problems, parse_ptxas};
use roberta_gpu::{compile_with, Error, Image, Target, KERNEL_FILES};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut archs = vec!["sm_70".to_string(), "sm_80".into(), "sm_90".into()];
    let mut out_dir = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--arch" => archs = it.next().map(|s| s.split(',').map(str::to_string).collect()).unwrap_or_default(),
            "--out" => out_dir = it.next().cloned(),
            other => {
                eprintln!("unknown argument {other}; usage: nvrtc-check [--arch sm_70,sm_80,sm_90] [--out DIR]");
                return ExitCode::from(2);
            }
        }
    }
    if !roberta_gpu::nvrtc_present() {
        eprintln!("{}", Error::NoNvrtc);
        return ExitCode::from(2);
    }
    let first = roberta_gpu::GpuOptions::from_env().include_dirs;
    let includes = roberta_gpu::compile::include_dirs(&first);
    println!("include dirs: {includes:?}");
    let mut failures = 0;
    println!("{:<6} {:<14} {:<24} {:>5} {:>9} {:>8} {:>6} {:>7}", "arch", "file", "kernel", "regs", "spill st", "spill ld", "stack", "smem");
    for arch in &archs {
        let Some(sm) = arch.strip_prefix("sm_").and_then(|s| s.parse::<u32>().ok()) else {
            eprintln!("bad arch {arch}");
            return ExitCode::from(2);
        };
        for (file, src, names) in KERNEL_FILES {
            let t = std::time::Instant::now();
            match compile_with(file, src, Target::Cubin(sm), &["--ptxas-options=-v"], &first) {
                Err(e) => {
                    println!("FAIL {arch} {file}: {e}");
                    failures += 1;
                }
                Ok(c) => {
                    for p in log_problems(&c.log) {
                        println!("FAIL {arch} {file}: {p}");
                        failures += 1;
                    }
                    let stats = parse_ptxas(&c.log);
                    for n in names {
                        if !stats.iter().any(|s| s.name == *n) {
                            println!("FAIL {arch} {file}: no ptxas report for entry {n}");
                            failures += 1;
                        }
                    }
                    for s in &stats {
                        let bad = s.spill_stores > 0 || s.spill_loads > 0;
                        println!(
                            "{arch:<6} {file:<14} {:<24} {:>5} {:>9} {:>8} {:>6} {:>7}{}",
                            s.name, s.registers, s.spill_stores, s.spill_loads, s.stack, s.smem,
                            if bad { "  SPILL" } else { "" }
                        );
                        failures += bad as usize;
                    }
                    println!("{arch:<6} {file:<14} compiled in {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
                    if let (Some(dir), Image::Cubin(bin)) = (&out_dir, &c.image) {
                        let path = std::path::Path::new(dir).join(cubin_name(file, src, sm));
                        if let Err(e) = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, bin)) {
                            println!("FAIL cannot write {}: {e}", path.display());
                            failures += 1;
                        }
                    }
                }
            }
        }
    }
    if failures > 0 {
        println!("nvrtc-check: {failures} problem(s)");
        ExitCode::from(1)
    } else {
        println!("nvrtc-check: every kernel compiled for {} with no warning and no spill", archs.join(", "));
        ExitCode::SUCCESS
    }
}
