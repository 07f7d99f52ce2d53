//! Models by name from the Hugging Face Hub: `org/name[@revision]` resolved to a snapshot directory of the cache
//! that `huggingface_hub` (and so transformers) uses, downloading the files the engine needs and no more.
//!
//! - [`ModelRef`]: a model id with an optional revision (a branch, a tag, a commit, or `refs/pr/N`).
//! - [`HubConfig::from_env`]: `HF_HOME`, `HF_HUB_CACHE`, `HF_ENDPOINT`, `HF_TOKEN` (and the token file),
//!   `HF_HUB_OFFLINE` (or transformers' `TRANSFORMERS_OFFLINE`), `HF_HUB_DISABLE_PROGRESS_BARS`, `HF_HUB_ETAG_TIMEOUT`, `HF_HUB_DOWNLOAD_TIMEOUT`, read
//!   as `huggingface_hub` reads them.
//! - [`Hub::snapshot`]: the snapshot directory of a model, from the cache when it already holds everything
//!   needed (no request at all), else downloaded: resumable, checked against the LFS sha256 or the git blob
//!   id (the ETag) before the blob is used, moved into place atomically, one process per blob at a time.
//! - [`resolve`]: what every `--model` / `Model::load` argument goes through: an existing path is itself, a
//!   model id is its snapshot.
//!
//! The cache layout is `huggingface_hub`'s (module [`cache`]): a model fetched by Python is reused without a
//! request, and one fetched here is seen by transformers.
pub mod cache;
mod client;
mod error;
pub mod select;

pub use cache::CacheRepo;
pub use error::HubError;
pub use select::Want;

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Result of the Hub client.
pub type Result<T> = std::result::Result<T, HubError>;

/// The Hub's default address.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// A model on the Hub: `org/name` and the revision asked for (`main` when none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// `org/name`.
    pub repo_id: String,
    /// The revision given after `@`, if any.
    pub revision: Option<String>,
}

impl ModelRef {
    /// Reads `org/name[@revision]`; `None` when `s` does not look like a model id (a repository id is one
    /// `/` between two names of letters, digits, `-`, `_` and `.`, at most 96 characters each, with no `--`
    /// or `..` and neither starting nor ending with `-` or `.`, as the Hub requires).
    pub fn parse(s: &str) -> Option<ModelRef> {
        let (id, rev) = match s.split_once('@') {
            Some((id, rev)) => (id, Some(rev)),
            None => (s, None),
        };
        let (org, name) = id.split_once('/')?;
        if !valid_part(org) || !valid_part(name) {
            return None;
        }
        let revision = match rev {
            None => None,
            Some(r) if valid_revision(r) => Some(r.to_string()),
            Some(_) => return None,
        };
        Some(ModelRef { repo_id: id.to_string(), revision })
    }

    /// The revision: the one given, or `main`.
    pub fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or("main")
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.revision {
            Some(r) => write!(f, "{}@{}", self.repo_id, r),
            None => f.write_str(&self.repo_id),
        }
    }
}

fn valid_part(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 96
        && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !p.contains("--")
        && !p.contains("..")
        && !p.starts_with(['-', '.'])
        && !p.ends_with(['-', '.'])
}

/// A revision as a git ref name may be: no empty component, no `..`, no control characters or spaces.
fn valid_revision(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 256
        && !r.contains("..")
        && r.split('/').all(|c| !c.is_empty() && c != ".")
        && r.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '\\' | '~' | '^' | ':' | '?' | '*' | '[' | '@'))
}

/// Whether `s` is a full commit id (40 lowercase hex digits), which the cache uses as is, without a ref.
pub fn is_commit_hash(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where and how the Hub is reached, and where its cache is.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// The Hub's address, without a trailing `/` (`HF_ENDPOINT`; <https://huggingface.co>).
    pub endpoint: String,
    /// The hub cache: the folder holding `models--org--name` (`HF_HUB_CACHE`; `$HF_HOME/hub`).
    pub cache_dir: PathBuf,
    /// The access token (`HF_TOKEN`, else the token file), sent as `Authorization: Bearer`.
    pub token: Option<String>,
    /// Where the token came from, for messages (`HF_TOKEN`, or the token file's path).
    pub token_source: Option<String>,
    /// Cache only: no request at all (`HF_HUB_OFFLINE=1`).
    pub offline: bool,
    /// Progress bars on stderr while downloading (off with `HF_HUB_DISABLE_PROGRESS_BARS=1`; drawn only when
    /// stderr is a terminal).
    pub progress: bool,
    /// Time allowed for a metadata request (`HF_HUB_ETAG_TIMEOUT`, 10 s).
    pub metadata_timeout: Duration,
    /// Time allowed to connect, and between two reads of a download (`HF_HUB_DOWNLOAD_TIMEOUT`, 10 s).
    pub download_timeout: Duration,
}

/// `huggingface_hub`'s truthy values of a boolean variable.
fn truthy(v: &str) -> bool {
    matches!(v.trim().to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE")
}

impl HubConfig {
    /// The configuration `huggingface_hub` would use in this environment:
    /// - `HF_HOME` (default `$XDG_CACHE_HOME/huggingface`, or `~/.cache/huggingface`);
    /// - `HF_HUB_CACHE` (or the older `HUGGINGFACE_HUB_CACHE`; default `$HF_HOME/hub`);
    /// - `HF_ENDPOINT`;
    /// - the token: `HF_TOKEN` (or the older `HUGGING_FACE_HUB_TOKEN`), else the file `HF_TOKEN_PATH`
    ///   (default `$HF_HOME/token`, which `hf auth login` writes);
    /// - `HF_HUB_OFFLINE`, `HF_HUB_DISABLE_PROGRESS_BARS`, `HF_HUB_ETAG_TIMEOUT`, `HF_HUB_DOWNLOAD_TIMEOUT`.
    pub fn from_env() -> Result<HubConfig> {
        Self::from_vars(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// As [`HubConfig::from_env`], reading the variables through `var` (tests give their own).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<HubConfig> {
        let home = || -> Result<PathBuf> {
            if let Some(h) = var("HF_HOME") {
                return Ok(expand_user(&h, &var));
            }
            if let Some(x) = var("XDG_CACHE_HOME") {
                return Ok(expand_user(&x, &var).join("huggingface"));
            }
            match var("HOME").or_else(|| var("USERPROFILE")) {
                Some(h) => Ok(PathBuf::from(h).join(".cache").join("huggingface")),
                None => Err(HubError::Config("no home directory (HOME is unset): set HF_HOME or HF_HUB_CACHE".into())),
            }
        };
        let cache_dir = match var("HF_HUB_CACHE").or_else(|| var("HUGGINGFACE_HUB_CACHE")) {
            Some(c) => expand_user(&c, &var),
            None => home()?.join("hub"),
        };
        let (mut token, mut token_source) = (None, None);
        if let Some((k, t)) = ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"].iter().find_map(|k| var(k).map(|t| (*k, t))) {
            token = Some(t.trim().to_string());
            token_source = Some(k.to_string());
        } else {
            let path = match var("HF_TOKEN_PATH") {
                Some(p) => Some(expand_user(&p, &var)),
                None => home().ok().map(|h| h.join("token")),
            };
            if let Some(path) = path {
                if let Ok(t) = std::fs::read_to_string(&path) {
                    if !t.trim().is_empty() {
                        token = Some(t.trim().to_string());
                        token_source = Some(path.display().to_string());
                    }
                }
            }
        }
        let secs = |k: &str, default: u64| -> Result<Duration> {
            match var(k) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => v
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| HubError::Config(format!("{k}={v:?} is not a number of seconds"))),
            }
        };
        Ok(HubConfig {
            endpoint: var("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.into()).trim_end_matches('/').to_string(),
            cache_dir,
            token,
            token_source,
            // transformers also honours its own older name
            offline: var("HF_HUB_OFFLINE").or_else(|| var("TRANSFORMERS_OFFLINE")).is_some_and(|v| truthy(&v)),
            progress: !var("HF_HUB_DISABLE_PROGRESS_BARS").is_some_and(|v| truthy(&v)),
            metadata_timeout: secs("HF_HUB_ETAG_TIMEOUT", 10)?,
            download_timeout: secs("HF_HUB_DOWNLOAD_TIMEOUT", 10)?,
        })
    }
}

/// `~/x` → `$HOME/x`, as Python's `os.path.expanduser` does for these variables.
fn expand_user(p: &str, var: &impl Fn(&str) -> Option<String>) -> PathBuf {
    match (p.strip_prefix("~/"), var("HOME")) {
        (Some(rest), Some(h)) => PathBuf::from(h).join(rest),
        _ if p == "~" => var("HOME").map(PathBuf::from).unwrap_or_else(|| p.into()),
        _ => PathBuf::from(p),
    }
}

/// The Hub client: a configuration and, once a request is needed, an HTTP agent.
pub struct Hub {
    cfg: HubConfig,
    client: std::sync::OnceLock<client::Client>,
    /// Re-resolve the revision on the Hub even when the cache holds a complete snapshot of it.
    pub refresh: bool,
}

impl Hub {
    /// A client with this configuration (no request is made until one is needed).
    pub fn new(cfg: HubConfig) -> Hub {
        Hub { cfg, client: std::sync::OnceLock::new(), refresh: false }
    }

    /// A client configured from the environment ([`HubConfig::from_env`]).
    pub fn from_env() -> Result<Hub> {
        Ok(Hub::new(HubConfig::from_env()?))
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.cfg
    }

    fn client(&self) -> &client::Client {
        self.client.get_or_init(|| client::Client::new(&self.cfg))
    }

    /// The snapshot directory of `model` holding what `want` needs.
    ///
    /// When the cache already holds a complete snapshot of the revision (written by us or by
    /// `huggingface_hub`), it is returned without any request. Otherwise (unless offline) the revision is
    /// resolved to its commit on the Hub, the files are chosen from the repository's list
    /// ([`select::choose`]), and those missing from the cache are downloaded; `refs/<revision>` is written last.
    pub fn snapshot(&self, model: &ModelRef, want: Want) -> Result<PathBuf> {
        // the fields are public: a ModelRef built by hand is held to what parse accepts (its parts name paths)
        if ModelRef::parse(&model.to_string()).as_ref() != Some(model) {
            return Err(HubError::Config(format!("{model:?} is not a model id: org/name with a valid revision")));
        }
        let repo = CacheRepo::new(&self.cfg.cache_dir, &model.repo_id);
        let rev = model.revision();
        if !self.refresh || self.cfg.offline {
            if let Some(dir) = repo.snapshot_of(rev) {
                match select::complete(&dir, want) {
                    Ok(()) => return Ok(dir),
                    Err(missing) if self.cfg.offline => {
                        return Err(HubError::OfflineIncomplete {
                            model: model.to_string(),
                            dir,
                            missing,
                        })
                    }
                    Err(_) => {}
                }
            } else if self.cfg.offline {
                return Err(HubError::OfflineNotCached {
                    model: model.to_string(),
                    cache: repo.dir().to_path_buf(),
                    cached: repo.cached_revisions(),
                });
            }
        }
        let client = self.client();
        let info = client.model_info(model, &repo)?;
        let commit = info.sha.clone();
        let files = select::choose(&info.siblings, want).map_err(|e| e.into_hub(model))?;
        let dir = repo.snapshot_dir(&commit);
        if want == Want::Model && !select::has_tokenizer(&info.siblings) {
            for f in select::TOKENIZER_MARKERS {
                repo.mark_absent(&commit, f)?;
            }
        }
        for f in &files {
            client.ensure_file(model, &repo, &commit, f)?;
        }
        if let Some(index) = files.iter().find(|f| f.as_str() == crate::files::SAFETENSORS_INDEX) {
            for shard in select::shards(&dir.join(index)).map_err(|e| e.into_hub(model))? {
                client.ensure_file(model, &repo, &commit, &shard)?;
            }
        }
        if rev != commit {
            repo.write_ref(rev, &commit)?;
        }
        Ok(dir)
    }
}

/// What a `--model` argument (or `Model::load`'s path) names: an existing path is itself; otherwise, when it
/// reads as `org/name[@revision]`, the snapshot directory of that model from the Hub (configured from the
/// environment); anything else is returned as is, for the caller to report as a missing directory.
pub fn resolve(arg: &Path, want: Want) -> Result<PathBuf> {
    if arg.exists() {
        return Ok(arg.to_path_buf());
    }
    match arg.to_str().and_then(ModelRef::parse) {
        Some(model) => Hub::from_env()?.snapshot(&model, want),
        None => Ok(arg.to_path_buf()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids() {
        let m = ModelRef::parse("PlanTL-GOB-ES/bsc-bio-ehr-es@refs/pr/1").unwrap();
        assert_eq!((m.repo_id.as_str(), m.revision()), ("PlanTL-GOB-ES/bsc-bio-ehr-es", "refs/pr/1"));
        assert_eq!(m.to_string(), "PlanTL-GOB-ES/bsc-bio-ehr-es@refs/pr/1");
        assert_eq!(ModelRef::parse("a/b").unwrap().revision(), "main");
        for bad in ["bsc-bio-ehr-es", "a/b/c", "/abs/path", "./x/y", "a/", "a/b@", "a--b/c", "a/.b", "a/b@x..y", "a b/c", "a/b@r e"] {
            assert_eq!(ModelRef::parse(bad), None, "{bad}");
        }
        assert!(is_commit_hash(&"ab12".repeat(10)) && !is_commit_hash("main") && !is_commit_hash(&"AB12".repeat(10)));
    }

    #[test]
    fn config_from_vars_follows_huggingface_hub() {
        let env = |pairs: &'static [(&'static str, &'static str)]| move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        let c = HubConfig::from_vars(env(&[("HOME", "/h")])).unwrap();
        assert_eq!(c.cache_dir, PathBuf::from("/h/.cache/huggingface/hub"));
        assert_eq!(c.endpoint, DEFAULT_ENDPOINT);
        assert!(!c.offline && c.progress && c.token.is_none());
        let c = HubConfig::from_vars(env(&[("HOME", "/h"), ("XDG_CACHE_HOME", "/x")])).unwrap();
        assert_eq!(c.cache_dir, PathBuf::from("/x/huggingface/hub"));
        let c = HubConfig::from_vars(env(&[("HF_HOME", "~/hf"), ("HOME", "/h"), ("HF_ENDPOINT", "http://m:1/"), ("HF_HUB_OFFLINE", "yes")])).unwrap();
        assert_eq!((c.cache_dir, c.endpoint.as_str(), c.offline), (PathBuf::from("/h/hf/hub"), "http://m:1", true));
        let c = HubConfig::from_vars(env(&[("HF_HOME", "/a"), ("HF_HUB_CACHE", "/b"), ("HF_TOKEN", " hf_x\n")])).unwrap();
        assert_eq!((c.cache_dir, c.token.as_deref(), c.token_source.as_deref()), (PathBuf::from("/b"), Some("hf_x"), Some("HF_TOKEN")));
        let c = HubConfig::from_vars(env(&[("HF_HOME", "/a"), ("HF_HUB_OFFLINE", "0"), ("HF_HUB_DISABLE_PROGRESS_BARS", "1")])).unwrap();
        assert!(!c.offline && !c.progress);
        assert!(HubConfig::from_vars(env(&[])).unwrap_err().to_string().contains("HF_HOME"));
        assert!(HubConfig::from_vars(env(&[("HF_HOME", "/a"), ("HF_HUB_ETAG_TIMEOUT", "soon")])).unwrap_err().to_string().contains("HF_HUB_ETAG_TIMEOUT"));
    }

    #[test]
    fn token_file() {
        let d = std::env::temp_dir().join(format!("roberta-hub-token-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("token"), "hf_file\n").unwrap();
        let home = d.display().to_string();
        let c = HubConfig::from_vars(|k| (k == "HF_HOME").then(|| home.clone())).unwrap();
        assert_eq!(c.token.as_deref(), Some("hf_file"));
        assert_eq!(c.token_source, Some(d.join("token").display().to_string()));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
