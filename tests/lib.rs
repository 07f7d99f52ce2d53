//! Shared helpers for the integration tests: where the fixtures are, scratch folders, fixture models and JSON
//! Lines, HF reference batches and the masked max-error of a comparison.
use std::path::PathBuf;

/// Absolute path of `tests/fixtures/<rel>` (`$ROBERTA_FIXTURES/<rel>` when set: test binaries run on
/// another machine, e.g. the GPU bundle of `cargo xtask gpu-check`).
pub fn fixture(rel: &str) -> PathBuf {
    match std::env::var_os("ROBERTA_FIXTURES") {
        Some(d) => PathBuf::from(d).join(rel),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel),
    }
}

/// A fresh, empty scratch directory under the system temp dir, unique to this process and `tag`.
pub fn scratch_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "roberta-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create scratch dir");
    d
}

/// A copy of fixture directory `rel` in a scratch dir, leaving out the files named in `skip`.
pub fn fixture_copy(rel: &str, skip: &[&str]) -> PathBuf {
    let src = fixture(rel);
    let dst = scratch_dir(&rel.replace('/', "-"));
    for entry in std::fs::read_dir(&src).expect("fixture dir") {
        let p = entry.expect("dir entry").path();
        let name = p.file_name().expect("file name").to_string_lossy().to_string();
        if p.is_file() && !skip.contains(&name.as_str()) {
            std::fs::copy(&p, dst.join(&name)).expect("copy fixture");
        }
    }
    dst
}

/// A fixture model of `tests/fixtures/models/{name}`, loaded on the CPU.
pub fn model(name: &str) -> roberta::Model {
    roberta::Model::load(fixture(&format!("models/{name}")), roberta::Device::Cpu).expect("load model")
}

/// The JSON records of the JSON Lines fixture `rel`.
pub fn lines(rel: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(fixture(rel)).expect("read fixture").lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
}

/// An HF reference batch (`reference/{name}_reference.safetensors`): its ids, mask and token types (0 when the
/// file has none), and the file, which holds the reference hidden states and logits.
pub struct Reference {
    pub ids: Vec<u32>,
    pub mask: Vec<u32>,
    pub types: Vec<u32>,
    pub batch: usize,
    pub seq_len: usize,
    pub file: roberta_checkpoint::safetensors::SafetensorsFile,
}

/// Reads `reference/{name}_reference.safetensors`.
pub fn reference(name: &str) -> Reference {
    let file = roberta_checkpoint::safetensors::SafetensorsFile::open(&fixture(&format!("reference/{name}_reference.safetensors"))).expect("reference file");
    let (shape, ids) = file.i64("input_ids").expect("input_ids");
    let (_, mask) = file.i64("attention_mask").expect("attention_mask");
    let types = file.i64("token_type_ids").map_or_else(|_| vec![0; ids.len()], |(_, t)| t);
    let u32s = |v: &[i64]| v.iter().map(|&x| x as u32).collect();
    Reference { ids: u32s(&ids), mask: u32s(&mask), types: u32s(&types), batch: shape[0], seq_len: shape[1], file }
}

/// Max abs difference over rows of `width` whose mask is set.
pub fn max_err(ours: &[f32], theirs: &[f32], width: usize, rows: &[bool]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    ours.chunks(width)
        .zip(theirs.chunks(width))
        .zip(rows)
        .filter(|(_, &m)| m)
        .flat_map(|((a, b), _)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
        .fold(0.0, f32::max)
}

#[cfg(test)]
mod layout {
    /// Cargo builds only the test files `tests/Cargo.toml` lists (its auto-discovery would look in
    /// tests/tests/, not here): a test file left out would never run. Every `*.rs` here but lib.rs must be.
    #[test]
    fn every_test_file_is_listed_in_cargo_toml() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let mut missing = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            if name.ends_with(".rs") && name != "lib.rs" && !manifest.contains(&format!("path = \"{name}\"")) {
                missing.push(name);
            }
        }
        assert!(missing.is_empty(), "test files not in tests/Cargo.toml (never built or run): {missing:?}");
    }
}
