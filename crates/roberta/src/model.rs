//! A loaded model directory: tokenizer, config, encoder on its device, and the head `architectures` names.
use crate::{Error, Result};
use roberta_checkpoint::hub::{self, Want};
use roberta_checkpoint::{files, ModelFiles};
use roberta_encoder::{BatchInput, Config, CpuOptions, CudaOptions, Device, Encoder, EncoderOptions, EncoderOutput, TokenRows};
use roberta_heads::Head;
use roberta_tokenizer::Tokenizer;
use std::path::{Path, PathBuf};

/// How [`Model::load_with`] loads a model. The library reads no environment variable: the command line maps
/// `ROBERTA_MEMORY_LIMIT`, `ROBERTA_CPU_GEMM`, `ROBERTA_ROW_BLOCK`, `ROBERTA_CUDA_GRAPHS`, `ROBERTA_CUBIN_DIR` and
/// `ROBERTA_CUDA_INCLUDE` to these fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Where the encoder runs.
    pub device: Device,
    /// Sequences per forward pass (at least 1).
    pub batch_size: usize,
    /// Upper bound on one forward pass's activations (see [`Model::activation_bytes`]): a batch that would pass
    /// it is split into smaller passes (one sequence at least). None: no bound.
    pub memory_limit_bytes: Option<usize>,
    /// The CPU encoder's kernels (the GEMM path, the row block).
    pub cpu: CpuOptions,
    /// The CUDA encoder's options (graphs, where kernels come from).
    pub cuda: CudaOptions,
    /// Load the tokenizer (every pipeline needs it; [`Model::encode`] on ids alone does not).
    pub tokenizer: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { device: Device::Cpu, batch_size: 16, memory_limit_bytes: None, cpu: CpuOptions::default(), cuda: CudaOptions::default(), tokenizer: true }
    }
}

/// An HF RoBERTa directory loaded for inference. `Send + Sync`: pipelines share one behind an `Arc`.
pub struct Model {
    dir: PathBuf,
    tokenizer: Option<Tokenizer>,
    config: Config,
    encoder: Encoder,
    head: Option<Head>,
    batch_size: usize,
    memory_limit_bytes: Option<usize>,
}

/// One window of a text (see [`Model::windows`]): ids with `<s>` / `</s>`, character offsets ((0, 0) for the
/// special tokens), and the pre-tokenizer's word of each token.
pub(crate) struct Window {
    pub ids: Vec<u32>,
    pub offsets: Vec<(usize, usize)>,
    pub word_ids: Vec<Option<u32>>,
}

/// An encoded input: its ids, its token types when any is not 0 (BERT's pairs), and a truncation warning.
pub(crate) type Typed = (Vec<u32>, Option<Vec<u32>>, Option<String>);

/// One forward pass: the real tokens' hidden states, sequence after sequence.
pub(crate) type Hidden = TokenRows;

impl Model {
    /// Loads tokenizer, config, weights and head from `dir`, the encoder on `device` (default options).
    pub fn load(dir: impl AsRef<Path>, device: Device) -> Result<Model> {
        Self::load_with(dir, &LoadOptions { device, ..LoadOptions::default() })
    }

    /// Loads tokenizer, config, weights and head from `dir` with `opts`. The checkpoint is read once, tensor by
    /// tensor, into the encoder and the head (the peak is the model plus its largest weight matrix).
    ///
    /// `dir` may also be a model id, `org/name[@revision]` (a branch, tag, commit or `refs/pr/N`), when no such
    /// path exists: the model is then taken from the Hugging Face cache (`HF_HOME`, `HF_HUB_CACHE`), or
    /// downloaded into it from the Hub (`HF_ENDPOINT`, `HF_TOKEN`; `HF_HUB_OFFLINE=1` uses the cache only), as
    /// transformers' `from_pretrained` does ([`roberta_checkpoint::hub`]).
    pub fn load_with(dir: impl AsRef<Path>, opts: &LoadOptions) -> Result<Model> {
        let dir = &hub::resolve(dir.as_ref(), Want::Model)?;
        check_model_dir(dir)?;
        let config = Config::from_file(&dir.join(files::CONFIG))?;
        let tokenizer = if opts.tokenizer { Some(Tokenizer::from_dir(dir)?) } else { None };
        let weights = ModelFiles::resolve(dir)?.open_weights()?;
        let encoder_opts = EncoderOptions { cpu: opts.cpu, cuda: opts.cuda.clone() };
        let encoder = Encoder::load_with(&config, weights.as_ref(), opts.device, &encoder_opts)?;
        // a tied MLM decoder reads the CPU encoder's word embeddings: the model holds them once
        let head = Head::from_architecture_shared(&config, weights.as_ref(), encoder.word_embeddings())?;
        if let Some(t) = &tokenizer {
            if t.vocab_size() > config.vocab_size {
                return Err(Error::Model(format!(
                    "{}: the tokenizer has {} tokens but config.json's vocab_size is {}",
                    dir.display(),
                    t.vocab_size(),
                    config.vocab_size
                )));
            }
        }
        Ok(Model {
            dir: dir.into(),
            tokenizer,
            config,
            encoder,
            head,
            batch_size: opts.batch_size.max(1),
            memory_limit_bytes: opts.memory_limit_bytes,
        })
    }

    /// The tokenizer: an error when the model was loaded without one ([`LoadOptions::tokenizer`]).
    pub fn tokenizer(&self) -> Result<&Tokenizer> {
        self.tokenizer
            .as_ref()
            .ok_or_else(|| Error::Model(format!("{}: the model was loaded without its tokenizer", self.dir.display())))
    }

    /// The tokenizer of a pipeline's model (checked when the pipeline was made).
    pub(crate) fn tok(&self) -> &Tokenizer {
        self.tokenizer.as_ref().expect("pipelines are only made over a model with a tokenizer")
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// The task head, when the checkpoint has one.
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// The directory it was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sequences per forward pass.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The bound on one pass's activations ([`LoadOptions::memory_limit_bytes`]).
    pub fn memory_limit_bytes(&self) -> Option<usize> {
        self.memory_limit_bytes
    }

    /// Changes the bound on one pass's activations (before the model is shared).
    pub fn set_memory_limit_bytes(&mut self, limit: Option<usize>) {
        self.memory_limit_bytes = limit;
    }

    /// Every hidden state of a batch of ids (the embeddings output, then each layer's), as HF's
    /// `output_hidden_states=True` gives them: the entry point of `validate`.
    pub fn encode(&self, input: &BatchInput, hidden_states: bool) -> Result<EncoderOutput> {
        Ok(self.encoder.forward(input, hidden_states)?)
    }

    /// The head's logits for padded `[batch, seq_len, hidden]` hidden states, with their shape (`[batch,
    /// seq_len, n]` per token, `[batch, n]` for a sequence head); None for a bare encoder.
    pub fn logits(&self, hidden: &[f32], batch: usize, seq_len: usize) -> Option<(Vec<usize>, Vec<f32>)> {
        let head = self.head.as_ref()?;
        let logits = head.logits(hidden, batch, seq_len, self.config.hidden_size);
        let shape = match head {
            Head::SequenceClassification(_) => vec![batch, head.num_outputs()],
            _ => vec![batch, seq_len, head.num_outputs()],
        };
        Some((shape, logits))
    }

    /// The device the encoder runs on, for messages: `cpu` or e.g. `cuda:0 NVIDIA H200 (sm_90)` (see
    /// [`Encoder::device_description`]).
    pub fn device_description(&self) -> String {
        self.encoder.device_description()
    }

    /// The most tokens one sequence may hold, special tokens included (512 for RoBERTa-base).
    pub fn max_tokens(&self) -> usize {
        let m = self.config.max_seq_len();
        self.tokenizer.as_ref().and_then(Tokenizer::model_max_length).map_or(m, |t| t.min(m))
    }

    /// Runs the encoder on sequences of ids (right-padded to the longest in one batch), with their token type ids
    /// when some sequence has them (BERT's pairs; the others are all 0); returns their tokens' rows.
    pub(crate) fn forward(&self, seqs: &[&[u32]], types: &[Option<&[u32]>]) -> Result<Hidden> {
        let seq_len = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let pad = self.tok().pad_token_id();
        let mut ids = Vec::with_capacity(seqs.len() * seq_len);
        let mut mask = Vec::with_capacity(seqs.len() * seq_len);
        for s in seqs {
            ids.extend_from_slice(s);
            ids.extend(std::iter::repeat_n(pad, seq_len - s.len()));
            mask.extend(std::iter::repeat_n(1u32, s.len()));
            mask.extend(std::iter::repeat_n(0u32, seq_len - s.len()));
        }
        let type_ids: Option<Vec<u32>> = types.iter().any(Option::is_some).then(|| {
            let mut v = Vec::with_capacity(seqs.len() * seq_len);
            for (s, t) in seqs.iter().zip(types) {
                match t {
                    Some(t) => v.extend_from_slice(t),
                    None => v.extend(std::iter::repeat_n(0, s.len())),
                }
                v.extend(std::iter::repeat_n(0, seq_len - s.len()));
            }
            v
        });
        let input = BatchInput { token_type_ids: type_ids.as_deref(), input_ids: &ids, attention_mask: &mask, batch: seqs.len(), seq_len };
        Ok(self.encoder.forward_tokens(&input)?)
    }

    /// Estimated activation bytes of one pass over `batch` sequences padded to `seq_len`:
    /// batch·seq_len·(3H (QKV) + H (context) + FFN + heads·seq_len (scores))·4.
    pub fn activation_bytes(&self, batch: usize, seq_len: usize) -> usize {
        let c = &self.config;
        let per_token = 4 * c.hidden_size + c.intermediate_size + c.num_attention_heads * seq_len;
        batch.saturating_mul(seq_len).saturating_mul(per_token).saturating_mul(4)
    }

    /// How `forward_all` splits sequences of these lengths into passes: consecutive ranges of at most `batch_size`
    /// sequences whose [`Model::activation_bytes`] stays under `memory_limit_bytes` (a range holds one sequence
    /// at least, whatever the limit).
    pub fn batch_plan(&self, lens: &[usize]) -> Vec<std::ops::Range<usize>> {
        let (max_batch, limit) = (self.batch_size.max(1), self.memory_limit_bytes.unwrap_or(usize::MAX));
        let mut out = Vec::new();
        let (mut start, mut longest) = (0, 0);
        for (i, &n) in lens.iter().enumerate() {
            let l = longest.max(n);
            if i > start && (i - start == max_batch || self.activation_bytes(i + 1 - start, l) > limit) {
                out.push(start..i);
                (start, longest) = (i, n);
            } else {
                longest = l;
            }
        }
        if start < lens.len() {
            out.push(start..lens.len());
        }
        out
    }

    /// Runs `forward` over many sequences in passes as [`Model::batch_plan`] cuts them, calling
    /// `f(index, hidden, b)` for each (`index` into `seqs`). Sequences are taken in order of length, so a pass
    /// pads little; `f` sees them in that order.
    pub(crate) fn forward_all(&self, seqs: &[&[u32]], f: impl FnMut(usize, &Hidden, usize) -> Result<()>) -> Result<()> {
        self.forward_all_typed(seqs, &[], f)
    }

    /// [`Model::forward_all`] with each sequence's token type ids (`types[i]`, or all 0 when `types` is shorter
    /// or holds None).
    pub(crate) fn forward_all_typed(
        &self,
        seqs: &[&[u32]],
        types: &[Option<&[u32]>],
        mut f: impl FnMut(usize, &Hidden, usize) -> Result<()>,
    ) -> Result<()> {
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        order.sort_by_key(|&i| seqs[i].len());
        let sorted: Vec<&[u32]> = order.iter().map(|&i| seqs[i]).collect();
        let sorted_types: Vec<Option<&[u32]>> = order.iter().map(|&i| types.get(i).copied().flatten()).collect();
        let lens: Vec<usize> = sorted.iter().map(|s| s.len()).collect();
        for r in self.batch_plan(&lens) {
            let h = self.forward(&sorted[r.clone()], &sorted_types[r.clone()])?;
            for b in 0..r.len() {
                f(order[r.start + b], &h, b)?;
            }
        }
        Ok(())
    }
}

/// Says what is wrong with a model directory before anything is read from it: missing, a file, or no config.json.
fn check_model_dir(dir: &Path) -> Result<()> {
    let msg = if !dir.exists() {
        let cwd = std::env::current_dir().map(|d| format!(" (relative to {})", d.display())).unwrap_or_default();
        format!("no such directory{}", if dir.is_relative() { cwd } else { String::new() })
    } else if !dir.is_dir() {
        "is a file, not a model directory (give the folder that holds config.json, the weights and the tokenizer files)".to_string()
    } else if !dir.join(files::CONFIG).is_file() {
        "has no config.json: not an HF model directory (it holds config.json, model.safetensors or pytorch_model.bin, and the tokenizer files)".to_string()
    } else {
        return Ok(());
    };
    Err(Error::Model(format!("model {}: {msg}", dir.display())))
}

impl Model {
    /// The error of a pipeline that needs a `needs` checkpoint (e.g. `RobertaForTokenClassification`) on this
    /// model: names the architecture found and the pipeline (command) that serves it.
    pub(crate) fn wrong_head(&self, pipeline: &str, needs: &str) -> Error {
        let found = self.config.architectures.as_ref().and_then(|a| a.first()).cloned();
        let fits = match &self.head {
            Some(Head::MaskedLm(_)) => "fill-mask (or embed)",
            Some(Head::TokenClassification(_)) => "ner or eval-ner (or embed)",
            Some(Head::SequenceClassification(_)) => "classify (or embed)",
            None => "embed",
        };
        let found = found.map_or_else(|| "a bare encoder (no architectures in config.json)".to_string(), |a| format!("a {a} checkpoint"));
        Error::Model(format!("{pipeline} needs a {needs} checkpoint, but {} holds {found}: it serves {fits}", self.dir.display()))
    }

    /// `<s>`/`</s>` ids.
    fn cls_sep(&self) -> (u32, u32) {
        let t = self.tok();
        let s = t.special_tokens();
        (t.token_to_id(&s.cls).unwrap_or(0), t.token_to_id(&s.sep).unwrap_or(2))
    }

    /// A text as windows of at most `max_tokens()` tokens each (`<s>` and `</s>` included), consecutive windows
    /// sharing `stride` tokens (below the window: see [`Model::window_tokens`]); one window when the text fits.
    /// Offsets are characters of the text; word ids are the pre-tokenizer's words (None for `<s>` / `</s>`).
    /// With `whole_words`, windows start and end on word boundaries (a word longer than a window excepted), so
    /// no word is cut in two; without, they are cut at token counts, as HF's `return_overflowing_tokens`.
    pub(crate) fn windows(&self, text: &str, stride: usize, whole_words: bool) -> Vec<Window> {
        let e = self.tok().encode_with(roberta_tokenizer::Input::Single(text), &roberta_tokenizer::EncodeOptions {
            add_special_tokens: false,
            ..Default::default()
        });
        let e = e.expect("no truncation requested");
        let (cls, sep) = self.cls_sep();
        let room = self.window_tokens();
        let step = room.saturating_sub(stride).max(1);
        let mut out = Vec::new();
        let mut a = 0;
        // the first token of the word holding token i (i itself when it starts one)
        let word_start = |mut i: usize| {
            while i > 0 && e.word_ids[i].is_some() && e.word_ids[i - 1] == e.word_ids[i] {
                i -= 1;
            }
            i
        };
        loop {
            let mut b = (a + room).min(e.len());
            if whole_words && b < e.len() && word_start(b) > a {
                b = word_start(b);
            }
            let mut w = Window { ids: Vec::with_capacity(b - a + 2), offsets: Vec::with_capacity(b - a + 2), word_ids: Vec::with_capacity(b - a + 2) };
            w.ids.push(cls);
            w.ids.extend_from_slice(&e.ids[a..b]);
            w.ids.push(sep);
            w.offsets.push((0, 0));
            w.offsets.extend_from_slice(&e.offsets[a..b]);
            w.offsets.push((0, 0));
            w.word_ids.push(None);
            w.word_ids.extend_from_slice(&e.word_ids[a..b]);
            w.word_ids.push(None);
            out.push(w);
            if b >= e.len() {
                return out;
            }
            if whole_words {
                let next = b.saturating_sub(stride).max(a + 1);
                // back to the start of its word; when that is this window's first word, on to the next word
                // start (b at the latest, where this window ended); mid-word only inside a word longer than a window
                a = if word_start(next) > a { word_start(next) } else { (next..=b).find(|&i| word_start(i) == i).unwrap_or(next) };
            } else {
                a += step;
            }
        }
    }

    /// The text tokens one window holds: `max_tokens()` less `<s>` and `</s>` (at least 1).
    pub fn window_tokens(&self) -> usize {
        self.max_tokens().saturating_sub(2).max(1)
    }

    /// A text with special tokens, cut to `max_tokens()` with a warning when it is longer.
    pub(crate) fn encode_truncated(&self, text: &str) -> Result<(Vec<u32>, Option<String>)> {
        self.encode_input_truncated(roberta_tokenizer::Input::Single(text))
    }

    /// A text or a text pair with special tokens (`<s> A </s></s> B </s>` for a pair), cut to `max_tokens()`
    /// (longest first for a pair, as HF's `truncation=True`) with a warning when it is longer.
    pub(crate) fn encode_input_truncated(&self, input: roberta_tokenizer::Input) -> Result<(Vec<u32>, Option<String>)> {
        self.encode_input_truncated_typed(input).map(|(ids, _, w)| (ids, w))
    }

    /// [`Model::encode_input_truncated`] with the token type ids when any is not 0 (BERT's pairs).
    pub(crate) fn encode_input_truncated_typed(&self, input: roberta_tokenizer::Input) -> Result<Typed> {
        let full = self.tok().encode_with(input, &roberta_tokenizer::EncodeOptions::default())?;
        let max = self.max_tokens();
        // only BERT takes token types (HF's RoBERTa and XLM-R tokenizers do not return them, even when a template
        // marks the second text)
        let bert = self.config.family() == roberta_encoder::Family::Bert;
        let typed = |e: &roberta_tokenizer::Encoding| (bert && e.type_ids.iter().any(|&t| t != 0)).then(|| e.type_ids.clone());
        if full.len() <= max {
            let types = typed(&full);
            return Ok((full.ids, types, None));
        }
        let opts = roberta_tokenizer::EncodeOptions { max_length: Some(max), ..Default::default() };
        let cut = self.tok().encode_with(input, &opts)?;
        let types = typed(&cut);
        Ok((cut.ids, types, Some(format!("input of {} tokens truncated to the model's {max}", full.len()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_ner() -> Model {
        Model::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/models/tiny-ner"), Device::Cpu).unwrap()
    }

    /// Cut at token counts (HF's windows), a long text of many-token words has windows that start inside a word;
    /// with whole words, none does, and together they still cover every token.
    #[test]
    fn whole_word_windows_start_and_end_between_words() {
        let m = tiny_ner();
        let text = "procalcitonina amoxicilina-clavulánico hemoglobina glicosilada ".repeat(200);
        let all = m.tok().encode_with(roberta_tokenizer::Input::Single(&text), &roberta_tokenizer::EncodeOptions { add_special_tokens: false, ..Default::default() }).unwrap();
        let mut hf_cuts = 0;
        for stride in [0, 100] {
            for whole in [false, true] {
                let ws = m.windows(&text, stride, whole);
                assert!(ws.len() > 3);
                let mut covered = 0;
                for w in &ws {
                    let (first, last) = (w.offsets[1], w.offsets[w.offsets.len() - 2]);
                    let fi = all.offsets.iter().position(|&o| o == first).unwrap();
                    let li = all.offsets.iter().position(|&o| o == last).unwrap();
                    let cut_start = fi > 0 && all.word_ids[fi - 1] == all.word_ids[fi];
                    let cut_end = li + 1 < all.len() && all.word_ids[li + 1] == all.word_ids[li];
                    if whole {
                        assert!(!cut_start && !cut_end, "stride {stride}: window {fi}..={li} cuts a word");
                    } else {
                        hf_cuts += usize::from(cut_start);
                    }
                    assert!(fi <= covered, "stride {stride}: a gap before token {fi}");
                    covered = covered.max(li + 1);
                }
                assert_eq!(covered, all.len());
            }
        }
        assert!(hf_cuts > 0, "the text should make token-count windows cut words");
    }

    /// Two words of a few hundred tokens each, both shorter than a window: every window starts on one of them.
    #[test]
    fn whole_word_windows_with_long_words() {
        let m = tiny_ner();
        let bare = roberta_tokenizer::EncodeOptions { add_special_tokens: false, ..Default::default() };
        let mut w = String::new();
        while m.tok().encode_with(roberta_tokenizer::Input::Single(&w), &bare).unwrap().len() < 300 {
            w.push_str("qzxjk");
        }
        let text = format!("{w} {w}y {w}z");
        let all = m.tok().encode_with(roberta_tokenizer::Input::Single(&text), &bare).unwrap();
        assert!(all.len() > m.window_tokens());
        for stride in [0, 128, 509] {
            let ws = m.windows(&text, stride, true);
            let mut covered = 0;
            for win in &ws {
                let fi = all.offsets.iter().position(|&o| o == win.offsets[1]).unwrap();
                assert!(fi == 0 || all.word_ids[fi - 1] != all.word_ids[fi], "stride {stride}: a window starts inside a word at {fi}");
                assert!(fi <= covered);
                covered = covered.max(fi + win.ids.len() - 2);
            }
            assert_eq!(covered, all.len(), "stride {stride}");
            assert!(ws.len() <= 4, "stride {stride}: {} windows", ws.len());
        }
    }
}
