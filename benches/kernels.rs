//! GPU kernel benches, each against its peer in the same run: GEMM (TFLOP/s at the encoder's shapes) vs
//! cuBLAS (f16 in/out, f32 compute, tensor ops); fused attention vs the unfused cuBLAS GEMM + softmax +
//! GEMM path. Prints a skip reason and exits 0 without a GPU.
use criterion::{Criterion, Throughput};
use cudarc::cublas::{sys::cublasOperation_t as Op, CudaBlas, Gemm, GemmConfig, StridedBatchedConfig};
use cudarc::driver::CudaSlice;
use half::f16;
use roberta_gpu::{Epilogue, GemmAlgo, GemmTile, GemmVersion, Gpu};

/// Dense f16 tensor-core peak of the device, TFLOP/s (for the "% of ceiling" column; 0 = unknown).
fn peak_tflops(sm: u32) -> f64 {
    match sm {
        70 => 125.0,
        80 => 312.0,
        90 => 989.0,
        _ => 0.0,
    }
}

fn time_ms(g: &Gpu, iters: usize, mut f: impl FnMut()) -> f64 {
    f();
    g.sync().unwrap();
    let t = std::time::Instant::now();
    for _ in 0..iters {
        f();
    }
    g.sync().unwrap();
    t.elapsed().as_secs_f64() * 1e3 / iters as f64
}

fn cublas_gemm(blas: &CudaBlas, a: &CudaSlice<f16>, w: &CudaSlice<f16>, c: &mut CudaSlice<f16>, (m, n, k): (usize, usize, usize)) {
    // Row-major C[M,N] = A·Wᵀ is column-major Cᵀ[N,M] = W·Aᵀ: W (col-major K×N) transposed, A as is.
    let cfg = GemmConfig {
        transa: Op::CUBLAS_OP_T,
        transb: Op::CUBLAS_OP_N,
        m: n as i32,
        n: m as i32,
        k: k as i32,
        alpha: f16::ONE,
        lda: k as i32,
        ldb: k as i32,
        beta: f16::ZERO,
        ldc: n as i32,
    };
    // SAFETY: w holds N·K, a M·K and c M·N elements (allocated below with those sizes).
    unsafe { blas.gemm(cfg, w, a, c) }.unwrap();
}

fn bench_gemm(c: &mut Criterion, g: &Gpu, blas: &CudaBlas) {
    let mut group = c.benchmark_group("gemm");
    println!("\n{:<22} {:>12} {:>12} {:>12} {:>8}", "gemm M×N×K", "ours TFLOP/s", "v1 TFLOP/s", "cuBLAS", "ours/cB");
    for m in [4096usize, 512, 128] {
        for (n, k) in [(2304usize, 768usize), (768, 768), (3072, 768), (768, 3072)] {
            let a = g.upload(&vec![f16::from_f32(0.01); m * k]).unwrap();
            let w = g.upload(&vec![f16::from_f32(0.01); n * k]).unwrap();
            let b = g.upload(&vec![f16::ZERO; n]).unwrap();
            let mut out = g.zeros::<f16>(m * n).unwrap();
            let flops = 2.0 * (m * n * k) as f64;
            let algo = g.gemm_algo(m, n);
            let v1 = GemmAlgo { version: GemmVersion::V1, tile: algo.tile };
            let ours = time_ms(g, 20, || g.gemm(algo, Epilogue::Bias, &a, &w, Some(&b), None, &mut out, (m, n, k)).unwrap());
            let ours1 = time_ms(g, 20, || g.gemm(v1, Epilogue::Bias, &a, &w, Some(&b), None, &mut out, (m, n, k)).unwrap());
            let cb = time_ms(g, 20, || cublas_gemm(blas, &a, &w, &mut out, (m, n, k)));
            let tf = |ms: f64| flops / ms / 1e9;
            println!(
                "{:<22} {:>12.1} {:>12.1} {:>12.1} {:>7.0}%  (peak {:.0})",
                format!("{m}×{n}×{k}"), tf(ours), tf(ours1), tf(cb), 100.0 * cb / ours, peak_tflops(g.sm())
            );
            group.throughput(Throughput::Elements(flops as u64));
            group.bench_function(format!("ours/{m}x{n}x{k}"), |bch| {
                bch.iter(|| {
                    g.gemm(algo, Epilogue::Bias, &a, &w, Some(&b), None, &mut out, (m, n, k)).unwrap();
                    g.sync().unwrap()
                })
            });
            group.bench_function(format!("cublas/{m}x{n}x{k}"), |bch| {
                bch.iter(|| {
                    cublas_gemm(blas, &a, &w, &mut out, (m, n, k));
                    g.sync().unwrap()
                })
            });
        }
    }
    let _ = GemmTile::T64;
    group.finish();
}

/// Unfused attention for a padded batch [batch, T] (every sequence T long): per sequence, cuBLAS S = Q·Kᵀ
/// over the heads (strided batched), masked softmax, O = P·V into the merged-heads output.
fn unfused_attention(g: &Gpu, blas: &CudaBlas, qkv: &CudaSlice<f16>, s: &mut CudaSlice<f16>, out: &mut CudaSlice<f16>, batch: usize, t: usize, heads: usize) {
    let hidden = heads * 64;
    let ld = 3 * hidden;
    for b in 0..batch {
        let base = b * t * ld;
        let q = qkv.slice(base..);
        let k = qkv.slice(base + hidden..);
        let mut sb = s.slice_mut(b * heads * t * t..(b + 1) * heads * t * t);
        let cfg = StridedBatchedConfig {
            gemm: GemmConfig { transa: Op::CUBLAS_OP_T, transb: Op::CUBLAS_OP_N, m: t as i32, n: t as i32, k: 64, alpha: f16::ONE, lda: ld as i32, ldb: ld as i32, beta: f16::ZERO, ldc: t as i32 },
            batch_size: heads as i32,
            stride_a: 64,
            stride_b: 64,
            stride_c: (t * t) as i64,
        };
        // SAFETY: K and Q of head h start at column h·64 of rows b·T.. of qkv ([batch·T, 3·hidden]); S of
        // (b, h) is T×T at (b·heads + h)·T² in s ([batch·heads·T, T]).
        unsafe { blas.gemm_strided_batched(cfg, &k, &q, &mut sb) }.unwrap();
    }
    g.softmax_rows(s, None, (batch, heads, t), 0.125).unwrap();
    for b in 0..batch {
        let v = qkv.slice(b * t * ld + 2 * hidden..);
        let sb = s.slice(b * heads * t * t..(b + 1) * heads * t * t);
        let mut ob = out.slice_mut(b * t * hidden..(b + 1) * t * hidden);
        let cfg = StridedBatchedConfig {
            gemm: GemmConfig { transa: Op::CUBLAS_OP_N, transb: Op::CUBLAS_OP_N, m: 64, n: t as i32, k: t as i32, alpha: f16::ONE, lda: ld as i32, ldb: t as i32, beta: f16::ZERO, ldc: hidden as i32 },
            batch_size: heads as i32,
            stride_a: 64,
            stride_b: (t * t) as i64,
            stride_c: 64,
        };
        // SAFETY: V of head h at column 2·hidden + h·64 of rows b·T..; P of (b, h) T×T; O of head h at
        // columns h·64.. of rows b·T.. of out ([batch·T, hidden]).
        unsafe { blas.gemm_strided_batched(cfg, &v, &sb, &mut ob) }.unwrap();
    }
}

fn bench_attention(c: &mut Criterion, g: &Gpu, blas: &CudaBlas) {
    let mut group = c.benchmark_group("attention");
    let heads = 12;
    let hidden = heads * 64;
    println!("\n{:<22} {:>12} {:>12} {:>8}", "attention B×T (12 heads)", "fused ms", "unfused ms", "speed-up");
    for (batch, t) in [(8usize, 512usize), (32, 128)] {
        let tokens = batch * t;
        let qkv = g.upload(&vec![f16::from_f32(0.01); tokens * 3 * hidden]).unwrap();
        let mut out = g.zeros::<f16>(tokens * hidden).unwrap();
        let mut s = g.zeros::<f16>(batch * heads * t * t).unwrap();
        let off = g.seq_offsets(&vec![t; batch]).unwrap();
        let fused = time_ms(g, 20, || g.attention(&qkv, &mut out, &off, None, heads, 64, 0.125).unwrap());
        let unfused = time_ms(g, 20, || unfused_attention(g, blas, &qkv, &mut s, &mut out, batch, t, heads));
        println!("{:<22} {:>12.3} {:>12.3} {:>7.2}×", format!("{batch}×{t}"), fused, unfused, unfused / fused);
        group.throughput(Throughput::Elements(4 * (batch * heads * t * t * 64) as u64));
        group.bench_function(format!("fused/{batch}x{t}"), |b| {
            b.iter(|| {
                g.attention(&qkv, &mut out, &off, None, heads, 64, 0.125).unwrap();
                g.sync().unwrap()
            })
        });
        group.bench_function(format!("unfused/{batch}x{t}"), |b| {
            b.iter(|| {
                unfused_attention(g, blas, &qkv, &mut s, &mut out, batch, t, heads);
                g.sync().unwrap()
            })
        });
    }
    group.finish();
}

fn main() {
    let g = match Gpu::with_options(0, &roberta_gpu::GpuOptions::from_env()) {
        Ok(g) => g,
        Err(e) => {
            println!("kernels bench skipped: {e}");
            return;
        }
    };
    let blas = match CudaBlas::new(g.stream().clone()) {
        Ok(b) => b,
        Err(e) => {
            println!("kernels bench skipped: cuBLAS unavailable: {e}");
            return;
        }
    };
    println!("device: {g:?}");
    let mut c = Criterion::default().configure_from_args();
    bench_gemm(&mut c, &g, &blas);
    bench_attention(&mut c, &g, &blas);
    c.final_summary();
}
