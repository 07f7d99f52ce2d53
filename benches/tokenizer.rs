//! Tokenizer throughput (MB/s of UTF-8 text) on the PharmaCoNER training documents with the roberta-bne
//! vocabulary, single-thread and batched, and with the WordPiece and Unigram fixtures single-thread, against the
//! `tokenizers` crate on the same text in the same run.
//! Both give character offsets (as HF's Python API does); the outputs are checked equal before timing.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use roberta_tokenizer::{EncodeOptions, Input, Padding};

#[path = "tokenizer_common.rs"]
mod common;

fn bench(c: &mut Criterion) {
    let (ours, peer) = common::roberta_bne();
    let docs = common::pharmaconer_docs();
    let bytes: usize = docs.iter().map(String::len).sum();
    for d in &docs {
        let a = ours.encode(d);
        let b = peer.encode_char_offsets(d.as_str(), true).expect("peer encode");
        assert_eq!(a.ids, b.get_ids(), "ids differ");
        assert_eq!(a.offsets, b.get_offsets(), "offsets differ");
    }
    eprintln!("{} documents, {:.2} MB; outputs identical", docs.len(), bytes as f64 / 1e6);

    let mut g = c.benchmark_group("tokenize_pharmaconer");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    g.bench_function("roberta-rs single-thread", |b| {
        b.iter(|| docs.iter().map(|d| ours.encode(d).len()).sum::<usize>())
    });
    g.bench_function("tokenizers single-thread", |b| {
        b.iter(|| docs.iter().map(|d| peer.encode_char_offsets(d.as_str(), true).expect("encode").len()).sum::<usize>())
    });
    let inputs: Vec<Input> = docs.iter().map(|d| Input::Single(d)).collect();
    let strs: Vec<&str> = docs.iter().map(String::as_str).collect();
    let threads = rayon::current_num_threads();
    g.bench_function(format!("roberta-rs batch ({threads} threads)"), |b| {
        b.iter(|| ours.encode_batch(&inputs, &EncodeOptions::default(), Padding::None).expect("batch").len())
    });
    g.bench_function(format!("tokenizers batch ({threads} threads)"), |b| {
        b.iter(|| peer.encode_batch_char_offsets(strs.clone(), true).expect("batch").len())
    });
    g.finish();

    // the other families, single thread: cased Spanish WordPiece (BERT) and SentencePiece Unigram with the
    // compiled charsmap (XLM-R)
    for (name, rel) in [("wordpiece", "tokenizers/wordpiece-cased-es"), ("unigram", "tokenizers/unigram-xlmr-es")] {
        let (ours, peer) = common::pair(rel);
        for d in &docs {
            let a = ours.encode(d);
            let b = peer.encode_char_offsets(d.as_str(), true).expect("peer encode");
            assert_eq!((a.ids, a.offsets), (b.get_ids().to_vec(), b.get_offsets().to_vec()), "{name}: outputs differ");
        }
        let mut g = c.benchmark_group(format!("tokenize_pharmaconer_{name}"));
        g.throughput(Throughput::Bytes(bytes as u64));
        g.sample_size(10);
        g.bench_function("roberta-rs single-thread", |b| b.iter(|| docs.iter().map(|d| ours.encode(d).len()).sum::<usize>()));
        g.bench_function("tokenizers single-thread", |b| {
            b.iter(|| docs.iter().map(|d| peer.encode_char_offsets(d.as_str(), true).expect("encode").len()).sum::<usize>())
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
