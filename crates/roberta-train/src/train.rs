//! The Trainer loop with HF Trainer's defaults and semantics: AdamW (no decay on biases and LayerNorm weights),
//! linear warm-up then linear decay, `clip_grad_norm_`, batches shuffled per epoch from the seed, the dev set
//! evaluated each epoch (NER: the eval-ner protocol on the saved checkpoint; classification: accuracy and macro
//! F1), the best epoch's weights kept, and an HF directory written that transformers loads.
use crate::adamw::{clip_grad_norm, linear_schedule, AdamW};
use crate::data::{self, Example};
use crate::model::{Model, Task};
use crate::{Error, Result};
use roberta_tokenizer::Tokenizer;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What to train and how (defaults: HF Trainer's, `TrainingArguments`).
#[derive(Clone, Debug)]
pub struct TrainArgs {
    pub task: Task,
    pub model: PathBuf,
    pub train: PathBuf,
    pub dev: Option<PathBuf>,
    pub out: PathBuf,
    pub labels: Option<PathBuf>,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f32,
    pub weight_decay: f32,
    pub warmup_ratio: f32,
    pub max_grad_norm: f32,
    pub max_length: usize,
    pub seed: u64,
    /// Evaluate the dev set after each epoch (and keep the best epoch's weights); otherwise only at the end.
    pub eval_every_epoch: bool,
}

impl Default for TrainArgs {
    fn default() -> Self {
        TrainArgs {
            task: Task::Token,
            model: PathBuf::new(),
            train: PathBuf::new(),
            dev: None,
            out: PathBuf::new(),
            labels: None,
            epochs: 3,
            batch_size: 16,
            lr: 5e-5,
            weight_decay: 0.0,
            warmup_ratio: 0.0,
            max_grad_norm: 1.0,
            max_length: 512,
            seed: 42,
            eval_every_epoch: false,
        }
    }
}

/// One epoch's numbers.
#[derive(Clone, Debug)]
pub struct EpochLog {
    pub epoch: usize,
    pub loss: f32,
    pub tokens_per_s: f64,
    /// Dev micro F1 (NER) or accuracy (classification), when evaluated.
    pub dev_score: Option<f64>,
    /// Dev macro F1 (classification).
    pub dev_macro_f1: Option<f64>,
}

/// What a run gives.
#[derive(Clone, Debug)]
pub struct TrainReport {
    pub epochs: Vec<EpochLog>,
    /// The epoch whose weights were written (1-based).
    pub best_epoch: usize,
    pub steps: usize,
    pub seconds: f64,
}

/// A progress callback: (step, total steps, loss, learning rate, tokens/s).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize, f32, f32, f64);

/// Trains and writes the HF directory `args.out`.
pub fn train(args: &TrainArgs, progress: Progress) -> Result<TrainReport> {
    let tok = Tokenizer::from_dir(&args.model)?;
    let config = roberta_encoder::Config::from_file(&args.model.join("config.json"))?;
    if config.family() != roberta_encoder::Family::Roberta {
        return Err(Error::Unsupported(format!(
            "{}: training supports the RoBERTa family (roberta, xlm-roberta) for now, not BERT",
            args.model.display()
        )));
    }
    let max_len = args.max_length.min(config.max_seq_len());
    let token = args.task == Task::Token;
    // data and labels
    let (labels, train_ex) = if token {
        let sents = roberta::eval_ner::read_conll(&args.train).map_err(|e| Error::Data(e.to_string()))?;
        let labels = match &args.labels {
            Some(p) => data::read_labels(p)?,
            None => data::ner_labels(&sents),
        };
        let ex = data::ner_examples(&tok, &sents, &labels, max_len, &args.train)?;
        (labels, ex)
    } else {
        let recs = data::read_classification(&args.train)?;
        let labels = match &args.labels {
            Some(p) => data::read_labels(p)?,
            None => recs.iter().map(|r| r.2.clone()).collect::<std::collections::BTreeSet<_>>().into_iter().collect(),
        };
        let ex = data::classification_examples(&tok, &recs, &labels, max_len, &args.train)?;
        (labels, ex)
    };
    if train_ex.is_empty() {
        return Err(Error::Data(format!("{}: no training examples", args.train.display())));
    }
    let dev_cls = match (&args.dev, token) {
        (Some(p), false) => {
            let recs = data::read_classification(p)?;
            Some(data::classification_examples(&tok, &recs, &labels, max_len, p)?)
        }
        _ => None,
    };
    let dev_ner = match (&args.dev, token) {
        (Some(p), true) => Some(roberta::eval_ner::read_conll(p).map_err(|e| Error::Data(e.to_string()))?),
        _ => None,
    };
    let mut model = Model::load(&args.model, args.task, labels.clone(), args.seed)?;
    let pad = model.config.pad_token_id;
    let bs = args.batch_size.max(1);
    let steps_per_epoch = train_ex.len().div_ceil(bs);
    let total = steps_per_epoch * args.epochs;
    let warmup = (total as f64 * args.warmup_ratio as f64).ceil() as usize;
    let mut opt = AdamW::new(&model.params, args.weight_decay);
    let t0 = Instant::now();
    let mut step = 0usize;
    let mut logs = Vec::new();
    let mut best: Option<(f64, usize, Vec<Vec<f32>>)> = None;
    for epoch in 0..args.epochs {
        let order = data::shuffled(train_ex.len(), args.seed, epoch as u64);
        let (mut loss_sum, mut loss_n, mut tokens) = (0.0f64, 0usize, 0usize);
        let te = Instant::now();
        for chunk in order.chunks(bs) {
            let exs: Vec<&Example> = chunk.iter().map(|&i| &train_ex[i]).collect();
            let batch = data::collate(&exs, pad, token);
            tokens += batch.mask.iter().filter(|&&m| m != 0).count();
            model.zero_grad();
            let cache = model.forward(&batch, true, args.seed, step as u64);
            let (loss, _) = model.backward(&batch, &cache);
            drop(cache);
            if args.max_grad_norm > 0.0 {
                clip_grad_norm(&mut model.params, args.max_grad_norm);
            }
            let lr = args.lr * linear_schedule(step, warmup, total);
            opt.step(&mut model.params, lr);
            step += 1;
            loss_sum += loss as f64;
            loss_n += 1;
            progress(step, total, loss, lr, tokens as f64 / te.elapsed().as_secs_f64().max(1e-9));
        }
        let last = epoch + 1 == args.epochs;
        let (score, macro_f1) = if (args.eval_every_epoch || last) && args.dev.is_some() {
            evaluate(&model, &args.model, &args.out, &dev_ner, &dev_cls, pad, bs)?
        } else {
            (None, None)
        };
        if let Some(s) = score {
            if best.as_ref().is_none_or(|(b, _, _)| s > *b) {
                best = Some((s, epoch + 1, model.params.iter().map(|p| p.data.clone()).collect()));
            }
        }
        logs.push(EpochLog {
            epoch: epoch + 1,
            loss: (loss_sum / loss_n.max(1) as f64) as f32,
            tokens_per_s: tokens as f64 / te.elapsed().as_secs_f64().max(1e-9),
            dev_score: score,
            dev_macro_f1: macro_f1,
        });
    }
    let best_epoch = match best {
        Some((_, e, data)) => {
            for (p, d) in model.params.iter_mut().zip(data) {
                p.data = d;
            }
            e
        }
        None => args.epochs,
    };
    save(&model, &args.model, &args.out)?;
    Ok(TrainReport { epochs: logs, best_epoch, steps: step, seconds: t0.elapsed().as_secs_f64() })
}

/// The dev score: NER micro F1 by the eval-ner protocol (the weights saved into a scratch directory beside the
/// output and loaded by the inference engine), or classification accuracy and macro F1.
fn evaluate(
    model: &Model,
    base: &Path,
    out: &Path,
    dev_ner: &Option<Vec<roberta::eval_ner::Sentence>>,
    dev_cls: &Option<Vec<Example>>,
    pad: u32,
    bs: usize,
) -> Result<(Option<f64>, Option<f64>)> {
    if let Some(sents) = dev_ner {
        let scratch = out.with_extension("dev-eval");
        save(model, base, &scratch)?;
        let m = roberta::Model::load(&scratch, roberta::Device::Cpu).map_err(|e| Error::Data(format!("the dev checkpoint: {e}")))?;
        let ev = roberta::eval_ner::evaluate(&m, sents).map_err(|e| Error::Data(format!("dev evaluation: {e}")))?;
        let _ = std::fs::remove_dir_all(&scratch);
        return Ok((Some(ev.report.micro.f1), None));
    }
    if let Some(ex) = dev_cls {
        let nl = model.labels.len();
        let (mut right, mut tp, mut fp, mut fneg) = (0usize, vec![0usize; nl], vec![0usize; nl], vec![0usize; nl]);
        for chunk in ex.chunks(bs) {
            let refs: Vec<&Example> = chunk.iter().collect();
            let b = data::collate(&refs, pad, false);
            let logits = model.predict(&b);
            for (i, e) in chunk.iter().enumerate() {
                let row = &logits[i * nl..(i + 1) * nl];
                let pred = roberta_heads::scores::argmax(row);
                let gold = e.labels[0] as usize;
                if pred == gold {
                    right += 1;
                    tp[gold] += 1;
                } else {
                    fp[pred] += 1;
                    fneg[gold] += 1;
                }
            }
        }
        let f1s: Vec<f64> = (0..nl)
            .map(|c| {
                let p = tp[c] as f64 / (tp[c] + fp[c]).max(1) as f64;
                let r = tp[c] as f64 / (tp[c] + fneg[c]).max(1) as f64;
                if p + r > 0.0 { 2.0 * p * r / (p + r) } else { 0.0 }
            })
            .collect();
        return Ok((Some(right as f64 / ex.len().max(1) as f64), Some(f1s.iter().sum::<f64>() / nl.max(1) as f64)));
    }
    Ok((None, None))
}

/// The tokenizer files copied into a trained model's directory, when the base has them.
const TOKENIZER_FILES: [&str; 7] =
    ["tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model", "vocab.txt"];

/// Writes an HF directory: `model.safetensors` (f32, HF's names, the QKV split back into query, key, value;
/// metadata `format: pt`), `config.json` (the base's, with `architectures`, `id2label`, `label2id`), and the base's
/// tokenizer files.
pub fn save(model: &Model, base: &Path, out: &Path) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    // tensors
    let mut owned: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for p in &model.params {
        let mut off = 0;
        for (name, shape) in &p.parts {
            let n: usize = shape.iter().product();
            let bytes: Vec<u8> = p.data[off..off + n].iter().flat_map(|v| v.to_le_bytes()).collect();
            owned.push((name.clone(), shape.clone(), bytes));
            off += n;
        }
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, s, b)| Ok((n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).map_err(|e| Error::Data(format!("tensor {n}: {e}")))?)))
        .collect::<Result<_>>()?;
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    let st = out.join("model.safetensors");
    safetensors::tensor::serialize_to_file(views, Some(meta), &st).map_err(|e| Error::Data(format!("{}: {e}", st.display())))?;
    // config
    let cfg_path = base.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).map_err(io(&cfg_path))?;
    let mut cfg: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Data(format!("{}: {e}", cfg_path.display())))?;
    let xlmr = cfg.get("model_type").and_then(|v| v.as_str()) == Some("xlm-roberta");
    let family = if xlmr { "XLMRoberta" } else { "Roberta" };
    let arch = match model.task {
        Task::Token => format!("{family}ForTokenClassification"),
        Task::Sequence => format!("{family}ForSequenceClassification"),
    };
    let obj = cfg.as_object_mut().ok_or_else(|| Error::Data(format!("{}: not a JSON object", cfg_path.display())))?;
    obj.insert("architectures".into(), serde_json::json!([arch]));
    obj.insert("id2label".into(), model.labels.iter().enumerate().map(|(i, l)| (i.to_string(), serde_json::json!(l))).collect::<serde_json::Map<_, _>>().into());
    obj.insert("label2id".into(), model.labels.iter().enumerate().map(|(i, l)| (l.clone(), serde_json::json!(i))).collect::<serde_json::Map<_, _>>().into());
    if model.task == Task::Sequence {
        obj.insert("problem_type".into(), "single_label_classification".into());
    }
    let cfg_out = out.join("config.json");
    std::fs::write(&cfg_out, serde_json::to_string_pretty(&cfg).expect("json") + "\n").map_err(io(&cfg_out))?;
    for f in TOKENIZER_FILES {
        let src = base.join(f);
        if src.is_file() {
            std::fs::copy(&src, out.join(f)).map_err(io(&src))?;
        }
    }
    Ok(())
}
