//! The other families against Hugging Face: BERT (tests/fixtures/models/bert-*, reference/bert_*) and XLM-RoBERTa
//! (models/xlmr-*, reference/xlmr_*).
//!
//! BERT: `BertModel`'s embeddings (positions from 0, token types), the MLM head (`cls.predictions`), token
//! classification and sequence classification through the pooler, from safetensors (f32 and f16) and from a
//! legacy `pytorch_model.bin` with TF-style `gamma`/`beta` names; every hidden state and the logits within 1e-4,
//! on a batch with a sentence pair (token type 1); then the pipelines — fill-mask with `[MASK]`, NER with the five
//! aggregations (WordPiece's `##` sub-words), eval-ner (first piece of each word), text classification of texts
//! and pairs — identical to HF's; the int8 path close to f32.
//!
//! XLM-R: RoBERTa's graph under `model_type: xlm-roberta` with the SentencePiece Unigram tokenizer — the
//! encoder and heads within 1e-4, fill-mask with `<mask>` (which strips the spaces on its left), NER with the
//! five aggregations (HF's space heuristic for sub-words), eval-ner over 128-token windows.
use roberta::eval_ner::{evaluate, read_conll};
use roberta::{Aggregation, Classifier, FillMask, LoadOptions, Model, Ner};
use roberta_encoder::{BatchInput, Config, CpuDType, CpuOptions, Family, RobertaModel};
use roberta_heads::Head;
use roberta_tests::{fixture, lines, max_err, model, reference, Reference};
use serde_json::Value;

const TOL: f32 = 1e-4;

/// The encoder and head of `models/{model}` on the reference batch: every hidden state and the logits; for BERT
/// the batch holds a pair, whose token types must matter.
fn check_reference(model: &str, name: &str) {
    let dir = fixture(&format!("models/{model}"));
    let cfg = Config::from_file(&dir.join("config.json")).unwrap();
    let bert = cfg.family() == Family::Bert;
    assert_eq!(bert, model.starts_with("bert"));
    let src = roberta_checkpoint::ModelFiles::resolve(&dir).unwrap().open_weights().unwrap();
    let enc = RobertaModel::load(&cfg, src.as_ref()).unwrap();
    let head = Head::from_architecture(&cfg, src.as_ref()).unwrap().expect("a head");
    let r = reference(name);
    let input = BatchInput { token_type_ids: Some(&r.types), input_ids: &r.ids, attention_mask: &r.mask, batch: r.batch, seq_len: r.seq_len };
    let out = enc.forward(&input, true).unwrap();
    let tok: Vec<bool> = r.mask.iter().map(|&m| m != 0).collect();
    for (i, h) in out.hidden_states.iter().enumerate() {
        let t = r.file.f32(&format!("hidden_states.{i}")).unwrap();
        let e = max_err(h, &t.data, cfg.hidden_size, &tok);
        assert!(e <= TOL, "{model} hidden_states.{i}: max abs error {e:e}");
    }
    let logits = head.logits(&out.last_hidden_state, r.batch, r.seq_len, cfg.hidden_size);
    let (got, want, rows) = reference_logits(&r, &logits, head.num_outputs());
    let e = max_err(&got, &want, head.num_outputs(), &rows);
    assert!(e <= TOL, "{model} logits: max abs error {e:e}");
    if !bert {
        return;
    }
    assert!(r.types.contains(&1), "the BERT reference batch must hold a pair");
    // without the token types the pair's second text is embedded as type 0: a different result (the test
    // would not see a dropped type id otherwise)
    let untyped = BatchInput { token_type_ids: None, ..input };
    let h0 = enc.forward(&untyped, false).unwrap().last_hidden_state;
    let last = r.file.f32(&format!("hidden_states.{}", cfg.num_hidden_layers)).unwrap();
    assert!(max_err(&h0, &last.data, cfg.hidden_size, &tok) > 1e-3, "{model}: token types make no difference");
}

/// Our logits and the reference's, with the rows to compare: the whole `logits` tensor, or for the MLM (whose
/// full logits would weigh 2 MB) `logits_at` at the `(sequence, position)` pairs of `logits_rows`.
fn reference_logits(r: &Reference, ours: &[f32], width: usize) -> (Vec<f32>, Vec<f32>, Vec<bool>) {
    if let Ok(t) = r.file.f32("logits") {
        let rows = if t.shape.len() == 2 { vec![true; r.batch] } else { r.mask.iter().map(|&m| m != 0).collect() };
        return (ours.to_vec(), t.data, rows);
    }
    let (_, at) = r.file.i64("logits_rows").unwrap();
    let want = r.file.f32("logits_at").unwrap();
    let got: Vec<f32> = at.chunks(2).flat_map(|p| ours[(p[0] as usize * r.seq_len + p[1] as usize) * width..][..width].to_vec()).collect();
    assert_eq!(want.shape, [at.len() / 2, width]);
    (got, want.data, vec![true; at.len() / 2])
}

#[test]
fn masked_lm_matches_hf() {
    check_reference("bert-mlm", "bert_mlm");
}

#[test]
fn token_classification_f16_matches_hf() {
    check_reference("bert-ner", "bert_ner");
}

#[test]
fn sequence_classification_from_legacy_bin_matches_hf() {
    check_reference("bert-cls", "bert_cls");
}

#[test]
fn xlmr_masked_lm_matches_hf() {
    check_reference("xlmr-mlm", "xlmr_mlm");
}

#[test]
fn xlmr_token_classification_f16_matches_hf() {
    check_reference("xlmr-ner", "xlmr_ner");
}

#[test]
fn xlmr_sequence_classification_bf16_matches_hf() {
    check_reference("xlmr-cls", "xlmr_cls");
}

#[test]
fn fill_mask_matches_hf() {
    fill_mask("bert", "[MASK]");
}

#[test]
fn xlmr_fill_mask_matches_hf() {
    fill_mask("xlmr", "<mask>");
}

fn fill_mask(family: &str, mask: &str) {
    let fm = FillMask::new(model(&format!("{family}-mlm")), 5).unwrap();
    let refs = lines(&format!("reference/{family}_fill_mask.jsonl"));
    assert!(refs.len() >= 20, "{} texts", refs.len());
    let texts: Vec<&str> = refs.iter().map(|r| r["text"].as_str().unwrap()).collect();
    assert!(texts.iter().all(|t| t.contains(mask)));
    for ((r, out), text) in refs.iter().zip(fm.run(&texts)).zip(&texts) {
        let out = out.unwrap();
        let want = r["predictions"].as_array().unwrap();
        assert_eq!(out.value[0].len(), want.len(), "{text}");
        for (p, w) in out.value[0].iter().zip(want) {
            assert_eq!(p.token as u64, w["token"].as_u64().unwrap(), "{text}");
            assert_eq!(p.token_str, w["token_str"].as_str().unwrap(), "{text}");
            assert_eq!(p.sequence, w["sequence"].as_str().unwrap(), "{text}");
            let d = (p.score as f64 - w["score"].as_f64().unwrap()).abs();
            assert!(d <= 5e-5, "{text}: score {} vs {}", p.score, w["score"]);
        }
    }
}

#[test]
fn ner_matches_hf_for_every_aggregation() {
    ner("bert");
}

#[test]
fn xlmr_ner_matches_hf_for_every_aggregation() {
    ner("xlmr");
}

fn ner(family: &str) {
    let refs = lines(&format!("reference/{family}_ner_pipeline.jsonl"));
    let mut entities = 0;
    for (agg, name) in [
        (Aggregation::None, "none"),
        (Aggregation::Simple, "simple"),
        (Aggregation::First, "first"),
        (Aggregation::Average, "average"),
        (Aggregation::Max, "max"),
    ] {
        let ner = Ner::new(model(&format!("{family}-ner")), agg).unwrap();
        let recs: Vec<&Value> = refs.iter().filter(|r| r["aggregation_strategy"] == name).collect();
        assert!(recs.len() >= 20, "{name}");
        let texts: Vec<&str> = recs.iter().map(|r| r["text"].as_str().unwrap()).collect();
        let key = if name == "none" { "entity" } else { "entity_group" };
        for (r, got) in recs.iter().zip(ner.run(&texts)) {
            let got = got.unwrap();
            let want = r["entities"].as_array().unwrap();
            assert_eq!(got.value.len(), want.len(), "{name}: {}", r["text"]);
            for (g, w) in got.value.iter().zip(want) {
                assert_eq!(g.label, w[key].as_str().unwrap(), "{name}: {}", r["text"]);
                assert_eq!(g.word, w["word"].as_str().unwrap(), "{name}: {}", r["text"]);
                assert_eq!((g.start as u64, g.end as u64), (w["start"].as_u64().unwrap(), w["end"].as_u64().unwrap()), "{name}");
                let d = (g.score as f64 - w["score"].as_f64().unwrap()).abs();
                assert!(d <= 1e-5, "{name}: score {} vs {}", g.score, w["score"]);
                entities += 1;
            }
        }
    }
    assert!(entities > 20, "only {entities} entities compared");
}

#[test]
fn eval_ner_matches_hf_and_seqeval() {
    eval_ner("bert");
}

#[test]
fn xlmr_eval_ner_matches_hf_and_seqeval() {
    eval_ner("xlmr");
}

fn eval_ner(family: &str) {
    let m = model(&format!("{family}-ner"));
    let sentences = read_conll(&fixture("corpora/pharmaconer/dev.txt")).unwrap();
    let ev = evaluate(&m, &sentences).unwrap();
    let r: Value = serde_json::from_str(&std::fs::read_to_string(fixture(&format!("reference/{family}_ner_eval_dev.json"))).unwrap()).unwrap();
    let want: Vec<Vec<String>> = serde_json::from_value(r["predictions"].clone()).unwrap();
    assert_eq!(ev.predictions.len(), want.len());
    for (i, (g, w)) in ev.predictions.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "sentence {i}");
    }
    assert!((ev.report.micro.f1 - r["micro_f1"].as_f64().unwrap()).abs() <= 1e-9);
}

#[test]
fn text_classification_of_texts_and_pairs_matches_hf() {
    text_classification("bert");
}

#[test]
fn xlmr_text_classification_of_texts_and_pairs_matches_hf() {
    text_classification("xlmr");
}

fn text_classification(family: &str) {
    let cls = Classifier::new(model(&format!("{family}-cls")), None).unwrap();
    let refs = lines(&format!("reference/{family}_cls_pipeline.jsonl"));
    let mut pairs = 0;
    for r in &refs {
        let text = r["text"].as_str().unwrap();
        let pair = r.get("text_pair").and_then(Value::as_str);
        pairs += usize::from(pair.is_some());
        let got = cls.run_pairs(&[(text, pair)]).remove(0).unwrap().value;
        let want = r["predictions"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{r}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.label, w["label"].as_str().unwrap(), "{r}");
            let d = (g.score as f64 - w["score"].as_f64().unwrap()).abs();
            assert!(d <= 1e-5, "{text}: {} vs {}", g.score, w["score"]);
        }
    }
    assert!(pairs >= 5, "only {pairs} pairs");
}

/// int8 on BERT and XLM-R: the same model in int8 stays close to f32 (‖Δ‖/‖ref‖ of the last hidden state), token
/// types included, and the pipelines run on it.
#[test]
fn int8_is_close_to_f32() {
    for (model, name) in [("bert-ner", "bert_ner"), ("xlmr-ner", "xlmr_ner")] {
        let dir = fixture(&format!("models/{model}"));
        let cfg = Config::from_file(&dir.join("config.json")).unwrap();
        let r = reference(name);
        let input = BatchInput { token_type_ids: Some(&r.types), input_ids: &r.ids, attention_mask: &r.mask, batch: r.batch, seq_len: r.seq_len };
        let run = |dtype| {
            let opts = CpuOptions { dtype, ..Default::default() };
            RobertaModel::load_dir_with(&cfg, &dir, &opts).unwrap().forward(&input, false).unwrap().last_hidden_state
        };
        let (f, q) = (run(CpuDType::F32), run(CpuDType::Int8));
        let (mut num, mut den) = (0f64, 0f64);
        for ((a, b), m) in f.chunks(cfg.hidden_size).zip(q.chunks(cfg.hidden_size)).zip(&r.mask) {
            if *m != 0 {
                num += a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>();
                den += a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>();
            }
        }
        let rel = (num / den).sqrt();
        assert!(rel > 0.0 && rel < 5e-2, "{model} int8 vs f32: {rel:e}");
        let opts = LoadOptions { cpu: CpuOptions { dtype: CpuDType::Int8, ..Default::default() }, ..Default::default() };
        let m = Model::load_with(&dir, &opts).unwrap();
        let ner = Ner::new(m, Aggregation::First).unwrap();
        assert!(ner.run(&["Se administró paracetamol y amoxicilina."])[0].is_ok());
    }
}
