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
