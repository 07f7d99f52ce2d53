//! The model's weights on the device, in f16, uploaded once: embeddings tables and, per layer, the fused
//! `[3H, H]` QKV projection (HF's query, key, value rows stacked, as the CPU encoder fuses them), the
//! attention output projection, the FFN and the two LayerNorms. Read tensor by tensor from a
//! [`TensorSource`] (names from [`names`], shapes checked like the CPU encoder's), so no f32 copy of the whole
//! checkpoint is ever on the host.
use crate::config::Config;
use crate::error::Result;
use roberta_checkpoint::{names, TensorSource};
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

/// Reads tensor `name` (checked against `shape`) rounded to f16 and uploads it; only this one tensor is on the
/// host meanwhile.
fn upload_tensor(gpu: &Gpu, src: &dyn TensorSource, name: &str, shape: &[usize]) -> Result<CudaSlice<f16>> {
    Ok(gpu.upload(&src.read_f16(name, shape)?)?)
}

/// Uploads `embeddings.*`.
pub(crate) fn embeddings(gpu: &Gpu, c: &Config, src: &dyn TensorSource) -> Result<EmbeddingTables> {
    use names::embeddings as n;
    let h = c.hidden_size;
    Ok(EmbeddingTables {
        word: upload_tensor(gpu, src, n::WORD, &[c.vocab_size, h])?,
        pos: upload_tensor(gpu, src, n::POSITION, &[c.max_position_embeddings, h])?,
        token_type: upload_tensor(gpu, src, n::TOKEN_TYPE, &[c.type_vocab_size, h])?,
        gamma: upload_tensor(gpu, src, n::LN_WEIGHT, &[h])?,
        beta: upload_tensor(gpu, src, n::LN_BIAS, &[h])?,
        hidden: h,
    })
}

/// Uploads `encoder.layer.{i}.*`.
pub(crate) fn layer(gpu: &Gpu, c: &Config, src: &dyn TensorSource, i: usize) -> Result<DeviceLayer> {
    let (h, f) = (c.hidden_size, c.intermediate_size);
    let n = names::layer(i);
    let mut qkv_w = Vec::with_capacity(3 * h * h);
    let mut qkv_b = Vec::with_capacity(3 * h);
    for (w, b) in n.qkv_weight.iter().zip(&n.qkv_bias) {
        qkv_w.extend_from_slice(&src.read_f16(w, &[h, h])?);
        qkv_b.extend_from_slice(&src.read_f16(b, &[h])?);
    }
    let t = |name: &str, shape: &[usize]| upload_tensor(gpu, src, name, shape);
    Ok(DeviceLayer {
        qkv_w: gpu.upload(&qkv_w)?,
        qkv_b: gpu.upload(&qkv_b)?,
        attn_out_w: t(&n.attn_out_weight, &[h, h])?,
        attn_out_b: t(&n.attn_out_bias, &[h])?,
        attn_ln_g: t(&n.attn_ln_weight, &[h])?,
        attn_ln_b: t(&n.attn_ln_bias, &[h])?,
        inter_w: t(&n.inter_weight, &[f, h])?,
        inter_b: t(&n.inter_bias, &[f])?,
        out_w: t(&n.out_weight, &[h, f])?,
        out_b: t(&n.out_bias, &[h])?,
        out_ln_g: t(&n.out_ln_weight, &[h])?,
        out_ln_b: t(&n.out_ln_bias, &[h])?,
    })
}
