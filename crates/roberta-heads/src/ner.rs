//! Token classification post-processing, as `pipeline("token-classification")` does it: softmax per token,
//! special tokens dropped, then aggregation none / simple / first / average / max, BIO grouping, the "O" label
//! filtered out, and overlapping windows merged.

/// How sub-word predictions become entities (HF's `aggregation_strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Aggregation {
    /// One entity per token.
    #[default]
    None,
    /// Adjacent tokens with the same type (B- then I-) grouped.
    Simple,
    /// Words take the label of their first sub-word, then grouped.
    First,
    /// Words take the label of the average of their sub-words' scores, then grouped.
    Average,
    /// Words take the label of the sub-word with the highest score, then grouped.
    Max,
}

/// Any case, as HF's `AggregationStrategy[name.upper()]` takes it.
impl std::str::FromStr for Aggregation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "none" => Aggregation::None,
            "simple" => Aggregation::Simple,
            "first" => Aggregation::First,
            "average" => Aggregation::Average,
            "max" => Aggregation::Max,
            _ => return Err(format!("unknown aggregation {s:?} (none, simple, first, average, max)")),
        })
    }
}

/// One token of the text, before aggregation.
#[derive(Clone, Debug)]
pub struct PreEntity {
    /// The token string (byte-level, e.g. `Ġhemoglobina`).
    pub word: String,
    /// Softmax scores over the labels.
    pub scores: Vec<f32>,
    /// Character offsets into the text.
    pub start: usize,
    /// End character offset.
    pub end: usize,
    /// Byte offsets into the text (`start..end` as a Rust slice range).
    pub bytes: (usize, usize),
    /// Token index in its window.
    pub index: usize,
    /// Continues the previous token's word (HF's fallback heuristic: no space before it; or the tokenizer's
    /// own word ids).
    pub is_subword: bool,
}

/// One output entity: `entity` is set with aggregation none, `entity_group` otherwise.
#[derive(Clone, Debug, PartialEq)]
pub struct Entity {
    /// Label (aggregation none) or entity type without its B-/I- prefix (grouped).
    pub label: String,
    /// Whether this is a group (`entity_group`) rather than one token (`entity`).
    pub grouped: bool,
    /// Score.
    pub score: f32,
    /// The words as the tokenizer turns tokens back into text.
    pub word: String,
    /// Character (Unicode scalar) start in the text, as HF's Python pipeline gives it. Not a byte offset: to slice
    /// a Rust `&str` use [`Entity::span`] or [`Entity::byte_start`].
    pub start: usize,
    /// Character end in the text (exclusive).
    pub end: usize,
    /// Byte start in the text: `&text[e.byte_start..e.byte_end]` is the entity's span.
    pub byte_start: usize,
    /// Byte end in the text (exclusive).
    pub byte_end: usize,
    /// Token index (aggregation none only).
    pub index: Option<usize>,
}

impl Entity {
    /// The entity's span in `text`, the text it was found in (`text[start..end]` in characters, as Python
    /// slices it); empty when `text` is another text too short to hold it.
    pub fn span<'a>(&self, text: &'a str) -> &'a str {
        text.get(self.byte_start..self.byte_end).unwrap_or("")
    }
}

use crate::scores::argmax;

/// Serialised as HF's pipeline writes an entity: `entity` (aggregation none, with `index`) or `entity_group`,
/// then `score`, `word`, `start`, `end` (character offsets); the score as the f64 its f32 widens to. The byte
/// offsets are the library's, not HF's, and are not written.
impl serde::Serialize for Entity {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(if self.grouped { "entity_group" } else { "entity" }, &self.label)?;
        m.serialize_entry("score", &f64::from(self.score))?;
        if let Some(i) = self.index {
            m.serialize_entry("index", &i)?;
        }
        m.serialize_entry("word", &self.word)?;
        m.serialize_entry("start", &self.start)?;
        m.serialize_entry("end", &self.end)?;
        m.end()
    }
}

/// HF's fallback sub-word heuristic for tokenizers without a continuing-subword prefix: a token continues a
/// word when it does not start the text and neither it nor the character before it is a space.
pub fn is_subword(chars: &[char], start: usize) -> bool {
    start > 0 && !chars[start - 1..(start + 1).min(chars.len())].contains(&' ')
}

/// Labels, scores and grouping: turns one window's pre-entities into entities (the "O" label dropped).
pub fn aggregate(
    pre: &[PreEntity],
    strategy: Aggregation,
    labels: &[String],
    detok: &dyn Fn(&[&str]) -> String,
) -> Vec<Entity> {
    let label = |i: usize| labels.get(i).cloned().unwrap_or_else(|| crate::scores::default_label(i));
    let entities: Vec<Entity> = match strategy {
        Aggregation::None | Aggregation::Simple => pre
            .iter()
            .map(|p| {
                let i = argmax(&p.scores);
                Entity {
                    label: label(i),
                    grouped: false,
                    score: p.scores[i],
                    word: p.word.clone(),
                    start: p.start,
                    end: p.end,
                    byte_start: p.bytes.0,
                    byte_end: p.bytes.1,
                    index: Some(p.index),
                }
            })
            .collect(),
        _ => {
            let mut words: Vec<&[PreEntity]> = Vec::new();
            let mut from = 0;
            for i in 1..=pre.len() {
                if i == pre.len() || !pre[i].is_subword {
                    if i > from {
                        words.push(&pre[from..i]);
                    }
                    from = i;
                }
            }
            words.iter().map(|w| aggregate_word(w, strategy, &label, detok)).collect()
        }
    };
    let out = if strategy == Aggregation::None { entities } else { group_entities(&entities, detok) };
    out.into_iter().filter(|e| e.label != "O").collect()
}

fn aggregate_word(w: &[PreEntity], strategy: Aggregation, label: &dyn Fn(usize) -> String, detok: &dyn Fn(&[&str]) -> String) -> Entity {
    let toks: Vec<&str> = w.iter().map(|p| p.word.as_str()).collect();
    let (idx, score) = match strategy {
        Aggregation::Max => {
            // the first sub-word with the highest max score (Python's max keeps the first)
            let mut best = &w[0];
            for p in &w[1..] {
                if p.scores[argmax(&p.scores)] > best.scores[argmax(&best.scores)] {
                    best = p;
                }
            }
            let i = argmax(&best.scores);
            (i, best.scores[i])
        }
        Aggregation::Average => {
            let n = w[0].scores.len();
            let avg: Vec<f32> = (0..n).map(|k| w.iter().map(|p| p.scores[k]).sum::<f32>() / w.len() as f32).collect();
            let i = argmax(&avg);
            (i, avg[i])
        }
        _ => {
            let i = argmax(&w[0].scores);
            (i, w[0].scores[i])
        }
    };
    let last = &w[w.len() - 1];
    Entity {
        label: label(idx),
        grouped: false,
        score,
        word: detok(&toks),
        start: w[0].start,
        end: last.end,
        byte_start: w[0].bytes.0,
        byte_end: last.bytes.1,
        index: None,
    }
}

/// B-/I- tag and type of a label; a label without a prefix counts as I- of itself.
fn tag(label: &str) -> (char, &str) {
    if let Some(t) = label.strip_prefix("B-") {
        ('B', t)
    } else if let Some(t) = label.strip_prefix("I-") {
        ('I', t)
    } else {
        ('I', label)
    }
}

/// Groups adjacent entities of the same type where the later one is not a B-.
fn group_entities(entities: &[Entity], detok: &dyn Fn(&[&str]) -> String) -> Vec<Entity> {
    let mut groups = Vec::new();
    let mut from = 0;
    for i in 1..=entities.len() {
        let split = i == entities.len() || {
            let (bi, t) = tag(&entities[i].label);
            let (_, last) = tag(&entities[i - 1].label);
            !(t == last && bi != 'B')
        };
        if split && i > from {
            let g = &entities[from..i];
            let ty = g[0].label.split_once('-').map_or(g[0].label.as_str(), |(_, t)| t).to_string();
            let score = g.iter().map(|e| e.score).sum::<f32>() / g.len() as f32;
            let toks: Vec<&str> = g.iter().map(|e| e.word.as_str()).collect();
            let last = &g[g.len() - 1];
            groups.push(Entity {
                label: ty,
                grouped: true,
                score,
                word: detok(&toks),
                start: g[0].start,
                end: last.end,
                byte_start: g[0].byte_start,
                byte_end: last.byte_end,
                index: None,
            });
            from = i;
        }
    }
    groups
}

/// Merges the entities of overlapping windows: sorted by start, of overlapping ones the longer (then the
/// higher-scoring) is kept, as HF's `aggregate_overlapping_entities`.
pub fn merge_overlapping(mut entities: Vec<Entity>) -> Vec<Entity> {
    if entities.is_empty() {
        return entities;
    }
    entities.sort_by_key(|e| e.start);
    let mut out = Vec::new();
    let mut prev = entities[0].clone();
    for e in entities.into_iter() {
        if prev.start <= e.start && e.start < prev.end {
            let (cur, old) = (e.end - e.start, prev.end - prev.start);
            if cur > old || (cur == old && e.score > prev.score) {
                prev = e;
            }
        } else {
            out.push(std::mem::replace(&mut prev, e));
        }
    }
    out.push(prev);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pe(word: &str, label: usize, start: usize, end: usize, sub: bool) -> PreEntity {
        let mut scores = vec![0.1f32; 3];
        scores[label] = 0.8;
        PreEntity { word: word.into(), scores, start, end, bytes: (start, end), index: start, is_subword: sub }
    }

    #[test]
    fn simple_groups_b_then_i_and_drops_o() {
        let labels: Vec<String> = ["O", "B-X", "I-X"].iter().map(|s| s.to_string()).collect();
        let detok = |t: &[&str]| t.concat();
        let pre = [pe("a", 1, 0, 1, false), pe("b", 2, 1, 2, true), pe("c", 0, 3, 4, false), pe("d", 1, 5, 6, false), pe("e", 1, 7, 8, false)];
        let e = aggregate(&pre, Aggregation::Simple, &labels, &detok);
        let got: Vec<_> = e.iter().map(|e| (e.label.as_str(), e.word.as_str(), e.start, e.end)).collect();
        assert_eq!(got, [("X", "ab", 0, 2), ("X", "d", 5, 6), ("X", "e", 7, 8)]);
    }

    #[test]
    fn first_takes_the_first_subword() {
        let labels: Vec<String> = ["O", "B-X", "I-X"].iter().map(|s| s.to_string()).collect();
        let detok = |t: &[&str]| t.concat();
        let pre = [pe("a", 1, 0, 1, false), pe("b", 0, 1, 2, true), pe("c", 0, 3, 4, false)];
        let e = aggregate(&pre, Aggregation::First, &labels, &detok);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].word.as_str(), e[0].end), ("ab", 2));
    }

    #[test]
    fn overlapping_windows_keep_the_longer() {
        let mk = |s, e, score| Entity { label: "X".into(), grouped: true, score, word: String::new(), start: s, end: e, byte_start: s, byte_end: e, index: None };
        let m = merge_overlapping(vec![mk(10, 12, 0.9), mk(0, 3, 0.5), mk(10, 15, 0.4), mk(1, 3, 0.99)]);
        assert_eq!(m.iter().map(|e| (e.start, e.end)).collect::<Vec<_>>(), [(0, 3), (10, 15)]);
    }
}
