//! The RoBERTa and BERT families' parameter names, in one place: the prefix HF's task models put before the encoder's
//! tensors, the buffers a checkpoint may carry that are not weights, the embeddings' and each layer's names,
//! each head's names, and the tied MLM decoder. The CPU encoder, the CUDA encoder, the random model, the heads
//! and the facade all ask this module; nobody else spells a tensor name.
//!
//! Names here are as the encoder looks them up: without the prefix (`embeddings.word_embeddings.weight`, not
//! `roberta.embeddings.word_embeddings.weight`). Every [`crate::TensorSource`] accepts them in that form.

/// The prefix HF's `RobertaFor*` (and `XLMRobertaFor*`, `CamembertFor*`) classes put before the encoder's tensors
/// (a bare `RobertaModel` has none).
pub const PREFIX: &str = "roberta.";

/// The prefix of HF's `BertFor*` classes.
pub const BERT_PREFIX: &str = "bert.";

/// The checkpoint name as the encoder looks it up: [`PREFIX`] or [`BERT_PREFIX`] removed, and the legacy
/// TensorFlow-converted LayerNorm names (`LayerNorm.gamma`, `LayerNorm.beta`) read as `LayerNorm.weight`,
/// `LayerNorm.bias`, as transformers renames them at load.
pub fn normalise(name: &str) -> std::borrow::Cow<'_, str> {
    let bare = name.strip_prefix(PREFIX).or_else(|| name.strip_prefix(BERT_PREFIX)).unwrap_or(name);
    if let Some(stem) = bare.strip_suffix("LayerNorm.gamma") {
        format!("{stem}LayerNorm.weight").into()
    } else if let Some(stem) = bare.strip_suffix("LayerNorm.beta") {
        format!("{stem}LayerNorm.bias").into()
    } else {
        bare.into()
    }
}

/// Whether a checkpoint entry is a buffer rather than a weight (`position_ids`, `token_type_ids`: ignored at load).
pub fn is_buffer(name: &str) -> bool {
    name.ends_with("position_ids") || name.ends_with("token_type_ids")
}

/// `embeddings.*`.
pub mod embeddings {
    /// `[vocab, hidden]`.
    pub const WORD: &str = "embeddings.word_embeddings.weight";
    /// `[max_position_embeddings, hidden]`.
    pub const POSITION: &str = "embeddings.position_embeddings.weight";
    /// `[type_vocab_size, hidden]`.
    pub const TOKEN_TYPE: &str = "embeddings.token_type_embeddings.weight";
    /// `[hidden]`.
    pub const LN_WEIGHT: &str = "embeddings.LayerNorm.weight";
    /// `[hidden]`.
    pub const LN_BIAS: &str = "embeddings.LayerNorm.bias";
}

/// The tensors of `encoder.layer.{i}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// `attention.self.{query,key,value}.weight`, `[hidden, hidden]` each, in the order the fused QKV
    /// projection stacks them.
    pub qkv_weight: [String; 3],
    /// `attention.self.{query,key,value}.bias`, `[hidden]` each.
    pub qkv_bias: [String; 3],
    /// `attention.output.dense.weight` `[hidden, hidden]`.
    pub attn_out_weight: String,
    /// `attention.output.dense.bias` `[hidden]`.
    pub attn_out_bias: String,
    /// `attention.output.LayerNorm.weight`.
    pub attn_ln_weight: String,
    /// `attention.output.LayerNorm.bias`.
    pub attn_ln_bias: String,
    /// `intermediate.dense.weight` `[intermediate, hidden]`.
    pub inter_weight: String,
    /// `intermediate.dense.bias` `[intermediate]`.
    pub inter_bias: String,
    /// `output.dense.weight` `[hidden, intermediate]`.
    pub out_weight: String,
    /// `output.dense.bias` `[hidden]`.
    pub out_bias: String,
    /// `output.LayerNorm.weight`.
    pub out_ln_weight: String,
    /// `output.LayerNorm.bias`.
    pub out_ln_bias: String,
}

/// The names of layer `i`.
pub fn layer(i: usize) -> Layer {
    let p = |s: &str| format!("encoder.layer.{i}.{s}");
    let qkv = |kind: &str| ["query", "key", "value"].map(|n| p(&format!("attention.self.{n}.{kind}")));
    Layer {
        qkv_weight: qkv("weight"),
        qkv_bias: qkv("bias"),
        attn_out_weight: p("attention.output.dense.weight"),
        attn_out_bias: p("attention.output.dense.bias"),
        attn_ln_weight: p("attention.output.LayerNorm.weight"),
        attn_ln_bias: p("attention.output.LayerNorm.bias"),
        inter_weight: p("intermediate.dense.weight"),
        inter_bias: p("intermediate.dense.bias"),
        out_weight: p("output.dense.weight"),
        out_bias: p("output.dense.bias"),
        out_ln_weight: p("output.LayerNorm.weight"),
        out_ln_bias: p("output.LayerNorm.bias"),
    }
}

/// `lm_head.*` (HF `RobertaLMHead`).
pub mod lm_head {
    /// `[hidden, hidden]`.
    pub const DENSE_WEIGHT: &str = "lm_head.dense.weight";
    /// `[hidden]`.
    pub const DENSE_BIAS: &str = "lm_head.dense.bias";
    /// `[hidden]`.
    pub const LN_WEIGHT: &str = "lm_head.layer_norm.weight";
    /// `[hidden]`.
    pub const LN_BIAS: &str = "lm_head.layer_norm.bias";
    /// `[vocab, hidden]`: the untied decoder.
    pub const DECODER_WEIGHT: &str = "lm_head.decoder.weight";
    /// `[vocab]`: the decoder's bias as HF saves it.
    pub const BIAS: &str = "lm_head.bias";
    /// `[vocab]`: the same bias under the decoder's own name (older checkpoints).
    pub const DECODER_BIAS: &str = "lm_head.decoder.bias";

    /// The tensor the decoder's weight is read from: the word embeddings when `tie_word_embeddings` is set (HF
    /// ties them whatever the checkpoint holds under the decoder's name), else `lm_head.decoder.weight`.
    pub fn decoder_weight(tie_word_embeddings: bool) -> &'static str {
        if tie_word_embeddings {
            super::embeddings::WORD
        } else {
            DECODER_WEIGHT
        }
    }

    /// The tensor the decoder's bias is read from: `lm_head.bias` when the checkpoint holds it (`has` says), else
    /// `lm_head.decoder.bias`.
    pub fn decoder_bias(has: impl Fn(&str) -> bool) -> &'static str {
        if has(BIAS) {
            BIAS
        } else {
            DECODER_BIAS
        }
    }
}

/// `cls.predictions.*` (HF `BertOnlyMLMHead`): the same computation as [`lm_head`] under BERT's names, the
/// activation being the config's `hidden_act`.
pub mod bert_mlm {
    /// `[hidden, hidden]`.
    pub const DENSE_WEIGHT: &str = "cls.predictions.transform.dense.weight";
    /// `[hidden]`.
    pub const DENSE_BIAS: &str = "cls.predictions.transform.dense.bias";
    /// `[hidden]`.
    pub const LN_WEIGHT: &str = "cls.predictions.transform.LayerNorm.weight";
    /// `[hidden]`.
    pub const LN_BIAS: &str = "cls.predictions.transform.LayerNorm.bias";
    /// `[vocab, hidden]`: the untied decoder.
    pub const DECODER_WEIGHT: &str = "cls.predictions.decoder.weight";
    /// `[vocab]`: the decoder's bias as HF saves it.
    pub const BIAS: &str = "cls.predictions.bias";
    /// `[vocab]`: the same bias under the decoder's own name.
    pub const DECODER_BIAS: &str = "cls.predictions.decoder.bias";
}

/// `pooler.*` of `BertModel` (`bert.pooler.*` in a task model): dense → tanh on the `[CLS]` row, what
/// `BertForSequenceClassification` classifies.
pub mod bert_pooler {
    /// `[hidden, hidden]`.
    pub const DENSE_WEIGHT: &str = "pooler.dense.weight";
    /// `[hidden]`.
    pub const DENSE_BIAS: &str = "pooler.dense.bias";
}

/// `classifier.*` of `BertForSequenceClassification`: one linear layer over the pooler's output.
pub mod bert_sequence_classifier {
    /// `[num_labels, hidden]`.
    pub const WEIGHT: &str = "classifier.weight";
    /// `[num_labels]`.
    pub const BIAS: &str = "classifier.bias";
}

/// `classifier.*` of `RobertaForTokenClassification` (and `BertForTokenClassification`): one linear layer.
pub mod token_classifier {
    /// `[num_labels, hidden]`.
    pub const WEIGHT: &str = "classifier.weight";
    /// `[num_labels]`.
    pub const BIAS: &str = "classifier.bias";
}

/// `classifier.*` of `RobertaForSequenceClassification` (HF `RobertaClassificationHead`).
pub mod sequence_classifier {
    /// `[hidden, hidden]`.
    pub const DENSE_WEIGHT: &str = "classifier.dense.weight";
    /// `[hidden]`.
    pub const DENSE_BIAS: &str = "classifier.dense.bias";
    /// `[num_labels, hidden]`.
    pub const OUT_WEIGHT: &str = "classifier.out_proj.weight";
    /// `[num_labels]`.
    pub const OUT_BIAS: &str = "classifier.out_proj.bias";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_hf_writes_them() {
        assert_eq!(normalise("roberta.encoder.layer.0.output.dense.bias"), "encoder.layer.0.output.dense.bias");
        assert_eq!(normalise("lm_head.bias"), "lm_head.bias");
        assert_eq!(normalise("bert.encoder.layer.1.output.LayerNorm.gamma"), "encoder.layer.1.output.LayerNorm.weight");
        assert_eq!(normalise("cls.predictions.transform.LayerNorm.beta"), "cls.predictions.transform.LayerNorm.bias");
        assert!(is_buffer("roberta.embeddings.position_ids") && !is_buffer(embeddings::POSITION));
        let l = layer(11);
        assert_eq!(l.qkv_weight[1], "encoder.layer.11.attention.self.key.weight");
        assert_eq!(l.out_ln_bias, "encoder.layer.11.output.LayerNorm.bias");
        assert_eq!(lm_head::decoder_weight(true), embeddings::WORD);
        assert_eq!(lm_head::decoder_weight(false), "lm_head.decoder.weight");
        assert_eq!(lm_head::decoder_bias(|n| n == lm_head::DECODER_BIAS), "lm_head.decoder.bias");
        assert_eq!(lm_head::decoder_bias(|_| false), "lm_head.decoder.bias");
        assert_eq!(lm_head::decoder_bias(|_| true), "lm_head.bias");
    }
}
