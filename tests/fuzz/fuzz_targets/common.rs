//! What the targets share: the fixture folder and a per-process scratch folder for inputs that must be files.
#![allow(dead_code)]
use std::path::PathBuf;

/// `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(rel)
}

/// A scratch folder unique to this process (in /dev/shm when there is one: inputs are written per run).
pub fn scratch() -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let d = base.join(format!("roberta-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// Splits an input into at most `n` parts at the separator `\n@@\n` (what the seeds use between files).
pub fn split_parts(data: &[u8], n: usize) -> Vec<&[u8]> {
    let sep = b"\n@@\n";
    let mut out = Vec::new();
    let mut rest = data;
    while out.len() + 1 < n {
        match rest.windows(sep.len()).position(|w| w == sep) {
            Some(i) => {
                out.push(&rest[..i]);
                rest = &rest[i + sep.len()..];
            }
            None => break,
        }
    }
    out.push(rest);
    out
}
