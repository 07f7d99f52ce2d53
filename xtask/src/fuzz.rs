//! `cargo xtask fuzz [--seconds N] [--target T]...`: runs the cargo-fuzz targets of tests/fuzz for a bounded time
//! each. Installs cargo-fuzz into .tools/cargo-fuzz when it is missing (and says so), builds with libFuzzer on the
//! stable toolchain (RUSTC_BOOTSTRAP=1), seeds each corpus from tests/fixtures at run time (small files written into
//! the git-ignored tests/fuzz/corpus/<target>/, which keeps what the fuzzer finds between runs), and prints
//! runs per target. A crash leaves its input in tests/fuzz/artifacts/<target>/ and makes the exit code 1.
//! Every run is appended to tests/fuzz/corpus/runs.jsonl: tests/fuzz/RESULTS.md totals it.
use crate::test::run_cmd;
use roberta_checkpoint::safetensors::{write_raw, SafetensorsFile};
use roberta_checkpoint::torch_write::{state_dict_pickle, torch_zip_bytes, TorchRecord};
use roberta_checkpoint::torch_zip::parse_zip;
use roberta_encoder::DType;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

/// Every fuzz target of tests/fuzz/Cargo.toml.
pub const TARGETS: [&str; 6] = ["tokenize_text", "tokenizer_files", "safetensors", "torch_zip", "pickle", "config"];

/// Arguments of `cargo xtask fuzz`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Seconds of fuzzing per target (after the build).
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Only these targets (default: all).
    #[arg(long = "target")]
    pub targets: Vec<String>,
    /// libFuzzer worker processes per target.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The cargo-fuzz binary: on PATH, or in .tools/cargo-fuzz (installed there when missing).
fn cargo_fuzz(root: &Path) -> crate::Result<PathBuf> {
    let local = root.join(".tools/cargo-fuzz/bin/cargo-fuzz");
    if local.is_file() {
        return Ok(local);
    }
    let on_path = Command::new("cargo-fuzz").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if on_path.is_ok_and(|s| s.success()) {
        return Ok("cargo-fuzz".into());
    }
    eprintln!("cargo xtask fuzz: cargo-fuzz not found; installing it into {}", root.join(".tools/cargo-fuzz").display());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_cmd(Command::new(cargo).args(["install", "--locked", "cargo-fuzz", "--root"]).arg(root.join(".tools/cargo-fuzz")))?;
    Ok(local)
}

/// Runs the command.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let root = root();
    let targets: Vec<&str> = if a.targets.is_empty() { TARGETS.to_vec() } else { a.targets.iter().map(String::as_str).collect() };
    if let Some(bad) = targets.iter().find(|t| !TARGETS.contains(t)) {
        return Err(format!("unknown fuzz target {bad}; targets: {}", TARGETS.join(", ")).into());
    }
    let fuzz = cargo_fuzz(&root)?;
    let fuzz_dir = root.join("tests/fuzz");
    // Its own target folder: libFuzzer's RUSTFLAGS would otherwise rebuild the workspace's release build.
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from).join("fuzz");
    let cmd = |sub: &str| {
        let mut c = Command::new(&fuzz);
        c.args(["fuzz", sub, "--fuzz-dir"]).arg(&fuzz_dir).env("RUSTC_BOOTSTRAP", "1").current_dir(&root);
        c
    };
    let t0 = Instant::now();
    run_cmd(cmd("build").arg("--target-dir").arg(&target_dir))?;
    eprintln!("cargo xtask fuzz: built in {:.0} s", t0.elapsed().as_secs_f64());
    let corpus_root = fuzz_dir.join("corpus");
    let mut failed = Vec::new();
    let mut summary = Vec::new();
    for t in &targets {
        let corpus = corpus_root.join(t);
        std::fs::create_dir_all(&corpus)?;
        let seeds = seed(t, &root.join("tests/fixtures"), &corpus)?;
        let mut c = cmd("run");
        c.arg("--target-dir").arg(&target_dir).arg(t).arg(&corpus).arg("--");
        c.arg(format!("-max_total_time={}", a.seconds)).args(["-rss_limit_mb=2048", "-timeout=20", "-print_final_stats=1"]);
        c.arg(format!("-max_len={}", max_len(t)));
        if a.jobs > 1 {
            c.arg(format!("-fork={}", a.jobs));
        }
        eprintln!("+ {c:?}");
        let started = Instant::now();
        let out = c.stderr(Stdio::piped()).output().map_err(|e| format!("cannot start cargo-fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        let runs = stat(&log, "stat::number_of_executed_units:").unwrap_or(0);
        let secs = started.elapsed().as_secs();
        let ok = out.status.success();
        let corpus_n = std::fs::read_dir(&corpus).map(|d| d.count()).unwrap_or(0);
        if !ok {
            failed.push(*t);
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("---- {t} crashed; last lines ----");
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
        summary.push(format!("{t:>16}: {runs:>9} runs in {secs} s, {seeds} seeds, corpus {corpus_n}, {}", if ok { "ok" } else { "CRASH" }));
        record_run(&corpus_root, json!({"target": t, "seconds": secs, "runs": runs, "crashed": !ok, "jobs": a.jobs}))?;
    }
    eprintln!("cargo xtask fuzz: {} target(s), {:.0} s in all", targets.len(), t0.elapsed().as_secs_f64());
    for s in &summary {
        eprintln!("{s}");
    }
    if failed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("crashes in {}: inputs in {}", failed.join(", "), fuzz_dir.join("artifacts").display());
        Ok(ExitCode::from(1))
    }
}

/// The number after `key` on the last line of libFuzzer's output holding it.
fn stat(log: &str, key: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| l.trim().strip_prefix(key).and_then(|r| r.split_whitespace().next()?.parse().ok()))
}

fn record_run(corpus_root: &Path, v: Value) -> crate::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(corpus_root.join("runs.jsonl"))?;
    writeln!(f, "{v}")?;
    Ok(())
}

/// Largest input per target: weights seeds are a few KiB; texts stay short so that runs are many.
fn max_len(t: &str) -> usize {
    match t {
        "tokenize_text" | "config" => 4096,
        _ => 65536,
    }
}

/// Writes target `t`'s seeds (files `seed-*`) from the fixtures; returns how many.
fn seed(t: &str, fx: &Path, corpus: &Path) -> crate::Result<usize> {
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    match t {
        "tokenize_text" => {
            let cases = std::fs::read_to_string(fx.join("tokenizers/tiny-clinical.cases.jsonl"))?;
            for (i, line) in cases.lines().take(24).enumerate() {
                let v: Value = serde_json::from_str(line)?;
                if let Some(text) = v.get("text").and_then(Value::as_str) {
                    let mut s = vec![i as u8];
                    s.extend_from_slice(text.as_bytes());
                    seeds.push(s);
                }
            }
            for (i, s) in ["", " ", "\t\n \u{3000}", "<s></s><pad><mask>", "a <mask>b<mask> c", "🤷🏽\u{200d}♀️ é\u{301}", "\0\u{fffd}x"]
                .iter()
                .enumerate()
            {
                let mut v = vec![i as u8 * 3];
                v.extend_from_slice(s.as_bytes());
                seeds.push(v);
            }
        }
        "tokenizer_files" => {
            let sep = b"\n@@\n";
            let ner = fx.join("models/tiny-ner");
            let mut s = vec![0u8];
            s.extend(small_tokenizer_json(&ner.join("tokenizer.json"), 300)?);
            s.extend_from_slice(sep);
            s.extend(std::fs::read(ner.join("tokenizer_config.json"))?);
            seeds.push(s);
            let mlm = fx.join("models/tiny-mlm");
            let (vocab, merges) = small_vocab_merges(&mlm, 300)?;
            let mut s = vec![1u8];
            for (k, part) in [vocab, merges, std::fs::read(mlm.join("tokenizer_config.json"))?, std::fs::read(mlm.join("special_tokens_map.json"))?]
                .into_iter()
                .enumerate()
            {
                if k > 0 {
                    s.extend_from_slice(sep);
                }
                s.extend(part);
            }
            seeds.push(s);
        }
        "safetensors" => {
            for f in ["reference/cls_reference.safetensors", "models/tiny-cls/model.safetensors"] {
                seeds.push(small_safetensors(&fx.join(f))?);
            }
        }
        "torch_zip" | "pickle" => {
            let bin = fx.join("models/tiny-mlm/pytorch_model.bin");
            let buf = std::fs::read(&bin)?;
            let entries = parse_zip(&buf, &bin)?;
            let pkl = entries.iter().find(|e| e.name.ends_with("data.pkl")).ok_or("fixture has no data.pkl")?;
            let tensors = roberta_checkpoint::torch_zip::load_f32(&bin)?;
            let small: Vec<(String, Vec<u8>, Vec<usize>)> = tensors
                .iter()
                .filter(|(_, t)| t.numel() <= 256)
                .take(6)
                .map(|(n, t)| (n.clone(), t.data.iter().flat_map(|x| x.to_le_bytes()).collect(), t.shape.clone()))
                .collect();
            let half: Vec<u8> = small[0].1.chunks(4).flat_map(|c| half_bits(c).to_le_bytes()).collect();
            let pos: Vec<u8> = (0i64..8).flat_map(|i| i.to_le_bytes()).collect();
            let mut recs: Vec<TorchRecord> = small
                .iter()
                .map(|(n, b, s)| TorchRecord { name: n, dtype: DType::F32, shape: s, bytes: b, numel: None, stride: None })
                .collect();
            recs.push(TorchRecord { name: "half.weight", dtype: DType::F16, shape: &small[0].2, bytes: &half, numel: None, stride: None });
            recs.push(TorchRecord { name: "embeddings.position_ids", dtype: DType::I64, shape: &[1, 8], bytes: &pos, numel: None, stride: None });
            if t == "pickle" {
                seeds.push(buf[pkl.start..pkl.start + pkl.len].to_vec());
                seeds.push(state_dict_pickle(&recs));
            } else {
                seeds.push(torch_zip_bytes(&recs));
                seeds.push(torch_zip_bytes(&recs[..1]));
            }
        }
        "config" => {
            for f in ["models/tiny-mlm", "models/tiny-ner", "models/tiny-cls", "tokenizers/roberta-base", "tokenizers/roberta-bne"] {
                if let Ok(b) = std::fs::read(fx.join(f).join("config.json")) {
                    seeds.push(b);
                }
            }
        }
        _ => unreachable!("checked against TARGETS"),
    }
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(corpus.join(format!("seed-{i}")), s)?;
    }
    Ok(seeds.len())
}

/// f32 little-endian bytes → IEEE half bits (round toward zero: seeds only need plausible values).
fn half_bits(c: &[u8]) -> u16 {
    let x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    if exp <= 0 {
        return sign;
    }
    if exp >= 31 {
        return sign | 0x7c00;
    }
    sign | ((exp as u16) << 10) | ((b >> 13) & 0x3ff) as u16
}

/// Keeps the tokens whose id is below `keep` (and every `<...>` special), and the merges among them.
fn keep_vocab(vocab: &serde_json::Map<String, Value>, keep: u64) -> serde_json::Map<String, Value> {
    vocab
        .iter()
        .filter(|(k, v)| v.as_u64().is_some_and(|i| i < keep) || (k.starts_with('<') && k.ends_with('>')))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn keep_merge(vocab: &serde_json::Map<String, Value>, a: &str, b: &str) -> bool {
    vocab.contains_key(a) && vocab.contains_key(b) && vocab.contains_key(&format!("{a}{b}"))
}

/// tokenizer.json with only its first `keep` tokens.
fn small_tokenizer_json(path: &Path, keep: u64) -> crate::Result<Vec<u8>> {
    let mut j: Value = serde_json::from_slice(&std::fs::read(path)?)?;
    let vocab = keep_vocab(j["model"]["vocab"].as_object().ok_or("tokenizer.json without model.vocab")?, keep);
    let merges: Vec<Value> = j["model"]["merges"]
        .as_array()
        .ok_or("tokenizer.json without model.merges")?
        .iter()
        .filter(|m| {
            let (a, b) = match m {
                Value::String(s) => s.split_once(' ').unwrap_or(("", "")),
                Value::Array(p) if p.len() == 2 => (p[0].as_str().unwrap_or(""), p[1].as_str().unwrap_or("")),
                _ => ("", ""),
            };
            keep_merge(&vocab, a, b)
        })
        .cloned()
        .collect();
    j["model"]["vocab"] = Value::Object(vocab);
    j["model"]["merges"] = Value::Array(merges);
    Ok(serde_json::to_vec(&j)?)
}

/// vocab.json and merges.txt with only the first `keep` tokens.
fn small_vocab_merges(dir: &Path, keep: u64) -> crate::Result<(Vec<u8>, Vec<u8>)> {
    let v: Value = serde_json::from_slice(&std::fs::read(dir.join("vocab.json"))?)?;
    let vocab = keep_vocab(v.as_object().ok_or("vocab.json is not an object")?, keep);
    let merges = std::fs::read_to_string(dir.join("merges.txt"))?;
    let mut m = String::new();
    for line in merges.lines() {
        if line.starts_with("#version") || line.split_once(' ').is_some_and(|(a, b)| keep_merge(&vocab, a, b)) {
            m.push_str(line);
            m.push('\n');
        }
    }
    Ok((serde_json::to_vec(&Value::Object(vocab))?, m.into_bytes()))
}

/// A safetensors file of the fixture's records of at most 4 KiB (up to 8 of them), rewritten.
fn small_safetensors(path: &Path) -> crate::Result<Vec<u8>> {
    let f = SafetensorsFile::open(path)?;
    let small: Vec<_> = f.entries.iter().filter(|e| e.end - e.start <= 4096).take(8).collect();
    let recs: Vec<(&str, DType, &[usize], &[u8])> =
        small.iter().map(|e| (e.name.as_str(), e.dtype, e.shape.as_slice(), f.bytes(e))).collect();
    let tmp = std::env::temp_dir().join(format!("xtask-fuzz-seed-{}.safetensors", std::process::id()));
    write_raw(&tmp, &recs)?;
    let b = std::fs::read(&tmp)?;
    let _ = std::fs::remove_file(&tmp);
    Ok(b)
}
