//! The safetensors reader on arbitrary files: validation (`SafetensorsFile::open`), then decoding every tensor
//! (`load_f32`) and reading each record both as floats and as integers.
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;
use roberta_checkpoint::safetensors::{load_f32, SafetensorsFile};

fuzz_target!(|data: &[u8]| {
    let p = common::scratch().join("model.safetensors");
    std::fs::write(&p, data).expect("write input");
    let Ok(f) = SafetensorsFile::open(&p) else { return };
    for e in &f.entries {
        assert!(e.start <= e.end && e.end <= data.len());
        if let Ok(t) = f.f32(&e.name) {
            assert_eq!(t.shape.iter().product::<usize>(), t.data.len());
        }
        let _ = f.i64(&e.name);
    }
    if let Ok(ts) = load_f32(&p) {
        for (_, t) in ts {
            assert_eq!(t.shape.iter().product::<usize>(), t.data.len());
        }
    }
});
