//! What the pipelines do with a row of logits: softmax, argmax, and HF's name for a label without one.

/// Softmax of one row, as numpy does it in HF's pipelines (f32, max-shifted).
pub fn softmax(row: &[f32]) -> Vec<f32> {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = row.iter().map(|&x| (x - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.into_iter().map(|x| x / s).collect()
}

/// The index of the largest value (the first of equals, as numpy's argmax).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// HF's name for label `i` when `id2label` has none: `LABEL_{i}`.
pub fn default_label(i: usize) -> String {
    format!("LABEL_{i}")
}
