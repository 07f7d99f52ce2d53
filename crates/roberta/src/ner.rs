//! `Ner`: token classification as `pipeline("token-classification")`, with aggregation none / simple / first /
//! average / max. Texts longer than the model allows run in overlapping windows (`stride` tokens shared) whose
//! entities are merged as HF's `aggregate_overlapping_entities`; nothing is cut.
//!
//! Which aggregation: `none` is HF's default (one entity per byte-level token, e.g. `Ġamoxicilina`); for a
//! model fine-tuned with the label on each word's first sub-word (the PharmaCoNER / CANTEMIST scripts, and
//! [`crate::eval_ner`]'s protocol) use [`Aggregation::First`]. What a word is for first / average / max is
//! [`Words`]: HF's fallback heuristic by default (exactly HF's output), or the tokenizer's own words.
use crate::model::{Model, Window};
use crate::output::{each_failed, Output, Pipeline};
use crate::{Error, Result};
use roberta_heads::ner::{aggregate, is_subword, merge_overlapping, Aggregation, Entity, PreEntity};
use roberta_heads::scores::softmax;
use roberta_heads::Head;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What a word is when sub-words are grouped into words (aggregation first, average, max).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Words {
    /// HF's fallback heuristic for byte-level BPE (what transformers does, with its warning "Tokenizer does not
    /// support real words, using fallback heuristic"): a token continues the word when neither it nor the
    /// character before it is a space — so trailing punctuation joins the word (`" omeprazol."`), and with
    /// average / max a strongly-`O` comma can outvote the word.
    #[default]
    Heuristic,
    /// The tokenizer's pre-tokenizer words (`word_ids`): punctuation is a word of its own (`" omeprazol"`, `"."`).
    Pretokenizer,
}

/// The NER pipeline.
pub struct Ner {
    model: Arc<Model>,
    aggregation: Aggregation,
    words: Words,
    stride: usize,
    labels: Vec<String>,
    warned: AtomicBool,
}

impl Ner {
    /// Needs a token-classification checkpoint.
    pub fn new(model: impl Into<Arc<Model>>, aggregation: Aggregation) -> Result<Ner> {
        let model = model.into();
        if !matches!(model.head(), Some(Head::TokenClassification(_))) {
            return Err(model.wrong_head("ner", "RobertaForTokenClassification"));
        }
        model.tokenizer()?;
        let labels = model.config().labels();
        let stride = model.max_tokens() / 4;
        Ok(Ner { model, aggregation, words: Words::default(), stride, labels, warned: AtomicBool::new(false) })
    }

    /// Tokens shared by consecutive windows of a long text (default: a quarter of the model's length). It must
    /// be below the window ([`Model::window_tokens`], 510 for RoBERTa-base), as HF requires.
    pub fn with_stride(mut self, stride: usize) -> Result<Ner> {
        let room = self.model.window_tokens();
        if stride >= room {
            return Err(Error::Model(format!(
                "stride {stride} must be below the window of {room} tokens (the model's {} less <s> and </s>)",
                self.model.max_tokens()
            )));
        }
        self.stride = stride;
        Ok(self)
    }

    /// How sub-words are grouped into words (see [`Words`]).
    pub fn with_words(mut self, words: Words) -> Ner {
        self.words = words;
        self
    }

    /// The model (clone the `Arc` to share it with another pipeline).
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The entities of every text of a batch (never a warning: long texts run in windows, nothing is cut).
    pub fn run(&self, texts: &[&str]) -> Vec<Result<Output<Vec<Entity>>>> {
        let word_level = matches!(self.aggregation, Aggregation::First | Aggregation::Average | Aggregation::Max);
        let prefix_rule = self.model.tok().continuing_subword_prefix().is_some_and(|p| !p.is_empty());
        if word_level && self.words == Words::Heuristic && !prefix_rule && !self.warned.swap(true, Ordering::Relaxed) {
            log::warn!("Tokenizer does not support real words, using fallback heuristic (as HF warns; words = the tokenizer's with --words pretokenizer / Words::Pretokenizer)");
        }
        let mut windows: Vec<(usize, Window)> = Vec::new();
        let mut counts = vec![0usize; texts.len()];
        for (i, t) in texts.iter().enumerate() {
            for w in self.model.windows(t, self.stride, self.words == Words::Pretokenizer) {
                windows.push((i, w));
                counts[i] += 1;
            }
        }
        let seqs: Vec<&[u32]> = windows.iter().map(|(_, w)| w.ids.as_slice()).collect();
        let chars: Vec<Vec<char>> = texts.iter().map(|t| t.chars().collect()).collect();
        let bytes: Vec<Vec<usize>> = texts.iter().map(|t| t.char_indices().map(|(b, _)| b).chain([t.len()]).collect()).collect();
        let mut per_window: Vec<Vec<Entity>> = vec![Vec::new(); windows.len()];
        let res = self.model.forward_all(&seqs, |k, h, b| {
            let (t, w) = &windows[k];
            per_window[k] = self.window_entities(w, &chars[*t], &bytes[*t], h, b);
            Ok(())
        });
        if let Err(e) = res {
            return each_failed(texts.len(), e);
        }
        // each text's entities in window order, as HF gathers them
        let mut found: Vec<Vec<Entity>> = vec![Vec::new(); texts.len()];
        for ((t, _), ents) in windows.iter().zip(per_window) {
            found[*t].extend(ents);
        }
        found
            .into_iter()
            .zip(counts)
            .map(|(e, n)| Ok(Output::new(if n > 1 { merge_overlapping(e) } else { e })))
            .collect()
    }

    /// `bytes`: the byte offset of each character of the text, and the text's length last.
    fn window_entities(&self, w: &Window, chars: &[char], bytes: &[usize], h: &crate::model::Hidden, b: usize) -> Vec<Entity> {
        let Some(Head::TokenClassification(head)) = self.model.head() else { unreachable!("checked in new") };
        let tok = self.model.tok();
        let n = w.ids.len();
        let logits = head.logits(h.sequence(b), n);
        let k = head.num_labels();
        let last = n - 1;
        let byte = |c: usize| bytes.get(c).copied().unwrap_or(bytes[bytes.len() - 1]);
        // HF: with a continuing-subword prefix (WordPiece's `##`) a token is a sub-word when its string's length
        // differs from its span's (so `##s`, and also an `[UNK]` standing for a word of another length); without
        // one, the space heuristic
        let prefix_rule = tok.continuing_subword_prefix().is_some_and(|p| !p.is_empty());
        let unk = tok.token_to_id(&tok.special_tokens().unk);
        let pre: Vec<PreEntity> = (1..last)
            .map(|j| {
                let (start, end) = w.offsets[j];
                // HF: an unknown token is named by the text it stands for, and never continues a word
                if Some(w.ids[j]) == unk {
                    let word: String = chars.get(start..end.min(chars.len())).map_or_else(String::new, |c| c.iter().collect());
                    return PreEntity {
                        word,
                        scores: softmax(&logits[j * k..(j + 1) * k]),
                        start,
                        end,
                        bytes: (byte(start), byte(end)),
                        index: j,
                        is_subword: false,
                    };
                }
                let word = tok.id_to_token(w.ids[j]).unwrap_or("").to_string();
                let is_subword = match self.words {
                    Words::Heuristic if prefix_rule => word.chars().count() != end - start,
                    Words::Heuristic => is_subword(chars, start),
                    // windows start on a word (a word longer than a window aside): the first token starts one
                    Words::Pretokenizer => j > 1 && w.word_ids[j].is_some() && w.word_ids[j] == w.word_ids[j - 1],
                };
                PreEntity {
                    word,
                    scores: softmax(&logits[j * k..(j + 1) * k]),
                    start,
                    end,
                    bytes: (byte(start), byte(end)),
                    index: j,
                    is_subword,
                }
            })
            .collect();
        aggregate(&pre, self.aggregation, &self.labels, &|toks| tok.convert_tokens_to_string(toks))
    }
}

impl Pipeline for Ner {
    type Value = Vec<Entity>;
    fn run(&self, texts: &[&str]) -> Vec<Result<Output<Vec<Entity>>>> {
        Ner::run(self, texts)
    }
    fn model(&self) -> &Model {
        &self.model
    }
}
