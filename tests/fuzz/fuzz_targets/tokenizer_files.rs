//! Loading arbitrary tokenizer folders. The input is files joined by `\n@@\n`; the first byte picks the layout:
//! even → tokenizer.json [+ tokenizer_config.json], odd → vocab.json + merges.txt [+ tokenizer_config.json
//! + special_tokens_map.json], or with bit 7 also set vocab.txt (WordPiece), with bit 6 sentencepiece.bpe.model
//! (SentencePiece's protobuf) [+ tokenizer_config.json + special_tokens_map.json]. A folder that loads must then encode and decode without panicking.
#![no_main]
mod common;
use libfuzzer_sys::fuzz_target;
use roberta_tokenizer::Tokenizer;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else { return };
    let names: &[&str] = if ctl & 1 == 0 {
        &["tokenizer.json", "tokenizer_config.json"]
    } else if ctl & 0xC0 == 0 {
        &["vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"]
    } else if ctl & 0x40 == 0 {
        &["vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]
    } else {
        &["sentencepiece.bpe.model", "tokenizer_config.json", "special_tokens_map.json"]
    };
    let dir = common::scratch();
    for f in ["tokenizer.json", "vocab.json", "merges.txt", "vocab.txt", "sentencepiece.bpe.model", "tokenizer_config.json", "special_tokens_map.json"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    for (name, part) in names.iter().zip(common::split_parts(rest, names.len())) {
        std::fs::write(dir.join(name), part).expect("write input");
    }
    let Ok(tok) = Tokenizer::from_dir(&dir) else { return };
    for text in ["Hola, <mask> mundo!", "  dolor  torácico\n\t", "<s></s><pad>", "", "ÁCIDO [MASK] 肝炎 İ\u{301}"] {
        let e = tok.encode(text);
        for &id in &e.ids {
            assert!(tok.id_to_token(id).is_some(), "id {id} has no token");
        }
        let _ = tok.decode(&e.ids, true);
    }
    let _ = tok.vocab_size();
    let _ = tok.decode(&[0, 1, 2, 3, 50_000, u32::MAX], false);
});
