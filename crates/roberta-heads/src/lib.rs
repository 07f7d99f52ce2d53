//! roberta-heads: task heads over the encoder's hidden states (masked LM, token and sequence
//! classification), pooling and NER metrics.
pub mod metrics;
pub mod mlm;
pub mod ner;
pub mod pooling;
pub mod scores;
pub mod sequence_classification;
pub mod token_classification;

pub use mlm::MlmHead;
pub use sequence_classification::SequenceClassificationHead;
pub use token_classification::TokenClassificationHead;

use roberta_encoder::{Config, EncoderError, TensorSource};

/// The head a checkpoint's `architectures[0]` names.
pub enum Head {
    /// `RobertaForMaskedLM`, `BertForMaskedLM` (and the others of the family).
    MaskedLm(MlmHead),
    /// `RobertaForTokenClassification`, `BertForTokenClassification`.
    TokenClassification(TokenClassificationHead),
    /// `RobertaForSequenceClassification`, `BertForSequenceClassification`.
    SequenceClassification(SequenceClassificationHead),
}

impl Head {
    /// Loads the head of `config.architectures[0]` from `src` (only the head's tensors are read); `None` for a
    /// bare encoder or an unknown class.
    pub fn from_architecture(cfg: &Config, w: &dyn TensorSource) -> Result<Option<Head>, EncoderError> {
        Self::from_architecture_shared(cfg, w, None)
    }

    /// [`Head::from_architecture`], a tied masked-LM decoder reading the encoder's word embeddings `word`
    /// ([`MlmHead::load_shared`]) instead of a second copy.
    pub fn from_architecture_shared(
        cfg: &Config,
        w: &dyn TensorSource,
        word: Option<roberta_encoder::WordEmbeddings>,
    ) -> Result<Option<Head>, EncoderError> {
        let arch = cfg.architectures.as_ref().and_then(|a| a.first()).map(String::as_str).unwrap_or("");
        // The family (RoBERTa's names or BERT's) comes from the config; the task from the class's suffix
        // (`BertForPreTraining` carries BERT's MLM head too).
        Ok(Some(match arch.trim_start_matches("XLM").trim_start_matches("Camembert") {
            a if a.ends_with("ForMaskedLM") || a == "BertForPreTraining" => Head::MaskedLm(MlmHead::load_shared(cfg, w, word)?),
            a if a.ends_with("ForTokenClassification") => Head::TokenClassification(TokenClassificationHead::load(cfg, w)?),
            a if a.ends_with("ForSequenceClassification") => {
                Head::SequenceClassification(SequenceClassificationHead::load(cfg, w)?)
            }
            _ => return Ok(None),
        }))
    }

    /// Logits for `[batch, seq_len, hidden]` hidden states: per token for the MLM and token heads
    /// (`[batch·seq_len, n]`), per sequence for the sequence head (`[batch, n]`, from the `<s>` rows).
    pub fn logits(&self, hidden: &[f32], batch: usize, seq_len: usize, width: usize) -> Vec<f32> {
        match self {
            Head::MaskedLm(h) => h.logits(hidden, batch * seq_len),
            Head::TokenClassification(h) => h.logits(hidden, batch * seq_len),
            Head::SequenceClassification(h) => {
                h.logits(&sequence_classification::cls_rows(hidden, batch, seq_len, width), batch)
            }
        }
    }

    /// Width of one row of logits.
    pub fn num_outputs(&self) -> usize {
        match self {
            Head::MaskedLm(h) => h.vocab_size(),
            Head::TokenClassification(h) => h.num_labels(),
            Head::SequenceClassification(h) => h.num_labels(),
        }
    }
}
