//! SentencePiece's Unigram family (XLM-RoBERTa) as Hugging Face runs it: the `Precompiled` normalizer (the
//! model's compiled character map: a darts-clone double-array trie over UTF-8 bytes and a blob of replacement
//! strings, applied per grapheme cluster), `Replace` (the whitespace-run collapse converters add), the
//! `Metaspace` pre-tokenizer (spaces as `▁`, one prepended, a split before each `▁`), Viterbi segmentation over
//! the pieces' log-probabilities with unknown characters at the lowest score less 10 (consecutive unknowns fused
//! into one `<unk>`), and the Metaspace decoder.
//!
//! Alignments follow HF's `NormalizedString::transform` by position: a replacing character takes the span of the
//! next original character, an inserted one the span of the last character taken.
use crate::fxhash::FxHashMap;
use crate::normalizer::Normalized;
use unicode_segmentation::UnicodeSegmentation;

/// Characters with the byte span of the original character each came from.
pub(crate) type Aligned = Vec<(char, (usize, usize))>;

/// `input` rewritten by `dest` — `(char, change)`: 0 replaces the next input character, 1 is inserted, −n
/// replaces the next one and removes the n after it — with `skip` input characters removed first, aligned as
/// HF's `transform_range` aligns them.
pub(crate) fn transform(input: &[(char, (usize, usize))], dest: &[(char, isize)], skip: usize) -> Aligned {
    let mut taken = skip;
    let mut out = Vec::with_capacity(dest.len());
    for &(c, change) in dest {
        let span = if change > 0 {
            // an inserted character shares the previous character's span ((0, 0) at the very start, as HF)
            if taken == 0 {
                (0, 0)
            } else {
                input.get(taken - 1).map_or((0, 0), |x| x.1)
            }
        } else {
            let s = input.get(taken).map_or_else(|| input.last().map_or((0, 0), |x| x.1), |x| x.1);
            taken += 1 + (-change) as usize;
            s
        };
        out.push((c, span));
    }
    out
}

/// The aligned characters of a text, each with its own span.
pub(crate) fn aligned(text: &str) -> Aligned {
    text.char_indices().map(|(i, c)| (c, (i, i + c.len_utf8()))).collect()
}

/// Aligned characters as a [`Normalized`] text.
pub(crate) fn to_normalized(chars: &[(char, (usize, usize))]) -> Normalized {
    let mut n = Normalized { text: String::with_capacity(chars.len()), align: Vec::with_capacity(chars.len()) };
    for &(c, span) in chars {
        n.text.push(c);
        n.align.extend(std::iter::repeat_n(span, c.len_utf8()));
    }
    n
}

/// SentencePiece's compiled normalization map (`precompiled_charsmap`).
#[derive(Clone, Debug)]
pub struct Precompiled {
    /// The double-array units.
    trie: Vec<u32>,
    /// NUL-terminated replacement strings.
    normalized: String,
}

impl Precompiled {
    /// Parses the map: a little-endian u32 byte length of the trie, the trie's u32 units, then the replacement
    /// strings (UTF-8).
    pub fn parse(bytes: &[u8]) -> Result<Precompiled, String> {
        let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
            return Err("precompiled_charsmap is shorter than its 4-byte header".into());
        };
        let len = u32::from_le_bytes(*len) as usize;
        if len % 4 != 0 || len > rest.len() {
            return Err(format!("precompiled_charsmap's trie of {len} bytes does not fit its {} bytes", rest.len()));
        }
        let trie = rest[..len].chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes"))).collect();
        let normalized = String::from_utf8(rest[len..].to_vec()).map_err(|e| format!("precompiled_charsmap's strings are not UTF-8 ({e})"))?;
        if len == 0 {
            return Err("precompiled_charsmap has an empty trie".into());
        }
        Ok(Precompiled { trie, normalized })
    }

    /// The value of the shortest key of the trie that is a prefix of `key` (stopping at a NUL byte, as
    /// sentencepiece's C strings do).
    fn first_prefix_value(&self, key: &[u8]) -> Option<usize> {
        let unit = |p: usize| self.trie.get(p).copied();
        let offset = |u: u32| ((u >> 10) << ((u & (1 << 9)) >> 6)) as usize;
        let label = |u: u32| u & (0x8000_0000 | 0xFF);
        let has_leaf = |u: u32| (u >> 8) & 1 == 1;
        let mut pos = offset(unit(0)?);
        for &c in key {
            if c == 0 {
                break;
            }
            pos ^= c as usize;
            let u = unit(pos)?;
            if label(u) != c as u32 {
                return None;
            }
            pos ^= offset(u);
            if has_leaf(u) {
                return Some((unit(pos)? & 0x7FFF_FFFF) as usize);
            }
        }
        None
    }

    /// The replacement of `chunk`, if the map has one: the string at the first match's index (HF's and
    /// sentencepiece's reading: the shortest matching prefix decides, for the whole chunk).
    fn transform(&self, chunk: &str) -> Option<&str> {
        let start = self.first_prefix_value(chunk.as_bytes())?;
        let tail = self.normalized.get(start..)?;
        Some(&tail[..tail.find('\0').unwrap_or(tail.len())])
    }

    /// Normalizes aligned characters: each grapheme cluster shorter than 6 bytes replaced whole when the map has
    /// it, otherwise each of its characters that the map has.
    pub(crate) fn normalize(&self, input: &[(char, (usize, usize))]) -> Aligned {
        let text: String = input.iter().map(|x| x.0).collect();
        let mut dest: Vec<(char, isize)> = Vec::with_capacity(text.len());
        let mut modified = false;
        let replace = |dest: &mut Vec<(char, isize)>, old: &str, new: &str| {
            let diff = new.chars().count() as isize - old.chars().count() as isize;
            dest.extend(new.chars().map(|c| (c, 0)));
            if diff > 0 {
                let n = dest.len();
                for d in &mut dest[n - diff as usize..] {
                    d.1 = 1;
                }
            } else if diff < 0 {
                // the removal is charged to the last character written (a previous grapheme's when this one
                // maps to nothing), as HF does
                if let Some(last) = dest.last_mut() {
                    last.1 += diff;
                }
            }
        };
        for g in text.graphemes(true) {
            if g.len() < 6 {
                if let Some(norm) = self.transform(g) {
                    modified = true;
                    replace(&mut dest, g, norm);
                    continue;
                }
            }
            for (i, c) in g.char_indices() {
                let part = &g[i..i + c.len_utf8()];
                match self.transform(part) {
                    Some(norm) => {
                        modified = true;
                        replace(&mut dest, part, norm);
                    }
                    None => dest.push((c, 0)),
                }
            }
        }
        if !modified {
            return input.to_vec();
        }
        transform(input, &dest, 0)
    }
}

/// What a `Replace` normalizer looks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplacePattern {
    /// A literal string.
    Literal(String),
    /// A run of at least `min` of one character (the regex `c{min,}`, e.g. `" {2,}"`).
    Run { c: char, min: usize },
}

impl ReplacePattern {
    /// Parses a `Regex` pattern of the one form converters write: a character then `{n,}` or `+`.
    pub fn from_regex(re: &str) -> Option<ReplacePattern> {
        let mut chars = re.chars();
        let c = chars.next()?;
        if c == '\\' || "()[]{}.*+?|^$".contains(c) {
            return None;
        }
        let rest: String = chars.collect();
        let min = if rest == "+" {
            1
        } else {
            rest.strip_prefix('{')?.strip_suffix(",}")?.parse().ok()?
        };
        (min >= 1).then_some(ReplacePattern::Run { c, min })
    }

    /// Non-overlapping matches, left to right, as character ranges.
    fn matches(&self, chars: &[char]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut i = 0;
        match self {
            ReplacePattern::Literal(s) => {
                let pat: Vec<char> = s.chars().collect();
                if pat.is_empty() {
                    return out;
                }
                while i + pat.len() <= chars.len() {
                    if chars[i..i + pat.len()] == pat[..] {
                        out.push((i, i + pat.len()));
                        i += pat.len();
                    } else {
                        i += 1;
                    }
                }
            }
            ReplacePattern::Run { c, min } => {
                while i < chars.len() {
                    if chars[i] == *c {
                        let s = i;
                        while i < chars.len() && chars[i] == *c {
                            i += 1;
                        }
                        if i - s >= *min {
                            out.push((s, i));
                        }
                    } else {
                        i += 1;
                    }
                }
            }
        }
        out
    }
}

/// HF's `NormalizedString::replace`: each match replaced by `content`, whose characters take the span of the
/// match's last character.
pub(crate) fn replace(input: &[(char, (usize, usize))], pattern: &ReplacePattern, content: &str) -> Aligned {
    let chars: Vec<char> = input.iter().map(|x| x.0).collect();
    let mut out = Vec::with_capacity(input.len());
    let mut last = 0;
    for (s, e) in pattern.matches(&chars) {
        out.extend_from_slice(&input[last..s]);
        let span = input[e - 1].1;
        out.extend(content.chars().map(|c| (c, span)));
        last = e;
    }
    out.extend_from_slice(&input[last..]);
    out
}

/// One normalizer of a Unigram tokenizer's sequence.
#[derive(Clone, Debug)]
pub enum UnigramNormalizer {
    /// SentencePiece's compiled map.
    Precompiled(Precompiled),
    /// `Replace` of a pattern by a string.
    Replace(ReplacePattern, String),
}

/// Where the Metaspace pre-tokenizer prepends `▁`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrependScheme {
    /// Before every piece that does not start with one.
    Always,
    /// Only before a piece that starts the text.
    First,
    /// Never.
    Never,
}

/// The Metaspace pre-tokenizer and decoder's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metaspace {
    /// The character standing for a space (`▁`).
    pub replacement: char,
    /// Where one is prepended.
    pub prepend: PrependScheme,
    /// Whether the text is split before each replacement character.
    pub split: bool,
}

impl Metaspace {
    /// Spaces replaced, `▁` prepended as the scheme says (`at_start`: the piece starts the text), then the pieces
    /// (character ranges), each starting at a `▁` but perhaps the first.
    pub(crate) fn pre_tokenize(&self, input: &[(char, (usize, usize))], at_start: bool) -> (Aligned, Vec<(usize, usize)>) {
        let mut chars: Aligned = input.iter().map(|&(c, s)| (if c == ' ' { self.replacement } else { c }, s)).collect();
        let prepend = match self.prepend {
            PrependScheme::Always => true,
            PrependScheme::First => at_start,
            PrependScheme::Never => false,
        };
        if prepend && !chars.is_empty() && chars[0].0 != self.replacement {
            // HF's prepend: the new first character and the old one both take the old first one's span
            let span = chars[0].1;
            chars.insert(0, (self.replacement, span));
        }
        let mut pieces = Vec::new();
        if !self.split {
            if !chars.is_empty() {
                pieces.push((0, chars.len()));
            }
            return (chars, pieces);
        }
        let mut start = 0;
        for (i, &(c, _)) in chars.iter().enumerate() {
            if c == self.replacement && i > start {
                pieces.push((start, i));
                start = i;
            }
        }
        if start < chars.len() {
            pieces.push((start, chars.len()));
        }
        (chars, pieces)
    }

    /// The decoder: `▁` back to a space in every token, except that the first token loses its `▁`s (unless the
    /// scheme never prepends).
    pub fn decode(&self, tokens: &[&str]) -> String {
        let mut out = String::new();
        for (i, t) in tokens.iter().enumerate() {
            for c in t.chars() {
                if c == self.replacement {
                    if !(i == 0 && self.prepend != PrependScheme::Never) {
                        out.push(' ');
                    }
                } else {
                    out.push(c);
                }
            }
        }
        out
    }
}

/// Lowest score less this is an unknown character's score (sentencepiece's kUnkPenalty).
const UNK_PENALTY: f64 = 10.0;

/// A Unigram vocabulary: pieces with their log-probabilities.
#[derive(Clone, Debug)]
pub struct Unigram {
    vocab: FxHashMap<String, u32>,
    pieces: Vec<(String, f64)>,
    unk: u32,
    min_score: f64,
    /// The longest piece, in bytes (the Viterbi's look-ahead).
    max_len: usize,
}

impl Unigram {
    /// A model over `pieces` (id = position); `unk` is the unknown piece's id.
    pub fn new(pieces: Vec<(String, f64)>, unk: u32) -> Unigram {
        let mut vocab = FxHashMap::default();
        for (i, (p, _)) in pieces.iter().enumerate() {
            // a piece given twice: the last one's id (and score) is used, as HF's map keeps it
            vocab.insert(p.clone(), i as u32);
        }
        let min_score = pieces.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let max_len = pieces.iter().map(|p| p.0.len()).max().unwrap_or(0);
        Unigram { vocab, pieces, unk, min_score: if min_score.is_finite() { min_score } else { 0.0 }, max_len }
    }

    /// The id of a piece.
    pub fn token_to_id(&self, t: &str) -> Option<u32> {
        self.vocab.get(t).copied()
    }

    /// The piece of an id.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.pieces.get(id as usize).map(|p| p.0.as_str())
    }

    /// Number of pieces.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The best segmentation of `s` (Viterbi: highest total score; on a tie at an end position, the candidate
    /// found first, i.e. the one starting earliest),
    /// calling `emit(id, start, end)` with byte ranges; runs of unknown characters become one unknown token.
    pub fn tokenize(&self, s: &str, mut emit: impl FnMut(u32, usize, usize)) {
        let n = s.len();
        if n == 0 {
            return;
        }
        let unk_score = self.min_score - UNK_PENALTY;
        // best[e] = (score, start, id) of the best path ending at byte e
        let mut best: Vec<Option<(f64, usize, u32)>> = vec![None; n + 1];
        best[0] = Some((0.0, 0, 0));
        let mut start = 0;
        while start < n {
            let here = best[start].map_or(0.0, |b| b.0);
            let ch_len = s[start..].chars().next().map_or(1, char::len_utf8);
            let mut single = false;
            let mut end = start;
            for c in s[start..].chars() {
                end += c.len_utf8();
                if end - start > self.max_len {
                    break;
                }
                if let Some(&id) = self.vocab.get(&s[start..end]) {
                    let cand = here + self.pieces[id as usize].1;
                    if best[end].is_none_or(|b| cand > b.0) {
                        best[end] = Some((cand, start, id));
                    }
                    single |= end - start == ch_len;
                }
            }
            if !single {
                let cand = here + unk_score;
                let e = start + ch_len;
                if best[e].is_none_or(|b| cand > b.0) {
                    best[e] = Some((cand, start, self.unk));
                }
            }
            start += ch_len;
        }
        // back from the end; consecutive unknown tokens are fused
        let mut out: Vec<(u32, usize, usize)> = Vec::new();
        let mut e = n;
        while e > 0 {
            let (_, s0, id) = best[e].expect("every character boundary is reached");
            match out.last_mut() {
                Some(last) if id == self.unk && last.0 == self.unk => last.1 = s0,
                _ => out.push((id, s0, e)),
            }
            e = s0;
        }
        for &(id, a, b) in out.iter().rev() {
            // a fused or single unknown span maps to the unknown id unless it is itself a piece
            let id = if id == self.unk { self.vocab.get(&s[a..b]).copied().unwrap_or(self.unk) } else { id };
            emit(id, a, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Unigram {
        let p = |s: &str, x: f64| (s.to_string(), x);
        Unigram::new(vec![p("<unk>", 0.0), p("▁", -2.0), p("▁ho", -3.0), p("la", -3.0), p("▁hola", -5.5), p("h", -4.0), p("o", -4.0), p("l", -4.0), p("a", -4.0)], 0)
    }

    fn pieces(m: &Unigram, s: &str) -> Vec<String> {
        let mut v = Vec::new();
        m.tokenize(s, |id, a, b| v.push(format!("{}:{}", m.id_to_token(id).unwrap(), &s[a..b])));
        v
    }

    #[test]
    fn viterbi_picks_the_best_total() {
        let m = model();
        // ▁hola alone: -5.5; ▁ho + la: -6
        assert_eq!(pieces(&m, "▁hola"), ["▁hola:▁hola"]);
        // unknown characters fuse into one <unk>
        assert_eq!(pieces(&m, "▁holaxyz"), ["▁hola:▁hola", "<unk>:xyz"]);
        assert_eq!(pieces(&m, "x▁hola"), ["<unk>:x", "▁hola:▁hola"]);
    }

    #[test]
    fn metaspace_prepends_and_splits() {
        let ms = Metaspace { replacement: '▁', prepend: PrependScheme::Always, split: true };
        let (chars, pieces) = ms.pre_tokenize(&aligned("Hola  mundo"), true);
        let text: String = chars.iter().map(|c| c.0).collect();
        assert_eq!(text, "▁Hola▁▁mundo");
        let got: Vec<String> = pieces.iter().map(|&(a, b)| chars[a..b].iter().map(|c| c.0).collect()).collect();
        assert_eq!(got, ["▁Hola", "▁", "▁mundo"]);
        assert_eq!(chars[0].1, (0, 1));
        assert_eq!(ms.decode(&["▁Hola", "▁mundo"]), "Hola mundo");
    }

    #[test]
    fn replace_runs_takes_the_last_span() {
        let p = ReplacePattern::from_regex(" {2,}").unwrap();
        let out = replace(&aligned("a   b"), &p, " ");
        assert_eq!(out.iter().map(|c| c.0).collect::<String>(), "a b");
        assert_eq!(out[1].1, (3, 4));
        assert_eq!(ReplacePattern::from_regex("(a|b)"), None);
    }

    #[test]
    fn transform_positions() {
        // "ab" → "x" (a replaced, b removed) then an inserted "y"
        let out = transform(&aligned("ab"), &[('x', -1), ('y', 1)], 0);
        assert_eq!(out, [('x', (0, 1)), ('y', (1, 2))]);
    }
}
