//! The mutation check: the emulated GPU tests must catch deliberately broken kernels. Each mutant is one
//! textual edit of a kernel file (a removed barrier, a removed cp.async wait, an off-by-one tail guard,
//! ...); the emulated driver is rebuilt with it (the NVRTC image stays the real one: only the code the
//! emulator runs changes) and the kernel tests run in each CI order until one fails. A mutant no order
//! catches fails the check; so does an edit that no longer applies (the kernel changed: update it here).
//!
//! Known limit, not in the list: removing attention's `__syncwarp` between the P stores and the P·V loads
//! is not caught — the warp shuffle of the row sums between them orders the accesses in every schedule;
//! only a weaker memory model than the emulator's (every store visible at once) would show that race.
use crate::emulate;
use crate::emulated::run_binary;
use roberta_cuda_emu::Options;
use std::path::{Path, PathBuf};

/// A deliberately broken kernel.
struct Mutant {
    name: &'static str,
    file: &'static str,
    /// Text that must occur exactly once in the file...
    find: &'static str,
    /// ...and what it becomes.
    replace: &'static str,
    /// The gpu_kernels tests that exercise it (a libtest filter).
    filter: &'static str,
}

const MUTANTS: &[Mutant] = &[
    Mutant {
        name: "gemm: the k-loop's closing __syncthreads removed",
        file: "gemm.cu",
        find: "        __syncthreads();\n    }\n\n    // Epilogue",
        replace: "    }\n\n    // Epilogue",
        filter: "gemm_every",
    },
    Mutant {
        name: "gemm: cp.async wait_group 1 removed (sm_80+ path)",
        file: "gemm.cu",
        find: "                cp_async_commit();\n                cp_async_wait<1>();",
        replace: "                cp_async_commit();",
        filter: "gemm_every",
    },
    Mutant {
        name: "gemm: the k-loop's closing __syncthreads removed on the cp.async path only",
        file: "gemm.cu",
        find: "        __syncthreads();\n    }\n\n    // Epilogue",
        replace: "        if (!ASYNC || !more) __syncthreads();\n    }\n\n    // Epilogue",
        filter: "gemm_every",
    },
    Mutant {
        name: "attention: __syncwarp between the S store and the softmax reads removed",
        file: "attention.cu",
        find: "            wmma::store_matrix_sync(s_w + j * 16, acc, ATT_SLD, wmma::mem_row_major);\n        }\n        __syncwarp();\n\n        // Online softmax",
        replace: "            wmma::store_matrix_sync(s_w + j * 16, acc, ATT_SLD, wmma::mem_row_major);\n        }\n\n        // Online softmax",
        filter: "attention",
    },
    Mutant {
        name: "gemm: off-by-one in the epilogue's row guard (m <= M)",
        file: "gemm.cu",
        find: "if (m < M && n < N) {",
        replace: "if (m <= M && n < N) {",
        filter: "gemm_every",
    },
    Mutant {
        name: "layernorm: off-by-one in the row guard (row > rows)",
        file: "layernorm.cu",
        find: "if (row >= rows) return;",
        replace: "if (row > rows) return;",
        filter: "layer_norm",
    },
    Mutant {
        name: "attention: tails of the K/V tiles not zero-filled",
        file: "attention.cu",
        find: "        } else {\n            val.h[0] = val.h[1] = val.h[2] = val.h[3] = __float2half2_rn(0.0f);\n        }\n        *reinterpret_cast<half8*>(s + r * SLD + c) = val;",
        replace: "            *reinterpret_cast<half8*>(s + r * SLD + c) = val;\n        }",
        filter: "attention",
    },
];

/// The orders (and guard pages) a mutant is tried in: those `cargo xtask test` runs.
fn trials(seed: u64) -> Vec<(Options, String)> {
    let sm90 = Options { sm: 90, check_bounds: false };
    vec![
        (sm90, "forward".into()),
        (sm90, "reverse".into()),
        (sm90, format!("random:{seed}")),
        (Options { sm: 90, check_bounds: true }, "forward".into()),
    ]
}

/// Seconds one trial may run; a mutant that makes a kernel run forever is caught by this limit.
const TRIAL_LIMIT_S: u64 = 120;

/// Runs every mutant; returns one line per mutant (which trial caught it), or Err if one survived. With
/// `baseline`, each filter first runs on the unmutated driver (the configurations did not already show
/// that these tests pass, so a failure of a mutant would prove nothing).
pub fn run(bins: &[(String, PathBuf)], seed: u64, logs: &Path, baseline: bool) -> crate::Result<Vec<String>> {
    let exe = &bins.iter().find(|(n, _)| n == "gpu_kernels").ok_or("no gpu_kernels test binary")?.1;
    let mut lines = Vec::new();
    if baseline {
        let mut filters: Vec<&str> = MUTANTS.iter().map(|m| m.filter).collect();
        filters.sort_unstable();
        filters.dedup();
        for (opts, order) in trials(seed) {
            for f in &filters {
                let log = logs.join(format!("baseline-{f}-{order}-{}.log", opts.check_bounds).replace(':', "_"));
                let args = vec![f.to_string(), "--test-threads=2".into()];
                let r = run_binary(&emulate::driver_dir(opts)?, opts, &order, exe, &args, &log, TRIAL_LIMIT_S)?;
                if !r.ok || r.passed == 0 {
                    return Err(format!("the unmutated kernels fail `{f}` ({order}): see {}", log.display()).into());
                }
            }
        }
    }
    let mut survivors = Vec::new();
    for (i, m) in MUTANTS.iter().enumerate() {
        let src = roberta_gpu::KERNEL_FILES.iter().find(|k| k.0 == m.file).ok_or("unknown kernel file")?.1;
        if src.matches(m.find).count() != 1 {
            return Err(format!("mutant {:?}: its text no longer occurs exactly once in {} (update xtask/src/mutants.rs)", m.name, m.file).into());
        }
        let patched = src.replacen(m.find, m.replace, 1);
        let mut caught = Vec::new();
        let mut tried = Vec::new();
        for (opts, order) in trials(seed) {
            let label = format!("sm_{} {order}{}", opts.sm, if opts.check_bounds { " bounds" } else { "" });
            let dir = emulate::driver_dir_patched(opts, &[(m.file, &patched)])?;
            let log = logs.join(format!("mutant{i}-{}.log", label.replace([' ', ':'], "_")));
            let args = vec![m.filter.to_string(), "--test-threads=2".into()];
            let r = run_binary(&dir, opts, &order, exe, &args, &log, TRIAL_LIMIT_S)?;
            tried.push(label.clone());
            if r.timed_out {
                caught.push(format!("{label} (timed out)"));
                break;
            }
            if !r.ok {
                caught.push(label);
                break; // one catch is enough
            }
        }
        let line = match caught.first() {
            Some(c) => format!("mutant caught  {:<72} by {c} (tried {})", m.name, tried.len()),
            None => {
                survivors.push(m.name);
                format!("mutant MISSED  {:<72} in {}", m.name, tried.join(", "))
            }
        };
        eprintln!("emulated: {line}");
        lines.push(line);
    }
    if survivors.is_empty() {
        Ok(lines)
    } else {
        Err(format!("{} mutant(s) not caught: {}", survivors.len(), survivors.join("; ")).into())
    }
}

