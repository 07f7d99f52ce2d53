//! Batches, for both backends: what goes in ([`BatchInput`], padded `[batch, seq_len]` ids and mask), what comes
//! out ([`EncoderOutput`], padded like HF's; [`TokenRows`], the real tokens only, sequence after sequence), and
//! how a batch is laid out as rows ([`BatchPlan`]: packed, only the real tokens; or padded, every position with
//! a key mask) and how rows go back to the padded layout.
use crate::config::Config;
use crate::error::{EncoderError, Result};

/// A batch of token ids, row-major `[batch, seq_len]`, with its attention mask (1 = token, 0 = padding) and, for
/// BERT's sentence pairs, its token type (segment) ids.
#[derive(Debug, Clone, Copy)]
pub struct BatchInput<'a> {
    /// Token type ids `[batch, seq_len]` (BERT: 0 for the first text, 1 for the second of a pair); None is all
    /// zeros, as HF's default.
    pub token_type_ids: Option<&'a [u32]>,
    /// Token ids.
    pub input_ids: &'a [u32],
    /// Attention mask.
    pub attention_mask: &'a [u32],
    /// Number of sequences.
    pub batch: usize,
    /// Length of every (padded) sequence.
    pub seq_len: usize,
}

impl BatchInput<'_> {
    /// Checks the batch against a model's config: lengths, the position limit (512 for RoBERTa-base), ids inside
    /// the vocabulary. Every backend calls this before it runs.
    pub fn check(&self, c: &Config) -> Result<()> {
        let n = self.batch * self.seq_len;
        if self.input_ids.len() != n || self.attention_mask.len() != n {
            return Err(EncoderError::Input(format!(
                "batch {}×{} needs {n} ids and mask values, got {} and {}",
                self.batch,
                self.seq_len,
                self.input_ids.len(),
                self.attention_mask.len()
            )));
        }
        if let Some(t) = self.token_type_ids {
            if t.len() != n {
                return Err(EncoderError::Input(format!("batch {}×{} needs {n} token type ids, got {}", self.batch, self.seq_len, t.len())));
            }
            if let Some((i, &v)) = t.iter().enumerate().find(|(_, &v)| v as usize >= c.type_vocab_size) {
                return Err(EncoderError::Input(format!(
                    "token type id {v} at batch {} position {} is outside the model's {} token types",
                    i / self.seq_len.max(1),
                    i % self.seq_len.max(1),
                    c.type_vocab_size
                )));
            }
        }
        let max = c.max_seq_len();
        if self.seq_len > max {
            return Err(EncoderError::Input(format!("sequence length {} exceeds the model's maximum {max}", self.seq_len)));
        }
        if let Some((i, &id)) = self.input_ids.iter().enumerate().find(|(_, &id)| id as usize >= c.vocab_size) {
            return Err(EncoderError::Input(format!(
                "token id {id} at batch {} position {} is outside the vocabulary ({})",
                i / self.seq_len,
                i % self.seq_len,
                c.vocab_size
            )));
        }
        Ok(())
    }
}

/// What the encoder returns.
#[derive(Debug, Clone, Default)]
pub struct EncoderOutput {
    /// `[batch * seq_len * hidden]`.
    pub last_hidden_state: Vec<f32>,
    /// The embeddings output then each layer's output, when asked for; else empty.
    pub hidden_states: Vec<Vec<f32>>,
}


/// How a batch is laid out as rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Layout {
    /// Packed when every attention mask is right padding (ones, then zeros), else padded.
    #[default]
    Auto,
    /// Padding-free: the real tokens only; an error for a mask that is not right padding.
    Packed,
    /// Every position computed; masked keys left out of the softmax (left padding, holes in the mask).
    Padded,
}

/// One batch laid out as rows (the CUDA encoder's device rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPlan {
    /// Whether every position is a device row (else only the real tokens).
    pub padded: bool,
    /// `[0, l0, l0+l1, …]`: the device rows of each sequence.
    pub offsets: Vec<i32>,
    /// The ids of the device rows.
    pub ids: Vec<i32>,
    /// The key mask of the device rows (padded layout only).
    pub key_mask: Option<Vec<u8>>,
    /// The token type ids of the device rows, when the input has them.
    pub type_ids: Option<Vec<i32>>,
    /// Sequences.
    pub batch: usize,
    /// Padded length.
    pub seq_len: usize,
}

/// The last hidden state of the real tokens only, sequence after sequence: rows `offsets[b]..offsets[b+1]` are
/// sequence `b`'s positions `0..len_b` (a right-padded batch's ones). What the pipelines read: no padding row is
/// computed (CUDA) or kept (CPU).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenRows {
    /// `[tokens, width]`.
    pub data: Vec<f32>,
    /// `[0, l0, l0+l1, …]`, `batch + 1` entries.
    pub offsets: Vec<usize>,
    /// Values per row (the hidden size).
    pub width: usize,
}

impl TokenRows {
    /// Position `t` of sequence `b` (`t` below the sequence's length).
    pub fn row(&self, b: usize, t: usize) -> &[f32] {
        let r = self.offsets[b] + t;
        assert!(r < self.offsets[b + 1], "position {t} is past sequence {b}'s length");
        &self.data[r * self.width..(r + 1) * self.width]
    }

    /// Every row of sequence `b`, `[len_b · width]`.
    pub fn sequence(&self, b: usize) -> &[f32] {
        &self.data[self.offsets[b] * self.width..self.offsets[b + 1] * self.width]
    }

    /// Sequences.
    pub fn batch(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
}

/// The real length of a right-padded mask row, or None when the ones are not a prefix.
fn prefix_len(mask: &[u32]) -> Option<usize> {
    let n = mask.iter().take_while(|&&m| m != 0).count();
    mask[n..].iter().all(|&m| m == 0).then_some(n)
}

impl BatchPlan {
    /// Lays out `input` (already checked for sizes and ids).
    pub fn new(input: &BatchInput, layout: Layout) -> Result<BatchPlan> {
        let (b, t) = (input.batch, input.seq_len);
        let lens: Option<Vec<usize>> = if t == 0 {
            Some(vec![0; b])
        } else {
            input.attention_mask.chunks(t).map(prefix_len).collect()
        };
        let packed = match (layout, &lens) {
            (Layout::Padded, _) => None,
            (_, Some(l)) => Some(l.clone()),
            (Layout::Auto, None) => None,
            (Layout::Packed, None) => {
                return Err(EncoderError::Input("packed layout needs right-padded attention masks (ones, then zeros)".into()))
            }
        };
        Ok(match packed {
            Some(lens) => {
                let pack = |src: &[u32]| {
                    let mut v = Vec::with_capacity(lens.iter().sum());
                    for (row, &l) in src.chunks(t.max(1)).zip(&lens) {
                        v.extend(row[..l].iter().map(|&x| x as i32));
                    }
                    v
                };
                let ids = pack(input.input_ids);
                let type_ids = input.token_type_ids.map(pack);
                BatchPlan { padded: false, offsets: roberta_gpu::seq_offsets(&lens), ids, key_mask: None, type_ids, batch: b, seq_len: t }
            }
            None => BatchPlan {
                padded: true,
                offsets: roberta_gpu::seq_offsets(&vec![t; b]),
                ids: input.input_ids.iter().map(|&v| v as i32).collect(),
                key_mask: Some(input.attention_mask.iter().map(|&m| u8::from(m != 0)).collect()),
                type_ids: input.token_type_ids.map(|t| t.iter().map(|&x| x as i32).collect()),
                batch: b,
                seq_len: t,
            },
        })
    }

    /// Device rows.
    pub fn tokens(&self) -> usize {
        *self.offsets.last().unwrap_or(&0) as usize
    }

    /// Rows of the longest sequence.
    pub fn max_len(&self) -> usize {
        self.offsets.windows(2).map(|w| (w[1] - w[0]) as usize).max().unwrap_or(0)
    }

    /// The device row of position `t` of sequence `b`, if it is one.
    pub fn row(&self, b: usize, t: usize) -> Option<usize> {
        let (s, e) = (*self.offsets.get(b)? as usize, *self.offsets.get(b + 1)? as usize);
        (t < e - s).then_some(s + t)
    }

    /// Padded `[batch·seq_len·h]` values → this plan's rows `[tokens, h]` (the inverse of [`BatchPlan::scatter`]).
    pub fn pack(&self, padded: &[f32], h: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.tokens() * h);
        for b in 0..self.batch {
            let len = (self.offsets[b + 1] - self.offsets[b]) as usize;
            out.extend_from_slice(&padded[b * self.seq_len * h..][..len * h]);
        }
        out
    }

    /// The rows' offsets as `usize`: `[0, l0, l0+l1, …]`.
    pub fn row_offsets(&self) -> Vec<usize> {
        self.offsets.iter().map(|&o| o as usize).collect()
    }

    /// Rows `[tokens, h]` (f32 or f16) → padded `[batch·seq_len·h]` f32; positions that are not rows (padding of
    /// a packed batch) are zero.
    pub fn scatter<T: Copy>(&self, rows: &[T], h: usize) -> Vec<f32>
    where
        f32: From<T>,
    {
        let mut out = vec![0f32; self.batch * self.seq_len * h];
        for b in 0..self.batch {
            let (s, e) = (self.offsets[b] as usize, self.offsets[b + 1] as usize);
            let src = &rows[s * h..e * h];
            let dst = &mut out[b * self.seq_len * h..][..(e - s) * h];
            for (d, x) in dst.iter_mut().zip(src) {
                *d = f32::from(*x);
            }
        }
        out
    }

    /// The rows `(b, t)` of rows `[tokens, h]`, as f32 `[which.len()·h]`; a padding position is zeros.
    pub fn gather<T: Copy>(&self, rows: &[T], h: usize, which: &[(usize, usize)]) -> Vec<f32>
    where
        f32: From<T>,
    {
        let mut out = vec![0f32; which.len() * h];
        for (dst, &(b, t)) in out.chunks_mut(h).zip(which) {
            if let Some(r) = self.row(b, t) {
                for (d, x) in dst.iter_mut().zip(&rows[r * h..(r + 1) * h]) {
                    *d = f32::from(*x);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roberta_gpu::f16;

    fn input<'a>(ids: &'a [u32], mask: &'a [u32], batch: usize, seq_len: usize) -> BatchInput<'a> {
        BatchInput { token_type_ids: None, input_ids: ids, attention_mask: mask, batch, seq_len }
    }

    #[test]
    fn right_padding_packs() {
        let ids = [0, 5, 2, 1, 0, 2, 1, 1];
        let mask = [1, 1, 1, 0, 1, 1, 0, 0];
        let p = BatchPlan::new(&input(&ids, &mask, 2, 4), Layout::Auto).unwrap();
        assert!(!p.padded);
        assert_eq!(p.offsets, vec![0, 3, 5]);
        assert_eq!(p.ids, vec![0, 5, 2, 0, 2]);
        assert_eq!((p.tokens(), p.max_len()), (5, 3));
        assert_eq!((p.row(1, 1), p.row(1, 2), p.row(2, 0)), (Some(4), None, None));
        let rows: Vec<f16> = (0..10).map(|i| f16::from_f32(i as f32)).collect();
        let out = p.scatter(&rows, 2);
        assert_eq!(out, vec![0., 1., 2., 3., 4., 5., 0., 0., 6., 7., 8., 9., 0., 0., 0., 0.]);
        assert_eq!(p.gather(&rows, 2, &[(1, 0), (0, 3)]), vec![6., 7., 0., 0.]);
    }

    #[test]
    fn left_padding_falls_back_to_padded() {
        let ids = [1, 0, 2, 0, 5, 2];
        let mask = [0, 1, 1, 1, 1, 1];
        let p = BatchPlan::new(&input(&ids, &mask, 2, 3), Layout::Auto).unwrap();
        assert!(p.padded);
        assert_eq!(p.offsets, vec![0, 3, 6]);
        assert_eq!(p.key_mask.as_deref(), Some(&[0u8, 1, 1, 1, 1, 1][..]));
        assert!(BatchPlan::new(&input(&ids, &mask, 2, 3), Layout::Packed).is_err());
    }

    #[test]
    fn forced_padded_and_empty_rows() {
        let ids = [0, 2, 1, 1];
        let mask = [1, 1, 0, 0];
        let p = BatchPlan::new(&input(&ids, &mask, 2, 2), Layout::Padded).unwrap();
        assert!(p.padded && p.tokens() == 4);
        let q = BatchPlan::new(&input(&ids, &mask, 2, 2), Layout::Auto).unwrap();
        assert_eq!((q.offsets.clone(), q.tokens(), q.max_len()), (vec![0, 2, 2], 2, 2));
        let e = BatchPlan::new(&input(&[], &[], 3, 0), Layout::Auto).unwrap();
        assert_eq!((e.tokens(), e.scatter::<f32>(&[], 4).len()), (0, 0));
    }
}
