//! `cargo xtask compare`: our CPU forward against the engines a clinical NLP team would otherwise run, on the
//! same deterministic random bsc-bio-ehr-es-shaped model and the same batch: transformers' `RobertaModel` on
//! PyTorch (f32), and ONNX Runtime on that model exported to ONNX, in f32 and quantized with `quantize_dynamic`
//! (QInt8 weights). Each side gets the same thread count (intra-op only); rounds are interleaved and the best
//! iteration of each engine is reported, with every output checked against HF's (PyTorch f32) on the real
//! tokens. A batch of mixed lengths (`--lengths`) reaches the peers padded to its longest, as their users run
//! it; we run it our way (padding-free). Installs torch, transformers, onnx and onnxruntime into the git-ignored
//! `.tools/pyenv` when missing (never done by `cargo xtask test`).
use roberta_checkpoint::safetensors::{write_raw, SafetensorsFile};
use roberta_encoder::random::{write_random_model, Shape};
use roberta_encoder::{BatchInput, Config, CpuDType, CpuOptions, DType, RobertaModel};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const SCRIPT: &str = include_str!("compare.py");

/// Token lengths (`<s>` and `</s>` included) of the first 64 sentences of PharmaCoNER dev
/// (`tests/fixtures/corpora/pharmaconer/dev.txt`, words joined by spaces) under the roberta-bne tokenizer
/// (`tests/fixtures/tokenizers/roberta-bne`); the test `pharmaconer_lengths_match_the_fixtures` recomputes them.
pub const PHARMACONER_LENGTHS: [usize; 64] = [
    18, 55, 50, 33, 27, 23, 69, 50, 23, 21, 26, 75, 17, 81, 33, 24, 19, 13, 45, 45, 36, 29, 53, 24, 29, 38, 27, 12, 16,
    29, 69, 51, 34, 38, 8, 76, 42, 25, 36, 37, 22, 14, 12, 33, 38, 49, 39, 12, 13, 105, 42, 20, 37, 57, 25, 49, 12, 23,
    44, 35, 12, 55, 78, 53,
];

/// Arguments of `compare`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Sequences per batch (without --lengths).
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Tokens per sequence (without --lengths).
    #[arg(long, default_value_t = 128)]
    seq_len: usize,
    /// A batch of mixed lengths instead: `pharmaconer` (the token lengths of 64 PharmaCoNER dev sentences) or
    /// `L1,L2,...` (each with `<s>` and `</s>`). The peers get it padded to its longest; we run it padding-free.
    #[arg(long)]
    lengths: Option<String>,
    /// Timed iterations per round (after one warm-up).
    #[arg(long, default_value_t = 3)]
    iters: usize,
    /// Rounds, the engines interleaved; the best iteration of each is reported.
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// Threads for every engine (default 2, the CI machine's cores; intra-op only on the peers).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Model directory or Hub id (default: a random bsc-bio-ehr-es-shaped model in .tools/models, made when missing).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Which peers: pytorch, onnxruntime or all.
    #[arg(long, default_value = "all", value_parser = ["pytorch", "onnxruntime", "all"])]
    peer: String,
    /// Which precisions: f32 (ours, PyTorch, ONNX Runtime fp32), int8 (ours, ONNX Runtime quantize_dynamic) or all.
    /// bf16 is refused (not implemented on the CPU).
    #[arg(long, default_value = "all")]
    dtype: String,
    /// Print one JSON object on the last line of stdout: {"batch", "real_tokens", "results": [{"engine", "dtype",
    /// "ms", "max_abs_diff", ...}]}.
    #[arg(long)]
    json: bool,
    /// cpu (the above) or cuda (f16, against PyTorch eager f16 and SDPA on the GPU).
    #[arg(long, default_value = "cpu")]
    device: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Makes the peers' imports work with PYTHONPATH=.tools/pyenv, installing from PyPI if needed.
pub fn ensure_python_packages(pyenv: &Path, onnx: bool) -> crate::Result<()> {
    let (imports, packages): (&str, &[&str]) = if onnx {
        ("import torch, transformers, safetensors, onnx, onnxruntime", &["torch", "transformers", "safetensors", "onnx", "onnxscript", "onnxruntime"])
    } else {
        ("import torch, transformers, safetensors", &["torch", "transformers", "safetensors"])
    };
    let ok = Command::new("python3")
        .args(["-c", imports])
        .env("PYTHONPATH", pyenv)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Ok(());
    }
    eprintln!(
        "peer packages missing: installing {} into {} from PyPI (the CPU wheel index download.pytorch.org is not \
         reachable here, so torch is PyPI's default wheel)",
        packages.join(", "),
        pyenv.display()
    );
    let mut args = vec!["-m".to_string(), "pip".into(), "install".into(), "--target".into(), pyenv.to_string_lossy().into()];
    args.extend(packages.iter().map(|p| p.to_string()));
    eprintln!("$ python3 {}", args.join(" "));
    let st = Command::new("python3").args(&args).status()?;
    if !st.success() {
        return Err("pip install of the peer packages failed".into());
    }
    Ok(())
}

/// One engine of the comparison.
struct Engine {
    /// `roberta-rs`, `pytorch` or `onnxruntime`.
    engine: &'static str,
    /// `f32` or `int8`.
    dtype: &'static str,
    /// Ours: the model; a peer: None (it runs in the Python process, under `key`).
    ours: Option<RobertaModel>,
    /// The peer's name in the script (`pytorch`, `onnxruntime-f32`, `onnxruntime-int8`).
    key: &'static str,
    best: f64,
    cpu: f64,
    out: Vec<f32>,
}

/// The batch: ids and mask `[b, t]` right-padded, each sequence `<s>` random ids `</s>`.
pub struct Batch {
    /// What it is, for the report and the JSON (`8x128`, `pharmaconer`, `12,40,7`).
    pub name: String,
    /// Lengths of the sequences.
    pub lens: Vec<usize>,
    /// `[b, t]` ids (pad id past each length).
    pub ids: Vec<u32>,
    /// `[b, t]` attention mask.
    pub mask: Vec<u32>,
    /// Padded length (the longest).
    pub t: usize,
}

impl Batch {
    /// The batch `--batch/--seq-len` or `--lengths` name, checked against the model's limits.
    pub fn new(cfg: &Config, batch: usize, seq_len: usize, lengths: Option<&str>) -> crate::Result<Batch> {
        let (name, lens) = match lengths {
            None => (format!("{batch}x{seq_len}"), vec![seq_len; batch]),
            Some("pharmaconer") => ("pharmaconer".to_string(), PHARMACONER_LENGTHS.to_vec()),
            Some(list) => {
                let lens = list
                    .split(',')
                    .map(|s| s.trim().parse::<usize>().map_err(|_| format!("--lengths: {s:?} is not a length (pharmaconer or L1,L2,...)")))
                    .collect::<Result<Vec<_>, _>>()?;
                (lens.iter().map(usize::to_string).collect::<Vec<_>>().join(","), lens)
            }
        };
        let max = cfg.max_seq_len();
        if lens.is_empty() {
            return Err("the batch is empty".into());
        }
        if let Some(l) = lens.iter().find(|&&l| l < 2 || l > max) {
            return Err(format!("sequence length {l} is outside 2..={max} (<s> and </s> included; the model allows {max})").into());
        }
        let t = *lens.iter().max().unwrap();
        let b = lens.len();
        let full = random_batch(cfg, b, t);
        let (mut ids, mut mask) = (vec![cfg.pad_token_id; b * t], vec![0u32; b * t]);
        for (i, &l) in lens.iter().enumerate() {
            ids[i * t..i * t + l - 1].copy_from_slice(&full[i * t..i * t + l - 1]);
            ids[i * t + l - 1] = cfg.eos_token_id;
            mask[i * t..i * t + l].fill(1);
        }
        Ok(Batch { name, lens, ids, mask, t })
    }

    /// Real (unpadded) tokens.
    pub fn real_tokens(&self) -> usize {
        self.lens.iter().sum()
    }
}

/// Max |a − b| and ‖a − b‖/‖b‖ over the rows where `mask` is 1 (`h` floats a row).
fn diff(a: &[f32], b: &[f32], mask: &[u32], h: usize) -> (f64, f64) {
    let (mut max, mut num, mut den) = (0.0f64, 0.0f64, 0.0f64);
    for (r, _) in mask.iter().enumerate().filter(|(_, &m)| m == 1) {
        for (x, y) in a[r * h..][..h].iter().zip(&b[r * h..][..h]) {
            let d = (*x as f64 - *y as f64).abs();
            max = max.max(d);
            num += d * d;
            den += (*y as f64) * (*y as f64);
        }
    }
    (max, (num / den.max(f64::MIN_POSITIVE)).sqrt())
}

/// Runs `compare`.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    if a.device == "cuda" {
        return crate::compare_cuda::run(a.batch, a.seq_len, a.iters, a.model);
    }
    let dtypes: Vec<CpuDType> = match a.dtype.to_ascii_lowercase().as_str() {
        "all" => vec![CpuDType::F32, CpuDType::Int8],
        d => vec![d.parse::<CpuDType>().map_err(|e| format!("--dtype: {e}"))?],
    };
    let (torch, onnx) = (a.peer != "onnxruntime", a.peer != "pytorch");
    let threads = a.threads.max(1);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().ok();
    let tools = root().join(".tools");
    let pyenv = tools.join("pyenv");
    ensure_python_packages(&pyenv, onnx)?;
    let model_dir = match &a.model {
        // a model id (org/name[@revision]) is its snapshot in the Hugging Face cache, downloaded when missing
        Some(m) => roberta_checkpoint::hub::resolve(m, roberta_checkpoint::hub::Want::Model)?,
        None => tools.join("models/random-bsc-bio-ehr-es"),
    };
    if !model_dir.join("model.safetensors").is_file() {
        if a.model.is_some() {
            return Err(format!("{}: no model.safetensors (run `roberta convert DIR` for a pytorch_model.bin)", model_dir.display()).into());
        }
        eprintln!("generating a random bsc-bio-ehr-es-shaped model in {}", model_dir.display());
        write_random_model(&model_dir, Shape::BscBioEhrEs)?;
    }
    let cfg = Config::from_file(&model_dir.join("config.json"))?;
    let batch = Batch::new(&cfg, a.batch, a.seq_len, a.lengths.as_deref())?;
    let (b, t, h) = (batch.lens.len(), batch.t, cfg.hidden_size);
    let input = BatchInput { token_type_ids: None, input_ids: &batch.ids, attention_mask: &batch.mask, batch: b, seq_len: t };

    let mut engines = Vec::new();
    let env = CpuOptions::from_env()?;
    for &d in &dtypes {
        // tensor by tensor from the file: peak memory is the model plus one batch (benches/RESULTS.md)
        let model = RobertaModel::load_dir_with(&cfg, &model_dir, &CpuOptions { dtype: d, ..env })?;
        eprintln!("roberta-rs {}: cpu, {}", d.name(), model.dtype_description());
        engines.push(Engine { engine: "roberta-rs", dtype: d.name(), ours: Some(model), key: "", best: f64::INFINITY, cpu: f64::INFINITY, out: Vec::new() });
    }
    let mut peer = |engine, dtype, key| engines.push(Engine { engine, dtype, ours: None, key, best: f64::INFINITY, cpu: f64::INFINITY, out: Vec::new() });
    if torch && dtypes.contains(&CpuDType::F32) {
        peer("pytorch", "f32", "pytorch");
    }
    if onnx && dtypes.contains(&CpuDType::F32) {
        peer("onnxruntime", "f32", "onnxruntime-f32");
    }
    if onnx && dtypes.contains(&CpuDType::Int8) {
        peer("onnxruntime", "int8", "onnxruntime-int8");
    }
    let keys: Vec<&str> = engines.iter().filter(|e| e.ours.is_none()).map(|e| e.key).collect();

    let tmp = std::env::temp_dir().join(format!("roberta-compare-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let (inp, outp, script) = (tmp.join("input.safetensors"), tmp.join("peers_out.safetensors"), tmp.join("compare.py"));
    let ids64: Vec<i64> = batch.ids.iter().map(|&v| v as i64).collect();
    let mask64: Vec<i64> = batch.mask.iter().map(|&v| v as i64).collect();
    write_raw(&inp, &[("input_ids", DType::I64, &[b, t], i64_bytes(&ids64)), ("attention_mask", DType::I64, &[b, t], i64_bytes(&mask64))])?;
    std::fs::write(&script, SCRIPT)?;
    let onnx_dir = onnx_cache(&tools, &model_dir)?;
    // The reference (HF, PyTorch f32) is always computed, timed or not.
    let py_engines = if keys.is_empty() { "reference".to_string() } else { keys.join(",") };
    let args = [script.to_string_lossy().to_string(), model_dir.to_string_lossy().to_string(), inp.to_string_lossy().to_string(),
        outp.to_string_lossy().to_string(), threads.to_string(), a.iters.to_string(), py_engines, onnx_dir.to_string_lossy().to_string()];
    eprintln!("$ PYTHONPATH={} python3 {}", pyenv.display(), args.join(" "));
    let mut child = Command::new("python3").args(&args).env("PYTHONPATH", &pyenv).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    let mut to_py = child.stdin.take().ok_or("no stdin to the script")?;
    let mut from_py = BufReader::new(child.stdout.take().ok_or("no stdout from the script")?);
    let mut read_json = || -> crate::Result<serde_json::Value> {
        let mut line = String::new();
        if from_py.read_line(&mut line)? == 0 {
            return Err("the peers' script exited early (see its stderr above)".into());
        }
        Ok(serde_json::from_str(line.trim()).map_err(|e| format!("bad line from the script ({e}): {line}"))?)
    };
    let ready = read_json()?;

    for e in engines.iter_mut() {
        if let Some(m) = &e.ours {
            e.out = m.forward(&input, false)?.last_hidden_state; // warm-up, and the output checked below
        }
    }
    // Interleaved rounds, best of all: the sandbox's cores are shared, so the least disturbed run of each engine
    // is the fairest figure.
    for round in 0..a.rounds {
        let mut line = Vec::new();
        for e in engines.iter_mut() {
            // Let the previous engine's idle threads go to sleep (OpenMP and ONNX Runtime spin after a region).
            std::thread::sleep(std::time::Duration::from_millis(300));
            let (best, cpu) = match &e.ours {
                Some(m) => {
                    let c0 = process_cpu_seconds();
                    let mut best = f64::INFINITY;
                    for _ in 0..a.iters {
                        let t0 = Instant::now();
                        std::hint::black_box(m.forward(&input, false)?);
                        best = best.min(t0.elapsed().as_secs_f64());
                    }
                    let cpu = match (c0, process_cpu_seconds()) {
                        (Some(c0), Some(c1)) => (c1 - c0) / a.iters as f64,
                        _ => f64::INFINITY,
                    };
                    (best, cpu)
                }
                None => {
                    writeln!(to_py, "go {}", e.key)?;
                    to_py.flush()?;
                    let r = read_json()?;
                    (r["best_s"].as_f64().ok_or("no best_s from the script")?, r["cpu_s"].as_f64().unwrap_or(f64::INFINITY))
                }
            };
            e.best = e.best.min(best);
            e.cpu = e.cpu.min(cpu);
            line.push(format!("{} {} {:.1} ms", e.engine, e.dtype, best * 1e3));
        }
        eprintln!("round {}: {}", round + 1, line.join(", "));
    }
    drop(to_py);
    child.wait()?;
    let peers_out = SafetensorsFile::open(&outp)?;
    let reference = peers_out.f32("reference")?.data;
    for e in engines.iter_mut().filter(|e| e.ours.is_none()) {
        e.out = peers_out.f32(e.key)?.data;
    }
    let _ = std::fs::remove_dir_all(&tmp);

    let real = batch.real_tokens();
    let mut so = std::io::stdout().lock();
    writeln!(so, "model: {} ({} layers, hidden {h}), {threads} threads, CPU", model_dir.display(), cfg.num_hidden_layers)?;
    writeln!(
        so,
        "batch: {} — {b} sequences, {real} real tokens; the peers run {b}×{t} = {} (padded to the longest)",
        batch.name,
        b * t
    )?;
    writeln!(
        so,
        "peers: torch {}, onnxruntime {} (attention: {})",
        ready["torch"].as_str().unwrap_or("-"),
        ready["onnxruntime"].as_str().unwrap_or("-"),
        ready["attn"].as_str().unwrap_or("-")
    )?;
    writeln!(so, "{:<12} {:<5} {:>10} {:>12} {:>11} {:>13} {:>11}", "engine", "dtype", "ms (best)", "real tok/s", "CPU ms", "max|Δ| vs HF", "‖Δ‖/‖HF‖")?;
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for e in &engines {
        let (max, rel) = diff(&e.out, &reference, &batch.mask, h);
        writeln!(
            so,
            "{:<12} {:<5} {:>10.1} {:>12.1} {:>11.1} {:>13.2e} {:>11.2e}",
            e.engine,
            e.dtype,
            e.best * 1e3,
            real as f64 / e.best,
            e.cpu * 1e3,
            max,
            rel
        )?;
        // f32 engines must agree with HF; the int8 ones are reported (quantization error), ours bounded
        if (e.dtype == "f32" && max > 1e-3) || (e.engine == "roberta-rs" && e.dtype == "int8" && !(rel <= 0.1)) {
            failed.push(format!("{} {}: max |Δ| {max:.2e}, ‖Δ‖/‖HF‖ {rel:.2e}", e.engine, e.dtype));
        }
        results.push(serde_json::json!({
            "engine": e.engine, "dtype": e.dtype, "ms": e.best * 1e3, "max_abs_diff": max, "rel_diff": rel,
            "cpu_ms": if e.cpu.is_finite() { serde_json::json!(e.cpu * 1e3) } else { serde_json::Value::Null },
        }));
    }
    let find = |engine: &str, dtype: &str| engines.iter().find(|e| e.engine == engine && e.dtype == dtype).map(|e| e.best);
    let mut ratios = Vec::new();
    for (ours, theirs, label) in [
        (("roberta-rs", "f32"), ("onnxruntime", "f32"), "roberta-rs f32 vs onnxruntime f32"),
        (("roberta-rs", "int8"), ("onnxruntime", "int8"), "roberta-rs int8 vs onnxruntime int8"),
        (("roberta-rs", "int8"), ("roberta-rs", "f32"), "roberta-rs int8 vs roberta-rs f32"),
        (("roberta-rs", "f32"), ("pytorch", "f32"), "roberta-rs f32 vs pytorch f32"),
        (("roberta-rs", "int8"), ("onnxruntime", "f32"), "roberta-rs int8 vs onnxruntime f32"),
    ] {
        if let (Some(o), Some(p)) = (find(ours.0, ours.1), find(theirs.0, theirs.1)) {
            writeln!(so, "{label:<38}: {:.2}× (faster when above 1)", p / o)?;
            ratios.push(serde_json::json!({"ours": format!("{} {}", ours.0, ours.1), "peer": format!("{} {}", theirs.0, theirs.1), "ratio": p / o}));
        }
    }
    if a.json {
        let j = serde_json::json!({"batch": batch.name, "real_tokens": real, "padded_tokens": b * t, "threads": threads,
            "results": results, "ratios": ratios});
        writeln!(so, "{j}")?;
    }
    so.flush()?;
    if !failed.is_empty() {
        eprintln!("error: outputs disagree with HF's: {}", failed.join("; "));
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the ONNX exports of `model_dir` are cached: `.tools/onnx/<the model directory's path, flattened>`,
/// emptied when the model's weights are newer than the export.
fn onnx_cache(tools: &Path, model_dir: &Path) -> crate::Result<PathBuf> {
    let canon = std::fs::canonicalize(model_dir)?;
    let flat: String = canon.to_string_lossy().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' }).collect();
    let dir = tools.join("onnx").join(flat.trim_start_matches('_'));
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(w), Some(o)) = (modified(&model_dir.join("model.safetensors")), modified(&dir.join("model.onnx"))) {
        if w > o {
            eprintln!("{} is older than the model's weights: exporting again", dir.display());
            std::fs::remove_dir_all(&dir)?;
        }
    }
    Ok(dir)
}

/// The deterministic batch both sides run: `<s>` random ids `</s>` per sequence, no padding (an LCG, so that
/// the peers get the same ids through the input file).
pub fn random_batch(cfg: &Config, b: usize, t: usize) -> Vec<u32> {
    let mut ids = vec![0u32; b * t];
    let mut state = 0x1234_5678u64;
    for (i, id) in ids.iter_mut().enumerate() {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        *id = match i % t {
            0 => cfg.bos_token_id,
            p if p == t - 1 => cfg.eos_token_id,
            _ => 3 + ((state >> 33) % (cfg.vocab_size as u64 - 3)) as u32,
        };
    }
    ids
}

/// This process's user + system CPU seconds so far, from /proc/self/stat (Linux; None elsewhere).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn i64_bytes(v: &[i64]) -> &[u8] {
    // SAFETY: i64 has no padding and any byte pattern is a valid u8; the slice covers exactly v's memory.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> PathBuf {
        root().join("tests/fixtures").join(rel)
    }

    /// The committed lengths are what the roberta-bne tokenizer gives the first 64 dev sentences.
    #[test]
    fn pharmaconer_lengths_match_the_fixtures() {
        let tok = roberta_tokenizer::Tokenizer::from_dir(fixture("tokenizers/roberta-bne")).unwrap();
        let sentences = roberta::eval_ner::read_conll(&fixture("corpora/pharmaconer/dev.txt")).unwrap();
        let lens: Vec<usize> = sentences.iter().take(64).map(|s| tok.encode(&s.words.join(" ")).ids.len()).collect();
        assert_eq!(lens, PHARMACONER_LENGTHS.to_vec(), "recomputed lengths (paste these into PHARMACONER_LENGTHS)");
    }

    /// A mixed batch is right-padded with the pad id, `<s> … </s>` per sequence, and lengths out of range are
    /// refused with the limit named.
    #[test]
    fn mixed_batches_are_padded_and_checked() {
        let cfg = Config::from_file(&fixture("models/tiny-mlm/config.json")).unwrap();
        let b = Batch::new(&cfg, 8, 128, Some("5, 2,7")).unwrap();
        assert_eq!((b.name.as_str(), b.t, b.real_tokens()), ("5,2,7", 7, 14));
        assert_eq!(&b.mask[..7], &[1, 1, 1, 1, 1, 0, 0]);
        assert_eq!((b.ids[0], b.ids[4], b.ids[5]), (cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id));
        assert_eq!(&b.ids[7..9], &[cfg.bos_token_id, cfg.eos_token_id]);
        let p = Batch::new(&cfg, 1, 1, Some("pharmaconer")).unwrap();
        assert_eq!(p.lens.len(), 64);
        for bad in ["1", "0,4", "4,x", "600"] {
            let e = Batch::new(&cfg, 1, 1, Some(bad)).err().expect(bad).to_string();
            assert!(e.contains("length") || e.contains("outside"), "{bad}: {e}");
        }
        let e = Batch::new(&cfg, 1, 600, None).err().unwrap().to_string();
        assert!(e.contains("600") && e.contains(&cfg.max_seq_len().to_string()), "{e}");
    }
}
