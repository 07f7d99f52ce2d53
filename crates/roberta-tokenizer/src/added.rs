//! Added tokens (the special tokens and any others) are split out of the text before pre-tokenization:
//! leftmost-longest matches, non-overlapping, with lstrip / rstrip / single_word as Hugging Face applies them.

/// One added token as tokenizer.json's `added_tokens` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddedToken {
    /// The text of the token.
    pub content: String,
    /// Its id.
    pub id: u32,
    /// Whether it is special (skipped by `decode(.., skip_special_tokens = true)`).
    pub special: bool,
    /// Takes the whitespace on its left into the match.
    pub lstrip: bool,
    /// Takes the whitespace on its right into the match.
    pub rstrip: bool,
    /// Matches only as a whole word.
    pub single_word: bool,
    /// Matched on the normalized text, by its normalized content (RoBERTa has no normalizer: there only the
    /// matching order differs).
    pub normalized: bool,
}

impl AddedToken {
    /// A special token with no stripping.
    pub fn special(content: &str, id: u32) -> AddedToken {
        AddedToken {
            content: content.to_string(),
            id,
            special: true,
            lstrip: false,
            rstrip: false,
            single_word: false,
            normalized: false,
        }
    }
}

/// A piece of the input: either an added token (its index in the added list) or plain text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Byte range in the text (an added token's range includes the whitespace it strips).
    pub start: usize,
    /// End of the byte range.
    pub end: usize,
    /// Index into the added tokens when this piece is one.
    pub added: Option<usize>,
}

/// The added tokens of a tokenizer, grouped as Hugging Face matches them.
#[derive(Clone, Debug, Default)]
pub struct AddedVocab {
    /// All added tokens.
    pub tokens: Vec<AddedToken>,
    /// What each token is matched by: its content, or for a `normalized` one its content normalized by the
    /// tokenizer's normalizer ([`AddedVocab::normalize_forms`]).
    forms: Vec<String>,
    non_normalized: Vec<usize>,
    normalized: Vec<usize>,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl AddedVocab {
    /// Groups the tokens as HF does, by their `normalized` flag (empty contents are never matched).
    pub fn new(tokens: Vec<AddedToken>) -> AddedVocab {
        let forms = tokens.iter().map(|t| t.content.clone()).collect();
        let mut v = AddedVocab { tokens, forms, non_normalized: Vec::new(), normalized: Vec::new() };
        v.group();
        v
    }

    fn group(&mut self) {
        self.non_normalized.clear();
        self.normalized.clear();
        for (i, t) in self.tokens.iter().enumerate() {
            if self.forms[i].is_empty() {
                continue;
            }
            if t.normalized {
                self.normalized.push(i);
            } else {
                self.non_normalized.push(i);
            }
        }
    }

    /// Matches the `normalized` tokens by their content passed through `normalize` (the tokenizer's normalizer),
    /// as HF builds its normalized matcher; one that normalizes to nothing is never matched.
    pub fn normalize_forms(&mut self, normalize: impl Fn(&str) -> String) {
        for (i, t) in self.tokens.iter().enumerate() {
            self.forms[i] = if t.normalized { normalize(&t.content) } else { t.content.clone() };
        }
        self.group();
    }

    /// The added token with this id.
    pub fn by_id(&self, id: u32) -> Option<&AddedToken> {
        self.tokens.iter().find(|t| t.id == id)
    }

    /// The added token with this content.
    pub fn by_content(&self, content: &str) -> Option<&AddedToken> {
        self.tokens.iter().find(|t| t.content == content)
    }

    /// Splits `text` into added tokens and plain pieces: first the non-normalized tokens, then the normalized
    /// ones inside each remaining plain piece.
    pub fn split(&self, text: &str) -> Vec<Piece> {
        let mut out = Vec::new();
        for p in self.find(text, 0, text.len(), &self.non_normalized) {
            if p.added.is_some() || self.normalized.is_empty() {
                out.push(p);
            } else {
                out.extend(self.find(text, p.start, p.end, &self.normalized));
            }
        }
        out
    }

    /// Splits `text` on the added tokens matched on the original text only (the first stage when a normalizer
    /// runs between the two).
    pub fn split_unnormalized(&self, text: &str) -> Vec<Piece> {
        self.find(text, 0, text.len(), &self.non_normalized)
    }

    /// Splits a normalized text on the added tokens matched after normalization.
    pub fn split_normalized(&self, text: &str) -> Vec<Piece> {
        self.find(text, 0, text.len(), &self.normalized)
    }

    /// Leftmost-longest non-overlapping matches of `set` in `text[from..to]`, with the gaps as plain pieces.
    fn find(&self, text: &str, from: usize, to: usize, set: &[usize]) -> Vec<Piece> {
        let s = &text[..to];
        let mut out = Vec::new();
        let mut done = from; // end of the last piece emitted
        let mut i = from;
        while i < to && !set.is_empty() {
            let rest = &s[i..];
            let best = set
                .iter()
                .filter(|&&k| rest.starts_with(self.forms[k].as_str()))
                .max_by_key(|&&k| (self.forms[k].len(), std::cmp::Reverse(k)));
            let Some(&k) = best else {
                i += rest.chars().next().map_or(1, char::len_utf8);
                continue;
            };
            let tok = &self.tokens[k];
            let (mut start, mut stop) = (i, i + self.forms[k].len());
            i = stop;
            if tok.single_word {
                let before = s[from..start].chars().next_back().is_some_and(is_word_char);
                let after = s[stop..].chars().next().is_some_and(is_word_char);
                if before || after {
                    continue;
                }
            }
            if tok.lstrip {
                start = s[..start].trim_end().len().max(done);
            }
            if tok.rstrip {
                stop = to - s[stop..].trim_start().len();
                i = stop;
            }
            if done < start {
                out.push(Piece { start: done, end: start, added: None });
            }
            out.push(Piece { start, end: stop, added: Some(k) });
            done = stop;
        }
        if done < to {
            out.push(Piece { start: done, end: to, added: None });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> AddedVocab {
        let mut mask = AddedToken::special("<mask>", 4);
        mask.lstrip = true;
        AddedVocab::new(vec![AddedToken::special("<s>", 0), AddedToken::special("</s>", 2), mask])
    }

    #[test]
    fn splits_special_tokens_and_strips_left_of_mask() {
        let v = vocab();
        let t = "a <mask> b</s>";
        let p = v.split(t);
        let got: Vec<_> = p.iter().map(|p| (&t[p.start..p.end], p.added)).collect();
        assert_eq!(got, [("a", None), (" <mask>", Some(2)), (" b", None), ("</s>", Some(1))]);
    }

    #[test]
    fn longest_match_wins() {
        let v = AddedVocab::new(vec![AddedToken::special("<s", 7), AddedToken::special("<s>", 0)]);
        let t = "x<s>";
        let p = v.split(t);
        assert_eq!(p[1], Piece { start: 1, end: 4, added: Some(1) });
    }
}
