//! `--dtype` through the `roberta` binary (issue 12): int8 on every pipeline command, eval-ner and validate;
//! every int8 kernel forced by `ROBERTA_INT8_KERNEL` gives the same output bytes; what cannot run is refused
//! with a clear error (bf16, a kernel the CPU lacks, an unknown kernel name, int8 on CUDA).
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(rel: &str) -> String {
    root().join("tests/fixtures").join(rel).to_string_lossy().into_owned()
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

/// Runs `roberta args` with `stdin`, `ROBERTA_INT8_KERNEL` set to `kernel` (or removed).
fn roberta(args: &[&str], stdin: &str, kernel: Option<&str>) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_roberta"));
    c.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    match kernel {
        Some(k) => c.env("ROBERTA_INT8_KERNEL", k),
        None => c.env_remove("ROBERTA_INT8_KERNEL"),
    };
    let mut c = c.spawn().unwrap();
    c.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let o = c.wait_with_output().unwrap();
    Run {
        code: o.status.code().expect("exited"),
        out: String::from_utf8(o.stdout).expect("UTF-8"),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

const TEXTS: &str = "{\"text\": \"Se inició tratamiento con cisplatino y omeprazol por la creatinina elevada.\"}\n\
{\"text\": \"Paciente con dolor <mask> y fiebre.\"}\n\
{\"text\": \"Niveles de PCR y ferritina elevados; se pautó amoxicilina.\"}\n";

/// The kernels this machine can run, as the binary names them (the portable one always).
fn kernels() -> Vec<&'static str> {
    let mut k = vec!["portable"];
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") {
            k.push("avx2");
        }
        if std::is_x86_feature_detected!("avxvnni") {
            k.push("avxvnni");
        }
        if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vnni") {
            k.push("avx512vnni");
        }
    }
    k
}

#[test]
fn every_int8_kernel_forced_by_the_environment_gives_the_same_output() {
    let ner = fixture("models/tiny-ner");
    let mlm = fixture("models/tiny-mlm");
    let cls = fixture("models/tiny-cls");
    let commands: [Vec<&str>; 4] = [
        vec!["ner", "--model", &ner, "--aggregation", "first", "--dtype", "int8"],
        vec!["fill-mask", "--model", &mlm, "--top-k", "3", "--dtype", "int8"],
        vec!["classify", "--model", &cls, "--dtype", "int8"],
        vec!["embed", "--model", &mlm, "--dtype", "int8"],
    ];
    for args in &commands {
        // fill-mask needs a mask in every text: give it the one that has it
        let input = if args[0] == "fill-mask" { TEXTS.lines().nth(1).unwrap().to_string() + "\n" } else { TEXTS.to_string() };
        let default = roberta(args, &input, None);
        assert_eq!(default.code, 0, "{args:?}: {}", default.err);
        assert!(default.err.contains("device: cpu, int8 ("), "{args:?}: {}", default.err);
        let f32 = roberta(&args[..args.len() - 2].iter().chain(&["--dtype", "f32"]).copied().collect::<Vec<_>>(), &input, None);
        assert_eq!(f32.code, 0, "{}", f32.err);
        assert!(f32.err.lines().any(|l| l == "device: cpu"), "{}", f32.err);
        if args[0] == "embed" {
            assert_ne!(default.out, f32.out, "int8 embeddings cannot be the f32 ones bit for bit");
        }
        for k in kernels() {
            let r = roberta(args, &input, Some(k));
            assert_eq!(r.code, 0, "{args:?} {k}: {}", r.err);
            assert!(r.err.contains(&format!("int8 ({k})")), "{args:?} {k}: {}", r.err);
            assert_eq!(r.out, default.out, "{args:?}: kernel {k} differs from the default kernel");
        }
    }
}

#[test]
fn int8_eval_ner_reports_f1_close_to_f32() {
    let ner = fixture("models/tiny-ner");
    let conll = fixture("corpora/pharmaconer/dev.txt");
    let f1 = |dtype: &str| {
        let r = roberta(&["eval-ner", "--model", &ner, "--conll", &conll, "--json", "--dtype", dtype], "", None);
        assert_eq!(r.code, 0, "{}", r.err);
        let v: serde_json::Value = serde_json::from_str(r.out.lines().last().unwrap()).unwrap();
        v["micro"]["f1"].as_f64().unwrap()
    };
    let (a, b) = (f1("f32"), f1("int8"));
    assert!((a - b).abs() <= 0.005, "f32 {a} int8 {b}");
}

#[test]
fn validate_with_int8_judges_the_relative_error() {
    let mlm = fixture("models/tiny-mlm");
    let reference = fixture("reference/mlm_reference.safetensors");
    let r = roberta(&["validate", "--model", &mlm, "--reference", &reference, "--dtype", "int8"], "", None);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("int8: judged on ‖ours − ref‖/‖ref‖"), "{}", r.out);
    assert!(r.out.contains("ok (tolerance 5e-2 ‖·‖-relative)"), "{}", r.out);
    // the relative column is there and is not zero: int8 really ran
    let last = r.out.lines().find(|l| l.starts_with("logits")).expect("a logits line");
    let rel: f64 = last.split_whitespace().last().unwrap().parse().unwrap();
    assert!(rel > 0.0 && rel < 0.05, "{last}");
    // a tolerance below what int8 reaches fails, with exit 1
    let tight = roberta(&["validate", "--model", &mlm, "--reference", &reference, "--dtype", "int8", "--tolerance", "1e-6"], "", None);
    assert_eq!(tight.code, 1, "{}", tight.out);
    assert!(tight.out.contains("FAIL"), "{}", tight.out);
}

#[test]
fn what_cannot_run_is_refused_clearly() {
    let mlm = fixture("models/tiny-mlm");
    let args = ["fill-mask", "--model", mlm.as_str(), "Dolor <mask>."];
    let bf16 = roberta(&[&args[..], &["--dtype", "bf16"]].concat(), "", None);
    assert_eq!(bf16.code, 2, "{}", bf16.err);
    assert!(bf16.err.contains("bf16"), "{}", bf16.err);
    let bad = roberta(&[&args[..], &["--dtype", "int4"]].concat(), "", None);
    assert_eq!(bad.code, 2);
    assert!(bad.err.contains("int4") && bad.err.contains("int8"), "{}", bad.err);
    let unknown = roberta(&[&args[..], &["--dtype", "int8"]].concat(), "", Some("vnni9000"));
    assert_eq!(unknown.code, 2, "{}", unknown.err);
    assert!(unknown.err.contains("ROBERTA_INT8_KERNEL") && unknown.err.contains("vnni9000"), "{}", unknown.err);
    if let Some(missing) = ["avx512vnni", "avxvnni", "avx2"].into_iter().find(|k| !kernels().contains(k)) {
        let r = roberta(&[&args[..], &["--dtype", "int8"]].concat(), "", Some(missing));
        assert_eq!(r.code, 2, "{}", r.err);
        assert!(r.err.contains(missing) && r.err.contains("not available"), "{}", r.err);
    }
    let cuda = roberta(&[&args[..], &["--dtype", "int8", "--device", "cuda"]].concat(), "", None);
    assert_eq!(cuda.code, 2, "{}", cuda.err);
    assert!(cuda.err.contains("CPU only"), "{}", cuda.err);
    assert!(!format!("{}{}{}", bf16.err, unknown.err, cuda.err).contains("panicked"));
}
