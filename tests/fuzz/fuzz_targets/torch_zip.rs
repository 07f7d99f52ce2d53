//! The `pytorch_model.bin` reader on arbitrary files: the zip central directory (zip64 included), local headers,
//! the pickle VM and the storage views, through `torch_zip::load_f32`; and `Weights::load_file` on top.
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;
use roberta_checkpoint::torch_zip::{load_f32, parse_zip};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(entries) = parse_zip(data, Path::new("fuzz.bin")) {
        for e in &entries {
            assert!(e.start + e.len <= data.len());
        }
    }
    let p = common::scratch().join("pytorch_model.bin");
    std::fs::write(&p, data).expect("write input");
    if let Ok(ts) = load_f32(&p) {
        for (_, t) in ts {
            assert_eq!(t.shape.iter().product::<usize>(), t.data.len());
        }
    }
});
