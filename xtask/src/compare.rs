//! `cargo xtask compare`: our CPU forward against PyTorch's (`transformers` RobertaModel, f32, same thread
//! count) on the same deterministic random bsc-bio-ehr-es-shaped model and the same batch; prints tokens/s
//! for both and the ratio. Installs torch + transformers into the git-ignored `.tools/pyenv` when missing.
use roberta_encoder::random::{write_random_model, Shape};
use roberta_checkpoint::safetensors::{write_raw, SafetensorsFile};
use roberta_encoder::{BatchInput, Config, DType, RobertaModel};
use std::path::{Path, PathBuf};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const SCRIPT: &str = include_str!("compare.py");

/// Arguments of `compare`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 128)]
    seq_len: usize,
    /// Timed iterations per round (after one warm-up).
    #[arg(long, default_value_t = 3)]
    iters: usize,
    /// Rounds, ours and PyTorch's interleaved; the best iteration of each side is reported.
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    /// Threads for both sides (default: rayon's, i.e. the number of cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Model directory (default: a random bsc-bio-ehr-es-shaped model in .tools/models, made when missing).
    #[arg(long)]
    model: Option<PathBuf>,
    /// cpu (f32, against PyTorch f32 on the CPU) or cuda (f16, against PyTorch eager f16 and SDPA on the GPU).
    #[arg(long, default_value = "cpu")]
    device: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Makes `import torch, transformers` work with PYTHONPATH=.tools/pyenv, installing from PyPI if needed.
fn ensure_torch(pyenv: &Path) -> crate::Result<()> {
    let ok = Command::new("python3")
        .args(["-c", "import torch, transformers, safetensors"])
        .env("PYTHONPATH", pyenv)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Ok(());
    }
    eprintln!(
        "torch / transformers missing: installing them into {} from PyPI (the CPU wheel index \
         download.pytorch.org is not reachable here, so this is PyPI's default wheel)",
        pyenv.display()
    );
    let args = ["-m", "pip", "install", "--target", &pyenv.to_string_lossy(), "torch", "transformers", "safetensors"];
    eprintln!("$ python3 {}", args.join(" "));
    let st = Command::new("python3").args(args).status()?;
    if !st.success() {
        return Err("pip install of torch + transformers failed".into());
    }
    Ok(())
}

/// Runs `compare`.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    if a.device == "cuda" {
        return crate::compare_cuda::run(a.batch, a.seq_len, a.iters, a.model);
    }
    let threads = a.threads.unwrap_or_else(rayon::current_num_threads);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().ok();
    let tools = root().join(".tools");
    let pyenv = tools.join("pyenv");
    ensure_torch(&pyenv)?;
    let model_dir = a.model.clone().unwrap_or_else(|| tools.join("models/random-bsc-bio-ehr-es"));
    if !model_dir.join("model.safetensors").is_file() {
        eprintln!("generating a random bsc-bio-ehr-es-shaped model in {}", model_dir.display());
        write_random_model(&model_dir, Shape::BscBioEhrEs)?;
    }
    let cfg = Config::from_file(&model_dir.join("config.json"))?;
    // tensor by tensor from the file: peak memory is the model plus one batch (benches/RESULTS.md)
    let model = RobertaModel::load_dir_with(&cfg, &model_dir, &roberta_encoder::CpuOptions::from_env()?)?;
    roberta_cli::pipeline::report_device("cpu");

    // The same deterministic batch for both: <s> random ids </s>, no padding.
    let (b, t) = (a.batch, a.seq_len);
    let ids = random_batch(&cfg, b, t);
    let mask = vec![1u32; b * t];
    let input = BatchInput { input_ids: &ids, attention_mask: &mask, batch: b, seq_len: t };

    let tmp = std::env::temp_dir().join(format!("roberta-compare-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let (inp, outp, script) = (tmp.join("input.safetensors"), tmp.join("torch_out.safetensors"), tmp.join("compare.py"));
    let ids64: Vec<i64> = ids.iter().map(|&v| v as i64).collect();
    let mask64: Vec<i64> = mask.iter().map(|&v| v as i64).collect();
    let shape = [b, t];
    write_raw(&inp, &[
        ("input_ids", DType::I64, &shape, bytemuck_bytes(&ids64)),
        ("attention_mask", DType::I64, &shape, bytemuck_bytes(&mask64)),
    ])?;
    std::fs::write(&script, SCRIPT)?;
    let args = [script.to_string_lossy().to_string(), model_dir.to_string_lossy().to_string(),
        inp.to_string_lossy().to_string(), outp.to_string_lossy().to_string(), threads.to_string(), a.iters.to_string()];
    eprintln!("$ PYTHONPATH={} python3 {}", pyenv.display(), args.join(" "));
    let mut child = Command::new("python3")
        .args(&args)
        .env("PYTHONPATH", &pyenv)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut to_py = child.stdin.take().ok_or("no stdin to the script")?;
    let mut from_py = BufReader::new(child.stdout.take().ok_or("no stdout from the script")?);
    let mut read_json = || -> crate::Result<serde_json::Value> {
        let mut line = String::new();
        if from_py.read_line(&mut line)? == 0 {
            return Err("the PyTorch script exited early (see its stderr above)".into());
        }
        Ok(serde_json::from_str(line.trim()).map_err(|e| format!("bad line from the script ({e}): {line}"))?)
    };
    let ready = read_json()?;

    // Interleaved rounds, best of all: the sandbox's cores are shared, so the least disturbed run of
    // each side is the fairest figure.
    model.forward(&input, false)?; // warm-up
    let (mut best, mut torch_best) = (f64::INFINITY, f64::INFINITY);
    let (mut cpu, mut torch_cpu) = (f64::INFINITY, f64::INFINITY);
    let mut ours = Vec::new();
    for round in 0..a.rounds {
        let c0 = process_cpu_seconds();
        for _ in 0..a.iters {
            let t0 = Instant::now();
            ours = model.forward(&input, false)?.last_hidden_state;
            best = best.min(t0.elapsed().as_secs_f64());
        }
        if let (Some(c0), Some(c1)) = (c0, process_cpu_seconds()) {
            cpu = cpu.min((c1 - c0) / a.iters as f64);
        }
        // Let the other side's idle threads go to sleep before it runs (OpenMP spins after a region).
        std::thread::sleep(std::time::Duration::from_millis(300));
        writeln!(to_py, "go")?;
        to_py.flush()?;
        let r = read_json()?;
        let tb = r["best_s"].as_f64().ok_or("no best_s from the script")?;
        torch_best = torch_best.min(tb);
        torch_cpu = torch_cpu.min(r["cpu_s"].as_f64().unwrap_or(f64::INFINITY));
        std::thread::sleep(std::time::Duration::from_millis(300));
        eprintln!("round {}: roberta-rs best {:.1} ms, pytorch best {:.1} ms", round + 1, best * 1e3, tb * 1e3);
    }
    drop(to_py);
    child.wait()?;
    let our_tps = (b * t) as f64 / best;
    let torch_tps = (b * t) as f64 / torch_best;
    let theirs = SafetensorsFile::open(&outp)?.f32("last_hidden_state")?;
    let max_diff = ours.iter().zip(&theirs.data).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    let _ = std::fs::remove_dir_all(&tmp);
    println!("model: random bsc-bio-ehr-es shape (12 layers, hidden 768), batch {b}×{t}, {threads} threads, f32 CPU");
    println!("roberta-rs : {our_tps:>10.1} tokens/s ({:.1} ms, best of {}×{})", best * 1e3, a.rounds, a.iters);
    println!("pytorch    : {torch_tps:>10.1} tokens/s ({:.1} ms; torch {}, attention {})",
        torch_best * 1e3, ready["torch"].as_str().unwrap_or("?"), ready["attn"].as_str().unwrap_or("?"));
    println!("ratio      : {:.2}× (roberta-rs / pytorch)", our_tps / torch_tps);
    if cpu.is_finite() && torch_cpu.is_finite() {
        println!(
            "CPU time   : roberta-rs {:.1} ms, pytorch {:.1} ms per forward (process CPU seconds, all threads): \
             {:.2}× as many tokens per CPU-second",
            cpu * 1e3,
            torch_cpu * 1e3,
            torch_cpu / cpu
        );
    }
    println!("max |ours − torch| on last_hidden_state: {max_diff:.2e}");
    Ok(ExitCode::SUCCESS)
}

/// This process's user + system CPU seconds so far, from /proc/self/stat (Linux; None elsewhere).
/// The deterministic batch both sides run: `<s>` random ids `</s>` per sequence, no padding (an LCG, so that
/// PyTorch gets the same ids through the input file).
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

fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name: state is field 3, utime 14 and stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

fn bytemuck_bytes(v: &[i64]) -> &[u8] {
    // SAFETY: i64 has no padding and any byte pattern is a valid u8; the slice covers exactly v's memory.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}
