//! The `roberta` command line (`cargo install --path crates/roberta-cli`): the user commands — fill-mask,
//! ner, classify, embed, tokenize, eval-ner, validate, convert, demo — one file each, over the `roberta`
//! library. `cargo xtask <command>` delegates to [`main_from`]; the developer commands stay in xtask.
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::process::ExitCode;

mod classify;
mod convert;
mod demo;
mod download;
mod embed;
mod eval_ner;
mod fill_mask;
pub mod io;
mod ner;
pub mod pipeline;
#[cfg(feature = "server")]
mod serve;
mod tokenize;
mod train;
mod validate;

const AFTER_HELP: &str = "\
Input: JSON Lines records {\"text\": \"...\"} (every other field is copied into the output record), or plain text
with --format text. Output: one JSON record per input record; a record that fails becomes {\"line\", \"error\", ...}
and the exit code is 1. Offsets are character offsets, as HF's Python tokenizers give them.
Environment: RAYON_NUM_THREADS (CPU threads), ROBERTA_MEMORY_LIMIT (bytes of activations per forward pass),
ROBERTA_CPU_GEMM=gemm, ROBERTA_CUDA_GRAPHS=0, ROBERTA_CUBIN_DIR, ROBERTA_CUDA_INCLUDE, CUDA_HOME (see README).";

#[derive(Parser)]
#[command(name = "roberta", version, about = "RoBERTa inference with Hugging Face's answers: fill-mask, NER, classification, embeddings", after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Top-k tokens for each <mask>, as pipeline("fill-mask").
    FillMask(fill_mask::Args),
    /// Entities with character offsets, as pipeline("token-classification").
    Ner(ner::Args),
    /// Labels with scores, as pipeline("text-classification") (text pairs too).
    Classify(classify::Args),
    /// One vector per text (mean or <s> pooling).
    Embed(embed::Args),
    /// Token ids and character offsets, as HF's tokenizer (text, text pairs, pre-split words).
    Tokenize(tokenize::Args),
    /// NER scores on a CoNLL file (first sub-word protocol, seqeval's default matching).
    EvalNer(eval_ner::Args),
    /// Compare hidden states and logits with an HF reference safetensors file (max abs / rel error).
    Validate(validate::Args),
    /// Fetch a model from the Hugging Face Hub into the HF cache; print its snapshot directory.
    Download(download::Args),
    /// The inference server: TEI's HTTP API plus /ner and /fill-mask, with dynamic batching.
    #[cfg(feature = "server")]
    Serve(serve::Args),
    /// Fine-tune a token- or sequence-classification head and the encoder (HF Trainer's defaults).
    Train(train::Args),
    /// Write model.safetensors from a pytorch_model.bin.
    Convert(convert::Args),
    /// Fill-mask and NER on the small Spanish clinical models of tests/fixtures.
    Demo(demo::Args),
}

/// The user commands' names, as `roberta` (and `cargo xtask`) take them.
pub fn commands() -> Vec<(String, String)> {
    use clap::CommandFactory;
    Cli::command()
        .get_subcommands()
        .map(|c| (c.get_name().to_string(), c.get_about().map(|s| s.to_string()).unwrap_or_default()))
        .collect()
}

/// Prints the libraries' `log` records (device choices, warnings) on stderr as they are: the libraries print
/// nothing themselves.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Info && m.target().starts_with("roberta")
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!("{}", r.args());
        }
    }
    fn flush(&self) {}
}

/// Routes the libraries' `log` records to stderr (once per process; later calls do nothing).
pub fn install_logger() {
    if log::set_logger(&StderrLog).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// Runs the command line `args` (`args[0]` is the program name): exit 0, 1 when a record failed, 2 on a fatal
/// error (printed as `error: ...`). A closed output pipe (`| head`) ends quietly with 0, as Unix tools do.
pub fn main_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    install_logger();
    let cli = Cli::parse_from(args);
    let res = match cli.cmd {
        Cmd::FillMask(a) => fill_mask::run(a),
        Cmd::Ner(a) => ner::run(a),
        Cmd::Classify(a) => classify::run(a),
        Cmd::Embed(a) => embed::run(a),
        Cmd::Tokenize(a) => tokenize::run(a),
        Cmd::EvalNer(a) => eval_ner::run(a),
        Cmd::Validate(a) => validate::run(a),
        Cmd::Download(a) => download::run(a),
        #[cfg(feature = "server")]
        Cmd::Serve(a) => serve::run(a),
        Cmd::Train(a) => train::run(a),
        Cmd::Convert(a) => convert::run(a),
        Cmd::Demo(a) => demo::run(a),
    };
    match res {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&*e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The pipeline commands a [`pipeline::Task`] can be made of, as [`task_from_args`] takes them.
pub const TASKS: [&str; 4] = ["fill-mask", "ner", "classify", "embed"];

/// A pipeline command's task from its command line (`["ner", "--model", DIR, "--aggregation", "first"]`,
/// without the program name), with the command's own checks and its model loaded: what `roberta <command>`
/// would run, for a caller that brings the records (the Python package's Dask runner). Input and output
/// options are refused: the caller reads and writes. Parse errors come back as clap's message.
pub fn task_from_args<I, T>(args: I) -> Result<Box<dyn pipeline::Task>>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cmd = parse_task_args(args)?;
    match cmd {
        Cmd::FillMask(a) => fill_mask::task(&a),
        Cmd::Ner(a) => ner::task(&a),
        Cmd::Classify(a) => classify::task(&a),
        Cmd::Embed(a) => embed::task(&a),
        _ => unreachable!("parse_task_args keeps the pipeline commands"),
    }
}

/// Checks a pipeline command line as [`task_from_args`] takes it, without loading anything.
pub fn check_task_args<I, T>(args: I) -> Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    parse_task_args(args).map(|_| ())
}

fn parse_task_args<I, T>(args: I) -> Result<Cmd>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = std::iter::once(OsString::from("roberta")).chain(args.into_iter().map(Into::into)).collect();
    let name = args.get(1).map(|a| a.to_string_lossy().into_owned()).unwrap_or_default();
    if !TASKS.contains(&name.as_str()) {
        return Err(format!("unknown task {name:?}: one of {}", TASKS.join(", ")).into());
    }
    let cli = Cli::try_parse_from(args).map_err(|e| e.render().to_string().trim_end().to_string())?;
    let io = match &cli.cmd {
        Cmd::FillMask(a) => &a.io,
        Cmd::Ner(a) => &a.io,
        Cmd::Classify(a) => &a.io,
        Cmd::Embed(a) => &a.io,
        _ => unreachable!("checked above"),
    };
    let given: Vec<&str> = [
        (io.input.is_some(), "--input"),
        (io.output.is_some(), "--output"),
        (io.text.is_some(), "a TEXT argument"),
        (io.format != io::Format::Jsonl, "--format"),
        (io.split.is_some(), "--split"),
    ]
    .into_iter()
    .filter_map(|(set, what)| set.then_some(what))
    .collect();
    if !given.is_empty() {
        return Err(format!("{name}: {} cannot be given here (the caller reads the records and writes the output)", given.join(", ")).into());
    }
    Ok(cli.cmd)
}

/// Whether an error is (or wraps) a write to a closed pipe.
fn is_broken_pipe(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

/// Errors of the command line: a message for the user (each command builds it with the context it knows).
pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
