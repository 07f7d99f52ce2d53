//! Bad checkpoints and configs: corrupted copies of the fixtures, made in the test, each a clear error
//! naming the tensor / file / offset, never a panic.
use roberta_encoder::{Config, EncoderError, RobertaModel, Weights};
use roberta_tests::fixture;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

fn temp_copy(model: &str, tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let d = std::env::temp_dir().join(format!("roberta-enc-err-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    for f in ["config.json", "model.safetensors", "pytorch_model.bin"] {
        let s = fixture(&format!("models/{model}")).join(f);
        if s.exists() {
            std::fs::copy(&s, d.join(f)).unwrap();
        }
    }
    d
}

/// Loads config + weights + model, returning the first error.
fn load(dir: &Path) -> Result<RobertaModel, EncoderError> {
    let cfg = Config::from_file(&dir.join("config.json"))?;
    let w = Weights::load_dir(dir)?;
    RobertaModel::load(&cfg, &w)
}

/// The error of loading `dir`, which must be the same whether the checkpoint is read whole first (`Weights`) or
/// streamed tensor by tensor from its file (`RobertaModel::load_dir`, the path `Model::load` takes).
fn load_err(dir: &Path) -> String {
    let e = load(dir).err().expect("loading a corrupted model must fail");
    let streamed = Config::from_file(&dir.join("config.json")).and_then(|cfg| RobertaModel::load_dir(&cfg, dir));
    let s = streamed.err().expect("the streaming load of a corrupted model must fail too");
    std::fs::remove_dir_all(dir).ok();
    assert_eq!(e.to_string(), s.to_string(), "the whole and the streaming load disagree");
    e.to_string()
}

/// Rewrites a safetensors header with `edit`, keeping the data bytes.
fn edit_header(path: &Path, edit: impl FnOnce(&mut Map<String, Value>)) {
    let b = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
    let mut h: Map<String, Value> = serde_json::from_slice(&b[8..8 + n]).unwrap();
    edit(&mut h);
    let hb = serde_json::to_vec(&h).unwrap();
    let mut out = (hb.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&hb);
    out.extend_from_slice(&b[8 + n..]);
    std::fs::write(path, out).unwrap();
}

fn edit_config(dir: &Path, key: &str, v: Value) {
    let p = dir.join("config.json");
    let mut c: Map<String, Value> = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    c.insert(key.into(), v);
    std::fs::write(&p, serde_json::to_string(&c).unwrap()).unwrap();
}

const QW: &str = "roberta.encoder.layer.1.attention.self.query.weight";

#[test]
fn truncated_safetensors() {
    let d = temp_copy("tiny-ner", "trunc");
    let p = d.join("model.safetensors");
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&p).unwrap().set_len(len / 2).unwrap();
    let e = load_err(&d);
    assert!(e.contains("model.safetensors") && e.contains("past the end"), "{e}");
    let d = temp_copy("tiny-ner", "trunc-header");
    std::fs::OpenOptions::new().write(true).open(d.join("model.safetensors")).unwrap().set_len(100).unwrap();
    let e = load_err(&d);
    assert!(e.contains("header length") && e.contains("model.safetensors"), "{e}");
    let d = temp_copy("tiny-ner", "tiny-file");
    std::fs::write(d.join("model.safetensors"), b"abc").unwrap();
    let e = load_err(&d);
    assert!(e.contains("shorter than the 8-byte"), "{e}");
}

#[test]
fn header_lying_about_offsets() {
    let d = temp_copy("tiny-ner", "offsets");
    edit_header(&d.join("model.safetensors"), |h| {
        let offs = h[QW]["data_offsets"].as_array().unwrap().clone();
        let (b, e) = (offs[0].as_u64().unwrap() + 100_000_000, offs[1].as_u64().unwrap() + 100_000_000);
        h.get_mut(QW).unwrap()["data_offsets"] = serde_json::json!([b, e]);
    });
    let e = load_err(&d);
    assert!(e.contains(QW) && e.contains("model.safetensors") && e.contains("past the end"), "{e}");
}

#[test]
fn header_lying_about_dtype_and_shape() {
    let d = temp_copy("tiny-ner", "dtype");
    edit_header(&d.join("model.safetensors"), |h| h.get_mut(QW).unwrap()["dtype"] = "F32".into());
    let e = load_err(&d);
    assert!(e.contains(QW) && e.contains("needs"), "{e}");
    let d = temp_copy("tiny-ner", "dtype2");
    edit_header(&d.join("model.safetensors"), |h| h.get_mut(QW).unwrap()["dtype"] = "Q4".into());
    let e = load_err(&d);
    assert!(e.contains(QW) && e.contains("unknown dtype"), "{e}");
    let d = temp_copy("tiny-ner", "shape");
    edit_header(&d.join("model.safetensors"), |h| h.get_mut(QW).unwrap()["shape"] = serde_json::json!([128, 129]));
    let e = load_err(&d);
    assert!(e.contains(QW) && e.contains("[128, 129]"), "{e}");
    let d = temp_copy("tiny-ner", "json");
    let p = d.join("model.safetensors");
    let mut b = std::fs::read(&p).unwrap();
    b[8] = b'#';
    std::fs::write(&p, b).unwrap();
    let e = load_err(&d);
    assert!(e.contains("not a JSON object"), "{e}");
}

#[test]
fn missing_tensor_named_with_file() {
    let d = temp_copy("tiny-cls", "missing");
    edit_header(&d.join("model.safetensors"), |h| {
        h.remove("roberta.encoder.layer.2.output.dense.bias");
    });
    let e = load_err(&d);
    assert!(e.contains("missing tensor encoder.layer.2.output.dense.bias") && e.contains("model.safetensors"), "{e}");
}

#[test]
fn tensor_shape_disagreeing_with_config() {
    let d = temp_copy("tiny-cls", "cfgshape");
    edit_config(&d, "intermediate_size", 256.into());
    let e = load_err(&d);
    assert!(e.contains("encoder.layer.0.intermediate.dense.weight") && e.contains("[512, 128]") && e.contains("[256, 128]"), "{e}");
}

#[test]
fn unsupported_config_values() {
    let d = temp_copy("tiny-cls", "posemb");
    edit_config(&d, "position_embedding_type", "relative_key_query".into());
    let e = load_err(&d);
    assert!(e.contains("position_embedding_type") && e.contains("relative_key_query") && e.contains("config.json"), "{e}");
    let d = temp_copy("tiny-cls", "act");
    edit_config(&d, "hidden_act", "mish".into());
    let e = load_err(&d);
    assert!(e.contains("hidden_act") && e.contains("mish"), "{e}");
    let d = temp_copy("tiny-cls", "badjson");
    edit_config(&d, "hidden_size", "wide".into());
    let e = load_err(&d);
    assert!(e.contains("invalid config"), "{e}");
}

#[test]
fn no_weights_in_dir() {
    let d = temp_copy("tiny-cls", "noweights");
    std::fs::remove_file(d.join("model.safetensors")).unwrap();
    let e = load_err(&d);
    assert!(e.contains("no model.safetensors or pytorch_model.bin"), "{e}");
}

fn bin_copy(tag: &str) -> (PathBuf, Vec<u8>) {
    let d = temp_copy("tiny-mlm", tag);
    let b = std::fs::read(d.join("pytorch_model.bin")).unwrap();
    (d, b)
}

#[test]
fn truncated_zip() {
    let (d, b) = bin_copy("zip-trunc");
    std::fs::write(d.join("pytorch_model.bin"), &b[..b.len() - 300]).unwrap();
    let e = load_err(&d);
    assert!(e.contains("pytorch_model.bin") && e.contains("zip"), "{e}");
    // Cut inside the data: the central directory survives only if we keep it, so cut the middle out.
    let (d, b) = bin_copy("zip-mid");
    let mut cut = b[..b.len() / 2].to_vec();
    cut.extend_from_slice(&b[b.len() - 4000..]);
    std::fs::write(d.join("pytorch_model.bin"), cut).unwrap();
    let e = load_err(&d);
    assert!(e.contains("pytorch_model.bin") && e.contains("zip"), "{e}");
}

#[test]
fn garbled_zip() {
    // Garble the first local header's signature.
    let (d, mut b) = bin_copy("zip-local");
    b[0] = b'X';
    std::fs::write(d.join("pytorch_model.bin"), &b).unwrap();
    let e = load_err(&d);
    assert!(e.contains("local header"), "{e}");
    // Garble the end-of-central-directory's central directory offset.
    let (d, mut b) = bin_copy("zip-cd");
    let eocd = b.windows(4).rposition(|w| w == [0x50, 0x4b, 0x05, 0x06]).unwrap();
    b[eocd + 16..eocd + 20].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    std::fs::write(d.join("pytorch_model.bin"), &b).unwrap();
    let e = load_err(&d);
    assert!(e.contains("pytorch_model.bin") && e.contains("zip"), "{e}");
    // Not a zip at all.
    let (d, _) = bin_copy("zip-none");
    std::fs::write(d.join("pytorch_model.bin"), vec![7u8; 1000]).unwrap();
    let e = load_err(&d);
    assert!(e.contains("end-of-central-directory"), "{e}");
}

/// Byte offset of data.pkl's first opcode (PROTO 2, GLOBAL collections OrderedDict) in the archive.
fn pickle_start(b: &[u8]) -> usize {
    let pat = b"\x80\x02ccollections\nOrderedDict";
    b.windows(pat.len()).position(|w| w == pat).unwrap()
}

#[test]
fn bad_pickle_opcode() {
    let (d, mut b) = bin_copy("pickle-op");
    let at = pickle_start(&b);
    b[at + 2] = b'i'; // GLOBAL -> INST, outside the subset
    std::fs::write(d.join("pytorch_model.bin"), &b).unwrap();
    let e = load_err(&d);
    assert!(e.contains("opcode 0x69 (INST) at byte 2") && e.contains("pytorch_model.bin"), "{e}");
    let (d, mut b) = bin_copy("pickle-trunc");
    let at = pickle_start(&b);
    b[at] = 0xff;
    std::fs::write(d.join("pytorch_model.bin"), &b).unwrap();
    let e = load_err(&d);
    assert!(e.contains("opcode 0xff") && e.contains("at byte 0"), "{e}");
}

#[test]
fn pickle_storage_claims_more_than_the_archive_holds() {
    // The first tensor's storage says 1024000 elements (BININT 'J' 00 a0 0f 00); claim twice as many.
    let (d, mut b) = bin_copy("pickle-numel");
    let at = b.windows(5).position(|w| w == [b'J', 0x00, 0xa0, 0x0f, 0x00]).unwrap();
    b[at + 1..at + 5].copy_from_slice(&2_048_000u32.to_le_bytes());
    std::fs::write(d.join("pytorch_model.bin"), &b).unwrap();
    let e = load_err(&d);
    assert!(e.contains("roberta.embeddings.word_embeddings.weight") && e.contains("claims"), "{e}");
}

/// `tie_word_embeddings: false` reads the decoder from `lm_head.decoder.weight`: a checkpoint without it (tiny-d64
/// saves only the tied embeddings) is a missing tensor, not a silently tied decoder.
#[test]
fn untied_decoder_must_be_in_the_checkpoint() {
    let d = roberta_tests::fixture_copy("models/tiny-d64", &[]);
    let dir = d.clone();
    let model = |dir: &Path| roberta::Model::load(dir, roberta::Device::Cpu).map(|_| ());
    model(&dir).expect("tied: loads");
    edit_config(&dir, "tie_word_embeddings", false.into());
    let e = model(&dir).expect_err("untied without lm_head.decoder.weight must fail").to_string();
    assert!(e.contains("missing tensor lm_head.decoder.weight") && e.contains("model.safetensors"), "{e}");
    std::fs::remove_dir_all(&d).ok();
}

/// A `model_type` the engine does not implement (DistilBERT: no token types, other names) is refused by name; a
/// RoBERTa checkpoint whose config says `bert` is read with BERT's names and fails on the first one it lacks.
#[test]
fn unsupported_model_type_is_refused() {
    let d = temp_copy("tiny-cls", "distilbert");
    edit_config(&d, "model_type", "distilbert".into());
    let e = load_err(&d);
    assert!(e.contains("config.json") && e.contains("unsupported model_type = \"distilbert\""), "{e}");
    let d = temp_copy("tiny-cls", "bert");
    edit_config(&d, "model_type", "bert".into());
    let opts = roberta::LoadOptions { tokenizer: false, ..Default::default() };
    let e = roberta::Model::load_with(&d, &opts).err().expect("RoBERTa's head under BERT's names must fail").to_string();
    std::fs::remove_dir_all(&d).ok();
    assert!(e.contains("missing tensor pooler.dense.weight"), "{e}");
}
