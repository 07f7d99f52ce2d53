//! NER evaluation on a CoNLL file, by DESIGN.md's protocol (the model's official fine-tuning scripts): words
//! encoded pre-split with a prefix space, each word labelled by the argmax at its first sub-word; a sentence
//! longer than the model allows is cut greedily into consecutive chunks of whole words of at most
//! `max_position_embeddings − 4` sub-words, each run alone. Scores as seqeval's defaults ([`metrics`]).
use crate::model::Model;
use crate::{Error, Result};
use roberta_heads::metrics::{self, Report};
use roberta_heads::Head;
use roberta_tokenizer::{EncodeOptions, Input};
use std::path::Path;

/// One sentence: words and their gold labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sentence {
    /// The words.
    pub words: Vec<String>,
    /// Gold BIO labels, one per word.
    pub labels: Vec<String>,
}

/// Reads `word<TAB>label` lines (or word and label separated by spaces), a blank line between sentences: the
/// two-column format of the model's fine-tuning data. Wider files need [`read_conll_with`] and a label column.
pub fn read_conll(path: &Path) -> Result<Vec<Sentence>> {
    read_conll_with(path, None)
}

/// Reads a CoNLL file whose word is the first column and whose label is column `label_column` (1-based;
/// `None`: a file of exactly two columns). Columns are tab-separated, or space-separated in a line without
/// tabs. Refuses what is not this format, naming the line: JSON Lines, a line of another width, and a file with
/// no sentence at all. Labels are taken as they are (seqeval reads any label; see [`non_bio_labels`]).
pub fn read_conll_with(path: &Path, label_column: Option<usize>) -> Result<Vec<Sentence>> {
    let err = |msg: String| Error::Data { path: path.into(), msg };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        err(format!("invalid UTF-8 at byte {} (a Latin-1 file? convert it: iconv -f latin1 -t utf8 IN > OUT)", e.valid_up_to()))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if label_column == Some(0) {
        return Err(err("label column 0: columns count from 1 (the word is column 1)".into()));
    }
    let mut out = Vec::new();
    let mut cur = Sentence { words: Vec::new(), labels: Vec::new() };
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if !cur.words.is_empty() {
                out.push(std::mem::replace(&mut cur, Sentence { words: Vec::new(), labels: Vec::new() }));
            }
            continue;
        }
        let at = |msg: String| err(format!("line {}: {msg}", i + 1));
        if line.trim_start().starts_with('{') && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(line).is_ok() {
            return Err(at("this is JSON Lines, not CoNLL: eval-ner reads `word<TAB>label` lines with a blank line between sentences".into()));
        }
        let line = line.trim_end();
        let cols: Vec<&str> = if line.contains('\t') { line.split('\t').collect() } else { line.split_whitespace().collect() };
        let (w, l) = match label_column {
            None if cols.len() == 2 => (cols[0], cols[1]),
            None if cols.len() > 2 => {
                return Err(at(format!(
                    "{} columns ({line:?}): say which one holds the label (--label-column N, 1-based; the word is column 1)",
                    cols.len()
                )))
            }
            None => return Err(at(format!("expected `word<TAB>label`, got {line:?}"))),
            Some(c) => match cols.get(c - 1) {
                Some(l) if c > 1 => (cols[0], *l),
                _ => return Err(at(format!("no label column {c} in {line:?} ({} columns; the word is column 1)", cols.len()))),
            },
        };
        let (w, l) = (w.trim(), l.trim());
        if w.is_empty() || l.is_empty() {
            return Err(at(format!("expected `word<TAB>label`, got {line:?}")));
        }
        cur.words.push(w.to_string());
        cur.labels.push(l.to_string());
    }
    if !cur.words.is_empty() {
        out.push(cur);
    }
    if out.is_empty() {
        return Err(err("no sentences: the file is empty (CoNLL: `word<TAB>label` lines, a blank line between sentences)".into()));
    }
    Ok(out)
}

/// `O`, or a B-, I-, E-, S-, L- or U- prefix and a type.
fn is_tag(l: &str) -> bool {
    l == "O" || l.split_once('-').is_some_and(|(p, t)| matches!(p, "B" | "I" | "E" | "S" | "L" | "U") && !t.is_empty())
}

/// The gold labels that are not BIO / BIOES tags (`PER`, `farmaco`...), with how many words carry each: seqeval
/// takes such a label's first letter as its tag, which is rarely what was meant.
pub fn non_bio_labels(sentences: &[Sentence]) -> Vec<(String, usize)> {
    let mut m: std::collections::BTreeMap<String, usize> = Default::default();
    for l in sentences.iter().flat_map(|s| &s.labels).filter(|l| !is_tag(l)) {
        *m.entry(l.clone()).or_default() += 1;
    }
    m.into_iter().collect()
}

/// Predicted labels per sentence and the seqeval report.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// One label per word of each sentence.
    pub predictions: Vec<Vec<String>>,
    /// Scores against the gold labels.
    pub report: Report,
    /// Gold labels the model does not have (it can never predict them), with how many words carry each.
    pub unknown_labels: Vec<(String, usize)>,
}

/// Runs the protocol over `sentences` with a token-classification model.
pub fn evaluate(model: &Model, sentences: &[Sentence]) -> Result<Evaluation> {
    let Some(Head::TokenClassification(head)) = model.head() else {
        return Err(model.wrong_head("eval-ner", "RobertaForTokenClassification"));
    };
    let tok = model.tokenizer()?;
    let labels = model.config().labels();
    // room for the two special tokens within the positions (510 for RoBERTa-base's 514 and BERT's 512)
    let max_pieces = model.config().max_seq_len().saturating_sub(2).max(1);
    let bare = EncodeOptions { add_special_tokens: false, ..Default::default() };
    // chunks: (sentence, first word, words)
    let mut chunks: Vec<(usize, usize, Vec<&str>)> = Vec::new();
    for (s, sent) in sentences.iter().enumerate() {
        let (mut start, mut n) = (0usize, 0usize);
        let mut cur: Vec<&str> = Vec::new();
        for (i, w) in sent.words.iter().enumerate() {
            let pieces = tok.encode_with(Input::Words(&[w.as_str()]), &bare)?.len();
            if !cur.is_empty() && n + pieces > max_pieces {
                chunks.push((s, start, std::mem::take(&mut cur)));
                start = i;
                n = 0;
            }
            cur.push(w);
            n += pieces;
        }
        if !cur.is_empty() {
            chunks.push((s, start, cur));
        }
    }
    let encoded = chunks
        .iter()
        .map(|(_, _, words)| tok.encode_with(Input::Words(words), &EncodeOptions { max_length: Some(max_pieces + 2), ..Default::default() }))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let seqs: Vec<&[u32]> = encoded.iter().map(|e| e.ids.as_slice()).collect();
    let mut predictions: Vec<Vec<String>> = sentences.iter().map(|s| vec!["O".to_string(); s.words.len()]).collect();
    let k = head.num_labels();
    model.forward_all(&seqs, |c, h, b| {
        let (s, first, _) = &chunks[c];
        let e = &encoded[c];
        let mut prev = None;
        for (j, wid) in e.word_ids.iter().enumerate() {
            if let Some(w) = *wid {
                if prev != Some(w) {
                    let logits = head.logits(h.row(b, j), 1);
                    let best = roberta_heads::scores::argmax(&logits[..k]);
                    predictions[*s][first + w as usize] = labels.get(best).cloned().unwrap_or_else(|| roberta_heads::scores::default_label(best));
                }
            }
            prev = *wid;
        }
        Ok(())
    })?;
    let gold: Vec<Vec<String>> = sentences.iter().map(|s| s.labels.clone()).collect();
    let report = metrics::evaluate(&gold, &predictions);
    let known: std::collections::HashSet<&str> = labels.iter().map(String::as_str).collect();
    let mut unknown: std::collections::BTreeMap<String, usize> = Default::default();
    for l in gold.iter().flatten().filter(|l| !known.contains(l.as_str())) {
        *unknown.entry(l.clone()).or_default() += 1;
    }
    Ok(Evaluation { predictions, report, unknown_labels: unknown.into_iter().collect() })
}
