//! Models by name from the Hugging Face Hub (issue 14), against a mock Hub on loopback (tests/support/mock_hub.rs)
//! serving the fixture models: first download, the cache answering alone, offline mode, a `refs/pr/1`
//! revision, a resumed partial download, a transfer cut and resumed, a corrupted transfer refused, 401 / 403 /
//! 404 errors, no network, a cache laid out by `huggingface_hub` read as is, and the `roberta` binary taking
//! model ids (two processes downloading the same model at once included).
#![cfg(unix)]
#[path = "support/mock_hub.rs"]
mod mock_hub;

use mock_hub::{Access, Faults, MockFile, MockHub, MockRepo};
use roberta::{Aggregation, Device, FillMask, Model, Ner};
use roberta_checkpoint::hub::{Hub, HubConfig, HubError, ModelRef, Want};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

const C_MAIN: &str = "1111111111111111111111111111111111111111";
const C_PR1: &str = "2222222222222222222222222222222222222222";
const C_NER: &str = "3333333333333333333333333333333333333333";
const C_PRIV: &str = "4444444444444444444444444444444444444444";
const C_GATED: &str = "5555555555555555555555555555555555555555";
const C_NOW: &str = "6666666666666666666666666666666666666666";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/models").join(name)
}

/// A fresh scratch folder for one test (a cache, a home), removed when the test passes (kept when it fails).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn scratch(tag: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("roberta-hub-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

fn file(bytes: Vec<u8>, lfs: bool) -> MockFile {
    MockFile { bytes: Arc::new(bytes), lfs }
}

/// A fixture model's files as a commit (weights in LFS), plus files the engine must not fetch.
fn commit_of(name: &str) -> BTreeMap<String, MockFile> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(fixture(name)).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let lfs = n.ends_with(".bin") || n.ends_with(".safetensors");
        m.insert(n, file(std::fs::read(e.path()).unwrap(), lfs));
    }
    m.insert("README.md".into(), file(b"---\nlanguage: es\n---\n# tiny\n".to_vec(), false));
    m.insert(".gitattributes".into(), file(b"*.bin filter=lfs diff=lfs merge=lfs -text\n".to_vec(), false));
    m.insert("flax_model.msgpack".into(), file(vec![7; 4096], true));
    m
}

/// tiny-mlm's weights as model.safetensors (made once per test binary: every test's mock serves them).
fn mlm_safetensors() -> Vec<u8> {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES
        .get_or_init(|| {
            let d = scratch("st-tiny-mlm");
            roberta_checkpoint::convert_bin_to_safetensors(&fixture("tiny-mlm").join("pytorch_model.bin"), &d.join("model.safetensors")).unwrap();
            std::fs::read(d.join("model.safetensors")).unwrap()
        })
        .clone()
}

fn repo_of(id: &str, commit: &str, files: BTreeMap<String, MockFile>) -> MockRepo {
    repo(id, &[("main", commit)], vec![(commit, files)], Access::Public)
}

fn repo(id: &str, refs: &[(&str, &str)], commits: Vec<(&str, BTreeMap<String, MockFile>)>, access: Access) -> MockRepo {
    MockRepo {
        id: id.into(),
        refs: refs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
        commits: commits.into_iter().map(|(c, f)| (c.to_string(), f)).collect(),
        access,
    }
}

/// The mock Hub: `PlanTL/tiny-mlm` (main: pytorch_model.bin only; refs/pr/1: model.safetensors too, as
/// bsc-bio-ehr-es), `PlanTL/tiny-ner`, a private and a gated copy, a repository without weights, and
/// `old/tiny-mlm` renamed to `PlanTL/tiny-mlm`.
fn hub() -> MockHub {
    let main = commit_of("tiny-mlm");
    let mut pr1 = main.clone();
    pr1.insert("model.safetensors".into(), file(mlm_safetensors(), true));
    let mut noweights = BTreeMap::new();
    for f in ["config.json", "vocab.json", "merges.txt"] {
        noweights.insert(f.to_string(), main[f].clone());
    }
    noweights.insert("tf_model.h5".into(), file(vec![1; 100], true));
    MockHub::start(
        vec![
            repo("PlanTL/tiny-mlm", &[("main", C_MAIN), ("refs/pr/1", C_PR1)], vec![(C_MAIN, main.clone()), (C_PR1, pr1)], Access::Public),
            repo("PlanTL/tiny-ner", &[("main", C_NER)], vec![(C_NER, commit_of("tiny-ner"))], Access::Public),
            repo("clinic/private-mlm", &[("main", C_PRIV)], vec![(C_PRIV, main.clone())], Access::Private("hf_good".into())),
            repo("clinic/gated-mlm", &[("main", C_GATED)], vec![(C_GATED, main)], Access::Gated("hf_good".into())),
            repo("clinic/no-weights", &[("main", C_NOW)], vec![(C_NOW, noweights)], Access::Public),
        ],
        &[("old/tiny-mlm", "PlanTL/tiny-mlm")],
    )
}

fn config(hub: &MockHub, cache: &Path) -> HubConfig {
    HubConfig {
        endpoint: hub.url.clone(),
        cache_dir: cache.to_path_buf(),
        token: None,
        token_source: None,
        offline: false,
        progress: false,
        metadata_timeout: Duration::from_secs(10),
        download_timeout: Duration::from_secs(10),
    }
}

fn id(s: &str) -> ModelRef {
    ModelRef::parse(s).unwrap()
}

fn fill_mask_json(dir: &Path) -> String {
    let fm = FillMask::new(Model::load(dir, Device::Cpu).unwrap(), 5).unwrap();
    let out: Vec<_> = fm.run(&["El paciente presenta dolor <mask>.", "Se administró <mask> por vía oral."]).into_iter().map(|r| r.unwrap()).collect();
    serde_json::to_string(&out).unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

fn gets(hub: &MockHub, prefix: &str) -> usize {
    hub.hits().iter().filter(|h| h.method == "GET" && h.path.starts_with(prefix)).count()
}

#[test]
fn first_download_then_the_cache_answers_alone() {
    let hub = hub();
    let cache = scratch("first");
    let h = Hub::new(config(&hub, &cache));
    let dir = h.snapshot(&id("PlanTL/tiny-mlm"), Want::Model).unwrap();
    let repo = cache.join("models--PlanTL--tiny-mlm");
    assert_eq!(dir, repo.join("snapshots").join(C_MAIN));
    // the files the engine needs, and no more (no README, .gitattributes, flax weights)
    assert_eq!(names(&dir), ["config.json", "merges.txt", "pytorch_model.bin", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"]);
    // huggingface_hub's layout: refs/main holds the commit; snapshot files are relative links to blobs named by
    // ETag (the LFS sha256, or the git blob id)
    assert_eq!(std::fs::read_to_string(repo.join("refs/main")).unwrap(), C_MAIN);
    let files = commit_of("tiny-mlm");
    for n in names(&dir) {
        let link = std::fs::read_link(dir.join(&n)).unwrap();
        assert_eq!(link, PathBuf::from("../../blobs").join(files[&n].etag()), "{n}");
        assert_eq!(std::fs::read(dir.join(&n)).unwrap(), *files[&n].bytes, "{n}");
    }
    assert!(files["pytorch_model.bin"].etag().len() == 64 && files["config.json"].etag().len() == 40);
    assert!(!names(&repo.join("blobs")).iter().any(|n| n.ends_with(".incomplete")));
    assert!(cache.join(".locks/models--PlanTL--tiny-mlm").is_dir());
    // the LFS file came from the storage the redirect named, without the token-bearing header
    assert_eq!(gets(&hub, "/cdn/"), 1);
    // what was downloaded runs as the fixture does
    assert_eq!(fill_mask_json(&dir), fill_mask_json(&fixture("tiny-mlm")));

    // second run: served from the cache without a single request
    let before = hub.hits().len();
    assert_eq!(Hub::new(config(&hub, &cache)).snapshot(&id("PlanTL/tiny-mlm"), Want::Model).unwrap(), dir);
    assert_eq!(Hub::new(config(&hub, &cache)).snapshot(&id("PlanTL/tiny-mlm"), Want::Tokenizer).unwrap(), dir);
    assert_eq!(hub.hits().len(), before, "the cache should answer alone");
    // offline: the same
    let off = HubConfig { offline: true, endpoint: "http://127.0.0.1:9".into(), ..config(&hub, &cache) };
    assert_eq!(Hub::new(off).snapshot(&id("PlanTL/tiny-mlm"), Want::Model).unwrap(), dir);
    // --refresh asks the Hub again, and downloads nothing new
    let mut h = Hub::new(config(&hub, &cache));
    h.refresh = true;
    assert_eq!(h.snapshot(&id("PlanTL/tiny-mlm"), Want::Model).unwrap(), dir);
    assert_eq!(gets(&hub, "/cdn/"), 1);
    assert_eq!(gets(&hub, "/PlanTL/tiny-mlm/resolve/"), 5, "the 5 small files, once each (the LFS file is a HEAD + a CDN GET)");
}

#[test]
fn a_pull_request_revision_brings_its_own_weights() {
    let hub = hub();
    let cache = scratch("pr");
    let h = Hub::new(config(&hub, &cache));
    let dir = h.snapshot(&id("PlanTL/tiny-mlm@refs/pr/1"), Want::Model).unwrap();
    assert_eq!(dir, cache.join("models--PlanTL--tiny-mlm/snapshots").join(C_PR1));
    // safetensors preferred, and pytorch_model.bin not fetched at all
    assert!(names(&dir).contains(&"model.safetensors".to_string()));
    assert!(!names(&dir).contains(&"pytorch_model.bin".to_string()));
    assert_eq!(std::fs::read_to_string(cache.join("models--PlanTL--tiny-mlm/refs/refs/pr/1")).unwrap(), C_PR1);
    assert!(hub.hits().iter().any(|h| h.path == "/api/models/PlanTL/tiny-mlm/revision/refs%2Fpr%2F1"));
    assert_eq!(fill_mask_json(&dir), fill_mask_json(&fixture("tiny-mlm")));
    // main then shares the small files' blobs: only the weights travel
    let cdn = gets(&hub, "/cdn/");
    let small = gets(&hub, "/PlanTL/tiny-mlm/resolve/");
    let main = h.snapshot(&id("PlanTL/tiny-mlm"), Want::Model).unwrap();
    assert_eq!(gets(&hub, "/cdn/"), cdn + 1);
    assert_eq!(gets(&hub, "/PlanTL/tiny-mlm/resolve/"), small, "the small files' blobs are shared between commits");
    assert_eq!(std::fs::read_link(main.join("config.json")).unwrap(), std::fs::read_link(dir.join("config.json")).unwrap());
    // a commit id is a revision too, and needs no ref
    let by_commit = h.snapshot(&id(&format!("PlanTL/tiny-mlm@{C_PR1}")), Want::Model).unwrap();
    assert_eq!(by_commit, dir);
    assert!(!cache.join("models--PlanTL--tiny-mlm/refs").join(C_PR1).exists());
}

#[test]
fn a_partial_download_is_resumed() {
    let hub = hub();
    let cache = scratch("resume");
    let bin = commit_of("tiny-mlm")["pytorch_model.bin"].clone();
    let blobs = cache.join("models--PlanTL--tiny-mlm/blobs");
    std::fs::create_dir_all(&blobs).unwrap();
    std::fs::write(blobs.join(format!("{}.incomplete", bin.sha256())), &bin.bytes[..1_000_000]).unwrap();
    let dir = Hub::new(config(&hub, &cache)).snapshot(&id("PlanTL/tiny-mlm"), Want::Model).unwrap();
    let cdn: Vec<_> = hub.hits().into_iter().filter(|h| h.path.starts_with("/cdn/")).collect();
    assert_eq!(cdn.len(), 1);
    assert_eq!(cdn[0].range.as_deref(), Some("bytes=1000000-"));
    assert_eq!(std::fs::read(dir.join("pytorch_model.bin")).unwrap(), *bin.bytes);
    assert!(!blobs.join(format!("{}.incomplete", bin.sha256())).exists());
}

#[test]
fn a_transfer_cut_short_resumes_where_it_stopped() {
    let hub = hub();
    let cache = scratch("cut");
    let bin = commit_of("tiny-mlm")["pytorch_model.bin"].clone();
    hub.set_faults(Faults { cut_after: Some((bin.sha256(), 3_000_000)), ..Faults::default() });
    let dir = Hub::new(config(&hub, &cache)).snapshot(&id("PlanTL/tiny-mlm"), Want::Model).unwrap();
    let cdn: Vec<_> = hub.hits().into_iter().filter(|h| h.path.starts_with("/cdn/")).collect();
    assert_eq!(cdn.len(), 2, "{cdn:?}");
    assert_eq!((cdn[0].range.as_deref(), cdn[1].range.as_deref()), (None, Some("bytes=3000000-")));
    assert_eq!(std::fs::read(dir.join("pytorch_model.bin")).unwrap(), *bin.bytes);
}

#[test]
fn a_corrupted_transfer_never_enters_the_cache() {
    let hub = hub();
    let cache = scratch("corrupt");
    let bin = commit_of("tiny-mlm")["pytorch_model.bin"].clone();
    hub.set_faults(Faults { corrupt: Some(bin.sha256()), ..Faults::default() });
    let e = Hub::new(config(&hub, &cache)).snapshot(&id("PlanTL/tiny-mlm"), Want::Model).unwrap_err();
    assert!(matches!(e, HubError::Corrupt { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("PlanTL/tiny-mlm") && msg.contains("pytorch_model.bin") && msg.contains("sha256") && msg.contains(&bin.sha256()), "{msg}");
    let repo = cache.join("models--PlanTL--tiny-mlm");
    assert!(!repo.join("blobs").join(bin.sha256()).exists());
    assert!(!repo.join("blobs").join(format!("{}.incomplete", bin.sha256())).exists());
    assert!(!repo.join("snapshots").join(C_MAIN).join("pytorch_model.bin").exists());
    assert!(!repo.join("refs/main").exists(), "no ref to an incomplete snapshot");
    // once the transfer is sound again, the same cache completes
    hub.set_faults(Faults::default());
    let dir = Hub::new(config(&hub, &cache)).snapshot(&id("PlanTL/tiny-mlm"), Want::Model).unwrap();
    assert_eq!(std::fs::read(dir.join("pytorch_model.bin")).unwrap(), *bin.bytes);
}

#[test]
fn a_corrupted_small_file_is_caught_by_its_git_id() {
    // a regular file's ETag is its git blob id (sha1 of "blob <len>\0" + bytes): other bytes are caught too
    let hub = hub();
    let cache = scratch("corrupt-small");
    let tj = commit_of("tiny-ner")["tokenizer.json"].clone();
    hub.set_faults(Faults { corrupt: Some(tj.git_oid()), ..Faults::default() });
    let e = Hub::new(config(&hub, &cache)).snapshot(&id("PlanTL/tiny-ner"), Want::Tokenizer).unwrap_err();
    let m = e.to_string();
    assert!(matches!(e, HubError::Corrupt { .. }) && m.contains("tokenizer.json") && m.contains("git blob id") && m.contains(&tj.git_oid()), "{m}");
    assert!(!cache.join("models--PlanTL--tiny-ner/blobs").join(tj.git_oid()).exists());
    hub.set_faults(Faults::default());
    let dir = Hub::new(config(&hub, &cache)).snapshot(&id("PlanTL/tiny-ner"), Want::Tokenizer).unwrap();
    assert_eq!(std::fs::read(dir.join("tokenizer.json")).unwrap(), *tj.bytes);
}

fn err(cfg: HubConfig, model: &str, want: Want) -> String {
    Hub::new(cfg).snapshot(&id(model), want).unwrap_err().to_string()
}

#[test]
fn errors_name_the_model_and_say_what_to_do() {
    let hub = hub();
    let cache = scratch("errors");
    let cfg = || config(&hub, &cache);
    // 404: no such repository
    let m = err(cfg(), "nobody/nothing", Want::Model);
    assert!(m.contains("nobody/nothing") && m.contains("HTTP 404") && m.contains("no repository") && m.contains("HF_TOKEN"), "{m}");
    // private, no token: the Hub answers 401 RepoNotFound
    let m = err(cfg(), "clinic/private-mlm", Want::Model);
    assert!(m.contains("clinic/private-mlm") && m.contains("HTTP 401") && m.contains("set HF_TOKEN"), "{m}");
    // private, another account's token
    let m = err(HubConfig { token: Some("hf_other".into()), token_source: Some("HF_TOKEN".into()), ..cfg() }, "clinic/private-mlm", Want::Model);
    assert!(m.contains("the token from HF_TOKEN has no access"), "{m}");
    // gated, no token: 401 GatedRepo; wrong token: 403
    let m = err(cfg(), "clinic/gated-mlm", Want::Model);
    assert!(m.contains("clinic/gated-mlm") && m.contains("gated or private (HTTP 401)") && m.contains("set HF_TOKEN"), "{m}");
    let m = err(HubConfig { token: Some("hf_other".into()), token_source: Some("/h/token".into()), ..cfg() }, "clinic/gated-mlm", Want::Model);
    assert!(m.contains("(HTTP 403)") && m.contains("the token from /h/token has no access") && m.contains("/clinic/gated-mlm"), "{m}");
    // revision not found
    let m = err(cfg(), "PlanTL/tiny-mlm@v9", Want::Model);
    assert!(m.contains("PlanTL/tiny-mlm@v9") && m.contains("no revision \"v9\""), "{m}");
    // no weights
    let m = err(cfg(), "clinic/no-weights", Want::Model);
    assert!(m.contains("clinic/no-weights") && m.contains("no weights") && m.contains("tf_model.h5"), "{m}");
    // ... but its tokenizer alone is there
    Hub::new(cfg()).snapshot(&id("clinic/no-weights"), Want::Tokenizer).unwrap();
    // no network
    let m = err(HubConfig { endpoint: "http://127.0.0.1:9".into(), ..cfg() }, "PlanTL/tiny-ner", Want::Model);
    assert!(m.contains("PlanTL/tiny-ner") && m.contains("cannot reach http://127.0.0.1:9") && m.contains("HF_HUB_OFFLINE=1"), "{m}");
    // offline, nothing cached
    let m = err(HubConfig { offline: true, ..cfg() }, "PlanTL/tiny-ner", Want::Model);
    assert!(m.contains("PlanTL/tiny-ner") && m.contains("HF_HUB_OFFLINE is set") && m.contains("no copy"), "{m}");
    // offline, a tokenizer-only copy cached: the weights are missing
    let m = err(HubConfig { offline: true, ..cfg() }, "clinic/no-weights", Want::Model);
    assert!(m.contains("incomplete") && m.contains("pytorch_model.bin"), "{m}");
    // none of these requests left anything behind but the one tokenizer snapshot
    assert_eq!(names(&cache), [".locks", "models--clinic--no-weights"]);
}

#[test]
fn tokens_reach_the_hub_and_nothing_else() {
    let hub = hub();
    let cache = scratch("token");
    let cfg = HubConfig { token: Some("hf_good".into()), token_source: Some("HF_TOKEN".into()), ..config(&hub, &cache) };
    let dir = Hub::new(cfg.clone()).snapshot(&id("clinic/private-mlm"), Want::Model).unwrap();
    assert_eq!(fill_mask_json(&dir), fill_mask_json(&fixture("tiny-mlm")));
    Hub::new(cfg).snapshot(&id("clinic/gated-mlm"), Want::Model).unwrap();
    let hits = hub.hits();
    assert!(hits.iter().filter(|h| h.path.starts_with("/cdn/")).count() == 2, "both weights came from the storage");
    assert!(hits.iter().filter(|h| !h.path.starts_with("/cdn/")).all(|h| h.auth.as_deref() == Some("Bearer hf_good")));
    // the storage is reached through the 302's URL, without the token (huggingface_hub strips it too)
    assert!(hits.iter().filter(|h| h.path.starts_with("/cdn/")).all(|h| h.auth.is_none()));
}

#[test]
fn a_renamed_repository_is_followed() {
    let hub = hub();
    let cache = scratch("renamed");
    let dir = Hub::new(config(&hub, &cache)).snapshot(&id("old/tiny-mlm"), Want::Model).unwrap();
    assert_eq!(dir, cache.join("models--old--tiny-mlm/snapshots").join(C_MAIN));
    assert!(hub.hits().iter().any(|h| h.method == "GET" && h.path == "/api/models/PlanTL/tiny-mlm/revision/main"));
    assert!(hub.hits().iter().any(|h| h.method == "HEAD" && h.path.starts_with("/PlanTL/tiny-mlm/resolve/")));
    assert_eq!(fill_mask_json(&dir), fill_mask_json(&fixture("tiny-mlm")));
}

/// Writes a cache as `huggingface_hub` does (blobs named by ETag, relative links, refs/main, `.no_exist`
/// markers, a `.locks` folder), without Python.
fn python_cache(cache: &Path, repo_id: &str, commit: &str, fixture_name: &str) -> PathBuf {
    let repo = cache.join(format!("models--{}", repo_id.replace('/', "--")));
    let snap = repo.join("snapshots").join(commit);
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::create_dir_all(cache.join(".locks").join(repo.file_name().unwrap())).unwrap();
    std::fs::create_dir_all(repo.join(".no_exist").join(commit)).unwrap();
    std::fs::write(repo.join(".no_exist").join(commit).join("added_tokens.json"), b"").unwrap();
    std::fs::write(repo.join(".no_exist").join(commit).join("special_tokens_map.json"), b"").unwrap();
    for e in std::fs::read_dir(fixture(fixture_name)).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let bytes = std::fs::read(e.path()).unwrap();
        let f = file(bytes.clone(), n.ends_with(".bin") || n.ends_with(".safetensors"));
        std::fs::write(repo.join("blobs").join(f.etag()), &bytes).unwrap();
        std::os::unix::fs::symlink(PathBuf::from("../../blobs").join(f.etag()), snap.join(&n)).unwrap();
    }
    std::fs::write(repo.join("refs/main"), commit).unwrap();
    // huggingface_hub 1.x / 2.x also write these
    std::fs::write(cache.join("CACHEDIR.TAG"), "Signature: 8a477f597d28d172789f06886806bc55\n").unwrap();
    std::fs::create_dir_all(repo.join("trees")).unwrap();
    std::fs::write(repo.join("trees").join(format!("{commit}.json")), "[]").unwrap();
    snap
}

#[test]
fn a_cache_written_by_huggingface_hub_is_read_as_is() {
    let hub = hub();
    let cache = scratch("python");
    let commit = "abcdefabcdefabcdefabcdefabcdefabcdefabcd";
    let snap = python_cache(&cache, "local/tiny-ner", commit, "tiny-ner");
    // offline
    let off = HubConfig { offline: true, ..config(&hub, &cache) };
    assert_eq!(Hub::new(off).snapshot(&id("local/tiny-ner"), Want::Model).unwrap(), snap);
    // online: no request either (the Hub does not even know this repository)
    assert_eq!(Hub::new(config(&hub, &cache)).snapshot(&id("local/tiny-ner"), Want::Model).unwrap(), snap);
    assert_eq!(Hub::new(config(&hub, &cache)).snapshot(&id(&format!("local/tiny-ner@{commit}")), Want::Model).unwrap(), snap);
    assert!(hub.hits().is_empty());
    let ner = |dir: &Path| {
        let n = Ner::new(Model::load(dir, Device::Cpu).unwrap(), Aggregation::First).unwrap();
        serde_json::to_string(&n.run(&["Se pautó amoxicilina 500 mg y paracetamol."]).into_iter().map(|r| r.unwrap()).collect::<Vec<_>>()).unwrap()
    };
    assert_eq!(ner(&snap), ner(&fixture("tiny-ner")));
    // a snapshot whose blob was deleted is incomplete: offline says which file
    std::fs::remove_file(cache.join("models--local--tiny-ner/blobs").join(file(std::fs::read(fixture("tiny-ner").join("model.safetensors")).unwrap(), true).etag())).unwrap();
    let m = err(HubConfig { offline: true, ..config(&hub, &cache) }, "local/tiny-ner", Want::Model);
    assert!(m.contains("incomplete") && m.contains("no model.safetensors"), "{m}");
}

// ---- the `roberta` binary with model ids, configured by the environment as huggingface_hub is ----

/// The `roberta` binary with none of the developer's Hugging Face variables (their cache, their token).
fn clean_command() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_roberta"));
    for k in [
        "HF_HOME", "HF_HUB_CACHE", "HF_ENDPOINT", "HF_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
        "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME", "HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT",
    ] {
        c.env_remove(k);
    }
    c.env("HF_HUB_DISABLE_PROGRESS_BARS", "1");
    c
}

fn roberta(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = clean_command();
    c.args(args).stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn the_command_line_takes_model_ids() {
    let hub = hub();
    let home = scratch("cli");
    let h = home.to_string_lossy().into_owned();
    let env = [("HF_ENDPOINT", hub.url.as_str()), ("HF_HOME", h.as_str())];
    let t = "El paciente presenta dolor <mask>.";
    let local = roberta(&["fill-mask", "--model", &fixture("tiny-mlm").to_string_lossy(), t], &env);
    let by_id = roberta(&["fill-mask", "--model", "PlanTL/tiny-mlm", t], &env);
    assert!(by_id.status.success(), "{}", text(&by_id.stderr));
    assert_eq!(text(&by_id.stdout), text(&local.stdout));
    assert!(text(&by_id.stderr).contains("PlanTL/tiny-mlm: downloading pytorch_model.bin"), "{}", text(&by_id.stderr));
    assert!(home.join("hub/models--PlanTL--tiny-mlm/refs/main").is_file(), "HF_HOME/hub is the cache");
    // offline, from the cache
    let n = hub.hits().len();
    let off = roberta(&["fill-mask", "--model", "PlanTL/tiny-mlm", t], &[env[0], env[1], ("HF_HUB_OFFLINE", "1")]);
    assert!(off.status.success(), "{}", text(&off.stderr));
    assert_eq!(text(&off.stdout), text(&local.stdout));
    assert_eq!(hub.hits().len(), n);
    // tokenize fetches the tokenizer and not the weights
    let tok = roberta(&["tokenize", "--tokenizer", "PlanTL/tiny-ner", "Paracetamol 1 g"], &env);
    assert!(tok.status.success(), "{}", text(&tok.stderr));
    let snap = home.join("hub/models--PlanTL--tiny-ner/snapshots").join(C_NER);
    assert_eq!(names(&snap), ["config.json", "tokenizer.json", "tokenizer_config.json"]);
    // download prints the snapshot; HF_HUB_CACHE wins over HF_HOME
    let hc = home.join("elsewhere").to_string_lossy().into_owned();
    let d = roberta(&["download", "PlanTL/tiny-mlm", "--revision", "refs/pr/1"], &[env[0], env[1], ("HF_HUB_CACHE", hc.as_str())]);
    assert!(d.status.success(), "{}", text(&d.stderr));
    assert_eq!(text(&d.stdout).trim(), home.join("elsewhere/models--PlanTL--tiny-mlm/snapshots").join(C_PR1).to_string_lossy());
    // the token file huggingface_hub writes (HF_HOME/token)
    std::fs::write(home.join("token"), "hf_good\n").unwrap();
    let p = roberta(&["download", "clinic/private-mlm"], &env);
    assert!(p.status.success(), "{}", text(&p.stderr));
    // errors exit 2 and name the model
    let e = roberta(&["ner", "--model", "nobody/nothing", "texto"], &env);
    assert_eq!(e.status.code(), Some(2));
    assert!(text(&e.stderr).contains("error: model nobody/nothing: not a local directory"), "{}", text(&e.stderr));
    let e = roberta(&["download", "not-an-id"], &env);
    assert_eq!(e.status.code(), Some(2));
    assert!(text(&e.stderr).contains("not a model id"), "{}", text(&e.stderr));
    // a directory that exists wins over an id of the same spelling (the Hub does not know local/copy)
    let work = home.join("work");
    std::fs::create_dir_all(work.join("local")).unwrap();
    std::os::unix::fs::symlink(fixture("tiny-ner"), work.join("local/copy")).unwrap();
    let n = hub.hits().len();
    let out = clean_command()
        .args(["tokenize", "--tokenizer", "local/copy", "Paracetamol"])
        .current_dir(&work)
        .env("HF_ENDPOINT", &hub.url)
        .env("HF_HOME", &h)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(hub.hits().len(), n);
}

#[test]
fn two_processes_downloading_the_same_model_share_one_transfer() {
    let hub = hub();
    let bin = commit_of("tiny-ner")["model.safetensors"].clone();
    let home = scratch("two");
    let h = home.to_string_lossy().into_owned();
    // the test holds the weights' lock (as a third process downloading them would) until both processes wait
    // on it: then exactly one of them downloads, and the other finds the blob in place
    let lock_path = home.join("hub/.locks/models--PlanTL--tiny-ner").join(format!("{}.lock", bin.sha256()));
    std::fs::create_dir_all(lock_path.parent().unwrap()).unwrap();
    let lock = std::fs::File::create(&lock_path).unwrap();
    lock.lock().unwrap();
    let spawn = || {
        let mut c = clean_command();
        c.args(["download", "PlanTL/tiny-ner"]).env("HF_ENDPOINT", &hub.url).env("HF_HOME", &h);
        c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let heads = || hub.hits().iter().filter(|x| x.method == "HEAD" && x.path.ends_with("/model.safetensors")).count();
    let t = std::time::Instant::now();
    while heads() < 2 {
        assert!(t.elapsed() < Duration::from_secs(60), "the two processes did not reach the weights");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(gets(&hub, "/cdn/"), 0, "nobody downloads while the lock is held");
    lock.unlock().unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success(), "{}\n{}", text(&a.stderr), text(&b.stderr));
    assert_eq!(text(&a.stdout), text(&b.stdout));
    let dir = PathBuf::from(text(&a.stdout).trim());
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), *bin.bytes);
    assert_eq!(gets(&hub, "/cdn/"), 1, "one transfer of the weights; the other process waited for the lock and found the blob");
    assert_eq!(gets(&hub, "/PlanTL/tiny-ner/resolve/"), 3, "and one of each small file");
    for out in [&a, &b] {
        assert!(text(&out.stderr).contains("another process is downloading it"), "{}", text(&out.stderr));
    }
}

#[test]
fn an_expired_storage_address_is_asked_again() {
    let hub = hub();
    let cache = scratch("expired");
    let bin = commit_of("tiny-mlm")["pytorch_model.bin"].clone();
    hub.set_faults(Faults { deny_once: Some(bin.sha256()), ..Faults::default() });
    let dir = Hub::new(config(&hub, &cache)).snapshot(&id("PlanTL/tiny-mlm"), Want::Model).unwrap();
    assert_eq!(std::fs::read(dir.join("pytorch_model.bin")).unwrap(), *bin.bytes);
    let heads = hub.hits().iter().filter(|x| x.method == "HEAD" && x.path.ends_with("/pytorch_model.bin")).count();
    assert_eq!((gets(&hub, "/cdn/"), heads), (2, 2), "a 403 from the storage is retried with a fresh address from the Hub");
}

#[test]
fn a_cache_without_the_tokenizer_is_completed_and_a_repository_without_one_is_remembered() {
    let hub = hub();
    let cache = scratch("no-tok");
    // what Python's AutoModel.from_pretrained leaves: config and weights, no tokenizer files
    let repo = cache.join("models--PlanTL--tiny-mlm");
    let snap = repo.join("snapshots").join(C_MAIN);
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    let files = commit_of("tiny-mlm");
    for f in ["config.json", "pytorch_model.bin"] {
        std::fs::write(repo.join("blobs").join(files[f].etag()), &*files[f].bytes).unwrap();
        std::os::unix::fs::symlink(PathBuf::from("../../blobs").join(files[f].etag()), snap.join(f)).unwrap();
    }
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), C_MAIN).unwrap();
    let dir = Hub::new(config(&hub, &cache)).snapshot(&id("PlanTL/tiny-mlm"), Want::Model).unwrap();
    assert_eq!(names(&dir), ["config.json", "merges.txt", "pytorch_model.bin", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"]);
    assert_eq!(gets(&hub, "/cdn/"), 0, "the weights were in the cache already");
    // a repository that has no tokenizer: marked absent as huggingface_hub marks a 404, then no request
    let mut bare = BTreeMap::new();
    bare.insert("config.json".to_string(), files["config.json"].clone());
    bare.insert("pytorch_model.bin".to_string(), files["pytorch_model.bin"].clone());
    let hub2 = MockHub::start(vec![repo_of("x/bare", C_MAIN, bare)], &[]);
    let dir = Hub::new(config(&hub2, &cache)).snapshot(&id("x/bare"), Want::Model).unwrap();
    assert!(cache.join("models--x--bare/.no_exist").join(C_MAIN).join("tokenizer.json").is_file());
    let n = hub2.hits().len();
    assert_eq!(Hub::new(config(&hub2, &cache)).snapshot(&id("x/bare"), Want::Model).unwrap(), dir);
    assert_eq!(hub2.hits().len(), n);
    // and it loads without a tokenizer
    let m = Model::load_with(&dir, &roberta::LoadOptions { tokenizer: false, ..Default::default() });
    assert!(m.is_ok(), "{:?}", m.err());
}

#[test]
fn a_hand_made_model_ref_cannot_leave_the_cache() {
    let hub = hub();
    let cache = scratch("escape");
    let evil = ModelRef { repo_id: "PlanTL/tiny-mlm".into(), revision: Some("../../../../escaped".into()) };
    let m = Hub::new(config(&hub, &cache)).snapshot(&evil, Want::Model).unwrap_err().to_string();
    assert!(m.contains("not a model id"), "{m}");
    let evil = ModelRef { repo_id: "../x".into(), revision: None };
    assert!(Hub::new(config(&hub, &cache)).snapshot(&evil, Want::Model).is_err());
    assert!(hub.hits().is_empty() && names(&cache).is_empty());
}

/// tiny-ner's weights split into two shards with their index, as transformers shards a checkpoint.
fn sharded_ner() -> BTreeMap<String, MockFile> {
    use roberta_checkpoint::SafetensorsFile;
    let src = fixture("tiny-ner");
    let st = SafetensorsFile::open(&src.join("model.safetensors")).unwrap();
    let (first, second) = st.entries.split_at(st.entries.len() / 2);
    let d = scratch("shards");
    let mut files = commit_of("tiny-ner");
    files.remove("model.safetensors");
    let mut map = serde_json::Map::new();
    for (k, part) in [first, second].iter().enumerate() {
        let name = format!("model-{:05}-of-00002.safetensors", k + 1);
        let recs: Vec<(&str, roberta_checkpoint::DType, &[usize], &[u8])> =
            part.iter().map(|e| (e.name.as_str(), e.dtype, e.shape.as_slice(), st.bytes(e))).collect();
        roberta_checkpoint::safetensors::write_raw(&d.join(&name), &recs).unwrap();
        files.insert(name.clone(), file(std::fs::read(d.join(&name)).unwrap(), true));
        for e in part.iter() {
            map.insert(e.name.clone(), name.clone().into());
        }
    }
    let index = serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map}).to_string();
    files.insert("model.safetensors.index.json".into(), file(index.into_bytes(), false));
    files
}

#[test]
fn a_sharded_checkpoint_comes_with_its_shards_and_a_hostile_index_is_refused() {
    let good = sharded_ner();
    let mut hostile = good.clone();
    let index = serde_json::json!({"weight_map": {"roberta.embeddings.word_embeddings.weight": "../../../../escape.safetensors"}}).to_string();
    hostile.insert("model.safetensors.index.json".into(), file(index.into_bytes(), false));
    let hub = MockHub::start(
        vec![
            repo("x/sharded", &[("main", C_NER)], vec![(C_NER, good)], Access::Public),
            repo("x/hostile", &[("main", C_NER)], vec![(C_NER, hostile)], Access::Public),
        ],
        &[],
    );
    let cache = scratch("sharded-hub");
    let dir = Hub::new(config(&hub, &cache)).snapshot(&id("x/sharded"), Want::Model).unwrap();
    assert_eq!(
        names(&dir),
        ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json"]
    );
    let ner = |d: &Path| {
        let n = Ner::new(Model::load(d, Device::Cpu).unwrap(), Aggregation::Simple).unwrap();
        serde_json::to_string(&n.run(&["Se pautó amoxicilina y paracetamol."]).into_iter().map(|r| r.unwrap()).collect::<Vec<_>>()).unwrap()
    };
    assert_eq!(ner(&dir), ner(&fixture("tiny-ner")));
    // a snapshot missing a shard is not complete: offline says which
    std::fs::remove_file(dir.join("model-00002-of-00002.safetensors")).unwrap();
    let m = err(HubConfig { offline: true, ..config(&hub, &cache) }, "x/sharded", Want::Model);
    assert!(m.contains("shards missing: model-00002-of-00002.safetensors"), "{m}");
    // an index naming a path outside the snapshot is refused before anything is fetched for it
    let m = err(config(&hub, &cache), "x/hostile", Want::Model);
    assert!(m.contains("x/hostile") && m.contains("escape.safetensors") && m.contains("not a file inside the repository"), "{m}");
    assert!(!cache.join("escape.safetensors").exists() && !cache.parent().unwrap().join("escape.safetensors").exists());
}
