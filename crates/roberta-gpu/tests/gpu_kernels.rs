//! Every kernel against its CPU reference (roberta_gpu::reference) on random inputs of odd shapes, outputs
//! poisoned with NaN first so an unwritten element fails. Skipped, with the reason printed, without a GPU.
use roberta_gpu::{reference as r, EmbeddingTables, Epilogue, GemmAlgo, GemmTile, GemmVersion, Gpu};
use half::f16;

fn gpu() -> Option<Gpu> {
    match Gpu::new(0) {
        Ok(g) => Some(g),
        Err(e) => {
            println!("skipped: {e}");
            None
        }
    }
}

/// Deterministic uniform values in [-s, s], already rounded to f16 (what the kernel sees).
fn rand(n: usize, seed: u64, s: f32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let u = ((x >> 40) as f32) / (1u64 << 24) as f32;
            f16::from_f32((2.0 * u - 1.0) * s).to_f32()
        })
        .collect()
}

fn h(v: &[f32]) -> Vec<f16> {
    v.iter().map(|&x| f16::from_f32(x)).collect()
}

/// A device buffer of n NaNs.
fn poisoned(g: &Gpu, n: usize) -> cudarc::driver::CudaSlice<f16> {
    g.upload(&vec![f16::NAN; n]).unwrap()
}

/// |got − ref| ≤ atol + rtol·|ref| everywhere (non-finite references skipped); prints the first mismatches.
#[allow(clippy::neg_cmp_op_on_partial_ord)] // a NaN must fail the comparison
fn check(what: &str, got: &[f16], want: &[f32], atol: f32) {
    const RTOL: f32 = 2e-3; // f16: 2⁻¹⁰ ≈ 1e-3 per rounding, two roundings at most
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut bad = 0;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        if !w.is_finite() {
            continue;
        }
        let g = g.to_f32();
        if !((g - w).abs() <= atol + RTOL * w.abs()) {
            if bad < 10 {
                println!("{what}: [{i}] got {g}, want {w}");
            }
            bad += 1;
        }
    }
    assert_eq!(bad, 0, "{what}: {bad} of {} elements out of tolerance", want.len());
}

#[test]
fn gemm_every_version_tile_and_epilogue() {
    let Some(g) = gpu() else { return };
    for &(m, n, k) in &[(1, 64, 64), (77, 136, 72), (131, 768, 768), (200, 256, 3072), (129, 2304, 768)] {
        let a = rand(m * k, 1, 1.0);
        let w = rand(n * k, 2, 1.0 / (k as f32).sqrt());
        let bias = rand(n, 3, 0.5);
        let res = rand(m * n, 4, 1.0);
        let (da, dw, db, dr) = (g.upload(&h(&a)).unwrap(), g.upload(&h(&w)).unwrap(), g.upload(&h(&bias)).unwrap(), g.upload(&h(&res)).unwrap());
        for version in [GemmVersion::V1, GemmVersion::V2] {
            for tile in [GemmTile::T128, GemmTile::T64] {
                for epi in [Epilogue::Bias, Epilogue::Gelu, Epilogue::Residual] {
                    let want = r::gemm(&a, &w, Some(&bias), Some(&res), epi, m, n, k);
                    let mut dc = poisoned(&g, m * n);
                    g.gemm(GemmAlgo { version, tile }, epi, &da, &dw, Some(&db), Some(&dr), &mut dc, (m, n, k)).unwrap();
                    check(&format!("gemm {version:?} {tile:?} {epi:?} {m}x{n}x{k}"), &g.download(&dc).unwrap(), &want, 1e-2);
                }
            }
        }
        // no bias
        let want = r::gemm(&a, &w, None, None, Epilogue::Bias, m, n, k);
        let mut dc = poisoned(&g, m * n);
        g.gemm(g.gemm_algo(m, n), Epilogue::Bias, &da, &dw, None, None, &mut dc, (m, n, k)).unwrap();
        check(&format!("gemm no bias {m}x{n}x{k}"), &g.download(&dc).unwrap(), &want, 1e-2);
    }
}

#[test]
fn gemm_rejects_bad_shapes() {
    let Some(g) = gpu() else { return };
    let a = g.zeros::<f16>(64).unwrap();
    let mut c = g.zeros::<f16>(64).unwrap();
    assert!(g.gemm(g.gemm_algo(1, 8), Epilogue::Bias, &a, &a, None, None, &mut c, (1, 8, 12)).is_err());
    assert!(g.gemm(g.gemm_algo(9, 8), Epilogue::Bias, &a, &a, None, None, &mut c, (9, 8, 8)).is_err());
}

#[test]
fn attention_varlen_and_masked() {
    let Some(g) = gpu() else { return };
    let heads = 3;
    let hidden = heads * 64;
    let lens = [1usize, 7, 129, 512, 64];
    let off = g.seq_offsets(&lens).unwrap();
    let tokens = off.tokens();
    let qkv = rand(tokens * 3 * hidden, 5, 1.0);
    // mask: sequence 1 fully masked, sequence 2 every third key masked
    let mut mask = vec![1u8; tokens];
    for (b, w) in off.host.windows(2).enumerate() {
        for (i, m) in mask[w[0] as usize..w[1] as usize].iter_mut().enumerate() {
            if b == 1 || (b == 2 && i % 3 == 0) {
                *m = 0;
            }
        }
    }
    let dqkv = g.upload(&h(&qkv)).unwrap();
    let dmask = g.upload(&mask).unwrap();
    for m in [None, Some(&mask)] {
        let want = r::attention(&qkv, &off.host, m.map(|v| v.as_slice()), heads, 0.125);
        let mut out = poisoned(&g, tokens * hidden);
        g.attention(&dqkv, &mut out, &off, m.map(|_| &dmask), heads, 0.125).unwrap();
        let got = g.download(&out).unwrap();
        check(&format!("attention mask={}", m.is_some()), &got, &want, 5e-3);
        if m.is_some() {
            assert!(got[hidden..8 * hidden].iter().all(|x| x.to_f32() == 0.0), "fully masked rows are zeros");
        }
    }
}

#[test]
fn attention_head_dims_32_and_16() {
    let Some(g) = gpu() else { return };
    let lens = [1usize, 70, 3, 130];
    let off = g.seq_offsets(&lens).unwrap();
    let tokens = off.tokens();
    let mut mask = vec![1u8; tokens];
    mask[off.host[3] as usize + 5] = 0;
    let dmask = g.upload(&mask).unwrap();
    for (d, heads) in [(32usize, 4usize), (16, 4)] {
        let hidden = heads * d;
        let qkv = rand(tokens * 3 * hidden, 11 + d as u64, 1.0);
        let dqkv = g.upload(&h(&qkv)).unwrap();
        let scale = 1.0 / (d as f32).sqrt();
        for m in [None, Some(&mask)] {
            let want = r::attention_d(&qkv, &off.host, m.map(|v| v.as_slice()), heads, d, scale);
            let mut out = poisoned(&g, tokens * hidden);
            g.attention_d(&dqkv, &mut out, &off, m.map(|_| &dmask), heads, d, scale).unwrap();
            check(&format!("attention d={d} mask={}", m.is_some()), &g.download(&out).unwrap(), &want, 5e-3);
        }
    }
    let mut out = poisoned(&g, tokens * 48 * 3);
    let qkv = g.upload(&vec![f16::ZERO; tokens * 3 * 48 * 3]).unwrap();
    assert!(g.attention_d(&qkv, &mut out, &off, None, 3, 48, 0.1).is_err(), "head dim 48 is rejected");
}

#[test]
fn softmax_rows_baseline() {
    let Some(g) = gpu() else { return };
    let (b, hd, t) = (2, 2, 37);
    let s = rand(b * hd * t * t, 6, 4.0);
    let mut mask = vec![1u8; b * t];
    mask[t..].iter_mut().for_each(|m| *m = 0); // batch 1 fully masked
    mask[3] = 0;
    let want = r::softmax_rows(&s, Some(&mask), b, hd, t, 0.5);
    let mut ds = g.upload(&h(&s)).unwrap();
    let dm = g.upload(&mask).unwrap();
    g.softmax_rows(&mut ds, Some(&dm), (b, hd, t), 0.5).unwrap();
    check("softmax_rows", &g.download(&ds).unwrap(), &want, 2e-3);
}

#[test]
fn layer_norm_with_and_without_residual() {
    let Some(g) = gpu() else { return };
    for &(rows, hd) in &[(1, 8), (133, 768), (7, 1024), (5, 200)] {
        let a = rand(rows * hd, 7, 3.0);
        let res = rand(rows * hd, 8, 1.0);
        let gamma = rand(hd, 9, 1.0);
        let beta = rand(hd, 10, 0.5);
        let (da, dr, dg, db) = (g.upload(&h(&a)).unwrap(), g.upload(&h(&res)).unwrap(), g.upload(&h(&gamma)).unwrap(), g.upload(&h(&beta)).unwrap());
        for with_res in [false, true] {
            let want = r::layer_norm(&a, with_res.then_some(res.as_slice()), &gamma, &beta, hd, 1e-5);
            let mut out = poisoned(&g, rows * hd);
            g.layer_norm(&da, with_res.then_some(&dr), &dg, &db, &mut out, (rows, hd), 1e-5).unwrap();
            check(&format!("layer_norm {rows}x{hd} res={with_res}"), &g.download(&out).unwrap(), &want, 1e-2);
        }
        let mut x = g.upload(&h(&a)).unwrap();
        g.layer_norm_inplace(&mut x, Some(&dr), &dg, &db, (rows, hd), 1e-5).unwrap();
        let want = r::layer_norm(&a, Some(&res), &gamma, &beta, hd, 1e-5);
        check(&format!("layer_norm_inplace {rows}x{hd}"), &g.download(&x).unwrap(), &want, 1e-2);
    }
}

#[test]
fn embeddings_positions_and_layer_norm() {
    let Some(g) = gpu() else { return };
    let (hd, vocab, max_pos, pad) = (768, 300, 514, 1);
    let lens = [1usize, 7, 129, 512];
    let off = g.seq_offsets(&lens).unwrap();
    let tokens = off.tokens();
    let mut ids: Vec<i32> = rand(tokens, 11, 1.0).iter().map(|x| ((x + 1.0) * 149.0) as i32).collect();
    ids[3] = pad; // a pad id inside sequence 1: position pad, later ones not counted
    ids[10] = pad;
    let word = rand(vocab * hd, 12, 1.0);
    let pos = rand(max_pos * hd, 13, 1.0);
    let ty = rand(hd, 14, 1.0);
    let gamma = rand(hd, 15, 1.0);
    let beta = rand(hd, 16, 0.5);
    let tables = EmbeddingTables {
        word: g.upload(&h(&word)).unwrap(),
        pos: g.upload(&h(&pos)).unwrap(),
        token_type: g.upload(&h(&ty)).unwrap(),
        gamma: g.upload(&h(&gamma)).unwrap(),
        beta: g.upload(&h(&beta)).unwrap(),
        hidden: hd,
    };
    let want = r::embeddings(&ids, None, &off.host, &word, &pos, &ty, &gamma, &beta, hd, pad, 1e-5);
    let dids = g.upload(&ids).unwrap();
    let mut out = poisoned(&g, tokens * hd);
    g.embeddings(&dids, None, &off, &tables, &mut out, pad, 1e-5).unwrap();
    check("embeddings", &g.download(&out).unwrap(), &want, 1e-2);
}

#[test]
fn pack_unpack_round_trip() {
    let Some(g) = gpu() else { return };
    let (t, hd) = (131, 72);
    let lens = [131usize, 1, 0, 60];
    let off = g.seq_offsets(&lens).unwrap();
    let padded = rand(lens.len() * t * hd, 17, 2.0);
    let dp = g.upload(&h(&padded)).unwrap();
    let mut packed = poisoned(&g, off.tokens() * hd);
    g.pack(&dp, &off, &mut packed, t, hd).unwrap();
    let want = r::pack(&padded, &off.host, t, hd);
    check("pack", &g.download(&packed).unwrap(), &want, 0.0);
    let mut back = poisoned(&g, lens.len() * t * hd);
    g.unpack(&packed, &off, &mut back, t, hd).unwrap();
    check("unpack", &g.download(&back).unwrap(), &r::unpack(&want, &off.host, t, hd), 0.0);
}

#[test]
fn context_creation_reports_instead_of_panicking() {
    match Gpu::new(1000) {
        Ok(_) => panic!("device 1000 should not exist"),
        Err(e) => println!("Gpu::new(1000): {e}"),
    }
}

#[test]
fn kernels_compile_for_v100_and_h100() {
    if !roberta_gpu::nvrtc_present() {
        println!("skipped: libnvrtc not found (cargo xtask check-kernels runs this check with the PyPI wheel)");
        return;
    }
    if std::env::var_os("ROBERTA_CUBIN_DIR").is_some() {
        println!("skipped: precompiled cubins in use (a CUDA 13 NVRTC there cannot build sm_70)");
        return;
    }
    for (file, src, _) in roberta_gpu::KERNEL_FILES {
        for sm in [70, 90] {
            let c = roberta_gpu::compile(file, src, roberta_gpu::Target::Cubin(sm), &[]);
            assert!(c.is_ok(), "{file} sm_{sm}: {}", c.err().map(|e| e.to_string()).unwrap_or_default());
        }
    }
}
