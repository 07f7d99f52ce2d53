//! `roberta train --task ner|classify --model DIR --train FILE [--dev FILE] --out DIR ...`: fine-tuning with HF
//! Trainer's defaults (roberta-train); writes an HF directory that transformers and every command here load.
use roberta_train::model::Task;
use roberta_train::train::{train, TrainArgs};
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `roberta train`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// ner (CoNLL `word<TAB>label`, the eval-ner format) or classify (JSON Lines {"text", "label"} or
    /// {"text", "text_pair", "label"}).
    #[arg(long)]
    pub task: String,
    /// The base model: an HF RoBERTa / XLM-R directory or Hub id (e.g. PlanTL-GOB-ES/bsc-bio-ehr-es@refs/pr/1).
    #[arg(long)]
    pub model: PathBuf,
    /// Training data.
    #[arg(long)]
    pub train: PathBuf,
    /// Dev data, scored after the last epoch (each epoch with --eval-every-epoch, keeping the best epoch's weights).
    #[arg(long)]
    pub dev: Option<PathBuf>,
    /// Where the fine-tuned HF directory goes.
    #[arg(long)]
    pub out: PathBuf,
    /// The labels, one per line, in id order (default: from the training data; NER: O, then B-/I- per type).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    #[arg(long, default_value_t = 16, value_parser = crate::pipeline::at_least_one)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 5e-5)]
    pub lr: f32,
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f32,
    #[arg(long, default_value_t = 0.0)]
    pub warmup_ratio: f32,
    /// Gradient clipping (0: none).
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f32,
    /// Tokens per example, special tokens included (cut to the model's positions).
    #[arg(long, default_value_t = 512)]
    pub max_length: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Score --dev after every epoch and keep the best epoch's weights.
    #[arg(long)]
    pub eval_every_epoch: bool,
    /// cpu only for now (the backward pass has no CUDA kernels yet).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// Runs the command.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    if a.device != "cpu" {
        return Err(format!("--device {}: training runs on the CPU only for now (no CUDA backward kernels yet)", a.device).into());
    }
    let task = match a.task.as_str() {
        "ner" => Task::Token,
        "classify" => Task::Sequence,
        t => return Err(format!("--task {t:?}: ner or classify").into()),
    };
    if a.epochs == 0 {
        return Err("--epochs must be at least 1".into());
    }
    if !(0.0..1.0).contains(&a.warmup_ratio) {
        return Err("--warmup-ratio must be in [0, 1)".into());
    }
    let model = roberta_checkpoint::hub::resolve(&a.model, roberta_checkpoint::hub::Want::Model)?;
    let args = TrainArgs {
        task,
        model,
        train: a.train,
        dev: a.dev,
        out: a.out.clone(),
        labels: a.labels,
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        weight_decay: a.weight_decay,
        warmup_ratio: a.warmup_ratio,
        max_grad_norm: a.max_grad_norm,
        max_length: a.max_length,
        seed: a.seed,
        eval_every_epoch: a.eval_every_epoch,
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps {msg} [{elapsed_precise} < {eta_precise}]").expect("template"));
    let mut progress = |step: usize, total: usize, loss: f32, lr: f32, tps: f64| {
        bar.set_length(total as u64);
        bar.set_position(step as u64);
        bar.set_message(format!("loss {loss:.4} lr {lr:.2e} {tps:.0} tokens/s"));
    };
    let report = train(&args, &mut progress)?;
    bar.finish_and_clear();
    for e in &report.epochs {
        let dev = match (e.dev_score, e.dev_macro_f1, task) {
            (Some(s), _, Task::Token) => format!(", dev micro F1 {s:.4}"),
            (Some(s), Some(m), Task::Sequence) => format!(", dev accuracy {s:.4} macro F1 {m:.4}"),
            _ => String::new(),
        };
        eprintln!("train: epoch {}: loss {:.4}, {:.0} tokens/s{dev}", e.epoch, e.loss, e.tokens_per_s);
    }
    eprintln!("train: {} steps in {:.1} s; wrote epoch {}'s weights to {}", report.steps, report.seconds, report.best_epoch, a.out.display());
    Ok(ExitCode::SUCCESS)
}
