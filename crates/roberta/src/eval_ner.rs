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

/// Reads `word<TAB>label` lines (or word and label separated by spaces), a blank line between sentences.
pub fn read_conll(path: &Path) -> Result<Vec<Sentence>> {
    let bytes = std::fs::read(path).map_err(|e| Error::Data { path: path.into(), msg: e.to_string() })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| Error::Data { path: path.into(), msg: format!("invalid UTF-8 at byte {}", e.valid_up_to()) })?;
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
        let (w, l) = line
            .split_once('\t')
            .or_else(|| line.rsplit_once(' '))
            .filter(|(w, l)| !w.is_empty() && !l.trim().is_empty())
            .ok_or_else(|| Error::Data { path: path.into(), msg: format!("line {}: expected `word<TAB>label`, got {line:?}", i + 1) })?;
        cur.words.push(w.to_string());
        cur.labels.push(l.trim().to_string());
    }
    if !cur.words.is_empty() {
        out.push(cur);
    }
    Ok(out)
}

/// Predicted labels per sentence and the seqeval report.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// One label per word of each sentence.
    pub predictions: Vec<Vec<String>>,
    /// Scores against the gold labels.
    pub report: Report,
}

/// Runs the protocol over `sentences` with a token-classification model.
pub fn evaluate(model: &Model, sentences: &[Sentence]) -> Result<Evaluation> {
    let Some(Head::TokenClassification(head)) = model.head() else {
        return Err(Error::Model("eval-ner needs a RobertaForTokenClassification checkpoint".into()));
    };
    let tok = model.tokenizer()?;
    let labels = model.config().labels();
    let max_pieces = model.config().max_position_embeddings.saturating_sub(4).max(1);
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
    Ok(Evaluation { predictions, report })
}
