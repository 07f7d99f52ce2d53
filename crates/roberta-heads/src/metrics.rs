//! NER scores as seqeval computes them by default (CoNLL chunking, micro average): entities are
//! (type, start, end) spans found by conlleval's begin/end-of-chunk rules over the sentences joined with "O".
use std::collections::{BTreeMap, HashSet};

/// Precision, recall, F1 and support of one entity type (or the micro average).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Score {
    /// tp / predicted.
    pub precision: f64,
    /// tp / true.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Number of true entities.
    pub support: usize,
}

/// The report: per type and micro-averaged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// Per entity type, sorted by name.
    pub per_type: BTreeMap<String, Score>,
    /// Micro average over all types.
    pub micro: Score,
    /// Macro average: the unweighted mean of the types' precision, recall and F1 (support: all true entities).
    pub macro_avg: Score,
    /// Weighted average: the types' scores weighted by their support, as seqeval's report.
    pub weighted: Score,
}

fn split_tag(chunk: &str) -> (char, String) {
    let tag = chunk.chars().next().unwrap_or('O');
    let rest: String = chunk.chars().skip(1).collect();
    let ty = rest.split_once('-').map_or(rest.as_str(), |(_, t)| t).to_string();
    (tag, if ty.is_empty() { "_".into() } else { ty })
}

fn end_of_chunk(prev_tag: char, tag: char, prev_type: &str, ty: &str) -> bool {
    matches!(prev_tag, 'E' | 'S')
        || (prev_tag == 'B' && matches!(tag, 'B' | 'S' | 'O'))
        || (prev_tag == 'I' && matches!(tag, 'B' | 'S' | 'O'))
        || (prev_tag != 'O' && prev_tag != '.' && prev_type != ty)
}

fn start_of_chunk(prev_tag: char, tag: char, prev_type: &str, ty: &str) -> bool {
    matches!(tag, 'B' | 'S')
        || (prev_tag == 'E' && matches!(tag, 'E' | 'I'))
        || (prev_tag == 'S' && matches!(tag, 'E' | 'I'))
        || (prev_tag == 'O' && matches!(tag, 'E' | 'I'))
        || (tag != 'O' && tag != '.' && prev_type != ty)
}

/// seqeval's `get_entities` over sentences (joined with an "O" between them): (type, first, last) spans.
pub fn get_entities(sentences: &[Vec<String>]) -> Vec<(String, usize, usize)> {
    let mut seq: Vec<&str> = Vec::new();
    for s in sentences {
        seq.extend(s.iter().map(String::as_str));
        seq.push("O");
    }
    let mut chunks = Vec::new();
    let (mut prev_tag, mut prev_type, mut begin) = ('O', String::new(), 0usize);
    for (i, chunk) in seq.iter().chain(std::iter::once(&"O")).enumerate() {
        let (tag, ty) = split_tag(chunk);
        if end_of_chunk(prev_tag, tag, &prev_type, &ty) {
            chunks.push((prev_type.clone(), begin, i - 1));
        }
        if start_of_chunk(prev_tag, tag, &prev_type, &ty) {
            begin = i;
        }
        prev_tag = tag;
        prev_type = ty;
    }
    chunks
}

fn score(tp: usize, pred: usize, truth: usize) -> Score {
    let div = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let (p, r) = (div(tp, pred), div(tp, truth));
    let f1 = if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) };
    Score { precision: p, recall: r, f1, support: truth }
}

/// Scores predicted against true label sequences (one list per sentence), as seqeval's classification report.
pub fn evaluate(truth: &[Vec<String>], pred: &[Vec<String>]) -> Report {
    let t: HashSet<(String, usize, usize)> = get_entities(truth).into_iter().collect();
    let p: HashSet<(String, usize, usize)> = get_entities(pred).into_iter().collect();
    let types: std::collections::BTreeSet<&String> = t.iter().chain(p.iter()).map(|e| &e.0).collect();
    let mut per_type = BTreeMap::new();
    for ty in types {
        let tt = t.iter().filter(|e| &e.0 == ty).count();
        let pp = p.iter().filter(|e| &e.0 == ty).count();
        let tp = t.iter().filter(|e| &e.0 == ty && p.contains(*e)).count();
        per_type.insert(ty.clone(), score(tp, pp, tt));
    }
    let tp = t.intersection(&p).count();
    let n = per_type.len();
    let support = t.len();
    let avg = |f: &dyn Fn(&Score) -> f64, weighted: bool| -> f64 {
        let (num, den) = per_type.values().fold((0.0, 0.0), |(a, b), s| {
            let w = if weighted { s.support as f64 } else { 1.0 };
            (a + w * f(s), b + w)
        });
        if den == 0.0 || n == 0 { 0.0 } else { num / den }
    };
    let averaged = |weighted: bool| Score {
        precision: avg(&|s| s.precision, weighted),
        recall: avg(&|s| s.recall, weighted),
        f1: avg(&|s| s.f1, weighted),
        support,
    };
    let (macro_avg, weighted) = (averaged(false), averaged(true));
    Report { per_type, micro: score(tp, p.len(), t.len()), macro_avg, weighted }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn conll_chunk_rules() {
        // I- after O opens an entity; a type change closes one and opens another; an entity at sentence end
        let e = get_entities(&[s(&["O", "I-A", "I-A", "I-B", "O", "B-A"]), s(&["B-A", "I-A"])]);
        assert_eq!(e, vec![("A".into(), 1, 2), ("B".into(), 3, 3), ("A".into(), 5, 5), ("A".into(), 7, 8)]);
        // B- after B- of the same type starts a new entity
        let e = get_entities(&[s(&["B-A", "B-A", "I-A"])]);
        assert_eq!(e, vec![("A".into(), 0, 0), ("A".into(), 1, 2)]);
    }

    #[test]
    fn micro_and_per_type() {
        let truth = vec![s(&["B-A", "I-A", "O", "B-B"])];
        let pred = vec![s(&["B-A", "I-A", "O", "B-A"])];
        let r = evaluate(&truth, &pred);
        assert_eq!(r.per_type["A"], Score { precision: 0.5, recall: 1.0, f1: 2.0 * 0.5 / 1.5, support: 1 });
        assert_eq!(r.per_type["B"], Score { precision: 0.0, recall: 0.0, f1: 0.0, support: 1 });
        assert_eq!(r.micro.precision, 0.5);
        assert_eq!(r.micro.recall, 0.5);
        // macro: the mean over A and B; weighted by support (1 each here, so equal)
        assert_eq!(r.macro_avg.precision, 0.25);
        assert_eq!(r.macro_avg.recall, 0.5);
        assert!((r.macro_avg.f1 - (2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(r.weighted.recall, 0.5);
        assert_eq!(r.macro_avg.support, 2);
    }

    #[test]
    fn weighted_average_weighs_by_support() {
        // A: 2 true, both found; B: 1 true, missed; seqeval: weighted recall (2·1 + 1·0) / 3
        let truth = vec![s(&["B-A", "O", "B-A", "O", "B-B"])];
        let pred = vec![s(&["B-A", "O", "B-A", "O", "O"])];
        let r = evaluate(&truth, &pred);
        assert!((r.weighted.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.macro_avg.recall - 0.5).abs() < 1e-12);
        assert_eq!(r.weighted.support, 3);
    }
}
