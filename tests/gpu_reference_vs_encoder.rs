//! roberta-gpu's CPU references agree with the CPU encoder's ops (roberta_encoder::ops), so the kernels,
//! held to the references, compute what the CPU path computes.
use roberta_gpu::{reference as r, Epilogue};

fn vals(n: usize, seed: u32) -> Vec<f32> {
    (0..n).map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 2001) as f32 / 1000.0 - 1.0).collect()
}

fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{what} [{i}]: {x} vs {y}");
    }
}

#[test]
fn gemm_gelu_layer_norm_match_the_cpu_encoder_ops() {
    let (m, n, k) = (13, 40, 24);
    let (a, w, b) = (vals(m * k, 1), vals(n * k, 2), vals(n, 3));
    let mut cpu = vec![0f32; m * n];
    roberta_encoder::ops::linear_into(&a, m, &w, n, Some(&b), &mut cpu);
    close(&r::gemm(&a, &w, Some(&b), None, Epilogue::Bias, m, n, k), &cpu, 1e-5, "linear");
    roberta_encoder::ops::gelu_inplace(&mut cpu);
    close(&r::gemm(&a, &w, Some(&b), None, Epilogue::Gelu, m, n, k), &cpu, 1e-5, "gelu");
    let (g, bt) = (vals(n, 4), vals(n, 5));
    let x = vals(m * n, 6);
    let mut y = x.clone();
    roberta_encoder::ops::layer_norm_inplace(&mut y, n, &g, &bt, 1e-5);
    close(&r::layer_norm(&x, None, &g, &bt, n, 1e-5), &y, 1e-5, "layer_norm");
}
