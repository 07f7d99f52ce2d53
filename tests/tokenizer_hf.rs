//! The tokenizer against Hugging Face's own outputs: every case of the four case files (three vocabularies:
//! roberta-bne from tokenizer.json and from vocab.json + merges.txt, roberta-base from vocab.json + merges.txt,
//! and the small clinical one) — ids, character offsets, word ids and decoded text.
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
