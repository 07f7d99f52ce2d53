//! BERT's WordPiece: the pre-tokenizer (whitespace removed, each punctuation character a word of its own) and
//! the greedy longest-match-first model (`##` before every piece that continues a word; a word longer than
//! `max_input_chars_per_word`, or one that cannot be covered by the vocabulary, becomes a single `[UNK]`).
use crate::fxhash::FxHashMap;
use unicode_categories::UnicodeCategories;

/// Punctuation for BERT: ASCII punctuation (which includes `$ + < = > ^ ` | ~`, symbols in Unicode terms) and
/// Unicode's P* categories.
pub fn is_bert_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// BertPreTokenizer: calls `f(start, end)` for each word of `s` (byte ranges): runs of characters that are
/// neither whitespace nor punctuation, and each punctuation character alone; whitespace is dropped.
pub fn split_bert(s: &str, mut f: impl FnMut(usize, usize)) {
    let mut start = None;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if let Some(st) = start.take() {
                f(st, i);
            }
        } else if is_bert_punctuation(c) {
            if let Some(st) = start.take() {
                f(st, i);
            }
            f(i, i + c.len_utf8());
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(st) = start {
        f(st, s.len());
    }
}

/// A WordPiece vocabulary and its options.
#[derive(Clone, Debug)]
pub struct WordPiece {
    vocab: FxHashMap<String, u32>,
    /// id → token (None for ids no token has).
    tokens: Vec<Option<String>>,
    unk: u32,
    prefix: String,
    max_chars: usize,
    /// The longest vocabulary entry in bytes: no piece can be longer (bounds the search per position).
    max_key: usize,
}

impl WordPiece {
    /// A model over `vocab`; `unk` must be one of its ids.
    pub fn new(vocab: FxHashMap<String, u32>, unk: u32, prefix: String, max_chars: usize) -> WordPiece {
        let n = vocab.values().map(|&i| i as usize + 1).max().unwrap_or(0);
        let mut tokens = vec![None; n];
        for (t, &i) in &vocab {
            tokens[i as usize] = Some(t.clone());
        }
        let max_key = vocab.keys().map(String::len).max().unwrap_or(0);
        WordPiece { vocab, tokens, unk, prefix, max_chars, max_key }
    }

    /// The id of a token.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }

    /// The token of an id.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).and_then(|t| t.as_deref())
    }

    /// Number of ids (the largest + 1).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The continuing-subword prefix (`##`).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Tokenizes one word, calling `emit(id, start, end)` with byte ranges of `word`.
    pub fn tokenize(&self, word: &str, mut emit: impl FnMut(u32, usize, usize)) {
        if word.chars().count() > self.max_chars {
            emit(self.unk, 0, word.len());
            return;
        }
        // pieces found so far; the whole word is one [UNK] if any position cannot be matched
        let mut pieces: Vec<(u32, usize, usize)> = Vec::new();
        let mut key = String::with_capacity(self.prefix.len() + word.len());
        let mut start = 0;
        while start < word.len() {
            key.clear();
            if start > 0 {
                key.push_str(&self.prefix);
            }
            let base = key.len();
            // no entry is longer than max_key bytes: start from the longest candidate that could be one (the
            // same result as trying every end from the word's end, without hashing longer keys)
            let mut end = word.len().min(start + self.max_key.saturating_sub(base).max(1));
            while !word.is_char_boundary(end) {
                end += 1;
            }
            key.push_str(&word[start..end]);
            let found = loop {
                if let Some(&id) = self.vocab.get(key.as_str()) {
                    break Some(id);
                }
                // drop the last character
                let last = word[start..end].chars().next_back().map_or(1, char::len_utf8);
                end -= last;
                if end <= start {
                    break None;
                }
                key.truncate(base + end - start);
            };
            match found {
                Some(id) => pieces.push((id, start, end)),
                None => {
                    emit(self.unk, 0, word.len());
                    return;
                }
            }
            start = end;
        }
        for (id, s, e) in pieces {
            emit(id, s, e);
        }
    }
}

/// WordPiece's decoder: pieces after the first get a space unless they continue a word (prefix removed); with
/// `cleanup`, each token's spaces before punctuation and English contractions are removed, as HF does.
pub fn decode(tokens: &[&str], prefix: &str, cleanup: bool) -> String {
    let mut out = String::new();
    for (i, t) in tokens.iter().enumerate() {
        let piece = if i == 0 {
            t.to_string()
        } else if let Some(rest) = t.strip_prefix(prefix) {
            rest.to_string()
        } else {
            format!(" {t}")
        };
        if cleanup {
            out.push_str(&clean_up_tokenization(&piece));
        } else {
            out.push_str(&piece);
        }
    }
    out
}

/// Hugging Face's `cleanup` of the WordPiece decoder (per token).
fn clean_up_tokenization(s: &str) -> String {
    s.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" do not", " don't")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

/// transformers' `clean_up_tokenization` (over a whole decoded string, when `clean_up_tokenization_spaces`).
pub fn clean_up_tokenization_spaces(s: &str) -> String {
    s.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(words: &[&str]) -> WordPiece {
        let vocab = words.iter().enumerate().map(|(i, w)| (w.to_string(), i as u32)).collect();
        WordPiece::new(vocab, 0, "##".into(), 100)
    }

    fn pieces(m: &WordPiece, w: &str) -> Vec<(String, usize, usize)> {
        let mut v = Vec::new();
        m.tokenize(w, |id, s, e| v.push((m.id_to_token(id).unwrap().to_string(), s, e)));
        v
    }

    #[test]
    fn longest_match_first_with_continuations() {
        let m = model(&["[UNK]", "un", "##aff", "##able", "una", "##ff"]);
        assert_eq!(pieces(&m, "unaffable"), [("una".into(), 0, 3), ("##ff".into(), 3, 5), ("##able".into(), 5, 9)]);
        // "unx": no piece covers "x", so the whole word is [UNK]
        assert_eq!(pieces(&m, "unx"), [("[UNK]".into(), 0, 3)]);
    }

    #[test]
    fn long_words_are_unknown() {
        let m = WordPiece::new([("[UNK]".to_string(), 0), ("a".to_string(), 1), ("##a".to_string(), 2)].into_iter().collect(), 0, "##".into(), 3);
        assert_eq!(pieces(&m, "aaa").len(), 3);
        assert_eq!(pieces(&m, "aaaa"), [("[UNK]".into(), 0, 4)]);
        // the limit counts characters, not bytes
        let m = WordPiece::new([("[UNK]".to_string(), 0), ("é".to_string(), 1), ("##é".to_string(), 2)].into_iter().collect(), 0, "##".into(), 3);
        assert_eq!(pieces(&m, "ééé").len(), 3);
    }

    #[test]
    fn pre_tokenizer_isolates_punctuation() {
        let mut v = Vec::new();
        let s = "¿Dolor (agudo)?  sí$x";
        split_bert(s, |a, b| v.push(&s[a..b]));
        assert_eq!(v, ["¿", "Dolor", "(", "agudo", ")", "?", "sí", "$", "x"]);
    }

    #[test]
    fn decoder_joins_pieces() {
        assert_eq!(decode(&["el", "pac", "##iente", "tiene", "fiebre", "."], "##", true), "el paciente tiene fiebre.");
        assert_eq!(decode(&["a", "."], "##", false), "a .");
    }
}
