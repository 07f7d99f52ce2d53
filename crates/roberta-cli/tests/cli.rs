//! The runner on hostile JSON Lines (issue 8): a line that is not UTF-8 or not JSON, or lacks its field, gets an
//! error record carrying its line number, the other records go on in order, and the exit code is 1; clean input
//! exits 0. Runs the built `xtask` binary as CI does.
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn input(tag: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("xtask-runner-{tag}-{}.jsonl", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Runs xtask with `args` on `bytes`; returns the exit code and the output records.
fn run(tag: &str, args: &[&str], bytes: &[u8]) -> (i32, Vec<Value>) {
    let inp = input(tag, bytes);
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).arg("--input").arg(&inp).output().unwrap();
    let _ = std::fs::remove_file(&inp);
    let text = String::from_utf8(out.stdout).expect("output is UTF-8");
    let recs = text.lines().map(|l| serde_json::from_str(l).expect("every output line is JSON")).collect();
    (out.status.code().expect("exited"), recs)
}

/// Five records: good, invalid UTF-8, a blank line (skipped, but counted), malformed JSON, no "text", good.
fn hostile(good: &str, good2: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(format!("{{\"text\": \"{good}\"}}\n").as_bytes());
    b.extend_from_slice(b"{\"text\": \"caf\xe9 \xff\xfe\"}\n");
    b.extend_from_slice(b"\n");
    b.extend_from_slice(b"{\"text\": \"unterminated\n");
    b.extend_from_slice(b"{\"texto\": 1}\n");
    b.extend_from_slice(format!("{{\"text\": \"{good2}\"}}").as_bytes());
    b
}

fn check_errors(recs: &[Value]) {
    assert_eq!(recs.len(), 5, "{recs:?}");
    for (i, line) in [(1, 2), (2, 4), (3, 5)] {
        assert_eq!(recs[i]["line"], line, "{:?}", recs[i]);
        let e = recs[i]["error"].as_str().expect("an error record");
        assert!(e.contains(&format!("line {line}")), "{e}");
    }
    assert!(recs[1]["error"].as_str().unwrap().contains("UTF-8"));
    assert!(recs[2]["error"].as_str().unwrap().contains("JSON"));
    assert!(recs[3]["error"].as_str().unwrap().contains("\"text\""));
    assert!(recs[0].get("error").is_none() && recs[4].get("error").is_none());
}

#[test]
fn tokenize_reports_bad_lines_and_goes_on() {
    let tok = root().join("tests/fixtures/models/tiny-ner");
    let args = ["tokenize", "--tokenizer", tok.to_str().unwrap()];
    let (code, recs) = run("tok-bad", &args, &hostile("Dolor torácico", "fiebre"));
    assert_eq!(code, 1);
    check_errors(&recs);
    assert!(recs[0]["input_ids"].as_array().unwrap().len() > 2);
    let (code, recs) = run("tok-clean", &args, b"{\"text\": \"a\"}\n\n{\"text\": \"\"}\n");
    assert_eq!((code, recs.len()), (0, 2));
    assert_eq!(recs[1]["input_ids"], serde_json::json!([0, 2]));
}

#[test]
fn fill_mask_reports_bad_lines_and_goes_on() {
    let model = root().join("tests/fixtures/models/tiny-mlm");
    let args = ["fill-mask", "--model", model.to_str().unwrap(), "--top-k", "2"];
    let (code, recs) = run("fm-bad", &args, &hostile("Dolor <mask>.", "Presenta <mask> alta."));
    assert_eq!(code, 1);
    check_errors(&recs);
    assert_eq!(recs[4]["predictions"].as_array().unwrap().len(), 2);
    assert_eq!(recs[0]["text"], "Dolor <mask>.");
    let (code, recs) = run("fm-clean", &args, b"{\"text\": \"Dolor <mask>.\"}\n{\"text\": \"<mask>\"}\n");
    assert_eq!((code, recs.len()), (0, 2));
    // A record the pipeline refuses (no mask) is an error record too.
    let (code, recs) = run("fm-nomask", &args, b"{\"text\": \"sin mascara\"}\n{\"text\": \"<mask>\"}\n");
    assert_eq!(code, 1);
    assert_eq!(recs[0]["line"], 1);
    assert!(recs[1]["predictions"].is_array());
}

/// Runs xtask with `args` on `bytes`; returns the exit code and stderr.
fn run_stderr(tag: &str, args: &[&str], bytes: &[u8]) -> (i32, String) {
    let inp = input(tag, bytes);
    let out = Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).arg("--input").arg(&inp).output().unwrap();
    let _ = std::fs::remove_file(&inp);
    (out.status.code().expect("exited"), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Every command that can use a device names it on stderr, in exactly one `device: ` line, for `--device auto`
/// too. Without a CUDA driver (this machine) auto is the CPU.
#[test]
fn pipelines_say_which_device_they_run_on() {
    let cases = [
        ("fill-mask", "tiny-mlm", "{\"text\": \"Dolor <mask>.\"}\n"),
        ("ner", "tiny-ner", "{\"text\": \"Dolor torácico y fiebre.\"}\n"),
    ];
    for (cmd, fixture, rec) in cases {
        let model = root().join("tests/fixtures/models").join(fixture);
        for device in ["cpu", "auto"] {
            let args = [cmd, "--model", model.to_str().unwrap(), "--device", device];
            let (code, err) = run_stderr(&format!("{cmd}-{device}"), &args, rec.as_bytes());
            assert_eq!(code, 0, "{cmd} --device {device}: {err}");
            let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("device: ")).collect();
            assert_eq!(lines.len(), 1, "{cmd} --device {device}: one device line in {err:?}");
            if device == "cpu" || !roberta_gpu::driver_present() {
                assert_eq!(lines[0], "device: cpu", "{cmd} --device {device}");
            }
        }
    }
}
