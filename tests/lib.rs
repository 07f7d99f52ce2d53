//! Shared helpers for the integration tests: where the fixtures are.
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
