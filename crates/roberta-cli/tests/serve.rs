//! The inference server (issue 15) on loopback: every route against the `roberta` command line's output on the
//! fixture models, every error case, the API key, a load of 64 concurrent clients (every answer equal to the
//! single-request one, none lost, RSS bounded), a tiny queue giving 429s and nothing else, and SIGTERM finishing
//! the queued requests before exiting 0.
#![cfg(unix)]
use roberta::{Device, LoadOptions, Model};
use roberta_server::{Server, ServerConfig};
use serde_json::{json, Value};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models").join(name)
}

/// A server on a free loopback port, run by its own runtime on a background thread; stopped when dropped.
struct Running {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(model: &str, cfg: ServerConfig) -> Running {
    let mut m = Model::load_with(fixture(model), &LoadOptions { device: Device::Cpu, batch_size: 4096, ..Default::default() }).unwrap();
    let limit = roberta_server::memory_limit_for(&m, cfg.max_batch_tokens);
    m.set_memory_limit_bytes(Some(limit));
    let m = Arc::new(m);
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(format!("http://{}", listener.local_addr().unwrap())).unwrap();
            Server::new(m, cfg).serve(listener, async { let _ = stopped.await; }).await.unwrap();
        });
    });
    Running { url: rx.recv().unwrap(), stop: Some(stop), thread: Some(thread) }
}

/// `roberta serve` as a child process on a free port (killed when dropped).
struct Child {
    child: std::process::Child,
    url: String,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Child {
    fn spawn(args: &[&str]) -> Child {
        let mut child = Command::new(env!("CARGO_BIN_EXE_roberta"))
            .args(["serve", "--port", "0"])
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut err = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 || tx.send(String::from_utf8_lossy(&buf[..n]).into_owned()).is_err() {
                    break;
                }
            }
        });
        let mut c = Child { child, url: String::new(), stderr: rx };
        let mut seen = String::new();
        let t = Instant::now();
        while !seen.contains(" (Ctrl-C") {
            match c.stderr.recv_timeout(Duration::from_secs(5)) {
                Ok(more) => seen.push_str(&more),
                Err(_) => assert!(t.elapsed() < Duration::from_secs(120), "the server did not start: {seen}"),
            }
        }
        let i = seen.find("http://").unwrap();
        c.url = seen[i..i + seen[i..].find(' ').unwrap()].to_string();
        c
    }

    fn rss_kb(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)).unwrap().parse().unwrap()
    }

    fn rest_of_stderr(&self) -> String {
        let mut out = String::new();
        while let Ok(s) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            out.push_str(&s);
        }
        out
    }
}

fn queue_size(a: &ureq::Agent, url: &str) -> u64 {
    let (_, m) = get(a, &format!("{url}/metrics"));
    m.lines().find(|l| l.starts_with("te_queue_size ")).unwrap()[14..].parse().unwrap()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(120))).build().into()
}

/// (status, body) of a POST of `body` (raw bytes).
fn post_raw(a: &ureq::Agent, url: &str, body: &[u8], key: Option<&str>) -> (u16, String) {
    let mut req = a.post(url).header("Content-Type", "application/json");
    if let Some(k) = key {
        req = req.header("Authorization", format!("Bearer {k}"));
    }
    let mut r = req.send(body).unwrap();
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap())
}

fn post(a: &ureq::Agent, url: &str, body: &Value) -> (u16, Value) {
    let (s, b) = post_raw(a, url, body.to_string().as_bytes(), None);
    (s, serde_json::from_str(&b).unwrap_or_else(|e| panic!("not JSON ({e}): {b}")))
}

fn get(a: &ureq::Agent, url: &str) -> (u16, String) {
    let mut r = a.get(url).call().unwrap();
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap())
}

/// The command line's records for `texts` (each record's `field`).
fn cli(args: &[&str], texts: &[&str], field: &str) -> Vec<Value> {
    let input: String = texts.iter().map(|t| json!({"text": t}).to_string() + "\n").collect();
    let mut c = Command::new(env!("CARGO_BIN_EXE_roberta")).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut c.stdin.take().unwrap(), input.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str::<Value>(l).unwrap()[field].clone()).collect()
}

const TEXTS: [&str; 6] = [
    "Se pautó amoxicilina 500 mg cada 8 horas y paracetamol si fiebre.",
    "Paciente con adenocarcinoma de pulmón, EGFR mutado; inicia osimertinib.",
    "Sin alergias conocidas.",
    "Creatinina 1,4 mg/dL; potasio 5,1 mmol/L. Se suspende el ibuprofeno y se añade omeprazol 20 mg.",
    "ácido acetilsalicílico",
    "",
];

#[test]
fn every_route_answers_as_the_command_line_does() {
    let a = agent();
    let ner = start("tiny-ner", ServerConfig::default());
    let dir = fixture("tiny-ner").to_string_lossy().into_owned();
    for agg in ["none", "simple", "first", "average", "max"] {
        let want = cli(&["ner", "--model", &dir, "--aggregation", agg], &TEXTS, "entities");
        let (s, got) = post(&a, &format!("{}/ner", ner.url), &json!({"inputs": TEXTS, "aggregation_strategy": agg}));
        assert_eq!(s, 200, "{got}");
        assert_eq!(got, Value::Array(want.clone()), "{agg}");
        // one input alone: its own list; the inference API's "parameters" shape too
        let (_, one) = post(&a, &format!("{}/ner", ner.url), &json!({"inputs": TEXTS[1], "parameters": {"aggregation_strategy": agg}}));
        assert_eq!(one, want[1], "{agg}");
    }
    // default aggregation: simple, as the Hub's inference API
    let (_, d) = post(&a, &format!("{}/ner", ner.url), &json!({"inputs": TEXTS[0]}));
    assert_eq!(d, cli(&["ner", "--model", &dir, "--aggregation", "simple"], &TEXTS[..1], "entities")[0]);
    // embed: TEI normalizes by default
    let want = cli(&["embed", "--model", &dir, "--normalize"], &TEXTS, "embedding");
    let (s, got) = post(&a, &format!("{}/embed", ner.url), &json!({"inputs": TEXTS}));
    assert_eq!((s, got), (200, Value::Array(want.clone())));
    let (_, got) = post(&a, &format!("{}/embed", ner.url), &json!({"inputs": TEXTS[3], "normalize": false}));
    assert_eq!(got, Value::Array(cli(&["embed", "--model", &dir], &TEXTS[3..4], "embedding")));
    // tokenize: the command line's ids; byte offsets whose slices are the token texts
    let ids = cli(&["tokenize", "--tokenizer", &dir], &TEXTS, "input_ids");
    let (s, got) = post(&a, &format!("{}/tokenize", ner.url), &json!({"inputs": TEXTS}));
    assert_eq!(s, 200);
    for ((toks, want), text) in got.as_array().unwrap().iter().zip(&ids).zip(TEXTS) {
        let got_ids: Vec<Value> = toks.as_array().unwrap().iter().map(|t| t["id"].clone()).collect();
        assert_eq!(&Value::Array(got_ids), want);
        for t in toks.as_array().unwrap().iter().filter(|t| t["special"] == json!(false)) {
            let (s, e) = (t["start"].as_u64().unwrap() as usize, t["stop"].as_u64().unwrap() as usize);
            assert_eq!(t["text"], json!(&text[s..e]));
        }
    }
    // decode: back to the text, as the tokenizer decodes (this one adds a prefix space, as HF's does)
    let first: Vec<Value> = ids[0].as_array().unwrap().clone();
    let (s, got) = post(&a, &format!("{}/decode", ner.url), &json!({"ids": [first.clone(), first.clone()]}));
    let text = format!(" {}", TEXTS[0]);
    assert_eq!((s, got), (200, json!([text, text])));
    let (_, got) = post(&a, &format!("{}/decode", ner.url), &json!({"ids": first, "skip_special_tokens": false}));
    assert_eq!(got, json!([format!("<s>{text}</s>")]));
    // a model without that head: 400 naming its architecture
    let (s, got) = post(&a, &format!("{}/fill-mask", ner.url), &json!({"inputs": "x <mask>"}));
    assert_eq!(s, 400);
    assert!(got["error"].as_str().unwrap().contains("RobertaForTokenClassification") && got["error_type"] == "validation", "{got}");
    let (s, got) = post(&a, &format!("{}/predict", ner.url), &json!({"inputs": "x"}));
    assert!(s == 400 && got["error"].as_str().unwrap().contains("RobertaForTokenClassification"), "{got}");
    // info, health, openapi, metrics
    let (s, info) = get(&a, &format!("{}/info", ner.url));
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(s, 200);
    assert_eq!(info["max_input_length"], 512);
    assert_eq!(info["pipelines"], json!(["/embed", "/tokenize", "/decode", "/ner"]));
    assert_eq!(info["model_type"]["token_classifier"]["id2label"]["5"], "B-PROTEINAS");
    assert_eq!(get(&a, &format!("{}/health", ner.url)).0, 200);
    let (_, doc) = get(&a, &format!("{}/openapi.json", ner.url));
    let doc: Value = serde_json::from_str(&doc).unwrap();
    for p in ["/embed", "/predict", "/ner", "/fill-mask", "/tokenize", "/decode", "/info", "/health", "/metrics", "/openapi.json"] {
        assert!(doc["paths"].get(p).is_some(), "{p}");
    }
    let (_, m) = get(&a, &format!("{}/metrics", ner.url));
    assert!(m.contains("te_request_count{route=\"/ner\",status=\"200\"} 11\n"), "{m}");
    assert!(m.contains("te_request_count{route=\"/fill-mask\",status=\"400\"} 1\n") && m.contains("te_batch_next_tokens_count"), "{m}");
    drop(ner);

    let mlm = start("tiny-mlm", ServerConfig::default());
    let dir = fixture("tiny-mlm").to_string_lossy().into_owned();
    let masked = ["El paciente presenta dolor <mask>.", "Se administró <mask> por vía <mask>.", "Tratamiento con <mask> intravenoso."];
    for k in [1, 5] {
        let want = cli(&["fill-mask", "--model", &dir, "--top-k", &k.to_string()], &masked, "predictions");
        let (s, got) = post(&a, &format!("{}/fill-mask", mlm.url), &json!({"inputs": masked, "top_k": k}));
        assert_eq!((s, got), (200, Value::Array(want.clone())), "top_k {k}");
        let (_, one) = post(&a, &format!("{}/fill-mask", mlm.url), &json!({"inputs": masked[1], "parameters": {"top_k": k}}));
        assert_eq!(one, want[1]);
    }
    let (s, got) = post(&a, &format!("{}/fill-mask", mlm.url), &json!({"inputs": ["sin máscara"]}));
    assert!(s == 422 && got["error"].as_str().unwrap().contains("mask"), "{got}");
    let (s, got) = post(&a, &format!("{}/fill-mask", mlm.url), &json!({"inputs": "x <mask>", "top_k": 10_000_000}));
    assert!(s == 422 && got["error"].as_str().unwrap().contains("vocabulary size"), "{got}");
    // requests without a mask batched with good ones: only they fail
    let handles: Vec<_> = (0..24)
        .map(|i| {
            let url = mlm.url.clone();
            std::thread::spawn(move || {
                let text = if i % 3 == 0 { "sin máscara".to_string() } else { masked[i % 3].to_string() };
                (i, post(&agent(), &format!("{url}/fill-mask"), &json!({"inputs": text})))
            })
        })
        .collect();
    let want5 = cli(&["fill-mask", "--model", &dir, "--top-k", "5"], &masked, "predictions");
    for h in handles {
        let (i, (st, v)) = h.join().unwrap();
        if i % 3 == 0 {
            assert_eq!(st, 422, "{v}");
        } else {
            assert_eq!((st, &v), (200, &want5[i % 3]));
        }
    }
    drop(mlm);
    let mlm = start("tiny-mlm", ServerConfig { max_fill_mask_predictions: 10, ..ServerConfig::default() });
    // two masks × top_k 6 = 12 predictions > 10; two × 5 and one × 10 are within
    let (s, got) = post(&a, &format!("{}/fill-mask", mlm.url), &json!({"inputs": masked[1], "top_k": 6}));
    assert!(s == 413 && got["error"].as_str().unwrap().contains("asks for 12 predictions (masks × top_k)"), "{got}");
    assert_eq!(post(&a, &format!("{}/fill-mask", mlm.url), &json!({"inputs": masked[1], "top_k": 5})).0, 200);
    assert_eq!(post(&a, &format!("{}/fill-mask", mlm.url), &json!({"inputs": masked[0], "top_k": 10})).0, 200);
    drop(mlm);

    let cls = start("tiny-cls", ServerConfig::default());
    let dir = fixture("tiny-cls").to_string_lossy().into_owned();
    let want = cli(&["classify", "--model", &dir], &TEXTS, "labels");
    let batch: Vec<Value> = TEXTS.iter().map(|t| json!([t])).collect();
    let (s, got) = post(&a, &format!("{}/predict", cls.url), &json!({"inputs": batch}));
    assert_eq!((s, got), (200, Value::Array(want.clone())));
    let (_, one) = post(&a, &format!("{}/predict", cls.url), &json!({"inputs": TEXTS[2]}));
    assert_eq!(one, want[2]);
    // [text] is one input too (TEI); three strings are neither a text nor a pair
    let (_, one) = post(&a, &format!("{}/predict", cls.url), &json!({"inputs": [TEXTS[2]]}));
    assert_eq!(one, want[2]);
    let (st, e) = post(&a, &format!("{}/predict", cls.url), &json!({"inputs": ["a", "b", "c"]}));
    assert!(st == 422 && e["error"].as_str().unwrap().contains("[text, text_pair]"), "{e}");
    // a pair: [text, text_pair], as TEI reads two strings
    let pair_in = json!({"text": TEXTS[0], "text_pair": TEXTS[2]}).to_string() + "\n";
    let mut c = Command::new(env!("CARGO_BIN_EXE_roberta")).args(["classify", "--model", &dir]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(&mut c.stdin.take().unwrap(), pair_in.as_bytes()).unwrap();
    let out: Value = serde_json::from_slice(&c.wait_with_output().unwrap().stdout).unwrap();
    let (_, got) = post(&a, &format!("{}/predict", cls.url), &json!({"inputs": [TEXTS[0], TEXTS[2]]}));
    assert_eq!(got, out["labels"]);
    // raw scores: the logits, best first, summing to anything
    let (_, raw) = post(&a, &format!("{}/predict", cls.url), &json!({"inputs": TEXTS[0], "raw_scores": true}));
    let labels: Vec<&str> = raw.as_array().unwrap().iter().map(|l| l["label"].as_str().unwrap()).collect();
    let probs: Vec<&str> = want[0].as_array().unwrap().iter().map(|l| l["label"].as_str().unwrap()).collect();
    assert_eq!(labels, probs, "softmax keeps the order");
    let sum: f64 = raw.as_array().unwrap().iter().map(|l| l["score"].as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() > 1e-3, "raw scores are not probabilities");
    let (_, info) = get(&a, &format!("{}/info", cls.url));
    assert!(serde_json::from_str::<Value>(&info).unwrap()["model_type"]["classifier"]["label2id"].is_object());
}

#[test]
fn errors_are_teis() {
    let a = agent();
    let cfg = ServerConfig { max_client_batch_size: 4, max_input_length: Some(16), max_body_bytes: 64 << 10, max_batch_tokens: 700, ..ServerConfig::default() };
    let s = start("tiny-ner", cfg);
    let u = |r: &str| format!("{}{r}", s.url);
    let check = |r: (u16, String), status: u16, kind: &str, needle: &str| {
        assert_eq!(r.0, status, "{}", r.1);
        let v: Value = serde_json::from_str(&r.1).unwrap_or_else(|e| panic!("{e}: {}", r.1));
        assert_eq!(v["error_type"], kind, "{v}");
        assert!(v["error"].as_str().unwrap().contains(needle), "{needle:?} not in {v}");
    };
    // 413: too many inputs; an input over --max-input-length without truncate
    check(post_raw(&a, &u("/embed"), json!({"inputs": ["a", "b", "c", "d", "e"]}).to_string().as_bytes(), None), 413, "validation", "batch size 5 > maximum allowed batch size 4");
    let long = "paracetamol ".repeat(20);
    check(post_raw(&a, &u("/embed"), json!({"inputs": long}).to_string().as_bytes(), None), 413, "validation", "must have less than 16 tokens");
    // with truncate: cut after the 16th token (special tokens included), as TEI does: the answer is the cut text's
    let (st, cut) = post(&a, &u("/embed"), &json!({"inputs": long, "truncate": true}));
    assert_eq!(st, 200, "{cut}");
    let (_, toks) = post(&a, &u("/tokenize"), &json!({"inputs": long}));
    let words: Vec<&Value> = toks[0].as_array().unwrap().iter().filter(|t| t["special"] == json!(false)).collect();
    let end = words[13]["stop"].as_u64().unwrap() as usize;
    assert_eq!(cut, post(&a, &u("/embed"), &json!({"inputs": &long[..end]})).1);
    assert_ne!(cut, post(&a, &u("/embed"), &json!({"inputs": &long[..words[14]["stop"].as_u64().unwrap() as usize]})).1);
    // NER runs long texts in windows (no length limit) but a request holds at most --max-batch-tokens tokens
    assert_eq!(post(&a, &u("/ner"), &json!({"inputs": long})).0, 200);
    check(post_raw(&a, &u("/ner"), json!({"inputs": long.repeat(40)}).to_string().as_bytes(), None), 413, "validation", "more than --max-batch-tokens 700");
    // a body past --max-body-bytes: 413 in TEI's shape
    let huge = format!("{{\"inputs\": \"{}\"}}", "a".repeat(100 << 10));
    check(post_raw(&a, &u("/embed"), huge.as_bytes(), None), 413, "validation", "too large");
    // 422: malformed JSON, not an object, invalid UTF-8, wrong types, empty list, missing field, bad options
    check(post_raw(&a, &u("/embed"), b"{\"inputs\": ", None), 422, "validation", "not valid JSON");
    check(post_raw(&a, &u("/embed"), b"[1, 2]", None), 422, "validation", "must be a JSON object");
    check(post_raw(&a, &u("/embed"), b"{\"inputs\": \"caf\xe9\"}", None), 422, "validation", "not valid JSON (or not UTF-8)");
    check(post_raw(&a, &u("/embed"), br#"{"inputs": 3}"#, None), 422, "validation", "`inputs` must be a string or a list of strings, not a number");
    check(post_raw(&a, &u("/embed"), br#"{"inputs": ["a", 2]}"#, None), 422, "validation", "`inputs[1]` must be a string");
    check(post_raw(&a, &u("/embed"), br#"{"inputs": []}"#, None), 422, "validation", "cannot be an empty list");
    check(post_raw(&a, &u("/embed"), br#"{"text": "a"}"#, None), 422, "validation", "missing field `inputs`");
    check(post_raw(&a, &u("/embed"), br#"{"inputs": "a", "normalize": "yes"}"#, None), 422, "validation", "`normalize` must be a boolean");
    check(post_raw(&a, &u("/ner"), br#"{"inputs": "a", "aggregation_strategy": "most"}"#, None), 422, "validation", "aggregation_strategy");
    check(post_raw(&a, &u("/decode"), br#"{"ids": [0, 99999999]}"#, None), 422, "validation", "`ids[1]` = 99999999 is not a token id");
    // 404 and 405
    check(get(&a, &u("/nothing")), 404, "validation", "no route GET /nothing");
    check(get(&a, &u("/embed")), 405, "validation", "GET is not a method of /embed");
    // the server still answers after all that
    assert_eq!(post(&a, &u("/ner"), &json!({"inputs": TEXTS[0]})).0, 200);
    drop(s);
    // 401 with a key; the right key passes
    let s = start("tiny-ner", ServerConfig { api_key: Some("s3cret".into()), ..ServerConfig::default() });
    let body = json!({"inputs": "hola"}).to_string();
    check(post_raw(&a, &format!("{}/embed", s.url), body.as_bytes(), None), 401, "unauthorized", "missing `Authorization: Bearer");
    check(post_raw(&a, &format!("{}/embed", s.url), body.as_bytes(), Some("wrong")), 401, "unauthorized", "wrong API key");
    assert_eq!(post_raw(&a, &format!("{}/embed", s.url), body.as_bytes(), Some("s3cret")).0, 200);
    check(get(&a, &format!("{}/info", s.url)), 401, "unauthorized", "missing");
}

/// The request a load client sends as its `i`-th: mixed routes and lengths.
fn request(i: usize) -> (&'static str, Value) {
    let text = |k: usize| -> String {
        let base = TEXTS[k % 5];
        base.repeat(1 + (k * 7) % 9)
    };
    match i % 5 {
        0 => ("/ner", json!({"inputs": text(i), "aggregation_strategy": "first"})),
        1 => ("/ner", json!({"inputs": [text(i), text(i + 1)], "aggregation_strategy": "none"})),
        2 => ("/embed", json!({"inputs": [text(i), text(i + 3)], "truncate": true})),
        3 => ("/tokenize", json!({"inputs": text(i)})),
        _ => ("/ner", json!({"inputs": text(i + 2)})),
    }
}

#[test]
fn under_load_every_answer_is_the_single_request_one() {
    // the server in its own process, so that its memory is its own
    let s = Child::spawn(&["--model", &fixture("tiny-ner").to_string_lossy()]);
    let a = agent();
    // the single-request answers, one at a time
    let distinct = 45; // request(i) repeats with period 45 (5 routes × 9 lengths)
    let expected: Vec<Value> = (0..distinct)
        .map(|i| {
            let (route, body) = request(i);
            let (st, v) = post(&a, &format!("{}{route}", s.url), &body);
            assert_eq!(st, 200, "{v}");
            v
        })
        .collect();
    let expected = Arc::new(expected);
    let (clients, per_client) = (64, 25);
    let round = |r: usize| {
        let t = Instant::now();
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let (url, expected) = (s.url.clone(), expected.clone());
                std::thread::spawn(move || {
                    let a = agent();
                    for k in 0..per_client {
                        let i = (c * 7 + k + r) % distinct;
                        let (route, body) = request(i);
                        let (st, v) = post(&a, &format!("{url}{route}"), &body);
                        assert_eq!(st, 200, "client {c} request {k}: {v}");
                        assert_eq!(v, expected[i], "client {c} request {k} ({route})");
                    }
                    per_client
                })
            })
            .collect();
        let answered: usize = handles.into_iter().map(|h| h.join().expect("a client failed")).sum();
        assert_eq!(answered, clients * per_client);
        t.elapsed().as_secs_f64()
    };
    // two rounds of 64 clients × 25 requests: the server's memory after the second is that after the first
    let secs = round(0);
    let rss_first = s.rss_kb();
    round(1);
    let rss_second = s.rss_kb();
    eprintln!("load: 2 × {} requests from {clients} clients ({secs:.1} s for the first); server RSS {rss_first} kB, then {rss_second} kB", clients * per_client);
    assert!(rss_second < rss_first + 20_000, "the server's RSS grew from {rss_first} kB to {rss_second} kB over the second round");
    assert!(rss_second < 400_000, "RSS {rss_second} kB");
    // every request counted once, the queue empty again, and batches did form
    assert_eq!(queue_size(&a, &s.url), 0);
    let (_, m) = get(&a, &format!("{}/metrics", s.url));
    let count = |route: &str| -> u64 {
        m.lines().find(|l| l.starts_with(&format!("te_request_count{{route=\"{route}\",status=\"200\"}}"))).and_then(|l| l.rsplit(' ').next()).unwrap().parse().unwrap()
    };
    let total = 2 * clients * per_client + distinct;
    assert_eq!(count("/ner") + count("/embed") + count("/tokenize"), total as u64);
    let batches: u64 = m.lines().find(|l| l.starts_with("te_batch_count ")).unwrap()[15..].parse().unwrap();
    let model_requests = total * 4 / 5;
    assert!(batches < model_requests as u64, "{batches} forward passes for {model_requests} model requests: no batching happened");
}

#[test]
fn a_tiny_queue_answers_429_and_nothing_else() {
    let s = start("tiny-ner", ServerConfig { max_concurrent_requests: 2, ..ServerConfig::default() });
    let body = json!({"inputs": [TEXTS[3].repeat(6), TEXTS[0].repeat(6)], "aggregation_strategy": "simple"});
    let (_, expected) = post(&agent(), &format!("{}/ner", s.url), &body);
    let handles: Vec<_> = (0..32)
        .map(|_| {
            let (url, body, expected) = (s.url.clone(), body.clone(), expected.clone());
            std::thread::spawn(move || {
                let a = agent();
                let (mut ok, mut busy) = (0, 0);
                for _ in 0..10 {
                    let (st, v) = post(&a, &format!("{url}/ner"), &body);
                    match st {
                        200 => {
                            assert_eq!(v, expected);
                            ok += 1
                        }
                        429 => {
                            assert_eq!(v["error_type"], "overloaded", "{v}");
                            busy += 1
                        }
                        other => panic!("status {other}: {v}"),
                    }
                }
                (ok, busy)
            })
        })
        .collect();
    let (ok, busy) = handles.into_iter().map(|h| h.join().unwrap()).fold((0, 0), |(a, b), (c, d)| (a + c, b + d));
    assert_eq!(ok + busy, 320);
    assert!(busy > 0 && ok > 0, "{ok} answered, {busy} refused");
}

#[test]
fn sigterm_finishes_the_queued_requests_then_exits_0() {
    let mut s = Child::spawn(&["--model", &fixture("tiny-ner").to_string_lossy(), "--max-batch-requests", "1"]);
    let url = s.url.clone();
    // heavy requests (about 6,000 tokens each, run one at a time): all 12 are queued long before they are done
    let body = json!({"inputs": TEXTS[3].repeat(150), "aggregation_strategy": "first"});
    let (st, expected) = post(&agent(), &format!("{url}/ner"), &body);
    assert_eq!(st, 200, "{expected}");
    let handles: Vec<_> = (0..12)
        .map(|_| {
            let (url, body) = (url.clone(), body.clone());
            std::thread::spawn(move || post(&agent(), &format!("{url}/ner"), &body))
        })
        .collect();
    let a = agent();
    let t = Instant::now();
    while queue_size(&a, &url) < 12 {
        assert!(t.elapsed() < Duration::from_secs(120), "the requests did not queue");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(Command::new("kill").args(["-TERM", &s.child.id().to_string()]).status().unwrap().success());
    for h in handles {
        let (st, v) = h.join().unwrap();
        assert_eq!((st, &v), (200, &expected), "a queued request was dropped by the shutdown");
    }
    let t = Instant::now();
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    let rest = s.rest_of_stderr();
    assert!(status.success(), "exit {status:?}: {rest}");
    assert!(rest.contains("server stopped"), "{rest}");
}
