//! The backward pass and AdamW against PyTorch (tests/fixtures/reference/train_reference.safetensors, written by
//! tests/fixtures/gen/make_train_reference.py): for the token- and the sequence-classification head, the loss and
//! every parameter's gradient of one batch (‖·‖-relative ≤ 1e-4 per tensor, dropout off), and the weights after 3
//! steps of torch's AdamW with Trainer's decay groups, clip_grad_norm_(1.0) and the linear warm-up schedule.
use roberta_train::adamw::{clip_grad_norm, linear_schedule, AdamW};
use roberta_train::model::{Batch, Model, Task};
use safetensors::SafeTensors;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn f32s(st: &SafeTensors, name: &str) -> Vec<f32> {
    let t = st.tensor(name).unwrap_or_else(|_| panic!("reference has no {name}"));
    assert_eq!(t.dtype(), safetensors::Dtype::F32, "{name}");
    t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

fn i64s(st: &SafeTensors, name: &str) -> Vec<i64> {
    let t = st.tensor(name).unwrap();
    assert_eq!(t.dtype(), safetensors::Dtype::I64, "{name}");
    t.data().chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap())).collect()
}

/// ‖a − b‖ / ‖b‖ (absolute when b is 0).
fn rel(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a.iter().zip(b).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum::<f64>().sqrt();
    let den: f64 = b.iter().map(|&y| (y as f64).powi(2)).sum::<f64>().sqrt();
    if den == 0.0 { num } else { num / den }
}

/// A parameter's values (or gradient) in the reference, its parts concatenated as the model holds them.
fn reference(st: &SafeTensors, prefix: &str, parts: &[(String, Vec<usize>)]) -> Vec<f32> {
    parts.iter().flat_map(|(n, _)| f32s(st, &format!("{prefix}{n}"))).collect()
}

fn setup(task: Task) -> (Vec<u8>, Model, Batch) {
    let bytes = std::fs::read(fixtures().join("reference/train_reference.safetensors")).unwrap();
    let labels = ["O", "B-A", "I-A", "B-B", "I-B"].map(String::from).to_vec();
    let model = Model::load(&fixtures().join("models/train-tiny"), task, labels, 1).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let ids: Vec<u32> = i64s(&st, "input_ids").iter().map(|&x| x as u32).collect();
    let mask: Vec<u32> = i64s(&st, "attention_mask").iter().map(|&x| x as u32).collect();
    let labels = i64s(&st, if task == Task::Token { "token_labels" } else { "sequence_labels" });
    let batch = Batch { ids, mask, labels, batch: 3, seq: 12 };
    (bytes, model, batch)
}

fn check(task: Task, tag: &str) {
    let (bytes, mut model, batch) = setup(task);
    let st = SafeTensors::deserialize(&bytes).unwrap();
    model.zero_grad();
    let cache = model.forward(&batch, false, 0, 0);
    let (loss, _) = model.backward(&batch, &cache);
    let want = f32s(&st, &format!("{tag}.loss"))[0];
    assert!((loss - want).abs() <= 1e-5 * want.abs().max(1.0), "{tag}: loss {loss} vs torch {want}");
    let mut worst = (0.0f64, String::new());
    for p in &model.params {
        let r = rel(&p.grad, &reference(&st, &format!("{tag}.grad."), &p.parts));
        assert!(r <= 1e-4, "{tag}: gradient of {}: relative error {r:.2e}", p.name);
        if r > worst.0 {
            worst = (r, p.name.clone());
        }
    }
    eprintln!("{tag}: loss {loss} (torch {want}); worst gradient {:.2e} ({})", worst.0, worst.1);
    // 3 AdamW steps
    let (_, mut model, batch) = setup(task);
    let before: Vec<Vec<f32>> = model.params.iter().map(|p| p.data.clone()).collect();
    let mut opt = AdamW::new(&model.params, 0.01);
    for step in 0..3 {
        model.zero_grad();
        let cache = model.forward(&batch, false, 0, step as u64);
        model.backward(&batch, &cache);
        clip_grad_norm(&mut model.params, 1.0);
        opt.step(&mut model.params, 1e-3 * linear_schedule(step, 1, 4));
    }
    let mut worst = 0.0f64;
    for (p, b) in model.params.iter().zip(&before) {
        let want = reference(&st, &format!("{tag}.after3."), &p.parts);
        assert!(rel(&p.data, &want) <= 1e-5, "{tag}: {} after 3 steps: {:.2e}", p.name, rel(&p.data, &want));
        let ours: Vec<f32> = p.data.iter().zip(b).map(|(a, b)| a - b).collect();
        let theirs: Vec<f32> = want.iter().zip(b).map(|(a, b)| a - b).collect();
        let r = rel(&ours, &theirs);
        assert!(r <= 2e-3, "{tag}: {} update after 3 steps: relative error {r:.2e}", p.name);
        worst = worst.max(r);
    }
    eprintln!("{tag}: worst AdamW update error after 3 steps {worst:.2e}");
}

#[test]
fn token_classification_matches_pytorch() {
    check(Task::Token, "token");
}

#[test]
fn sequence_classification_matches_pytorch() {
    check(Task::Sequence, "sequence");
}
