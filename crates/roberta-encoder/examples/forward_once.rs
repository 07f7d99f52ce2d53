//! Loads a model directory and runs the CPU forward (f32, or `ROBERTA_DTYPE=int8`) on one deterministic batch, printing the time of
//! each forward: for profiling (`perf record`) and for the peak-memory figure in benches/RESULTS.md
//! (`/usr/bin/time -v`, "Maximum resident set size").
//!
//! `cargo run --release -p roberta-encoder --example forward_once -- DIR [BATCH] [SEQ_LEN] [ITERS]`
use roberta_encoder::{BatchInput, Config, RobertaModel, Weights};
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect("usage: forward_once DIR [BATCH] [SEQ_LEN] [ITERS]"));
    let mut num = |d: usize| args.next().map_or(d, |s| s.parse().expect("a number"));
    let (b, t, iters) = (num(8), num(128), num(1));
    let cfg = Config::from_file(&dir.join("config.json")).unwrap();
    let t0 = Instant::now();
    // ROBERTA_LOAD=weights: the whole checkpoint as `Weights` first, then `RobertaModel::load` (two copies
    // at the peak); default: `RobertaModel::load_dir`, tensor by tensor from the file.
    let model = if std::env::var("ROBERTA_LOAD").is_ok_and(|v| v == "weights") {
        let w = Weights::load_dir(&dir).unwrap();
        RobertaModel::load(&cfg, &w).unwrap()
    } else {
        // ROBERTA_DTYPE=int8: the int8 linear layers (and ROBERTA_INT8_KERNEL etc. as the runner reads them)
        let dtype = std::env::var("ROBERTA_DTYPE").map_or(roberta_encoder::CpuDType::F32, |d| d.parse().unwrap());
        let opts = roberta_encoder::CpuOptions { dtype, ..roberta_encoder::CpuOptions::from_env().unwrap() };
        RobertaModel::load_dir_with(&cfg, &dir, &opts).unwrap()
    };
    eprintln!("load: {:.2} s", t0.elapsed().as_secs_f64());
    let ids: Vec<u32> = (0..b * t)
        .map(|i| match i % t {
            0 => cfg.bos_token_id,
            p if p == t - 1 => cfg.eos_token_id,
            _ => 3 + (i as u32).wrapping_mul(7919) % (cfg.vocab_size as u32 - 3),
        })
        .collect();
    let mask = vec![1u32; b * t];
    let input = BatchInput { token_type_ids: None, input_ids: &ids, attention_mask: &mask, batch: b, seq_len: t };
    for _ in 0..iters {
        let t0 = Instant::now();
        let out = model.forward(&input, false).unwrap();
        eprintln!("forward {b}×{t}: {:.1} ms (checksum {:.4})", t0.elapsed().as_secs_f64() * 1e3, out.last_hidden_state.iter().map(|v| *v as f64).sum::<f64>());
    }
}
