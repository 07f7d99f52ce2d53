//! Times the packed linear layers on the encoder's four GEMM shapes (rows × in → out), best of N calls,
//! wall clock, on rayon's default pool: for tuning `matmul.rs`.
//!
//! `cargo run --release -p roberta-encoder --example gemm_shapes -- [ROWS] [REPS] [f32|avx512vnni|avxvnni|avx2|portable]`
//! (the last: f32, or int8 weights on that int8 kernel).
use roberta_encoder::matmul::PackedLinear;
use roberta_encoder::qmatmul::{Int8Kernel, QLinear};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: usize = args.next().map_or(1024, |s| s.parse().unwrap());
    let reps: usize = args.next().map_or(20, |s| s.parse().unwrap());
    let kernel: Option<Int8Kernel> = args.next().filter(|s| s != "f32").map(|s| s.parse().unwrap());
    let mut total = 0.0;
    let mut total_flops = 0.0;
    for (inp, out, gelu, weight) in [(768, 2304, false, 1.0), (768, 768, false, 1.0), (768, 3072, true, 1.0), (3072, 768, false, 1.0)] {
        let x: Vec<f32> = (0..rows * inp).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.01).collect();
        let w: Vec<f32> = (0..out * inp).map(|i| ((i * 53 % 97) as f32 - 48.0) * 0.001).collect();
        let b: Vec<f32> = (0..out).map(|i| i as f32 * 0.01).collect();
        let q = kernel.map(|k| QLinear::new(&w, out, Some(&b), k));
        let lin = PackedLinear::new(w, out, Some(b));
        let mut y = vec![0.0f32; rows * out];
        let mut best = f64::INFINITY;
        for _ in 0..reps {
            let t0 = Instant::now();
            if let Some(q) = &q {
                q.forward_into(&x, rows, &mut y);
                if gelu {
                    roberta_encoder::ops::gelu_inplace(&mut y);
                }
            } else if gelu {
                lin.forward_gelu_into(&x, rows, &mut y);
            } else {
                lin.forward_into(&x, rows, &mut y);
            }
            best = best.min(t0.elapsed().as_secs_f64());
        }
        let fl = 2.0 * (rows * inp * out) as f64;
        total += best * weight;
        total_flops += fl;
        println!("{rows}×{inp}→{out}{}: {:.2} ms, {:.0} GFLOP/s (checksum {:.3})", if gelu { " +gelu" } else { "" }, best * 1e3, fl / best / 1e9, y.iter().map(|&v| v as f64).sum::<f64>());
    }
    println!("all four: {:.2} ms per layer, {:.0} GFLOP/s", total * 1e3, total_flops / total / 1e9);
}
