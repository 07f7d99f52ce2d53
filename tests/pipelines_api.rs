//! The library's pipeline API beyond HF's output (issue 19): entity spans that slice a Rust `&str` right on
//! accented text (byte offsets beside the character ones), NER word grouping by the tokenizer's words, text
//! pairs for the classifier, and options out of range refused with the limit named.
use roberta::{Aggregation, Classifier, Device, FillMask, Model, Ner, Words};
use roberta_tests::fixture;
use std::sync::Arc;

fn load(name: &str) -> Arc<Model> {
    Arc::new(Model::load(fixture(&format!("models/{name}")), Device::Cpu).unwrap())
}

const TEXT: &str = "Se inició vancomicina y se pautó paracetamol, omeprazol y amoxicilina-clavulánico por la creatinina.";

#[test]
fn entity_spans_slice_accented_text_right() {
    let ner = Ner::new(load("tiny-ner"), Aggregation::First).unwrap();
    let ents = ner.run(&[TEXT]).remove(0).unwrap().value;
    assert!(ents.len() >= 2, "{ents:?}");
    let chars: Vec<char> = TEXT.chars().collect();
    let mut shifted = false;
    for e in &ents {
        let by_chars: String = chars[e.start..e.end].iter().collect();
        assert_eq!(e.span(TEXT), by_chars, "{e:?}");
        assert_eq!(&TEXT[e.byte_start..e.byte_end], by_chars);
        shifted |= e.byte_start != e.start;
    }
    assert!(shifted, "some entity comes after an accent, so its byte and character offsets differ: {ents:?}");
    // token-level entities carry them too
    let none = Ner::new(load("tiny-ner"), Aggregation::None).unwrap();
    for e in none.run(&[TEXT]).remove(0).unwrap().value {
        assert_eq!(e.span(TEXT), chars[e.start..e.end].iter().collect::<String>());
    }
}

#[test]
fn pretokenizer_words_keep_punctuation_apart() {
    let model = load("tiny-ner");
    let hf = Ner::new(model.clone(), Aggregation::First).unwrap().run(&[TEXT]).remove(0).unwrap().value;
    let pre = Ner::new(model, Aggregation::First).unwrap().with_words(Words::Pretokenizer).run(&[TEXT]).remove(0).unwrap().value;
    let hf_words: Vec<&str> = hf.iter().map(|e| e.span(TEXT)).collect();
    let pre_words: Vec<&str> = pre.iter().map(|e| e.span(TEXT)).collect();
    assert!(hf_words.contains(&"paracetamol,"), "HF's heuristic glues the comma: {hf_words:?}");
    assert!(pre_words.contains(&"paracetamol"), "{pre_words:?}");
    assert!(pre_words.iter().all(|w| !w.ends_with(',') && !w.ends_with('.')), "{pre_words:?}");
}

#[test]
fn stride_must_stay_below_the_window() {
    let model = load("tiny-ner");
    assert_eq!(model.window_tokens(), 510);
    let err = Ner::new(model.clone(), Aggregation::First).unwrap().with_stride(510).err().expect("refused").to_string();
    assert!(err.contains("below the window of 510 tokens"), "{err}");
    let long = "dolor torácico y fiebre ".repeat(300);
    let ner = Ner::new(model, Aggregation::First).unwrap().with_stride(509).unwrap();
    assert!(ner.run(&[&long]).remove(0).is_ok());
}

#[test]
fn fill_mask_top_k_is_checked() {
    let model = load("tiny-mlm");
    for k in [0, 8001] {
        let err = FillMask::new(model.clone(), k).err().expect("refused").to_string();
        assert!(err.contains("between 1 and the vocabulary size 8000"), "{err}");
    }
    let out = FillMask::new(model, 8000).unwrap().run(&["Dolor <mask>."]).remove(0).unwrap();
    assert_eq!(out.value[0].len(), 8000);
}

#[test]
fn classifier_pairs() {
    let cls = Classifier::new(load("tiny-cls"), None).unwrap();
    let pairs = [("Dolor torácico.", Some("Dolor en el pecho.")), ("Dolor torácico.", None)];
    let out: Vec<_> = cls.run_pairs(&pairs).into_iter().map(|r| r.unwrap().value).collect();
    assert_eq!(out[1], cls.run(&["Dolor torácico."]).remove(0).unwrap().value, "None is the single text");
    assert_ne!(out[0], out[1]);
    // a pair longer than the model is cut, longest first, and says so
    let long = "fiebre ".repeat(700);
    let cut = cls.run_pairs(&[("Dolor torácico.", Some(&long))]).remove(0).unwrap();
    assert!(cut.warning.as_deref().is_some_and(|w| w.contains("truncated to the model's 512")), "{:?}", cut.warning);
}

#[test]
fn the_wrong_head_names_what_was_found() {
    let err = Ner::new(load("tiny-mlm"), Aggregation::None).err().expect("refused").to_string();
    assert!(err.contains("holds a RobertaForMaskedLM checkpoint") && err.contains("fill-mask"), "{err}");
}

#[test]
fn pretokenizer_windows_never_cut_a_word() {
    let model = load("tiny-ner");
    let long = "Se pautó amoxicilina-clavulánico y omeprazol por la procalcitonina elevada. ".repeat(60);
    let ner = Ner::new(model, Aggregation::First).unwrap().with_words(Words::Pretokenizer).with_stride(0).unwrap();
    let ents = ner.run(&[&long]).remove(0).unwrap().value;
    assert!(!ents.is_empty());
    let chars: Vec<char> = long.chars().collect();
    for e in &ents {
        // a boundary inside a run of letters would be a cut word
        let alnum = |i: Option<usize>| i.and_then(|i| chars.get(i)).is_some_and(|c| c.is_alphanumeric());
        let cut_start = alnum(e.start.checked_sub(1)) && alnum(Some(e.start));
        let cut_end = alnum(e.end.checked_sub(1)) && alnum(Some(e.end));
        assert!(!cut_start && !cut_end, "a cut word: {:?} in {e:?}", e.span(&long));
    }
}

/// A tied masked-LM decoder reads the CPU encoder's word embeddings (the model holds them once) and gives the
/// logits of a decoder with its own packed copy.
#[test]
fn the_tied_decoder_shares_the_word_embeddings() {
    use roberta_heads::Head;
    let model = load("tiny-mlm");
    let Some(Head::MaskedLm(shared)) = model.head() else { panic!("an MLM head") };
    assert!(shared.shares_embeddings());
    let dir = fixture("models/tiny-mlm");
    let cfg = model.config().clone();
    let w = roberta_checkpoint::ModelFiles::resolve(&dir).unwrap().open_weights().unwrap();
    let Some(Head::MaskedLm(own)) = Head::from_architecture(&cfg, w.as_ref()).unwrap() else { panic!("an MLM head") };
    assert!(!own.shares_embeddings());
    let h = cfg.hidden_size;
    let hidden: Vec<f32> = (0..5 * h).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.02).collect();
    let (a, b) = (shared.logits(&hidden, 5), own.logits(&hidden, 5));
    assert_eq!(a.len(), 5 * cfg.vocab_size);
    let e = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(e < 1e-4, "{e}");
}
