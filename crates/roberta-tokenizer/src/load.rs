//! Loading a Hugging Face tokenizer directory the way `AutoTokenizer` does: `tokenizer.json` when present,
//! otherwise `vocab.json` + `merges.txt` (byte-level BPE) or `vocab.txt` (WordPiece), with
//! `tokenizer_config.json` and `special_tokens_map.json`.
use crate::added::{AddedToken, AddedVocab};
use crate::bpe::Bpe;
use crate::encoding::{Template, TemplatePiece};
use crate::error::{Result, TokenizerError};
use crate::fxhash::FxHashMap;
use crate::normalizer::BertNormalizer;
use crate::tokenizer::{Decoder, Model, SpecialTokens, Tokenizer};
use crate::unigram::{Metaspace, PrependScheme, ReplacePattern, Unigram, UnigramNormalizer};
use crate::wordpiece::WordPiece;
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
    /// BERT's options: do_lower_case, strip_accents, tokenize_chinese_chars.
    do_lower_case: Option<bool>,
    strip_accents: Option<bool>,
    tokenize_chinese_chars: Option<bool>,
    clean_up_tokenization_spaces: bool,
    /// Whether AutoTokenizer would build transformers' `BertTokenizer`: tokenizer_config.json's tokenizer_class
    /// says so, or, without one, config.json's model_type is `bert`.
    bert_class: bool,
    /// Whether AutoTokenizer would build transformers' `XLMRobertaTokenizer` (tokenizer_class, or config.json's
    /// model_type `xlm-roberta`): it keeps tokenizer.json's pieces, compiled map and added tokens and rebuilds
    /// the rest (WhitespaceSplit + Metaspace "always", `<s> A </s></s> B </s>`).
    xlmr_class: bool,
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
        c.do_lower_case = cfg.get("do_lower_case").and_then(Value::as_bool);
        c.strip_accents = cfg.get("strip_accents").and_then(Value::as_bool);
        c.tokenize_chinese_chars = cfg.get("tokenize_chinese_chars").and_then(Value::as_bool);
        c.clean_up_tokenization_spaces = cfg.get("clean_up_tokenization_spaces").and_then(Value::as_bool).unwrap_or(false);
        // an unreadable config.json is the model loader's error to report, not the tokenizer's
        let model_type = || {
            let v = std::fs::read_to_string(dir.join("config.json")).ok().and_then(|t| serde_json::from_str::<Value>(&t).ok());
            v.as_ref().and_then(|v| v.get("model_type")).and_then(Value::as_str).map(str::to_string)
        };
        let (bert, xlmr) = match cfg.get("tokenizer_class").and_then(Value::as_str) {
            Some(class) => (
                matches!(class, "BertTokenizer" | "BertTokenizerFast"),
                matches!(class, "XLMRobertaTokenizer" | "XLMRobertaTokenizerFast"),
            ),
            None => {
                let t = model_type();
                (t.as_deref() == Some("bert"), t.as_deref() == Some("xlm-roberta"))
            }
        };
        (c.bert_class, c.xlmr_class) = (bert, xlmr);
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

    /// The role names' contents, over the family's defaults.
    fn special_tokens(&self, defaults: SpecialTokens) -> SpecialTokens {
        let mut s = defaults;
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
        Self::load_dir(dir.as_ref()).map(Tokenizer::normalize_added_tokens)
    }

    fn load_dir(dir: &Path) -> Result<Tokenizer> {
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
        let vt = dir.join("vocab.txt");
        if vt.exists() && !vp.exists() && !mp.exists() {
            return Tokenizer::from_vocab_txt(&vt, cfg);
        }
        let spm = dir.join("sentencepiece.bpe.model");
        if spm.exists() && !vp.exists() && !mp.exists() {
            return Tokenizer::from_sentencepiece(&spm, cfg);
        }
        let missing = match (vp.exists(), mp.exists()) {
            (true, false) => "merges.txt is missing (vocab.json is there)",
            (false, true) => "vocab.json is missing (merges.txt is there)",
            _ => "tokenizer.json, vocab.json + merges.txt, vocab.txt and sentencepiece.bpe.model are all missing",
        };
        Err(TokenizerError::NoTokenizer { dir: dir.to_path_buf(), missing: missing.into() })
    }

    fn from_vocab_merges(vp: &Path, mp: &Path, cfg: TokConfig) -> Result<Tokenizer> {
        let mut vocab = parse_vocab(vp, &read_json(vp)?)?;
        let merges = resolve_merges(mp, &vocab, parse_merges_txt(mp, &read(mp)?)?)?;
        let special = cfg.special_tokens(SpecialTokens::default());
        let added = resolve_added(vp, &mut vocab, &cfg, &SpecialTokens::default(), &[0, 1, 2, 3, 4, 5, 6])?;
        let id_of = |s: &str| added.iter().find(|t| t.content == s).map(|t| t.id);
        let (cls, sep) = match (id_of(&special.cls), id_of(&special.sep)) {
            (Some(c), Some(s)) => (c, s),
            (None, _) => return Err(TokenizerError::MissingSpecial { token: special.cls.clone() }),
            (_, None) => return Err(TokenizerError::MissingSpecial { token: special.sep.clone() }),
        };
        let aps = cfg.add_prefix_space.unwrap_or(false);
        Ok(Tokenizer {
            model: Model::Bpe(Box::new(Bpe::new(vocab, merges, false))),
            added: AddedVocab::new(added),
            add_prefix_space: aps,
            use_regex: true,
            trim_offsets: cfg.trim_offsets.unwrap_or(true),
            post_add_prefix_space: aps,
            post: Some(Template::roberta(cls, sep)),
            decoder: Decoder::ByteLevel,
            clean_up_spaces: false,
            special,
            model_max_length: cfg.model_max_length,
        })
    }

    /// vocab.txt (one token per line, the line number its id) with tokenizer_config.json's do_lower_case,
    /// strip_accents and tokenize_chinese_chars: BERT's tokenizer as transformers builds it from these files.
    fn from_vocab_txt(vp: &Path, cfg: TokConfig) -> Result<Tokenizer> {
        let mut vocab = parse_vocab_txt(vp, &read(vp)?)?;
        let special = cfg.special_tokens(SpecialTokens::bert());
        // BERT has no bos / eos roles: only those the config names are added
        let added = resolve_added(vp, &mut vocab, &cfg, &SpecialTokens::bert(), &[2, 3, 4, 5, 6])?;
        let id_of = |s: &str| added.iter().find(|t| t.content == s).map(|t| t.id);
        let (Some(cls), Some(sep), Some(unk)) = (id_of(&special.cls), id_of(&special.sep), id_of(&special.unk)) else {
            unreachable!("the roles were just added")
        };
        let normalizer = BertNormalizer {
            clean_text: true,
            handle_chinese_chars: cfg.tokenize_chinese_chars.unwrap_or(true),
            strip_accents: cfg.strip_accents,
            lowercase: cfg.do_lower_case.unwrap_or(true),
        };
        Ok(Tokenizer {
            model: Model::WordPiece { wp: WordPiece::new(vocab, unk, "##".into(), 100), normalizer: Some(normalizer) },
            added: AddedVocab::new(added),
            add_prefix_space: false,
            use_regex: false,
            trim_offsets: false,
            post_add_prefix_space: false,
            post: Some(Template::bert(cls, sep)),
            decoder: Decoder::WordPiece { prefix: "##".into(), cleanup: true },
            clean_up_spaces: cfg.clean_up_tokenization_spaces,
            special,
            model_max_length: cfg.model_max_length,
        })
    }
}

/// The added tokens of a tokenizer built from vocabulary files: added_tokens_decoder's and the additional special
/// tokens first (added_tokens_decoder describes tokens precisely and wins over the role entries for the same
/// content), then the role tokens from the config, or from `defaults` for the roles in `roles` (indices into bos,
/// eos, unk, sep, pad, cls, mask); a token not in the vocabulary gets the next free id (and is entered into it).
fn resolve_added(vp: &Path, vocab: &mut FxHashMap<String, u32>, cfg: &TokConfig, defaults: &SpecialTokens, roles: &[usize]) -> Result<Vec<AddedToken>> {
        let mut wanted: Vec<(Option<u32>, AddedToken)> = cfg.extra.clone();
        let default_of = [&defaults.bos, &defaults.eos, &defaults.unk, &defaults.sep, &defaults.pad, &defaults.cls, &defaults.mask];
        for (r, d) in default_of.iter().enumerate() {
            let given = cfg.roles.iter().find(|(k, _)| *k == r).map(|(_, t)| t.clone());
            match given {
                Some(t) => wanted.push((None, t)),
                None if roles.contains(&r) => wanted.push((None, AddedToken::special(d, 0))),
                None => {}
            }
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
    Ok(added)
}

/// Parses vocab.txt as transformers does: one token per line (lines end at `\n`, `\r\n` or `\r`, Python's
/// universal newlines), its id the line number; a token given twice keeps its last line.
pub fn parse_vocab_txt(path: &Path, text: &str) -> Result<FxHashMap<String, u32>> {
    let mut vocab = FxHashMap::default();
    let mut id = 0u32;
    let mut rest = text;
    while !rest.is_empty() {
        let (line, next) = match rest.find(['\n', '\r']) {
            Some(k) => {
                let skip = if rest[k..].starts_with("\r\n") { 2 } else { 1 };
                (&rest[..k], &rest[k + skip..])
            }
            None => (rest, ""),
        };
        vocab.insert(line.to_string(), id);
        id = id.checked_add(1).ok_or_else(|| bad_json(path, "more than 2^32 lines"))?;
        rest = next;
    }
    if vocab.is_empty() {
        return Err(TokenizerError::BadVocab { path: path.to_path_buf(), token: String::new(), msg: "the vocabulary is empty".into() });
    }
    Ok(vocab)
}

/// tokenizer.json's `added_tokens`, entered into `vocab`.
fn parse_added(path: &Path, j: &Value, vocab: &mut FxHashMap<String, u32>) -> Result<Vec<AddedToken>> {
    let mut added = Vec::new();
    for t in j.get("added_tokens").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
        let id = t.get("id").and_then(Value::as_u64).ok_or_else(|| bad_json(path, format!("added token without an id: {t}")))?;
        if id >= max_id(vocab.len()) {
            return Err(bad_json(path, format!("added token id {id} is far past the vocabulary ({} entries): {t}", vocab.len())));
        }
        let mut a = token_entry(t).ok_or_else(|| bad_json(path, format!("malformed added token: {t}")))?;
        // a token the vocabulary has keeps the vocabulary's id, as HF resolves it (a well-formed file agrees)
        let id = vocab.get(&a.content).copied().unwrap_or(id as u32);
        a.id = id;
        a.special = t.get("special").and_then(Value::as_bool).unwrap_or(false);
        vocab.entry(a.content.clone()).or_insert(id);
        added.push(a);
    }
    Ok(added)
}

/// What tokenizer.json's post_processor says: the template, and for the byte-level ones trim_offsets and
/// add_prefix_space.
struct Post {
    template: Option<Template>,
    trim_offsets: Option<bool>,
    add_prefix_space: Option<bool>,
}

/// Parses the post_processor: RobertaProcessing, BertProcessing, TemplateProcessing, ByteLevel, or none. Every id
/// it adds must be a token: one that is neither in the vocabulary nor an added token would reach the model as an
/// id no token decodes to (found by the fuzzer).
fn parse_post(path: &Path, j: &Value, vocab: &FxHashMap<String, u32>, added: &[AddedToken]) -> Result<Post> {
    let post = j.get("post_processor").cloned().unwrap_or(Value::Null);
    let flag = |k: &str| post.get(k).and_then(Value::as_bool);
    let kind = post.get("type").and_then(Value::as_str);
    let pair_id = |k: &str| post.get(k).and_then(|v| v.get(1)).and_then(Value::as_u64).map(|x| x as u32);
    let out = match kind {
        None => Post { template: None, trim_offsets: None, add_prefix_space: None },
        Some(k @ ("RobertaProcessing" | "BertProcessing")) => {
            let (Some(c), Some(s)) = (pair_id("cls"), pair_id("sep")) else {
                return Err(bad_json(path, format!("{k} without cls / sep ids")));
            };
            for (role, v) in [("cls", c), ("sep", s)] {
                if !vocab.values().any(|&i| i == v) && !added.iter().any(|a| a.id == v) {
                    return Err(bad_json(path, format!("{k} {role} id {v} is not a token of the vocabulary or the added tokens")));
                }
            }
            if k == "RobertaProcessing" {
                Post { template: Some(Template::roberta(c, s)), trim_offsets: Some(flag("trim_offsets").unwrap_or(true)), add_prefix_space: Some(flag("add_prefix_space").unwrap_or(true)) }
            } else {
                Post { template: Some(Template::bert(c, s)), trim_offsets: None, add_prefix_space: None }
            }
        }
        Some("TemplateProcessing") => Post { template: Some(parse_template(path, &post)?), trim_offsets: None, add_prefix_space: None },
        Some("ByteLevel") => Post { template: None, trim_offsets: Some(flag("trim_offsets").unwrap_or(true)), add_prefix_space: None },
        Some(other) => {
            return Err(TokenizerError::Unsupported { path: path.to_path_buf(), what: "post_processor", kind: other.to_string() });
        }
    };
    let ids: std::collections::HashSet<u32> = vocab.values().copied().chain(added.iter().map(|a| a.id)).collect();
    if let Some(t) = &out.template {
        for v in t.special_ids() {
            if !ids.contains(&v) {
                let k = kind.unwrap_or("?");
                return Err(bad_json(path, format!("{k}: special token id {v} is not a token of the vocabulary or the added tokens")));
            }
        }
    }
    Ok(out)
}

/// TemplateProcessing: `single` and `pair`, lists of `{"SpecialToken": {"id", "type_id"}}` and
/// `{"Sequence": {"id": "A" | "B", "type_id"}}`, the special tokens' ids in `special_tokens`.
fn parse_template(path: &Path, post: &Value) -> Result<Template> {
    let specials = post.get("special_tokens").and_then(Value::as_object);
    let pieces = |key: &str| -> Result<Vec<TemplatePiece>> {
        let list = post.get(key).and_then(Value::as_array).ok_or_else(|| bad_json(path, format!("TemplateProcessing without a \"{key}\" list")))?;
        list.iter()
            .map(|p| {
                let bad = || bad_json(path, format!("TemplateProcessing {key}: malformed piece {p}"));
                let type_id = |v: &Value| v.get("type_id").and_then(Value::as_u64).map_or(Ok(0), |t| u32::try_from(t).map_err(|_| bad()));
                if let Some(sp) = p.get("SpecialToken") {
                    let name = sp.get("id").and_then(Value::as_str).ok_or_else(bad)?;
                    let ids = specials
                        .and_then(|m| m.get(name))
                        .and_then(|t| t.get("ids"))
                        .and_then(Value::as_array)
                        .ok_or_else(|| bad_json(path, format!("TemplateProcessing {key}: special token {name:?} is not in special_tokens")))?
                        .iter()
                        .map(|i| i.as_u64().and_then(|i| u32::try_from(i).ok()).ok_or_else(bad))
                        .collect::<Result<Vec<u32>>>()?;
                    Ok(TemplatePiece::Special { ids, type_id: type_id(sp)? })
                } else if let Some(sq) = p.get("Sequence") {
                    let second = match sq.get("id").and_then(Value::as_str) {
                        Some("A") => false,
                        Some("B") => true,
                        _ => return Err(bad()),
                    };
                    Ok(TemplatePiece::Seq { second, type_id: type_id(sq)? })
                } else {
                    Err(bad())
                }
            })
            .collect()
    };
    let (single, pair) = (pieces("single")?, pieces("pair")?);
    if single.iter().any(|p| matches!(p, TemplatePiece::Seq { second: true, .. })) {
        return Err(bad_json(path, "TemplateProcessing: the single template uses $B"));
    }
    Ok(Template { single, pair })
}

/// The one pre-tokenizer of tokenizer.json (alone, or alone in a Sequence), by type.
fn single_pre_tokenizer(path: &Path, j: &Value) -> Result<Value> {
    let mut pre = j.get("pre_tokenizer").cloned().unwrap_or(Value::Null);
    if pre.get("type").and_then(Value::as_str) == Some("Sequence") {
        let list = pre.get("pretokenizers").and_then(Value::as_array).cloned().unwrap_or_default();
        if list.len() != 1 {
            return Err(TokenizerError::Unsupported { path: path.to_path_buf(), what: "pre_tokenizer", kind: "Sequence of several".into() });
        }
        pre = list[0].clone();
    }
    Ok(pre)
}

impl Tokenizer {
    fn from_tokenizer_json(path: &Path, cfg: TokConfig) -> Result<Tokenizer> {
        let j = read_json(path)?;
        let model = j.get("model").ok_or_else(|| bad_json(path, "no \"model\""))?;
        match model.get("type").and_then(Value::as_str).unwrap_or("BPE") {
            "BPE" => Self::bpe_from_json(path, &j, model, cfg),
            "WordPiece" => Self::wordpiece_from_json(path, &j, model, cfg),
            "Unigram" => Self::unigram_from_json(path, &j, model, cfg),
            other => Err(TokenizerError::Unsupported { path: path.to_path_buf(), what: "model type", kind: other.to_string() }),
        }
    }

    fn bpe_from_json(path: &Path, j: &Value, model: &Value, cfg: TokConfig) -> Result<Tokenizer> {
        let unsupported = |what: &'static str, kind: &str| TokenizerError::Unsupported { path: PathBuf::from(path), what, kind: kind.to_string() };
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
        let pre = single_pre_tokenizer(path, j)?;
        let ptype = pre.get("type").and_then(Value::as_str).unwrap_or("none");
        if ptype != "ByteLevel" {
            return Err(unsupported("pre_tokenizer", ptype));
        }
        let b = |v: &Value, k: &str, d: bool| v.get(k).and_then(Value::as_bool).unwrap_or(d);
        let add_prefix_space = cfg.add_prefix_space.unwrap_or(b(&pre, "add_prefix_space", true));
        let use_regex = b(&pre, "use_regex", true);
        let added = parse_added(path, j, &mut vocab)?;
        let post = parse_post(path, j, &vocab, &added)?;
        let ignore_merges = b(model, "ignore_merges", false);
        Ok(Tokenizer {
            model: Model::Bpe(Box::new(Bpe::new(vocab, merges, ignore_merges))),
            added: AddedVocab::new(added),
            add_prefix_space,
            use_regex,
            trim_offsets: post.trim_offsets.is_some_and(|t| cfg.trim_offsets.unwrap_or(t)),
            post_add_prefix_space: post.add_prefix_space.map_or(add_prefix_space, |a| cfg.add_prefix_space.unwrap_or(a)),
            post: post.template,
            decoder: Decoder::ByteLevel,
            // transformers never cleans up a BPE tokenizer's decoded text
            clean_up_spaces: false,
            special: cfg.special_tokens(SpecialTokens::default()),
            model_max_length: cfg.model_max_length,
        })
    }

    fn wordpiece_from_json(path: &Path, j: &Value, model: &Value, cfg: TokConfig) -> Result<Tokenizer> {
        let unsupported = |what: &'static str, kind: &str| TokenizerError::Unsupported { path: PathBuf::from(path), what, kind: kind.to_string() };
        let mut vocab = parse_vocab(path, model.get("vocab").ok_or_else(|| bad_json(path, "model has no \"vocab\""))?)?;
        let unk_token = model.get("unk_token").and_then(Value::as_str).unwrap_or("[UNK]").to_string();
        let prefix = model.get("continuing_subword_prefix").and_then(Value::as_str).unwrap_or("##").to_string();
        let max_chars = match model.get("max_input_chars_per_word") {
            // BertTokenizer builds its WordPiece with the default
            _ if cfg.bert_class => 100,
            None | Some(Value::Null) => 100,
            Some(v) => v.as_u64().ok_or_else(|| bad_json(path, format!("max_input_chars_per_word {v} is not a count")))? as usize,
        };
        let normalizer = match j.get("normalizer").filter(|n| !n.is_null()) {
            // transformers' BertTokenizer (4.x's fast one too) rebuilds the normalizer from tokenizer_config.json's
            // flags, whatever tokenizer.json says (defaults: lowercase, accents following it, ideographs padded)
            _ if cfg.bert_class => Some(BertNormalizer {
                clean_text: true,
                handle_chinese_chars: cfg.tokenize_chinese_chars.unwrap_or(true),
                strip_accents: cfg.strip_accents,
                lowercase: cfg.do_lower_case.unwrap_or(true),
            }),
            None => None,
            Some(n) if n.get("type").and_then(Value::as_str) == Some("BertNormalizer") => {
                let b = |k: &str, d: bool| n.get(k).and_then(Value::as_bool).unwrap_or(d);
                Some(BertNormalizer {
                    clean_text: b("clean_text", true),
                    handle_chinese_chars: b("handle_chinese_chars", true),
                    strip_accents: n.get("strip_accents").and_then(Value::as_bool),
                    lowercase: b("lowercase", true),
                })
            }
            Some(n) => return Err(unsupported("normalizer", n.get("type").and_then(Value::as_str).unwrap_or("?"))),
        };
        let pre = single_pre_tokenizer(path, j)?;
        let ptype = pre.get("type").and_then(Value::as_str).unwrap_or("none");
        if ptype != "BertPreTokenizer" {
            return Err(unsupported("pre_tokenizer (with WordPiece)", ptype));
        }
        let added = parse_added(path, j, &mut vocab)?;
        let post = parse_post(path, j, &vocab, &added)?;
        let unk = *vocab.get(&unk_token).ok_or_else(|| bad_json(path, format!("the WordPiece unk_token {unk_token:?} is not in the vocabulary")))?;
        let decoder = match j.get("decoder").filter(|d| !d.is_null()) {
            // transformers' BertTokenizer sets WordPiece's decoder; a bare tokenizer.json without one joins tokens
            _ if cfg.bert_class => Decoder::WordPiece { prefix: prefix.clone(), cleanup: true },
            None => Decoder::Join,
            Some(d) if d.get("type").and_then(Value::as_str) == Some("WordPiece") => Decoder::WordPiece {
                prefix: d.get("prefix").and_then(Value::as_str).unwrap_or("##").to_string(),
                cleanup: d.get("cleanup").and_then(Value::as_bool).unwrap_or(true),
            },
            Some(d) => return Err(unsupported("decoder (with WordPiece)", d.get("type").and_then(Value::as_str).unwrap_or("?"))),
        };
        Ok(Tokenizer {
            model: Model::WordPiece { wp: WordPiece::new(vocab, unk, prefix, max_chars), normalizer },
            added: AddedVocab::new(added),
            add_prefix_space: false,
            use_regex: false,
            trim_offsets: false,
            post_add_prefix_space: false,
            post: post.template,
            decoder,
            clean_up_spaces: cfg.clean_up_tokenization_spaces,
            special: cfg.special_tokens(SpecialTokens::bert()),
            model_max_length: cfg.model_max_length,
        })
    }

    fn unigram_from_json(path: &Path, j: &Value, model: &Value, cfg: TokConfig) -> Result<Tokenizer> {
        let unsupported = |what: &'static str, kind: &str| TokenizerError::Unsupported { path: PathBuf::from(path), what, kind: kind.to_string() };
        if model.get("byte_fallback").and_then(Value::as_bool) == Some(true) {
            return Err(unsupported("Unigram option", "byte_fallback"));
        }
        let list = model.get("vocab").and_then(Value::as_array).ok_or_else(|| bad_json(path, "Unigram model has no \"vocab\" list"))?;
        let mut pieces = Vec::with_capacity(list.len());
        for (i, e) in list.iter().enumerate() {
            let pair = e.as_array().filter(|a| a.len() == 2);
            let (Some(piece), Some(score)) = (pair.and_then(|a| a[0].as_str()), pair.and_then(|a| a[1].as_f64())) else {
                return Err(TokenizerError::BadVocab { path: path.to_path_buf(), token: e.to_string(), msg: format!("entry {i} is not [piece, score]") });
            };
            pieces.push((piece.to_string(), score));
        }
        let unk = match model.get("unk_id") {
            Some(Value::Number(n)) => n.as_u64().filter(|&u| (u as usize) < pieces.len()).ok_or_else(|| bad_json(path, format!("unk_id {n} is not a piece of the {} in the vocabulary", pieces.len())))? as u32,
            _ => return Err(unsupported("Unigram model", "without unk_id")),
        };
        let mut normalizers = Vec::new();
        let (whitespace_split, metaspace) = if cfg.xlmr_class {
            // transformers' XLMRobertaTokenizer: the pieces, the compiled map and the added tokens of tokenizer.json,
            // the rest its own (whatever else tokenizer.json says is not read)
            if let Some(n) = j.get("normalizer").filter(|n| !n.is_null()) {
                find_precompiled(path, n, &mut normalizers)?;
            }
            (true, Metaspace { replacement: '▁', prepend: PrependScheme::Always, split: true })
        } else {
            if let Some(n) = j.get("normalizer").filter(|n| !n.is_null()) {
                unigram_normalizers(path, n, &mut normalizers)?;
            }
            // Metaspace, alone or after WhitespaceSplit (transformers 5's XLM-R conversion)
            let pre = j.get("pre_tokenizer").cloned().unwrap_or(Value::Null);
            let kind = |v: &Value| v.get("type").and_then(Value::as_str).unwrap_or("none").to_string();
            let (whitespace_split, pre) = match kind(&pre).as_str() {
                "Sequence" => {
                    let list = pre.get("pretokenizers").and_then(Value::as_array).cloned().unwrap_or_default();
                    match list.iter().map(kind).collect::<Vec<_>>().as_slice() {
                        [m] if m == "Metaspace" => (false, list[0].clone()),
                        [w, m] if w == "WhitespaceSplit" && m == "Metaspace" => (true, list[1].clone()),
                        other => return Err(unsupported("pre_tokenizer (with Unigram)", &format!("Sequence {other:?}"))),
                    }
                }
                "Metaspace" => (false, pre),
                other => return Err(unsupported("pre_tokenizer (with Unigram)", other)),
            };
            (whitespace_split, parse_metaspace(path, &pre)?)
        };
        let has_decoder = j.get("decoder").is_some_and(|d| !d.is_null());
        match j.get("decoder").filter(|d| !d.is_null()) {
            _ if cfg.xlmr_class => {}
            None => {}
            Some(d) if d.get("type").and_then(Value::as_str) == Some("Metaspace") && parse_metaspace(path, d)? != metaspace => {
                return Err(unsupported("decoder (with Unigram)", "Metaspace with other settings than the pre-tokenizer's"));
            }
            Some(d) if d.get("type").and_then(Value::as_str) == Some("Metaspace") => {}
            Some(d) => return Err(unsupported("decoder (with Unigram)", d.get("type").and_then(Value::as_str).unwrap_or("?"))),
        }
        let mut vocab: FxHashMap<String, u32> = FxHashMap::default();
        for (i, (p, _)) in pieces.iter().enumerate() {
            vocab.entry(p.clone()).or_insert(i as u32);
        }
        let added = parse_added(path, j, &mut vocab)?;
        let mut post = parse_post(path, j, &vocab, &added)?;
        if cfg.xlmr_class {
            let id = |t: &str| vocab.get(t).copied().ok_or_else(|| TokenizerError::MissingSpecial { token: t.to_string() });
            post.template = Some(Template::roberta(id("<s>")?, id("</s>")?));
        }
        Ok(Tokenizer {
            model: Model::Unigram { model: Unigram::new(pieces, unk), normalizers, metaspace, whitespace_split },
            added: AddedVocab::new(added),
            add_prefix_space: false,
            use_regex: false,
            trim_offsets: false,
            post_add_prefix_space: false,
            post: post.template,
            decoder: if has_decoder || cfg.xlmr_class { Decoder::Metaspace(metaspace) } else { Decoder::Join },
            clean_up_spaces: cfg.clean_up_tokenization_spaces,
            special: cfg.special_tokens(SpecialTokens::default()),
            model_max_length: cfg.model_max_length,
        })
    }
}

impl Tokenizer {
    /// `sentencepiece.bpe.model` (SentencePiece's protobuf) with the config files, as transformers converts an
    /// XLM-R checkpoint without tokenizer.json: `<s> <pad> </s> <unk>` at 0–3, the model's pieces after its own
    /// first three (`<unk> <s> </s>`) from 4, `<mask>` last; the compiled map; WhitespaceSplit + Metaspace.
    fn from_sentencepiece(path: &Path, cfg: TokConfig) -> Result<Tokenizer> {
        let bytes = std::fs::read(path).map_err(|source| TokenizerError::Io { path: path.to_path_buf(), source })?;
        let bad = |what, msg| TokenizerError::BadModel { path: path.to_path_buf(), what, msg };
        let spm = crate::sentencepiece::ModelProto::parse(&bytes).map_err(|m| bad("SentencePiece model", m))?;
        if spm.pieces.len() < 3 {
            return Err(bad("SentencePiece model", format!("{} pieces: not the XLM-R layout", spm.pieces.len())));
        }
        let mut pieces: Vec<(String, f64)> = ["<s>", "<pad>", "</s>", "<unk>"].iter().map(|t| (t.to_string(), 0.0)).collect();
        pieces.extend(spm.pieces[3..].iter().map(|p| (p.piece.clone(), p.score as f64)));
        pieces.push(("<mask>".to_string(), 0.0));
        let mut vocab: FxHashMap<String, u32> = FxHashMap::default();
        for (i, (p, _)) in pieces.iter().enumerate() {
            vocab.entry(p.clone()).or_insert(i as u32);
        }
        let mut normalizers = Vec::new();
        if !spm.precompiled_charsmap.is_empty() {
            let p = crate::unigram::Precompiled::parse(&spm.precompiled_charsmap).map_err(|m| bad("precompiled_charsmap", m))?;
            normalizers.push(UnigramNormalizer::Precompiled(p));
        }
        let special = cfg.special_tokens(SpecialTokens::default());
        let mut added = resolve_added(path, &mut vocab, &cfg, &SpecialTokens::default(), &[0, 2, 3, 4, 6])?;
        // <s> <pad> </s> <unk> are special tokens of the layout whatever the config names
        for (i, t) in ["<s>", "<pad>", "</s>", "<unk>"].iter().enumerate() {
            if !added.iter().any(|a| a.content == *t) {
                added.push(AddedToken::special(t, i as u32));
            }
        }
        let metaspace = Metaspace { replacement: '▁', prepend: PrependScheme::Always, split: true };
        Ok(Tokenizer {
            model: Model::Unigram { model: Unigram::new(pieces, 3), normalizers, metaspace, whitespace_split: true },
            added: AddedVocab::new(added),
            add_prefix_space: false,
            use_regex: false,
            trim_offsets: false,
            post_add_prefix_space: false,
            post: Some(Template::roberta(0, 2)),
            decoder: Decoder::Metaspace(metaspace),
            clean_up_spaces: cfg.clean_up_tokenization_spaces,
            special,
            model_max_length: cfg.model_max_length,
        })
    }
}

/// The `Precompiled` entries of a normalizer (alone or anywhere in a Sequence), the rest ignored: what
/// transformers' XLMRobertaTokenizer keeps of tokenizer.json's normalizer.
fn find_precompiled(path: &Path, n: &Value, out: &mut Vec<UnigramNormalizer>) -> Result<()> {
    match n.get("type").and_then(Value::as_str) {
        Some("Sequence") => {
            for m in n.get("normalizers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
                find_precompiled(path, m, out)?;
            }
            Ok(())
        }
        Some("Precompiled") => unigram_normalizers(path, n, out),
        _ => Ok(()),
    }
}

/// A Unigram tokenizer's normalizers: `Precompiled`, `Replace`, or a `Sequence` of them, flattened in order.
fn unigram_normalizers(path: &Path, n: &Value, out: &mut Vec<UnigramNormalizer>) -> Result<()> {
    let unsupported = |kind: String| TokenizerError::Unsupported { path: path.to_path_buf(), what: "normalizer (with Unigram)", kind };
    match n.get("type").and_then(Value::as_str) {
        Some("Sequence") => {
            for m in n.get("normalizers").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]) {
                unigram_normalizers(path, m, out)?;
            }
        }
        Some("Precompiled") => {
            let b64 = n.get("precompiled_charsmap").and_then(Value::as_str).unwrap_or("");
            // an empty map normalizes nothing (converters leave it out then)
            if !b64.is_empty() {
                let bytes = base64_decode(b64).ok_or_else(|| bad_json(path, "precompiled_charsmap is not base64"))?;
                let p = crate::unigram::Precompiled::parse(&bytes).map_err(|m| bad_json(path, m))?;
                out.push(UnigramNormalizer::Precompiled(p));
            }
        }
        Some("Replace") => {
            let content = n.get("content").and_then(Value::as_str).ok_or_else(|| bad_json(path, "Replace without content"))?.to_string();
            let pat = n.get("pattern").ok_or_else(|| bad_json(path, "Replace without pattern"))?;
            let pattern = if let Some(s) = pat.get("String").and_then(Value::as_str) {
                ReplacePattern::Literal(s.to_string())
            } else if let Some(r) = pat.get("Regex").and_then(Value::as_str) {
                ReplacePattern::from_regex(r).ok_or_else(|| unsupported(format!("Replace of the regex {r:?}")))?
            } else {
                return Err(bad_json(path, format!("Replace pattern {pat} is neither String nor Regex")));
            };
            out.push(UnigramNormalizer::Replace(pattern, content));
        }
        other => return Err(unsupported(other.unwrap_or("?").to_string())),
    }
    Ok(())
}

/// Metaspace's settings (pre-tokenizer or decoder): `replacement`, `prepend_scheme` (or the older
/// `add_prefix_space`), `split`.
fn parse_metaspace(path: &Path, v: &Value) -> Result<Metaspace> {
    let replacement = match v.get("replacement").and_then(Value::as_str) {
        None => '▁',
        Some(r) => {
            let mut c = r.chars();
            match (c.next(), c.next()) {
                (Some(x), None) => x,
                _ => return Err(bad_json(path, format!("Metaspace replacement {r:?} is not one character"))),
            }
        }
    };
    let prepend = match v.get("prepend_scheme").and_then(Value::as_str) {
        Some("always") => PrependScheme::Always,
        Some("first") => PrependScheme::First,
        Some("never") => PrependScheme::Never,
        Some(other) => return Err(bad_json(path, format!("Metaspace prepend_scheme {other:?} (expected always, first or never)"))),
        None => {
            if v.get("add_prefix_space").and_then(Value::as_bool).unwrap_or(true) {
                PrependScheme::Always
            } else {
                PrependScheme::Never
            }
        }
    };
    Ok(Metaspace { replacement, prepend, split: v.get("split").and_then(Value::as_bool).unwrap_or(true) })
}

/// Standard base64 (with or without `=` padding); None for any other character.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= val(c)? << (18 - 6 * i);
        }
        match chunk.len() {
            4 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]),
            3 => out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8]),
            2 => out.push((acc >> 16) as u8),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64() {
        assert_eq!(super::base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(super::base64_decode("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(super::base64_decode("aGk").unwrap(), b"hi");
        assert!(super::base64_decode("a*b=").is_none());
    }
}
