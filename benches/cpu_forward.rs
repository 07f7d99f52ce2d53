//! CPU forward throughput (tokens/s) of the f32 encoder on a random bsc-bio-ehr-es-shaped model
//! (12 layers, hidden 768), batches 1×128 and 8×128. The model is generated at start into the target
//! dir (deterministic, reused across runs). The PyTorch figure comes from `cargo xtask compare`.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use roberta_encoder::random::{write_random_model, Shape};
use roberta_encoder::{BatchInput, Config, RobertaModel};
use std::path::PathBuf;
use std::time::Instant;

fn model() -> RobertaModel {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("random-bsc-bio-ehr-es");
    if !dir.join("model.safetensors").is_file() {
        eprintln!("generating the random model in {}", dir.display());
        write_random_model(&dir, Shape::BscBioEhrEs).unwrap();
    }
    let cfg = Config::from_file(&dir.join("config.json")).unwrap();
    // ROBERTA_CPU_GEMM=gemm / ROBERTA_ROW_BLOCK as the runner maps them (the library reads no environment itself)
    RobertaModel::load_dir_with(&cfg, &dir, &roberta_encoder::CpuOptions::from_env().unwrap()).unwrap()
}

/// FLOPs of one forward: 2·params·tokens for the projections and FFN, plus QKᵀ and PV.
fn flops(c: &Config, b: usize, t: usize) -> f64 {
    let (h, f, l) = (c.hidden_size as f64, c.intermediate_size as f64, c.num_hidden_layers as f64);
    let tokens = (b * t) as f64;
    l * (2.0 * tokens * (4.0 * h * h + 2.0 * h * f) + 4.0 * b as f64 * (t * t) as f64 * h)
}

fn bench(c: &mut Criterion) {
    let m = model();
    let mut g = c.benchmark_group("cpu_forward");
    g.sample_size(10);
    for (b, t) in [(1usize, 128usize), (8, 128)] {
        let ids: Vec<u32> = (0..b * t).map(|i| if i % t == 0 { 0 } else { 3 + (i as u32 * 7919) % 50_000 }).collect();
        let mask = vec![1u32; b * t];
        let input = BatchInput { input_ids: &ids, attention_mask: &mask, batch: b, seq_len: t };
        let t0 = Instant::now();
        m.forward(&input, false).unwrap();
        let s = t0.elapsed().as_secs_f64();
        let fl = flops(&m.config, b, t);
        eprintln!(
            "{b}×{t}: {:.1} GFLOP per forward, one run {:.1} ms = {:.1} GFLOP/s, {:.0} tokens/s ({} threads)",
            fl / 1e9,
            s * 1e3,
            fl / s / 1e9,
            (b * t) as f64 / s,
            rayon::current_num_threads()
        );
        g.throughput(Throughput::Elements((b * t) as u64));
        g.bench_function(format!("{b}x{t}"), |bn| bn.iter(|| m.forward(&input, false).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
