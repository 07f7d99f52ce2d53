//! The tokenizer: added-token split → normalizer → pre-tokenization → model → post-processing → padding, for the
//! three families: byte-level BPE (RoBERTa: no normalizer, GPT-2 pre-tokenization), WordPiece (BERT: the BERT
//! normalizer and pre-tokenizer) and SentencePiece Unigram (XLM-R: the compiled charsmap, Metaspace).
use crate::added::AddedVocab;
use crate::bpe::Bpe;
use crate::encoding::{assemble, pad, truncate, Encoding, Padding, Seq, Template, TruncationStrategy};
use crate::error::{Result, TokenizerError};
use crate::normalizer::BertNormalizer;
use crate::pretokenize;
use crate::unigram::{self, Metaspace, Unigram, UnigramNormalizer};
use crate::wordpiece::{self, WordPiece};
use rayon::prelude::*;

/// The special tokens by role (their contents), as transformers names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecialTokens {
    /// `<s>`
    pub bos: String,
    /// `</s>`
    pub eos: String,
    /// `<unk>`
    pub unk: String,
    /// `</s>`
    pub sep: String,
    /// `<pad>`
    pub pad: String,
    /// `<s>`
    pub cls: String,
    /// `<mask>`
    pub mask: String,
}

impl SpecialTokens {
    /// BERT's: `[CLS]`, `[SEP]`, `[UNK]`, `[PAD]`, `[MASK]` (BERT has no bos / eos: they name `[CLS]` and `[SEP]`).
    pub fn bert() -> SpecialTokens {
        SpecialTokens {
            bos: "[CLS]".into(),
            eos: "[SEP]".into(),
            unk: "[UNK]".into(),
            sep: "[SEP]".into(),
            pad: "[PAD]".into(),
            cls: "[CLS]".into(),
            mask: "[MASK]".into(),
        }
    }
}

impl Default for SpecialTokens {
    fn default() -> Self {
        SpecialTokens {
            bos: "<s>".into(),
            eos: "</s>".into(),
            unk: "<unk>".into(),
            sep: "</s>".into(),
            pad: "<pad>".into(),
            cls: "<s>".into(),
            mask: "<mask>".into(),
        }
    }
}

/// Options of one encode call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Adds the post-processor's special tokens (`<s>` … `</s>`, `[CLS]` … `[SEP]`; default true).
    pub add_special_tokens: bool,
    /// Truncates to at most this many tokens, special tokens included.
    pub max_length: Option<usize>,
    /// How a pair is truncated.
    pub strategy: TruncationStrategy,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions { add_special_tokens: true, max_length: None, strategy: TruncationStrategy::LongestFirst }
    }
}

/// What to encode: a text, a pair of texts, or pre-split words.
#[derive(Clone, Copy, Debug)]
pub enum Input<'a> {
    /// One text.
    Single(&'a str),
    /// A pair of texts (`<s> A </s></s> B </s>` for RoBERTa and XLM-R, `[CLS] A [SEP] B [SEP]` for BERT).
    Pair(&'a str, &'a str),
    /// Words already split (is_split_into_words): each is encoded alone (byte-level BPE gives each a prefix
    /// space); offsets are within each word.
    Words(&'a [&'a str]),
}

/// The model stage, which fixes the family's normalizer and pre-tokenizer.
pub(crate) enum Model {
    /// Byte-level BPE (RoBERTa, GPT-2): no normalizer, GPT-2 pre-tokenization.
    Bpe(Box<Bpe>),
    /// WordPiece (BERT): its normalizer (if any) and the BERT pre-tokenizer.
    WordPiece { wp: WordPiece, normalizer: Option<BertNormalizer> },
    /// SentencePiece Unigram (XLM-RoBERTa): its normalizers (the compiled map, whitespace runs) and Metaspace,
    /// after a split on whitespace when `whitespace_split`.
    Unigram { model: Unigram, normalizers: Vec<UnigramNormalizer>, metaspace: Metaspace, whitespace_split: bool },
}

/// How ids are turned back into text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Decoder {
    /// Byte-level: token characters back to bytes.
    ByteLevel,
    /// WordPiece: pieces joined, the continuation prefix removed; `cleanup` as HF's decoder.
    WordPiece { prefix: String, cleanup: bool },
    /// Metaspace: `▁` back to spaces.
    Metaspace(Metaspace),
    /// No decoder in tokenizer.json: the tokens joined by spaces, as HF does then.
    Join,
}

/// A Hugging Face tokenizer of the RoBERTa (byte-level BPE), BERT (WordPiece) or XLM-R (SentencePiece Unigram)
/// family. `Send + Sync`; share it behind an `Arc` or by reference.
pub struct Tokenizer {
    pub(crate) model: Model,
    pub(crate) added: AddedVocab,
    /// ByteLevel pre-tokenizer's add_prefix_space.
    pub(crate) add_prefix_space: bool,
    pub(crate) use_regex: bool,
    /// The post-processor's trim_offsets and add_prefix_space.
    pub(crate) trim_offsets: bool,
    pub(crate) post_add_prefix_space: bool,
    /// The post-processor's template (special tokens and type ids), if there is one.
    pub(crate) post: Option<Template>,
    pub(crate) decoder: Decoder,
    /// transformers' `clean_up_tokenization_spaces` after decoding.
    pub(crate) clean_up_spaces: bool,
    pub(crate) special: SpecialTokens,
    pub(crate) model_max_length: Option<usize>,
}

/// Byte → character index over one text, any byte in any order (the identity for ASCII).
struct CharIndex {
    ascii: bool,
    /// For each byte (and the end), the index of the character holding it.
    table: Vec<u32>,
}

impl CharIndex {
    fn new(text: &str) -> CharIndex {
        if text.is_ascii() {
            return CharIndex { ascii: true, table: Vec::new() };
        }
        let mut table = vec![0u32; text.len() + 1];
        let mut n = 0;
        for (b, c) in text.char_indices() {
            table[b..b + c.len_utf8()].fill(n);
            n += 1;
        }
        table[text.len()] = n;
        CharIndex { ascii: false, table }
    }

    fn at(&self, b: usize) -> usize {
        if self.ascii {
            b
        } else {
            self.table[b] as usize
        }
    }
}

/// The normalizer of `model`'s family applied to `text`.
fn normalize_with(model: &Model, text: &str) -> String {
    match model {
        Model::Bpe(_) => text.to_string(),
        Model::WordPiece { normalizer: Some(n), .. } => n.normalize(text).text,
        Model::WordPiece { normalizer: None, .. } => text.to_string(),
        Model::Unigram { normalizers, .. } => {
            let mut chars = unigram::aligned(text);
            for n in normalizers {
                chars = match n {
                    UnigramNormalizer::Precompiled(p) => p.normalize(&chars),
                    UnigramNormalizer::Replace(pat, content) => unigram::replace(&chars, pat, content),
                };
            }
            chars.into_iter().map(|c| c.0).collect()
        }
    }
}

/// Monotone byte → char index conversion over one text.
struct CharCursor {
    byte: usize,
    ch: usize,
}

impl CharCursor {
    /// Index of the character that contains byte `p` (p must not go backwards between calls).
    #[inline]
    fn at(&mut self, text: &str, p: usize) -> usize {
        let b = text.as_bytes();
        while self.byte < p {
            self.byte += utf8_len(b[self.byte]);
            self.ch += 1;
        }
        if self.byte > p {
            self.ch - 1
        } else {
            self.ch
        }
    }
}

#[inline]
fn utf8_len(first: u8) -> usize {
    match first {
        0..=0x7F => 1,
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

/// Character offsets to byte offsets within `text`.
fn char_to_byte(text: &str, offs: &[(usize, usize)]) -> Vec<(usize, usize)> {
    if text.is_ascii() {
        return offs.to_vec();
    }
    let mut table: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
    table.push(text.len());
    let at = |c: usize| table.get(c).copied().unwrap_or(text.len());
    offs.iter().map(|&(s, e)| (at(s), at(e))).collect()
}

impl Tokenizer {
    /// Encodes one text with special tokens (no truncation).
    pub fn encode(&self, text: &str) -> Encoding {
        self.encode_with(Input::Single(text), &EncodeOptions::default()).expect("no truncation requested")
    }

    /// Encodes any input with the given options; fails only when max_length cannot hold the special tokens.
    pub fn encode_with(&self, input: Input, opts: &EncodeOptions) -> Result<Encoding> {
        let (mut a, mut b, prefix) = match input {
            Input::Single(t) => (self.encode_seq(t, self.add_prefix_space, None), None, self.post_add_prefix_space),
            Input::Pair(t, p) => (
                self.encode_seq(t, self.add_prefix_space, None),
                Some(self.encode_seq(p, self.add_prefix_space, None)),
                self.post_add_prefix_space,
            ),
            Input::Words(words) => {
                let mut s = Seq::default();
                for (i, w) in words.iter().enumerate() {
                    let one = self.encode_seq(w, true, Some(i as u32));
                    s.ids.extend(one.ids);
                    s.offsets.extend(one.offsets);
                    s.word_ids.extend(one.word_ids);
                    s.spaces.extend(one.spaces);
                }
                (s, None, true)
            }
        };
        if let Some(max) = opts.max_length {
            let n_special = match &self.post {
                Some(t) if opts.add_special_tokens => t.added(b.is_some()),
                _ => 0,
            };
            if max < n_special {
                return Err(TokenizerError::MaxLengthTooSmall { max_length: max, special: n_special });
            }
            truncate(&mut a, b.as_mut(), max - n_special, opts.strategy);
        }
        if self.trim_offsets {
            a.trim_offsets(prefix);
            if let Some(b) = b.as_mut() {
                b.trim_offsets(prefix);
            }
        }
        let bytes_of = |s: &Seq, text: &str| char_to_byte(text, &s.offsets);
        let bytes = match input {
            Input::Single(t) => (bytes_of(&a, t), Vec::new()),
            Input::Pair(t, p) => (bytes_of(&a, t), bytes_of(b.as_ref().expect("pair"), p)),
            Input::Words(words) => {
                let v = a
                    .offsets
                    .iter()
                    .zip(&a.word_ids)
                    .map(|(&o, w)| char_to_byte(words[w.expect("word tokens have a word") as usize], &[o])[0])
                    .collect();
                (v, Vec::new())
            }
        };
        Ok(assemble(a, b, bytes, self.post.as_ref(), opts.add_special_tokens))
    }

    /// Encodes many inputs in parallel (rayon), then pads them.
    pub fn encode_batch(&self, inputs: &[Input], opts: &EncodeOptions, padding: Padding) -> Result<Vec<Encoding>> {
        let mut v: Vec<Encoding> = inputs.par_iter().map(|i| self.encode_with(*i, opts)).collect::<Result<_>>()?;
        pad(&mut v, padding, self.pad_token_id());
        Ok(v)
    }

    /// Tokens of one sequence, before truncation and post-processing; offsets in characters of `text`.
    fn encode_seq(&self, text: &str, add_prefix_space: bool, word: Option<u32>) -> Seq {
        let bpe = match &self.model {
            Model::Bpe(bpe) => bpe,
            Model::WordPiece { wp, normalizer } => return self.encode_seq_wordpiece(wp, normalizer.as_ref(), text, word),
            Model::Unigram { model, normalizers, metaspace, whitespace_split } => {
                return self.encode_seq_unigram(model, normalizers, metaspace, *whitespace_split, text, word)
            }
        };
        let mut s = Seq::default();
        let mut starts = CharCursor { byte: 0, ch: 0 };
        let mut ends = CharCursor { byte: 0, ch: 0 };
        let mut word_idx = 0u32;
        let mut buf = Vec::new();
        for piece in self.added.split(text) {
            if let Some(k) = piece.added {
                let value = &text[piece.start..piece.end];
                let is_space = |c: &char| *c == 'Ġ' || c.is_whitespace();
                s.ids.push(self.added.tokens[k].id);
                s.offsets.push((starts.at(text, piece.start), ends.at(text, piece.end - 1) + 1));
                s.word_ids.push(Some(word.unwrap_or(word_idx)));
                s.spaces.push((value.chars().take_while(is_space).count(), value.chars().rev().take_while(is_space).count()));
                word_idx += 1;
                continue;
            }
            let seg = &text[piece.start..piece.end];
            let prefixed = add_prefix_space && !seg.starts_with(' ');
            let virt: &str = if prefixed {
                buf.clear();
                buf.push(b' ');
                buf.extend_from_slice(seg.as_bytes());
                std::str::from_utf8(&buf).expect("space + str is UTF-8")
            } else {
                seg
            };
            // virtual byte → byte of `text` (the added space stands for the segment's first character)
            let base = piece.start;
            let map = |p: usize| if prefixed { base + p.saturating_sub(1) } else { base + p };
            let mut word_fn = |a: usize, b: usize| {
                bpe.tokenize(&virt.as_bytes()[a..b], |id, ts, te| {
                    s.ids.push(id);
                    s.offsets.push((starts.at(text, map(a + ts)), ends.at(text, map(a + te - 1)) + 1));
                    s.word_ids.push(Some(word.unwrap_or(word_idx)));
                    let (l, t) = bpe.token_spaces(id);
                    s.spaces.push((l as usize, t as usize));
                });
                word_idx += 1;
            };
            if self.use_regex {
                pretokenize::split(virt, &mut word_fn);
            } else if !virt.is_empty() {
                word_fn(0, virt.len());
            }
        }
        s
    }

    /// The WordPiece family's sequence: added tokens that are not normalized split from the original text; each
    /// remaining piece normalized, then split on the normalized added tokens, pre-tokenized (whitespace and
    /// punctuation) and cut into word pieces. Offsets go back through the normalizer's alignment.
    fn encode_seq_wordpiece(&self, wp: &WordPiece, normalizer: Option<&BertNormalizer>, text: &str, word: Option<u32>) -> Seq {
        let mut s = Seq::default();
        let mut word_idx = 0u32;
        // offsets are characters of `text`
        let chars = CharIndex::new(text);
        let ch = |b: usize| chars.at(b);
        let push = |s: &mut Seq, id: u32, start: usize, end: usize, w: u32| {
            s.ids.push(id);
            s.offsets.push((ch(start), ch(end)));
            s.word_ids.push(Some(word.unwrap_or(w)));
            s.spaces.push((0, 0));
        };
        for piece in self.added.split_unnormalized(text) {
            if let Some(k) = piece.added {
                push(&mut s, self.added.tokens[k].id, piece.start, piece.end, word_idx);
                word_idx += 1;
                continue;
            }
            let seg = &text[piece.start..piece.end];
            let norm = match normalizer {
                Some(n) => n.normalize(seg),
                None => crate::normalizer::Normalized::identity(seg),
            };
            let orig = |a: usize, b: usize| {
                let (x, y) = norm.original(a, b);
                (piece.start + x, piece.start + y)
            };
            for np in self.added.split_normalized(&norm.text) {
                if let Some(k) = np.added {
                    let (x, y) = orig(np.start, np.end);
                    push(&mut s, self.added.tokens[k].id, x, y, word_idx);
                    word_idx += 1;
                    continue;
                }
                let sub = &norm.text[np.start..np.end];
                wordpiece::split_bert(sub, |a, b| {
                    let w = &sub[a..b];
                    wp.tokenize(w, |id, ts, te| {
                        let (x, y) = orig(np.start + a + ts, np.start + a + te);
                        push(&mut s, id, x, y, word_idx);
                    });
                    word_idx += 1;
                });
            }
        }
        s
    }

    /// The Unigram family's sequence: added tokens that are not normalized split from the original text; each
    /// remaining piece normalized (compiled map, whitespace runs), split on the normalized added tokens, then
    /// Metaspace (spaces as `▁`, one prepended, a piece before each `▁`) and the Viterbi segmentation of each
    /// piece. Offsets go back through the alignments.
    fn encode_seq_unigram(&self, model: &Unigram, normalizers: &[UnigramNormalizer], ms: &Metaspace, ws_split: bool, text: &str, word: Option<u32>) -> Seq {
        let mut s = Seq::default();
        let mut word_idx = 0u32;
        let chars = CharIndex::new(text);
        let ch = |b: usize| chars.at(b);
        let push = |s: &mut Seq, id: u32, start: usize, end: usize, w: u32| {
            s.ids.push(id);
            s.offsets.push((ch(start), ch(end)));
            s.word_ids.push(Some(word.unwrap_or(w)));
            s.spaces.push((0, 0));
        };
        for piece in self.added.split_unnormalized(text) {
            if let Some(k) = piece.added {
                push(&mut s, self.added.tokens[k].id, piece.start, piece.end, word_idx);
                word_idx += 1;
                continue;
            }
            let seg = &text[piece.start..piece.end];
            let mut chars = unigram::aligned(seg);
            for n in normalizers {
                chars = match n {
                    UnigramNormalizer::Precompiled(p) => p.normalize(&chars),
                    UnigramNormalizer::Replace(pat, content) => unigram::replace(&chars, pat, content),
                };
            }
            let norm = unigram::to_normalized(&chars);
            // byte offset in the normalized text → character index
            let starts: Vec<usize> = norm.text.char_indices().map(|(b, _)| b).collect();
            let char_at = |b: usize| starts.partition_point(|&x| x < b);
            for np in self.added.split_normalized(&norm.text) {
                if let Some(k) = np.added {
                    let (x, y) = norm.original(np.start, np.end);
                    push(&mut s, self.added.tokens[k].id, piece.start + x, piece.start + y, word_idx);
                    word_idx += 1;
                    continue;
                }
                let sub = &chars[char_at(np.start)..char_at(np.end)];
                // WhitespaceSplit first (whitespace removed), when the tokenizer has it
                let mut words: Vec<&[(char, (usize, usize))]> = Vec::new();
                if ws_split {
                    let mut start = None;
                    for (i, &(c, _)) in sub.iter().enumerate() {
                        match (c.is_whitespace(), start) {
                            (true, Some(st)) => {
                                words.push(&sub[st..i]);
                                start = None;
                            }
                            (false, None) => start = Some(i),
                            _ => {}
                        }
                    }
                    if let Some(st) = start {
                        words.push(&sub[st..]);
                    }
                } else if !sub.is_empty() {
                    words.push(sub);
                }
                for w in words {
                    // HF's "first" scheme: only a piece that starts at the text's first character
                    let at_start = piece.start + w[0].1 .0 == 0;
                    let (mchars, pieces) = ms.pre_tokenize(w, at_start);
                    for (a, b) in pieces {
                        let part = &mchars[a..b];
                        let word_text: String = part.iter().map(|x| x.0).collect();
                        let bstarts: Vec<usize> = word_text.char_indices().map(|(i, _)| i).collect();
                        let ci = |bb: usize| bstarts.partition_point(|&x| x < bb);
                        model.tokenize(&word_text, |id, x, y| {
                            let (i, j) = (ci(x), ci(y));
                            let (o0, o1) = (part[i].1 .0, part[j - 1].1 .1);
                            push(&mut s, id, piece.start + o0, piece.start + o1, word_idx);
                        });
                        word_idx += 1;
                    }
                }
            }
        }
        s
    }

    /// The text as the tokenizer's normalizer gives it (unchanged for byte-level BPE, which has none).
    pub fn normalize(&self, text: &str) -> String {
        normalize_with(&self.model, text)
    }

    /// The `normalized` added tokens matched by their normalized content, as HF builds its matcher.
    pub(crate) fn normalize_added_tokens(mut self) -> Tokenizer {
        let model = &self.model;
        self.added.normalize_forms(|c| normalize_with(model, c));
        self
    }

    /// Decodes ids to text through the family's decoder (byte-level tokens back to bytes with invalid UTF-8
    /// replaced, word pieces joined, `▁` back to spaces); special tokens kept or skipped.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> String {
        let toks: Vec<&str> = ids
            .iter()
            .filter_map(|&id| match self.added.by_id(id) {
                Some(t) if skip_special_tokens && t.special => None,
                Some(t) => Some(t.content.as_str()),
                None => self.model_id_to_token(id),
            })
            .collect();
        let text = self.convert_tokens_to_string(&toks);
        // transformers' decode (not convert_tokens_to_string) applies clean_up_tokenization_spaces
        if self.clean_up_spaces {
            wordpiece::clean_up_tokenization_spaces(&text)
        } else {
            text
        }
    }

    /// Joins token strings back into text through the decoder (HF's `convert_tokens_to_string`).
    pub fn convert_tokens_to_string(&self, tokens: &[&str]) -> String {
        match &self.decoder {
            Decoder::ByteLevel => {
                let mut bytes = Vec::new();
                for t in tokens {
                    crate::bytes::token_to_bytes(t, &mut bytes);
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Decoder::WordPiece { prefix, cleanup } => wordpiece::decode(tokens, prefix, *cleanup),
            Decoder::Metaspace(ms) => ms.decode(tokens),
            Decoder::Join => tokens.join(" "),
        }
    }

    /// The model's continuing-subword prefix (`##` for WordPiece; None for byte-level BPE and Unigram), which HF's
    /// token-classification pipeline uses to tell sub-words apart.
    pub fn continuing_subword_prefix(&self) -> Option<&str> {
        match &self.model {
            Model::Bpe(_) | Model::Unigram { .. } => None,
            Model::WordPiece { wp, .. } => Some(wp.prefix()),
        }
    }

    fn model_id_to_token(&self, id: u32) -> Option<&str> {
        match &self.model {
            Model::Bpe(b) => b.id_to_token(id),
            Model::WordPiece { wp, .. } => wp.id_to_token(id),
            Model::Unigram { model, .. } => model.id_to_token(id),
        }
    }

    fn model_token_to_id(&self, token: &str) -> Option<u32> {
        match &self.model {
            Model::Bpe(b) => b.token_to_id(token),
            Model::WordPiece { wp, .. } => wp.token_to_id(token),
            Model::Unigram { model, .. } => model.token_to_id(token),
        }
    }

    /// Which family: `"bpe"` (byte-level BPE, RoBERTa), `"wordpiece"` (BERT) or `"unigram"` (XLM-RoBERTa).
    pub fn model_type(&self) -> &'static str {
        match &self.model {
            Model::Bpe(_) => "bpe",
            Model::WordPiece { .. } => "wordpiece",
            Model::Unigram { .. } => "unigram",
        }
    }

    /// The id of a token string (vocabulary or added).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.added.by_content(token).map(|t| t.id).or_else(|| self.model_token_to_id(token))
    }

    /// The token string of an id (vocabulary or added).
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.added.by_id(id).map(|t| t.content.as_str()).or_else(|| self.model_id_to_token(id))
    }

    /// Size of the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        let added = self.added.tokens.iter().map(|t| t.id as usize + 1).max().unwrap_or(0);
        let model = match &self.model {
            Model::Bpe(b) => b.len(),
            Model::WordPiece { wp, .. } => wp.len(),
            Model::Unigram { model, .. } => model.len(),
        };
        model.max(added)
    }

    /// The special tokens by role.
    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.special
    }

    /// Id of the padding token (1 for RoBERTa and XLM-R, 0 for BERT; 1 when the vocabulary has none).
    pub fn pad_token_id(&self) -> u32 {
        self.token_to_id(&self.special.pad).unwrap_or(1)
    }

    /// The ids the post-processor puts around a single text: (first, last), e.g. `<s>`/`</s>` or
    /// `[CLS]`/`[SEP]`; None without a post-processor.
    pub fn cls_sep(&self) -> Option<(u32, u32)> {
        let ids: Vec<u32> = self.post.as_ref()?.single.iter().flat_map(|p| match p {
            crate::encoding::TemplatePiece::Special { ids, .. } => ids.clone(),
            _ => Vec::new(),
        }).collect();
        Some((*ids.first()?, *ids.last()?))
    }

    /// Id of the mask token, if the vocabulary has one.
    pub fn mask_token_id(&self) -> Option<u32> {
        self.token_to_id(&self.special.mask)
    }

    /// Whether an id is a special token (skipped by `decode(.., true)`).
    pub fn is_special(&self, id: u32) -> bool {
        self.added.by_id(id).is_some_and(|t| t.special)
    }

    /// The tokenizer's model_max_length from tokenizer_config.json, when given.
    pub fn model_max_length(&self) -> Option<usize> {
        self.model_max_length
    }

    /// Whether the pre-tokenizer adds a space before each text.
    pub fn add_prefix_space(&self) -> bool {
        self.add_prefix_space
    }
}
