//! The tokenizer against Hugging Face's own outputs: every case of the case files — byte-level BPE (roberta-bne
//! from tokenizer.json and from vocab.json + merges.txt, roberta-base from vocab.json + merges.txt, the small
//! clinical one) and WordPiece (cased, uncased and accent-stripping Spanish vocabularies and bert-base-uncased's,
//! each from tokenizer.json and from vocab.txt + tokenizer_config.json) — ids, character offsets, type ids, word
//! ids and decoded text.
use roberta_tests::{fixture, fixture_copy};
use roberta_tokenizer::{EncodeOptions, Input, Tokenizer};
use serde_json::Value;
use std::path::Path;

fn check_cases(tok: &Tokenizer, cases: &str) {
    let text = std::fs::read_to_string(fixture(cases)).expect("cases file");
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let r: Value = serde_json::from_str(line).expect("case JSON");
        let opts = EncodeOptions {
            add_special_tokens: r.get("add_special_tokens").and_then(Value::as_bool).unwrap_or(true),
            max_length: r.get("max_length").and_then(Value::as_u64).map(|m| m as usize),
            ..Default::default()
        };
        let words: Vec<&str>;
        let input = if let Some(w) = r.get("words") {
            words = w.as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect();
            Input::Words(&words)
        } else {
            let t = r["text"].as_str().unwrap();
            match r.get("text_pair").and_then(Value::as_str) {
                Some(p) if !p.is_empty() => Input::Pair(t, p),
                _ => Input::Single(t),
            }
        };
        let e = tok.encode_with(input, &opts).expect("encode");
        let want_ids: Vec<u32> = serde_json::from_value(r["input_ids"].clone()).unwrap();
        let want_off: Vec<(usize, usize)> = serde_json::from_value(r["offsets"].clone()).unwrap();
        assert_eq!(e.ids, want_ids, "{cases} line {}: ids of {line}", i + 1);
        assert_eq!(e.offsets, want_off, "{cases} line {}: offsets of {line}", i + 1);
        if let Some(t) = r.get("token_type_ids") {
            let want: Vec<u32> = serde_json::from_value(t.clone()).unwrap();
            assert_eq!(e.type_ids, want, "{cases} line {}: token_type_ids", i + 1);
        }
        if let Some(w) = r.get("word_ids") {
            let want: Vec<Option<u32>> = serde_json::from_value(w.clone()).unwrap();
            assert_eq!(e.word_ids, want, "{cases} line {}: word_ids", i + 1);
        }
        if let Some(d) = r.get("decoded").and_then(Value::as_str) {
            assert_eq!(tok.decode(&e.ids, true), d, "{cases} line {}: decode", i + 1);
        }
        // byte offsets are the same spans as the character offsets
        if let Input::Single(t) = input {
            for (&(cs, ce), &(bs, be)) in e.offsets.iter().zip(&e.byte_offsets) {
                let chars: String = t.chars().skip(cs).take(ce - cs).collect();
                assert_eq!(&t[bs..be], chars, "{cases} line {}: byte offsets", i + 1);
            }
        }
        n += 1;
    }
    assert!(n > 250, "{cases}: only {n} cases");
}

#[test]
fn roberta_bne_tokenizer_json() {
    check_cases(&Tokenizer::from_dir(fixture("tokenizers/roberta-bne")).unwrap(), "tokenizers/roberta-bne.cases.jsonl");
}

#[test]
fn roberta_bne_vocab_merges_as_bsc_ships_it() {
    // bsc-bio-ehr-es ships vocab.json + merges.txt only: the same directory without tokenizer.json
    let dir = fixture_copy("tokenizers/roberta-bne", &["tokenizer.json"]);
    check_cases(&Tokenizer::from_dir(&dir).unwrap(), "tokenizers/roberta-bne-slow.cases.jsonl");
}

#[test]
fn roberta_base_vocab_merges() {
    check_cases(&Tokenizer::from_dir(fixture("tokenizers/roberta-base")).unwrap(), "tokenizers/roberta-base.cases.jsonl");
}

/// A WordPiece directory from tokenizer.json, and from vocab.txt + tokenizer_config.json alone (an older BERT
/// checkpoint's files: transformers builds the tokenizer from the config's do_lower_case, strip_accents and
/// tokenize_chinese_chars).
fn wordpiece(name: &str) {
    let dir = format!("tokenizers/{name}");
    let fast = Tokenizer::from_dir(fixture(&dir)).unwrap();
    assert_eq!(fast.model_type(), "wordpiece");
    check_cases(&fast, &format!("{dir}.cases.jsonl"));
    let slow = Tokenizer::from_dir(fixture_copy(&dir, &["tokenizer.json"])).unwrap();
    assert_eq!(slow.model_type(), "wordpiece");
    // the generator writes a -slow file only when transformers' slow route differs (it does not, for these)
    let slow_cases = format!("{dir}-slow.cases.jsonl");
    let slow_cases = if fixture(&slow_cases).exists() { slow_cases } else { format!("{dir}.cases.jsonl") };
    check_cases(&slow, &slow_cases);
}

/// A Unigram (XLM-R) directory from tokenizer.json, and from sentencepiece.bpe.model + the config files alone
/// (transformers converts the protobuf; the generator found the two routes identical, so one case file serves
/// both).
fn unigram(name: &str) {
    let dir = format!("tokenizers/{name}");
    let fast = Tokenizer::from_dir(fixture(&dir)).unwrap();
    assert_eq!(fast.model_type(), "unigram");
    check_cases(&fast, &format!("{dir}.cases.jsonl"));
    let slow = Tokenizer::from_dir(fixture_copy(&dir, &["tokenizer.json"])).unwrap();
    assert_eq!(slow.model_type(), "unigram");
    check_cases(&slow, &format!("{dir}.cases.jsonl"));
}

/// transformers' XLMRobertaTokenizer keeps tokenizer.json's pieces, compiled map and added tokens and rebuilds
/// the rest: a tokenizer.json in transformers 4's layout (Replace of space runs, Metaspace alone) gives the
/// same tokens as the converted one under that class, and its own (a `▁` for trailing spaces, offsets on the
/// spaces) as a bare tokenizer.json.
#[test]
fn unigram_xlmr_class_rebuilds_the_pipeline() {
    let dir = fixture_copy("tokenizers/unigram-xlmr-es", &["sentencepiece.bpe.model"]);
    let p = dir.join("tokenizer.json");
    let mut j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    let charsmap = j["normalizer"].clone();
    j["normalizer"] = serde_json::json!({"type": "Sequence", "normalizers": [charsmap, {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]});
    j["pre_tokenizer"] = serde_json::json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true});
    std::fs::write(&p, j.to_string()).unwrap();
    let converted = Tokenizer::from_dir(fixture("tokenizers/unigram-xlmr-es")).unwrap();
    let as_class = Tokenizer::from_dir(&dir).unwrap();
    let text = "Paciente  con   fiebre ";
    assert_eq!(as_class.encode(text), converted.encode(text));
    std::fs::write(dir.join("tokenizer_config.json"), "{}").unwrap();
    let bare = Tokenizer::from_dir(&dir).unwrap().encode(text);
    assert_ne!(bare.ids, converted.encode(text).ids);
}

#[test]
fn unigram_xlmr_with_compiled_map() {
    unigram("unigram-xlmr-es");
}

#[test]
fn unigram_identity() {
    unigram("unigram-identity-es");
}

#[test]
fn wordpiece_cased_spanish() {
    wordpiece("wordpiece-cased-es");
}

#[test]
fn wordpiece_uncased_spanish() {
    wordpiece("wordpiece-uncased-es");
}

#[test]
fn wordpiece_strip_accents_without_lowercase() {
    wordpiece("wordpiece-strip-es");
}

#[test]
fn wordpiece_bert_base_uncased_vocabulary() {
    wordpiece("minilm-uncased");
}

#[test]
fn tiny_clinical() {
    check_cases(&Tokenizer::from_dir(fixture("models/tiny-mlm")).unwrap(), "tokenizers/tiny-clinical.cases.jsonl");
}

#[test]
fn fast_and_slow_files_agree_on_the_tiny_models() {
    // tiny-ner ships tokenizer.json, tiny-mlm vocab.json + merges.txt, trained together
    let slow = Tokenizer::from_dir(fixture("models/tiny-mlm")).unwrap();
    let fast = Tokenizer::from_dir(fixture("models/tiny-ner")).unwrap();
    for t in ["Paciente de 45 años con <mask> abdominal.", "  doble\tespacio\n", "ÁÉÍÓÚ ñ 🩺"] {
        assert_eq!(slow.encode(t), fast.encode(t), "{t:?}");
    }
}

#[test]
fn padding_and_masks() {
    let tok = Tokenizer::from_dir(fixture("models/tiny-mlm")).unwrap();
    let inputs = [Input::Single("uno"), Input::Single("uno dos tres cuatro"), Input::Pair("a", "b")];
    let v = tok.encode_batch(&inputs, &EncodeOptions::default(), roberta_tokenizer::Padding::Longest).unwrap();
    let n = v[1].len();
    assert!(v.iter().all(|e| e.len() == n));
    assert_eq!(v[0].attention_mask.iter().filter(|&&m| m == 1).count(), tok.encode("uno").len());
    assert_eq!(*v[0].ids.last().unwrap(), tok.pad_token_id());
    assert_eq!(v[2].sequence_ids.iter().flatten().copied().collect::<Vec<_>>(), vec![0, 1]);
    let fixed = tok.encode_batch(&inputs[..1], &EncodeOptions::default(), roberta_tokenizer::Padding::Fixed(12)).unwrap();
    assert_eq!(fixed[0].len(), 12);
    assert_eq!(fixed[0].special_tokens_mask.iter().filter(|&&m| m == 0).count(), tok.encode_with(Input::Single("uno"), &EncodeOptions { add_special_tokens: false, ..Default::default() }).unwrap().len());
}

#[test]
fn truncation_longest_first_and_too_small() {
    let tok = Tokenizer::from_dir(fixture("models/tiny-mlm")).unwrap();
    let long = "uno dos tres cuatro cinco seis siete ocho nueve diez once doce";
    let opts = EncodeOptions { max_length: Some(10), ..Default::default() };
    let e = tok.encode_with(Input::Pair(long, "a b"), &opts).unwrap();
    assert_eq!(e.len(), 10);
    // the short second text survives whole: 10 - 4 special - 2 = 4 tokens of the first
    assert_eq!(e.sequence_ids.iter().filter(|s| **s == Some(1)).count(), tok.encode_with(Input::Single("a b"), &EncodeOptions { add_special_tokens: false, ..Default::default() }).unwrap().len());
    let err = tok.encode_with(Input::Pair(long, "a"), &EncodeOptions { max_length: Some(3), ..Default::default() }).unwrap_err();
    assert!(err.to_string().contains("max_length 3"), "{err}");
}

#[test]
fn special_tokens_mask_and_decode_keeps_specials() {
    let tok = Tokenizer::from_dir(fixture("models/tiny-mlm")).unwrap();
    let e = tok.encode("Dolor <mask>.");
    assert_eq!(e.special_tokens_mask.first(), Some(&1));
    assert_eq!(e.special_tokens_mask.last(), Some(&1));
    assert!(e.ids.contains(&tok.mask_token_id().unwrap()));
    // the text after an added token gets its own prefix space, as in HF
    assert_eq!(tok.decode(&e.ids, false), "<s> Dolor<mask> .</s>");
    assert_eq!(tok.decode(&e.ids, true), " Dolor .");
}

fn _assert_send_sync(_: &Path) {
    fn is<T: Send + Sync>() {}
    is::<Tokenizer>();
}

/// transformers' BertTokenizer rebuilds the normalizer from tokenizer_config.json (do_lower_case defaulting to
/// true), whatever tokenizer.json says; without a tokenizer class (and no config.json) tokenizer.json is run as
/// it is. The cased vocabulary shows which one ran.
#[test]
fn wordpiece_config_flags_win_over_tokenizer_json_for_bert() {
    let write_config = |dir: &Path, v: serde_json::Value| std::fs::write(dir.join("tokenizer_config.json"), v.to_string()).unwrap();
    let cased = Tokenizer::from_dir(fixture("tokenizers/wordpiece-cased-es")).unwrap();
    let text = "Ácido ÚRICO";
    let as_is = cased.encode(text);
    // tokenizer_class BertTokenizer without do_lower_case: lowercased and accents stripped
    let dir = fixture_copy("tokenizers/wordpiece-cased-es", &["vocab.txt"]);
    write_config(&dir, serde_json::json!({"tokenizer_class": "BertTokenizer"}));
    let lowered = Tokenizer::from_dir(&dir).unwrap().encode(text);
    let tokens = |t: &Tokenizer, e: &roberta_tokenizer::Encoding| e.ids.iter().map(|&i| t.id_to_token(i).unwrap().to_string()).collect::<Vec<_>>();
    let lowered_tokens = tokens(&cased, &lowered);
    assert!(lowered_tokens.iter().all(|t| t.chars().all(|c| !c.is_uppercase() || t.starts_with('['))), "{lowered_tokens:?}");
    assert_ne!(lowered.ids, as_is.ids);
    assert_eq!(lowered.offsets.last(), as_is.offsets.last());
    // no class, no config.json: tokenizer.json's own normalizer (cased)
    write_config(&dir, serde_json::json!({}));
    assert_eq!(Tokenizer::from_dir(&dir).unwrap().encode(text).ids, as_is.ids);
    // no class, config.json of a BERT model: BertTokenizer again
    std::fs::write(dir.join("config.json"), r#"{"model_type": "bert"}"#).unwrap();
    assert_eq!(Tokenizer::from_dir(&dir).unwrap().encode(text).ids, lowered.ids);
}
