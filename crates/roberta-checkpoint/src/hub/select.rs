//! Which files of a repository the engine needs, and no more: `config.json`; the tokenizer (`tokenizer.json`,
//! else `vocab.json` + `merges.txt`, else `vocab.txt`, else `sentencepiece.bpe.model`, in the order the
//! tokenizer loader prefers them) with `tokenizer_config.json` and `special_tokens_map.json` when present; and
//! one weights format, in the order of [`crate::files`]: `model.safetensors`, then
//! `model.safetensors.index.json` with its shards, then `pytorch_model.bin`.
use super::error::HubError;
use crate::files::{CONFIG, SAFETENSORS, SAFETENSORS_INDEX, TORCH};
use std::collections::BTreeSet;
use std::path::Path;

/// What the caller will load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Config, tokenizer and weights (`Model::load`, every pipeline).
    Model,
    /// The tokenizer's files only (`roberta tokenize`), with config.json when the repository has one.
    Tokenizer,
}

/// Why a file list does not hold what is wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// No config.json.
    Config,
    /// No weights format the engine reads.
    Weights,
    /// No tokenizer files.
    Tokenizer,
    /// A shard index that cannot be read, or names an unsafe path.
    BadIndex(String),
    /// Shards the index names that are not there.
    Shards(Vec<String>),
}

/// What `choose` could not find, with the repository's file list for the message.
#[derive(Debug, Clone)]
pub struct SelectError {
    /// What is missing.
    pub missing: Missing,
    /// The repository's files.
    pub found: Vec<String>,
}

impl SelectError {
    /// The Hub error naming `model`.
    pub fn into_hub(self, model: &super::ModelRef) -> HubError {
        let model = model.to_string();
        let found = if self.found.is_empty() { "no files".to_string() } else { self.found.join(", ") };
        match self.missing {
            Missing::Config => HubError::NoConfig { model, found },
            Missing::Weights => HubError::NoWeights { model, found },
            Missing::Tokenizer => HubError::NoTokenizer { model, found },
            Missing::BadIndex(msg) => HubError::BadRepo { model, msg },
            Missing::Shards(s) => HubError::BadRepo { model, msg: format!("shards missing: {}", s.join(", ")) },
        }
    }
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Missing::Config => f.write_str("no config.json"),
            Missing::Weights => f.write_str("no model.safetensors, model.safetensors.index.json or pytorch_model.bin"),
            Missing::Tokenizer => f.write_str("no tokenizer files"),
            Missing::BadIndex(m) => f.write_str(m),
            Missing::Shards(s) => write!(f, "shards missing: {}", s.join(", ")),
        }
    }
}

const TOKENIZER_SETS: [&[&str]; 4] =
    [&["tokenizer.json"], &["vocab.json", "merges.txt"], &["vocab.txt"], &["sentencepiece.bpe.model"]];
const TOKENIZER_EXTRAS: [&str; 2] = ["tokenizer_config.json", "special_tokens_map.json"];

/// The first file of each tokenizer format: when a repository has none of them, the Hub client marks them
/// absent (`.no_exist/<commit>/<file>`, as `huggingface_hub` marks a file it found missing), so that a cached
/// model without a tokenizer is complete.
pub const TOKENIZER_MARKERS: [&str; 4] = ["tokenizer.json", "vocab.json", "vocab.txt", "sentencepiece.bpe.model"];

/// Whether `files` hold a tokenizer in one of the formats the loader reads.
pub fn has_tokenizer(files: &[String]) -> bool {
    let has: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    TOKENIZER_SETS.iter().any(|set| set.iter().all(|f| has.contains(f)))
}

/// The files to fetch from a repository whose top-level files are `files`, for `want`.
pub fn choose(files: &[String], want: Want) -> Result<Vec<String>, SelectError> {
    let has: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    let err = |missing| SelectError { missing, found: files.to_vec() };
    let mut out: Vec<String> = Vec::new();
    if has.contains(CONFIG) {
        out.push(CONFIG.into());
    } else if want == Want::Model {
        return Err(err(Missing::Config));
    }
    match TOKENIZER_SETS.iter().find(|set| set.iter().all(|f| has.contains(f))) {
        Some(set) => out.extend(set.iter().map(|s| s.to_string())),
        // a model without tokenizer files can still be loaded without one (LoadOptions::tokenizer = false)
        None if want == Want::Tokenizer => return Err(err(Missing::Tokenizer)),
        None => {}
    }
    out.extend(TOKENIZER_EXTRAS.iter().filter(|f| has.contains(*f)).map(|s| s.to_string()));
    if want == Want::Model {
        match [SAFETENSORS, SAFETENSORS_INDEX, TORCH].iter().find(|f| has.contains(**f)) {
            Some(w) => out.push(w.to_string()),
            None => return Err(err(Missing::Weights)),
        }
    }
    Ok(out)
}

/// Whether the snapshot directory `dir` already holds what `want` needs (the files `choose` picks from what is
/// there, and every shard of a sharded checkpoint): `Err` says what is missing. A link whose blob is gone
/// counts as missing.
pub fn complete(dir: &Path, want: Want) -> Result<(), String> {
    let present: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .filter(|e| e.path().is_file())
            .filter_map(|e| e.file_name().to_str().map(String::from))
            .collect(),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let chosen = choose(&present, want).map_err(|e| e.missing.to_string())?;
    // a model's tokenizer is needed too, unless the Hub said the commit has none (a snapshot Python wrote
    // for AutoModel alone has no tokenizer files, and no markers either)
    if want == Want::Model && !has_tokenizer(&present) {
        let no_exist = match (dir.parent().and_then(Path::parent), dir.file_name()) {
            (Some(repo), Some(commit)) => repo.join(".no_exist").join(commit),
            _ => return Err(Missing::Tokenizer.to_string()),
        };
        if !TOKENIZER_MARKERS.iter().all(|f| no_exist.join(f).is_file()) {
            return Err(Missing::Tokenizer.to_string());
        }
    }
    if chosen.iter().any(|f| f == SAFETENSORS_INDEX) {
        let shards = shards(&dir.join(SAFETENSORS_INDEX)).map_err(|e| e.missing.to_string())?;
        let absent: Vec<String> = shards.into_iter().filter(|s| !dir.join(s).is_file()).collect();
        if !absent.is_empty() {
            return Err(Missing::Shards(absent).to_string());
        }
    }
    Ok(())
}

/// The shard files a `model.safetensors.index.json` names (each once, sorted), each checked to be a plain
/// relative path inside the snapshot (no `..`, no absolute path, no backslash).
pub fn shards(index: &Path) -> Result<Vec<String>, SelectError> {
    let bad = |m: String| SelectError { missing: Missing::BadIndex(format!("{}: {m}", index.display())), found: vec![] };
    let text = std::fs::read_to_string(index).map_err(|e| bad(e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let map = v.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| bad("no \"weight_map\" object".into()))?;
    let mut out = BTreeSet::new();
    for (tensor, file) in map {
        let f = file.as_str().ok_or_else(|| bad(format!("weight_map[{tensor:?}] is not a file name")))?;
        if !safe_relative(f) {
            return Err(bad(format!("weight_map[{tensor:?}] = {f:?} is not a file inside the repository")));
        }
        out.insert(f.to_string());
    }
    Ok(out.into_iter().collect())
}

/// A repository file name that stays inside the snapshot folder.
pub fn safe_relative(f: &str) -> bool {
    !f.is_empty()
        && !f.contains('\\')
        && !f.starts_with('/')
        && f.split('/').all(|c| !c.is_empty() && c != "." && c != "..")
        && !f.chars().any(|c| c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn chooses_what_the_engine_reads_and_no_more() {
        // bsc-bio-ehr-es's main branch
        let main = v(&[".gitattributes", "README.md", "config.json", "dict.txt", "merges.txt", "pytorch_model.bin", "special_tokens_map.json", "tokenizer_config.json", "vocab.json"]);
        assert_eq!(choose(&main, Want::Model).unwrap(), v(&["config.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json", "pytorch_model.bin"]));
        // its refs/pr/1: safetensors preferred
        let mut pr = main.clone();
        pr.push("model.safetensors".into());
        assert_eq!(choose(&pr, Want::Model).unwrap().last().unwrap(), "model.safetensors");
        assert_eq!(choose(&pr, Want::Tokenizer).unwrap(), v(&["config.json", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"]));
        // tokenizer.json wins over the slow files, a sharded index over pytorch_model.bin
        let x = v(&["config.json", "tokenizer.json", "sentencepiece.bpe.model", "model.safetensors.index.json", "model-00001-of-00002.safetensors", "pytorch_model.bin", "tf_model.h5"]);
        assert_eq!(choose(&x, Want::Model).unwrap(), v(&["config.json", "tokenizer.json", "model.safetensors.index.json"]));
        let e = choose(&v(&["config.json", "vocab.txt", "tf_model.h5"]), Want::Model).unwrap_err();
        assert_eq!(e.missing, Missing::Weights);
        assert_eq!(choose(&v(&["pytorch_model.bin"]), Want::Model).unwrap_err().missing, Missing::Config);
        assert_eq!(choose(&v(&["config.json", "vocab.json"]), Want::Tokenizer).unwrap_err().missing, Missing::Tokenizer);
        // a model without a tokenizer still loads (without one)
        assert_eq!(choose(&v(&["config.json", "model.safetensors"]), Want::Model).unwrap(), v(&["config.json", "model.safetensors"]));
    }

    #[test]
    fn unsafe_shard_names_are_refused() {
        for f in ["../x", "/etc/passwd", "a/../../b", "a\\b", "", "./a"] {
            assert!(!safe_relative(f), "{f}");
        }
        assert!(safe_relative("model-00001-of-00002.safetensors") && safe_relative("sub/x.safetensors"));
    }
}
