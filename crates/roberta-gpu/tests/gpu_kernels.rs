//! Every kernel against its CPU reference (roberta_gpu::reference) on random inputs of odd shapes, outputs
//! poisoned with NaN first so an unwritten element fails.
//!
//! A test that needs a device skips (printing a line with `skipped:` and the reason) only when there is no
//! CUDA driver or no device (`Error::NoDriver` / `Error::NoDevice`); any other error (NVRTC, module load,
//! launch) fails it. With `ROBERTA_REQUIRE_GPU=1` (the emulated driver and the device bundle set it) a skip
//! fails too.
use roberta_gpu::{reference as r, EmbeddingTables, Epilogue, Error, GemmAlgo, GemmTile, GemmVersion, Gpu};
use half::f16;

/// Whether a GPU test must not skip: `ROBERTA_REQUIRE_GPU` set (to anything but "" or "0").
fn gpu_required() -> bool {
    std::env::var("ROBERTA_REQUIRE_GPU").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// A skip: prints `skipped: {why}`, or panics under `ROBERTA_REQUIRE_GPU=1`.
fn skip(why: &str) {
    assert!(!gpu_required(), "ROBERTA_REQUIRE_GPU=1 but {why}");
    println!("skipped: {why}");
}

/// Device 0, or None (skipped, reason printed) when there is no driver or no device; any other error panics.
fn gpu() -> Option<Gpu> {
    match Gpu::with_options(0, &roberta_gpu::GpuOptions::from_env()) {
        Ok(g) => Some(g),
        Err(e @ (Error::NoDriver | Error::NoDevice { .. })) => {
            skip(&e.to_string());
            None
        }
        Err(e) => panic!("Gpu::new(0) failed for another reason than a missing driver or device: {e}"),
    }
}

/// Whether a CUDA driver loads and reports at least one device (asked without opening one).
fn device_present() -> bool {
    roberta_gpu::driver_present() && cudarc::driver::CudaContext::device_count().is_ok_and(|n| n > 0)
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

/// One GEMM shape through every version × tile × epilogue, and the default choice without bias.
fn gemm_case(g: &Gpu, m: usize, n: usize, k: usize) {
    let a = rand(m * k, 1, 1.0);
    let w = rand(n * k, 2, 1.0 / (k as f32).sqrt());
    let bias = rand(n, 3, 0.5);
    let res = rand(m * n, 4, 1.0);
    let (da, dw, db, dr) = (g.upload(&h(&a)).unwrap(), g.upload(&h(&w)).unwrap(), g.upload(&h(&bias)).unwrap(), g.upload(&h(&res)).unwrap());
    for version in [GemmVersion::V1, GemmVersion::V2] {
        for tile in [GemmTile::T128, GemmTile::T64] {
            for epi in [Epilogue::Bias, Epilogue::Gelu, Epilogue::Residual] {
                let want = r::gemm(&a, &w, Some(&bias), Some(&res), epi, m, n, k);
                let mut dc = poisoned(g, m * n);
                g.gemm(GemmAlgo { version, tile }, epi, &da, &dw, Some(&db), Some(&dr), &mut dc, (m, n, k)).unwrap();
                check(&format!("gemm {version:?} {tile:?} {epi:?} {m}x{n}x{k}"), &g.download(&dc).unwrap(), &want, 1e-2);
            }
        }
    }
    // no bias
    let want = r::gemm(&a, &w, None, None, Epilogue::Bias, m, n, k);
    let mut dc = poisoned(g, m * n);
    g.gemm(g.gemm_algo(m, n), Epilogue::Bias, &da, &dw, None, None, &mut dc, (m, n, k)).unwrap();
    check(&format!("gemm no bias {m}x{n}x{k}"), &g.download(&dc).unwrap(), &want, 1e-2);
}

#[test]
fn gemm_every_version_tile_and_epilogue() {
    let Some(g) = gpu() else { return };
    for &(m, n, k) in &[(1, 64, 64), (77, 136, 72), (131, 768, 768), (200, 256, 3072), (129, 2304, 768)] {
        gemm_case(&g, m, n, k);
    }
}

/// K ≤ 32: a single 32-wide K tile (nk = 1), so the pipeline's first iteration is also its last (no
/// prefetch of a next tile; on sm_80+ `cp_async_wait<0>` at once).
#[test]
fn gemm_k_up_to_32_is_one_k_tile() {
    let Some(g) = gpu() else { return };
    for k in [8, 16, 24, 32] {
        for m in [1, 3, 200] {
            gemm_case(&g, m, 136, k);
        }
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
        let want = r::attention(&qkv, &off.host, m.map(|v| v.as_slice()), heads, 64, 0.125);
        let mut out = poisoned(&g, tokens * hidden);
        g.attention(&dqkv, &mut out, &off, m.map(|_| &dmask), heads, 64, 0.125).unwrap();
        let got = g.download(&out).unwrap();
        check(&format!("attention mask={}", m.is_some()), &got, &want, 5e-3);
        if m.is_some() {
            // A query whose keys are all masked gets a zero context: what HF's default attention (sdpa)
            // computes; HF eager attention (and the CPU encoder) give uniform weights over all keys instead.
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
            let want = r::attention(&qkv, &off.host, m.map(|v| v.as_slice()), heads, d, scale);
            let mut out = poisoned(&g, tokens * hidden);
            g.attention(&dqkv, &mut out, &off, m.map(|_| &dmask), heads, d, scale).unwrap();
            check(&format!("attention d={d} mask={}", m.is_some()), &g.download(&out).unwrap(), &want, 5e-3);
        }
    }
    let mut out = poisoned(&g, tokens * 48 * 3);
    let qkv = g.upload(&vec![f16::ZERO; tokens * 3 * 48 * 3]).unwrap();
    assert!(g.attention(&qkv, &mut out, &off, None, 3, 48, 0.1).is_err(), "head dim 48 is rejected");
}

/// Inputs of [`attention_peaked`]: a packed batch of `lens` with head dim `d` (scale 1/√d), whose softmax
/// is far from uniform. q and k ~ U(±3) (score std ≈ 3: a spread max − min ≥ 10 over the keys of every row
/// of a long sequence), v ~ U(±1); q's dimension 0 is 3 in every row, so a key's dimension 0 shifts its
/// score in every row by `bonus` = 3·k₀/√d. Per sequence length:
/// - 200: a dominant key (bonus 10) at 150, in the third 64-key tile, so the running max jumps there
///   (rescale alpha ≪ 1); the odd keys of the last tile (193…199) are masked, with bonus 25 (a mask lost
///   there takes over the row).
/// - 512: a ramp, bonus 2.5 per 64-key tile (every tile raises the running max); the even keys of the
///   last tile from 480 on are masked, with bonus 40.
/// - 130: key 129, alone in the last tile with 128, masked with bonus 25.
/// - anything else (1, 7): plain.
///
/// Returns (qkv, key mask).
fn peaked_inputs(lens: &[usize], off: &[i32], heads: usize, d: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let hidden = heads * d;
    let tokens = *off.last().unwrap() as usize;
    let mut qkv = rand(tokens * 3 * hidden, seed, 3.0);
    let v = rand(tokens * hidden, seed + 1, 1.0);
    let mut mask = vec![1u8; tokens];
    let k0 = |bonus: f32| f16::from_f32(bonus * (d as f32).sqrt() / 3.0).to_f32();
    for (b, &len) in lens.iter().enumerate() {
        let base = off[b] as usize;
        for j in 0..len {
            let t = base + j;
            let bonus = match len {
                200 if j == 150 => Some(10.0),
                200 if j >= 192 && j % 2 == 1 => {
                    mask[t] = 0;
                    Some(25.0)
                }
                512 if j >= 480 && j % 2 == 0 => {
                    mask[t] = 0;
                    Some(2.5 * (j / 64) as f32 + 40.0)
                }
                512 => Some(2.5 * (j / 64) as f32),
                130 if j == 129 => {
                    mask[t] = 0;
                    Some(25.0)
                }
                _ => None,
            };
            let row = &mut qkv[t * 3 * hidden..(t + 1) * 3 * hidden];
            for head in 0..heads {
                row[head * d] = 3.0; // q₀
                if let Some(bonus) = bonus {
                    row[hidden + head * d] = k0(bonus);
                }
            }
            row[2 * hidden..].copy_from_slice(&v[t * hidden..(t + 1) * hidden]);
        }
    }
    (qkv, mask)
}

/// How peaked the reference softmax is, per (query, head) row over its unmasked keys: (the smallest score
/// spread max − min among rows of sequences of ≥ 130 tokens, the smallest online-softmax rescale factor
/// alpha = exp(m_old − m_new) over 64-key tiles, the share of rows of ≥ 130 tokens whose smallest alpha is
/// under 0.05).
fn softmax_shape(qkv: &[f32], off: &[i32], mask: Option<&[u8]>, heads: usize, d: usize, scale: f32) -> (f32, f32, f32) {
    let hidden = heads * d;
    let (mut spread_min, mut alpha_min, mut small, mut long_rows) = (f32::INFINITY, 1f32, 0usize, 0usize);
    for w in off.windows(2) {
        let (base, end) = (w[0] as usize, w[1] as usize);
        for head in 0..heads {
            for i in base..end {
                let q = &qkv[i * 3 * hidden + head * d..][..d];
                let (mut m, mut lo, mut hi, mut row_alpha) = (f32::NEG_INFINITY, f32::INFINITY, f32::NEG_INFINITY, 1f32);
                for tile in (base..end).collect::<Vec<_>>().chunks(64) {
                    let mut tm = f32::NEG_INFINITY;
                    for &j in tile.iter().filter(|&&j| mask.is_none_or(|mk| mk[j] != 0)) {
                        let k = &qkv[j * 3 * hidden + hidden + head * d..][..d];
                        let sc = scale * q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>();
                        tm = tm.max(sc);
                        lo = lo.min(sc);
                        hi = hi.max(sc);
                    }
                    if m.is_finite() && tm > m {
                        row_alpha = row_alpha.min((m - tm).exp());
                    }
                    m = m.max(tm);
                }
                alpha_min = alpha_min.min(row_alpha);
                if end - base >= 130 {
                    long_rows += 1;
                    spread_min = spread_min.min(hi - lo);
                    small += usize::from(row_alpha < 0.05);
                }
            }
        }
    }
    (spread_min, alpha_min, small as f32 / long_rows.max(1) as f32)
}

/// The largest per-row relative error ‖got − want‖₂ / ‖want‖₂ over rows of `width` (rows whose reference is
/// all zeros must be zeros; a NaN row is the worst), and the row.
#[allow(clippy::neg_cmp_op_on_partial_ord)] // a NaN must win
fn max_row_rel_err(got: &[f16], want: &[f32], width: usize) -> (f32, usize) {
    let mut worst = (0f32, 0usize);
    for (i, (g, w)) in got.chunks(width).zip(want.chunks(width)).enumerate() {
        let num: f32 = g.iter().zip(w).map(|(g, w)| (g.to_f32() - w).powi(2)).sum::<f32>().sqrt();
        let den: f32 = w.iter().map(|w| w * w).sum::<f32>().sqrt();
        let e = if den == 0.0 { if num == 0.0 { 0.0 } else { f32::INFINITY } } else { num / den };
        if !(e <= worst.0) {
            worst = (e, i);
        }
    }
    worst
}

/// Peaked softmax (see [`peaked_inputs`]) for head dim 64 and 32, 16 (`reference::attention`): sequences of 1, 7 and 130, 200, 512 tokens (several 64-key tiles), with and
/// without the key mask. Checks every element, and bounds the per-row (one query, one head) relative error.
#[test]
fn attention_peaked_softmax_rescale_and_late_masks() {
    const ROW_REL: f32 = 1e-2;
    let Some(g) = gpu() else { return };
    let lens = [130usize, 1, 200, 7, 512];
    let off = g.seq_offsets(&lens).unwrap();
    let tokens = off.tokens();
    for (d, heads) in [(64usize, 2usize), (32, 3), (16, 4)] {
        let hidden = heads * d;
        let scale = 1.0 / (d as f32).sqrt();
        let (qkv, mask) = peaked_inputs(&lens, &off.host, heads, d, 40 + d as u64);
        let (dqkv, dmask) = (g.upload(&h(&qkv)).unwrap(), g.upload(&mask).unwrap());
        for m in [Some(&mask), None] {
            let mk = m.map(|v| v.as_slice());
            let (spread, alpha, share) = softmax_shape(&qkv, &off.host, mk, heads, d, scale);
            let want = r::attention(&qkv, &off.host, mk, heads, d, scale);
            let mut out = poisoned(&g, tokens * hidden);
            g.attention(&dqkv, &mut out, &off, m.map(|_| &dmask), heads, d, scale).unwrap();
            let got = g.download(&out).unwrap();
            let what = format!("peaked attention d={d} mask={}", m.is_some());
            let (e, row) = max_row_rel_err(&got, &want, d);
            println!(
                "{what}: score spread ≥ {spread:.1} (rows of ≥ 130 tokens), smallest alpha {alpha:.1e}, \
                 {:.0}% of long rows with alpha < 0.05; per-row max rel err {e:.2e} (token {}, head {})",
                share * 100.0,
                row / heads,
                row % heads
            );
            assert!(spread >= 10.0 && alpha < 1e-3 && share > 0.2, "{what}: the inputs are not peaked enough");
            check(&what, &got, &want, 5e-3);
            assert!(e <= ROW_REL, "{what}: per-row relative error {e:e} at token {}, head {}", row / heads, row % heads);
        }
        // the masked keys matter: without the mask the long sequences' outputs are other ones
        let (a, b) = (
            r::attention(&qkv, &off.host, Some(&mask), heads, d, scale),
            r::attention(&qkv, &off.host, None, heads, d, scale),
        );
        let moved = a.chunks(hidden).zip(b.chunks(hidden)).filter(|(x, y)| x.iter().zip(*y).any(|(p, q)| (p - q).abs() > 0.1)).count();
        assert!(moved > 100, "d={d}: dropping the late-tile masks moves only {moved} rows");
    }
}

#[test]
fn softmax_rows_baseline() {
    let Some(g) = gpu() else { return };
    let (b, heads, t) = (2, 2, 37);
    let s = rand(b * heads * t * t, 6, 4.0);
    let mut mask = vec![1u8; b * t];
    mask[t..].iter_mut().for_each(|m| *m = 0); // batch 1 fully masked
    mask[3] = 0;
    let want = r::softmax_rows(&s, Some(&mask), b, heads, t, 0.5);
    let mut ds = g.upload(&h(&s)).unwrap();
    let dm = g.upload(&mask).unwrap();
    g.softmax_rows(&mut ds, Some(&dm), (b, heads, t), 0.5).unwrap();
    check("softmax_rows", &g.download(&ds).unwrap(), &want, 2e-3);
}

/// LayerNorm with the one-pass variance E[x²] − E[x]² in f32 (32 lane partial sums, then their sum): what
/// the kernel must not do. Used to show that the large-mean inputs below tell the two apart.
fn layer_norm_one_pass(a: &[f32], gamma: &[f32], beta: &[f32], h: usize, eps: f32) -> Vec<f32> {
    let mut out = a.to_vec();
    for row in out.chunks_mut(h) {
        let (mut s, mut s2) = ([0f32; 32], [0f32; 32]);
        for (i, &x) in row.iter().enumerate() {
            s[(i / 8) % 32] += x;
            s2[(i / 8) % 32] += x * x;
        }
        let mean = s.iter().sum::<f32>() / h as f32;
        let var = (s2.iter().sum::<f32>() / h as f32 - mean * mean).max(0.0);
        let rstd = 1.0 / (var + eps).sqrt();
        for ((x, g), b) in row.iter_mut().zip(gamma).zip(beta) {
            *x = (*x - mean) * rstd * g + b;
        }
    }
    out
}

/// Elements of `got` outside `check`'s tolerance.
#[allow(clippy::neg_cmp_op_on_partial_ord)] // a NaN counts as out
fn out_of_tolerance(got: &[f32], want: &[f32], atol: f32) -> usize {
    got.iter().zip(want).filter(|(g, w)| !((*g - *w).abs() <= atol + 2e-3 * w.abs())).count()
}

#[test]
fn layer_norm_with_and_without_residual() {
    let Some(g) = gpu() else { return };
    // (mean, half-width): centred inputs, and rows of mean 300 with a spread of ±1 (f16 steps of 0.25
    // there), where E[x²] − E[x]² in f32 cancels away most of the variance's digits (a one-pass variance
    // puts 5–45 % of the elements out of tolerance; at mean 100 it would still pass) and the kernel's
    // two-pass variance must not.
    for (mean, s) in [(0f32, 3f32), (300.0, 1.0)] {
        for &(rows, hd) in &[(1, 8), (133, 768), (7, 1024), (5, 200)] {
            let a: Vec<f32> = rand(rows * hd, 7, s).iter().map(|x| f16::from_f32(x + mean).to_f32()).collect();
            let res = rand(rows * hd, 8, 1.0);
            let gamma = rand(hd, 9, 1.0);
            let beta = rand(hd, 10, 0.5);
            let (da, dr, dg, db) = (g.upload(&h(&a)).unwrap(), g.upload(&h(&res)).unwrap(), g.upload(&h(&gamma)).unwrap(), g.upload(&h(&beta)).unwrap());
            for with_res in [false, true] {
                let want = r::layer_norm(&a, with_res.then_some(res.as_slice()), &gamma, &beta, hd, 1e-5);
                let mut out = poisoned(&g, rows * hd);
                g.layer_norm(&da, with_res.then_some(&dr), &dg, &db, &mut out, (rows, hd), 1e-5).unwrap();
                check(&format!("layer_norm mean {mean} {rows}x{hd} res={with_res}"), &g.download(&out).unwrap(), &want, 1e-2);
            }
            let mut x = g.upload(&h(&a)).unwrap();
            g.layer_norm_inplace(&mut x, Some(&dr), &dg, &db, (rows, hd), 1e-5).unwrap();
            let want = r::layer_norm(&a, Some(&res), &gamma, &beta, hd, 1e-5);
            check(&format!("layer_norm_inplace mean {mean} {rows}x{hd}"), &g.download(&x).unwrap(), &want, 1e-2);
            if mean != 0.0 && hd >= 200 {
                let one_pass = layer_norm_one_pass(&a, &gamma, &beta, hd, 1e-5);
                let bad = out_of_tolerance(&one_pass, &r::layer_norm(&a, None, &gamma, &beta, hd, 1e-5), 1e-2);
                println!("layer_norm mean {mean} {rows}x{hd}: a one-pass variance would put {bad} of {} elements out of tolerance", a.len());
                assert!(bad > 0, "these inputs do not tell a one-pass variance from a two-pass one");
            }
        }
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
        Err(e @ Error::NoDevice { ordinal: 1000, .. }) => println!("Gpu::new(1000): {e}"),
        Err(Error::NoDriver) if !roberta_gpu::driver_present() => println!("Gpu::new(1000): no driver"),
        Err(e) => panic!("Gpu::new(1000) should say NoDevice: {e:?}"),
    }
}

/// Where a driver reports a device (or ROBERTA_REQUIRE_GPU=1 says there must be one), device 0 opens:
/// its kernels compile (or load from ROBERTA_CUBIN_DIR) and load.
#[test]
fn device_0_opens_where_a_device_exists() {
    let present = device_present();
    if !present && !gpu_required() {
        println!("skipped: no CUDA driver or no device here");
        return;
    }
    match Gpu::with_options(0, &roberta_gpu::GpuOptions::from_env()) {
        Ok(g) => println!("Gpu::new(0): {g:?} ({})", g.describe()),
        Err(e) if present => panic!("a CUDA driver reports a device, but Gpu::new(0) failed: {e}"),
        Err(e) => panic!("ROBERTA_REQUIRE_GPU=1 but Gpu::new(0) failed: {e}"),
    }
}

/// Every kernel file compiles for sm_90 (H100/H200), and for sm_70 (V100) where NVRTC still has it (CUDA 13
/// dropped the targets below sm_75). Runs also where ROBERTA_CUBIN_DIR is set.
#[test]
fn kernels_compile_for_v100_and_h100() {
    let Some((major, minor)) = roberta_gpu::nvrtc_version() else {
        skip("libnvrtc not found (cargo xtask check-kernels runs this check with the PyPI wheel)");
        return;
    };
    let archs: &[u32] = if major < 13 { &[70, 90] } else { &[90] };
    println!("NVRTC {major}.{minor}: compiling every kernel file for sm {archs:?}");
    for (file, src, _) in roberta_gpu::KERNEL_FILES {
        for &sm in archs {
            let c = roberta_gpu::compile(file, src, roberta_gpu::Target::Cubin(sm), &[]);
            assert!(c.is_ok(), "{file} sm_{sm}: {}", c.err().map(|e| e.to_string()).unwrap_or_default());
        }
    }
}

/// KERNEL_FILES is typed by hand (12 of its names come from macros in gemm.cu): it must list exactly the
/// entry points NVRTC finds in each file's PTX, so a kernel added, renamed or dropped cannot go unnoticed.
#[test]
fn kernel_files_list_exactly_the_entry_points() {
    if roberta_gpu::nvrtc_version().is_none() {
        skip("libnvrtc not found (cargo xtask check-kernels runs this check with the PyPI wheel)");
        return;
    }
    for (file, src, names) in roberta_gpu::KERNEL_FILES {
        let c = roberta_gpu::compile(file, src, roberta_gpu::Target::Ptx(90), &[]).expect("compiles to PTX");
        let roberta_gpu::Image::Ptx(ptx) = c.image else { panic!("{file}: PTX asked for") };
        let mut found: Vec<&str> = ptx
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix(".visible .entry ").or_else(|| l.trim_start().strip_prefix(".entry ")))
            .map(|l| l.split(['(', ' ']).next().unwrap_or(""))
            .collect();
        let mut listed: Vec<&str> = names.to_vec();
        found.sort_unstable();
        listed.sort_unstable();
        assert_eq!(found, listed, "{file}: entry points in the source vs KERNEL_FILES");
    }
}
