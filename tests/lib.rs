//! Shared helpers for the integration tests: where the fixtures are.
use std::path::PathBuf;

/// Absolute path of `tests/fixtures/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(rel)
}
