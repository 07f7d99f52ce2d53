//! The emulated driver's own checks, through cudarc as the project uses it: what a GPU reports, a launch,
//! events, graphs, and the errors a GPU gives (bad launch configurations, a zero-size allocation, an
//! unknown kernel name, a deadlock, divergent barriers, a shuffle from an exited lane, a misaligned WMMA
//! pointer, an out-of-bounds access with guard pages, a cubin for another architecture).
//!
//! Run under the emulator (`cargo xtask emulate -- cargo test -p roberta-cuda-emu --test driver`); without
//! a driver every test skips (and fails with ROBERTA_REQUIRE_GPU=1). The kernels are in cpp/selftest.cu:
//! the tests compile it with NVRTC (the module image) and the emulator runs its host build.
use cudarc::driver::sys::CUresult;
use cudarc::driver::{CudaContext, CudaModule, CudaStream, DriverError, LaunchConfig, PushKernelArg};
use cudarc::nvrtc::Ptx;
use roberta_gpu::{compile, Image, Target};
use std::sync::{Arc, Mutex, MutexGuard};

/// Failing kernels leave a sticky error on the (shared, primary) context until every user releases it:
/// the tests run one at a time, each with its own context.
static SERIAL: Mutex<()> = Mutex::new(());

struct Emu {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    module: Arc<CudaModule>,
    sm: u32,
    _serial: MutexGuard<'static, ()>,
}

/// The emulated device with the self-test module loaded, or None (with `skipped:`) without a driver.
fn emu() -> Option<Emu> {
    let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    if !roberta_gpu::driver_present() {
        let required = std::env::var("ROBERTA_REQUIRE_GPU").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(!required, "ROBERTA_REQUIRE_GPU=1 but no CUDA driver loads");
        println!("skipped: no CUDA driver (run under cargo xtask emulate)");
        return None;
    }
    let ctx = CudaContext::new(0).expect("device 0");
    let name = ctx.name().unwrap();
    assert!(name.starts_with("emulated sm_"), "these tests are for the emulated driver, not {name}");
    let (major, minor) = ctx.compute_capability().unwrap();
    let sm = (major * 10 + minor) as u32;
    let stream = ctx.new_stream().unwrap();
    let module = ctx.load_module(selftest_image(Target::Ptx(sm))).unwrap();
    Some(Emu { ctx, stream, module, sm, _serial: serial })
}

fn selftest_image(t: Target) -> Ptx {
    let c = compile("selftest.cu", roberta_cuda_emu::SELFTEST_CU, t, &[]).expect("selftest.cu compiles with NVRTC");
    match c.image {
        Image::Ptx(s) => Ptx::from_src(s),
        Image::Cubin(b) => Ptx::from_binary(b),
    }
}

fn code(e: DriverError) -> CUresult {
    e.0
}

fn cfg(grid: u32, block: u32) -> LaunchConfig {
    LaunchConfig { grid_dim: (grid, 1, 1), block_dim: (block, 1, 1), shared_mem_bytes: 0 }
}

#[test]
fn reports_an_emulated_device_like_a_gpu() {
    let Some(e) = emu() else { return };
    assert_eq!(e.ctx.name().unwrap(), format!("emulated sm_{}", e.sm));
    let sms = e.ctx.attribute(cudarc::driver::sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT).unwrap();
    assert!(sms >= 80, "{sms} SMs");
    println!("{} with {sms} SMs", e.ctx.name().unwrap());
}

#[test]
fn launches_copy_arguments_and_events_time() {
    let Some(e) = emu() else { return };
    let f = e.module.load_function("emu_test_copy").unwrap();
    let n = 3000i32;
    let host: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
    let inp = e.stream.clone_htod(&host).unwrap();
    let mut out = e.stream.alloc_zeros::<f32>(n as usize).unwrap();
    let t0 = e.ctx.new_event(Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT)).unwrap();
    let t1 = e.ctx.new_event(Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT)).unwrap();
    t0.record(&e.stream).unwrap();
    // SAFETY: in and out hold n floats; the grid covers n threads and the kernel guards i < n.
    unsafe { e.stream.launch_builder(&f).arg(&inp).arg(&mut out).arg(&n).launch(cfg(12, 256)) }.unwrap();
    t1.record(&e.stream).unwrap();
    assert_eq!(e.stream.clone_dtoh(&out).unwrap(), host);
    let ms = t0.elapsed_ms(&t1).unwrap();
    assert!(ms.is_finite() && ms >= 0.0, "{ms}");
}

#[test]
fn bad_launch_configurations_are_errors() {
    let Some(e) = emu() else { return };
    let f = e.module.load_function("emu_test_copy").unwrap();
    let inp = e.stream.alloc_zeros::<f32>(4096).unwrap();
    let mut out = e.stream.alloc_zeros::<f32>(4096).unwrap();
    let n = 4096i32;
    let bad = [
        LaunchConfig { grid_dim: (1, 1, 1), block_dim: (1025, 1, 1), shared_mem_bytes: 0 },
        LaunchConfig { grid_dim: (1, 1, 1), block_dim: (32, 32, 2), shared_mem_bytes: 0 },
        LaunchConfig { grid_dim: (1, 1, 1), block_dim: (128, 1, 1), shared_mem_bytes: 49 * 1024 },
        LaunchConfig { grid_dim: (1, 65536, 1), block_dim: (128, 1, 1), shared_mem_bytes: 0 },
        LaunchConfig { grid_dim: (0, 1, 1), block_dim: (128, 1, 1), shared_mem_bytes: 0 },
    ];
    for c in bad {
        // SAFETY: the configuration is rejected before anything runs.
        let r = unsafe { e.stream.launch_builder(&f).arg(&inp).arg(&mut out).arg(&n).launch(c) };
        assert_eq!(r.map_err(code).err(), Some(CUresult::CUDA_ERROR_INVALID_VALUE), "{c:?}");
    }
}

#[test]
fn zero_size_allocation_and_unknown_kernel_are_errors() {
    let Some(e) = emu() else { return };
    e.ctx.bind_to_thread().unwrap();
    // SAFETY: a raw allocation of 0 bytes; nothing is allocated (the call fails).
    let r = unsafe { cudarc::driver::result::malloc_sync(0) };
    assert_eq!(r.map_err(code).err(), Some(CUresult::CUDA_ERROR_INVALID_VALUE));
    assert_eq!(e.module.load_function("no_such_kernel").map_err(code).err(), Some(CUresult::CUDA_ERROR_NOT_FOUND));
}

/// A failing kernel: the launch reports `want`, and the context stays failed (sticky), as on a GPU.
fn fails_with(e: &Emu, kernel: &str, block: u32, want: CUresult) {
    let f = e.module.load_function(kernel).unwrap();
    let mut out = e.stream.alloc_zeros::<f32>(1024).unwrap();
    // SAFETY: out holds 1024 floats; every kernel here writes at most blockDim.x ≤ 1024 of them.
    let r = unsafe { e.stream.launch_builder(&f).arg(&mut out).launch(cfg(1, block)) };
    assert_eq!(r.map_err(code).err(), Some(want), "{kernel}");
    assert!(e.stream.synchronize().is_err(), "{kernel}: the error is sticky");
}

#[test]
fn a_deadlock_is_an_error_not_a_hang() {
    let Some(e) = emu() else { return };
    fails_with(&e, "emu_test_deadlock", 64, CUresult::CUDA_ERROR_LAUNCH_FAILED);
}

#[test]
fn divergent_barriers_are_errors() {
    let Some(e) = emu() else { return };
    fails_with(&e, "emu_test_divergent_sync", 64, CUresult::CUDA_ERROR_LAUNCH_FAILED);
}

#[test]
fn a_shuffle_from_an_exited_lane_is_an_error() {
    let Some(e) = emu() else { return };
    fails_with(&e, "emu_test_shuffle_exited", 32, CUresult::CUDA_ERROR_LAUNCH_FAILED);
}

#[test]
fn a_misaligned_wmma_pointer_is_an_error() {
    let Some(e) = emu() else { return };
    fails_with(&e, "emu_test_wmma_misaligned", 32, CUresult::CUDA_ERROR_MISALIGNED_ADDRESS);
}

#[test]
fn a_fresh_context_after_a_failure_works() {
    {
        let Some(e) = emu() else { return };
        fails_with(&e, "emu_test_deadlock", 64, CUresult::CUDA_ERROR_LAUNCH_FAILED);
    }
    let Some(e) = emu() else { return };
    let f = e.module.load_function("emu_test_shared_poison").unwrap();
    let mut out = e.stream.alloc_zeros::<f32>(64).unwrap();
    // SAFETY: out holds 64 floats, one per thread.
    unsafe { e.stream.launch_builder(&f).arg(&mut out).launch(cfg(1, 64)) }.unwrap();
    let v = e.stream.clone_dtoh(&out).unwrap();
    assert!(v[..32].iter().all(|&x| x == 1.0));
    assert!(v[32..].iter().all(|x| x.is_nan()), "unwritten shared memory reads as the emulator's NaN poison");
}

#[test]
fn out_of_bounds_reads_fault_with_guard_pages() {
    let Some(e) = emu() else { return };
    let f = e.module.load_function("emu_test_oob_read").unwrap();
    let n = 1024i32;
    let inp = e.stream.alloc_zeros::<f32>(n as usize).unwrap();
    let mut out = e.stream.alloc_zeros::<f32>(n as usize).unwrap();
    // SAFETY: deliberately not: the last thread reads in[n], one past the end (the point of the test).
    let r = unsafe { e.stream.launch_builder(&f).arg(&inp).arg(&mut out).arg(&n).launch(cfg(4, 256)) };
    if std::env::var_os("ROBERTA_EMU_BOUNDS").is_some() {
        assert_eq!(r.map_err(code).err(), Some(CUresult::CUDA_ERROR_ILLEGAL_ADDRESS));
    } else {
        // Without guard pages the read is not an error (only writes past the end are): it reads the red
        // zone's bytes, which shows in the result (0xA5A5A5A5, a float no kernel would produce).
        r.unwrap();
        let v = e.stream.clone_dtoh(&out).unwrap();
        assert_eq!(v[n as usize - 1].to_bits(), 0xA5A5_A5A5, "the last thread read the red zone after `in`");
        println!("not bounds-checked: the out-of-bounds read returned the red-zone pattern; --check-bounds faults it");
    }
}

#[test]
fn graphs_replay_with_captured_arguments_and_reject_host_work() {
    let Some(e) = emu() else { return };
    let f = e.module.load_function("emu_test_copy").unwrap();
    let n = 100i32;
    let mut inp = e.stream.clone_htod(&vec![1.0f32; 100]).unwrap();
    let mut out = e.stream.alloc_zeros::<f32>(100).unwrap();
    unsafe { e.ctx.disable_event_tracking() }; // (as the encoder does before it captures)
    let mode = cudarc::driver::sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_RELAXED;
    e.stream.begin_capture(mode).unwrap();
    let mut m = n;
    // SAFETY: in and out hold 100 floats; one block of 128 threads guarded by i < n.
    unsafe { e.stream.launch_builder(&f).arg(&inp).arg(&mut out).arg(&m).launch(cfg(1, 128)) }.unwrap();
    m = 0; // the graph keeps the value it was captured with
    let _ = m;
    let g = e.stream.end_capture(cudarc::driver::sys::CUgraphInstantiate_flags(0)).unwrap().expect("a graph");
    assert_eq!(e.stream.clone_dtoh(&out).unwrap(), vec![0.0; 100], "nothing runs during a capture");
    g.upload().unwrap();
    e.stream.memcpy_htod(&vec![2.0f32; 100], &mut inp).unwrap();
    g.launch().unwrap();
    assert_eq!(e.stream.clone_dtoh(&out).unwrap(), vec![2.0; 100], "the replay reads the buffers as they are now");
    // A launch that fails inside a capture invalidates it (no graph missing a node).
    e.stream.begin_capture(mode).unwrap();
    let bad = LaunchConfig { grid_dim: (1, 1, 1), block_dim: (2048, 1, 1), shared_mem_bytes: 0 };
    // SAFETY: the configuration is rejected before anything runs.
    assert!(unsafe { e.stream.launch_builder(&f).arg(&inp).arg(&mut out).arg(&m).launch(bad) }.is_err());
    assert_eq!(
        e.stream.end_capture(cudarc::driver::sys::CUgraphInstantiate_flags(0)).map_err(code).err(),
        Some(CUresult::CUDA_ERROR_STREAM_CAPTURE_INVALIDATED)
    );
    // A host copy inside a capture invalidates it.
    e.stream.begin_capture(mode).unwrap();
    assert!(e.stream.memcpy_htod(&vec![3.0f32; 100], &mut inp).is_err());
    assert_eq!(
        e.stream.end_capture(cudarc::driver::sys::CUgraphInstantiate_flags(0)).map_err(code).err(),
        Some(CUresult::CUDA_ERROR_STREAM_CAPTURE_INVALIDATED)
    );
}

#[test]
fn a_cubin_for_another_architecture_does_not_load() {
    let Some(e) = emu() else { return };
    e.ctx.load_module(selftest_image(Target::Cubin(e.sm))).expect("the device's own cubin loads");
    let other = if e.sm == 90 { 80 } else { 90 };
    let r = e.ctx.load_module(selftest_image(Target::Cubin(other)));
    assert_eq!(r.map_err(code).err(), Some(CUresult::CUDA_ERROR_NO_BINARY_FOR_GPU), "sm_{other} cubin on sm_{}", e.sm);
}
