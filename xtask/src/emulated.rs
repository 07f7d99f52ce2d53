//! The CUDA path under the emulated driver, as `cargo xtask test` runs it (also alone: `cargo xtask
//! emulated-tests`): the GPU test binaries in several configurations (architecture, lane order, guard
//! pages), the runner's `validate --device cuda` on every fixture, and the mutation check (deliberately
//! broken kernels must be caught). A GPU test that skips under the emulator fails the run.
use crate::check_kernels::root;
use crate::emulate;
use roberta_cuda_emu::Options;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Arguments of `cargo xtask emulated-tests`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seed of the random-order configuration (fixed by default, so CI does not change without a commit;
    /// other seeds: `--seed N`).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Skip the mutation check.
    #[arg(long)]
    pub no_mutants: bool,
    /// Run one step only: configs (the GPU test binaries), validate, runner (pipeline commands), mutants.
    #[arg(long)]
    pub only: Option<String>,
}

/// One emulated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// Build options of the driver.
    pub opts: Options,
    /// Lane order.
    pub order: String,
    /// Which test binaries run in it.
    pub full: bool,
}

impl Config {
    fn label(&self) -> String {
        format!("sm_{} {}{}", self.opts.sm, self.order, if self.opts.check_bounds { " bounds-checked" } else { "" })
    }
}

/// The test binaries that need a GPU, by target name, built by `cargo test --no-run`.
pub fn gpu_test_binaries() -> crate::Result<Vec<(String, PathBuf)>> {
    let args = [
        "test", "--release", "--no-run", "-p", "roberta-gpu", "--test", "gpu_kernels", "-p", "roberta-tests", "--test",
        "gpu_encoder", "--test", "gpu_pipelines", "-p", "roberta-cuda-emu", "--test", "driver",
    ];
    let mut v: Vec<(String, PathBuf)> = crate::test::cargo_executables(&args)?
        .into_iter()
        .filter(|a| a.kinds.iter().any(|k| k == "test"))
        .map(|a| (a.name, a.exe))
        .collect();
    v.sort();
    for want in ["driver", "gpu_encoder", "gpu_kernels", "gpu_pipelines"] {
        if !v.iter().any(|(n, _)| n == want) {
            return Err(format!("cargo did not build the {want} test binary").into());
        }
    }
    Ok(v)
}

/// What one test binary run gave.
pub struct RunResult {
    /// Exit status was success.
    pub ok: bool,
    /// Killed at its time limit (a kernel that never ends: the emulator cannot tell it from a slow one).
    pub timed_out: bool,
    /// Lines that say a test skipped.
    pub skipped: usize,
    /// Passed tests (from libtest's summary).
    pub passed: usize,
    /// Seconds.
    pub secs: f64,
    /// Where stdout and stderr went.
    pub log: PathBuf,
}

/// Runs a test binary under the emulated driver of folder `dir` (built for `opts`), its output in `log`,
/// killed after `limit_s` seconds.
pub fn run_binary(
    dir: &Path,
    opts: Options,
    order: &str,
    exe: &Path,
    args: &[String],
    log: &Path,
    limit_s: u64,
) -> crate::Result<RunResult> {
    let mut cmd = emulate::command_with(dir, opts, order, &exe.to_string_lossy(), args)?;
    let f = std::fs::File::create(log)?;
    cmd.current_dir(root()).stdout(f.try_clone()?).stderr(f);
    let t0 = Instant::now();
    let mut child = cmd.spawn()?;
    let (st, timed_out) = loop {
        if let Some(st) = child.try_wait()? {
            break (Some(st), false);
        }
        if t0.elapsed().as_secs() >= limit_s {
            let _ = child.kill();
            let _ = child.wait();
            break (None, true);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let passed = text
        .lines()
        .filter_map(|l| l.strip_prefix("test result: "))
        .filter_map(|l| l.split(';').next()?.split_whitespace().nth(1)?.parse::<usize>().ok())
        .sum();
    Ok(RunResult {
        ok: st.is_some_and(|s| s.success()),
        timed_out,
        skipped: text.lines().filter(|l| l.contains("skipped:")).count(),
        passed,
        secs: t0.elapsed().as_secs_f64(),
        log: log.to_path_buf(),
    })
}

/// The tests of a test binary (libtest's `--list`), to check that a run ran them all.
fn list_tests(exe: &Path) -> crate::Result<Vec<String>> {
    let out = Command::new(exe).args(["--list", "--format", "terse"]).output()?;
    if !out.status.success() {
        return Err(format!("{} --list failed", exe.display()).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().filter_map(|l| l.strip_suffix(": test")).map(String::from).collect())
}

/// Tests that need NVRTC but no device: run in the first configuration only.
const NVRTC_ONLY: [&str; 2] = ["kernels_compile_for_v100_and_h100", "kernel_files_list_exactly_the_entry_points"];

/// Seconds one test binary may run under the emulator (the slowest takes ~30 s on 2 cores).
const BINARY_LIMIT_S: u64 = 300;

/// The configurations CI runs.
pub fn configs(seed: u64) -> Vec<Config> {
    let o = |sm, check_bounds| Options { sm, check_bounds };
    vec![
        Config { opts: o(90, false), order: "forward".into(), full: true },
        Config { opts: o(90, false), order: "reverse".into(), full: false },
        Config { opts: o(90, false), order: format!("random:{seed}"), full: false },
        Config { opts: o(70, false), order: "forward".into(), full: true },
        Config { opts: o(90, true), order: "forward".into(), full: false },
    ]
}

/// The runner's own binary. `cargo test --workspace` (the step before this one in `cargo xtask test`)
/// relinks target/release/xtask while this process runs from it, so the running file may be gone: then the
/// new one, built from the same sources, is used.
fn xtask_exe() -> crate::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    if exe.exists() {
        return Ok(exe);
    }
    let rebuilt = emulate::target_dir().join("release/xtask");
    if rebuilt.exists() {
        Ok(rebuilt)
    } else {
        Err(format!("the xtask binary {} is gone and {} does not exist", exe.display(), rebuilt.display()).into())
    }
}

/// A fresh log folder (the previous run's logs removed, so none is read by mistake).
fn logs_dir() -> crate::Result<PathBuf> {
    let d = emulate::target_dir().join("cuda-emu/logs");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn tail(p: &Path, n: usize) -> String {
    let t = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs everything; Err when a test failed or skipped, a validation failed or a mutant survived.
pub fn run(a: Args) -> crate::Result<()> {
    let t_all = Instant::now();
    let seed = a.seed;
    let bins = gpu_test_binaries()?;
    let logs = logs_dir()?;
    let mut failures = Vec::new();
    let mut table = Vec::new();
    let step = |name: &str| a.only.as_deref().is_none_or(|o| o == name);
    if let Some(o) = a.only.as_deref().filter(|o| !["configs", "validate", "runner", "mutants"].contains(o)) {
        return Err(format!("--only {o}: configs, validate, runner or mutants").into());
    }
    let listed: Vec<Vec<String>> = bins.iter().map(|(_, exe)| list_tests(exe)).collect::<crate::Result<_>>()?;
    for (i, c) in configs(seed).into_iter().filter(|_| step("configs")).enumerate() {
        let dir = emulate::driver_dir(c.opts)?;
        for ((name, exe), tests) in bins.iter().zip(&listed) {
            // The pipeline comparison (the slowest file) runs in the full configurations only.
            if name == "gpu_pipelines" && !c.full {
                continue;
            }
            let log = logs.join(format!("{}-{}.log", c.label().replace([' ', ':'], "_"), name));
            let mut args: Vec<String> = vec!["--test-threads=2".into(), "--nocapture".into()];
            let skip: &[&str] = if i == 0 { &[] } else { &NVRTC_ONLY };
            for t in skip {
                args.extend(["--skip".into(), t.to_string()]);
            }
            let expected = tests.iter().filter(|t| !skip.iter().any(|s| t.contains(s))).count();
            let r = run_binary(&dir, c.opts, &c.order, exe, &args, &log, BINARY_LIMIT_S)?;
            let status = if r.timed_out {
                "TIMED OUT".to_string()
            } else if !r.ok {
                "FAILED".to_string()
            } else if r.skipped > 0 {
                format!("SKIPPED ({} lines)", r.skipped)
            } else if r.passed != expected || expected == 0 {
                format!("RAN {} OF {expected}", r.passed)
            } else {
                "ok".to_string()
            };
            table.push(format!("{:<28} {:<14} {:>3} passed {:>6.1} s  {status}", c.label(), name, r.passed, r.secs));
            eprintln!("emulated: {}", table.last().unwrap());
            if status != "ok" {
                eprintln!("{}\n(log: {})", tail(&r.log, 40), r.log.display());
                failures.push(format!("{} {name}: {status}", c.label()));
            }
        }
    }
    if step("validate") {
        match validate_fixtures(&logs) {
            Ok(lines) => table.extend(lines),
            Err(e) => failures.push(format!("validate --device cuda: {e}")),
        }
    }
    if step("runner") {
        match pipeline_commands(&logs) {
            Ok(lines) => table.extend(lines),
            Err(e) => failures.push(format!("pipeline commands --device cuda: {e}")),
        }
    }
    if !a.no_mutants && step("mutants") {
        match crate::mutants::run(&bins, seed, &logs, a.only.is_some()) {
            Ok(lines) => table.extend(lines),
            Err(e) => failures.push(format!("mutation check: {e}")),
        }
    }
    eprintln!("\n== emulated CUDA: {:.0} s ==\n{}", t_all.elapsed().as_secs_f64(), table.join("\n"));
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("emulated CUDA runs failed:\n  {}", failures.join("\n  ")).into())
    }
}

/// `xtask validate --device cuda` on every fixture with a reference, under the emulator (sm_90).
fn validate_fixtures(logs: &Path) -> crate::Result<Vec<String>> {
    let xtask = xtask_exe()?;
    let dir = emulate::driver_dir(Options::default())?;
    let fx = root().join("tests/fixtures");
    let mut lines = Vec::new();
    for (model, reference) in [
        ("tiny-mlm", "mlm_reference"),
        ("tiny-ner", "ner_reference"),
        ("tiny-cls", "cls_reference"),
        ("tiny-d64", "d64_reference"),
        ("bert-mlm", "bert_mlm_reference"),
        ("bert-ner", "bert_ner_reference"),
        ("bert-cls", "bert_cls_reference"),
        ("xlmr-mlm", "xlmr_mlm_reference"),
        ("xlmr-ner", "xlmr_ner_reference"),
        ("xlmr-cls", "xlmr_cls_reference"),
    ] {
        let args: Vec<String> = [
            "validate", "--device", "cuda", "--model", &fx.join("models").join(model).to_string_lossy(), "--reference",
            &fx.join("reference").join(format!("{reference}.safetensors")).to_string_lossy(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let log = logs.join(format!("validate-{model}.log"));
        let r = run_binary(&dir, Options::default(), "forward", &xtask, &args, &log, 120)?;
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if !r.ok || !text.contains("device: emulated sm_90") {
            return Err(format!("{model}: failed\n{}", tail(&log, 20)).into());
        }
        lines.push(format!("validate --device cuda {model:<10} ok ({:.1} s)", r.secs));
        eprintln!("emulated: {}", lines.last().unwrap());
    }
    Ok(lines)
}

/// fill-mask, ner, classify and embed through the runner with `--device cuda` (emulated) and `--device cpu`:
/// the same top token, entities (label and span), top label, and embeddings with cosine ≥ 0.999.
fn pipeline_commands(logs: &Path) -> crate::Result<Vec<String>> {
    let xtask = xtask_exe()?;
    let dir = emulate::driver_dir(Options::default())?;
    let fx = root().join("tests/fixtures/models");
    let input = logs.join("pipeline-input.jsonl");
    let texts = [
        "Se inició tratamiento con <mask> intravenoso.",
        "Paciente de 62 años con carcinoma <mask> de pulmón tratado con cisplatino y pemetrexed.",
        "Se pautó omeprazol 20 mg y paracetamol; la <mask> fue normal.",
    ];
    std::fs::write(&input, texts.iter().map(|t| serde_json::json!({ "text": t }).to_string() + "\n").collect::<String>())?;
    let run = |cmd: &str, model: &str, device: &str| -> crate::Result<Vec<serde_json::Value>> {
        let args: Vec<String> = [cmd, "--model", &fx.join(model).to_string_lossy(), "--device", device, "--input", &input.to_string_lossy()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let log = logs.join(format!("runner-{cmd}-{device}.log"));
        let out = if device == "cuda" {
            let mut c = emulate::command_with(&dir, Options::default(), "forward", &xtask.to_string_lossy(), &args)?;
            c.stderr(std::fs::File::create(&log)?).output()?
        } else {
            Command::new(&xtask).args(&args).stderr(std::fs::File::create(&log)?).output()?
        };
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        let want = if device == "cuda" { "device: emulated sm_90" } else { "device: cpu" };
        if !out.status.success() || !err.contains(want) {
            return Err(format!("{cmd} --device {device} failed or did not say `{want}`:\n{}", tail(&log, 10)).into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).lines().map(serde_json::from_str).collect::<Result<_, _>>()?)
    };
    let mut lines = Vec::new();
    for (cmd, model) in [("fill-mask", "tiny-mlm"), ("ner", "tiny-ner"), ("classify", "tiny-cls"), ("embed", "tiny-mlm")] {
        let (g, c) = (run(cmd, model, "cuda")?, run(cmd, model, "cpu")?);
        if g.len() != texts.len() || c.len() != texts.len() {
            return Err(format!("{cmd}: {} and {} records for {} texts", g.len(), c.len(), texts.len()).into());
        }
        for (a, b) in g.iter().zip(&c) {
            let same = match cmd {
                "fill-mask" => a["predictions"][0]["token"] == b["predictions"][0]["token"],
                "ner" => {
                    let key = |v: &serde_json::Value| -> Vec<(serde_json::Value, serde_json::Value, serde_json::Value)> {
                        v["entities"].as_array().map_or(Vec::new(), |es| es.iter().map(|e| (e["entity"].clone(), e["start"].clone(), e["end"].clone())).collect())
                    };
                    key(a) == key(b)
                }
                "classify" => a["labels"][0]["label"] == b["labels"][0]["label"],
                _ => {
                    let v = |x: &serde_json::Value| -> Vec<f64> { x["embedding"].as_array().map_or(Vec::new(), |e| e.iter().filter_map(|f| f.as_f64()).collect()) };
                    let (x, y) = (v(a), v(b));
                    let dot: f64 = x.iter().zip(&y).map(|(p, q)| p * q).sum();
                    let n = (x.iter().map(|p| p * p).sum::<f64>() * y.iter().map(|q| q * q).sum::<f64>()).sqrt();
                    !x.is_empty() && x.len() == y.len() && dot / n >= 0.999
                }
            };
            if !same {
                return Err(format!("{cmd}: CUDA and CPU disagree on {}:\n  cuda {a}\n  cpu  {b}", a["text"]).into());
            }
        }
        lines.push(format!("runner {cmd:<9} --device cuda = --device cpu on {} texts", texts.len()));
        eprintln!("emulated: {}", lines.last().unwrap());
    }
    Ok(lines)
}
