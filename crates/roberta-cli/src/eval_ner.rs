//! `roberta eval-ner --model DIR --conll FILE [--label-column N] [--json] [--predictions FILE]`: the NER
//! protocol of the model's fine-tuning scripts (first sub-word) and seqeval's default scores — per type, micro,
//! macro and weighted averages — as a table or as JSON.
use crate::pipeline::ModelArgs;
use roberta::eval_ner::{evaluate, non_bio_labels, read_conll_with};
use serde_json::{json, Value};
use std::io::Write;
use std::process::ExitCode;

/// Arguments of `roberta eval-ner`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// CoNLL file: `word<TAB>label` lines, a blank line between sentences.
    #[arg(long)]
    pub conll: std::path::PathBuf,
    /// The column holding the label, for files of more than two columns (1-based; the word is column 1).
    #[arg(long)]
    pub label_column: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the predictions as CoNLL: `word<TAB>gold<TAB>predicted` per line, a blank line between sentences.
    #[arg(long)]
    pub predictions: Option<std::path::PathBuf>,
}

fn score_json(s: &roberta_heads::metrics::Score) -> Value {
    json!({ "precision": s.precision, "recall": s.recall, "f1": s.f1, "support": s.support })
}

/// Runs the command.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    a.model.device()?;
    if let Some(p) = &a.predictions {
        if crate::io::same_file(p, &a.conll) {
            return Err(format!("--predictions {} is the --conll file: refusing to overwrite the gold labels", p.display()).into());
        }
    }
    let sentences = read_conll_with(&a.conll, a.label_column)?;
    let odd = non_bio_labels(&sentences);
    if !odd.is_empty() {
        let list: Vec<String> = odd.iter().map(|(l, n)| format!("{l:?} ({n} words)")).collect();
        eprintln!("eval-ner: warning: gold labels that are not BIO tags (seqeval reads their first letter as the tag): {}", list.join(", "));
    }
    let model = a.model.load()?;
    let t0 = std::time::Instant::now();
    let ev = evaluate(&model, &sentences)?;
    let words: usize = sentences.iter().map(|s| s.words.len()).sum();
    eprintln!("eval-ner: {} sentences, {words} words in {:.2} s", sentences.len(), t0.elapsed().as_secs_f64());
    if !ev.unknown_labels.is_empty() {
        let list: Vec<String> = ev.unknown_labels.iter().map(|(l, n)| format!("{l} ({n} words)")).collect();
        eprintln!(
            "eval-ner: warning: gold labels the model does not have (it can never predict them): {}; the model's labels: {}",
            list.join(", "),
            model.config().labels().join(", ")
        );
    }
    if let Some(p) = &a.predictions {
        let mut w = crate::io::Output::create(Some(p))?;
        for (s, pred) in sentences.iter().zip(&ev.predictions) {
            for ((word, g), l) in s.words.iter().zip(&s.labels).zip(pred) {
                w.write_str(&format!("{word}\t{g}\t{l}\n"))?;
            }
            w.write_str("\n")?;
        }
        w.finish()?;
    }
    let r = &ev.report;
    let mut out = std::io::stdout().lock();
    if a.json {
        let per: serde_json::Map<String, Value> = r.per_type.iter().map(|(k, s)| (k.clone(), score_json(s))).collect();
        writeln!(
            out,
            "{}",
            json!({ "micro": score_json(&r.micro), "macro": score_json(&r.macro_avg), "weighted": score_json(&r.weighted), "per_type": per })
        )?;
    } else {
        writeln!(out, "{:<20} {:>9} {:>9} {:>9} {:>8}", "type", "precision", "recall", "f1", "support")?;
        for (k, s) in &r.per_type {
            writeln!(out, "{:<20} {:>9.4} {:>9.4} {:>9.4} {:>8}", k, s.precision, s.recall, s.f1, s.support)?;
        }
        writeln!(out)?;
        for (name, m) in [("micro avg", &r.micro), ("macro avg", &r.macro_avg), ("weighted avg", &r.weighted)] {
            writeln!(out, "{:<20} {:>9.4} {:>9.4} {:>9.4} {:>8}", name, m.precision, m.recall, m.f1, m.support)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
