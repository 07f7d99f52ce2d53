//! Loading a Hugging Face tokenizer directory the way `AutoTokenizer` does: `tokenizer.json` when present,
//! otherwise `vocab.json` + `merges.txt` with `tokenizer_config.json` and `special_tokens_map.json`.
use crate::added::{AddedToken, AddedVocab};
use crate::bpe::Bpe;
use crate::error::{Result, TokenizerError};
use crate::fxhash::FxHashMap;
use crate::tokenizer::{SpecialTokens, Tokenizer};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|source| TokenizerError::Io { path: path.to_path_buf(), source })
}

fn read_json(path: &Path) -> Result<Value> {
    serde_json::from_str(&read(path)?).map_err(|e| TokenizerError::BadJson { path: path.to_path_buf(), msg: e.to_string() })
}

fn bad_json(path: &Path, msg: impl Into<String>) -> TokenizerError {
    TokenizerError::BadJson { path: path.to_path_buf(), msg: msg.into() }
}

/// One special-token entry of tokenizer_config.json / special_tokens_map.json: a string or an AddedToken dict.
fn token_entry(v: &Value) -> Option<AddedToken> {
    let flag = |o: &serde_json::Map<String, Value>, k: &str| o.get(k).and_then(Value::as_bool).unwrap_or(false);
    match v {
        Value::String(s) => Some(AddedToken::special(s, 0)),
        Value::Object(o) => {
            let content = o.get("content")?.as_str()?;
            Some(AddedToken {
                content: content.to_string(),
                id: 0,
                special: o.get("special").and_then(Value::as_bool).unwrap_or(true),
                lstrip: flag(o, "lstrip"),
                rstrip: flag(o, "rstrip"),
                single_word: flag(o, "single_word"),
                normalized: flag(o, "normalized"),
            })
        }
        _ => None,
    }
}

const ROLES: [&str; 7] = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"];

/// What tokenizer_config.json and special_tokens_map.json say.
#[derive(Default)]
struct TokConfig {
    add_prefix_space: Option<bool>,
    trim_offsets: Option<bool>,
    model_max_length: Option<usize>,
    /// Role → token (special_tokens_map.json over tokenizer_config.json).
    roles: Vec<(usize, AddedToken)>,
    /// added_tokens_decoder entries (id, token) and additional special tokens (id 0 until resolved).
    extra: Vec<(Option<u32>, AddedToken)>,
}

impl TokConfig {
    fn load(dir: &Path) -> Result<TokConfig> {
        let mut c = TokConfig::default();
        let cfg_path = dir.join("tokenizer_config.json");
        let map_path = dir.join("special_tokens_map.json");
        let cfg = if cfg_path.exists() { read_json(&cfg_path)? } else { Value::Null };
        let map = if map_path.exists() { read_json(&map_path)? } else { Value::Null };
        c.add_prefix_space = cfg.get("add_prefix_space").and_then(Value::as_bool);
        c.trim_offsets = cfg.get("trim_offsets").and_then(Value::as_bool);
        // model_max_length may be a huge float meaning "no limit"
        c.model_max_length = ["model_max_length", "max_len"]
            .iter()
            .filter_map(|k| cfg.get(*k).and_then(Value::as_f64))
            .find(|&x| x >= 1.0 && x < 1e9)
            .map(|x| x as usize);
        for (r, role) in ROLES.iter().enumerate() {
            let entry = map.get(*role).or_else(|| cfg.get(*role)).and_then(token_entry);
            if let Some(t) = entry {
                c.roles.push((r, t));
            }
        }
        if let Some(dec) = cfg.get("added_tokens_decoder").and_then(Value::as_object) {
            for (id, v) in dec {
                let id: u32 = id.parse().map_err(|_| bad_json(&cfg_path, format!("added_tokens_decoder key {id:?} is not an id")))?;
                let t = token_entry(v).ok_or_else(|| bad_json(&cfg_path, format!("added_tokens_decoder[{id}] is not a token")))?;
                c.extra.push((Some(id), t));
            }
        }
        for src in [&map, &cfg] {
            if let Some(list) = src.get("additional_special_tokens").and_then(Value::as_array) {
                c.extra.extend(list.iter().filter_map(token_entry).map(|t| (None, t)));
            }
        }
        Ok(c)
    }

    /// The role names' contents.
    fn special_tokens(&self) -> SpecialTokens {
        let mut s = SpecialTokens::default();
        for (r, t) in &self.roles {
            let slot = match r {
                0 => &mut s.bos,
                1 => &mut s.eos,
                2 => &mut s.unk,
                3 => &mut s.sep,
                4 => &mut s.pad,
                5 => &mut s.cls,
                _ => &mut s.mask,
            };
            *slot = t.content.clone();
        }
        s
    }
}

/// Ids index dense tables (id → token): an id may pass the number of entries by at most 2^20, so that a file of a
/// few bytes (`{"a": 2000000000}`) cannot ask for tables of gigabytes.
fn max_id(entries: usize) -> u64 {
    (entries as u64 + (1 << 20)).min(u32::MAX as u64 / 2)
}

fn parse_vocab(path: &Path, v: &Value) -> Result<FxHashMap<String, u32>> {
    let obj = v.as_object().ok_or_else(|| bad_json(path, "the vocabulary is not a JSON object of token → id"))?;
    let mut vocab = FxHashMap::default();
    vocab.reserve(obj.len());
    let mut seen = FxHashMap::default();
    for (tok, id) in obj {
        let id = id.as_u64().filter(|&i| i < max_id(obj.len())).ok_or_else(|| TokenizerError::BadVocab {
            path: path.to_path_buf(),
            token: tok.clone(),
            msg: format!("id {id} is not an integer in [0, {}) (the vocabulary has {} entries)", max_id(obj.len()), obj.len()),
        })? as u32;
        if let Some(other) = seen.insert(id, tok.clone()) {
            return Err(TokenizerError::BadVocab {
                path: path.to_path_buf(),
                token: tok.clone(),
                msg: format!("id {id} is also the id of {other:?}"),
            });
        }
        vocab.insert(tok.clone(), id);
    }
    Ok(vocab)
}

/// Resolves merges (given as token pairs with their 1-based line) to ids.
fn resolve_merges(path: &Path, vocab: &FxHashMap<String, u32>, pairs: Vec<(usize, String, String)>) -> Result<Vec<(u32, u32, u32)>> {
    let mut out = Vec::with_capacity(pairs.len());
    let mut joined = String::new();
    for (line, a, b) in pairs {
        let text = || format!("{a} {b}");
        let id = |t: &str| {
            vocab.get(t).copied().ok_or_else(|| TokenizerError::MergeUnknownToken {
                path: path.to_path_buf(),
                line,
                text: text(),
                token: t.to_string(),
            })
        };
        let (ia, ib) = (id(&a)?, id(&b)?);
        joined.clear();
        joined.push_str(&a);
        joined.push_str(&b);
        let r = vocab.get(joined.as_str()).copied().ok_or_else(|| TokenizerError::MergeResultUnknown {
            path: path.to_path_buf(),
            line,
            text: text(),
            token: joined.clone(),
        })?;
        out.push((ia, ib, r));
    }
    Ok(out)
}

/// Parses merges.txt: `#version` lines and blank lines skipped, every other line exactly `a b`.
pub fn parse_merges_txt(path: &Path, text: &str) -> Result<Vec<(usize, String, String)>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with("#version") || line.is_empty() {
            continue;
        }
        let mut parts = line.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty() => out.push((i + 1, a.to_string(), b.to_string())),
            _ => return Err(TokenizerError::BadMerges { path: path.to_path_buf(), line: i + 1, text: line.to_string() }),
        }
    }
    Ok(out)
}

impl Tokenizer {
    /// Loads a tokenizer directory as `AutoTokenizer.from_pretrained(dir)` does.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Tokenizer> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            let what = if dir.exists() { "it is a file, not a directory" } else { "no such directory" };
            return Err(TokenizerError::NoTokenizer { dir: dir.to_path_buf(), missing: what.into() });
        }
        let cfg = TokConfig::load(dir)?;
        let tj = dir.join("tokenizer.json");
        if tj.exists() {
            return Tokenizer::from_tokenizer_json(&tj, cfg);
        }
        let (vp, mp) = (dir.join("vocab.json"), dir.join("merges.txt"));
        if vp.exists() && mp.exists() {
            return Tokenizer::from_vocab_merges(&vp, &mp, cfg);
        }
        let missing = match (vp.exists(), mp.exists()) {
            (true, false) => "merges.txt is missing (vocab.json is there)",
            (false, true) => "vocab.json is missing (merges.txt is there)",
            _ => "tokenizer.json, vocab.json and merges.txt are missing",
        };
        Err(TokenizerError::NoTokenizer { dir: dir.to_path_buf(), missing: missing.into() })
    }

    fn from_vocab_merges(vp: &Path, mp: &Path, cfg: TokConfig) -> Result<Tokenizer> {
        let mut vocab = parse_vocab(vp, &read_json(vp)?)?;
        let merges = resolve_merges(mp, &vocab, parse_merges_txt(mp, &read(mp)?)?)?;
        let special = cfg.special_tokens();
        // the role tokens, then the other added tokens; a token not in vocab.json gets the next id
        // added_tokens_decoder describes tokens precisely: it comes first and wins over the role entries (and their
        // defaults) for the same content
        let mut wanted: Vec<(Option<u32>, AddedToken)> = cfg.extra.clone();
        let defaults = SpecialTokens::default();
        let default_of = [&defaults.bos, &defaults.eos, &defaults.unk, &defaults.sep, &defaults.pad, &defaults.cls, &defaults.mask];
        for (r, d) in default_of.iter().enumerate() {
            let t = cfg.roles.iter().find(|(k, _)| *k == r).map(|(_, t)| t.clone()).unwrap_or_else(|| AddedToken::special(d, 0));
            wanted.push((None, t));
        }
        let mut added: Vec<AddedToken> = Vec::new();
        let mut next = vocab.values().map(|&i| i + 1).max().unwrap_or(0);
        for (id, mut t) in wanted {
            if added.iter().any(|a| a.content == t.content) {
                continue;
            }
            t.id = match (vocab.get(&t.content), id) {
                (Some(&v), _) => v,
                (None, Some(i)) if (i as u64) < max_id(vocab.len()) => i,
                (None, Some(i)) => {
                    let msg = format!("added_tokens_decoder id {i} is far past the vocabulary ({} entries)", vocab.len());
                    return Err(bad_json(&vp.with_file_name("tokenizer_config.json"), msg));
                }
                (None, None) => {
                    next += 1;
                    next - 1
                }
            };
            vocab.entry(t.content.clone()).or_insert(t.id);
            next = next.max(t.id + 1);
            added.push(t);
        }
        let id_of = |s: &str| added.iter().find(|t| t.content == s).map(|t| t.id);
        let cls_sep = match (id_of(&special.cls), id_of(&special.sep)) {
            (Some(c), Some(s)) => Some((c, s)),
            (None, _) => return Err(TokenizerError::MissingSpecial { token: special.cls.clone() }),
            (_, None) => return Err(TokenizerError::MissingSpecial { token: special.sep.clone() }),
        };
        let aps = cfg.add_prefix_space.unwrap_or(false);
        Ok(Tokenizer {
            bpe: Bpe::new(vocab, merges, false),
            added: AddedVocab::new(added),
            add_prefix_space: aps,
            use_regex: true,
            trim_offsets: cfg.trim_offsets.unwrap_or(true),
            post_add_prefix_space: aps,
            cls_sep,
            special,
            model_max_length: cfg.model_max_length,
        })
    }

    fn from_tokenizer_json(path: &Path, cfg: TokConfig) -> Result<Tokenizer> {
        let j = read_json(path)?;
        let unsupported = |what: &'static str, kind: &str| TokenizerError::Unsupported { path: PathBuf::from(path), what, kind: kind.to_string() };
        let model = j.get("model").ok_or_else(|| bad_json(path, "no \"model\""))?;
        let mtype = model.get("type").and_then(Value::as_str).unwrap_or("BPE");
        if mtype != "BPE" {
            return Err(unsupported("model type", mtype));
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let Some(s) = model.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()) {
                return Err(unsupported(if key.starts_with('c') { "BPE continuing_subword_prefix" } else { "BPE end_of_word_suffix" }, s));
            }
        }
        if model.get("dropout").and_then(Value::as_f64).is_some_and(|d| d > 0.0) {
            return Err(unsupported("BPE option", "dropout"));
        }
        if model.get("byte_fallback").and_then(Value::as_bool) == Some(true) {
            return Err(unsupported("BPE option", "byte_fallback"));
        }
        let mut vocab = parse_vocab(path, model.get("vocab").ok_or_else(|| bad_json(path, "model has no \"vocab\""))?)?;
        let mut pairs = Vec::new();
        let merges = model.get("merges").and_then(Value::as_array).ok_or_else(|| bad_json(path, "model has no \"merges\" list"))?;
        for (i, m) in merges.iter().enumerate() {
            let pair = match m {
                Value::String(s) => {
                    let mut p = s.split(' ');
                    match (p.next(), p.next(), p.next()) {
                        (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty() => Some((a.to_string(), b.to_string())),
                        _ => None,
                    }
                }
                Value::Array(a) if a.len() == 2 => match (a[0].as_str(), a[1].as_str()) {
                    (Some(x), Some(y)) => Some((x.to_string(), y.to_string())),
                    _ => None,
                },
                _ => None,
            };
            let (a, b) = pair.ok_or_else(|| TokenizerError::BadMerges { path: path.to_path_buf(), line: i + 1, text: m.to_string() })?;
            pairs.push((i + 1, a, b));
        }
        let merges = resolve_merges(path, &vocab, pairs)?;
        if let Some(n) = j.get("normalizer").filter(|n| !n.is_null()) {
            return Err(unsupported("normalizer", n.get("type").and_then(Value::as_str).unwrap_or("?")));
        }
        // pre-tokenizer: ByteLevel, possibly alone in a Sequence
        let mut pre = j.get("pre_tokenizer").cloned().unwrap_or(Value::Null);
        if pre.get("type").and_then(Value::as_str) == Some("Sequence") {
            let list = pre.get("pretokenizers").and_then(Value::as_array).cloned().unwrap_or_default();
            if list.len() != 1 {
                return Err(unsupported("pre_tokenizer", "Sequence of several"));
            }
            pre = list[0].clone();
        }
        let ptype = pre.get("type").and_then(Value::as_str).unwrap_or("none");
        if ptype != "ByteLevel" {
            return Err(unsupported("pre_tokenizer", ptype));
        }
        let b = |v: &Value, k: &str, d: bool| v.get(k).and_then(Value::as_bool).unwrap_or(d);
        let add_prefix_space = cfg.add_prefix_space.unwrap_or(b(&pre, "add_prefix_space", true));
        let use_regex = b(&pre, "use_regex", true);
        // added tokens
        let mut added = Vec::new();
        for t in j.get("added_tokens").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
            let id = t.get("id").and_then(Value::as_u64).ok_or_else(|| bad_json(path, format!("added token without an id: {t}")))?;
            if id >= max_id(vocab.len()) {
                return Err(bad_json(path, format!("added token id {id} is far past the vocabulary ({} entries): {t}", vocab.len())));
            }
            let id = id as u32;
            let mut a = token_entry(t).ok_or_else(|| bad_json(path, format!("malformed added token: {t}")))?;
            a.id = id;
            a.special = b(t, "special", false);
            vocab.entry(a.content.clone()).or_insert(id);
            added.push(a);
        }
        // post-processor
        let post = j.get("post_processor").cloned().unwrap_or(Value::Null);
        let (cls_sep, trim, post_aps) = match post.get("type").and_then(Value::as_str) {
            None => (None, false, add_prefix_space),
            Some("RobertaProcessing") => {
                let id = |k: &str| post.get(k).and_then(|v| v.get(1)).and_then(Value::as_u64).map(|x| x as u32);
                let (c, s) = (id("cls"), id("sep"));
                let (Some(c), Some(s)) = (c, s) else {
                    return Err(bad_json(path, "RobertaProcessing without cls / sep ids"));
                };
                // Every id an encoding carries must be a token: a cls / sep id that is neither in the vocabulary nor
                // an added token would reach the model as an id no token decodes to (found by the fuzzer).
                for (k, v) in [("cls", c), ("sep", s)] {
                    if !vocab.values().any(|&i| i == v) && !added.iter().any(|a| a.id == v) {
                        return Err(bad_json(path, format!("RobertaProcessing {k} id {v} is not a token of the vocabulary or the added tokens")));
                    }
                }
                (Some((c, s)), cfg.trim_offsets.unwrap_or(b(&post, "trim_offsets", true)), cfg.add_prefix_space.unwrap_or(b(&post, "add_prefix_space", true)))
            }
            Some("ByteLevel") => (None, cfg.trim_offsets.unwrap_or(b(&post, "trim_offsets", true)), add_prefix_space),
            Some(other) => return Err(unsupported("post_processor", other)),
        };
        let ignore_merges = b(model, "ignore_merges", false);
        Ok(Tokenizer {
            bpe: Bpe::new(vocab, merges, ignore_merges),
            added: AddedVocab::new(added),
            add_prefix_space,
            use_regex,
            trim_offsets: trim,
            post_add_prefix_space: post_aps,
            cls_sep,
            special: cfg.special_tokens(),
            model_max_length: cfg.model_max_length,
        })
    }
}
