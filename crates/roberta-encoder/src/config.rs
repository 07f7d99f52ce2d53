//! `config.json` as HF writes it for RoBERTa: keys one to one, HF's `RobertaConfig` defaults.
use crate::error::{EncoderError, Result};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A RoBERTa configuration (HF `RobertaConfig`); unknown keys are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Size of the vocabulary (rows of the word embeddings).
    pub vocab_size: usize,
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Number of attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Activation of the feed-forward layer (`gelu` is the exact erf GELU).
    pub hidden_act: String,
    /// Dropout (unused at inference).
    pub hidden_dropout_prob: f64,
    /// Attention dropout (unused at inference).
    pub attention_probs_dropout_prob: f64,
    /// Rows of the position embeddings (514 for RoBERTa: 512 + padding_idx + 1).
    pub max_position_embeddings: usize,
    /// Rows of the token-type embeddings.
    pub type_vocab_size: usize,
    /// Standard deviation of the initialiser (used by the random model).
    pub initializer_range: f64,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// Padding token id, also RoBERTa's position padding_idx.
    #[serde(deserialize_with = "null_is_default_pad")]
    pub pad_token_id: u32,
    /// `<s>` id.
    #[serde(deserialize_with = "null_is_default_bos")]
    pub bos_token_id: u32,
    /// `</s>` id.
    #[serde(deserialize_with = "null_is_default_eos")]
    pub eos_token_id: u32,
    /// Only `absolute` is supported.
    pub position_embedding_type: String,
    /// Model classes, e.g. `["RobertaForMaskedLM"]`.
    pub architectures: Option<Vec<String>>,
    /// Label names by id (keys are numeric strings).
    pub id2label: Option<BTreeMap<String, String>>,
    /// Label ids by name.
    pub label2id: Option<BTreeMap<String, i64>>,
    /// `single_label_classification`, `multi_label_classification` or `regression`.
    pub problem_type: Option<String>,
    /// Classifier dropout (unused at inference).
    pub classifier_dropout: Option<f64>,
    /// Whether the decoder is tied to the word embeddings.
    pub tie_word_embeddings: bool,
    /// `roberta`, `xlm-roberta`, `camembert` (the same graph) or `bert`; anything else is refused at load. When
    /// absent, the family comes from `architectures` (see [`Config::family`]).
    pub model_type: Option<String>,
    /// Whether this is a decoder (not supported).
    pub is_decoder: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            vocab_size: 50265,
            hidden_size: 768,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 3072,
            hidden_act: "gelu".into(),
            hidden_dropout_prob: 0.1,
            attention_probs_dropout_prob: 0.1,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            initializer_range: 0.02,
            layer_norm_eps: 1e-12,
            pad_token_id: 1,
            bos_token_id: 0,
            eos_token_id: 2,
            position_embedding_type: "absolute".into(),
            architectures: None,
            id2label: None,
            label2id: None,
            problem_type: None,
            classifier_dropout: None,
            tie_word_embeddings: true,
            // absent from the file: None (a BERT checkpoint's old config may lack it; see `family`)
            model_type: None,
            is_decoder: false,
        }
    }
}

fn null_or<'de, D: Deserializer<'de>>(d: D, default: u32) -> std::result::Result<u32, D::Error> {
    Ok(Option::<u32>::deserialize(d)?.unwrap_or(default))
}
fn null_is_default_pad<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    null_or(d, 1)
}
fn null_is_default_bos<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    null_or(d, 0)
}
fn null_is_default_eos<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u32, D::Error> {
    null_or(d, 2)
}

/// The `model_type`s supported: the RoBERTa graph (HF's `RobertaModel`, `XLMRobertaModel`, `CamembertModel`) and
/// BERT's (`BertModel`).
pub const MODEL_TYPES: &[&str] = &["roberta", "xlm-roberta", "camembert", "bert"];

/// Which encoder family a config describes; the families differ only in their embeddings and their heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// RoBERTa, XLM-RoBERTa, CamemBERT: positions start after padding_idx (`padding_idx + cumsum(id !=
    /// padding_idx)`, padding tokens at padding_idx); one token type in practice.
    Roberta,
    /// BERT: positions `0..seq_len` whatever the ids; token types (segments) 0/1 for pairs; a pooler.
    Bert,
}

/// The feed-forward activations supported (anything else is an error at load).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Exact erf GELU (`gelu`).
    Gelu,
    /// Tanh-approximated GELU (`gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`).
    GeluTanh,
    /// `relu`.
    Relu,
    /// `silu` / `swish`.
    Silu,
}

impl Config {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| EncoderError::io(path, e))?;
        Self::from_json(&text, path)
    }

    /// Parses and validates a config from JSON text (`path` is only used in errors).
    pub fn from_json(text: &str, path: &Path) -> Result<Config> {
        let cfg: Config = serde_json::from_str(text)
            .map_err(|e| EncoderError::Config { path: path.into(), msg: e.to_string() })?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Checks what the encoder supports: the RoBERTa graph, absolute positions, a known activation, sane sizes.
    pub fn validate(&self, path: &Path) -> Result<()> {
        if let Some(t) = self.model_type.as_deref().filter(|t| !MODEL_TYPES.contains(t)) {
            // e.g. `distilbert` (no token types, other names) or `electra`: run as one of ours it would be wrong
            return Err(EncoderError::Unsupported {
                path: path.into(),
                key: "model_type",
                value: t.into(),
                supported: "supported: roberta, xlm-roberta, camembert (the RoBERTa graph) and bert",
            });
        }
        if self.position_embedding_type != "absolute" {
            return Err(EncoderError::Unsupported {
                path: path.into(),
                key: "position_embedding_type",
                value: self.position_embedding_type.clone(),
                supported: "only \"absolute\" is supported",
            });
        }
        self.activation_checked(path)?;
        if self.is_decoder {
            return Err(EncoderError::Unsupported {
                path: path.into(),
                key: "is_decoder",
                value: "true".into(),
                supported: "only encoders are supported",
            });
        }
        if self.num_attention_heads == 0 || self.hidden_size % self.num_attention_heads != 0 {
            return Err(EncoderError::Config {
                path: path.into(),
                msg: format!(
                    "hidden_size {} is not a multiple of num_attention_heads {}",
                    self.hidden_size, self.num_attention_heads
                ),
            });
        }
        if self.family() == Family::Roberta && self.max_position_embeddings <= self.pad_token_id as usize + 1 {
            return Err(EncoderError::Config {
                path: path.into(),
                msg: format!(
                    "max_position_embeddings {} leaves no position after padding_idx {}",
                    self.max_position_embeddings, self.pad_token_id
                ),
            });
        }
        Ok(())
    }

    fn activation_checked(&self, path: &Path) -> Result<Activation> {
        match self.hidden_act.as_str() {
            "gelu" => Ok(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Activation::GeluTanh),
            "relu" => Ok(Activation::Relu),
            "silu" | "swish" => Ok(Activation::Silu),
            other => Err(EncoderError::Unsupported {
                path: path.into(),
                key: "hidden_act",
                value: other.into(),
                supported: "supported: gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu, silu, swish",
            }),
        }
    }

    /// The feed-forward activation (the config must have been validated).
    pub fn activation(&self) -> Result<Activation> {
        self.activation_checked(Path::new("config.json"))
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Longest sequence the position embeddings allow (512 for RoBERTa-base: 514 rows less padding_idx + 1;
    /// every row for BERT).
    pub fn max_seq_len(&self) -> usize {
        match self.family() {
            Family::Roberta => self.max_position_embeddings - self.pad_token_id as usize - 1,
            Family::Bert => self.max_position_embeddings,
        }
    }

    /// The family: `model_type` `bert` (or, without a model_type, a `Bert*` architecture) is BERT; everything
    /// else that validates is RoBERTa's graph.
    pub fn family(&self) -> Family {
        let bert_arch = || self.architectures.as_ref().is_some_and(|a| a.iter().any(|x| x.starts_with("Bert")));
        match self.model_type.as_deref() {
            Some("bert") => Family::Bert,
            None if bert_arch() => Family::Bert,
            _ => Family::Roberta,
        }
    }

    /// Number of labels: the size of `id2label`, or HF's default of 2.
    pub fn num_labels(&self) -> usize {
        self.id2label.as_ref().map(|m| m.len()).unwrap_or(2)
    }

    /// Label names ordered by id (`id2label`), or `LABEL_i` when absent.
    pub fn labels(&self) -> Vec<String> {
        match &self.id2label {
            Some(m) => {
                let mut v: Vec<(usize, &String)> =
                    m.iter().map(|(k, n)| (k.trim().parse::<usize>().unwrap_or(usize::MAX), n)).collect();
                v.sort_by_key(|(i, _)| *i);
                v.into_iter().map(|(_, n)| n.clone()).collect()
            }
            None => (0..self.num_labels()).map(|i| format!("LABEL_{i}")).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_labels() {
        let c = Config::from_json(r#"{"id2label":{"10":"b","2":"a"}}"#, Path::new("x")).unwrap();
        assert_eq!(c.vocab_size, 50265);
        assert_eq!(c.layer_norm_eps, 1e-12);
        assert_eq!(c.labels(), vec!["a", "b"]);
        assert_eq!(c.head_dim(), 64);
        let c = Config::from_json(r#"{"pad_token_id":null}"#, Path::new("x")).unwrap();
        assert_eq!(c.pad_token_id, 1);
        assert_eq!(c.labels(), vec!["LABEL_0", "LABEL_1"]);
    }

    #[test]
    fn unsupported() {
        let e = Config::from_json(r#"{"position_embedding_type":"relative_key"}"#, Path::new("x")).unwrap_err();
        assert!(e.to_string().contains("relative_key"), "{e}");
        let e = Config::from_json(r#"{"hidden_act":"mish"}"#, Path::new("x")).unwrap_err();
        assert!(e.to_string().contains("mish"), "{e}");
        let e = Config::from_json(r#"{"model_type":"distilbert"}"#, Path::new("x/config.json")).unwrap_err();
        assert_eq!(e.to_string(), r#"x/config.json: unsupported model_type = "distilbert" (supported: roberta, xlm-roberta, camembert (the RoBERTa graph) and bert)"#);
        let c = Config::from_json(r#"{"model_type":"bert","pad_token_id":0,"max_position_embeddings":512}"#, Path::new("x")).unwrap();
        assert_eq!((c.family(), c.max_seq_len()), (Family::Bert, 512));
        let c = Config::from_json(r#"{"architectures":["BertForMaskedLM"],"model_type":null}"#, Path::new("x")).unwrap();
        assert_eq!(c.family(), Family::Bert);
        // an old BERT config without the key at all
        let c = Config::from_json(r#"{"architectures":["BertForTokenClassification"],"pad_token_id":0}"#, Path::new("x")).unwrap();
        assert_eq!((c.family(), c.max_seq_len()), (Family::Bert, 512));
        let c = Config::from_json(r#"{"architectures":["RobertaForMaskedLM"]}"#, Path::new("x")).unwrap();
        assert_eq!(c.family(), Family::Roberta);
        assert_eq!(Config::default().family(), Family::Roberta);
        for t in MODEL_TYPES {
            Config::from_json(&format!(r#"{{"model_type":"{t}"}}"#), Path::new("x")).unwrap();
        }
    }
}
