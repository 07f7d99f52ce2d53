//! The tokenizer on arbitrary text: the byte-level fixture tokenizers (tokenizer.json and vocab.json + merges.txt)
//! a WordPiece one (uncased: the normalizer at work) and a SentencePiece Unigram one (the compiled map), single texts, pairs, pre-split words, truncation, and
//! decoding arbitrary ids. Checks the invariants every caller
//! relies on: ids inside the vocabulary, offsets inside the text and ordered, truncation honoured.
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;
use roberta_tokenizer::{EncodeOptions, Input, Tokenizer};
use std::sync::OnceLock;

fn tokenizers() -> &'static [Tokenizer; 4] {
    static T: OnceLock<[Tokenizer; 4]> = OnceLock::new();
    T.get_or_init(|| {
        [
            Tokenizer::from_dir(common::fixture("models/tiny-ner")).expect("tiny-ner tokenizer"),
            Tokenizer::from_dir(common::fixture("models/tiny-mlm")).expect("tiny-mlm tokenizer"),
            Tokenizer::from_dir(common::fixture("tokenizers/wordpiece-uncased-es")).expect("WordPiece tokenizer"),
            Tokenizer::from_dir(common::fixture("tokenizers/unigram-xlmr-es")).expect("Unigram tokenizer"),
        ]
    })
}

fn check(tok: &Tokenizer, input: Input, opts: &EncodeOptions, chars: usize) {
    let Ok(e) = tok.encode_with(input, opts) else { return };
    assert_eq!(e.ids.len(), e.offsets.len());
    if let Some(m) = opts.max_length {
        assert!(e.ids.len() <= m.max(if opts.add_special_tokens { 4 } else { 0 }), "{} ids over max_length {m}", e.ids.len());
    }
    for (&id, &(s, t)) in e.ids.iter().zip(&e.offsets) {
        assert!(tok.id_to_token(id).is_some(), "id {id} has no token");
        assert!(s <= t && t <= chars, "offset ({s}, {t}) outside a text of {chars} characters");
    }
    let _ = tok.decode(&e.ids, false);
    let _ = tok.decode(&e.ids, true);
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else { return };
    // bit 0 and bits 6–7: tiny-ner, tiny-mlm, WordPiece (bit 7), Unigram (bit 6)
    let k = match (ctl & 1, ctl >> 6) {
        (_, 1) => 3,
        (1, 2 | 3) => 2,
        (b, _) => b as usize,
    };
    let tok = &tokenizers()[k];
    let opts = EncodeOptions {
        add_special_tokens: ctl & 2 == 0,
        max_length: (ctl & 4 != 0).then_some((ctl >> 3) as usize),
        ..Default::default()
    };
    // Decoding never trusts its ids.
    let ids: Vec<u32> = rest.chunks(2).map(|c| u16::from_le_bytes([c[0], *c.get(1).unwrap_or(&0)]) as u32 * 2).collect();
    let _ = tok.decode(&ids, ctl & 2 != 0);
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let n = text.chars().count();
    let _ = tok.encode(text);
    check(tok, Input::Single(text), &opts, n);
    if let Some((a, b)) = text.split_once('\t') {
        check(tok, Input::Pair(a, b), &opts, n.max(b.chars().count()));
    }
    let words: Vec<&str> = text.split(' ').collect();
    let longest = words.iter().map(|w| w.chars().count()).max().unwrap_or(0);
    check(tok, Input::Words(&words), &opts, longest.max(n));
});
