//! The model's weights on the device, in f16, uploaded once: embeddings tables and, per layer, the fused
//! `[3H, H]` QKV projection (HF's query, key, value rows stacked, as the CPU encoder fuses them), the
//! attention output projection, the FFN and the two LayerNorms. Names and shapes are checked like the CPU
//! encoder's (`Weights::expect` names the tensor in its error).
use crate::config::Config;
use crate::error::Result;
use crate::weights::Weights;
use roberta_gpu::{f16, EmbeddingTables, Gpu};
use cudarc::driver::CudaSlice;

/// `encoder.layer.{i}.*` on the device.
pub(crate) struct DeviceLayer {
    /// `[3H, H]`: query, key, value weights stacked.
    pub qkv_w: CudaSlice<f16>,
    /// `[3H]`.
    pub qkv_b: CudaSlice<f16>,
    /// `attention.output.dense` `[H, H]`, `[H]`.
    pub attn_out_w: CudaSlice<f16>,
    pub attn_out_b: CudaSlice<f16>,
    /// `attention.output.LayerNorm`.
    pub attn_ln_g: CudaSlice<f16>,
    pub attn_ln_b: CudaSlice<f16>,
    /// `intermediate.dense` `[F, H]`, `[F]`.
    pub inter_w: CudaSlice<f16>,
    pub inter_b: CudaSlice<f16>,
    /// `output.dense` `[H, F]`, `[H]`.
    pub out_w: CudaSlice<f16>,
    pub out_b: CudaSlice<f16>,
    /// `output.LayerNorm`.
    pub out_ln_g: CudaSlice<f16>,
    pub out_ln_b: CudaSlice<f16>,
}

/// Rounds f32 host data to f16 and uploads it.
fn up(gpu: &Gpu, data: &[f32]) -> Result<CudaSlice<f16>> {
    let h: Vec<f16> = data.iter().map(|&x| f16::from_f32(x)).collect();
    Ok(gpu.upload(&h)?)
}

fn tensor(gpu: &Gpu, w: &Weights, name: &str, shape: &[usize]) -> Result<CudaSlice<f16>> {
    up(gpu, &w.expect(name, shape)?.data)
}

/// Uploads `embeddings.*`.
pub(crate) fn embeddings(gpu: &Gpu, c: &Config, w: &Weights) -> Result<EmbeddingTables> {
    let h = c.hidden_size;
    Ok(EmbeddingTables {
        word: tensor(gpu, w, "embeddings.word_embeddings.weight", &[c.vocab_size, h])?,
        pos: tensor(gpu, w, "embeddings.position_embeddings.weight", &[c.max_position_embeddings, h])?,
        token_type: tensor(gpu, w, "embeddings.token_type_embeddings.weight", &[c.type_vocab_size, h])?,
        gamma: tensor(gpu, w, "embeddings.LayerNorm.weight", &[h])?,
        beta: tensor(gpu, w, "embeddings.LayerNorm.bias", &[h])?,
        hidden: h,
    })
}

/// Uploads `encoder.layer.{i}.*`.
pub(crate) fn layer(gpu: &Gpu, c: &Config, w: &Weights, i: usize) -> Result<DeviceLayer> {
    let (h, f) = (c.hidden_size, c.intermediate_size);
    let p = |s: &str| format!("encoder.layer.{i}.{s}");
    let mut qkv_w = Vec::with_capacity(3 * h * h);
    let mut qkv_b = Vec::with_capacity(3 * h);
    for n in ["query", "key", "value"] {
        qkv_w.extend_from_slice(&w.expect(&p(&format!("attention.self.{n}.weight")), &[h, h])?.data);
        qkv_b.extend_from_slice(&w.expect(&p(&format!("attention.self.{n}.bias")), &[h])?.data);
    }
    let t = |name: &str, shape: &[usize]| tensor(gpu, w, &p(name), shape);
    Ok(DeviceLayer {
        qkv_w: up(gpu, &qkv_w)?,
        qkv_b: up(gpu, &qkv_b)?,
        attn_out_w: t("attention.output.dense.weight", &[h, h])?,
        attn_out_b: t("attention.output.dense.bias", &[h])?,
        attn_ln_g: t("attention.output.LayerNorm.weight", &[h])?,
        attn_ln_b: t("attention.output.LayerNorm.bias", &[h])?,
        inter_w: t("intermediate.dense.weight", &[f, h])?,
        inter_b: t("intermediate.dense.bias", &[f])?,
        out_w: t("output.dense.weight", &[h, f])?,
        out_b: t("output.dense.bias", &[h])?,
        out_ln_g: t("output.LayerNorm.weight", &[h])?,
        out_ln_b: t("output.LayerNorm.bias", &[h])?,
    })
}
