//! Worst-case input (issue 20): one long record of each kind that once cost the BPE merge loop quadratic time —
//! 200,000 letters, "ab" runs, whitespace, digits, 200,000 spaces then a letter, 150 KB of base64, a long
//! punctuation run, a text full of special tokens (`<mask>` lstrip, `<s>`) — and the
//! main bench's 1 MB of PharmaCoNER text, with the roberta-bne vocabulary, single-thread, ours and the
//! `tokenizers` crate on the same input in the same run. Outputs (ids and character offsets) are checked equal
//! before timing.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::time::Duration;

#[path = "tokenizer_common.rs"]
mod common;

fn base64(n: usize) -> String {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(x % 64) as usize] as char
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let (ours, peer) = common::roberta_bne();
    let inputs: Vec<(&str, String)> = vec![
        ("a x 200000", "a".repeat(200_000)),
        ("ab x 100000", "ab".repeat(100_000)),
        ("space-newline x 100000", " \n".repeat(100_000)),
        ("1234567890 x 20000", "1234567890".repeat(20_000)),
        ("200000 spaces then x", format!("{}x", " ".repeat(200_000))),
        ("150 KB base64", base64(150_000)),
        ("!? x 100000 (punctuation run)", "!?".repeat(100_000)),
        ("<mask> fiebre<s> x 20000 (special tokens)", "<mask> fiebre<s>".repeat(20_000)),
        ("PharmaCoNER 1 MB", common::pharmaconer_docs().join("\n")),
    ];
    for (name, t) in &inputs {
        let a = ours.encode(t);
        let b = peer.encode_char_offsets(t.as_str(), true).expect("peer encode");
        assert_eq!(a.ids, b.get_ids(), "{name}: ids differ");
        assert_eq!(a.offsets, b.get_offsets(), "{name}: offsets differ");
    }
    eprintln!("{} inputs; outputs identical", inputs.len());
    for (name, t) in &inputs {
        let mut g = c.benchmark_group(format!("tokenizer_worst_case/{name}"));
        g.throughput(Throughput::Bytes(t.len() as u64));
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(3));
        g.bench_function("roberta-rs", |b| b.iter(|| ours.encode(t).len()));
        g.bench_function("tokenizers", |b| b.iter(|| peer.encode_char_offsets(t.as_str(), true).expect("encode").len()));
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
