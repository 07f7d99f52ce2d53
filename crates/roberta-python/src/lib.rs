//! `roberta_rs._native`: the Rust half of the Python package `roberta_rs` (the Python half, in `python/`,
//! gives transformers' call conventions). Every call that computes releases the GIL, so one object serves many
//! Python threads at once (every wrapped type is `Send + Sync`). Errors become Python exceptions carrying the
//! Rust message: `ValueError` for bad input (a text, an option, a malformed file), `FileNotFoundError` for a
//! model or file that is not there, `PermissionError` / `ConnectionError` for the Hub, `RuntimeError` for the
//! engine (a failed forward pass, the GPU).
use pyo3::exceptions::{PyConnectionError, PyFileNotFoundError, PyPermissionError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use roberta::{Aggregation, Classifier, Device, Embedder, FillMask, LoadOptions, Model, Ner, Pooling, ScoreFunction, Words};
use roberta_checkpoint::hub::{self, HubError, Want};
use roberta_tokenizer::{EncodeOptions, Input, Padding, Tokenizer, TruncationStrategy};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The Python exception for an engine error, by what went wrong.
fn py_err(e: &roberta::Error) -> PyErr {
    use roberta::Error as E;
    let msg = e.to_string();
    match e {
        E::Input(_) | E::Model(_) => PyValueError::new_err(msg),
        E::Batch(_) => PyRuntimeError::new_err(msg),
        E::Hub(h) => hub_err(h, msg),
        E::Data { path, .. } if !path.exists() => PyFileNotFoundError::new_err(msg),
        E::Data { .. } => PyValueError::new_err(msg),
        E::Tokenizer(t) => match t {
            roberta_tokenizer::TokenizerError::NoTokenizer { .. } => PyFileNotFoundError::new_err(msg),
            _ if not_found(t) => PyFileNotFoundError::new_err(msg),
            _ => PyValueError::new_err(msg),
        },
        E::Encoder(x) => match x {
            roberta_encoder::EncoderError::Cuda(_) => PyRuntimeError::new_err(msg),
            roberta_encoder::EncoderError::Checkpoint(roberta_checkpoint::CheckpointError::NoWeights { .. }) => {
                PyFileNotFoundError::new_err(msg)
            }
            _ if not_found(x) => PyFileNotFoundError::new_err(msg),
            _ => PyValueError::new_err(msg),
        },
    }
}

fn hub_err(h: &HubError, msg: String) -> PyErr {
    match h {
        HubError::RepoNotFound { .. }
        | HubError::RevisionNotFound { .. }
        | HubError::NoConfig { .. }
        | HubError::NoWeights { .. }
        | HubError::NoTokenizer { .. }
        | HubError::OfflineNotCached { .. }
        | HubError::OfflineIncomplete { .. } => PyFileNotFoundError::new_err(msg),
        HubError::Gated { .. } | HubError::BadToken { .. } => PyPermissionError::new_err(msg),
        HubError::Network { .. } | HubError::FileHttp { .. } => PyConnectionError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// Whether an `std::io::Error` of kind NotFound is anywhere in the error's sources.
fn not_found(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::NotFound {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

/// A command-line task's error (a parse error, a check, or the engine's).
fn task_err(e: Box<dyn std::error::Error + Send + Sync>) -> PyErr {
    match e.downcast::<roberta::Error>() {
        Ok(r) => py_err(&r),
        Err(e) => match e.downcast::<roberta_encoder::EncoderError>() {
            Ok(x) => py_err(&roberta::Error::Encoder(*x)),
            Err(e) => match e.downcast::<HubError>() {
                Ok(h) => hub_err(&h, h.to_string()),
                Err(e) => PyValueError::new_err(e.to_string()),
            },
        },
    }
}

/// A path or a Hub id whose local directory does not exist and which is no Hub id: FileNotFoundError, as
/// `from_pretrained` raises OSError for it.
fn check_exists(model: &str) -> PyResult<()> {
    if Path::new(model).exists() || hub::ModelRef::parse(model).is_some() {
        return Ok(());
    }
    let cwd = std::env::current_dir().map(|d| format!(" (relative to {})", d.display())).unwrap_or_default();
    Err(PyFileNotFoundError::new_err(format!(
        "model {model}: no such directory{}, and not a Hugging Face Hub id (org/name[@revision])",
        if Path::new(model).is_relative() { cwd } else { String::new() }
    )))
}

/// A loaded model (weights, tokenizer, head), shared by the pipelines made from it.
#[pyclass(frozen, module = "roberta_rs._native")]
struct NativeModel {
    inner: Arc<Model>,
}

#[pymethods]
impl NativeModel {
    /// Loads an HF model directory or Hub id on `device` (cpu, cuda, auto); `dtype` f32 or int8 (CPU linear
    /// layers); `batch_size` sequences per forward pass.
    #[staticmethod]
    #[pyo3(signature = (model, device="cpu", dtype=None, batch_size=16))]
    fn load(py: Python<'_>, model: String, device: &str, dtype: Option<String>, batch_size: usize) -> PyResult<NativeModel> {
        check_exists(&model)?;
        let device: Device = device.parse().map_err(|e: String| PyValueError::new_err(format!("device: {e}")))?;
        if batch_size == 0 {
            return Err(PyValueError::new_err("batch_size must be at least 1"));
        }
        let dtype = match dtype.as_deref() {
            None => roberta::CpuDType::default(),
            Some(d) => d.parse().map_err(|e: String| PyValueError::new_err(format!("dtype: {e}")))?,
        };
        let opts = roberta_cli::pipeline::load_options(device, dtype).map_err(task_err)?;
        let opts = LoadOptions { batch_size, ..opts };
        let loaded = py.detach(|| Model::load_with(&model, &opts));
        Ok(NativeModel { inner: Arc::new(loaded.map_err(|e| py_err(&e))?) })
    }

    /// Where it runs (`cpu`, `cuda:0 NVIDIA H200 (sm_90)`, ...).
    #[getter]
    fn device(&self) -> String {
        self.inner.device_description()
    }

    /// The model's directory (a Hub id's snapshot directory).
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.dir().to_path_buf()
    }

    /// The most tokens one sequence holds, special tokens included.
    #[getter]
    fn max_tokens(&self) -> usize {
        self.inner.max_tokens()
    }

    /// The head's label names (`id2label`), empty without labels.
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.inner.config().labels()
    }

    /// `config.json`'s first architecture, if any.
    #[getter]
    fn architecture(&self) -> Option<String> {
        self.inner.config().architectures.as_ref().and_then(|a| a.first()).cloned()
    }

    /// The model's tokenizer.
    fn tokenizer(&self) -> PyResult<NativeTokenizer> {
        self.inner.tokenizer().map_err(|e| py_err(&e))?;
        Ok(NativeTokenizer { src: TokSource::Model(self.inner.clone()) })
    }
}

enum Kind {
    FillMask(FillMask),
    Ner(Ner),
    Classify(Classifier),
    Embed { e: Embedder, tokens: bool },
}

/// One text's result: its JSON value (HF's keys), a warning, or the error (Python exception class name, message).
type Row = (Option<String>, Option<String>, Option<(String, String)>);

fn row<T: serde::Serialize>(r: roberta::Result<roberta::Output<T>>) -> Row {
    match r {
        Ok(o) => (Some(serde_json::to_string(&o.value).expect("outputs serialise")), o.warning, None),
        Err(e) => (None, None, Some(err_parts(&e))),
    }
}

fn err_parts(e: &roberta::Error) -> (String, String) {
    Python::attach(|py| {
        let err = py_err(e);
        let name = err.get_type(py).name().map(|n| n.to_string()).unwrap_or_else(|_| "RuntimeError".into());
        (name, e.to_string())
    })
}

/// A pipeline over a loaded model: fill-mask, token-classification, text-classification or feature-extraction.
#[pyclass(frozen, module = "roberta_rs._native")]
struct NativePipeline {
    kind: Kind,
}

#[pymethods]
impl NativePipeline {
    /// fill-mask with `top_k` candidates per mask.
    #[staticmethod]
    fn fill_mask(model: &NativeModel, top_k: usize) -> PyResult<NativePipeline> {
        let p = FillMask::new(model.inner.clone(), top_k).map_err(|e| py_err(&e))?;
        Ok(NativePipeline { kind: Kind::FillMask(p) })
    }

    /// token-classification with an aggregation (none, simple, first, average, max), an optional stride for
    /// long texts, and what a word is (hf: HF's heuristic, pretokenizer: the tokenizer's words).
    #[staticmethod]
    #[pyo3(signature = (model, aggregation="none", stride=None, words="hf"))]
    fn ner(model: &NativeModel, aggregation: &str, stride: Option<usize>, words: &str) -> PyResult<NativePipeline> {
        let agg: Aggregation = aggregation.parse().map_err(|e: String| PyValueError::new_err(e))?;
        let words = match words {
            "hf" | "heuristic" => Words::Heuristic,
            "pretokenizer" => Words::Pretokenizer,
            w => return Err(PyValueError::new_err(format!("words must be hf or pretokenizer, not {w:?}"))),
        };
        let mut p = Ner::new(model.inner.clone(), agg).map_err(|e| py_err(&e))?.with_words(words);
        if let Some(s) = stride {
            p = p.with_stride(s).map_err(|e| py_err(&e))?;
        }
        Ok(NativePipeline { kind: Kind::Ner(p) })
    }

    /// text-classification: every label, sorted by score; `function_to_apply` softmax, sigmoid or none (the
    /// checkpoint's default when None).
    #[staticmethod]
    #[pyo3(signature = (model, function_to_apply=None))]
    fn classify(model: &NativeModel, function_to_apply: Option<&str>) -> PyResult<NativePipeline> {
        let mut p = Classifier::new(model.inner.clone(), None).map_err(|e| py_err(&e))?;
        if let Some(f) = function_to_apply {
            let f: ScoreFunction = f.parse().map_err(|e: roberta::Error| py_err(&e))?;
            p = p.with_function(f);
        }
        Ok(NativePipeline { kind: Kind::Classify(p) })
    }

    /// feature-extraction: `pooling` None (every token's state), mean or cls; `normalize` to unit L2 norm
    /// (pooled vectors only).
    #[staticmethod]
    #[pyo3(signature = (model, pooling=None, normalize=false))]
    fn embed(model: &NativeModel, pooling: Option<&str>, normalize: bool) -> PyResult<NativePipeline> {
        let (pooling, tokens) = match pooling {
            None => (Pooling::Mean, true),
            Some(p) => (p.parse::<Pooling>().map_err(PyValueError::new_err)?, false),
        };
        if tokens && normalize {
            return Err(PyValueError::new_err("normalize needs a pooling (mean or cls): token states are not normalized"));
        }
        let e = Embedder::new(model.inner.clone(), pooling, normalize).map_err(|e| py_err(&e))?;
        Ok(NativePipeline { kind: Kind::Embed { e, tokens } })
    }

    /// Runs texts (fill-mask, token-classification, text-classification): one row per text.
    fn run(&self, py: Python<'_>, texts: Vec<String>) -> PyResult<Vec<Row>> {
        let strs: Vec<&str> = texts.iter().map(String::as_str).collect();
        Ok(match &self.kind {
            Kind::FillMask(p) => py.detach(|| p.run(&strs)).into_iter().map(row).collect(),
            Kind::Ner(p) => py.detach(|| p.run(&strs)).into_iter().map(row).collect(),
            Kind::Classify(p) => py.detach(|| p.run(&strs)).into_iter().map(row).collect(),
            Kind::Embed { .. } => return Err(PyRuntimeError::new_err("feature-extraction runs through run_vectors")),
        })
    }

    /// Runs (text, text_pair) inputs through text-classification.
    fn run_pairs(&self, py: Python<'_>, pairs: Vec<(String, Option<String>)>) -> PyResult<Vec<Row>> {
        let Kind::Classify(p) = &self.kind else { return Err(PyValueError::new_err("text pairs are for text-classification")) };
        let refs: Vec<(&str, Option<&str>)> = pairs.iter().map(|(a, b)| (a.as_str(), b.as_deref())).collect();
        Ok(py.detach(|| p.run_pairs(&refs)).into_iter().map(row).collect())
    }

    /// feature-extraction: per text, (f32 little-endian bytes, shape) or an error, and a warning.
    #[allow(clippy::type_complexity)]
    fn run_vectors<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
    ) -> PyResult<Vec<(Option<(Bound<'py, PyBytes>, Vec<usize>)>, Option<String>, Option<(String, String)>)>> {
        let Kind::Embed { e, tokens } = &self.kind else { return Err(PyValueError::new_err("vectors are for feature-extraction")) };
        let strs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let out: Vec<roberta::Result<(Vec<f32>, Vec<usize>, Option<String>)>> = py.detach(|| {
            if *tokens {
                e.token_states(&strs).into_iter().map(|r| r.map(|o| (o.value.values, vec![1, o.value.tokens, o.value.hidden], o.warning))).collect()
            } else {
                e.run(&strs).into_iter().map(|r| r.map(|o| {
                    let n = o.value.len();
                    (o.value.0, vec![n], o.warning)
                })).collect()
            }
        });
        Ok(out
            .into_iter()
            .map(|r| match r {
                Ok((v, shape, w)) => (Some((PyBytes::new(py, bytemuck::cast_slice(&v)), shape)), w, None),
                Err(e) => (None, None, Some(err_parts(&e))),
            })
            .collect())
    }

    /// The model's label names (classification: the head's order).
    fn labels(&self) -> Vec<String> {
        match &self.kind {
            Kind::Classify(c) => c.labels().to_vec(),
            Kind::FillMask(p) => p.model().config().labels(),
            Kind::Ner(p) => p.model().config().labels(),
            Kind::Embed { e, .. } => e.model().config().labels(),
        }
    }
}

/// An HF tokenizer (tokenizer.json, vocab.json + merges.txt, vocab.txt, sentencepiece.bpe.model).
#[pyclass(frozen, module = "roberta_rs._native")]
struct NativeTokenizer {
    src: TokSource,
}

/// A tokenizer of its own, or a loaded model's.
enum TokSource {
    Own(Box<Tokenizer>),
    Model(Arc<Model>),
}

impl NativeTokenizer {
    fn tok(&self) -> &Tokenizer {
        match &self.src {
            TokSource::Own(t) => t,
            TokSource::Model(m) => m.tokenizer().expect("checked when made"),
        }
    }
}

/// One encoding for Python: ids, type ids, attention mask, offsets, word ids, special-tokens mask, sequence ids.
type PyEncoding = (Vec<u32>, Vec<u32>, Vec<u8>, Vec<(usize, usize)>, Vec<Option<u32>>, Vec<u8>, Vec<Option<u8>>);

#[pymethods]
impl NativeTokenizer {
    /// Loads the tokenizer files of an HF directory or Hub id (tokenizer files only are fetched).
    #[staticmethod]
    fn load(py: Python<'_>, path: String) -> PyResult<NativeTokenizer> {
        check_exists(&path)?;
        let tok = py.detach(|| -> roberta::Result<Tokenizer> {
            let dir = hub::resolve(Path::new(&path), Want::Tokenizer)?;
            Ok(Tokenizer::from_dir(&dir)?)
        });
        Ok(NativeTokenizer { src: TokSource::Own(Box::new(tok.map_err(|e| py_err(&e))?)) })
    }

    /// Encodes a batch: `kind` single (texts), pair (texts and pairs), or words (lists of words).
    #[pyo3(signature = (texts, pairs, words, add_special_tokens, max_length, truncation, padding, pad_to))]
    #[allow(clippy::too_many_arguments)]
    fn encode_batch(
        &self,
        py: Python<'_>,
        texts: Vec<String>,
        pairs: Option<Vec<String>>,
        words: Option<Vec<Vec<String>>>,
        add_special_tokens: bool,
        max_length: Option<usize>,
        truncation: &str,
        padding: bool,
        pad_to: Option<usize>,
    ) -> PyResult<Vec<PyEncoding>> {
        let strategy = match truncation {
            "longest_first" => TruncationStrategy::LongestFirst,
            "only_first" => TruncationStrategy::OnlyFirst,
            "only_second" => TruncationStrategy::OnlySecond,
            t => return Err(PyValueError::new_err(format!("truncation must be longest_first, only_first or only_second, not {t:?}"))),
        };
        let opts = EncodeOptions { add_special_tokens, max_length, strategy };
        let pad = match (padding, pad_to) {
            (false, _) => Padding::None,
            (true, None) => Padding::Longest,
            (true, Some(n)) => Padding::Fixed(n),
        };
        let word_refs: Vec<Vec<&str>> = words.iter().flatten().map(|w| w.iter().map(String::as_str).collect()).collect();
        let inputs: Vec<Input> = match (&pairs, &words) {
            (_, Some(_)) => word_refs.iter().map(|w| Input::Words(w)).collect(),
            (Some(p), None) => {
                if p.len() != texts.len() {
                    return Err(PyValueError::new_err(format!("{} texts but {} text pairs", texts.len(), p.len())));
                }
                texts.iter().zip(p).map(|(a, b)| Input::Pair(a, b)).collect()
            }
            (None, None) => texts.iter().map(|t| Input::Single(t)).collect(),
        };
        let encs = py.detach(|| self.tok().encode_batch(&inputs, &opts, pad)).map_err(|e| py_err(&e.into()))?;
        Ok(encs
            .into_iter()
            .map(|e| (e.ids, e.type_ids, e.attention_mask, e.offsets, e.word_ids, e.special_tokens_mask, e.sequence_ids))
            .collect())
    }

    /// Text from ids.
    #[pyo3(signature = (ids, skip_special_tokens=false))]
    fn decode(&self, ids: Vec<u32>, skip_special_tokens: bool) -> String {
        self.tok().decode(&ids, skip_special_tokens)
    }

    /// The token string of each id (None for an id outside the vocabulary).
    fn ids_to_tokens(&self, ids: Vec<u32>) -> Vec<Option<String>> {
        ids.iter().map(|&i| self.tok().id_to_token(i).map(str::to_string)).collect()
    }

    /// The id of each token string (None when unknown).
    fn tokens_to_ids(&self, tokens: Vec<String>) -> Vec<Option<u32>> {
        tokens.iter().map(|t| self.tok().token_to_id(t)).collect()
    }

    /// Tokens back to text, as HF's `convert_tokens_to_string`.
    fn tokens_to_string(&self, tokens: Vec<String>) -> String {
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        self.tok().convert_tokens_to_string(&refs)
    }

    /// The vocabulary size, added tokens included.
    #[getter]
    fn vocab_size(&self) -> usize {
        self.tok().vocab_size()
    }

    /// `model_max_length` from tokenizer_config.json, if it says one.
    #[getter]
    fn model_max_length(&self) -> Option<usize> {
        self.tok().model_max_length()
    }

    /// BPE, WordPiece or Unigram.
    #[getter]
    fn model_type(&self) -> &'static str {
        self.tok().model_type()
    }

    /// The special tokens: bos, eos, unk, sep, pad, cls, mask.
    fn special_tokens(&self) -> Vec<(&'static str, String)> {
        let s = self.tok().special_tokens();
        vec![
            ("bos", s.bos.clone()),
            ("eos", s.eos.clone()),
            ("unk", s.unk.clone()),
            ("sep", s.sep.clone()),
            ("pad", s.pad.clone()),
            ("cls", s.cls.clone()),
            ("mask", s.mask.clone()),
        ]
    }

    /// The padding id.
    #[getter]
    fn pad_token_id(&self) -> u32 {
        self.tok().pad_token_id()
    }
}

/// NER evaluation on a CoNLL file (first sub-word protocol, seqeval's default scores), as JSON:
/// `{"report": {type: {precision, recall, f1-score, support}, "micro avg", "macro avg", "weighted avg"},
/// "micro_f1", "predictions", "unknown_labels"}`.
#[pyfunction]
#[pyo3(signature = (model, conll, label_column=None))]
fn evaluate_ner(py: Python<'_>, model: &NativeModel, conll: PathBuf, label_column: Option<usize>) -> PyResult<String> {
    let m = model.inner.clone();
    let ev = py.detach(|| -> roberta::Result<_> {
        let sentences = roberta::eval_ner::read_conll_with(&conll, label_column)?;
        roberta::eval_ner::evaluate(&m, &sentences)
    });
    let ev = ev.map_err(|e| py_err(&e))?;
    let score = |s: &roberta_heads::metrics::Score| {
        serde_json::json!({ "precision": s.precision, "recall": s.recall, "f1-score": s.f1, "support": s.support })
    };
    let r = &ev.report;
    let mut report = serde_json::Map::new();
    for (k, s) in &r.per_type {
        report.insert(k.clone(), score(s));
    }
    report.insert("micro avg".into(), score(&r.micro));
    report.insert("macro avg".into(), score(&r.macro_avg));
    report.insert("weighted avg".into(), score(&r.weighted));
    let unknown: serde_json::Map<String, serde_json::Value> = ev.unknown_labels.iter().map(|(l, n)| (l.clone(), (*n).into())).collect();
    Ok(serde_json::json!({ "micro_f1": r.micro.f1, "report": report, "predictions": ev.predictions, "unknown_labels": unknown }).to_string())
}

/// A runner task (`["ner", "--model", DIR, ...]`, the command line of `roberta ner` without input and output):
/// JSON Lines in, the runner's output records out, for the Dask runner.
#[pyclass(frozen, module = "roberta_rs._native")]
struct NativeTask {
    task: Box<dyn roberta_cli::pipeline::Task>,
}

#[pymethods]
impl NativeTask {
    /// Parses the command line and loads the model.
    #[new]
    fn new(py: Python<'_>, args: Vec<String>) -> PyResult<NativeTask> {
        if let Some(i) = args.iter().position(|a| a == "--model") {
            if let Some(m) = args.get(i + 1) {
                check_exists(m)?;
            }
        }
        let task = py.detach(|| roberta_cli::task_from_args(&args)).map_err(task_err)?;
        Ok(NativeTask { task })
    }

    /// The JSON Lines `data` (a part of an input file that starts at line `first_line` and byte `first_byte`)
    /// through the task: the output lines (each ending in a newline, in order), records, failed, warned.
    fn run_jsonl(&self, py: Python<'_>, data: Vec<u8>, first_line: usize, first_byte: usize) -> PyResult<(String, usize, usize, usize)> {
        let res = py.detach(|| -> roberta_cli::Result<(String, usize, usize, usize)> {
            let records: Vec<_> = roberta_cli::io::jsonl_records(std::io::Cursor::new(data), first_line, first_byte).collect();
            let done = self.task.process(records)?;
            let mut out = String::new();
            let (mut failed, mut warned) = (0, 0);
            for d in &done {
                out.push_str(&d.record.to_json());
                out.push('\n');
                failed += usize::from(d.error.is_some());
                warned += usize::from(d.warning.is_some());
            }
            Ok((out, done.len(), failed, warned))
        });
        res.map_err(|e| PyRuntimeError::new_err(e.to_string()))
    }

    /// The task's name.
    #[getter]
    fn name(&self) -> &'static str {
        self.task.name()
    }
}

/// Checks a runner task's command line without loading the model (ValueError with clap's message).
#[pyfunction]
fn check_task_args(args: Vec<String>) -> PyResult<()> {
    roberta_cli::check_task_args(&args).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// Forwards the engine's `log` warnings to Python's `logging` (logger `roberta_rs`), where transformers' own
/// warnings go too.
struct PyLog;

impl log::Log for PyLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn && m.target().starts_with("roberta")
    }
    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let msg = r.args().to_string();
        Python::attach(|py| {
            let _ = py.import("logging").and_then(|l| l.call_method1("getLogger", ("roberta_rs",))).and_then(|l| l.call_method1("warning", (msg,)));
        });
    }
    fn flush(&self) {}
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    if log::set_logger(&PyLog).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    m.add_class::<NativeModel>()?;
    m.add_class::<NativePipeline>()?;
    m.add_class::<NativeTokenizer>()?;
    m.add_class::<NativeTask>()?;
    m.add_function(wrap_pyfunction!(evaluate_ner, m)?)?;
    m.add_function(wrap_pyfunction!(check_task_args, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
