//! Deterministic random checkpoints (config.json + model.safetensors) for tests, benches and `compare`.
use crate::error::{EncoderError, Result};
use roberta_checkpoint::{names, safetensors::write_f32, Tensor};
use rayon::prelude::*;
use std::path::Path;

/// Model shapes the generator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// bsc-bio-ehr-es (RoBERTa-base): 12 layers, hidden 768, 12 heads, FFN 3072, vocab 50262.
    BscBioEhrEs,
    /// A tiny model for tests: 2 layers, hidden 64, 4 heads, FFN 128, vocab 1000.
    Tiny,
}

impl std::str::FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Shape, String> {
        match s {
            "bsc-bio-ehr-es" | "base" => Ok(Shape::BscBioEhrEs),
            "tiny" => Ok(Shape::Tiny),
            _ => Err(format!("unknown shape {s:?} (bsc-bio-ehr-es or tiny)")),
        }
    }
}

/// The `config.json` of a shape (HF keys; RobertaForMaskedLM).
pub fn config_json(shape: Shape) -> serde_json::Value {
    let (v, h, l, a, f) = match shape {
        Shape::BscBioEhrEs => (50262, 768, 12, 12, 3072),
        Shape::Tiny => (1000, 64, 2, 4, 128),
    };
    serde_json::json!({
        "architectures": ["RobertaForMaskedLM"],
        "model_type": "roberta",
        "vocab_size": v, "hidden_size": h, "num_hidden_layers": l, "num_attention_heads": a,
        "intermediate_size": f, "hidden_act": "gelu", "max_position_embeddings": 514,
        "type_vocab_size": 1, "layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0,
        "eos_token_id": 2, "position_embedding_type": "absolute", "initializer_range": 0.02,
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "tie_word_embeddings": true
    })
}

/// SplitMix64: a tiny deterministic generator.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

fn name_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// `mean + std·N(0,1)` values, deterministic per tensor name (chunks generated in parallel).
fn normal(name: &str, n: usize, mean: f32, std: f32) -> Vec<f32> {
    let mut out = vec![0.0f32; n];
    out.par_chunks_mut(1 << 16).enumerate().for_each(|(ci, c)| {
        let mut r = Rng(name_seed(name) ^ (ci as u64).wrapping_mul(0xA24B_AED4_963E_E407));
        for pair in c.chunks_mut(2) {
            let (u1, u2) = (r.uniform(), r.uniform());
            let m = (-2.0 * u1.ln()).sqrt();
            let th = 2.0 * std::f64::consts::PI * u2;
            pair[0] = mean + std * (m * th.cos()) as f32;
            if pair.len() > 1 {
                pair[1] = mean + std * (m * th.sin()) as f32;
            }
        }
    });
    out
}

/// All tensors of a random RobertaForMaskedLM checkpoint (HF names, `roberta.` prefix, decoder tied).
pub fn random_tensors(shape: Shape) -> Vec<(String, Tensor)> {
    let c = config_json(shape);
    let g = |k: &str| c[k].as_u64().unwrap() as usize;
    let (v, h, l, f, p) = (g("vocab_size"), g("hidden_size"), g("num_hidden_layers"), g("intermediate_size"), g("max_position_embeddings"));
    let mut out = Vec::new();
    let mut add = |name: String, dims: Vec<usize>, mean: f32, std: f32| {
        let n = dims.iter().product();
        let data = normal(&name, n, mean, std);
        out.push((name, Tensor::new(dims, data)));
    };
    let full = |n: &str| format!("{}{n}", names::PREFIX);
    {
        use names::embeddings as e;
        add(full(e::WORD), vec![v, h], 0.0, 0.02);
        add(full(e::POSITION), vec![p, h], 0.0, 0.02);
        add(full(e::TOKEN_TYPE), vec![1, h], 0.0, 0.02);
        add(full(e::LN_WEIGHT), vec![h], 1.0, 0.05);
        add(full(e::LN_BIAS), vec![h], 0.0, 0.02);
    }
    for i in 0..l {
        let n = names::layer(i);
        for (w, b) in n.qkv_weight.iter().zip(&n.qkv_bias) {
            add(full(w), vec![h, h], 0.0, 0.02);
            add(full(b), vec![h], 0.0, 0.02);
        }
        add(full(&n.attn_out_weight), vec![h, h], 0.0, 0.02);
        add(full(&n.attn_out_bias), vec![h], 0.0, 0.02);
        add(full(&n.attn_ln_weight), vec![h], 1.0, 0.05);
        add(full(&n.attn_ln_bias), vec![h], 0.0, 0.02);
        add(full(&n.inter_weight), vec![f, h], 0.0, 0.02);
        add(full(&n.inter_bias), vec![f], 0.0, 0.02);
        add(full(&n.out_weight), vec![h, f], 0.0, 0.02);
        add(full(&n.out_bias), vec![h], 0.0, 0.02);
        add(full(&n.out_ln_weight), vec![h], 1.0, 0.05);
        add(full(&n.out_ln_bias), vec![h], 0.0, 0.02);
    }
    use names::lm_head as m;
    add(m::DENSE_WEIGHT.into(), vec![h, h], 0.0, 0.02);
    add(m::DENSE_BIAS.into(), vec![h], 0.0, 0.02);
    add(m::LN_WEIGHT.into(), vec![h], 1.0, 0.05);
    add(m::LN_BIAS.into(), vec![h], 0.0, 0.02);
    add(m::BIAS.into(), vec![v], 0.0, 0.02);
    out
}

/// Writes `dir/config.json` and `dir/model.safetensors` for a deterministic random model of `shape`.
pub fn write_random_model(dir: &Path, shape: Shape) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| EncoderError::io(dir, e))?;
    let cfg = dir.join("config.json");
    std::fs::write(&cfg, serde_json::to_string_pretty(&config_json(shape)).unwrap()).map_err(|e| EncoderError::io(&cfg, e))?;
    let tensors = random_tensors(shape);
    let refs: Vec<(&str, &Tensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    Ok(write_f32(&dir.join("model.safetensors"), &refs)?)
}
