//! The BPE model over bytes: a word's bytes start as one symbol each and the adjacent pair with the lowest
//! merge rank is merged (leftmost first on ties) until no pair has a merge: Hugging Face's order exactly.
//! Short words (nearly all of real text) merge by scanning their few pairs; long ones (a run of 200,000
//! letters, digits or spaces is one pre-token) through a heap of candidate pairs over a linked list of
//! symbols, O(n log n) instead of O(n²). Words already seen come from a bounded cache shared by all threads;
//! only words of at most [`CACHE_MAX_WORD`] bytes are cached, as HF does, so one long word cannot fill it.
use crate::bytes::byte_to_char;
use crate::fxhash::FxHashMap;
use std::sync::RwLock;

/// Largest number of words the cache holds (as Hugging Face's default).
const CACHE_CAPACITY: usize = 10_000;
/// The cache is split in shards so that threads encoding a batch rarely touch the same lock.
const SHARDS: usize = 16;
/// Longest word (bytes) the cache keeps (HF's `MAX_LENGTH`).
pub const CACHE_MAX_WORD: usize = 256;
/// From this many symbols on, merges go through the heap (below, the scan is faster).
const HEAP_FROM: usize = 48;

/// A byte-level BPE vocabulary with its merges.
pub struct Bpe {
    vocab: FxHashMap<String, u32>,
    id_to_token: Vec<Option<String>>,
    /// The id of the one-character token of each byte (None: the byte's character is not in the vocab).
    byte_ids: [Option<u32>; 256],
    /// (left, right) → (rank, merged id).
    merges: FxHashMap<u64, (u32, u32)>,
    /// Bytes each token stands for.
    token_len: Vec<u32>,
    /// Leading and trailing characters of each token string that are `Ġ` (a space), for trim_offsets.
    token_spaces: Vec<(u8, u8)>,
    ignore_merges: bool,
    cache: [RwLock<FxHashMap<Box<[u8]>, Box<[u32]>>>; SHARDS],
}

/// The cache shard of a word (a cheap mix of its length and edge bytes).
#[inline]
fn shard_of(word: &[u8]) -> usize {
    let a = word.first().copied().unwrap_or(0) as usize;
    let b = word.last().copied().unwrap_or(0) as usize;
    (a.wrapping_mul(31) ^ b.wrapping_mul(7) ^ word.len()) % SHARDS
}

#[cfg(test)]
thread_local! {
    /// Pair evaluations of this thread's merges (tests bound the work per input byte with it).
    static WORK: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts `n` units of merge work (tests only).
#[inline(always)]
fn work(_n: usize) {
    #[cfg(test)]
    WORK.with(|w| w.set(w.get() + _n as u64));
}

#[inline]
fn pair_key(a: u32, b: u32) -> u64 {
    ((a as u64) << 32) | b as u64
}

impl Bpe {
    /// Builds the model from a vocabulary and merges given as (rank order) pairs of token ids with their result.
    pub fn new(vocab: FxHashMap<String, u32>, merges: Vec<(u32, u32, u32)>, ignore_merges: bool) -> Bpe {
        let n = vocab.values().map(|&i| i as usize + 1).max().unwrap_or(0);
        let mut id_to_token = vec![None; n];
        for (t, &i) in &vocab {
            id_to_token[i as usize] = Some(t.clone());
        }
        let map = byte_to_char();
        let mut byte_ids = [None; 256];
        for (b, c) in map.iter().enumerate() {
            byte_ids[b] = vocab.get(c.encode_utf8(&mut [0; 4]) as &str).copied();
        }
        let mut token_len = vec![0u32; n];
        let mut token_spaces = vec![(0u8, 0u8); n];
        let mut buf = Vec::new();
        for (i, t) in id_to_token.iter().enumerate() {
            if let Some(t) = t {
                buf.clear();
                crate::bytes::token_to_bytes(t, &mut buf);
                token_len[i] = buf.len() as u32;
                token_spaces[i] = crate::bytes::space_counts(t);
            }
        }
        let mut m = FxHashMap::default();
        for (rank, (a, b, r)) in merges.into_iter().enumerate() {
            m.insert(pair_key(a, b), (rank as u32, r));
        }
        Bpe {
            vocab,
            id_to_token,
            byte_ids,
            merges: m,
            token_len,
            token_spaces,
            ignore_merges,
            cache: std::array::from_fn(|_| RwLock::new(FxHashMap::default())),
        }
    }

    /// The id of a token string.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.vocab.get(token).copied()
    }

    /// The token string of an id.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.id_to_token.get(id as usize).and_then(|t| t.as_deref())
    }

    /// One more than the largest id.
    pub fn len(&self) -> usize {
        self.id_to_token.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.vocab.is_empty()
    }

    /// Leading and trailing `Ġ` characters of a token string.
    pub fn token_spaces(&self, id: u32) -> (u8, u8) {
        self.token_spaces.get(id as usize).copied().unwrap_or((0, 0))
    }

    /// Tokenizes one pre-token's bytes, calling `emit(id, start, end)` with each token's byte span in `word`.
    pub fn tokenize(&self, word: &[u8], mut emit: impl FnMut(u32, usize, usize)) {
        let shard = &self.cache[shard_of(word)];
        if let Some(ids) = shard.read().expect("cache lock").get(word) {
            let mut pos = 0usize;
            for &id in ids.iter() {
                let len = self.token_len[id as usize] as usize;
                emit(id, pos, pos + len);
                pos += len;
            }
            return;
        }
        // (id, start, end) per symbol; a byte whose character is not in the vocabulary is dropped (no unk).
        let mut syms: Vec<(u32, u32, u32)> = Vec::with_capacity(word.len());
        let mut complete = true;
        if self.ignore_merges {
            if let Some(id) = self.whole_word_id(word) {
                syms.push((id, 0, word.len() as u32));
            }
        }
        if syms.is_empty() {
            for (i, &b) in word.iter().enumerate() {
                match self.byte_ids[b as usize] {
                    Some(id) => syms.push((id, i as u32, i as u32 + 1)),
                    None => complete = false,
                }
            }
            self.merge(&mut syms);
        }
        for &(id, s, e) in &syms {
            emit(id, s as usize, e as usize);
        }
        if complete && word.len() <= CACHE_MAX_WORD {
            let mut cache = shard.write().expect("cache lock");
            if cache.len() < CACHE_CAPACITY / SHARDS {
                cache.insert(word.into(), syms.iter().map(|s| s.0).collect());
            }
        }
    }

    fn whole_word_id(&self, word: &[u8]) -> Option<u32> {
        let map = byte_to_char();
        let s: String = word.iter().map(|&b| map[b as usize]).collect();
        self.vocab.get(&s).copied()
    }

    /// Applies merges in rank order, leftmost first among equal ranks.
    fn merge(&self, syms: &mut Vec<(u32, u32, u32)>) {
        if syms.len() >= HEAP_FROM {
            self.merge_heap(syms)
        } else {
            self.merge_scan(syms)
        }
    }

    /// [`Bpe::merge`] for long words: every adjacent pair with a merge is a candidate `(rank, left symbol)` in
    /// a min-heap; the smallest is taken (lowest rank, then leftmost: a merged symbol keeps its left position,
    /// so positions stay in text order), skipped when stale (its left symbol was merged away or its right
    /// neighbour changed), else merged, and the two pairs it creates are pushed. Each merge costs O(log n).
    fn merge_heap(&self, syms: &mut Vec<(u32, u32, u32)>) {
        use std::cmp::Reverse;
        const END: u32 = u32::MAX;
        let n = syms.len();
        if n < 2 {
            return;
        }
        let rank_of = |a: u32, b: u32| self.merges.get(&pair_key(a, b)).copied();
        let mut next: Vec<u32> = (1..=n as u32).map(|i| if i as usize == n { END } else { i }).collect();
        let mut prev: Vec<u32> = (0..n as u32).map(|i| if i == 0 { END } else { i - 1 }).collect();
        let mut alive = vec![true; n];
        let mut heap: std::collections::BinaryHeap<Reverse<(u32, u32)>> = std::collections::BinaryHeap::with_capacity(n);
        for i in 0..n - 1 {
            if let Some((r, _)) = rank_of(syms[i].0, syms[i + 1].0) {
                heap.push(Reverse((r, i as u32)));
            }
        }
        let log = |len: usize| (usize::BITS - len.leading_zeros()) as usize;
        work(heap.len() * log(heap.len()));
        while let Some(Reverse((r, i))) = heap.pop() {
            work(log(heap.len()));
            let i = i as usize;
            let j = next[i];
            if !alive[i] || j == END {
                continue;
            }
            let j = j as usize;
            let new_id = match rank_of(syms[i].0, syms[j].0) {
                // ranks are unique per pair: the same rank is the same pair, still there
                Some((rr, id)) if rr == r => id,
                _ => continue,
            };
            syms[i] = (new_id, syms[i].1, syms[j].2);
            alive[j] = false;
            next[i] = next[j];
            if next[j] != END {
                prev[next[j] as usize] = i as u32;
            }
            if prev[i] != END {
                let p = prev[i] as usize;
                if let Some((r2, _)) = rank_of(syms[p].0, syms[i].0) {
                    heap.push(Reverse((r2, p as u32)));
                    work(log(heap.len()));
                }
            }
            if next[i] != END {
                if let Some((r2, _)) = rank_of(syms[i].0, syms[next[i] as usize].0) {
                    heap.push(Reverse((r2, i as u32)));
                    work(log(heap.len()));
                }
            }
        }
        let mut k = 0;
        syms.retain(|_| {
            k += 1;
            alive[k - 1]
        });
    }

    /// [`Bpe::merge`] for short words: a linear scan for the best pair per merge.
    fn merge_scan(&self, syms: &mut Vec<(u32, u32, u32)>) {
        const NONE: u32 = u32::MAX;
        let rank_of = |a: u32, b: u32| self.merges.get(&pair_key(a, b)).copied();
        let mut ranks: Vec<u32> =
            syms.windows(2).map(|w| rank_of(w[0].0, w[1].0).map_or(NONE, |r| r.0)).collect();
        loop {
            work(ranks.len() + 1);
            let mut best = NONE;
            let mut at = usize::MAX;
            for (i, &r) in ranks.iter().enumerate() {
                if r < best {
                    best = r;
                    at = i;
                }
            }
            if best == NONE {
                return;
            }
            let (_, new_id) = rank_of(syms[at].0, syms[at + 1].0).expect("rank came from this pair");
            syms[at] = (new_id, syms[at].1, syms[at + 1].2);
            syms.remove(at + 1);
            ranks.remove(at);
            if at > 0 {
                ranks[at - 1] = rank_of(syms[at - 1].0, syms[at].0).map_or(NONE, |r| r.0);
            }
            if at < ranks.len() {
                ranks[at] = rank_of(syms[at].0, syms[at + 1].0).map_or(NONE, |r| r.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(tokens: &[&str], merges: &[(&str, &str)]) -> Bpe {
        let mut vocab = FxHashMap::default();
        for (i, t) in tokens.iter().enumerate() {
            vocab.insert(t.to_string(), i as u32);
        }
        let id = |t: &str| vocab[t];
        let m = merges.iter().map(|(a, b)| (id(a), id(b), id(&format!("{a}{b}")))).collect();
        Bpe::new(vocab, m, false)
    }

    fn run(m: &Bpe, w: &str) -> Vec<(u32, usize, usize)> {
        let mut v = Vec::new();
        m.tokenize(w.as_bytes(), |id, s, e| v.push((id, s, e)));
        v
    }

    #[test]
    fn lowest_rank_first_then_leftmost() {
        // tokens: a b ab aa ba ; merges by rank: (a,a) then (a,b)
        let m = model(&["a", "b", "aa", "ab"], &[("a", "a"), ("a", "b")]);
        assert_eq!(run(&m, "aaa"), [(2, 0, 2), (0, 2, 3)]);
        assert_eq!(run(&m, "aab"), [(2, 0, 2), (1, 2, 3)]);
        assert_eq!(run(&m, "bab"), [(1, 0, 1), (3, 1, 3)]);
        // cached: the same answer again
        assert_eq!(run(&m, "aaa"), [(2, 0, 2), (0, 2, 3)]);
    }

    /// The heap and the scan merge identically, on words that mix ranks (a chain of merges of every length).
    #[test]
    fn heap_merges_as_the_scan_does() {
        let m = model(
            &["a", "b", "c", "ab", "bc", "abc", "ca", "aa", "aaa", "cab", "abab", "bb"],
            &[("b", "c"), ("a", "b"), ("a", "a"), ("c", "a"), ("ab", "c"), ("aa", "a"), ("c", "ab"), ("ab", "ab"), ("b", "b")],
        );
        let mut seed = 0x2545F4914F6CDD1Du64;
        for len in [1usize, 2, 3, 5, 47, 48, 49, 64, 200, 1000] {
            for _ in 0..50 {
                let w: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        b"abc"[(seed % 3) as usize]
                    })
                    .collect();
                let syms0: Vec<(u32, u32, u32)> = w.iter().enumerate().map(|(i, &b)| (m.byte_ids[b as usize].unwrap(), i as u32, i as u32 + 1)).collect();
                let (mut a, mut b) = (syms0.clone(), syms0);
                m.merge_scan(&mut a);
                m.merge_heap(&mut b);
                assert_eq!(a, b, "{}", String::from_utf8_lossy(&w));
            }
        }
    }

    /// The work of tokenizing a text of 2n bytes is at most 2.5× that of n bytes, for every kind of long run
    /// the issue lists and with the real roberta-bne vocabulary (a quadratic merge would give 4×).
    #[test]
    fn merge_work_grows_near_linearly() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/tokenizers/roberta-bne");
        let tok = crate::Tokenizer::from_dir(dir).unwrap();
        let b64: String = {
            let mut x = 0x9E3779B97F4A7C15u64;
            (0..400_000)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[(x % 64) as usize] as char
                })
                .collect()
        };
        let kinds: [(&str, Box<dyn Fn(usize) -> String>); 6] = [
            ("a", Box::new(|n| "a".repeat(n))),
            ("ab", Box::new(|n| "ab".repeat(n / 2))),
            ("space-newline", Box::new(|n| " \n".repeat(n / 2))),
            ("digits", Box::new(|n| "1234567890".repeat(n / 10))),
            ("base64", Box::new(move |n| b64[..n].to_string())),
            ("mixed ranks", Box::new(|n| "hipercolesterolemiaxq".repeat(n / 21))),
        ];
        for (name, make) in &kinds {
            let cost = |n: usize| {
                WORK.with(|w| w.set(0));
                tok.encode(&make(n));
                WORK.with(|w| w.get())
            };
            let (one, two) = (cost(50_000), cost(100_000));
            assert!(one > 0, "{name}");
            let ratio = two as f64 / one as f64;
            assert!(ratio <= 2.5, "{name}: doubling the input multiplied the merge work by {ratio:.2} ({one} → {two})");
        }
    }

    #[test]
    fn bytes_outside_the_vocabulary_are_dropped() {
        let m = model(&["a"], &[]);
        assert_eq!(run(&m, "a\u{e9}a"), [(0, 0, 1), (0, 3, 4)]);
    }
}
