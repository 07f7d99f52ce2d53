//! The requests `huggingface_hub` makes, over ureq:
//! - `GET {endpoint}/api/models/{id}/revision/{revision}`: the commit a revision stands for, and the files;
//! - `HEAD {endpoint}/{id}/resolve/{commit}/{file}` (relative redirects followed, as for renamed
//!   repositories; an absolute one, to the LFS storage, is not): `X-Linked-Etag` or `ETag`, `X-Linked-Size` or
//!   `Content-Length`, and the download address (`Location`);
//! - `GET` of that address, with `Range: bytes=N-` to resume a partial `blobs/<etag>.incomplete`.
//!
//! The `Authorization` header goes to the endpoint's own origin only, never to the storage a redirect points at.
use super::cache::CacheRepo;
use super::error::HubError;
use super::select::safe_relative;
use super::{HubConfig, ModelRef, Result};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use ureq::http::Response;

pub(crate) struct Client {
    meta: ureq::Agent,
    data: ureq::Agent,
    endpoint: String,
    origin: String,
    token: Option<String>,
    token_source: Option<String>,
    progress: bool,
}

/// What the Hub says of a model at a revision.
pub(crate) struct RepoInfo {
    /// The commit.
    pub sha: String,
    /// The repository's files (`rfilename`s).
    pub siblings: Vec<String>,
}

/// What a HEAD of a file says.
#[derive(Clone)]
struct FileMeta {
    etag: String,
    /// How the downloaded bytes are checked.
    check: Check,
    size: Option<u64>,
    /// Where the bytes are fetched from (the storage's address for an LFS file).
    location: String,
    /// The `resolve` address the HEAD ended at (asked again for a fresh `location`).
    resolve: String,
}

/// What the ETag is of the bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Check {
    /// The LFS sha256 of the file.
    Sha256,
    /// The git blob id: sha1 of `blob <len>\0` and the bytes.
    GitBlob,
    /// Nothing known: the size only.
    Size,
}

/// A download attempt's failure: worth another try (the connection broke, the server had a hiccup), or not.
enum Attempt {
    Retry(String),
    Fatal(HubError),
}

/// `urllib.parse.quote`: everything but unreserved characters (and `/` when `keep_slash`) percent-encoded.
fn quote(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> &str {
    match url.find("://") {
        Some(i) => match url[i + 3..].find('/') {
            Some(j) => &url[..i + 3 + j],
            None => url,
        },
        None => url,
    }
}

/// Where a `Location` leads when it is relative to `url` (a path on the same origin: `/x`, not `//host/x`);
/// `None` for an absolute one.
fn relative_target(url: &str, location: &str) -> Option<String> {
    (location.starts_with('/') && !location.starts_with("//")).then(|| format!("{}{}", origin(url), location))
}

/// A `Location` made absolute against `url`.
fn absolute(url: &str, location: &str) -> String {
    if let Some(rest) = location.strip_prefix("//") {
        let scheme = url.split("://").next().unwrap_or("https");
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        format!("{}{}", origin(url), location)
    } else {
        location.to_string()
    }
}

/// A URL as messages show it: without its query (a storage address's signature).
fn shown(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

fn header<'a>(r: &'a Response<ureq::Body>, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

/// An ETag as the cache names blobs: without `W/` and quotes.
fn normalize_etag(e: &str) -> String {
    e.trim().trim_start_matches("W/").trim_matches('"').to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GB", n as f64 / 1e9),
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / 1e6),
        n if n >= 1 << 10 => format!("{:.1} kB", n as f64 / 1e3),
        n => format!("{n} B"),
    }
}

impl Client {
    pub(crate) fn new(cfg: &HubConfig) -> Client {
        let ua = format!("roberta-rs/{}", env!("CARGO_PKG_VERSION"));
        let meta = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(cfg.metadata_timeout))
            .timeout_per_read(Some(cfg.metadata_timeout))
            .user_agent(ua.clone())
            .build()
            .into();
        let data = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(10)
            .timeout_connect(Some(cfg.download_timeout))
            .timeout_per_read(Some(cfg.download_timeout))
            .user_agent(ua)
            .build()
            .into();
        Client {
            meta,
            data,
            endpoint: cfg.endpoint.clone(),
            origin: origin(&cfg.endpoint).to_string(),
            token: cfg.token.clone(),
            token_source: cfg.token_source.clone(),
            progress: cfg.progress,
        }
    }

    fn auth<B>(&self, req: ureq::RequestBuilder<B>, url: &str) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) if origin(url) == self.origin => req.header("Authorization", format!("Bearer {t}")),
            _ => req,
        }
    }

    fn network(&self, model: &ModelRef, repo: &CacheRepo, e: ureq::Error) -> HubError {
        use ureq::Error as E;
        match e {
            E::HostNotFound | E::ConnectionFailed | E::Io(_) | E::Timeout(_) | E::ConnectProxyFailed(_) | E::Tls(_) | E::Rustls(_) => {
                let cached = repo.cached_revisions().0;
                HubError::Network {
                    model: model.to_string(),
                    endpoint: self.endpoint.clone(),
                    cause: e.to_string(),
                    cached: if cached.is_empty() {
                        "nothing of it is cached now".into()
                    } else {
                        format!("cached now: {}", cached.join(", "))
                    },
                }
            }
            e => HubError::Http { model: model.to_string(), url: self.endpoint.clone(), msg: e.to_string() },
        }
    }

    fn token_hint(&self, repo_id: &str) -> String {
        match &self.token_source {
            None => format!(
                "set HF_TOKEN to an access token ({}/settings/tokens) of an account with access to it, or log in with `hf auth login`",
                self.endpoint
            ),
            Some(src) => format!("the token from {src} has no access to it: request access on {}/{repo_id}", self.endpoint),
        }
    }

    /// The error of a response with status >= 400 from the Hub (`file` when it was a file's request): reads
    /// `X-Error-Code` and `X-Error-Message`, else the JSON body's `"error"`, as `huggingface_hub` does.
    fn status_error(&self, model: &ModelRef, r: Response<ureq::Body>, url: &str, file: Option<&str>) -> HubError {
        let status = r.status().as_u16();
        let code = header(&r, "x-error-code").unwrap_or("").to_string();
        let mut message = header(&r, "x-error-message").unwrap_or("").to_string();
        if message.is_empty() {
            let body = r.into_body().with_config().limit(64 << 10).read_to_string().unwrap_or_default();
            message = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(String::from))
                .unwrap_or_default();
        }
        let (m, repo_id) = (model.to_string(), model.repo_id.clone());
        let endpoint = self.endpoint.clone();
        match (code.as_str(), status) {
            ("GatedRepo", _) => HubError::Gated { model: m, hint: self.token_hint(&repo_id), repo_id, endpoint, status },
            ("RevisionNotFound", _) => HubError::RevisionNotFound { model: m, repo_id, revision: model.revision().into() },
            (_, 401) if self.token.is_some() && message.contains("Invalid") => HubError::BadToken {
                model: m,
                source_name: self.token_source.clone().unwrap_or_default(),
                message,
            },
            ("RepoNotFound", _) | ("", 404) if file.is_none() || code == "RepoNotFound" => {
                let hint = match &self.token_source {
                    None => format!(". If it is private or gated, {}", self.token_hint(&repo_id)),
                    Some(src) => format!(". If it is private, the token from {src} has no access to it"),
                };
                HubError::RepoNotFound { model: m, repo_id, endpoint, status, hint }
            }
            (_, 401 | 403) => HubError::Gated { model: m, hint: self.token_hint(&repo_id), repo_id, endpoint, status },
            _ => HubError::FileHttp {
                model: m,
                file: file.unwrap_or("model info").to_string(),
                url: shown(url),
                status,
                detail: if message.is_empty() { String::new() } else { format!(": {message}") },
            },
        }
    }

    /// The commit `model`'s revision stands for, and the repository's files.
    pub(crate) fn model_info(&self, model: &ModelRef, repo: &CacheRepo) -> Result<RepoInfo> {
        let mut url = format!("{}/api/models/{}/revision/{}", self.endpoint, model.repo_id, quote(model.revision(), false));
        let mut hops = 0;
        let mut r = loop {
            let r = self.auth(self.meta.get(&url), &url).call().map_err(|e| self.network(model, repo, e))?;
            // a renamed repository answers with a redirect on the same origin
            match header(&r, "location").and_then(|l| relative_target(&url, l)) {
                Some(next) if r.status().is_redirection() && hops < 10 => {
                    url = next;
                    hops += 1;
                }
                _ => break r,
            }
        };
        if !r.status().is_success() {
            return Err(self.status_error(model, r, &url, None));
        }
        let bad = |msg: String| HubError::Http { model: model.to_string(), url: url.clone(), msg };
        let text = r.body_mut().with_config().limit(256 << 20).read_to_string().map_err(|e| bad(e.to_string()))?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(format!("the answer is not JSON ({e}): is HF_ENDPOINT a Hub?")))?;
        let sha = v.get("sha").and_then(|s| s.as_str()).filter(|s| super::is_commit_hash(s));
        let sha = sha.ok_or_else(|| bad("the answer has no commit \"sha\"".into()))?.to_string();
        let siblings = v
            .get("siblings")
            .and_then(|s| s.as_array())
            .ok_or_else(|| bad("the answer has no \"siblings\" list".into()))?
            .iter()
            .filter_map(|s| s.get("rfilename").and_then(|f| f.as_str()).map(String::from))
            .collect();
        Ok(RepoInfo { sha, siblings })
    }

    /// HEAD of a file, following relative redirects only (as `huggingface_hub`: a renamed repository's
    /// redirect is followed, the LFS storage's is not: its `Location` is where the bytes are fetched from).
    fn head(&self, model: &ModelRef, repo: &CacheRepo, file: &str, commit: &str, url: &str) -> Result<FileMeta> {
        let mut url = url.to_string();
        for _ in 0..10 {
            let r = self
                .auth(self.meta.head(&url), &url)
                .header("Accept-Encoding", "identity")
                .call()
                .map_err(|e| self.network(model, repo, e))?;
            let status = r.status();
            let location = header(&r, "location").map(str::to_string);
            if status.is_redirection() {
                if let Some(next) = location.as_deref().and_then(|l| relative_target(&url, l)) {
                    url = next;
                    continue;
                }
            } else if !status.is_success() {
                return Err(self.status_error(model, r, &url, Some(file)));
            }
            let bad = |msg: String| HubError::BadRepo { model: model.to_string(), msg: format!("{file}: {msg}") };
            if let Some(c) = header(&r, "x-repo-commit") {
                if c.trim() != commit {
                    return Err(bad(format!("the Hub answered for commit {} when {commit} was asked (is HF_ENDPOINT a Hub?)", c.trim())));
                }
            }
            // what the ETag says of the bytes: an LFS sha256 (X-Linked-Etag), or the git blob id of a file served
            // as is; a redirect's own ETag (the LFS pointer's git id) says nothing of them
            let linked = header(&r, "x-linked-etag").map(normalize_etag).filter(|e| !e.is_empty());
            let (etag, check) = match linked {
                Some(e) => (e.clone(), if is_hex(&e, 64) { Check::Sha256 } else { Check::Size }),
                None => match header(&r, "etag").map(normalize_etag).filter(|e| !e.is_empty()) {
                    Some(e) if status.is_success() && is_hex(&e, 40) => (e, Check::GitBlob),
                    Some(e) if status.is_success() && is_hex(&e, 64) => (e, Check::Sha256),
                    Some(e) => (e, Check::Size),
                    None => return Err(HubError::Http { model: model.to_string(), url: shown(&url), msg: "no ETag in the answer: is HF_ENDPOINT a Hub?".into() }),
                },
            };
            if etag.len() > 128 || !etag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(bad(format!("ETag {etag:?} cannot name a cache file")));
            }
            let linked_size = header(&r, "x-linked-size").and_then(|s| s.trim().parse().ok());
            // a redirect's Content-Length is the redirect's own body, not the file's
            let size = linked_size.or_else(|| if status.is_success() { header(&r, "content-length").and_then(|s| s.trim().parse().ok()) } else { None });
            let location = match (status.is_redirection(), location) {
                (true, Some(l)) => absolute(&url, &l),
                _ => url.clone(),
            };
            return Ok(FileMeta { etag, check, size, location, resolve: url });
        }
        Err(HubError::Http { model: model.to_string(), url: shown(&url), msg: "more than 10 redirects".into() })
    }

    /// `snapshots/<commit>/<file>` in the cache, downloading its blob when the cache does not have it.
    pub(crate) fn ensure_file(&self, model: &ModelRef, repo: &CacheRepo, commit: &str, file: &str) -> Result<PathBuf> {
        if !safe_relative(file) {
            return Err(HubError::BadRepo { model: model.to_string(), msg: format!("file name {file:?} is not inside the repository") });
        }
        let link = repo.snapshot_dir(commit).join(file);
        if link.is_file() {
            return Ok(link);
        }
        let url = format!("{}/{}/resolve/{}/{}", self.endpoint, model.repo_id, commit, quote(file, true));
        let meta = self.head(model, repo, file, commit, &url)?;
        if !repo.blob(&meta.etag).is_file() {
            self.download_blob(model, repo, file, commit, meta.clone())?;
        }
        repo.link(commit, file, &meta.etag)
    }

    /// Downloads a blob under its lock: into `<etag>.incomplete` (resumed when one is there), checked, then
    /// renamed to `blobs/<etag>`.
    fn download_blob(&self, model: &ModelRef, repo: &CacheRepo, file: &str, commit: &str, mut meta: FileMeta) -> Result<()> {
        let lock_path = repo.lock_path(&meta.etag);
        let blob = repo.blob(&meta.etag);
        let part = repo.incomplete(&meta.etag);
        for d in [lock_path.parent(), blob.parent()].into_iter().flatten() {
            fs::create_dir_all(d).map_err(|e| HubError::io(d, e))?;
        }
        let lock = OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(|e| HubError::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                log::info!("{model}: {file}: another process is downloading it; waiting for it");
                lock.lock().map_err(|e| HubError::io(&lock_path, e))?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(HubError::io(&lock_path, e)),
        }
        if blob.is_file() {
            return Ok(()); // the other process finished it
        }
        let size = meta.size.map(|s| format!(" ({})", human(s))).unwrap_or_default();
        log::info!("{model}: downloading {file}{size}");
        let mut tries = 0;
        loop {
            match self.fetch(model, file, &meta, &part) {
                Ok(()) => break,
                Err(Attempt::Retry(why)) if tries < 4 => {
                    tries += 1;
                    log::warn!("{model}: {file}: {why}; resuming (try {} of 5)", tries + 1);
                    std::thread::sleep(Duration::from_millis(250 << tries));
                    // a signed storage address may have expired: ask the Hub for a fresh one (same bytes)
                    let fresh = self.head(model, repo, file, commit, &meta.resolve)?;
                    if fresh.etag != meta.etag {
                        return Err(HubError::BadRepo { model: model.to_string(), msg: format!("{file} changed on the Hub during the download (ETag {} → {})", meta.etag, fresh.etag) });
                    }
                    meta = fresh;
                }
                Err(Attempt::Retry(why)) => {
                    return Err(HubError::Http { model: model.to_string(), url: shown(&meta.location), msg: format!("{why} (5 tries; run again to resume)") })
                }
                Err(Attempt::Fatal(e)) => return Err(e),
            }
        }
        if let Err(e) = verify(model, file, &meta, &part) {
            let _ = fs::remove_file(&part);
            return Err(e);
        }
        fs::rename(&part, &blob).map_err(|e| HubError::io(&blob, e))?;
        drop(lock);
        Ok(())
    }

    /// One GET of the file into `part`, from its current length.
    fn fetch(&self, model: &ModelRef, file: &str, meta: &FileMeta, part: &Path) -> std::result::Result<(), Attempt> {
        let io = |p: &Path, e: std::io::Error| Attempt::Fatal(HubError::io(p, e));
        let mut have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        if meta.size.is_some_and(|s| have > s) {
            have = 0;
        }
        if meta.size == Some(have) && have > 0 {
            return Ok(());
        }
        let url = &meta.location;
        let mut req = self.auth(self.data.get(url), url).header("Accept-Encoding", "identity");
        if have > 0 {
            req = req.header("Range", format!("bytes={have}-"));
        }
        let r = match req.call() {
            Ok(r) => r,
            Err(e) => return Err(Attempt::Retry(e.to_string())),
        };
        let status = r.status().as_u16();
        let append = match status {
            206 => {
                let start = header(&r, "content-range")
                    .and_then(|c| c.strip_prefix("bytes "))
                    .and_then(|c| c.split('-').next())
                    .and_then(|s| s.trim().parse::<u64>().ok());
                if start != Some(have) {
                    return Err(Attempt::Retry(format!("the server answered range {start:?} for bytes={have}-")));
                }
                true
            }
            200 => false,
            416 => {
                let _ = fs::remove_file(part);
                return Err(Attempt::Retry("the partial file is longer than the file (HTTP 416): starting over".into()));
            }
            429 | 500..=599 => return Err(Attempt::Retry(format!("HTTP {status}"))),
            // the storage a redirect named (a signed address can expire): retried with a fresh address
            401 | 403 | 410 if origin(url) != self.origin => return Err(Attempt::Retry(format!("the storage answered HTTP {status}"))),
            _ if origin(url) != self.origin => {
                return Err(Attempt::Fatal(HubError::FileHttp { model: model.to_string(), file: file.into(), url: shown(url), status, detail: String::new() }))
            }
            _ => return Err(Attempt::Fatal(self.status_error(model, r, url, Some(file)))),
        };
        let mut out = if append {
            OpenOptions::new().append(true).open(part).map_err(|e| io(part, e))?
        } else {
            File::create(part).map_err(|e| io(part, e))?
        };
        let done = if append { have } else { 0 };
        let bar = if self.progress {
            indicatif::ProgressBar::with_draw_target(meta.size, indicatif::ProgressDrawTarget::stderr())
        } else {
            indicatif::ProgressBar::hidden()
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_message(file.to_string());
        bar.set_position(done);
        let mut body = r.into_body().into_reader();
        let mut buf = vec![0u8; 1 << 18];
        let mut len = done;
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    bar.abandon();
                    let _ = out.sync_all();
                    return Err(Attempt::Retry(format!("the transfer broke off: {e}")));
                }
            };
            len += n as u64;
            if meta.size.is_some_and(|s| len > s) {
                // more bytes than the file has: not this file; start over
                bar.abandon();
                drop(out);
                let _ = fs::remove_file(part);
                return Err(Attempt::Retry(format!("the server sent more than the {} bytes announced", meta.size.unwrap_or(0))));
            }
            out.write_all(&buf[..n]).map_err(|e| io(part, e))?;
            bar.inc(n as u64);
        }
        out.sync_all().map_err(|e| io(part, e))?;
        if meta.size.is_some_and(|s| len < s) {
            bar.abandon();
            return Err(Attempt::Retry(format!("the transfer ended at {len} of {} bytes", meta.size.unwrap_or(0))));
        }
        bar.finish_and_clear();
        Ok(())
    }
}

/// Checks a downloaded file against what the Hub said: its size, and its ETag when that is a content hash (a
/// 64-hex LFS sha256, or a 40-hex git blob id: sha1 of `blob <len>\0` and the bytes).
fn verify(model: &ModelRef, file: &str, meta: &FileMeta, part: &Path) -> Result<()> {
    let corrupt = |what, expected: String, got: String| HubError::Corrupt { model: model.to_string(), file: file.to_string(), what, expected, got };
    let len = fs::metadata(part).map_err(|e| HubError::io(part, e))?.len();
    if let Some(size) = meta.size {
        if size != len {
            return Err(corrupt("size", format!("{size} bytes"), format!("{len} bytes")));
        }
    }
    let hash_file = |h: &mut dyn FnMut(&[u8])| -> Result<()> {
        let mut f = File::open(part).map_err(|e| HubError::io(part, e))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(|e| HubError::io(part, e))?;
            if n == 0 {
                return Ok(());
            }
            h(&buf[..n]);
        }
    };
    let etag = meta.etag.to_ascii_lowercase();
    match meta.check {
        Check::Sha256 => {
            let mut h = Sha256::new();
            hash_file(&mut |b| h.update(b))?;
            let got = hex(&h.finalize());
            if got != etag {
                return Err(corrupt("LFS sha256", etag, got));
            }
        }
        Check::GitBlob => {
            let mut h = Sha1::new();
            h.update(format!("blob {len}\0").as_bytes());
            hash_file(&mut |b| h.update(b))?;
            let got = hex(&h.finalize());
            if got != etag {
                return Err(corrupt("git blob id (ETag)", etag, got));
            }
        }
        Check::Size => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_origins() {
        assert_eq!(quote("refs/pr/1", false), "refs%2Fpr%2F1");
        assert_eq!(quote("sub dir/a+b.json", true), "sub%20dir/a%2Bb.json");
        assert_eq!(origin("https://huggingface.co/api/models/x"), "https://huggingface.co");
        assert_eq!(origin("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(normalize_etag("W/\"abc\""), "abc");
        assert_eq!(relative_target("http://h:1/a/b", "/c/d"), Some("http://h:1/c/d".into()));
        assert_eq!(relative_target("http://h:1/a/b", "//cdn/x"), None);
        assert_eq!(relative_target("http://h:1/a/b", "https://cdn/x"), None);
        assert_eq!(absolute("https://h/a", "//cdn/x?sig=1"), "https://cdn/x?sig=1");
        assert_eq!(shown("https://cdn/x?X-Amz-Signature=secret"), "https://cdn/x");
    }
}
