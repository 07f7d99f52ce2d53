//! `cargo xtask tokenize`: JSON Lines through the tokenizer. Input records `{"text"}`, `{"text","text_pair"}`
//! or (with `--split-words`) `{"words":[..]}`; output `{"input_ids","offsets"}` (character offsets) plus
//! `word_ids` for pre-split words. A bad record gives an error record with its line number; the exit code is 1
//! when any record failed.
use crate::io::{error_record, str_field, write_line, IoArgs};
use roberta_tokenizer::{EncodeOptions, Input, Tokenizer};
use serde_json::{json, Value};
use std::io::Write;
use std::process::ExitCode;

/// Arguments of `cargo xtask tokenize`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Tokenizer directory (tokenizer.json, or vocab.json + merges.txt).
    #[arg(long)]
    pub tokenizer: std::path::PathBuf,
    /// Do not add `<s>` and `</s>`.
    #[arg(long)]
    pub no_special: bool,
    /// Truncate to at most N tokens (special tokens included; longest first for pairs).
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Records are `{"words":[..]}`, already split into words.
    #[arg(long)]
    pub split_words: bool,
    #[command(flatten)]
    pub io: IoArgs,
}

fn encode_record(tok: &Tokenizer, v: &Value, a: &Args, line: usize) -> Result<Value, String> {
    let opts = EncodeOptions { add_special_tokens: !a.no_special, max_length: a.max_length, ..Default::default() };
    let words: Vec<&str>;
    let input = if a.split_words {
        let list = v.get("words").and_then(Value::as_array).ok_or_else(|| format!("line {line}: missing array field \"words\""))?;
        words = list
            .iter()
            .map(|w| w.as_str().ok_or_else(|| format!("line {line}: \"words\" must hold strings")))
            .collect::<Result<_, _>>()?;
        Input::Words(&words)
    } else {
        let text = str_field(v, "text", line)?;
        match v.get("text_pair") {
            // transformers treats an empty text_pair as no pair (Python truthiness)
            None | Some(Value::Null) => Input::Single(text),
            Some(Value::String(p)) if p.is_empty() => Input::Single(text),
            Some(Value::String(p)) => Input::Pair(text, p),
            Some(_) => return Err(format!("line {line}: \"text_pair\" must be a string")),
        }
    };
    let e = tok.encode_with(input, &opts).map_err(|e| format!("line {line}: {e}"))?;
    let offsets: Vec<[usize; 2]> = e.offsets.iter().map(|&(s, t)| [s, t]).collect();
    let mut out = json!({ "input_ids": e.ids, "offsets": offsets });
    if a.split_words {
        out["word_ids"] = json!(e.word_ids);
    }
    Ok(out)
}

/// Runs the command.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let tok = Tokenizer::from_dir(&a.tokenizer)?;
    let mut out = a.io.writer()?;
    let mut failed = 0usize;
    for rec in a.io.records()? {
        let res = rec.value.and_then(|v| encode_record(&tok, &v, &a, rec.line));
        let v = res.unwrap_or_else(|e| {
            failed += 1;
            eprintln!("tokenize: {e}");
            error_record(rec.line, &e)
        });
        write_line(&mut out, &v)?;
    }
    out.flush()?;
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
