//! CUDA forward throughput (tokens/s) of the f16 encoder on a random bsc-bio-ehr-es-shaped model (12 layers,
//! hidden 768, generated in memory): 1×128, 32×128, and 32 sequences of mixed lengths (mean 64, max 128).
//! Peers from the same run: 1×128 with CUDA graphs against plain launches (launches per forward printed),
//! the mixed batch packed (padding-free) against padded. PyTorch's figure comes from `cargo xtask compare
//! --device cuda`. Prints a skip reason and exits 0 without a GPU.
use criterion::{Criterion, Throughput};
use roberta_encoder::random::{config_json, random_tensors, Shape};
use roberta_encoder::{BatchInput, Config, CudaModel, EncoderError, Layout, Weights};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// FLOPs of one forward over `tokens` real tokens in sequences of `lens`.
fn flops(c: &Config, lens: &[usize]) -> f64 {
    let (h, f, l) = (c.hidden_size as f64, c.intermediate_size as f64, c.num_hidden_layers as f64);
    let tokens: usize = lens.iter().sum();
    let attn: f64 = lens.iter().map(|&t| 4.0 * (t * t) as f64 * h).sum();
    l * (2.0 * tokens as f64 * (4.0 * h * h + 2.0 * h * f) + attn)
}

/// Right-padded ids and mask for `lens`: `<s>` pseudo-random ids `</s>`.
fn batch(lens: &[usize]) -> (Vec<u32>, Vec<u32>, usize) {
    let t = lens.iter().copied().max().unwrap_or(0);
    let (mut ids, mut mask) = (vec![1u32; lens.len() * t], vec![0u32; lens.len() * t]);
    for (b, &l) in lens.iter().enumerate() {
        for i in 0..l {
            ids[b * t + i] = if i == 0 { 0 } else if i == l - 1 { 2 } else { 3 + ((b * 131 + i) as u32 * 7919) % 50_000 };
            mask[b * t + i] = 1;
        }
    }
    (ids, mask, t)
}

/// 32 lengths in 2..=128 with mean 64 (deterministic).
fn mixed_lengths() -> Vec<usize> {
    let mut lens: Vec<usize> = (0..32).map(|i| 2 + (i * 37 + 11) % 127).collect();
    lens[0] = 128;
    let sum: usize = lens.iter().sum();
    // Nudge to an exact mean of 64 without leaving 2..=128.
    let mut excess = sum as isize - 64 * 32;
    for l in lens.iter_mut().skip(1) {
        let step = excess.clamp(*l as isize - 128, *l as isize - 2);
        *l = (*l as isize - step) as usize;
        excess -= step;
    }
    lens
}

fn time_s(iters: usize, mut f: impl FnMut()) -> f64 {
    f();
    f();
    let t0 = Instant::now();
    for _ in 0..iters {
        f();
    }
    t0.elapsed().as_secs_f64() / iters as f64
}

fn main() {
    let cfg = Config::from_json(&config_json(Shape::BscBioEhrEs).to_string(), Path::new("config.json")).unwrap();
    if !roberta_gpu::driver_present() {
        println!("gpu_forward bench skipped: no CUDA driver");
        return;
    }
    let raw = random_tensors(Shape::BscBioEhrEs).into_iter().map(|(n, t)| (n, Arc::new(t))).collect();
    let w = Weights::from_named(raw, Path::new("random-bsc-bio-ehr-es"));
    let opts = roberta_encoder::CudaOptions { gpu: roberta_gpu::GpuOptions::from_env(), ..Default::default() };
    let m = match CudaModel::load_with(&cfg, &w, &opts) {
        Ok(m) => m,
        Err(EncoderError::Cuda(e)) => {
            println!("gpu_forward bench skipped: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    println!("device: {}", m.describe());
    let mut c = Criterion::default().configure_from_args();
    let mut g = c.benchmark_group("gpu_forward");
    let cases: [(&str, Vec<usize>); 3] = [("1x128", vec![128]), ("32x128", vec![128; 32]), ("32xmixed64", mixed_lengths())];
    for (name, lens) in &cases {
        let (ids, mask, t) = batch(lens);
        let input = BatchInput { token_type_ids: None, input_ids: &ids, attention_mask: &mask, batch: lens.len(), seq_len: t };
        let tokens: usize = lens.iter().sum();
        let fl = flops(&cfg, lens);
        let report = |what: &str, s: f64, stats: roberta_encoder::ForwardStats| {
            println!(
                "{name} {what}: {:.3} ms, {:.0} tokens/s, {:.1} TFLOP/s ({:.2} GFLOP), {} kernels, {} host launches{}",
                s * 1e3, tokens as f64 / s, fl / s / 1e12, fl / 1e9, stats.kernels, stats.launches,
                if stats.graph { " (CUDA graph)" } else { "" }
            )
        };
        m.set_graphs(true);
        let s = time_s(20, || drop(m.forward(&input, false).unwrap()));
        report("graph", s, m.last_stats());
        m.set_graphs(false);
        let s = time_s(20, || drop(m.forward(&input, false).unwrap()));
        report("eager", s, m.last_stats());
        if lens.iter().any(|&l| l != t) {
            let s = time_s(20, || drop(m.forward_layout(&input, false, Layout::Padded).unwrap()));
            report("padded (peer)", s, m.last_stats());
        }
        m.set_graphs(true);
        g.throughput(Throughput::Elements(tokens as u64));
        g.bench_function(*name, |bn| bn.iter(|| m.forward(&input, false).unwrap()));
    }
    g.finish();
    c.final_summary();
}
