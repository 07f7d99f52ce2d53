//! Hostile files (issue 8): checkpoints whose headers claim huge tensors are refused before anything is allocated
//! (a counting allocator records the largest single allocation), and every input the fuzzers of tests/fuzz
//! crashed on stays here as a regression test, next to the fix it needed.
use roberta_checkpoint::safetensors::SafetensorsFile;
use roberta_checkpoint::torch_write::{torch_zip_bytes, zip_stored, TorchRecord};
use roberta_checkpoint::{pickle, torch_zip};
use roberta_encoder::{Config, DType};
use roberta_tests::scratch_dir;
use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, recording the largest single request.
struct Counting;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only records sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LARGEST.fetch_max(l.size(), Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LARGEST.fetch_max(n, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// No single allocation of this test binary has reached 256 MiB (all of its tests run small inputs).
fn assert_no_huge_allocation() {
    let l = LARGEST.load(Ordering::Relaxed);
    assert!(l < 256 << 20, "an allocation of {l} bytes was made");
}

fn safetensors_file(dir: &Path, header: &str, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join("model.safetensors");
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(header.as_bytes());
    b.extend_from_slice(data);
    std::fs::write(&p, b).unwrap();
    p
}

#[test]
fn safetensors_claiming_a_trillion_elements_is_refused_before_allocating() {
    let d = scratch_dir("huge-st");
    let cases = [
        // the offsets run far past the file
        r#"{"w":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,4000000000000]}}"#,
        // the offsets fit, the shape does not
        r#"{"w":{"dtype":"F32","shape":[1000000000000],"data_offsets":[0,16]}}"#,
        // the element count overflows 64 bits
        r#"{"w":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,16]}}"#,
    ];
    for h in cases {
        let p = safetensors_file(&d, h, &[0u8; 16]);
        let e = SafetensorsFile::open(&p).err().unwrap_or_else(|| panic!("{h} was accepted"));
        assert!(e.to_string().contains("\"w\"") || e.to_string().contains('w'), "{e}");
        assert!(roberta_encoder::Weights::load_file(&p).is_err());
    }
    // A header length of 2^63 is refused before reading it.
    let p = d.join("model.safetensors");
    let mut b = (1u64 << 63).to_le_bytes().to_vec();
    b.extend_from_slice(b"{}");
    std::fs::write(&p, b).unwrap();
    assert!(SafetensorsFile::open(&p).is_err());
    assert_no_huge_allocation();
}

#[test]
fn torch_storage_claiming_a_trillion_elements_is_refused_before_allocating() {
    let d = scratch_dir("huge-bin");
    let p = d.join("pytorch_model.bin");
    let bytes = [0u8; 16];
    for (shape, numel) in [(vec![1_000_000_000_000usize], 1_000_000_000_000u64), (vec![1_000_000_000_000], 4), (vec![4], 1 << 62)] {
        let rec = TorchRecord { name: "w", dtype: DType::F32, shape: &shape, bytes: &bytes, numel: Some(numel), stride: None };
        std::fs::write(&p, torch_zip_bytes(&[rec])).unwrap();
        let e = torch_zip::load_f32(&p).expect_err("a lying storage is refused");
        assert!(e.to_string().contains("storage") || e.to_string().contains("view"), "{e}");
    }
    // Views that select more than their storage: a stride-0 broadcast of a trillion elements (was a 4 TB
    // allocation), and shapes / strides whose products wrap around 64 bits (were a silently empty tensor in
    // release, an overflow panic with debug assertions).
    let cases: [(&[usize], &[usize]); 3] =
        [(&[1_000_000_000_000], &[0]), (&[1 << 40, 1 << 40], &[1, 1]), (&[2, 1 << 62], &[1 << 62, 1])];
    for (shape, stride) in cases {
        let rec = TorchRecord { name: "w", dtype: DType::F32, shape, bytes: &bytes, numel: None, stride: Some(stride) };
        std::fs::write(&p, torch_zip_bytes(&[rec])).unwrap();
        let e = torch_zip::load_f32(&p).expect_err("an impossible view is refused");
        assert!(e.to_string().contains("view"), "{e}");
    }
    assert_no_huge_allocation();
}

#[test]
fn zip64_directory_claiming_a_trillion_entries_is_refused_before_allocating() {
    // A valid archive whose end record says 0xFFFF entries, with a zip64 record claiming 2^40.
    let mut z = zip_stored(&[("archive/data.pkl", b".")]);
    let eocd = z.len() - 22;
    let (cd_size, cd_off) = (u32::from_le_bytes(z[eocd + 12..eocd + 16].try_into().unwrap()), u32::from_le_bytes(z[eocd + 16..eocd + 20].try_into().unwrap()));
    let rec_at = eocd as u64;
    let mut zip64 = 0x0606_4b50u32.to_le_bytes().to_vec();
    zip64.extend_from_slice(&44u64.to_le_bytes());
    zip64.extend_from_slice(&[45, 0, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    zip64.extend_from_slice(&(1u64 << 40).to_le_bytes());
    zip64.extend_from_slice(&(1u64 << 40).to_le_bytes());
    zip64.extend_from_slice(&(cd_size as u64).to_le_bytes());
    zip64.extend_from_slice(&(cd_off as u64).to_le_bytes());
    let mut loc = 0x0706_4b50u32.to_le_bytes().to_vec();
    loc.extend_from_slice(&[0; 4]);
    loc.extend_from_slice(&rec_at.to_le_bytes());
    loc.extend_from_slice(&1u32.to_le_bytes());
    let mut end = z.split_off(eocd);
    end[10..12].copy_from_slice(&0xFFFFu16.to_le_bytes());
    z.extend(zip64);
    z.extend(loc);
    z.extend(end);
    let e = torch_zip::parse_zip(&z, Path::new("x.bin")).expect_err("2^40 entries cannot fit");
    assert!(!e.to_string().is_empty());
    assert_no_huge_allocation();
}

#[test]
fn config_with_degenerate_sizes_is_an_error() {
    for text in [
        r#"{"num_attention_heads":0}"#,
        r#"{"hidden_size":10,"num_attention_heads":3}"#,
        r#"{"max_position_embeddings":1}"#,
        r#"{"hidden_act":"tanh"}"#,
        r#"[1,2]"#,
        "",
    ] {
        assert!(Config::from_json(text, Path::new("config.json")).is_err(), "{text}");
    }
}

#[test]
fn pickle_of_garbage_is_an_error() {
    // The last: a list that contains itself, as the persistent id of BINPERSID (its error message used to print
    // it with `{:?}`, recursing until the stack overflowed).
    for data in [&b""[..], b"\x80\x02", b"(((((((", b"\x80\x02}q\x00.", b"\x80\x02]q\x00h\x00a.", b"\x80\x02]q\x00h\x00a\x85Q."] {
        let _ = pickle::unpickle(data, Path::new("data.pkl"));
        assert!(pickle::state_dict(data, Path::new("data.pkl")).is_err());
    }
}

/// Found by the tokenizer_files fuzz target (2026-12-02): a tokenizer.json whose RobertaProcessing `sep` id (2)
/// is no token of the vocabulary or the added tokens loaded, and every encoding then ended in an id that no
/// token decodes to. Refused, naming the id.
#[test]
fn roberta_processing_ids_must_be_tokens() {
    let d = roberta_tests::fixture_copy("models/tiny-ner", &["model.safetensors"]);
    let p = d.join("tokenizer.json");
    let mut j: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    let vocab = j["model"]["vocab"].as_object().unwrap().len() as u64;
    let unused = vocab + j["added_tokens"].as_array().unwrap().len() as u64 + 10;
    j["post_processor"]["sep"][1] = unused.into();
    std::fs::write(&p, j.to_string()).unwrap();
    let e = roberta_tokenizer::Tokenizer::from_dir(&d).err().expect("a sep id that is no token is refused").to_string();
    assert!(e.contains("tokenizer.json") && e.contains(&format!("sep id {unused} is not a token")), "{e}");
    assert!(roberta_tokenizer::Tokenizer::from_dir(roberta_tests::fixture("models/tiny-ner")).is_ok());
}

#[test]
fn tokenizer_ids_far_past_the_vocabulary_are_refused_before_allocating() {
    let src = roberta_tests::fixture("models/tiny-mlm");
    // vocab.json + merges.txt with one token at id 2e9 (was a 48 GB id → token table).
    let d = scratch_dir("huge-vocab");
    std::fs::write(d.join("vocab.json"), r#"{"<s>":0,"</s>":2,"a":2000000000}"#).unwrap();
    std::fs::write(d.join("merges.txt"), "#version: 0.2\n").unwrap();
    let e = roberta_tokenizer::Tokenizer::from_dir(&d).err().expect("refused");
    assert!(e.to_string().contains("2000000000"), "{e}");
    // added_tokens_decoder with id 4e9 in tokenizer_config.json.
    let d = roberta_tests::fixture_copy("models/tiny-mlm", &["pytorch_model.bin"]);
    std::fs::write(d.join("tokenizer_config.json"), r#"{"added_tokens_decoder":{"4000000000":{"content":"<new>","special":true}}}"#).unwrap();
    assert!(roberta_tokenizer::Tokenizer::from_dir(&d).is_err());
    // tokenizer.json with an added token at id 2^40 (was truncated to a u32).
    let d = roberta_tests::fixture_copy("models/tiny-ner", &["model.safetensors"]);
    let mut j: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("tokenizer.json")).unwrap()).unwrap();
    j["added_tokens"].as_array_mut().unwrap().push(serde_json::json!({"id": 1u64 << 40, "content": "<new>", "special": true}));
    std::fs::write(d.join("tokenizer.json"), j.to_string()).unwrap();
    assert!(roberta_tokenizer::Tokenizer::from_dir(&d).is_err());
    assert!(roberta_tokenizer::Tokenizer::from_dir(&src).is_ok());
    assert_no_huge_allocation();
}

#[test]
fn pickle_nested_two_million_deep_does_not_overflow_the_stack() {
    // PROTO 2, NONE, then TUPLE1 two million times (each wraps the top in a 1-tuple), EMPTY_LIST, APPEND of the
    // whole chain into it, then STOP: parsing and freeing it must not recurse per level.
    let mut p = vec![0x80, 2, b'N'];
    p.extend(std::iter::repeat_n(0x85u8, 2_000_000));
    p.push(b'.');
    let path = Path::new("deep.pkl");
    let r = roberta_checkpoint::pickle::unpickle(&p, path);
    assert!(r.is_ok(), "{:?}", r.err());
    drop(r);
    let err = roberta_checkpoint::pickle::state_dict(&p, path).err().expect("a nested tuple is no state dict");
    assert!(err.to_string().contains("deep.pkl"), "{err}");
}
