//! Sentence embeddings from hidden states: mean over the attention mask, or the `<s>` token; optional L2 norm.

/// How one vector is made from a sequence's hidden states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Pooling {
    /// Mean over the positions where the attention mask is 1 (special tokens included, as sentence-transformers).
    #[default]
    Mean,
    /// The hidden state of `<s>` (position 0).
    Cls,
}

impl std::str::FromStr for Pooling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            _ => Err(format!("unknown pooling {s:?} (mean, cls)")),
        }
    }
}

/// Sums the masked rows of one sequence `[seq_len, width]` into `acc`; returns how many rows were added.
pub fn masked_sum(hidden: &[f32], mask: &[u32], width: usize, acc: &mut [f32]) -> usize {
    let mut n = 0;
    for (row, &m) in hidden.chunks_exact(width).zip(mask) {
        if m != 0 {
            add_row(acc, row);
            n += 1;
        }
    }
    n
}

/// Sums every row of `[rows, width]` (a sequence's real tokens) into `acc`, in order; returns how many.
pub fn sum_rows(rows: &[f32], width: usize, acc: &mut [f32]) -> usize {
    rows.chunks_exact(width).map(|row| add_row(acc, row)).count()
}

fn add_row(acc: &mut [f32], row: &[f32]) {
    for (a, &x) in acc.iter_mut().zip(row) {
        *a += x;
    }
}

/// One vector per sequence of a `[batch, seq_len, width]` batch.
pub fn pool(hidden: &[f32], mask: &[u32], batch: usize, seq_len: usize, width: usize, how: Pooling) -> Vec<Vec<f32>> {
    (0..batch)
        .map(|b| {
            let h = &hidden[b * seq_len * width..(b + 1) * seq_len * width];
            match how {
                Pooling::Cls => h[..width].to_vec(),
                Pooling::Mean => {
                    let mut acc = vec![0.0f32; width];
                    let n = masked_sum(h, &mask[b * seq_len..(b + 1) * seq_len], width, &mut acc);
                    acc.iter_mut().for_each(|a| *a /= n.max(1) as f32);
                    acc
                }
            }
        })
        .collect()
}

/// Scales a vector to unit L2 norm (a zero vector stays zero).
pub fn l2_normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_ignores_padding_and_cls_takes_row_zero() {
        let h = [1.0, 2.0, 3.0, 4.0, 100.0, 100.0];
        let m = [1, 1, 0];
        assert_eq!(pool(&h, &m, 1, 3, 2, Pooling::Mean), vec![vec![2.0, 3.0]]);
        assert_eq!(pool(&h, &m, 1, 3, 2, Pooling::Cls), vec![vec![1.0, 2.0]]);
        let mut v = [3.0, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
    }
}
