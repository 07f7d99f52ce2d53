//! Normalizers with alignment: each character of the normalized text remembers the byte span of the original
//! character it came from, so that token offsets point into the text the user gave (as Hugging Face's
//! `NormalizedString` does).
//!
//! [`BertNormalizer`] is BERT's: `clean_text` (NUL, U+FFFD and control characters removed, whitespace made a
//! space), `handle_chinese_chars` (a space on each side of every CJK ideograph), `strip_accents` (NFD, then
//! the non-spacing marks removed; unset, it follows `lowercase`), `lowercase` (Unicode full lowercasing).
//!
//! The character classes are the ones Hugging Face's implementation reads: `unicode_categories` (Cc, Cf, Co
//! as "control", Mn as "non-spacing mark") and `unicode-normalization-alignments`' canonical decompositions,
//! so that the older Unicode tables they carry give the same answers here (a newer table would decompose or
//! classify characters HF leaves alone).
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::char::{canonical_combining_class, decompose_canonical};

/// A normalized text: `text`, and for each of its bytes the byte span `(start, end)` of the original
/// character it came from (a character inserted or expanded by the normalizer shares its source's span).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Normalized {
    /// The normalized text.
    pub text: String,
    /// Per byte of `text`: the original character's byte span.
    pub align: Vec<(usize, usize)>,
}

impl Normalized {
    /// The identity: `text` unchanged, each byte aligned to its own character.
    pub fn identity(text: &str) -> Normalized {
        let mut align = Vec::with_capacity(text.len());
        for (i, c) in text.char_indices() {
            align.extend(std::iter::repeat_n((i, i + c.len_utf8()), c.len_utf8()));
        }
        Normalized { text: text.to_string(), align }
    }

    /// The original byte span of the normalized byte range `start..end` (non-empty).
    pub fn original(&self, start: usize, end: usize) -> (usize, usize) {
        debug_assert!(start < end && end <= self.align.len());
        (self.align[start].0, self.align[end - 1].1)
    }

    fn push(&mut self, c: char, span: (usize, usize)) {
        self.text.push(c);
        self.align.extend(std::iter::repeat_n(span, c.len_utf8()));
    }
}

/// BERT's normalizer, with Hugging Face's `BertNormalizer` options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BertNormalizer {
    /// Removes control characters, NUL and U+FFFD; turns every whitespace character into a space.
    pub clean_text: bool,
    /// Puts a space on each side of every CJK ideograph.
    pub handle_chinese_chars: bool,
    /// Removes accents (NFD, then the non-spacing marks); `None` follows `lowercase`.
    pub strip_accents: Option<bool>,
    /// Lowercases.
    pub lowercase: bool,
}

impl Default for BertNormalizer {
    /// bert-base-uncased's: everything on, accents following lowercase.
    fn default() -> Self {
        BertNormalizer { clean_text: true, handle_chinese_chars: true, strip_accents: None, lowercase: true }
    }
}

/// Whitespace for `clean_text`: tab, newline, carriage return, and what Rust calls whitespace.
fn is_bert_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

/// Control for `clean_text`: general categories Cc, Cf and Co, except tab, newline and carriage return.
fn is_bert_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

/// The CJK ideograph blocks BERT pads with spaces (not Hangul, not kana).
pub fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F
    )
}

impl BertNormalizer {
    /// Whether accents are stripped.
    pub fn strips_accents(&self) -> bool {
        self.strip_accents.unwrap_or(self.lowercase)
    }

    /// Normalizes `text`, keeping the alignment to it.
    pub fn normalize(&self, text: &str) -> Normalized {
        let strip = self.strips_accents();
        // Each stage of HF's normalizer is a pass over the whole string; here clean_text and the ideographs go
        // in one pass, then NFD (with its canonical reordering across characters), the mark filter and the
        // lowercasing, each giving alignments as HF's `transform` does.
        let mut stage: Vec<(char, (usize, usize))> = Vec::with_capacity(text.len() + 8);
        for (i, c) in text.char_indices() {
            let span = (i, i + c.len_utf8());
            let c = if self.clean_text {
                if c == '\0' || c == '\u{fffd}' || is_bert_control(c) {
                    continue;
                }
                if is_bert_whitespace(c) {
                    ' '
                } else {
                    c
                }
            } else {
                c
            };
            if self.handle_chinese_chars && is_chinese_char(c) {
                stage.extend([(' ', span), (c, span), (' ', span)]);
            } else {
                stage.push((c, span));
            }
        }
        if strip {
            stage = nfd_aligned(&stage);
            stage.retain(|&(c, _)| !c.is_mark_nonspacing());
        }
        let mut out = Normalized { text: String::with_capacity(text.len()), align: Vec::with_capacity(text.len()) };
        for (c, span) in stage {
            if self.lowercase {
                for l in c.to_lowercase() {
                    out.push(l, span);
                }
            } else {
                out.push(c, span);
            }
        }
        out
    }
}

/// NFD of a sequence of aligned characters, aligned as HF's `NormalizedString::nfd` does: the decomposition
/// is canonically reordered (each run of non-starters sorted stably by combining class) with each character's
/// "first of its decomposition" flag; then the alignments are handed out by position: a first character takes
/// the span of the next input character, any other the span of the last input character taken. (So a mark
/// moved by the reordering takes the span of the position it lands on, as in HF.)
fn nfd_aligned(input: &[(char, (usize, usize))]) -> Vec<(char, (usize, usize))> {
    let mut dec: Vec<(u8, char, bool)> = Vec::with_capacity(input.len() + 4);
    for &(c, _) in input {
        let mut first = true;
        decompose_canonical(c, |d| {
            dec.push((canonical_combining_class(d), d, first));
            first = false;
        });
    }
    let mut i = 0;
    while i < dec.len() {
        if dec[i].0 == 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < dec.len() && dec[i].0 != 0 {
            i += 1;
        }
        dec[start..i].sort_by_key(|k| k.0);
    }
    let mut taken = 0;
    dec.into_iter()
        .map(|(_, c, first)| {
            if first {
                taken += 1;
            }
            (c, input[taken.max(1) - 1].1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(n: &Normalized) -> Vec<(char, (usize, usize))> {
        n.text.char_indices().map(|(b, c)| (c, n.align[b])).collect()
    }

    #[test]
    fn uncased_strips_accents_and_keeps_alignment() {
        let n = BertNormalizer::default().normalize("Ácido\u{0}X");
        assert_eq!(n.text, "acidox");
        // 'Á' is two bytes: its decomposition 'A' → 'a' points at bytes 0..2
        assert_eq!(spans(&n)[0], ('a', (0, 2)));
        assert_eq!(spans(&n)[5], ('x', (7, 8)));
    }

    #[test]
    fn cased_keeps_accents_and_pads_ideographs() {
        let norm = BertNormalizer { lowercase: false, ..Default::default() };
        let n = norm.normalize("é肝\tB");
        assert_eq!(n.text, "é 肝  B");
        assert_eq!(n.original(2, 5), (2, 5));
    }

    #[test]
    fn lowercase_without_stripping_expands_dotted_i() {
        let norm = BertNormalizer { strip_accents: Some(false), ..Default::default() };
        let n = norm.normalize("İ");
        assert_eq!(n.text, "i\u{307}");
        assert!(n.align.iter().all(|&s| s == (0, 2)));
    }

    #[test]
    fn reordered_marks_take_the_span_of_their_new_position() {
        // U+0953 (class 230, Mn) then U+1D165 (class 216, Mc): NFD swaps them, the Mn is stripped, and the Mc
        // keeps the span of the first position, as HF's alignments do
        let n = BertNormalizer::default().normalize("\u{953}\u{1d165}x");
        assert_eq!(n.text, "\u{1d165}x");
        assert_eq!(n.original(0, 4), (0, 3));
    }

    #[test]
    fn marks_are_reordered_before_they_are_stripped() {
        let n = BertNormalizer::default().normalize("a\u{301}\u{316}b");
        assert_eq!(n.text, "ab");
    }
}
