//! Bad tokenizer files give clear errors naming the file and line; any `&str` encodes without a panic.
use roberta_tests::{fixture, fixture_copy, scratch_dir};
use roberta_tokenizer::{Tokenizer, TokenizerError};
use std::fs;

fn err_of(dir: &std::path::Path) -> String {
    match Tokenizer::from_dir(dir) {
        Ok(_) => panic!("{} loaded, but it is broken", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn slow_copy() -> std::path::PathBuf {
    fixture_copy("models/tiny-mlm", &["pytorch_model.bin"])
}

#[test]
fn malformed_merges_line_names_file_and_line() {
    let d = slow_copy();
    let p = d.join("merges.txt");
    let mut lines: Vec<String> = fs::read_to_string(&p).unwrap().lines().map(String::from).collect();
    lines[5] = "tres partes aqui".into();
    fs::write(&p, lines.join("\n")).unwrap();
    let e = err_of(&d);
    assert!(e.contains("merges.txt:6") && e.contains("malformed merge"), "{e}");
}

#[test]
fn merge_naming_unknown_token() {
    let d = slow_copy();
    let p = d.join("merges.txt");
    let mut s = fs::read_to_string(&p).unwrap();
    s.push_str("\nzzq№ x\n");
    fs::write(&p, s).unwrap();
    let e = err_of(&d);
    assert!(e.contains("merges.txt:") && e.contains("\"zzq№\"") && e.contains("not in the vocabulary"), "{e}");
}

#[test]
fn malformed_vocab() {
    let d = slow_copy();
    fs::write(d.join("vocab.json"), r#"{"<s>": 0, "<pad>": "uno"}"#).unwrap();
    let e = err_of(&d);
    assert!(e.contains("vocab.json") && e.contains("<pad>"), "{e}");
    fs::write(d.join("vocab.json"), r#"{"<s>": 0, "<pad>": 1"#).unwrap();
    let e = err_of(&d);
    assert!(e.contains("vocab.json") && e.contains("invalid JSON"), "{e}");
    fs::write(d.join("vocab.json"), r#"{"<s>": 0, "<pad>": 0}"#).unwrap();
    let e = err_of(&d);
    assert!(e.contains("also the id"), "{e}");
}

#[test]
fn missing_files() {
    let d = scratch_dir("tok-empty");
    assert!(matches!(Tokenizer::from_dir(&d), Err(TokenizerError::NoTokenizer { .. })));
    let d = fixture_copy("models/tiny-mlm", &["pytorch_model.bin", "merges.txt"]);
    let e = err_of(&d);
    assert!(e.contains("no tokenizer: merges.txt is missing (vocab.json is there)"), "{e}");
    let e = err_of(&d.join("nope"));
    assert!(e.contains("no such directory"), "{e}");
    let e = err_of(&d.join("vocab.json"));
    assert!(e.contains("a file, not a directory"), "{e}");
}

#[test]
fn unknown_model_type_and_components() {
    let d = fixture_copy("models/tiny-ner", &["model.safetensors"]);
    let p = d.join("tokenizer.json");
    let orig = fs::read_to_string(&p).unwrap();
    fs::write(&p, orig.replacen("\"type\": \"BPE\"", "\"type\": \"WordLevel\"", 1)).unwrap();
    let e = err_of(&d);
    assert!(e.contains("tokenizer.json") && e.contains("model type \"WordLevel\""), "{e}");
    // a WordPiece model behind RoBERTa's byte-level pre-tokenizer is not a combination HF's BERT makes
    fs::write(&p, orig.replacen("\"type\": \"BPE\"", "\"type\": \"WordPiece\"", 1)).unwrap();
    let e = err_of(&d);
    assert!(e.contains("tokenizer.json") && e.contains("pre_tokenizer (with WordPiece) \"ByteLevel\""), "{e}");
    fs::write(&p, orig.replacen("\"normalizer\": null", "\"normalizer\": {\"type\": \"NFKC\"}", 1)).unwrap();
    let e = err_of(&d);
    assert!(e.contains("normalizer") && e.contains("NFKC"), "{e}");
    fs::write(&p, &orig[..orig.len() / 2]).unwrap();
    let e = err_of(&d);
    assert!(e.contains("tokenizer.json") && e.contains("invalid JSON"), "{e}");
}

/// WordPiece files: an empty vocab.txt, an unk token the vocabulary lacks, an unsupported normalizer, a template
/// naming a special token it does not define or an id no token has.
#[test]
fn wordpiece_files() {
    let d = fixture_copy("tokenizers/wordpiece-cased-es", &["tokenizer.json"]);
    fs::write(d.join("vocab.txt"), "").unwrap();
    let e = err_of(&d);
    assert!(e.contains("vocab.txt") && e.contains("the vocabulary is empty"), "{e}");
    // vocab.txt without [UNK] and the like: the role tokens are added after it, as transformers does
    fs::write(d.join("vocab.txt"), "hola\n##s\n").unwrap();
    let t = Tokenizer::from_dir(&d).unwrap();
    assert_eq!(t.encode("holas xyz").ids.len(), 5, "[CLS] hola ##s [UNK] [SEP]");

    let d = fixture_copy("tokenizers/wordpiece-cased-es", &["vocab.txt"]);
    let p = d.join("tokenizer.json");
    let orig = fs::read_to_string(&p).unwrap();
    let mut j: serde_json::Value = serde_json::from_str(&orig).unwrap();
    j["model"]["unk_token"] = "<desconocido>".into();
    fs::write(&p, j.to_string()).unwrap();
    let e = err_of(&d);
    assert!(e.contains("tokenizer.json") && e.contains("unk_token \"<desconocido>\" is not in the vocabulary"), "{e}");

    let mut j: serde_json::Value = serde_json::from_str(&orig).unwrap();
    j["normalizer"] = serde_json::json!({"type": "NFKC"});
    // (BertTokenizer would replace the normalizer: a directory without a tokenizer class runs tokenizer.json's)
    fs::write(d.join("tokenizer_config.json"), "{}").unwrap();
    fs::write(&p, j.to_string()).unwrap();
    let e = err_of(&d);
    assert!(e.contains("unsupported normalizer \"NFKC\""), "{e}");

    let mut j: serde_json::Value = serde_json::from_str(&orig).unwrap();
    j["post_processor"]["single"][0] = serde_json::json!({"SpecialToken": {"id": "[BOS]", "type_id": 0}});
    fs::write(&p, j.to_string()).unwrap();
    let e = err_of(&d);
    assert!(e.contains("special token \"[BOS]\" is not in special_tokens"), "{e}");

    let mut j: serde_json::Value = serde_json::from_str(&orig).unwrap();
    j["post_processor"]["special_tokens"]["[CLS]"]["ids"] = serde_json::json!([999999]);
    fs::write(&p, j.to_string()).unwrap();
    let e = err_of(&d);
    assert!(e.contains("special token id 999999 is not a token"), "{e}");
}

#[test]
fn any_unicode_encodes() {
    let tok = Tokenizer::from_dir(fixture("tokenizers/roberta-bne")).unwrap();
    let all: String = (0..0x11_0000u32).step_by(13).filter_map(char::from_u32).collect();
    for chunk in all.chars().collect::<Vec<_>>().chunks(4000) {
        let s: String = chunk.iter().collect();
        let e = tok.encode(&s);
        assert!(e.len() > 2);
        assert!(e.offsets.iter().all(|&(a, b)| a <= b && b <= s.chars().count()));
        assert!(e.byte_offsets.iter().all(|&(a, b)| s.is_char_boundary(a) && s.is_char_boundary(b) && a <= b));
    }
    for s in ["", " ", "\0", "<mask>", "<s></s><pad><unk><mask>", "\u{feff}\u{200d}"] {
        let _ = tok.encode(s);
        let _ = tok.decode(&tok.encode(s).ids, true);
    }
    assert_eq!(tok.decode(&[u32::MAX, 0, 999_999], false), "<s>");
}
