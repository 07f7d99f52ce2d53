//! The pickle VM alone (the zip layer costs the fuzzer most of its mutations): `unpickle` and `state_dict` on
//! arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use roberta_checkpoint::pickle::{state_dict, unpickle};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let _ = unpickle(data, Path::new("data.pkl"));
    if let Ok(refs) = state_dict(data, Path::new("data.pkl")) {
        for (_, t) in refs {
            assert_eq!(t.shape.len(), t.stride.len());
        }
    }
});
