//! Hostile and awkward inputs through every pipeline and the encoder (issue 8): texts far past the model's 512
//! positions (windowed or truncated with a warning, never an error), empty / whitespace / special-token-only texts,
//! batches mixing lengths 1 and 512 (each row as if run alone), one model shared by 8 threads, and a memory limit
//! that splits batches without changing results.
use roberta::{Aggregation, Classifier, Embedder, FillMask, Model, Ner, Pooling};
use roberta_encoder::{BatchInput, Config, RobertaModel, Weights};
use roberta_tests::{fixture, model};
use std::sync::Arc;

const FILLER: &str = "Mujer de 27 años, politoxicómana activa, que 15 días antes de ingresar comienza con tos seca, disnea de \
                      intensidad progresiva, fiebre, astenia, anorexia, náuseas y vómitos. ";
/// A sentence in which tiny-ner finds `transaminasas` (B-PROTEINAS), as HF does (ner_pipeline.jsonl).
const TAIL: &str = "En la analítica destacaba únicamente una moderada hiperglucemia y una ligera elevación de transaminasas.";

/// About 2000 tokens of filler, then `tail`.
fn long_text(tail: &str) -> String {
    let mut s = FILLER.repeat(46);
    s.push_str(tail);
    s
}

fn tokens(m: &Model, text: &str) -> usize {
    m.tokenizer().unwrap().encode(text).ids.len()
}

/// Every text's (value, warning), each result unwrapped.
fn pairs<T>(results: Vec<roberta::Result<roberta::Output<T>>>) -> Vec<(T, Option<String>)> {
    results.into_iter().map(|r| r.map(|o| (o.value, o.warning)).unwrap()).collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn long_text_ner_windows_and_finds_entities_in_the_last_window() {
    let ner = Ner::new(model("tiny-ner"), Aggregation::Simple).unwrap();
    let text = long_text(TAIL);
    let n = tokens(ner.model(), &text);
    assert!((1900..2300).contains(&n), "{n} tokens");
    let ents = ner.run(&[&text]).remove(0).expect("a long text is windowed, not an error").value;
    let tail_start = text.chars().count() - TAIL.chars().count();
    let last: Vec<_> = ents.iter().filter(|e| e.start >= tail_start).collect();
    assert!(!last.is_empty(), "no entity in the last window: {ents:?}");
    let chars: Vec<char> = text.chars().collect();
    for e in &last {
        let word: String = chars[e.start..e.end].iter().collect();
        assert!(TAIL.contains(word.trim()), "{e:?} points at {word:?}");
    }
    // The same entities as the tail sentence alone, shifted.
    let alone = ner.run(&[TAIL]).remove(0).unwrap().value;
    assert_eq!(last.len(), alone.len(), "{last:?} vs {alone:?}");
    for (a, b) in last.iter().zip(&alone) {
        assert_eq!((a.start - tail_start, a.end - tail_start), (b.start, b.end));
        assert_eq!(a.label, b.label);
    }
}

#[test]
fn long_text_embeddings_window_and_cls_warns() {
    let m = model("tiny-cls");
    let text = long_text(TAIL);
    let mean = Embedder::new(m, Pooling::Mean, false).unwrap();
    let (v, w) = pairs(mean.run(&[&text])).remove(0);
    assert!(w.is_none(), "mean pooling covers every window: {w:?}");
    assert!(v.iter().all(|x| x.is_finite()) && v.iter().any(|&x| x != 0.0));
    let cls = Embedder::new(model("tiny-cls"), Pooling::Cls, false).unwrap();
    let (v, w) = pairs(cls.run(&[&text])).remove(0);
    assert!(w.expect("cls pooling of a long text warns").contains("windows"));
    assert!(v.iter().all(|x| x.is_finite()));
}

#[test]
fn long_text_classifier_truncates_with_a_warning() {
    let c = Classifier::new(model("tiny-cls"), None).unwrap();
    let text = long_text(TAIL);
    let (labels, w) = pairs(c.run(&[&text, TAIL])).into_iter().next().unwrap();
    assert!(w.expect("truncation is reported").contains("truncated to the model's 512"));
    let sum: f32 = labels.iter().map(|l| l.score).sum();
    assert!((sum - 1.0).abs() < 1e-4 || labels.len() == 1, "{labels:?}");
    assert!(pairs(c.run(&[TAIL]))[0].1.is_none());
}

#[test]
fn long_text_fill_mask_truncates_with_a_warning_or_says_the_mask_was_cut() {
    let fm = FillMask::new(model("tiny-mlm"), 3).unwrap();
    let early = format!("El paciente presenta dolor <mask>. {}", long_text(TAIL));
    let late = format!("{} El paciente presenta dolor <mask>.", long_text(TAIL));
    let mut out = fm.run(&[&early, &late, "Dolor <mask>."]);
    let short = out.pop().unwrap().unwrap();
    let late = out.pop().unwrap();
    let early = out.pop().unwrap().expect("a mask before the cut is predicted");
    assert!(early.warning.expect("truncation is reported").contains("truncated"));
    assert_eq!(early.value[0].len(), 3);
    let e = late.expect_err("a mask past the cut cannot be predicted");
    assert!(e.to_string().contains("past the cut"), "{e}");
    assert!(short.warning.is_none());
}

#[test]
fn empty_whitespace_and_special_only_texts() {
    let odd = ["", " ", "   \t\n  ", "\u{3000}\u{a0}", "<s></s>", "<pad><pad>", "<s><mask></s>", "<unk>"];
    let ner = Ner::new(model("tiny-ner"), Aggregation::None).unwrap();
    for (t, r) in odd.iter().zip(ner.run(&odd)) {
        let ents = r.unwrap_or_else(|e| panic!("ner on {t:?}: {e}")).value;
        assert!(ents.iter().all(|e| e.start <= e.end && e.end <= t.chars().count()), "{t:?}: {ents:?}");
    }
    let c = Classifier::new(model("tiny-cls"), None).unwrap();
    for (t, (labels, w)) in odd.iter().zip(pairs(c.run(&odd))) {
        assert!(w.is_none() && labels.iter().all(|l| l.score.is_finite()), "{t:?}");
    }
    for pooling in [Pooling::Mean, Pooling::Cls] {
        let emb = Embedder::new(model("tiny-cls"), pooling, true).unwrap();
        for (t, (v, _)) in odd.iter().zip(pairs(emb.run(&odd))) {
            assert!(v.iter().all(|x| x.is_finite()), "{t:?} {pooling:?}");
        }
    }
    let fm = FillMask::new(model("tiny-mlm"), 2).unwrap();
    for (t, r) in odd.iter().zip(fm.run(&odd)) {
        match r {
            Ok(o) => assert!(t.contains("<mask>") && o.value.len() == 1, "{t:?}"),
            Err(e) => assert!(!t.contains("<mask>") && e.to_string().contains("no mask"), "{t:?}: {e}"),
        }
    }
    assert_eq!(fm.run(&[]).len(), 0);
    assert!(ner.run(&[]).is_empty() && c.run(&[]).is_empty());
}

/// A text of exactly `n` tokens with `<s>`/`</s>` (n ≥ 3), built from single-token words.
fn text_of_tokens(m: &Model, n: usize, word: &str) -> String {
    let mut t = String::new();
    while tokens(m, &t) < n {
        t.push_str(word);
    }
    assert_eq!(tokens(m, &t), n, "{word:?} is not one token");
    t
}

#[test]
fn batch_mixing_lengths_1_and_512_matches_each_alone() {
    let m = model("tiny-cls");
    let long = text_of_tokens(&m, 512, " y");
    let texts = ["", "a", long.as_str(), "fiebre"];
    let emb = Embedder::new(m, Pooling::Mean, false).unwrap();
    let batch = pairs(emb.run(&texts));
    for (t, (v, w)) in texts.iter().zip(&batch) {
        let (alone, _) = pairs(emb.run(&[t])).remove(0);
        assert!(w.is_none());
        assert!(max_abs_diff(v, &alone) <= 1e-5, "{} tokens: {}", t.len(), max_abs_diff(v, &alone));
    }
    let c = Classifier::new(model("tiny-cls"), None).unwrap();
    let batch = pairs(c.logits(&texts));
    for (t, (l, _)) in texts.iter().zip(&batch) {
        assert!(max_abs_diff(l, &pairs(c.logits(&[t]))[0].0) <= 1e-5, "{t:?}");
    }
    let ner = Ner::new(model("tiny-ner"), Aggregation::None).unwrap();
    let long = text_of_tokens(ner.model(), 512, " y");
    let texts = ["x", long.as_str(), TAIL];
    for (t, r) in texts.iter().zip(ner.run(&texts)) {
        let (b, a) = (r.unwrap().value, ner.run(&[t]).remove(0).unwrap().value);
        assert_eq!(b.len(), a.len());
        for (x, y) in b.iter().zip(&a) {
            assert_eq!((x.start, x.end, &x.label), (y.start, y.end, &y.label));
            assert!((x.score - y.score).abs() <= 1e-5);
        }
    }
    let fm = FillMask::new(model("tiny-mlm"), 3).unwrap();
    let long = format!("{}<mask>", text_of_tokens(fm.model(), 510, " y"));
    let texts = ["<mask>", long.as_str()];
    for (t, r) in texts.iter().zip(fm.run(&texts)) {
        let (b, a) = (r.unwrap(), fm.run(&[t]).remove(0).unwrap());
        assert!(b.warning.is_none());
        for (x, y) in b.value[0].iter().zip(&a.value[0]) {
            assert_eq!(x.token, y.token);
            assert!((x.score - y.score).abs() <= 1e-5);
        }
    }
}

#[test]
fn encoder_padded_batch_rows_match_each_row_alone() {
    let dir = fixture("models/tiny-mlm");
    let cfg = Config::from_file(&dir.join("config.json")).unwrap();
    let enc = RobertaModel::load(&cfg, &Weights::load_dir(&dir).unwrap()).unwrap();
    let (h, t) = (cfg.hidden_size, 512);
    let long: Vec<u32> = (0..t as u32).map(|i| if i == 0 { 0 } else if i == 511 { 2 } else { 4 + (i * 37) % 7000 }).collect();
    let short = [0u32];
    let mut ids = long.clone();
    ids.extend(std::iter::once(short[0]).chain(std::iter::repeat_n(1, t - 1)));
    let mut mask = vec![1u32; t];
    mask.extend(std::iter::once(1).chain(std::iter::repeat_n(0, t - 1)));
    let both = enc.forward(&BatchInput { token_type_ids: None, input_ids: &ids, attention_mask: &mask, batch: 2, seq_len: t }, false).unwrap();
    let a = enc.forward(&BatchInput { token_type_ids: None, input_ids: &long, attention_mask: &vec![1; t], batch: 1, seq_len: t }, false).unwrap();
    let b = enc.forward(&BatchInput { token_type_ids: None, input_ids: &short, attention_mask: &[1], batch: 1, seq_len: 1 }, false).unwrap();
    let d_long = max_abs_diff(&both.last_hidden_state[..t * h], &a.last_hidden_state);
    let d_short = max_abs_diff(&both.last_hidden_state[t * h..t * h + h], &b.last_hidden_state);
    assert!(d_long <= 1e-5 && d_short <= 1e-5, "long row {d_long:e}, short row {d_short:e}");
    // A longer-than-allowed batch is an error, not a panic.
    let too_long = vec![5u32; 513];
    assert!(enc.forward(&BatchInput { token_type_ids: None, input_ids: &too_long, attention_mask: &vec![1; 513], batch: 1, seq_len: 513 }, false).is_err());
}

#[test]
fn one_model_shared_by_8_threads_gives_the_single_thread_results() {
    let ner = Arc::new(Ner::new(model("tiny-ner"), Aggregation::First).unwrap());
    let texts: Vec<String> = (0..10).map(|i| format!("{} Caso {i}. {}", TAIL, FILLER.chars().take(20 + 9 * i).collect::<String>())).collect();
    let want: Vec<_> = texts.iter().map(|t| ner.run(&[t]).remove(0).unwrap()).collect();
    let fm = Arc::new(FillMask::new(model("tiny-mlm"), 3).unwrap());
    let masked: Vec<String> = texts.iter().map(|t| format!("{t} Presenta <mask>.")).collect();
    let want_fm: Vec<_> = masked.iter().map(|t| fm.run(&[t]).remove(0).unwrap()).collect();
    let (texts, masked, want, want_fm) = (Arc::new(texts), Arc::new(masked), Arc::new(want), Arc::new(want_fm));
    let handles: Vec<_> = (0..8)
        .map(|k| {
            let (ner, fm, texts, masked, want, want_fm) =
                (ner.clone(), fm.clone(), texts.clone(), masked.clone(), want.clone(), want_fm.clone());
            std::thread::spawn(move || {
                for r in 0..100 {
                    let i = (k * 7 + r) % texts.len();
                    if r % 4 == 3 {
                        assert_eq!(fm.run(&[&masked[i]]).remove(0).unwrap(), want_fm[i], "thread {k} request {r}");
                    } else {
                        assert_eq!(ner.run(&[&texts[i]]).remove(0).unwrap(), want[i], "thread {k} request {r}");
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("no thread panicked");
    }
}

#[test]
fn a_tiny_memory_limit_splits_batches_without_changing_results() {
    let texts: Vec<String> = (1..12).map(|i| FILLER.repeat(i)).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let free = Embedder::new(model("tiny-cls"), Pooling::Mean, false).unwrap();
    let mut m = model("tiny-cls");
    m.set_memory_limit_bytes(Some(1));
    let lens: Vec<usize> = refs.iter().map(|t| tokens(&m, t)).collect();
    assert_eq!(m.batch_plan(&lens).len(), refs.len(), "a 1-byte limit runs one sequence per pass");
    m.set_memory_limit_bytes(Some(m.activation_bytes(3, 200)));
    let plan = m.batch_plan(&lens);
    assert!(plan.len() > 1 && plan.iter().all(|r| r.len() == 1 || m.activation_bytes(r.len(), lens[r.clone()].iter().copied().max().unwrap()) <= m.memory_limit_bytes().unwrap()));
    m.set_memory_limit_bytes(Some(1));
    let limited = Embedder::new(m, Pooling::Mean, false).unwrap();
    for ((a, _), (b, _)) in pairs(free.run(&refs)).iter().zip(&pairs(limited.run(&refs))) {
        assert!(max_abs_diff(a, b) <= 1e-5);
    }
}

/// The GEMM path is a load option (`LoadOptions::cpu`, the runner's `ROBERTA_CPU_GEMM=gemm`), per model: the
/// `gemm` crate path and the default one give the same vectors.
#[test]
fn cpu_gemm_path_is_a_load_option() {
    let load = |gemm| {
        let opts = roberta::LoadOptions { cpu: roberta::CpuOptions { gemm, row_block: Some(16), ..Default::default() }, ..Default::default() };
        Model::load_with(fixture("models/tiny-cls"), &opts).unwrap()
    };
    let texts = [FILLER, TAIL];
    let a = pairs(Embedder::new(load(roberta::CpuGemm::Auto), Pooling::Mean, false).unwrap().run(&texts));
    let b = pairs(Embedder::new(load(roberta::CpuGemm::Gemm), Pooling::Mean, false).unwrap().run(&texts));
    for ((x, _), (y, _)) in a.iter().zip(&b) {
        assert!(max_abs_diff(x, y) <= 1e-4, "{}", max_abs_diff(x, y));
    }
}
