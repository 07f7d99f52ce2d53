//! The result of encoding, and the stages after the model: trim_offsets, truncation, the post-processor's special
//! tokens and type ids (RoBERTa's `<s> A </s></s> B </s>`, BERT's `[CLS] A [SEP] B [SEP]`, any template),
//! padding.

/// One encoded input, the fields Hugging Face's `Encoding` has.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encoding {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Character (Unicode scalar) offsets into the text each token came from, as HF's Python API reports;
    /// special and padding tokens have (0, 0).
    pub offsets: Vec<(usize, usize)>,
    /// The same spans in bytes of the UTF-8 text.
    pub byte_offsets: Vec<(usize, usize)>,
    /// Index of the word (pre-token, or pre-split word) each token belongs to; None for special tokens.
    pub word_ids: Vec<Option<u32>>,
    /// Which input (0 or 1 of a pair) each token came from; None for special and padding tokens.
    pub sequence_ids: Vec<Option<u8>>,
    /// The segment (token type) of each token, as the post-processor assigns it: BERT gives the second text
    /// of a pair and its `[SEP]` 1; RoBERTa gives 0 everywhere; padding 0.
    pub type_ids: Vec<u32>,
    /// 1 for special tokens added by the post-processor (and padding), 0 otherwise.
    pub special_tokens_mask: Vec<u8>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<u8>,
}

impl Encoding {
    /// Number of tokens (padding included).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The tokens of one input sequence before post-processing.
#[derive(Clone, Debug, Default)]
pub(crate) struct Seq {
    pub ids: Vec<u32>,
    pub offsets: Vec<(usize, usize)>,
    pub word_ids: Vec<Option<u32>>,
    /// Leading / trailing space characters of each token's value (for trim_offsets).
    pub spaces: Vec<(usize, usize)>,
}

impl Seq {
    pub fn truncate(&mut self, n: usize) {
        self.ids.truncate(n);
        self.offsets.truncate(n);
        self.word_ids.truncate(n);
        self.spaces.truncate(n);
    }

    /// Hugging Face's `process_offsets` (ByteLevel trim_offsets): leading and trailing spaces leave the offsets,
    /// except the one space add_prefix_space put before the first token of a sequence (or of a pre-split word).
    pub fn trim_offsets(&mut self, add_prefix_space: bool) {
        for i in 0..self.ids.len() {
            let (mut lead, trail) = self.spaces[i];
            if lead == 0 && trail == 0 {
                continue;
            }
            let (mut s, mut e) = self.offsets[i];
            if lead > 0 {
                if (i == 0 || s == 0) && add_prefix_space && lead == 1 {
                    lead = 0;
                }
                s = (s + lead).min(e);
            }
            if trail > 0 && e >= trail {
                e = (e - trail).max(s);
            }
            self.offsets[i] = (s, e);
        }
    }
}

/// Which sequence loses tokens when a pair is too long.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TruncationStrategy {
    /// Removes from the longer sequence first (HF's default).
    #[default]
    LongestFirst,
    /// Removes only from the first.
    OnlyFirst,
    /// Removes only from the second.
    OnlySecond,
}

/// Truncates (first, pair) so that together they hold at most `max` tokens, as HF's `truncate_encodings`.
pub(crate) fn truncate(a: &mut Seq, b: Option<&mut Seq>, max: usize, strategy: TruncationStrategy) {
    let Some(b) = b else {
        a.truncate(max);
        return;
    };
    let total = a.ids.len() + b.ids.len();
    if total <= max {
        return;
    }
    match strategy {
        TruncationStrategy::LongestFirst => {
            let (mut n1, mut n2) = (a.ids.len(), b.ids.len());
            let swap = n1 > n2;
            if swap {
                std::mem::swap(&mut n1, &mut n2);
            }
            n2 = if n1 > max { n1 } else { n1.max(max - n1) };
            if n1 + n2 > max {
                n1 = max / 2;
                n2 = n1 + max % 2;
            }
            if swap {
                std::mem::swap(&mut n1, &mut n2);
            }
            a.truncate(n1);
            b.truncate(n2);
        }
        TruncationStrategy::OnlyFirst => {
            let n = max.saturating_sub(b.ids.len());
            a.truncate(n);
        }
        TruncationStrategy::OnlySecond => {
            let n = max.saturating_sub(a.ids.len());
            b.truncate(n);
        }
    }
}

/// One piece of a post-processing template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TemplatePiece {
    /// The first (`$A`) or the second (`$B`) sequence, with its type id.
    Seq { second: bool, type_id: u32 },
    /// Special token ids (added only with `add_special_tokens`), with their type id.
    Special { ids: Vec<u32>, type_id: u32 },
}

/// A post-processor as a template (HF's `TemplateProcessing`; RobertaProcessing and BertProcessing are two of
/// them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Template {
    pub single: Vec<TemplatePiece>,
    pub pair: Vec<TemplatePiece>,
}

impl Template {
    /// RoBERTa's: `<s> A </s>` and `<s> A </s></s> B </s>`, every type id 0.
    pub fn roberta(cls: u32, sep: u32) -> Template {
        let sp = |id| TemplatePiece::Special { ids: vec![id], type_id: 0 };
        let a = TemplatePiece::Seq { second: false, type_id: 0 };
        let b = TemplatePiece::Seq { second: true, type_id: 0 };
        Template { single: vec![sp(cls), a.clone(), sp(sep)], pair: vec![sp(cls), a, sp(sep), sp(sep), b, sp(sep)] }
    }

    /// BERT's: `[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]`, the second text and its `[SEP]` type 1.
    pub fn bert(cls: u32, sep: u32) -> Template {
        let sp = |id, type_id| TemplatePiece::Special { ids: vec![id], type_id };
        let a = TemplatePiece::Seq { second: false, type_id: 0 };
        Template {
            single: vec![sp(cls, 0), a.clone(), sp(sep, 0)],
            pair: vec![sp(cls, 0), a, sp(sep, 0), TemplatePiece::Seq { second: true, type_id: 1 }, sp(sep, 1)],
        }
    }

    /// How many special tokens it adds to a single text or a pair.
    pub fn added(&self, pair: bool) -> usize {
        let pieces = if pair { &self.pair } else { &self.single };
        pieces.iter().map(|p| if let TemplatePiece::Special { ids, .. } = p { ids.len() } else { 0 }).sum()
    }

    /// Every special id it can add.
    pub fn special_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.single.iter().chain(&self.pair).flat_map(|p| match p {
            TemplatePiece::Special { ids, .. } => ids.as_slice(),
            TemplatePiece::Seq { .. } => &[],
        }).copied()
    }
}

/// Post-processing: the sequences laid out by `template` (special tokens only with `add_special`; type ids
/// always), or without a template just A (type 0) then B (type 1), as HF encodes a pair. `byte_offsets` are the byte spans of each sequence's
/// `offsets`.
pub(crate) fn assemble(
    a: Seq,
    b: Option<Seq>,
    byte_offsets: (Vec<(usize, usize)>, Vec<(usize, usize)>),
    template: Option<&Template>,
    add_special: bool,
) -> Encoding {
    let n = a.ids.len() + b.as_ref().map_or(0, |b| b.ids.len()) + 4;
    let mut e = Encoding {
        ids: Vec::with_capacity(n),
        offsets: Vec::with_capacity(n),
        byte_offsets: Vec::with_capacity(n),
        word_ids: Vec::with_capacity(n),
        sequence_ids: Vec::with_capacity(n),
        type_ids: Vec::with_capacity(n),
        special_tokens_mask: Vec::with_capacity(n),
        attention_mask: Vec::with_capacity(n),
    };
    let special = |e: &mut Encoding, id: u32, type_id: u32| {
        e.ids.push(id);
        e.offsets.push((0, 0));
        e.byte_offsets.push((0, 0));
        e.word_ids.push(None);
        e.sequence_ids.push(None);
        e.type_ids.push(type_id);
        e.special_tokens_mask.push(1);
        e.attention_mask.push(1);
    };
    let body = |e: &mut Encoding, s: &Seq, bytes: &[(usize, usize)], seq: u8, type_id: u32| {
        e.sequence_ids.extend(std::iter::repeat_n(Some(seq), s.ids.len()));
        e.type_ids.extend(std::iter::repeat_n(type_id, s.ids.len()));
        e.special_tokens_mask.extend(std::iter::repeat_n(0, s.ids.len()));
        e.attention_mask.extend(std::iter::repeat_n(1, s.ids.len()));
        e.ids.extend_from_slice(&s.ids);
        e.offsets.extend_from_slice(&s.offsets);
        e.byte_offsets.extend_from_slice(bytes);
        e.word_ids.extend_from_slice(&s.word_ids);
    };
    let Some(template) = template else {
        body(&mut e, &a, &byte_offsets.0, 0, 0);
        if let Some(b) = &b {
            body(&mut e, b, &byte_offsets.1, 1, 1);
        }
        return e;
    };
    let pieces = if b.is_some() { &template.pair } else { &template.single };
    for p in pieces {
        match p {
            TemplatePiece::Special { ids, type_id } => {
                if add_special {
                    for &id in ids {
                        special(&mut e, id, *type_id);
                    }
                }
            }
            TemplatePiece::Seq { second: false, type_id } => body(&mut e, &a, &byte_offsets.0, 0, *type_id),
            TemplatePiece::Seq { second: true, type_id } => {
                if let Some(b) = &b {
                    body(&mut e, b, &byte_offsets.1, 1, *type_id);
                }
            }
        }
    }
    e
}

/// How a batch is padded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Padding {
    /// No padding.
    #[default]
    None,
    /// To the longest encoding of the batch.
    Longest,
    /// To this length (encodings already longer stay as they are).
    Fixed(usize),
}

/// Pads every encoding on the right with `pad_id` (attention mask 0, offsets (0, 0)).
pub fn pad(encodings: &mut [Encoding], padding: Padding, pad_id: u32) {
    let target = match padding {
        Padding::None => return,
        Padding::Longest => encodings.iter().map(Encoding::len).max().unwrap_or(0),
        Padding::Fixed(n) => n,
    };
    for e in encodings {
        let k = target.saturating_sub(e.len());
        e.ids.extend(std::iter::repeat_n(pad_id, k));
        e.offsets.extend(std::iter::repeat_n((0, 0), k));
        e.byte_offsets.extend(std::iter::repeat_n((0, 0), k));
        e.word_ids.extend(std::iter::repeat_n(None, k));
        e.sequence_ids.extend(std::iter::repeat_n(None, k));
        e.type_ids.extend(std::iter::repeat_n(0, k));
        e.special_tokens_mask.extend(std::iter::repeat_n(1, k));
        e.attention_mask.extend(std::iter::repeat_n(0, k));
    }
}
