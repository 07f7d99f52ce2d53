//! What the two tokenizer benches share (included by each with `#[path]`: `tokenizers` stays a
//! dev-dependency, so it cannot live in the benches' library): the fixtures, the PharmaCoNER documents, and
//! our tokenizer beside the `tokenizers` crate's on the same roberta-bne files.
use roberta_tokenizer::Tokenizer;
use std::path::PathBuf;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// The 500 PharmaCoNER training documents (1.21 MB of UTF-8).
pub fn pharmaconer_docs() -> Vec<String> {
    let text = std::fs::read_to_string(fixtures().join("corpora/pharmaconer/train_docs.jsonl")).expect("corpus");
    text.lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["text"].as_str().expect("text").to_string())
        .collect()
}

/// Ours and the peer on the roberta-bne vocabulary, the peer without the truncation and padding a
/// tokenizer.json may carry (as transformers turns them off).
pub fn roberta_bne() -> (Tokenizer, tokenizers::Tokenizer) {
    pair("tokenizers/roberta-bne")
}

/// Ours and the peer on a fixture tokenizer directory (tokenizer.json), the peer without truncation and padding.
pub fn pair(rel: &str) -> (Tokenizer, tokenizers::Tokenizer) {
    let dir = fixtures().join(rel);
    let ours = Tokenizer::from_dir(&dir).expect("ours");
    let mut peer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("peer");
    peer.with_truncation(None).expect("no truncation");
    peer.with_padding(None);
    (ours, peer)
}
