//! `roberta tokenize --tokenizer DIR`: records through the tokenizer. Input records `{"text"}`,
//! `{"text","text_pair"}` or (with `--split-words`) `{"words":[..]}`; output: the record plus `input_ids` and
//! `offsets` (character offsets), and `word_ids` for pre-split words.
use crate::io::{raw, text_and_pair, Fields, IoArgs};
use crate::pipeline::{stream, Added, TaskFn};
use roberta::Output;
use roberta_tokenizer::{EncodeOptions, Input, Tokenizer};
use serde_json::Value;
use std::process::ExitCode;

/// Arguments of `roberta tokenize`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Tokenizer directory (tokenizer.json, or vocab.json + merges.txt, vocab.txt, sentencepiece.bpe.model), or a
    /// model id `org/name[@revision]` from the Hugging Face Hub (its tokenizer files only are downloaded).
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

/// What one record asks to encode.
enum Job {
    Text(String, Option<String>),
    Words(Vec<String>),
}

fn read(v: &Fields, split_words: bool, line: usize) -> Result<Job, String> {
    if split_words {
        let list = match v.get("words").map_err(|e| format!("line {line}: {e}"))? {
            Some(Value::Array(a)) => a,
            _ => return Err(format!("line {line}: missing array field \"words\" (records look like {{\"words\": [\"...\"]}})")),
        };
        let words = list
            .iter()
            .map(|w| w.as_str().map(str::to_string).ok_or_else(|| format!("line {line}: \"words\" must hold strings")))
            .collect::<Result<_, _>>()?;
        return Ok(Job::Words(words));
    }
    let (text, pair) = text_and_pair(v, line)?;
    Ok(Job::Text(text, pair))
}

fn encode(tok: &Tokenizer, job: &Job, opts: &EncodeOptions) -> Result<Output<Added>, String> {
    let words: Vec<&str>;
    let input = match job {
        Job::Text(t, None) => Input::Single(t),
        Job::Text(t, Some(p)) => Input::Pair(t, p),
        Job::Words(w) => {
            words = w.iter().map(String::as_str).collect();
            Input::Words(&words)
        }
    };
    let e = tok.encode_with(input, opts).map_err(|e| e.to_string())?;
    let offsets: Vec<[usize; 2]> = e.offsets.iter().map(|&(s, t)| [s, t]).collect();
    let mut f: Added = vec![("input_ids", raw(&e.ids)), ("offsets", raw(&offsets))];
    if matches!(job, Job::Words(_)) {
        f.push(("word_ids", raw(&e.word_ids)));
    }
    Ok(Output::new(f))
}

/// Runs the command.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    a.io.check()?;
    if a.split_words && a.io.format == crate::io::Format::Text {
        return Err("--split-words reads {\"words\": [...]} records: it needs --format jsonl".into());
    }
    let dir = roberta_checkpoint::hub::resolve(&a.tokenizer, roberta_checkpoint::hub::Want::Tokenizer)?;
    let tok = Tokenizer::from_dir(&dir)?;
    let opts = EncodeOptions { add_special_tokens: !a.no_special, max_length: a.max_length, ..Default::default() };
    if let Some(max) = a.max_length {
        // the tokenizer's own rule: a length that cannot hold the special tokens of a single text is an error
        tok.encode_with(Input::Single(""), &opts).map_err(|e| format!("--max-length {max}: {e}"))?;
    }
    let split = a.split_words;
    let task = TaskFn::boxed("tokenize", 256, move |v: &Fields, line| read(v, split, line), move |jobs: &[Job]| {
        Ok(jobs.iter().map(|j| encode(&tok, j, &opts)).collect())
    });
    stream(&a.io, &*task)
}
