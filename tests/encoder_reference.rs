//! The CPU encoder and heads against HF `transformers` references (tests/fixtures/reference): every hidden
//! state and the logits within 1e-4 absolute at positions where attention_mask is 1.
use roberta_checkpoint::{convert_bin_to_safetensors, safetensors::SafetensorsFile};
use roberta_encoder::{BatchInput, Config, RobertaModel, Weights};
use roberta_heads::Head;
use roberta_tests::{fixture, max_err, reference, scratch_dir, Reference};
use std::path::Path;

const TOL: f32 = 1e-4;

/// Runs the model of `dir` on the reference batch: (hidden states, logits).
fn run(dir: &Path, r: &Reference) -> (Vec<Vec<f32>>, Vec<f32>) {
    let cfg = Config::from_file(&dir.join("config.json")).unwrap();
    let w = Weights::load_dir(dir).unwrap();
    let model = RobertaModel::load(&cfg, &w).unwrap();
    let head = Head::from_architecture(&cfg, &w).unwrap().expect("a head");
    let input = BatchInput { token_type_ids: None, input_ids: &r.ids, attention_mask: &r.mask, batch: r.batch, seq_len: r.seq_len };
    let out = model.forward(&input, true).unwrap();
    assert_eq!(out.hidden_states.len(), cfg.num_hidden_layers + 1);
    assert_eq!(out.hidden_states.last().unwrap(), &out.last_hidden_state);
    let logits = head.logits(&out.last_hidden_state, r.batch, r.seq_len, cfg.hidden_size);
    (out.hidden_states, logits)
}

fn check(model: &str, reference_name: &str) {
    let r = reference(reference_name);
    let (hidden, logits) = run(&fixture(&format!("models/{model}")), &r);
    let tok: Vec<bool> = r.mask.iter().map(|&m| m != 0).collect();
    for (i, h) in hidden.iter().enumerate() {
        let t = r.file.f32(&format!("hidden_states.{i}")).unwrap();
        let e = max_err(h, &t.data, *t.shape.last().unwrap(), &tok);
        assert!(e <= TOL, "{model} hidden_states.{i}: max abs error {e:e}");
    }
    let t = r.file.f32("logits").unwrap();
    let width = *t.shape.last().unwrap();
    let rows = if t.shape.len() == 2 { vec![true; r.batch] } else { tok };
    let e = max_err(&logits, &t.data, width, &rows);
    assert!(e <= TOL, "{model} logits: max abs error {e:e}");
}

#[test]
fn mlm_from_pytorch_bin_matches_hf() {
    check("tiny-mlm", "mlm");
}

#[test]
fn ner_from_f16_safetensors_matches_hf() {
    check("tiny-ner", "ner");
}

#[test]
fn cls_from_bf16_safetensors_matches_hf() {
    check("tiny-cls", "cls");
}

/// The same tensor names, each with the same shape and values.
fn assert_same_weights(a: &Weights, b: &Weights) {
    assert_eq!(a.names(), b.names());
    for n in a.names() {
        assert_eq!(a.get(n), b.get(n), "{n}");
    }
}

#[test]
fn bin_and_converted_safetensors_are_identical() {
    let src = fixture("models/tiny-mlm");
    let dir = scratch_dir("convert");
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    convert_bin_to_safetensors(&src.join("pytorch_model.bin"), &dir.join("model.safetensors")).unwrap();
    assert_same_weights(&Weights::load_dir(&src).unwrap(), &Weights::load_dir(&dir).unwrap());
    let r = reference("mlm");
    assert_eq!(run(&src, &r), run(&dir, &r));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn loader_normalises_names_ties_decoder_and_drops_buffers() {
    let w = Weights::load_dir(&fixture("models/tiny-mlm")).unwrap();
    assert!(w.contains("embeddings.word_embeddings.weight"));
    assert!(w.contains("roberta.embeddings.word_embeddings.weight"));
    assert!(!w.contains("embeddings.position_ids"));
    // torch saves the tied decoder as the embeddings' storage: the same values
    assert_eq!(w.get("lm_head.decoder.weight"), w.get("embeddings.word_embeddings.weight"));
    // with tie_word_embeddings (the default) the decoder is read from the word embeddings, as HF ties them
    let cfg = Config::from_file(&fixture("models/tiny-mlm/config.json")).unwrap();
    assert!(cfg.tie_word_embeddings);
    assert_eq!(roberta_checkpoint::names::lm_head::decoder_weight(cfg.tie_word_embeddings), "embeddings.word_embeddings.weight");
    // the streaming readers list the same tensors as the whole-checkpoint load
    for m in ["tiny-mlm", "tiny-ner"] {
        let files = roberta_checkpoint::ModelFiles::resolve(&fixture(&format!("models/{m}"))).unwrap();
        let src = files.open_weights().unwrap();
        let whole = Weights::load_dir(&files.dir).unwrap();
        assert_eq!(src.names(), roberta_checkpoint::TensorSource::names(&whole), "{m}");
        for n in src.names() {
            let shape = src.shape(&n).unwrap();
            assert_eq!(src.read_f32(&n, &shape).unwrap(), whole.get(&n).unwrap().data, "{m}: {n}");
        }
    }
}

#[test]
fn padded_batch_equals_each_sequence_alone() {
    let dir = fixture("models/tiny-ner");
    let cfg = Config::from_file(&dir.join("config.json")).unwrap();
    let model = RobertaModel::load(&cfg, &Weights::load_dir(&dir).unwrap()).unwrap();
    let r = reference("ner");
    let input = BatchInput { token_type_ids: None, input_ids: &r.ids, attention_mask: &r.mask, batch: r.batch, seq_len: r.seq_len };
    let all = model.forward(&input, false).unwrap().last_hidden_state;
    let h = cfg.hidden_size;
    for b in 0..r.batch {
        let len = r.mask[b * r.seq_len..(b + 1) * r.seq_len].iter().filter(|&&m| m != 0).count();
        let ids = &r.ids[b * r.seq_len..b * r.seq_len + len];
        let mask = vec![1u32; len];
        let one = model.forward(&BatchInput { token_type_ids: None, input_ids: ids, attention_mask: &mask, batch: 1, seq_len: len }, false).unwrap();
        let e = max_err(&one.last_hidden_state, &all[b * r.seq_len * h..(b * r.seq_len + len) * h], h, &vec![true; len]);
        assert!(e < 1e-5, "sequence {b}: {e:e}");
    }
}

#[test]
fn forward_rejects_bad_input() {
    let dir = fixture("models/tiny-cls");
    let cfg = Config::from_file(&dir.join("config.json")).unwrap();
    let model = RobertaModel::load(&cfg, &Weights::load_dir(&dir).unwrap()).unwrap();
    let ids = vec![5u32; 513];
    let mask = vec![1u32; 513];
    let e = model.forward(&BatchInput { token_type_ids: None, input_ids: &ids, attention_mask: &mask, batch: 1, seq_len: 513 }, false).unwrap_err();
    assert!(e.to_string().contains("513") && e.to_string().contains("512"), "{e}");
    assert!(model.forward(&BatchInput { token_type_ids: None, input_ids: &ids[..512], attention_mask: &mask[..512], batch: 1, seq_len: 512 }, false).is_ok());
    let ids = [0u32, 8000, 2];
    let e = model.forward(&BatchInput { token_type_ids: None, input_ids: &ids, attention_mask: &[1, 1, 1], batch: 1, seq_len: 3 }, false).unwrap_err();
    assert!(e.to_string().contains("8000"), "{e}");
    let e = model.forward(&BatchInput { token_type_ids: None, input_ids: &ids, attention_mask: &[1, 1], batch: 1, seq_len: 3 }, false).unwrap_err();
    assert!(e.to_string().contains("mask"), "{e}");
}

/// A checkpoint split as `transformers` shards it (`model.safetensors.index.json` + two shard files) loads to
/// the same model as the single file, through every loader; a broken index is an error naming it.
#[test]
fn sharded_safetensors_load_like_the_single_file() {
    let src = fixture("models/tiny-ner");
    let dir = scratch_dir("sharded");
    for f in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let st = SafetensorsFile::open(&src.join("model.safetensors")).unwrap();
    let (first, second) = st.entries.split_at(st.entries.len() / 2);
    let mut map = serde_json::Map::new();
    for (k, part) in [first, second].iter().enumerate() {
        let name = format!("model-{:05}-of-00002.safetensors", k + 1);
        let recs: Vec<(&str, roberta_checkpoint::DType, &[usize], &[u8])> =
            part.iter().map(|e| (e.name.as_str(), e.dtype, e.shape.as_slice(), st.bytes(e))).collect();
        roberta_checkpoint::safetensors::write_raw(&dir.join(&name), &recs).unwrap();
        for e in part.iter() {
            map.insert(e.name.clone(), name.clone().into());
        }
    }
    let index = dir.join("model.safetensors.index.json");
    let write_index = |map: &serde_json::Map<String, serde_json::Value>| {
        std::fs::write(&index, serde_json::json!({"metadata": {"total_size": 0}, "weight_map": map}).to_string()).unwrap()
    };
    write_index(&map);
    let files = roberta_checkpoint::ModelFiles::resolve(&dir).unwrap();
    assert_eq!(files.weights, roberta_checkpoint::WeightsFile::ShardedSafetensors(index.clone()));
    let b = Weights::load_dir(&dir).unwrap();
    assert_same_weights(&Weights::load_dir(&src).unwrap(), &b);
    let r = reference("ner");
    assert_eq!(run(&src, &r), run(&dir, &r));
    let cfg = Config::from_file(&dir.join("config.json")).unwrap();
    let streamed = RobertaModel::load_dir(&cfg, &dir).unwrap();
    let whole = RobertaModel::load(&cfg, &b).unwrap();
    let input = BatchInput { token_type_ids: None, input_ids: &r.ids, attention_mask: &r.mask, batch: r.batch, seq_len: r.seq_len };
    assert_eq!(streamed.forward(&input, false).unwrap().last_hidden_state, whole.forward(&input, false).unwrap().last_hidden_state);
    let ner = roberta::Ner::new(roberta::Model::load(&dir, roberta::Device::Cpu).unwrap(), roberta::Aggregation::Simple).unwrap();
    let single = roberta::Ner::new(roberta::Model::load(&src, roberta::Device::Cpu).unwrap(), roberta::Aggregation::Simple).unwrap();
    let text = ["Se pautó omeprazol y cisplatino."];
    assert_eq!(ner.run(&text).remove(0).unwrap(), single.run(&text).remove(0).unwrap());

    // a tensor the index places in a shard that does not hold it
    let (moved, _) = map.iter().next().map(|(k, v)| (k.clone(), v.clone())).unwrap();
    let mut wrong = map.clone();
    let other = if map[&moved] == "model-00001-of-00002.safetensors" { "model-00002-of-00002.safetensors" } else { "model-00001-of-00002.safetensors" };
    wrong.insert(moved.clone(), other.into());
    write_index(&wrong);
    let e = Weights::load_dir(&dir).err().unwrap().to_string();
    assert!(e.contains("model.safetensors.index.json") && e.contains(&moved) && e.contains(other), "{e}");
    // a shard that is not there, and a name reaching outside the folder
    let mut missing = map.clone();
    missing.insert(moved.clone(), "model-00003-of-00002.safetensors".into());
    write_index(&missing);
    let e = roberta::Model::load(&dir, roberta::Device::Cpu).err().unwrap().to_string();
    assert!(e.contains("model-00003-of-00002.safetensors"), "{e}");
    missing.insert(moved, "../model.safetensors".into());
    write_index(&missing);
    let e = RobertaModel::load_dir(&cfg, &dir).err().unwrap().to_string();
    assert!(e.contains("bad safetensors index") && e.contains("inside the checkpoint's folder"), "{e}");
    std::fs::write(&index, "{").unwrap();
    let e = RobertaModel::load_dir(&cfg, &dir).err().unwrap().to_string();
    assert!(e.contains("model.safetensors.index.json: bad safetensors index: not JSON"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
