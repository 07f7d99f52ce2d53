//! Tests of the CPU references: hand-checkable cases and naive formulas.
use super::*;

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "[{i}] {x} vs {y}");
    }
}

#[test]
fn erf_matches_known_values() {
    // Abramowitz & Stegun table values.
    for (x, e) in [(0.0, 0.0), (0.5, 0.520_499_877_813_046_5), (1.0, 0.842_700_792_949_714_9),
        (2.0, 0.995_322_265_018_952_7), (3.0, 0.999_977_909_503_001_4), (4.0, 0.999_999_984_582_742_1)]
    {
        assert!((erf(x) - e).abs() < 1e-12, "erf({x}) = {} vs {e}", erf(x));
        assert!((erf(-x) + e).abs() < 1e-12);
    }
    // slope there is 2/√π·e⁻⁹ ≈ 1.4e-4, so a 2e-6 step moves erf by ≈ 2.8e-10
    assert!((erf(3.000_001) - erf(2.999_999)).abs() < 1e-9, "continuous at the switch");
}

#[test]
fn gelu_values() {
    assert_eq!(gelu(0.0), 0.0);
    assert!((gelu(1.0) - 0.841_344_7).abs() < 1e-6);
    assert!((gelu(-1.0) + 0.158_655_25).abs() < 1e-6);
    assert!((gelu(10.0) - 10.0).abs() < 1e-6 && gelu(-10.0).abs() < 1e-6);
}

#[test]
fn gemm_by_hand() {
    // a = [[1,2],[3,4]], w = [[1,0],[1,1],[0,2]] (N=3, K=2) → a·wᵀ = [[1,3,4],[3,7,8]]
    let a = [1.0, 2.0, 3.0, 4.0];
    let w = [1.0, 0.0, 1.0, 1.0, 0.0, 2.0];
    let b = [0.5, -1.0, 0.0];
    assert_eq!(gemm(&a, &w, Some(&b), None, Epilogue::Bias, 2, 3, 2), vec![1.5, 2.0, 4.0, 3.5, 6.0, 8.0]);
    assert_eq!(gemm(&a, &w, None, None, Epilogue::Bias, 2, 3, 2), vec![1.0, 3.0, 4.0, 3.0, 7.0, 8.0]);
    let r = [1.0; 6];
    assert_eq!(gemm(&a, &w, Some(&b), Some(&r), Epilogue::Residual, 2, 3, 2), vec![2.5, 3.0, 5.0, 4.5, 7.0, 9.0]);
    let g = gemm(&a, &w, Some(&b), None, Epilogue::Gelu, 2, 3, 2);
    close(&g, &[1.5, 2.0, 4.0, 3.5, 6.0, 8.0].map(gelu), 0.0);
}

#[test]
fn attention_one_key_copies_its_value_and_masked_rows_are_zero() {
    // heads 1, two sequences: [1 token], [2 tokens with the second key masked].
    let hidden = 64;
    let mut qkv = vec![0f32; 3 * 3 * hidden];
    for t in 0..3 {
        for c in 0..hidden {
            qkv[t * 3 * hidden + c] = 0.1 * c as f32; // q
            qkv[t * 3 * hidden + hidden + c] = (t + c) as f32 * 0.01; // k
            qkv[t * 3 * hidden + 2 * hidden + c] = (t * 100 + c) as f32; // v
        }
    }
    let off = [0, 1, 3];
    let mask = [1u8, 1, 0];
    let o = attention(&qkv, &off, Some(&mask), 1, 64, 0.125);
    for c in 0..hidden {
        assert_eq!(o[c], c as f32); // only key: its value
        assert_eq!(o[hidden + c], (100 + c) as f32); // key 2 masked: value of token 1
        assert_eq!(o[2 * hidden + c], (100 + c) as f32);
    }
    let all_masked = attention(&qkv, &off, Some(&[0, 0, 0]), 1, 64, 0.125);
    assert!(all_masked.iter().all(|&x| x == 0.0));
}

#[test]
fn attention_matches_the_naive_matrix_formula() {
    // One sequence of 3, one head: softmax(QKᵀ·s)·V from explicit matrices.
    let (t, d, hidden) = (3, 64, 64);
    let f = |i: usize| ((i * 37 % 23) as f32 - 11.0) / 11.0;
    let qkv: Vec<f32> = (0..t * 3 * hidden).map(f).collect();
    let at = |r: usize, part: usize, c: usize| qkv[r * 3 * hidden + part * hidden + c];
    let o = attention(&qkv, &[0, t as i32], None, 1, 64, 0.125);
    for i in 0..t {
        let s: Vec<f64> = (0..t).map(|j| (0..d).map(|c| at(i, 0, c) as f64 * at(j, 1, c) as f64).sum::<f64>() * 0.125).collect();
        let z: f64 = s.iter().map(|x| x.exp()).sum();
        for c in 0..d {
            let e: f64 = (0..t).map(|j| s[j].exp() / z * at(j, 2, c) as f64).sum();
            assert!((o[i * hidden + c] as f64 - e).abs() < 1e-5, "{i},{c}");
        }
    }
}

#[test]
fn softmax_rows_masks_and_zeroes() {
    let s = [0.0, 0.0, 5.0, 1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    // batch 2, heads 1, T 2: rows [0,0] [5,1] of batch 0; [2,3] [0,0] of batch 1 (mask 1,0 / 0,0)
    let s = &s[..8];
    let out = softmax_rows(s, Some(&[1, 1, 0, 0]), 2, 1, 2, 1.0);
    close(&out[..4], &[0.5, 0.5, 0.982_013_8, 0.017_986_2], 1e-6);
    assert_eq!(&out[4..], &[0.0; 4]);
}

#[test]
fn layer_norm_by_hand() {
    // [1,2,3,4] + [1,1,1,1]: mean 3.5, var 1.25
    let o = layer_norm(&[1.0, 2.0, 3.0, 4.0], Some(&[1.0; 4]), &[1.0, 2.0, 1.0, 1.0], &[0.0, 0.0, 0.0, 1.0], 4, 0.0);
    let r = 1.0 / 1.25f32.sqrt();
    close(&o, &[-1.5 * r, -0.5 * r * 2.0, 0.5 * r, 1.5 * r + 1.0], 1e-6);
}

#[test]
fn positions_follow_hf() {
    // HF: create_position_ids_from_input_ids([[0, 5, 6, 2, 1, 1]], padding_idx=1) = [[2,3,4,5,1,1]]
    assert_eq!(position_ids(&[0, 5, 6, 2, 1, 1], 1), vec![2, 3, 4, 5, 1, 1]);
    assert_eq!(position_ids(&[1, 0, 2], 1), vec![1, 2, 3]);
}

#[test]
fn embeddings_sum_then_normalize() {
    let h = 2;
    let word = [1.0, 3.0, 0.0, 0.0, 10.0, 20.0]; // 3 ids
    let pos = [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 2.0, 4.0]; // 4 positions
    let ty = [0.5, 0.5];
    let out = embeddings(&[0, 2], None, &[0, 2], &word, &pos, &ty, &[1.0, 1.0], &[0.0, 0.0], h, 1, 0.0);
    // token 0: pos 2 → [1,3]+[1,1]+.5 → [2.5,4.5] → [-1,1]; token 1: pos 3 → [12,24]+.5 → [-1,1]
    close(&out, &[-1.0, 1.0, -1.0, 1.0], 1e-6);
}

#[test]
fn pack_then_unpack_round_trips() {
    let (t, h) = (3, 2);
    let padded: Vec<f32> = (0..2 * t * h).map(|x| x as f32).collect();
    let off = crate::seq_offsets(&[2, 1]);
    assert_eq!(off, vec![0, 2, 3]);
    let p = pack(&padded, &off, t, h);
    assert_eq!(p, vec![0.0, 1.0, 2.0, 3.0, 6.0, 7.0]);
    let u = unpack(&p, &off, t, h);
    assert_eq!(u, vec![0.0, 1.0, 2.0, 3.0, 0.0, 0.0, 6.0, 7.0, 0.0, 0.0, 0.0, 0.0]);
}
