//! config.json on arbitrary text: `Config::from_json` (serde + validate), then every derived quantity the
//! encoder and pipelines use. A config that validates must never make them panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use roberta_encoder::Config;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(c) = Config::from_json(text, Path::new("config.json")) else { return };
    let _ = c.activation().expect("validated");
    assert!(c.head_dim() * c.num_attention_heads == c.hidden_size);
    let _ = c.max_seq_len();
    let n = c.num_labels();
    if c.id2label.is_some() {
        assert_eq!(c.labels().len(), n);
    }
});
