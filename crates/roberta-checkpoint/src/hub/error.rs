//! The Hub client's errors: each names the model id, and says what to do.
use std::path::PathBuf;

/// Everything that can go wrong resolving a model on the Hub.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// A variable of the environment that cannot be used.
    #[error("Hugging Face Hub configuration: {0}")]
    Config(String),
    /// 404 on the repository (or 401 without a token, which the Hub answers for private repositories too).
    #[error("model {model}: not a local directory, and {endpoint} has no repository {repo_id} (HTTP {status}){hint}")]
    RepoNotFound { model: String, repo_id: String, endpoint: String, status: u16, hint: String },
    /// A gated or private repository the request had no access to.
    #[error("model {model}: {endpoint}/{repo_id} is gated or private (HTTP {status}): {hint}")]
    Gated { model: String, repo_id: String, endpoint: String, status: u16, hint: String },
    /// The token was refused.
    #[error("model {model}: the Hub refused the token from {source_name} (HTTP 401: {message}); check it, or unset it for public models")]
    BadToken { model: String, source_name: String, message: String },
    /// The revision does not exist.
    #[error("model {model}: {repo_id} has no revision {revision:?} (HTTP 404): give a branch, a tag, a commit or refs/pr/N")]
    RevisionNotFound { model: String, repo_id: String, revision: String },
    /// A file the repository lists cannot be fetched.
    #[error("model {model}: {file}: HTTP {status} from {url}{detail}")]
    FileHttp { model: String, file: String, url: String, status: u16, detail: String },
    /// The repository has no config.json.
    #[error("model {model}: the repository has no config.json, so it is not a transformers model (it has: {found})")]
    NoConfig { model: String, found: String },
    /// The repository has no weights in a format the engine reads.
    #[error("model {model}: the repository has no weights the engine reads (model.safetensors, model.safetensors.index.json with its shards, or pytorch_model.bin); it has: {found}")]
    NoWeights { model: String, found: String },
    /// The repository has no tokenizer files.
    #[error("model {model}: the repository has no tokenizer (tokenizer.json, vocab.json + merges.txt, vocab.txt or sentencepiece.bpe.model); it has: {found}")]
    NoTokenizer { model: String, found: String },
    /// A file listed by the repository (or its shard index) that cannot be placed in the cache safely.
    #[error("model {model}: {msg}")]
    BadRepo { model: String, msg: String },
    /// The Hub could not be reached.
    #[error("model {model}: not a local directory, and cannot reach {endpoint}: {cause}. Check the network (and HF_ENDPOINT, HTTPS_PROXY); to use a cached copy without the network, set HF_HUB_OFFLINE=1 ({cached})")]
    Network { model: String, endpoint: String, cause: String, cached: String },
    /// Offline, and the cache has no snapshot of this revision.
    #[error("model {model}: not a local directory, and HF_HUB_OFFLINE is set and the cache has no copy of this revision ({cache}{cached}); unset HF_HUB_OFFLINE to download it")]
    OfflineNotCached { model: String, cache: PathBuf, cached: CachedRevisions },
    /// Offline, and the cached snapshot lacks files.
    #[error("model {model}: HF_HUB_OFFLINE is set and the cached snapshot {dir} is incomplete ({missing}); unset HF_HUB_OFFLINE to download the rest")]
    OfflineIncomplete { model: String, dir: PathBuf, missing: String },
    /// A downloaded file whose bytes do not match what the Hub says it is.
    #[error("model {model}: {file}: the downloaded bytes do not match the Hub's {what} (expected {expected}, got {got}); the file was corrupted in transit and was not kept: run again")]
    Corrupt { model: String, file: String, what: &'static str, expected: String, got: String },
    /// Another failure of a request.
    #[error("model {model}: {url}: {msg}")]
    Http { model: String, url: String, msg: String },
    /// An I/O error in the cache.
    #[error("Hugging Face cache: {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl HubError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        HubError::Io { path: path.into(), source }
    }
}

/// The revisions a repository's cache holds, for messages.
#[derive(Debug, Clone, Default)]
pub struct CachedRevisions(pub Vec<String>);

impl std::fmt::Display for CachedRevisions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            Ok(())
        } else {
            write!(f, "; it holds: {}", self.0.join(", "))
        }
    }
}
