//! `cargo xtask gpu-check`: builds, here, the bundle one GPU-machine call carries and runs: .gpu-bundle/
//! (git-ignored) with the release test and bench binaries of the GPU crate and of the CUDA encoder
//! (tests/gpu_encoder.rs, tests/gpu_pipelines.rs, benches/gpu_forward.rs; artifact paths read from cargo's
//! `--message-format=json`), the kernels precompiled to sm_90 cubins by the NVRTC wheel (named
//! `<stem>.<source hash>.sm_90.cubin`, so the binaries never load cubins of other sources), and a run.sh.
//!
//! run.sh, within 7.5 minutes (one deadline cuts every step's timeout): the tests with
//! `ROBERTA_REQUIRE_GPU=1` (a skip is a failure, and so is any "skipped" line in their logs); the kernel tests
//! under compute-sanitizer memcheck / racecheck / synccheck when it is installed (passed, failed, or refused
//! where the tool cannot start); the kernels and gpu_forward benches (criterion shortened); one PyTorch f16
//! eager forward 32×128 of a random bsc-bio-ehr-es-shaped model when torch is there; then ONE table: tests
//! (rc, ok, failed, skipped, seconds), sanitizer status per tool, GEMM TFLOP/s ours vs cuBLAS, forward ms
//! ours vs PyTorch ("n/a" where a figure is missing). Its exit status is 1 when a test failed, was skipped or
//! did not finish, or a sanitizer found errors. Then: carry `.gpu-bundle` and run `bash .gpu-bundle/run.sh`
//! there (one call of 8 minutes at most, under 64 MiB).
use crate::check_kernels::{ensure_wheels, nvrtc_check_cmd, root};
use crate::test::run_cmd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Arguments of `cargo xtask gpu-check`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Architecture of the lent machine's GPU (H100: sm_90).
    #[arg(long, default_value = "sm_90")]
    pub arch: String,
}

const LIMIT: u64 = 64 << 20;

/// Builds the bundle.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let bundle = root().join(".gpu-bundle");
    if bundle.exists() {
        std::fs::remove_dir_all(&bundle)?;
    }
    std::fs::create_dir_all(bundle.join("bin"))?;
    let nv = ensure_wheels()?;
    run_cmd(&mut nvrtc_check_cmd(&nv, &a.arch, Some(&bundle.join("cubin"))))?;
    check_cubin_names(&bundle.join("cubin"), &a.arch)?;
    let mut tests = build(&["test", "--release", "--no-run", "-p", "roberta-gpu"], &bundle)?;
    for t in tests.iter().filter(|t| t.starts_with("nvrtc_check")) {
        let _ = std::fs::remove_file(bundle.join("bin").join(t)); // the bin (and its unit tests): not run there
    }
    tests.retain(|t| !t.starts_with("nvrtc_check"));
    tests.extend(build(
        &["test", "--release", "--no-run", "-p", "roberta-tests", "--test", "gpu_encoder", "--test", "gpu_pipelines"],
        &bundle,
    )?);
    // unit tests, then the kernels, then the encoder; the kernels bench first (the sanitizers' and benches'
    // time budgets in run.sh are computed in this order)
    tests.sort_by_key(|t| ["roberta_gpu", "gpu_kernels", "gpu_encoder", "gpu_pipelines"].iter().position(|x| x == t).unwrap_or(4));
    let mut benches =
        build(&["bench", "--no-run", "-p", "roberta-benches", "--bench", "kernels", "--bench", "gpu_forward"], &bundle)?;
    benches.sort_by_key(|b| b != "kernels");
    std::fs::write(bundle.join("run.sh"), run_sh(&tests, &benches))?;
    let size = dir_size(&bundle)?;
    eprintln!("gpu-check: {} ({:.1} MiB): tests {tests:?}, benches {benches:?}", bundle.display(), size as f64 / (1 << 20) as f64);
    if size > LIMIT {
        return Err(format!("bundle is {size} bytes, over the 64 MiB a device call carries").into());
    }
    eprintln!("gpu-check: now, on the GPU machine (carry [\".gpu-bundle\"]): bash .gpu-bundle/run.sh");
    Ok(ExitCode::SUCCESS)
}

/// Every kernel file's cubin is there under the name of the sources this xtask was built with (what the test
/// binaries built next look for): a kernel edited during the build would otherwise only fail on the GPU machine.
fn check_cubin_names(dir: &Path, arch: &str) -> crate::Result<()> {
    let sm: u32 = arch.strip_prefix("sm_").and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad arch {arch}"))?;
    for (file, src, _) in roberta_gpu::KERNEL_FILES {
        let name = roberta_gpu::compile::cubin_name(file, src, sm);
        if !dir.join(&name).is_file() {
            return Err(format!("{}: no {name}: kernels/ changed while the bundle was built? Run gpu-check again", dir.display()).into());
        }
    }
    Ok(())
}

/// Runs a cargo build with JSON messages and copies each executable artifact into bundle/bin.
fn build(args: &[&str], bundle: &Path) -> crate::Result<Vec<String>> {
    let mut names = Vec::new();
    for a in crate::test::cargo_executables(args)? {
        let name = a.name.replace('-', "_");
        std::fs::copy(&a.exe, bundle.join("bin").join(&name))?;
        names.push(name);
    }
    Ok(names)
}

/// Seconds a test binary may run (its nominal timeout in run.sh).
fn test_timeout(name: &str) -> u32 {
    match name {
        "gpu_kernels" => 90,
        "gpu_encoder" => 120,
        "gpu_pipelines" => 60,
        _ => 30, // unit tests
    }
}

/// Seconds a bench may run (criterion shortened, plus the bench's own timings).
fn bench_timeout(name: &str) -> u32 {
    match name {
        "kernels" => 90, // 28 criterion benches of 1.5 s, the GEMM and attention tables
        _ => 60,         // gpu_forward: a random full-size model, 3 criterion benches
    }
}

/// Seconds for the PyTorch forward (import, a random model on the GPU, 25 forwards).
const TORCH_TIMEOUT: u32 = 40;

/// Seconds the sanitizers leave for what follows them: every bench and PyTorch.
fn after_sanitizers(benches: &[String]) -> u32 {
    TORCH_TIMEOUT + benches.iter().map(|b| bench_timeout(b)).sum::<u32>()
}

/// run.sh: the tests first (any failed or skipped test fails the run), then the kernel tests under
/// compute-sanitizer, the benches and one PyTorch forward, all against one deadline so the whole script stays
/// under 7.5 minutes; then one table. See RUN_SH_HEAD for the steps' budgets.
fn run_sh(tests: &[String], benches: &[String]) -> String {
    let mut s = String::from(RUN_SH_HEAD);
    s += "\n# == tests: roberta-gpu's, the CUDA encoder's (name, timeout s)\n";
    for t in tests {
        s += &format!("run_test {t} {}\n", test_timeout(t));
    }
    let reserve = after_sanitizers(benches);
    s += &format!("\n# == compute-sanitizer on the kernel tests: 120 s per tool at most, leaving {reserve} s for the benches and PyTorch\n");
    if tests.iter().any(|t| t == "gpu_kernels") {
        s += &format!("for tool in memcheck racecheck synccheck; do run_sanitizer \"$tool\" gpu_kernels 120 {reserve}; done\n");
    } else {
        s += "for tool in memcheck racecheck synccheck; do rows+=(\"sanitizer|$tool|not run: no gpu_kernels binary in the bundle\"); done\n";
    }
    s += "\n# == benches (name, timeout s, seconds left for the later steps)\n";
    let limits: Vec<u32> = benches.iter().map(|b| bench_timeout(b)).collect();
    for (i, b) in benches.iter().enumerate() {
        let reserve = TORCH_TIMEOUT + limits[i + 1..].iter().sum::<u32>();
        s += &format!("run_bench {b} {} {reserve}\n", limits[i]);
    }
    s += &RUN_SH_TAIL.replace("@TORCH_TIMEOUT@", &TORCH_TIMEOUT.to_string());
    s
}

/// The start of run.sh: environment, the deadline, and the step functions.
const RUN_SH_HEAD: &str = r#"#!/usr/bin/env bash
# Generated by `cargo xtask gpu-check` (xtask/src/gpu_check.rs): one GPU-machine call. Runs the roberta-gpu
# and CUDA-encoder tests, the kernel tests under compute-sanitizer (memcheck, racecheck, synccheck) when it is
# installed, the kernels and gpu_forward benches, and one PyTorch f16 forward when torch is there; then prints
# one table. Every step has a timeout, cut to a common deadline: the whole script stays under 7.5 minutes.
# Exit status 1 when a test failed, was skipped or did not finish, or a sanitizer found errors.
cd "$(dirname "$0")"
export ROBERTA_CUBIN_DIR="$PWD/cubin"  # sm_XX cubins named by a hash of the kernel sources (a stale one is an error)
export ROBERTA_REQUIRE_GPU=1           # the GPU tests fail instead of skipping
export ROBERTA_FIXTURES="$PWD/../tests/fixtures"  # the encoder tests' HF references (working tree copy)
for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d:${LD_LIBRARY_PATH:-}"
done
# (no ROBERTA_CUDA_INCLUDE: the kernels come as cubins, and CUDA 13's headers do not go with a 12.9 NVRTC)

DEADLINE=$((SECONDS + 420))  # 7 minutes for every step; kills (timeout -k 3) and the table fit in the rest
fail=0
declare -a rows  # "kind|name|result" lines of the final table

# limit NOMINAL RESERVE: NOMINAL seconds, or fewer so that RESERVE seconds stay for the later steps (0 if none).
limit() {
  local left=$((DEADLINE - SECONDS - $2))
  if [ "$left" -lt "$1" ]; then echo $((left > 0 ? left : 0)); else echo "$1"; fi
}

# sum_of PATTERN FILE: the sum of the numbers before PATTERN on libtest's "test result:" lines.
sum_of() {
  grep '^test result:' "$2" | grep -oE "[0-9]+ $1" | awk '{ s += $1 } END { print s + 0 }'
}

# run_test NAME TIMEOUT: one test binary, one test at a time. A failed test, a line saying "skipped", a
# non-zero exit or no "test result:" line (crash, timeout) fails the run.
run_test() {
  local t=$1 lim t0=$SECONDS rc
  lim=$(limit "$2" 0)
  if [ "$lim" -lt 5 ]; then rows+=("test|$t|not run: no time left"); fail=1; return; fi
  timeout -k 3 "$lim" "./bin/$t" --test-threads=1 --nocapture > "log_$t.txt" 2>&1; rc=$?
  echo "== $t (exit $rc)"; tail -n 40 "log_$t.txt"
  local ok failed skipped
  ok=$(sum_of passed "log_$t.txt"); failed=$(sum_of failed "log_$t.txt"); skipped=$(grep -c 'skipped' "log_$t.txt")
  if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed="$failed+?"; fi  # it died or timed out mid-way
  grep -q '^test result:' "log_$t.txt" || failed="$failed (no test result line)"
  if [ "$rc" -ne 0 ] || [ "$failed" != 0 ] || [ "$skipped" -ne 0 ]; then fail=1; fi
  rows+=("test|$t|rc=$rc ok=$ok failed=$failed skipped=$skipped $((SECONDS - t0))s")
}

SANITIZER=$(command -v compute-sanitizer || true)
[ -z "$SANITIZER" ] && [ -x /usr/local/cuda/bin/compute-sanitizer ] && SANITIZER=/usr/local/cuda/bin/compute-sanitizer

# run_sanitizer TOOL TEST TIMEOUT RESERVE: passed, failed (errors found: fails the run), timeout, or refused
# (the tool did not start the tests: no "test result:" line, e.g. 'device not supported' / 'Unable to ...').
run_sanitizer() {
  local tool=$1 t=$2 lim t0=$SECONDS rc log="log_sanitizer_$1.txt" errors status
  if [ -z "$SANITIZER" ]; then rows+=("sanitizer|$tool|not installed"); return; fi
  lim=$(limit "$3" "$4")
  if [ "$lim" -lt 10 ]; then rows+=("sanitizer|$tool|not run: no time left"); return; fi
  timeout -k 3 "$lim" "$SANITIZER" --tool "$tool" --error-exitcode 1 "./bin/$t" --test-threads=1 > "$log" 2>&1; rc=$?
  echo "== compute-sanitizer --tool $tool (exit $rc)"; grep -E '^=========|^test result:' "$log" | tail -n 20
  # memcheck/synccheck: "ERROR SUMMARY: N errors"; racecheck: "RACECHECK SUMMARY: H hazards displayed (N errors, …)"
  errors=$(grep -oE 'ERROR SUMMARY: [0-9]+|\([0-9]+ errors' "$log" | grep -oE '[0-9]+' | tail -n 1)
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    status="timeout after ${lim}s"
  elif ! grep -q '^test result:' "$log"; then
    status="refused: $(grep -m 1 -iE 'error|unable|not supported' "$log" | sed 's/^=* *//' | cut -c 1-70)"
  elif [ "$rc" -eq 0 ]; then
    status="passed (${errors:-0} errors)"
  else
    status="failed: ${errors:-?} errors, $(sum_of failed "$log") tests failed"; fail=1
  fi
  rows+=("sanitizer|$tool|$status, $((SECONDS - t0))s")
}

# run_bench NAME TIMEOUT RESERVE: criterion, shortened; the figures come from the bench's own printed lines.
run_bench() {
  local b=$1 lim t0=$SECONDS rc
  lim=$(limit "$2" "$3")
  if [ "$lim" -lt 10 ]; then rows+=("bench|$b|not run: no time left"); return; fi
  timeout -k 3 "$lim" "./bin/$b" --bench --warm-up-time 0.5 --measurement-time 1 --noplot > "log_$b.txt" 2>&1; rc=$?
  echo "== $b (exit $rc)"; grep -vE '^ *(change|Found|[0-9]+ \(|time:|thrpt:)' "log_$b.txt" | head -n 60
  rows+=("bench|$b|rc=$rc $((SECONDS - t0))s$(grep -m 1 -o 'bench skipped.*' "log_$b.txt" | sed 's/^/, /')")
}

echo "== device"
timeout 15 nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader || true
ls /usr/local/cuda/lib64 2>/dev/null | grep -E '^lib(nvrtc|cublas|cublasLt)\.so' || true
ls cubin
"#;

/// The end of run.sh: PyTorch's forward, then the table.
const RUN_SH_TAIL: &str = r#"
# == PyTorch: one forward of a random bsc-bio-ehr-es-shaped RobertaModel, 32×128, f16, eager attention
cat > torch_forward.py <<'PY'
import statistics, sys
import torch
from transformers import RobertaConfig, RobertaModel
if not torch.cuda.is_available():
    sys.exit("torch: no CUDA device")
kw = dict(vocab_size=50262, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
          intermediate_size=3072, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
          layer_norm_eps=1e-5)
try:
    cfg = RobertaConfig(attn_implementation="eager", **kw)
except TypeError:
    cfg = RobertaConfig(**kw)
try:
    cfg._attn_implementation = "eager"
except Exception:
    pass
torch.manual_seed(0)
with torch.device("cuda"):
    m = RobertaModel(cfg, add_pooling_layer=False).half().eval()
ids = torch.randint(3, 50262, (32, 128), device="cuda")
ids[:, 0], ids[:, -1] = 0, 2
mask = torch.ones_like(ids)
times = []
with torch.inference_mode():
    for i in range(25):  # 5 warm-up, 20 timed
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        m(input_ids=ids, attention_mask=mask)
        end.record()
        end.synchronize()
        if i >= 5:
            times.append(start.elapsed_time(end))
impl = getattr(m.config, "_attn_implementation", "?")
print(f"torch forward 32x128: {statistics.median(times):.3f} ms (median of 20, f16, attention {impl}, "
      f"torch {torch.__version__}, {torch.cuda.get_device_name(0)})")
PY
lim=$(limit @TORCH_TIMEOUT@ 0)
if ! command -v python3 > /dev/null; then
  echo "no python3" > log_torch.txt
elif [ "$lim" -ge 10 ]; then
  timeout -k 3 "$lim" python3 torch_forward.py > log_torch.txt 2>&1
  echo "== torch (exit $?)"; tail -n 5 log_torch.txt
else
  echo "no time left" > log_torch.txt
fi

# == the figures, parsed tolerantly ("n/a" when a line is missing)
# kernels: "4096×2304×768   ours  v1  cuBLAS  ours/cB%  (peak …)" (TFLOP/s); the M=4096 shapes
gemm=$(awk '$1 ~ /^4096×[0-9]+×[0-9]+$/ && $2 ~ /^[0-9.]+$/ { gsub("×", "x", $1); printf "%s TFLOP/s|ours %s  cuBLAS %s\n", $1, $2, $4 }' log_kernels.txt 2>/dev/null)
if [ -n "$gemm" ]; then
  while IFS= read -r g; do rows+=("gemm|$g"); done <<< "$gemm"
else
  rows+=("gemm|4096xNxK TFLOP/s|ours n/a  cuBLAS n/a")
fi
# gpu_forward: "32x128 graph: 12.345 ms, …"; torch_forward.py: "torch forward 32x128: 12.345 ms (…)"
ours=$(sed -nE 's/^32x128 graph: ([0-9.]+) ms.*/\1/p' log_gpu_forward.txt 2>/dev/null | head -n 1)
torch=$(sed -nE 's/^torch forward 32x128: ([0-9.]+) ms.*/\1/p' log_torch.txt 2>/dev/null | head -n 1)
ratio="PyTorch/ours n/a"
[ -n "$ours" ] && [ -n "$torch" ] && ratio=$(awk -v a="$ours" -v b="$torch" 'BEGIN { printf "PyTorch/ours %.2f", b / a }')
[ -z "$torch" ] && ratio="$ratio (torch: $(tail -n 1 log_torch.txt 2>/dev/null | cut -c 1-60))"
rows+=("forward|32x128 ms|ours ${ours:-n/a} (CUDA graph, wall)  PyTorch ${torch:-n/a} (f16 eager, events)  $ratio")

echo; echo "== gpu-check summary"
printf '%-10s %-26s %s\n' kind name result
for r in "${rows[@]}"; do
  IFS='|' read -r kind name result <<< "$r"
  printf '%-10s %-26s %s\n' "$kind" "$name" "$result"
done
echo "gpu-check: $([ "$fail" -eq 0 ] && echo PASS || echo 'FAIL (a test failed, was skipped or did not finish, or a sanitizer found errors)') in $((SECONDS))s"
exit "$fail"
"#;

fn dir_size(p: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(p)? {
        let e = e?;
        let path: PathBuf = e.path();
        total += if e.file_type()?.is_dir() { dir_size(&path)? } else { e.metadata()?.len() };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn stub(path: &Path, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, format!("#!/bin/bash\n{body}\n")).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    const OK: &str = "test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s";

    /// run.sh on a bundle of stubs (libtest-like tests, benches printing their figure lines, a
    /// compute-sanitizer and a python3 that print what the real ones do): the table and the exit status.
    #[test]
    fn run_sh_fails_on_skips_and_failures_and_tabulates_the_figures() {
        let d = std::env::temp_dir().join(format!("xtask-gpu-check-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        for sub in ["bin", "cubin", "path"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let bin = d.join("bin");
        stub(&bin.join("roberta_gpu"), &format!("echo 'test a ... ok'; echo '{OK}'"));
        // --nocapture: a test's own output splits "test x ... ok"; a "skipped" line fails the run
        stub(&bin.join("gpu_kernels"), &format!("echo 'test a ... hello'; echo ok; echo 'skipped: no driver'; echo '{OK}'"));
        stub(&bin.join("gpu_encoder"), "echo 'test a ... FAILED'; echo 'test result: FAILED. 5 passed; 1 failed; 0 ignored'; exit 101");
        stub(
            &bin.join("kernels"),
            "printf '%-22s %12.1f %12.1f %12.1f %7.0f%%  (peak 989)\\n' '4096×2304×768' 400.5 200.1 600.2 150\n\
             echo 'gemm/ours/4096x2304x768  time:   [1.2 ms 1.3 ms 1.4 ms]'\n\
             printf '%-22s %12.1f %12.1f %12.1f %7.0f%%  (peak 989)\\n' '512×768×3072' 180.5 100.1 290.2 150",
        );
        stub(&bin.join("gpu_forward"), "echo '1x128 graph: 1.234 ms, 1 tokens/s'; echo '32x128 graph: 10.500 ms, 390000 tokens/s'");
        stub(
            &d.join("path/compute-sanitizer"),
            &format!(
                "case $2 in\n\
                 memcheck) echo '{OK}'; echo '========= ERROR SUMMARY: 0 errors'; exit 0;;\n\
                 racecheck) echo '{OK}'; echo '========= RACECHECK SUMMARY: 3 hazards displayed (2 errors, 1 warnings)'; exit 1;;\n\
                 synccheck) echo '========= Error: Device not supported'; exit 1;;\n\
                 esac"
            ),
        );
        stub(&d.join("path/python3"), "echo 'torch forward 32x128: 14.000 ms (median of 20, f16, attention eager)'");
        let tests: Vec<String> = ["roberta_gpu", "gpu_kernels", "gpu_encoder"].map(String::from).to_vec();
        let benches: Vec<String> = ["kernels", "gpu_forward"].map(String::from).to_vec();
        let script = run_sh(&tests, &benches);
        assert!(script.contains("export ROBERTA_REQUIRE_GPU=1"));
        assert!(!script.contains("export ROBERTA_CUDA_INCLUDE"));
        std::fs::write(d.join("run.sh"), &script).unwrap();
        let path = format!("{}:{}", d.join("path").display(), std::env::var("PATH").unwrap_or_default());
        let out = Command::new("bash").arg(d.join("run.sh")).env("PATH", path).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let table = &text[text.find("== gpu-check summary").expect("a summary")..];
        let row = |kind: &str, name: &str| -> String {
            let l = table.lines().find(|l| l.split_whitespace().take(2).eq([kind, name])).unwrap_or_else(|| panic!("{kind} {name} in\n{table}"));
            l.to_string()
        };
        assert!(row("test", "roberta_gpu").contains("rc=0 ok=2 failed=0 skipped=0"), "{table}");
        assert!(row("test", "gpu_kernels").contains("skipped=1"), "{table}");
        assert!(row("test", "gpu_encoder").contains("rc=101 ok=5 failed=1"), "{table}");
        assert!(row("sanitizer", "memcheck").contains("passed (0 errors)"), "{table}");
        assert!(row("sanitizer", "racecheck").contains("failed: 2 errors"), "{table}");
        assert!(row("sanitizer", "synccheck").contains("refused: Error: Device not supported"), "{table}");
        assert!(row("gemm", "4096x2304x768").contains("ours 400.5  cuBLAS 600.2"), "{table}");
        assert!(!table.contains("512x768x3072"), "{table}");
        assert!(row("forward", "32x128").contains("ours 10.500") && row("forward", "32x128").contains("PyTorch 14.000"), "{table}");
        assert!(row("forward", "32x128").contains("PyTorch/ours 1.33"), "{table}");
        assert_eq!(out.status.code(), Some(1), "{text}");

        // All green, no sanitizer, no torch, no figures: exit 0 and "n/a".
        stub(&bin.join("gpu_kernels"), &format!("echo '{OK}'"));
        stub(&bin.join("gpu_encoder"), &format!("echo '{OK}'"));
        stub(&bin.join("kernels"), "echo 'kernels bench skipped: no CUDA driver'");
        stub(&bin.join("gpu_forward"), "true");
        std::fs::remove_file(d.join("path/compute-sanitizer")).unwrap();
        stub(&d.join("path/python3"), "echo 'ModuleNotFoundError: No module named torch' >&2; exit 1");
        let path = format!("{}:{}", d.join("path").display(), std::env::var("PATH").unwrap_or_default());
        let out = Command::new("bash").arg(d.join("run.sh")).env("PATH", path).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let table = &text[text.find("== gpu-check summary").expect("a summary")..];
        assert_eq!(out.status.code(), Some(0), "{text}");
        assert!(table.contains("not installed"), "{table}");
        assert!(table.contains("ours n/a  cuBLAS n/a"), "{table}");
        assert!(table.contains("ours n/a (CUDA graph, wall)  PyTorch n/a"), "{table}");
        assert!(table.contains("No module named torch"), "{table}");
        assert!(table.contains("rc=0 0s, bench skipped: no CUDA driver"), "{table}");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
