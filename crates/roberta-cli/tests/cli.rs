//! The `roberta` binary as a user meets it (issue 19), run as a process on the fixtures: no data loss (same-file
//! refusal, temporary file + rename, records passed through), strict options, inputs users have (plain text,
//! BOM, Latin-1, broken JSON), model-directory mistakes, eval-ner's format checks, NER word grouping, text
//! pairs, warnings, a closed pipe; and hostile JSON Lines (issue 8): a bad line becomes an error record with
//! its line number, the other records go on in order, exit 1.
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn model(name: &str) -> String {
    root().join("tests/fixtures/models").join(name).to_string_lossy().into_owned()
}

/// A fresh scratch folder for one test.
fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("roberta-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Run {
    code: i32,
    out: String,
    err: String,
}

impl Run {
    fn records(&self) -> Vec<Value> {
        self.out.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect()
    }
}

/// Runs `roberta args` with `stdin` as its input.
fn roberta(args: &[&str], stdin: &[u8]) -> Run {
    run_exe(env!("CARGO_BIN_EXE_roberta"), args, stdin)
}

fn run_exe(exe: &str, args: &[&str], stdin: &[u8]) -> Run {
    let mut c = Command::new(exe).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut i = c.stdin.take().unwrap();
    let data = stdin.to_vec();
    let w = std::thread::spawn(move || {
        let _ = i.write_all(&data);
    });
    let o = c.wait_with_output().unwrap();
    w.join().unwrap();
    Run {
        code: o.status.code().expect("exited"),
        out: String::from_utf8(o.stdout).expect("output is UTF-8"),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn file(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

// ---------------------------------------------------------------- hostile JSON Lines (issue 8)

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
    let utf8 = recs[1]["error"].as_str().unwrap();
    // the byte offset counts from the start of the input; the hint says how to convert
    assert!(utf8.contains("invalid UTF-8 at byte") && utf8.contains("iconv -f latin1 -t utf8"), "{utf8}");
    let json = recs[2]["error"].as_str().unwrap();
    assert!(json.contains("JSON") && json.contains("{\"text\": \"...\"}") && !json.contains("line 1 column"), "{json}");
    assert!(recs[3]["error"].as_str().unwrap().contains("\"text\""));
    // a record that parsed keeps its fields in its error record
    assert_eq!(recs[3]["texto"], 1);
    assert!(recs[0].get("error").is_none() && recs[4].get("error").is_none());
}

#[test]
fn tokenize_reports_bad_lines_and_goes_on() {
    let args = ["tokenize", "--tokenizer", &model("tiny-ner")];
    let r = roberta(&args, &hostile("Dolor torácico", "fiebre"));
    assert_eq!(r.code, 1);
    check_errors(&r.records());
    assert!(r.records()[0]["input_ids"].as_array().unwrap().len() > 2);
    let r = roberta(&args, b"{\"text\": \"a\"}\n\n{\"text\": \"\"}\n");
    assert_eq!((r.code, r.records().len()), (0, 2));
    assert_eq!(r.records()[1]["input_ids"], json!([0, 2]));
}

#[test]
fn fill_mask_reports_bad_lines_and_goes_on() {
    let args = ["fill-mask", "--model", &model("tiny-mlm"), "--top-k", "2"];
    let r = roberta(&args, &hostile("Dolor <mask>.", "Presenta <mask> alta."));
    assert_eq!(r.code, 1);
    let recs = r.records();
    check_errors(&recs);
    assert_eq!(recs[4]["predictions"].as_array().unwrap().len(), 2);
    assert_eq!(recs[0]["text"], "Dolor <mask>.");
    let r = roberta(&args, b"{\"text\": \"Dolor <mask>.\"}\n{\"text\": \"<mask>\"}\n");
    assert_eq!((r.code, r.records().len()), (0, 2));
    // a record the pipeline refuses (no mask) is an error record too, with its fields
    let r = roberta(&args, b"{\"id\": \"a\", \"text\": \"sin mascara\"}\n{\"text\": \"<mask>\"}\n");
    assert_eq!(r.code, 1);
    let recs = r.records();
    assert_eq!((recs[0]["line"].clone(), recs[0]["id"].clone()), (json!(1), json!("a")));
    assert!(recs[1]["predictions"].is_array());
}

/// Every command that can use a device names it on stderr, in exactly one `device: ` line, for `--device auto`
/// too. Without a CUDA driver (this machine) auto is the CPU.
#[test]
fn pipelines_say_which_device_they_run_on() {
    for (cmd, fixture, rec) in [("fill-mask", "tiny-mlm", "{\"text\": \"Dolor <mask>.\"}\n"), ("ner", "tiny-ner", "{\"text\": \"Dolor y fiebre.\"}\n")] {
        for device in ["cpu", "auto"] {
            let r = roberta(&[cmd, "--model", &model(fixture), "--device", device], rec.as_bytes());
            assert_eq!(r.code, 0, "{cmd} --device {device}: {}", r.err);
            let lines: Vec<&str> = r.err.lines().filter(|l| l.starts_with("device: ")).collect();
            assert_eq!(lines.len(), 1, "{cmd} --device {device}: one device line in {:?}", r.err);
            if device == "cpu" || !roberta_gpu::driver_present() {
                assert_eq!(lines[0], "device: cpu", "{cmd} --device {device}");
            }
        }
    }
}

// ---------------------------------------------------------------- never lose or orphan data

#[test]
fn output_naming_the_input_is_refused_and_the_file_kept() {
    let d = scratch("same");
    let body = b"{\"id\": 1, \"text\": \"Dolor <mask>.\"}\n{\"id\": 2, \"text\": \"Fiebre <mask>.\"}\n";
    let inp = file(&d, "notes.jsonl", body);
    std::os::unix::fs::symlink(&inp, d.join("link.jsonl")).unwrap();
    let dot = format!("{}/./notes.jsonl", d.display());
    let link = d.join("link.jsonl").to_string_lossy().into_owned();
    for (i, o) in [(&inp, &inp), (&inp, &dot), (&link, &inp)] {
        let r = roberta(&["fill-mask", "--model", &model("tiny-mlm"), "--input", i, "--output", o], b"");
        assert_eq!(r.code, 2, "{i} → {o}: {}", r.err);
        assert!(r.err.contains("is the input file"), "{}", r.err);
        assert_eq!(std::fs::read(&inp).unwrap(), body, "the input survives");
    }
    // stdin redirected from the output file
    let r = run_exe(
        "/bin/sh",
        &["-c", &format!("\"{}\" fill-mask --model \"{}\" --output \"{inp}\" < \"{inp}\"", env!("CARGO_BIN_EXE_roberta"), model("tiny-mlm"))],
        b"",
    );
    assert_eq!(r.code, 2, "{}", r.err);
    assert!(r.err.contains("stdin"), "{}", r.err);
    assert_eq!(std::fs::read(&inp).unwrap(), body);
}

#[test]
fn an_interrupted_run_leaves_the_old_output_whole() {
    let d = scratch("interrupt");
    let many: String = (0..40_000).map(|i| format!("{{\"id\": {i}, \"text\": \"Dolor torácico y fiebre de tres días.\"}}\n")).collect();
    let inp = file(&d, "many.jsonl", many.as_bytes());
    let out = file(&d, "out.jsonl", b"{\"good\": true}\n");
    let mut c = Command::new(env!("CARGO_BIN_EXE_roberta"))
        .args(["ner", "--model", &model("tiny-ner"), "--input", &inp, "--output", &out])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let finished = c.try_wait().unwrap().is_some();
    c.kill().unwrap();
    c.wait().unwrap();
    assert!(!finished, "the run should still be going after 1.5 s; make the input longer");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "{\"good\": true}\n", "the old output is untouched");
    let partial: Vec<_> = std::fs::read_dir(&d).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")).collect();
    assert_eq!(partial.len(), 1, "the partial output is a temporary file beside it");
    // a completed run replaces it, and leaves no temporary file
    let small = file(&d, "small.jsonl", b"{\"id\": 7, \"text\": \"Fiebre.\"}\n");
    let r = roberta(&["ner", "--model", &model("tiny-ner"), "--input", &small, "--output", &out], b"");
    assert_eq!(r.code, 0, "{}", r.err);
    let got = std::fs::read_to_string(&out).unwrap();
    assert!(got.starts_with("{\"id\":7,\"text\":\"Fiebre.\",\"entities\":"), "{got}");
    let tmp = std::fs::read_dir(&d).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")).count();
    assert_eq!(tmp, 1, "only the killed run's temporary file is left");
}

#[test]
fn every_command_passes_input_fields_through_in_order() {
    let rec = |text: &str| format!("{{\"note_id\": \"n-17\", \"text\": \"{text}\", \"meta\": {{\"ward\": 3}}, \"n\": 1.5}}\n");
    let cases: [(&[&str], String, &str); 5] = [
        (&["tokenize", "--tokenizer", &model("tiny-ner")], rec("Dolor torácico."), "input_ids"),
        (&["fill-mask", "--model", &model("tiny-mlm")], rec("Dolor <mask>."), "predictions"),
        (&["ner", "--model", &model("tiny-ner"), "--aggregation", "simple"], rec("Recibió paracetamol."), "entities"),
        (&["classify", "--model", &model("tiny-cls")], rec("Dolor torácico."), "labels"),
        (&["embed", "--model", &model("tiny-mlm")], rec("Dolor torácico."), "embedding"),
    ];
    for (args, input, field) in cases {
        let r = roberta(args, input.as_bytes());
        assert_eq!(r.code, 0, "{args:?}: {}", r.err);
        let line = r.out.lines().next().unwrap();
        // the input's fields first, in their order, each value byte for byte (the spaces inside "meta" too),
        // then the command's
        let text = input.split("\"text\": \"").nth(1).unwrap().split('"').next().unwrap();
        let want = format!("{{\"note_id\":\"n-17\",\"text\":\"{text}\",\"meta\":{{\"ward\": 3}},\"n\":1.5,\"{field}\":");
        assert!(line.starts_with(&want), "{args:?}: {line}\nwant {want}");
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!((v["note_id"].clone(), v["meta"].clone(), v["n"].clone()), (json!("n-17"), json!({"ward": 3}), json!(1.5)));
        assert!(v.get(field).is_some(), "{args:?}: {line}");
    }
}

// ---------------------------------------------------------------- classify: text pairs

#[test]
fn classify_reads_text_pair() {
    let args = ["classify", "--model", &model("tiny-cls")];
    let input = "{\"text\": \"Dolor torácico.\", \"text_pair\": \"Dolor en el pecho.\"}\n{\"text\": \"Dolor torácico.\"}\n{\"text\": \"Dolor torácico.\", \"text_pair\": \"\"}\n{\"text\": \"x\", \"text_pair\": 3}\n";
    let r = roberta(&args, input.as_bytes());
    assert_eq!(r.code, 1, "{}", r.err);
    let recs = r.records();
    assert_ne!(recs[0]["labels"], recs[1]["labels"], "the pair is read");
    assert_eq!(recs[1]["labels"], recs[2]["labels"], "an empty text_pair is no pair, as transformers reads it");
    assert!(recs[3]["error"].as_str().unwrap().contains("\"text_pair\" must be a string"));
    // the pair is what the tokenizer encodes for {"text","text_pair"}, through the library's pair API
    let m = roberta::Model::load(model("tiny-cls"), roberta::Device::Cpu).unwrap();
    let cls = roberta::Classifier::new(m, None).unwrap();
    let lib = cls.run_pairs(&[("Dolor torácico.", Some("Dolor en el pecho."))]).remove(0).unwrap();
    // scores as the f32s they are (serde_json's default float parsing may differ in the last f64 digit)
    let as_f32 = |v: &Value| -> Vec<(String, f32)> {
        v.as_array().unwrap().iter().map(|l| (l["label"].as_str().unwrap().to_string(), l["score"].as_f64().unwrap() as f32)).collect()
    };
    let lib_scores: Vec<(String, f32)> = lib.value.iter().map(|l| (l.label.clone(), l.score)).collect();
    assert_eq!(as_f32(&recs[0]["labels"]), lib_scores);
    let tok = roberta_tokenizer::Tokenizer::from_dir(model("tiny-cls")).unwrap();
    let ids = tok.encode_with(roberta_tokenizer::Input::Pair("Dolor torácico.", "Dolor en el pecho."), &Default::default()).unwrap().ids;
    let by_ids = cls.logits_of_ids(&[&ids]).unwrap().remove(0);
    let id_scores: Vec<(String, f32)> = cls.scores(&by_ids).iter().map(|l| (l.label.clone(), l.score)).collect();
    assert_eq!(id_scores, lib_scores);
}

// ---------------------------------------------------------------- strict options

#[test]
fn options_out_of_range_are_errors_naming_the_limit() {
    let ner = model("tiny-ner");
    let mlm = model("tiny-mlm");
    let cls = model("tiny-cls");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["ner", "--model", &ner, "--aggregation", "first", "--stride", "510"], "below the window of 510 tokens"),
        (vec!["ner", "--model", &ner, "--aggregation", "first", "--stride", "100000"], "below the window of 510"),
        (vec!["ner", "--model", &ner, "--stride", "10"], "aggregation is none"),
        (vec!["ner", "--model", &ner, "--batch-size", "0"], "at least 1"),
        (vec!["ner", "--model", &ner, "--aggregation", "firstest"], "none, simple, first, average, max"),
        (vec!["fill-mask", "--model", &mlm, "--top-k", "0"], "at least 1"),
        (vec!["fill-mask", "--model", &mlm, "--top-k", "100000"], "above the vocabulary size 8000"),
        (vec!["classify", "--model", &cls, "--top-k", "0"], "at least 1"),
        (vec!["tokenize", "--tokenizer", &mlm, "--max-length", "1"], "2 special tokens"),
        (vec!["embed", "--model", &mlm, "--format", "jsonl", "--split", "paragraphs"], "--split needs --format text"),
    ];
    for (args, want) in cases {
        let r = roberta(&args, b"{\"text\": \"Dolor <mask>.\"}\n");
        assert_eq!(r.code, 2, "{args:?}: {}", r.err);
        assert!(r.err.contains(want), "{args:?}: {:?} lacks {want:?}", r.err);
        assert!(r.out.is_empty(), "{args:?}");
    }
    // a bare TEXT and --input together
    let d = scratch("text-and-input");
    let inp = file(&d, "a.jsonl", b"{\"text\": \"Dolor <mask>.\"}\n");
    let r = roberta(&["fill-mask", "--model", &mlm, "--input", &inp, "Fiebre <mask>."], b"");
    assert_eq!(r.code, 2);
    assert!(r.err.contains("cannot be used with"), "{}", r.err);
}

#[test]
fn aggregation_names_take_any_case() {
    let input = b"{\"text\": \"Recibi\xc3\xb3 paracetamol y omeprazol.\"}\n";
    let lower = roberta(&["ner", "--model", &model("tiny-ner"), "--aggregation", "first"], input);
    let upper = roberta(&["ner", "--model", &model("tiny-ner"), "--aggregation", "FIRST"], input);
    assert_eq!((lower.code, upper.code), (0, 0), "{}", upper.err);
    assert_eq!(lower.out, upper.out);
    assert!(!lower.records()[0]["entities"].as_array().unwrap().is_empty());
}

// ---------------------------------------------------------------- NER words

#[test]
fn ner_words_hf_by_default_with_its_warning_or_the_pretokenizer() {
    let input = "{\"text\": \"Recibió paracetamol, omeprazol y amoxicilina.\"}\n";
    let hf = roberta(&["ner", "--model", &model("tiny-ner"), "--aggregation", "first"], input.as_bytes());
    assert_eq!(hf.code, 0, "{}", hf.err);
    assert!(hf.err.contains("Tokenizer does not support real words, using fallback heuristic"), "{}", hf.err);
    let words: Vec<String> = hf.records()[0]["entities"].as_array().unwrap().iter().map(|e| e["word"].as_str().unwrap().to_string()).collect();
    assert!(words.contains(&" paracetamol,".to_string()), "HF's heuristic glues the comma: {words:?}");
    let pre = roberta(&["ner", "--model", &model("tiny-ner"), "--aggregation", "first", "--words", "pretokenizer"], input.as_bytes());
    assert_eq!(pre.code, 0, "{}", pre.err);
    assert!(!pre.err.contains("fallback heuristic"), "{}", pre.err);
    let ents = pre.records()[0]["entities"].as_array().unwrap().clone();
    let words: Vec<&str> = ents.iter().map(|e| e["word"].as_str().unwrap()).collect();
    assert!(words.contains(&" paracetamol"), "{words:?}");
    let p = ents.iter().find(|e| e["word"] == " paracetamol").unwrap();
    let text: Vec<char> = "Recibió paracetamol, omeprazol y amoxicilina.".chars().collect();
    let (s, e) = (p["start"].as_u64().unwrap() as usize, p["end"].as_u64().unwrap() as usize);
    assert_eq!(text[s..e].iter().collect::<String>(), "paracetamol");
    // none and simple are token-level: no warning
    let none = roberta(&["ner", "--model", &model("tiny-ner")], input.as_bytes());
    assert!(!none.err.contains("fallback heuristic"), "{}", none.err);
}

// ---------------------------------------------------------------- warnings

#[test]
fn truncation_reaches_stderr_and_the_summary() {
    let long = "dolor torácico y fiebre ".repeat(400);
    let input = format!("{{\"text\": \"{long}\"}}\n{{\"text\": \"Fiebre.\"}}\n");
    let r = roberta(&["classify", "--model", &model("tiny-cls")], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.records()[0]["warning"].as_str().unwrap().contains("truncated"));
    assert!(r.err.contains("classify: line 1: input of"), "{}", r.err);
    assert!(r.err.contains("classify: 2 records (0 failed, 1 truncated)"), "{}", r.err);
    let one = roberta(&["classify", "--model", &model("tiny-cls"), "Fiebre."], b"");
    assert!(one.err.contains("classify: 1 record (0 failed)"), "{}", one.err);
}

// ---------------------------------------------------------------- inputs users have

#[test]
fn plain_text_lines_paragraphs_and_a_bom() {
    let d = scratch("text");
    let notes = file(&d, "notes.txt", "\u{feff}Dolor torácico.\nFiebre alta.\n\n  \nTos seca.\n".as_bytes());
    let r = roberta(&["tokenize", "--tokenizer", &model("tiny-ner"), "--format", "text", "--input", &notes], b"");
    assert_eq!(r.code, 0, "{}", r.err);
    let texts: Vec<Value> = r.records().iter().map(|v| v["text"].clone()).collect();
    assert_eq!(texts, [json!("Dolor torácico."), json!("Fiebre alta."), json!("Tos seca.")]);
    let r = roberta(&["tokenize", "--tokenizer", &model("tiny-ner"), "--format", "text", "--split", "paragraphs", "--input", &notes], b"");
    let texts: Vec<Value> = r.records().iter().map(|v| v["text"].clone()).collect();
    assert_eq!(texts, [json!("Dolor torácico.\nFiebre alta."), json!("Tos seca.")]);
    // a BOM before the first JSON record
    let r = roberta(&["tokenize", "--tokenizer", &model("tiny-ner")], "\u{feff}{\"text\": \"Dolor\"}\n".as_bytes());
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(r.records()[0]["text"], "Dolor");
    // Latin-1: the byte offset in the file, and the hint
    let r = roberta(&["tokenize", "--tokenizer", &model("tiny-ner"), "--format", "text"], b"ok\ncaf\xe9\n");
    assert_eq!(r.code, 1);
    let e = r.records()[1]["error"].as_str().unwrap().to_string();
    assert!(e.contains("line 2: invalid UTF-8 at byte 6 of the input (byte 3 of the line)") && e.contains("iconv"), "{e}");
}

#[test]
fn model_directory_mistakes_get_their_own_message() {
    let d = scratch("models");
    let no_merges = d.join("no-merges");
    std::fs::create_dir_all(&no_merges).unwrap();
    for f in ["config.json", "vocab.json", "pytorch_model.bin"] {
        std::fs::copy(root().join("tests/fixtures/models/tiny-mlm").join(f), no_merges.join(f)).unwrap();
    }
    let empty = d.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let fixtures = root().join("tests/fixtures").to_string_lossy().into_owned();
    let config = format!("{}/config.json", model("tiny-ner"));
    let missing = d.join("nope").to_string_lossy().into_owned();
    let cases = [
        (missing.as_str(), "no such directory"),
        (config.as_str(), "is a file, not a model directory"),
        (fixtures.as_str(), "has no config.json"),
        (empty.to_str().unwrap(), "has no config.json"),
        (no_merges.to_str().unwrap(), "merges.txt is missing (vocab.json is there)"),
    ];
    for (dir, want) in cases {
        let r = roberta(&["ner", "--model", dir, "Fiebre."], b"");
        assert_eq!(r.code, 2, "{dir}");
        assert!(r.err.contains(want), "{dir}: {:?} lacks {want:?}", r.err);
    }
    // a checkpoint of another architecture: the one found and the command that fits
    let r = roberta(&["ner", "--model", &model("tiny-mlm"), "Fiebre."], b"");
    assert_eq!(r.code, 2);
    assert!(r.err.contains("holds a RobertaForMaskedLM checkpoint") && r.err.contains("fill-mask"), "{}", r.err);
    let r = roberta(&["fill-mask", "--model", &model("tiny-cls"), "<mask>"], b"");
    assert!(r.err.contains("RobertaForSequenceClassification") && r.err.contains("classify"), "{}", r.err);
}

// ---------------------------------------------------------------- eval-ner

#[test]
fn eval_ner_refuses_what_is_not_conll() {
    let d = scratch("eval");
    let ner = model("tiny-ner");
    let cases = [
        ("notes.jsonl", "{\"text\": \"Dolor\"}\n".to_string(), "this is JSON Lines, not CoNLL"),
        ("three.conll", "omeprazol NN B-NORMALIZABLES\n".to_string(), "--label-column"),
        ("empty.conll", "\n\n".to_string(), "no sentences"),
    ];
    for (name, body, want) in cases {
        let p = file(&d, name, body.as_bytes());
        let r = roberta(&["eval-ner", "--model", &ner, "--conll", &p], b"");
        assert_eq!(r.code, 2, "{name}: {}", r.err);
        assert!(r.err.contains(want), "{name}: {:?} lacks {want:?}", r.err);
    }
}

#[test]
fn eval_ner_label_column_unknown_labels_averages_and_predictions() {
    let d = scratch("eval2");
    let ner = model("tiny-ner");
    let body = "Recibió VB O\nomeprazol NN B-NORMALIZABLES\ny CC O\nparacetamol NN B-FARMACO\n\nTos NN O\n";
    let p = file(&d, "three.conll", body.as_bytes());
    let preds = d.join("preds.conll").to_string_lossy().into_owned();
    let r = roberta(&["eval-ner", "--model", &ner, "--conll", &p, "--label-column", "3", "--json", "--predictions", &preds], b"");
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.err.contains("gold labels the model does not have") && r.err.contains("B-FARMACO (1 words)"), "{}", r.err);
    let v: Value = serde_json::from_str(r.out.trim()).expect("stdout is one JSON object");
    for k in ["micro", "macro", "weighted"] {
        assert!(v[k]["f1"].is_number() && v[k]["support"] == 2, "{k}: {v}");
    }
    // macro is the mean over types; weighted by support
    let per = v["per_type"].as_object().unwrap();
    let mean: f64 = per.values().map(|s| s["f1"].as_f64().unwrap()).sum::<f64>() / per.len() as f64;
    assert!((v["macro"]["f1"].as_f64().unwrap() - mean).abs() < 1e-12);
    let lines: Vec<String> = std::fs::read_to_string(&preds).unwrap().lines().map(String::from).collect();
    assert_eq!(lines.len(), 7, "{lines:?}");
    let cols: Vec<&str> = lines[1].split('\t').collect();
    assert_eq!(&cols[..2], ["omeprazol", "B-NORMALIZABLES"]);
    assert_eq!(cols.len(), 3);
    assert_eq!(lines[4], "", "a blank line between sentences");
    assert!(lines[5].starts_with("Tos\tO\t"));
    assert_eq!(lines[6], "", "each sentence ends with a blank line");
    // the table has the three averages
    let t = roberta(&["eval-ner", "--model", &ner, "--conll", &p, "--label-column", "3"], b"");
    for row in ["micro avg", "macro avg", "weighted avg"] {
        assert!(t.out.contains(row), "{}", t.out);
    }
}

// ---------------------------------------------------------------- a real binary

#[test]
fn usage_says_roberta_and_a_closed_pipe_is_quiet() {
    let r = roberta(&["ner", "--help"], b"");
    assert_eq!(r.code, 0);
    assert!(r.out.contains("Usage: roberta ner"), "{}", r.out);
    assert!(r.out.contains("--words") && r.out.contains("use first"), "{}", r.out);
    let many: String = (0..3000).map(|_| "{\"text\": \"Dolor <mask>.\"}\n").collect();
    let r = run_exe(
        "/bin/bash",
        &["-c", &format!("\"{}\" fill-mask --model \"{}\" | head -n 1 >/dev/null; echo ${{PIPESTATUS[0]}}", env!("CARGO_BIN_EXE_roberta"), model("tiny-mlm"))],
        many.as_bytes(),
    );
    assert_eq!(r.out.trim(), "0", "exit status of roberta behind head: {}", r.err);
    assert!(!r.err.contains("error"), "{}", r.err);
}

#[test]
fn output_through_a_symlink_or_to_a_device() {
    let d = scratch("out-kinds");
    let real = file(&d, "real.jsonl", b"old\n");
    let link = d.join("link.jsonl");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let r = roberta(&["tokenize", "--tokenizer", &model("tiny-ner"), "--output", link.to_str().unwrap(), "Dolor"], b"");
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link is kept");
    assert!(std::fs::read_to_string(&real).unwrap().starts_with("{\"text\":\"Dolor\",\"input_ids\":"), "the file it points to is written");
    // a device is written in place (never replaced by a renamed file)
    let r = roberta(&["tokenize", "--tokenizer", &model("tiny-ner"), "--output", "/dev/null", "Dolor"], b"");
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
}

/// The README's first command: the demo runs from anywhere (the fixtures are found from where it was built)
/// and says what is and is not verified on a GPU.
#[test]
fn demo_runs_and_states_the_gpu_status() {
    let r = roberta(&["demo"], b"");
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.out.contains("== fill-mask") && r.out.contains("== ner") && r.out.contains("PROTEINAS"), "{}", r.out);
    assert!(r.out.contains("emulated driver") && r.out.contains("not yet run on a real GPU"), "{}", r.out);
}

/// A closed stdout (the reader gone before anything is written) ends every command quietly with 0.
#[test]
fn a_closed_stdout_is_quiet_for_every_command() {
    let conll = root().join("tests/fixtures/corpora/pharmaconer/dev.txt").to_string_lossy().into_owned();
    let reference = root().join("tests/fixtures/reference/mlm_reference.safetensors").to_string_lossy().into_owned();
    let mlm = model("tiny-mlm");
    let cases: [&[&str]; 4] = [
        &["fill-mask", "--model", &mlm, "Dolor <mask>."],
        &["eval-ner", "--model", &model("tiny-ner"), "--conll", &conll],
        &["validate", "--model", &mlm, "--reference", &reference],
        &["demo"],
    ];
    for args in cases {
        let mut c = Command::new(env!("CARGO_BIN_EXE_roberta")).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        drop(c.stdout.take());
        let o = c.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("error"), "{args:?}: {err}");
    }
}

#[test]
fn a_paragraph_with_a_bad_line_is_one_error_record() {
    let r = roberta(
        &["tokenize", "--tokenizer", &model("tiny-ner"), "--format", "text", "--split", "paragraphs"],
        b"Dolor.\ncaf\xe9\nTos.\n\nFiebre.\n",
    );
    assert_eq!(r.code, 1);
    let recs = r.records();
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert_eq!(recs[0]["line"], 1);
    let e = recs[0]["error"].as_str().unwrap();
    assert!(e.contains("the paragraph from line 1: line 2: invalid UTF-8"), "{e}");
    assert_eq!(recs[1]["text"], "Fiebre.");
}

#[test]
fn options_that_do_not_fit_together_are_refused() {
    let cases: [(&[&str], &str); 3] = [
        (&["ner", "--model", &model("tiny-ner"), "--words", "pretokenizer"], "--words says what a word is"),
        (&["tokenize", "--tokenizer", &model("tiny-ner"), "--split-words", "--format", "text"], "needs --format jsonl"),
        (&["ner", "--model", &model("tiny-ner"), "--input", "/nonexistent/notes.jsonl"], "cannot open input /nonexistent/notes.jsonl"),
    ];
    for (args, want) in cases {
        let r = roberta(args, b"");
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.err.contains(want), "{args:?}: {}", r.err);
        // refused before the model loads
        assert!(!r.err.contains("device: "), "{args:?}: {}", r.err);
    }
}

#[test]
fn eval_ner_reads_braces_and_odd_labels_and_keeps_the_gold_file() {
    let d = scratch("eval3");
    let ner = model("tiny-ner");
    // a word "{", a trailing tab, and a label that is no BIO tag: read (with a warning), not refused
    let p = file(&d, "odd.conll", b"{\tO\nomeprazol\tB-NORMALIZABLES\t\ny\tfarmaco\n");
    let r = roberta(&["eval-ner", "--model", &ner, "--conll", &p, "--json"], b"");
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.err.contains("not BIO tags") && r.err.contains("\"farmaco\" (1 words)"), "{}", r.err);
    let before = std::fs::read(&p).unwrap();
    let r = roberta(&["eval-ner", "--model", &ner, "--conll", &p, "--predictions", &p], b"");
    assert_eq!(r.code, 2);
    assert!(r.err.contains("refusing to overwrite the gold labels"), "{}", r.err);
    assert_eq!(std::fs::read(&p).unwrap(), before);
}

#[test]
fn output_to_dev_stdout_appends_to_what_stdout_is() {
    let d = scratch("devstdout");
    let log = file(&d, "log.jsonl", b"{\"earlier\": true}\n");
    let r = run_exe(
        "/bin/sh",
        &["-c", &format!("\"{}\" tokenize --tokenizer \"{}\" --output /dev/stdout Dolor >> \"{log}\"", env!("CARGO_BIN_EXE_roberta"), model("tiny-ner"))],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.err);
    let got = std::fs::read_to_string(&log).unwrap();
    assert!(got.starts_with("{\"earlier\": true}\n{\"text\":\"Dolor\""), "{got}");
}

#[test]
fn odd_json_values_and_repeated_keys() {
    let r = roberta(
        &["tokenize", "--tokenizer", &model("tiny-ner")],
        b"{\"text\": \"a\", \"input_ids\": 1, \"input_ids\": 2}\n{\"text\": \"\\ud800 dolor\"}\n{\"text\": \"a\", \"text_pair\": 1e400}\n",
    );
    assert_eq!(r.code, 1, "{}", r.err);
    let lines: Vec<&str> = r.out.lines().collect();
    assert_eq!(lines[0].matches("\"input_ids\"").count(), 1, "no stale copy of a replaced field: {}", lines[0]);
    let v: Value = serde_json::from_str(lines[0]).unwrap();
    assert!(v["input_ids"].is_array());
    // the lone surrogate is passed through as the input wrote it (JSON's grammar allows it; serde_json does not)
    assert!(lines[1].starts_with("{\"line\":2,\"error\":\"line 2: field \\\"text\\\": ") && lines[1].ends_with(",\"text\":\"\\ud800 dolor\"}"), "{}", lines[1]);
    assert!(lines[2].starts_with("{\"line\":3,\"error\":\"line 3: field \\\"text_pair\\\": number out of range"), "{}", lines[2]);
}

#[test]
fn a_named_pipe_as_input_reads_everything() {
    let d = scratch("fifo");
    let fifo = d.join("notes.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || {
            let body: String = (0..200).map(|i| format!("{{\"id\": {i}, \"text\": \"Dolor\"}}\n")).collect();
            std::fs::write(&fifo, body).unwrap();
        })
    };
    let r = roberta(&["tokenize", "--tokenizer", &model("tiny-ner"), "--input", fifo.to_str().unwrap()], b"");
    writer.join().unwrap();
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(r.records().len(), 200);
}
