//! `cargo xtask compare --device cuda`: our CUDA forward against PyTorch eager f16 (`transformers`
//! RobertaModel, `attn_implementation="eager"`, and `"sdpa"` for reference) on the same GPU, model and
//! batch; and our fused attention kernel against `torch.nn.functional.scaled_dot_product_attention` on the
//! same fused QKV. Prints tokens/s, the ratio and ‖ours − torch‖/‖torch‖. The PyTorch side runs only
//! where `import torch, transformers` works with CUDA (with `.tools/pyenv` on PYTHONPATH); nothing is
//! installed for it (a CUDA torch wheel is gigabytes, and the GPU machines have no network).
use roberta_encoder::random::{write_random_model, Shape};
use roberta_checkpoint::safetensors::{write_raw, SafetensorsFile};
use roberta_encoder::{BatchInput, Config, CudaModel, DType};
use roberta_gpu::{f16, Gpu};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

const SCRIPT: &str = include_str!("compare_cuda.py");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn bytes<T: Copy>(v: &[T]) -> &[u8] {
    // SAFETY: T is a plain number type here (i64, f16) without padding; the slice covers v's memory.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den.max(1e-30)).sqrt()
}

/// Best wall time of `iters` calls of `f` (each ends synchronized), after one warm-up.
fn best_of(iters: usize, mut f: impl FnMut() -> crate::Result<()>) -> crate::Result<f64> {
    f()?;
    let mut best = f64::INFINITY;
    for _ in 0..iters.max(1) {
        let t0 = Instant::now();
        f()?;
        best = best.min(t0.elapsed().as_secs_f64());
    }
    Ok(best)
}

/// Runs the CUDA comparison.
pub fn run(batch: usize, seq_len: usize, iters: usize, model: Option<PathBuf>) -> crate::Result<ExitCode> {
    let tools = root().join(".tools");
    let model_dir = model.unwrap_or_else(|| tools.join("models/random-bsc-bio-ehr-es"));
    if !model_dir.join("model.safetensors").is_file() && !model_dir.join("pytorch_model.bin").is_file() {
        eprintln!("generating a random bsc-bio-ehr-es-shaped model in {}", model_dir.display());
        write_random_model(&model_dir, Shape::BscBioEhrEs)?;
    }
    let cfg = Config::from_file(&model_dir.join("config.json"))?;
    let model = CudaModel::load_with(&cfg, roberta_checkpoint::ModelFiles::resolve(&model_dir)?.open_weights()?.as_ref(), &roberta_encoder::CudaOptions::from_env())?;
    roberta_cli::pipeline::report_device(&model.describe());
    let (b, t, h) = (batch, seq_len, cfg.hidden_size);
    let ids = crate::compare::random_batch(&cfg, b, t);
    let mask = vec![1u32; b * t];
    let input = BatchInput { token_type_ids: None, input_ids: &ids, attention_mask: &mask, batch: b, seq_len: t };
    model.forward(&input, false)?; // the second call below captures the CUDA graph
    let mut ours = Vec::new();
    let best = best_of(iters, || {
        ours = model.forward(&input, false)?.last_hidden_state;
        Ok(())
    })?;
    let stats = model.last_stats();

    // Our attention kernel alone, on a random fused QKV.
    let gpu = Gpu::with_options(0, &roberta_gpu::GpuOptions::from_env())?;
    let (heads, head_dim) = (cfg.num_attention_heads, cfg.head_dim());
    let mut s = 99u64;
    let qkv: Vec<f16> = (0..b * t * 3 * h)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            f16::from_f32(((s >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0)
        })
        .collect();
    let dqkv = gpu.upload(&qkv)?;
    let mut dout = gpu.zeros::<f16>(b * t * h)?;
    let off = gpu.seq_offsets(&vec![t; b])?;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let att_best = best_of(iters.max(10), || {
        gpu.attention(&dqkv, &mut dout, &off, None, heads, head_dim, scale)?;
        Ok(gpu.sync()?)
    })?;
    let att_ours: Vec<f32> = gpu.download(&dout)?.iter().map(|x| x.to_f32()).collect();

    println!("model: {} ({} layers, hidden {h}), batch {b}×{t}, f16 CUDA on {:?}", model_dir.display(), cfg.num_hidden_layers, gpu);
    println!("roberta-rs cuda : {:>10.0} tokens/s ({:.2} ms; {} kernels, {} host launches, graph {})",
        (b * t) as f64 / best, best * 1e3, stats.kernels, stats.launches, stats.graph);
    println!("our attention   : {:.3} ms", att_best * 1e3);

    let pyenv = tools.join("pyenv");
    let probe = Command::new("python3")
        .args(["-c", "import torch, transformers, safetensors; assert torch.cuda.is_available(), 'torch has no CUDA'"])
        .env("PYTHONPATH", &pyenv)
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            println!("pytorch         : skipped (no torch with CUDA here: {})", why.lines().last().unwrap_or("?"));
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => {
            println!("pytorch         : skipped (python3: {e})");
            return Ok(ExitCode::SUCCESS);
        }
    }
    let tmp = std::env::temp_dir().join(format!("roberta-compare-cuda-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let (inp, outp, script) = (tmp.join("input.safetensors"), tmp.join("torch_out.safetensors"), tmp.join("compare_cuda.py"));
    let ids64: Vec<i64> = ids.iter().map(|&v| v as i64).collect();
    let mask64: Vec<i64> = mask.iter().map(|&v| v as i64).collect();
    write_raw(&inp, &[
        ("input_ids", DType::I64, &[b, t], bytes(&ids64)),
        ("attention_mask", DType::I64, &[b, t], bytes(&mask64)),
        ("qkv", DType::F16, &[b, t, 3 * h], bytes(&qkv)),
    ])?;
    std::fs::write(&script, SCRIPT)?;
    let args: Vec<String> = [&script, &model_dir, &inp, &outp].iter().map(|p| p.to_string_lossy().to_string())
        .chain([iters.to_string(), heads.to_string()]).collect();
    eprintln!("$ PYTHONPATH={} python3 {}", pyenv.display(), args.join(" "));
    let o = Command::new("python3").args(&args).env("PYTHONPATH", &pyenv).output()?;
    if !o.status.success() {
        return Err(format!("PyTorch side failed:\n{}", String::from_utf8_lossy(&o.stderr)).into());
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    let res: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .map_err(|e| format!("bad output from the script ({e}): {stdout}"))?;
    let torch = SafetensorsFile::open(&outp)?;
    let f = |k: &str| res[k].as_f64().unwrap_or(f64::NAN);
    for imp in ["eager", "sdpa"] {
        let theirs = torch.f32(&format!("last_hidden_state_{imp}"))?;
        let s = f(&format!("{imp}_best_s"));
        println!("pytorch {imp:<7} : {:>10.0} tokens/s ({:.2} ms, f16)  ours/theirs {:.2}×  ‖ours − torch‖/‖torch‖ {:.2e}",
            (b * t) as f64 / s, s * 1e3, s / best, rel_err(&ours, &theirs.data));
    }
    let sd = f("sdpa_attention_best_s");
    let att_theirs = torch.f32("attention")?;
    println!("torch sdpa attn : {:.3} ms  ours/theirs {:.2}×  ‖ours − sdpa‖/‖sdpa‖ {:.2e}  ({}, torch {})",
        sd * 1e3, sd / att_best, rel_err(&att_ours, &att_theirs.data), res["device"], res["torch"]);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(ExitCode::SUCCESS)
}

