//! Differential property test: our tokenizer against the `tokenizers` crate (Hugging Face's Rust core) on
//! thousands of generated strings — whitespace runs, tabs and newlines, combining marks, emoji, CJK, digits,
//! punctuation, contractions, special tokens inside the text, very long words. Ids and character offsets must be
//! identical, for single texts, pairs and without special tokens.
use roberta_tests::fixture;
use roberta_tokenizer::{EncodeOptions, Input, Tokenizer};

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const FRAGMENTS: &[&str] = &[
    " ", "  ", "   ", "\t", "\n", "\r\n", "\n\n", " \t ", "\u{a0}", "\u{3000}", "\u{2009}", "\u{200b}",
    "paciente", "Paciente", "fiebre", "ácido", "acetilsalicílico", "PCR", "VIH+", "HbA1c=7,2", "10.5", "mg/kg",
    "0", "123", "٣", "²", "½", "Ⅻ", "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "''", "'",
    "don't", "it's", "<mask>", "<s>", "</s>", "<pad>", "<unk>", "<mask", "mask>", " <mask>", "<mask> ",
    "e\u{301}", "a\u{308}\u{301}", "\u{301}", "n\u{303}", "🩺", "💊", "👩‍⚕️", "🏳️‍🌈", "肝炎", "中文字符",
    "한국어", "日本語のテキスト", "α-β", "Ωμέγα", "Здравствуйте", "مرحبا", "हिन्दी", "ไทย", "«»", "—", "…",
    "¿", "¡", "(", ")", "[", "]", "{", "}", "\"", ",", ".", ";", ":", "!", "?", "#", "$", "%", "&", "*",
    "_", "\\", "/", "|", "~", "^", "`", "@", "+", "-", "=", "<", ">", "\u{0}", "\u{7f}", "\u{85}", "\u{feff}",
    "Ⓐ", "ǅ", "ʰ", "ª", "º", "µ", "ß", "ﬁ", "İ", "ı", "ΐ",
];

/// What BERT's normalizer and pre-tokenizer treat specially: its special tokens (inside words too), the
/// continuation prefix, format / private-use / unassigned characters, the replacement character, CJK
/// compatibility ideographs (which decompose), ideographs past the BMP, ASCII symbols that are punctuation for BERT,
/// mixed-case accents and characters whose lowercase is longer.
const BERT_FRAGMENTS: &[&str] = &[
    "[MASK]", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "x[MASK]y", "[mask]", " [MASK] ", "##", "##ción", "ÁCIDO", "Ñandú",
    "\u{ad}", "\u{200d}", "\u{e000}", "\u{378}", "\u{fffd}", "\u{f900}", "\u{2f800}", "\u{20000}", "\u{1d165}",
    "$", "+", "<", "=", ">", "^", "`", "|", "~", "·", "§", "¶", "†", "‰", "\u{301}\u{316}", "Å", "Ǆ", "ẞ", "ﬀ", "Σ",
];

/// What SentencePiece's compiled normalizer (NFKC-like) and Metaspace treat specially: compatibility forms,
/// full-width letters, ligatures, superscripts, circled numbers, the `▁` itself, whitespace of every kind, the
/// characters the map deletes, and XLM-R's special tokens (its `<mask>` strips the space on its left).
const UNIGRAM_FRAGMENTS: &[&str] = &[
    "<mask>", " <mask>", "<s>", "</s>", "<pad>", "<unk>", "▁", "▁▁", " ▁ ", "ＡＢＣ", "１２３", "ﬁ", "ﬀ", "²", "³", "①", "㎎",
    "℃", "Ⅻ", "½", "\u{a0}", "\u{3000}", "\u{2009}", "\u{200b}", "\u{200d}", "\u{feff}", "\u{ad}", "e\u{301}", "é",
    "ｶﾀｶﾅ", "ｧ", "ﾞ", "ᄀ\u{1161}", "\u{1100}\u{1161}\u{11a8}", "Å", "Ω", "ǅ", "   ", "\t\t", "\n ", "…", "’", "“",
];

fn random_text_with(rng: &mut Rng, extra: &[&str]) -> String {
    let mut s = String::new();
    let n = 1 + rng.below(12);
    for _ in 0..n {
        if !extra.is_empty() && rng.below(4) == 0 {
            s.push_str(extra[rng.below(extra.len())]);
            continue;
        }
        s.push_str(&random_text_part(rng));
    }
    s
}

/// One fragment: a very long word, a random scalar or one of FRAGMENTS.
fn random_text_part(rng: &mut Rng) -> String {
    let mut s = String::new();
    match rng.below(10) {
        0 => {
            // a very long word
            let w = FRAGMENTS[12 + rng.below(8)];
            for _ in 0..(5 + rng.below(60)) {
                s.push_str(w);
            }
        }
        1 => {
            // a random scalar from well-established blocks
            let blocks = [(0x20, 0x7e), (0xa0, 0x24f), (0x370, 0x3ff), (0x400, 0x4ff), (0x600, 0x6ff), (0x900, 0x97f), (0x2000, 0x206f), (0x3040, 0x30ff), (0x4e00, 0x9fff), (0xac00, 0xd7a3), (0x1f300, 0x1f64f)];
            let (lo, hi) = blocks[rng.below(blocks.len())];
            if let Some(c) = char::from_u32(lo + rng.below((hi - lo + 1) as usize) as u32) {
                s.push(c);
            }
        }
        _ => s.push_str(FRAGMENTS[rng.below(FRAGMENTS.len())]),
    }
    s
}

fn compare(dir: &str, seed: u64, n: usize) {
    compare_with(dir, seed, n, &[]);
}

/// Ids, character offsets and type ids of single texts (with and without special tokens) and pairs, against
/// the `tokenizers` crate on the directory's tokenizer.json; `extra` fragments are mixed into the texts.
fn compare_with(dir: &str, seed: u64, n: usize, extra: &[&str]) {
    let ours = Tokenizer::from_dir(fixture(dir)).unwrap();
    let mut peer = tokenizers::Tokenizer::from_file(fixture(dir).join("tokenizer.json")).unwrap();
    // transformers turns off the truncation and padding a tokenizer.json may carry; so do we
    peer.with_truncation(None).unwrap();
    peer.with_padding(None);
    let mut rng = Rng(seed);
    let no_special = EncodeOptions { add_special_tokens: false, ..Default::default() };
    let with_special = EncodeOptions::default();
    for case in 0..n {
        let a = random_text_with(&mut rng, extra);
        let b = random_text_with(&mut rng, extra);
        for (special, pair) in [(true, false), (false, false), (true, true)] {
            let want = if pair {
                peer.encode_char_offsets((a.as_str(), b.as_str()), special)
            } else {
                peer.encode_char_offsets(a.as_str(), special)
            }
            .unwrap();
            let input = if pair { Input::Pair(&a, &b) } else { Input::Single(&a) };
            let got = ours.encode_with(input, if special { &with_special } else { &no_special }).unwrap();
            assert_eq!(got.ids, want.get_ids(), "case {case} {dir}: ids of {a:?} / {b:?} (special {special}, pair {pair})");
            assert_eq!(got.offsets, want.get_offsets(), "case {case} {dir}: offsets of {a:?} / {b:?} (special {special}, pair {pair})");
            assert_eq!(got.type_ids, want.get_type_ids(), "case {case} {dir}: type ids of {a:?} / {b:?} (special {special}, pair {pair})");
            assert_eq!(got.word_ids, want.get_word_ids(), "case {case} {dir}: word ids of {a:?} / {b:?} (special {special}, pair {pair})");
        }
    }
}

#[test]
fn differential_roberta_bne() {
    compare("tokenizers/roberta-bne", 0x9e37_79b9_7f4a_7c15, 2500);
}

#[test]
fn differential_wordpiece_cased() {
    compare_with("tokenizers/wordpiece-cased-es", 0x2545_f491_4f6c_dd1d, 2500, BERT_FRAGMENTS);
}

#[test]
fn differential_wordpiece_uncased() {
    compare_with("tokenizers/wordpiece-uncased-es", 0x9fb2_1c65_1e98_df25, 2500, BERT_FRAGMENTS);
}

/// Accents stripped without lowercasing, ideographs not padded.
#[test]
fn differential_wordpiece_strip_accents_only() {
    compare_with("tokenizers/wordpiece-strip-es", 0x1234_5678_9abc_def1, 1500, BERT_FRAGMENTS);
}

/// SentencePiece Unigram as transformers converts an XLM-R checkpoint: the compiled NFKC map, WhitespaceSplit +
/// Metaspace, Viterbi.
#[test]
fn differential_unigram_xlmr() {
    compare_with("tokenizers/unigram-xlmr-es", 0x6a09_e667_f3bc_c908, 2500, UNIGRAM_FRAGMENTS);
}

/// Unigram without a compiled map (the identity normalization).
#[test]
fn differential_unigram_identity() {
    compare_with("tokenizers/unigram-identity-es", 0xbb67_ae85_84ca_a73b, 1500, UNIGRAM_FRAGMENTS);
}

/// bert-base-uncased's vocabulary (as all-MiniLM-L6-v2 ships it).
#[test]
fn differential_minilm_uncased() {
    compare_with("tokenizers/minilm-uncased", 0x0ddb_a11c_afe5_eed5, 2500, BERT_FRAGMENTS);
}

#[test]
fn differential_tiny_clinical() {
    compare("models/tiny-ner", 0xdead_beef_cafe_f00d, 1500);
}

/// Long runs of every kind that used to cost quadratic time (issue 20), and long words mixing merge ranks:
/// identical ids and offsets to the `tokenizers` crate, also with many special tokens in one text and with
/// truncation of a long text.
#[test]
fn differential_long_runs() {
    let dir = "tokenizers/roberta-bne";
    let ours = Tokenizer::from_dir(fixture(dir)).unwrap();
    let mut peer = tokenizers::Tokenizer::from_file(fixture(dir).join("tokenizer.json")).unwrap();
    peer.with_truncation(None).unwrap();
    peer.with_padding(None);
    let mut rng = Rng(0x51ed_270b_27ba_d6b3);
    let b64: String = (0..60_000).map(|_| b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[rng.below(64)] as char).collect();
    let mut mixed = String::new();
    while mixed.len() < 50_000 {
        // clinical words glued together: merges of every rank inside one pre-token
        mixed.push_str(["hiper", "colesterol", "emia", "xq", "ácido", "clavulánico", "zz", "tt", "ción"][rng.below(9)]);
    }
    let texts = [
        "a".repeat(30_000),
        "ab".repeat(15_000),
        " \n".repeat(15_000),
        "1234567890".repeat(3_000),
        format!("{}x", " ".repeat(30_000)),
        b64,
        mixed,
        "é".repeat(20_000),
        "!?".repeat(10_000),
        "\t".repeat(20_000),
        "<mask> fiebre<s>".repeat(3_000),
        "🩺".repeat(5_000),
    ];
    for t in &texts {
        let want = peer.encode_char_offsets(t.as_str(), true).unwrap();
        let got = ours.encode(t);
        let head: String = t.chars().take(24).collect();
        assert_eq!(got.ids, want.get_ids(), "ids of {head:?}… ({} bytes)", t.len());
        assert_eq!(got.offsets, want.get_offsets(), "offsets of {head:?}…");
    }
    // truncation of a long text, longest first for a pair
    let mut cut = peer.clone();
    cut.with_truncation(Some(tokenizers::TruncationParams { max_length: 512, ..Default::default() })).unwrap();
    let (a, b) = (&texts[6], &texts[2]);
    let want = cut.encode_char_offsets((a.as_str(), b.as_str()), true).unwrap();
    let got = ours.encode_with(Input::Pair(a, b), &EncodeOptions { max_length: Some(512), ..Default::default() }).unwrap();
    assert_eq!(got.ids, want.get_ids());
    assert_eq!(got.offsets, want.get_offsets());
}

/// Every Unicode scalar value, each between two letters (`a?b`): whether BERT's normalizer removes it
/// (control, format, private use), turns it into a space, pads it (ideographs), decomposes and strips it
/// (accents), lowercases it, and whether the pre-tokenizer splits on it (whitespace, punctuation), all show in
/// the ids and offsets — identical to the `tokenizers` crate's for each flag combination. (This is what checks
/// that our category and decomposition tables are HF's.)
#[test]
fn wordpiece_every_code_point() {
    // every scalar for bert-base-uncased's flags (lowercase, strip accents, ideographs); every fifth for the
    // cased and the strip-only ones (the debug-built peer takes ~30 s per full pass)
    for (dir, step) in [("tokenizers/minilm-uncased", 1), ("tokenizers/wordpiece-cased-es", 5), ("tokenizers/wordpiece-strip-es", 5)] {
        let ours = Tokenizer::from_dir(fixture(dir)).unwrap();
        let mut peer = tokenizers::Tokenizer::from_file(fixture(dir).join("tokenizer.json")).unwrap();
        peer.with_truncation(None).unwrap();
        peer.with_padding(None);
        let all: Vec<char> = (0..0x11_0000u32).step_by(step).filter_map(char::from_u32).collect();
        for chunk in all.chunks(2048) {
            let s: String = chunk.iter().map(|c| format!("a{c}b ")).collect();
            let want = peer.encode_char_offsets(s.as_str(), false).unwrap();
            let got = ours.encode_with(Input::Single(&s), &EncodeOptions { add_special_tokens: false, ..Default::default() }).unwrap();
            let first = chunk[0] as u32;
            assert_eq!(got.ids, want.get_ids(), "{dir}: ids around U+{first:04X}..");
            assert_eq!(got.offsets, want.get_offsets(), "{dir}: offsets around U+{first:04X}..");
        }
    }
}

/// Unicode scalar values (every fifth; the full pass was run once: identical) through SentencePiece's compiled map (as `a?b`, and alone after a space, so that
/// both the per-grapheme and the per-character lookups run), identical to the `tokenizers` crate's ids and
/// offsets: what checks our reading of the double-array trie and the grapheme rule.
#[test]
fn unigram_every_code_point() {
    let dir = "tokenizers/unigram-xlmr-es";
    let ours = Tokenizer::from_dir(fixture(dir)).unwrap();
    assert_eq!(ours.model_type(), "unigram");
    let mut peer = tokenizers::Tokenizer::from_file(fixture(dir).join("tokenizer.json")).unwrap();
    peer.with_truncation(None).unwrap();
    peer.with_padding(None);
    // every fifth scalar value, each twice (the debug-built peer takes ~7 minutes for a full pass)
    let all: Vec<char> = (0..0x11_0000u32).step_by(5).filter_map(char::from_u32).collect();
    let mut changed = 0;
    for chunk in all.chunks(2048) {
        let s: String = chunk.iter().map(|c| format!("a{c}b {c} ")).collect();
        let want = peer.encode_char_offsets(s.as_str(), false).unwrap();
        let got = ours.encode_with(Input::Single(&s), &EncodeOptions { add_special_tokens: false, ..Default::default() }).unwrap();
        let first = chunk[0] as u32;
        assert_eq!(got.ids, want.get_ids(), "{dir}: ids around U+{first:04X}..");
        assert_eq!(got.offsets, want.get_offsets(), "{dir}: offsets around U+{first:04X}..");
        changed += want.get_tokens().iter().filter(|t| t.chars().any(|c| !s.contains(c) && c != '▁')).count();
    }
    // the map did rewrite characters (else this test would prove nothing about it)
    assert!(changed > 200, "only {changed} tokens hold characters the text does not");
}

/// Edited tokenizer.json files against the `tokenizers` crate: added tokens with `normalized: true` (matched by
/// their normalized content: in an uncased vocabulary `COVID-19` matches `covid-19` and `Médico` matches
/// `medico`, through the compiled map `ＭＲＩ` matches `MRI`), no post-processor (a pair's second text is type 1)
/// and no decoder (tokens joined by spaces).
#[test]
fn added_tokens_normalized_and_bare_pipelines() {
    use roberta_tests::scratch_dir;
    for (src, extra) in [("tokenizers/wordpiece-uncased-es", vec!["COVID-19", "Médico"]), ("tokenizers/unigram-identity-es", vec!["ＭＲＩ", "PCR"]), ("tokenizers/unigram-xlmr-es", vec!["ＭＲＩ", "ﬁbrosis"])] {
        let dir = scratch_dir(&format!("added-{}", src.replace('/', "-")));
        let mut j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture(src).join("tokenizer.json")).unwrap()).unwrap();
        // the next free ids (HF gives an added token that is not in the vocabulary the next id whatever the file
        // says; a well-formed file says the same)
        let model_len = j["model"]["vocab"].as_object().map_or_else(|| j["model"]["vocab"].as_array().unwrap().len(), |v| v.len()) as u64;
        let next = j["added_tokens"].as_array().unwrap().iter().map(|t| t["id"].as_u64().unwrap() + 1).max().unwrap().max(model_len);
        for (i, content) in extra.iter().enumerate() {
            j["added_tokens"].as_array_mut().unwrap().push(serde_json::json!({
                "id": next + i as u64, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
                "normalized": true, "special": false
            }));
        }
        j["post_processor"] = serde_json::Value::Null;
        j["decoder"] = serde_json::Value::Null;
        std::fs::write(dir.join("tokenizer.json"), j.to_string()).unwrap();
        // no tokenizer_config.json: tokenizer.json runs as it is (no class rebuild)
        let ours = Tokenizer::from_dir(&dir).unwrap();
        let mut peer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
        peer.with_truncation(None).unwrap();
        peer.with_padding(None);
        let texts = ["Paciente COVID-19 positivo", "covid-19 y médico", "El Médico dijo MEDICO", "ＭＲＩ y MRI, PCR pcr", "ﬁbrosis fibrosis"];
        for (k, a) in texts.iter().enumerate() {
            let b = texts[(k + 1) % texts.len()];
            let want = peer.encode_char_offsets((*a, b), false).unwrap();
            let got = ours.encode_with(Input::Pair(a, b), &EncodeOptions { add_special_tokens: false, ..Default::default() }).unwrap();
            assert_eq!(got.ids, want.get_ids(), "{src}: ids of {a:?} / {b:?}");
            assert_eq!(got.offsets, want.get_offsets(), "{src}: offsets of {a:?} / {b:?}");
            assert_eq!(got.type_ids, want.get_type_ids(), "{src}: type ids of {a:?} / {b:?}");
            assert_eq!(ours.decode(&got.ids, false), peer.decode(want.get_ids(), false).unwrap(), "{src}: decode of {a:?}");
        }
        // the added tokens did match somewhere (the test would prove nothing otherwise)
        let all: Vec<u32> = texts.iter().flat_map(|t| ours.encode(t).ids).collect();
        assert!(all.iter().any(|&id| id >= next as u32), "{src}: no added token matched");
    }
}
