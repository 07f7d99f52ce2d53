//! Times training steps (forward with dropout, backward, clip_grad_norm_, AdamW) on random batches:
//! `cargo run --release -p roberta-train --example train_step -- DIR [BATCH] [SEQ] [STEPS]`. Prints one JSON line
//! {"ms_per_step", "tokens_per_s", "peak_rss_mb"}; `cargo xtask train-bench` runs it beside PyTorch.
use roberta_train::adamw::{clip_grad_norm, AdamW};
use roberta_train::model::{Batch, Model, Task};
use std::time::Instant;

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(a.get(1).expect("model directory"));
    let batch: usize = a.get(2).and_then(|s| s.parse().ok()).unwrap_or(16);
    let seq: usize = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(128);
    let steps: usize = a.get(4).and_then(|s| s.parse().ok()).unwrap_or(5);
    let labels: Vec<String> = (0..7).map(|i| format!("L{i}")).collect();
    let mut m = Model::load(&dir, Task::Token, labels, 1).expect("load");
    let vocab = m.config.vocab_size as u64;
    let n = batch * seq;
    let ids: Vec<u32> = (0..n).map(|i| if i % seq == 0 { 0 } else { 3 + (roberta_train::ops::uniform(5, 1, i as u64) as f64 * (vocab - 3) as f64) as u32 }).collect();
    let labels: Vec<i64> = (0..n).map(|i| if i % seq == 0 { -100 } else { (roberta_train::ops::uniform(5, 2, i as u64) * 7.0) as i64 % 7 }).collect();
    let b = Batch { ids, mask: vec![1; n], labels, batch, seq };
    let mut opt = AdamW::new(&m.params, 0.01);
    let mut step = |m: &mut Model, s: usize| {
        m.zero_grad();
        let c = m.forward(&b, true, 42, s as u64);
        let (loss, _) = m.backward(&b, &c);
        drop(c);
        clip_grad_norm(&mut m.params, 1.0);
        opt.step(&mut m.params, 5e-5);
        loss
    };
    step(&mut m, 0); // warm-up
    let t0 = Instant::now();
    let mut loss = 0.0;
    for s in 0..steps {
        loss = step(&mut m, s + 1);
    }
    let ms = t0.elapsed().as_secs_f64() * 1e3 / steps as f64;
    println!(
        "{}",
        serde_json::json!({ "engine": "roberta-train", "batch": batch, "seq": seq, "steps": steps, "ms_per_step": ms,
            "tokens_per_s": n as f64 / (ms / 1e3), "peak_rss_mb": peak_rss_mb(), "loss": loss })
    );
}
