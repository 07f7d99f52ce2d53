//! `cargo xtask eval-ner --model DIR --conll FILE [--json] [--predictions FILE]`: DESIGN.md's NER protocol and
//! seqeval's default scores, as a table or as JSON.
use crate::pipeline::ModelArgs;
use roberta::eval_ner::{evaluate, read_conll};
use serde_json::{json, Value};
use std::process::ExitCode;

/// Arguments of `cargo xtask eval-ner`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// CoNLL file: `word<TAB>label` lines, a blank line between sentences.
    #[arg(long)]
    pub conll: std::path::PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the per-word predictions (one JSON list per sentence) to this file.
    #[arg(long)]
    pub predictions: Option<std::path::PathBuf>,
}

fn score_json(s: &roberta_heads::metrics::Score) -> Value {
    json!({ "precision": s.precision, "recall": s.recall, "f1": s.f1, "support": s.support })
}

/// Runs the command.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let model = a.model.load()?;
    let sentences = read_conll(&a.conll)?;
    let t0 = std::time::Instant::now();
    let ev = evaluate(&model, &sentences)?;
    let words: usize = sentences.iter().map(|s| s.words.len()).sum();
    eprintln!("eval-ner: {} sentences, {words} words in {:.2} s", sentences.len(), t0.elapsed().as_secs_f64());
    if let Some(p) = &a.predictions {
        let body: String = ev.predictions.iter().map(|s| serde_json::to_string(s).expect("json") + "\n").collect();
        std::fs::write(p, body).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    let r = &ev.report;
    if a.json {
        let per: serde_json::Map<String, Value> = r.per_type.iter().map(|(k, s)| (k.clone(), score_json(s))).collect();
        println!("{}", json!({ "micro": score_json(&r.micro), "per_type": per }));
    } else {
        println!("{:<20} {:>9} {:>9} {:>9} {:>8}", "type", "precision", "recall", "f1", "support");
        for (k, s) in &r.per_type {
            println!("{:<20} {:>9.4} {:>9.4} {:>9.4} {:>8}", k, s.precision, s.recall, s.f1, s.support);
        }
        let m = &r.micro;
        println!("{:<20} {:>9.4} {:>9.4} {:>9.4} {:>8}", "micro avg", m.precision, m.recall, m.f1, m.support);
    }
    Ok(ExitCode::SUCCESS)
}
