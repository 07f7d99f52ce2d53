//! The Trainer end to end on the fixtures (tiny-mlm as the base): the loss falls, a run is deterministic for a
//! seed, the written directory is an HF checkpoint the inference engine loads with the trainer's own logits, the
//! NER dev score comes from the eval-ner protocol, and bad data is an error naming the file and record.
use roberta_train::model::{Model, Task};
use roberta_train::train::{train, TrainArgs};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("roberta-train-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The first `n` sentences of the dev split as a CoNLL file.
fn conll(dir: &Path, n: usize) -> PathBuf {
    let text = std::fs::read_to_string(fixtures().join("corpora/pharmaconer/dev.txt")).unwrap();
    let mut out = String::new();
    let mut k = 0;
    for line in text.lines() {
        out.push_str(line);
        out.push('\n');
        if line.trim().is_empty() {
            k += 1;
            if k == n {
                break;
            }
        }
    }
    let p = dir.join("train.conll");
    std::fs::write(&p, out).unwrap();
    p
}

fn args(dir: &Path, train_file: PathBuf, out: &str) -> TrainArgs {
    TrainArgs {
        task: Task::Token,
        model: fixtures().join("models/tiny-mlm"),
        train: train_file,
        out: dir.join(out),
        labels: Some(fixtures().join("corpora/pharmaconer/labels.txt")),
        epochs: 3,
        batch_size: 8,
        lr: 5e-4,
        weight_decay: 0.01,
        warmup_ratio: 0.1,
        max_length: 64,
        seed: 3,
        ..TrainArgs::default()
    }
}

#[test]
fn ner_training_learns_is_deterministic_and_writes_an_hf_checkpoint() {
    let dir = scratch("ner");
    let data = conll(&dir, 48);
    let mut a = args(&dir, data.clone(), "a");
    a.dev = Some(data.clone());
    a.eval_every_epoch = true;
    let mut seen = 0;
    let report = train(&a, &mut |step, total, loss, lr, _| {
        assert!(step <= total && loss.is_finite() && lr >= 0.0);
        seen += 1;
    })
    .unwrap();
    assert_eq!(report.steps, 3 * 6);
    assert_eq!(seen, 18);
    let losses: Vec<f32> = report.epochs.iter().map(|e| e.loss).collect();
    assert!(losses[2] < losses[0] * 0.8, "the loss should fall: {losses:?}");
    assert!(report.epochs.iter().all(|e| e.dev_score.is_some()));
    // the same seed gives the same bytes
    let b = args(&dir, data.clone(), "b");
    train(&b, &mut |_, _, _, _, _| {}).unwrap();
    let c = args(&dir, data, "c");
    train(&TrainArgs { seed: 4, ..c }, &mut |_, _, _, _, _| {}).unwrap();
    let (wb, wc) = (std::fs::read(dir.join("b/model.safetensors")).unwrap(), std::fs::read(dir.join("c/model.safetensors")).unwrap());
    // a run with eval each epoch keeps the best epoch's weights; b ran without evaluation: compare b with a rerun
    let b2 = args(&dir, conll(&dir, 48), "b2");
    train(&b2, &mut |_, _, _, _, _| {}).unwrap();
    assert_eq!(wb, std::fs::read(dir.join("b2/model.safetensors")).unwrap(), "same seed, same weights");
    assert_ne!(wb, wc, "another seed, other weights");
    // the inference engine loads it (RobertaForTokenClassification, the labels) and gives the trainer's logits
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("b/config.json")).unwrap()).unwrap();
    assert_eq!(cfg["architectures"][0], "RobertaForTokenClassification");
    assert_eq!(cfg["id2label"]["5"], "B-PROTEINAS");
    assert!(dir.join("b/vocab.json").exists() && dir.join("b/merges.txt").exists());
    let labels: Vec<String> = std::fs::read_to_string(fixtures().join("corpora/pharmaconer/labels.txt")).unwrap().lines().map(String::from).collect();
    let ours = Model::load(&dir.join("b"), Task::Token, labels, 0).unwrap();
    let engine = roberta::Model::load(dir.join("b"), roberta::Device::Cpu).unwrap();
    let tok = engine.tokenizer().unwrap();
    let e = tok.encode("Se pautó tratamiento con amoxicilina y omeprazol.");
    let n = e.ids.len();
    let batch = roberta_train::model::Batch { ids: e.ids.clone(), mask: vec![1; n], labels: vec![-100; n], batch: 1, seq: n };
    let mine = ours.predict(&batch);
    let mask = vec![1u32; n];
    let input = roberta::BatchInput { token_type_ids: None, input_ids: &e.ids, attention_mask: &mask, batch: 1, seq_len: n };
    let out = engine.encode(&input, false).unwrap();
    let (_, theirs) = engine.logits(&out.last_hidden_state, 1, n).unwrap();
    let worst = mine.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst <= 1e-4, "trainer vs engine logits: {worst}");
    // every pipeline command's loader takes it
    let ner = roberta::Ner::new(engine, roberta::Aggregation::First).unwrap();
    assert!(ner.run(&["Se pautó omeprazol."]).remove(0).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn classification_training_writes_a_sequence_classifier() {
    let dir = scratch("cls");
    let texts = ["Dolor torácico intenso.", "Sin alteraciones.", "Fiebre alta y tos.", "Exploración normal.", "Disnea progresiva.", "Paciente asintomático."];
    let mut jsonl = String::new();
    for (i, t) in texts.iter().cycle().take(24).enumerate() {
        let label = if i % 2 == 0 { "anormal" } else { "normal" };
        jsonl.push_str(&serde_json::json!({ "text": t, "label": label }).to_string());
        jsonl.push('\n');
    }
    let data = dir.join("train.jsonl");
    std::fs::write(&data, jsonl).unwrap();
    let a = TrainArgs { task: Task::Sequence, labels: None, dev: Some(data.clone()), epochs: 4, ..args(&dir, data, "out") };
    let report = train(&a, &mut |_, _, _, _, _| {}).unwrap();
    let acc = report.epochs.last().unwrap().dev_score.unwrap();
    assert!(acc >= 0.9, "the six texts should be learnt: accuracy {acc}");
    let m = roberta::Model::load(dir.join("out"), roberta::Device::Cpu).unwrap();
    let cls = roberta::Classifier::new(m, None).unwrap();
    let out = cls.run(&["Dolor torácico intenso."]).remove(0).unwrap();
    assert_eq!(out.value[0].label, "anormal");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_data_names_the_file_and_record() {
    let dir = scratch("bad");
    let data = dir.join("train.conll");
    std::fs::write(&data, "Dolor\tO\ntorácico\tB-SINTOMA\n\n").unwrap();
    let e = train(&args(&dir, data, "out"), &mut |_, _, _, _, _| {}).unwrap_err().to_string();
    assert!(e.contains("train.conll") && e.contains("B-SINTOMA") && e.contains("sentence 1"), "{e}");
    let cls = dir.join("train.jsonl");
    std::fs::write(&cls, "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": 3}\n").unwrap();
    let a = TrainArgs { task: Task::Sequence, labels: None, ..args(&dir, cls, "out") };
    let e = train(&a, &mut |_, _, _, _, _| {}).unwrap_err().to_string();
    assert!(e.contains("train.jsonl: line 2"), "{e}");
    let bert = TrainArgs { model: fixtures().join("models/bert-ner"), ..args(&dir, dir.join("train.conll"), "out") };
    let e = train(&bert, &mut |_, _, _, _, _| {}).unwrap_err().to_string();
    assert!(e.contains("RoBERTa family"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
