//! `roberta ner --model DIR [--aggregation none|simple|first|average|max] [--stride N] [--words hf|pretokenizer]`:
//! `{"text"}` → `{"text","entities":[..]}` as `pipeline("token-classification")`; long texts run in overlapping
//! windows.
use crate::io::IoArgs;
use crate::pipeline::{run_texts, stream, strs, text_of, ModelArgs, Task, TaskFn};
use roberta::{Aggregation, Ner, Words};
use std::process::ExitCode;

/// Arguments of `roberta ner`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// none (one entity per token, HF's default: raw byte-level tokens such as "Ġamoxicilina"), simple (adjacent
    /// tokens of one type grouped), first, average or max (whole words, labelled by their first sub-word, the
    /// average of their sub-words' scores, or their best sub-word). For a model fine-tuned with the label on
    /// the first sub-word (PharmaCoNER / CANTEMIST scripts, eval-ner's protocol) use first. Any case.
    #[arg(long, default_value = "none")]
    pub aggregation: String,
    /// Tokens shared by consecutive windows of a text longer than the model allows (default: a quarter of the
    /// window; must stay below the window, and needs an aggregation other than none, as HF).
    #[arg(long)]
    pub stride: Option<usize>,
    /// What a word is for first / average / max: hf (HF's fallback heuristic for byte-level BPE: a token with no
    /// space before it continues the word, so trailing punctuation is glued on: " omeprazol.") or pretokenizer
    /// (the tokenizer's own word boundaries, word_ids: punctuation is a word of its own; long texts are then cut
    /// into windows between words). Default: hf.
    #[arg(long, value_enum, ignore_case = true)]
    pub words: Option<WordsArg>,
    #[command(flatten)]
    pub io: IoArgs,
}

/// `--words`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordsArg {
    /// HF's fallback heuristic (exactly what transformers gives).
    Hf,
    /// The pre-tokenizer's words (`word_ids`).
    Pretokenizer,
}

/// Runs the command.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    a.io.check()?;
    stream(&a.io, &*task(&a)?)
}

/// The command's task (its model loaded), without its input and output.
pub fn task(a: &Args) -> crate::Result<Box<dyn Task>> {
    let agg: Aggregation = a.aggregation.parse()?;
    if a.stride.is_some() && agg == Aggregation::None {
        return Err("--stride was given to process all the text but --aggregation is none: choose simple, first, average or max (as HF requires)".into());
    }
    if a.words.is_some() && matches!(agg, Aggregation::None | Aggregation::Simple) {
        return Err("--words says what a word is for --aggregation first, average or max; none and simple work on tokens".into());
    }
    let words = match a.words {
        None | Some(WordsArg::Hf) => Words::Heuristic,
        Some(WordsArg::Pretokenizer) => Words::Pretokenizer,
    };
    let mut ner = Ner::new(a.model.load()?, agg)?.with_words(words);
    if let Some(s) = a.stride {
        ner = ner.with_stride(s)?;
    }
    Ok(TaskFn::boxed("ner", a.model.batch_size * 4, text_of, move |t: &[String]| run_texts(ner.run(&strs(t)), "entities")))
}
