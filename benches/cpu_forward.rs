//! CPU forward throughput (tokens/s) of the encoder, f32 and int8, on a random bsc-bio-ehr-es-shaped model
//! (12 layers, hidden 768): batches 1×128 and 8×128, and a PharmaCoNER-shaped mixed batch (64 sentences'
//! token lengths, padding-free). The model is generated at start into the target dir (deterministic, reused
//! across runs). The PyTorch and ONNX Runtime figures come from `cargo xtask compare`.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use roberta_encoder::random::{write_random_model, Shape};
use roberta_encoder::{BatchInput, Config, RobertaModel};
use std::path::PathBuf;
use std::time::Instant;

fn model(dtype: roberta_encoder::CpuDType) -> RobertaModel {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("random-bsc-bio-ehr-es");
    if !dir.join("model.safetensors").is_file() {
        eprintln!("generating the random model in {}", dir.display());
        write_random_model(&dir, Shape::BscBioEhrEs).unwrap();
    }
    let cfg = Config::from_file(&dir.join("config.json")).unwrap();
    // ROBERTA_CPU_GEMM=gemm / ROBERTA_ROW_BLOCK as the runner maps them (the library reads no environment itself)
    let opts = roberta_encoder::CpuOptions { dtype, ..roberta_encoder::CpuOptions::from_env().unwrap() };
    RobertaModel::load_dir_with(&cfg, &dir, &opts).unwrap()
}

/// FLOPs of one forward: 2·params·tokens for the projections and FFN, plus QKᵀ and PV.
fn flops(c: &Config, b: usize, t: usize) -> f64 {
    let (h, f, l) = (c.hidden_size as f64, c.intermediate_size as f64, c.num_hidden_layers as f64);
    let tokens = (b * t) as f64;
    l * (2.0 * tokens * (4.0 * h * h + 2.0 * h * f) + 4.0 * b as f64 * (t * t) as f64 * h)
}

/// The token lengths of 64 PharmaCoNER dev sentences (as `xtask compare --lengths pharmaconer`).
const PHARMACONER: [usize; 64] = [
    18, 55, 50, 33, 27, 23, 69, 50, 23, 21, 26, 75, 17, 81, 33, 24, 19, 13, 45, 45, 36, 29, 53, 24, 29, 38, 27, 12, 16,
    29, 69, 51, 34, 38, 8, 76, 42, 25, 36, 37, 22, 14, 12, 33, 38, 49, 39, 12, 13, 105, 42, 20, 37, 57, 25, 49, 12, 23,
    44, 35, 12, 55, 78, 53,
];

fn bench(c: &mut Criterion) {
    for dtype in [roberta_encoder::CpuDType::F32, roberta_encoder::CpuDType::Int8] {
        bench_dtype(c, dtype);
    }
}

fn bench_dtype(c: &mut Criterion, dtype: roberta_encoder::CpuDType) {
    let m = model(dtype);
    let mut g = c.benchmark_group(format!("cpu_forward_{}", dtype.name()));
    g.sample_size(10);
    for lens in [vec![128usize], vec![128; 8], PHARMACONER.to_vec()] {
        let (b, t) = (lens.len(), *lens.iter().max().unwrap());
        let ids: Vec<u32> = (0..b * t).map(|i| if i % t == 0 { 0 } else { 3 + (i as u32 * 7919) % 50_000 }).collect();
        let mask: Vec<u32> = (0..b * t).map(|i| (i % t < lens[i / t]) as u32).collect();
        let name = if b == 64 { "pharmaconer".to_string() } else { format!("{b}x{t}") };
        let input = BatchInput { token_type_ids: None, input_ids: &ids, attention_mask: &mask, batch: b, seq_len: t };
        let t0 = Instant::now();
        m.forward(&input, false).unwrap();
        let s = t0.elapsed().as_secs_f64();
        let fl: f64 = lens.iter().map(|&l| flops(&m.config, 1, l)).sum();
        let real: usize = lens.iter().sum();
        eprintln!(
            "{} {name}: {:.1} GFLOP per forward, one run {:.1} ms = {:.1} GOP/s, {:.0} real tokens/s ({} threads)",
            dtype.name(),
            fl / 1e9,
            s * 1e3,
            fl / s / 1e9,
            real as f64 / s,
            rayon::current_num_threads()
        );
        g.throughput(Throughput::Elements(real as u64));
        g.bench_function(name, |bn| bn.iter(|| m.forward(&input, false).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
