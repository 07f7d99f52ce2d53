//! A small Hugging Face Hub on loopback for the Hub client's tests: the routes `huggingface_hub` uses, with the
//! headers it reads, and faults to inject.
//!
//! - `GET /api/models/{org}/{name}/revision/{revision}`: `{"id","sha","siblings":[{"rfilename"}]}`; 404 with
//!   `X-Error-Code: RepoNotFound` / `RevisionNotFound`; a private repository without its token answers 401
//!   RepoNotFound, as the Hub does.
//! - `GET /api/models/{org}/{name}/tree/{revision}`: the file list `snapshot_download` reads.
//! - `HEAD|GET /{org}/{name}/resolve/{revision}/{file}`: a regular file answers 200 with `ETag` (its git blob
//!   id), `X-Repo-Commit`, `Content-Length` and `Range` support; an LFS file answers 302 to `/cdn/{sha256}`
//!   with `X-Linked-Etag`, `X-Linked-Size` and `X-Repo-Commit`; a gated repository without an accepted token
//!   answers 401 / 403 `GatedRepo`; a missing file 404 `EntryNotFound`; a renamed repository 307 to its new
//!   name (a relative `Location`; its model info too).
//! - `HEAD|GET /cdn/{sha256}`: the LFS storage, on a second port (another origin: the token must not go
//!   there), with `Range` (206 + `Content-Range`, 416).
//!
//! Faults: cut an LFS transfer after N bytes (once), corrupt an LFS file (always), slow transfers down. Every
//! request is logged (method, path, `Range`, `Authorization`).
#![allow(dead_code)]
use sha1::Sha1;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A file of a commit.
#[derive(Clone)]
pub struct MockFile {
    pub bytes: Arc<Vec<u8>>,
    pub lfs: bool,
}

impl MockFile {
    pub fn sha256(&self) -> String {
        hex(&Sha256::digest(&self.bytes[..]))
    }
    pub fn git_oid(&self) -> String {
        git_oid(&self.bytes)
    }
    /// The ETag the cache names its blob by.
    pub fn etag(&self) -> String {
        if self.lfs {
            self.sha256()
        } else {
            self.git_oid()
        }
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// git's blob id: sha1 of `blob <len>\0` and the bytes.
pub fn git_oid(b: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", b.len()).as_bytes());
    h.update(b);
    hex(&h.finalize())
}

#[derive(Clone, PartialEq)]
pub enum Access {
    Public,
    /// Private: only this token sees it.
    Private(String),
    /// Gated: the files need this token.
    Gated(String),
}

#[derive(Clone)]
pub struct MockRepo {
    pub id: String,
    /// revision (branch, tag, refs/pr/N) → commit
    pub refs: BTreeMap<String, String>,
    /// commit → files
    pub commits: BTreeMap<String, BTreeMap<String, MockFile>>,
    pub access: Access,
}

#[derive(Clone, Default)]
pub struct Faults {
    /// Cut the first transfer of the LFS file with this sha256 after this many bytes.
    pub cut_after: Option<(String, usize)>,
    /// Flip a byte of the file with this ETag (LFS sha256 or git blob id) in every transfer; its headers
    /// still announce the good file.
    pub corrupt: Option<String>,
    /// Sleep this long after every 64 KiB sent.
    pub slow: Option<Duration>,
    /// Answer the next storage GET of the LFS file with this sha256 with 403 (an expired signed address), once.
    pub deny_once: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Hit {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub auth: Option<String>,
}

struct State {
    repos: Vec<MockRepo>,
    /// old id → new id
    renamed: BTreeMap<String, String>,
    faults: Faults,
    hits: Vec<Hit>,
}

pub struct MockHub {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl MockHub {
    pub fn start(repos: Vec<MockRepo>, renamed: &[(&str, &str)]) -> MockHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        // the LFS storage answers on its own port: another origin, as the Hub's CDN is another host
        let cdn = TcpListener::bind("127.0.0.1:0").unwrap();
        let cdn_url = format!("http://{}", cdn.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            repos,
            renamed: renamed.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect(),
            faults: Faults::default(),
            hits: Vec::new(),
        }));
        for l in [listener, cdn] {
            let (s, u) = (state.clone(), cdn_url.clone());
            std::thread::spawn(move || {
                for conn in l.incoming().flatten() {
                    let (s, u) = (s.clone(), u.clone());
                    std::thread::spawn(move || {
                        let _ = serve(conn, &s, &u);
                    });
                }
            });
        }
        MockHub { url, state }
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state.lock().unwrap().hits.clone()
    }

    pub fn set_faults(&self, f: Faults) {
        self.state.lock().unwrap().faults = f;
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Arc<Vec<u8>>,
    range: Option<(usize, usize)>,
    /// (sha256 of an LFS file) for faults
    lfs: Option<String>,
    /// the ETag of the file served, for faults
    etag: Option<String>,
}

impl Answer {
    fn empty(status: u16, headers: Vec<(&str, String)>) -> Answer {
        Answer { status, headers: headers.into_iter().map(|(k, v)| (k.to_string(), v)).collect(), body: Arc::new(vec![]), range: None, lfs: None, etag: None }
    }
    fn error(status: u16, code: &str, message: &str) -> Answer {
        let mut a = Answer::empty(status, vec![("X-Error-Code", code.into()), ("X-Error-Message", message.into())]);
        a.body = Arc::new(format!("{{\"error\":{message:?}}}").into_bytes());
        a
    }
}

fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

fn serve(conn: TcpStream, state: &Arc<Mutex<State>>, base: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let path = target.split('?').next().unwrap_or("").to_string();
    let hit = Hit { method: method.clone(), path: path.clone(), range: headers.get("range").cloned(), auth: headers.get("authorization").cloned() };
    let (mut answer, faults) = {
        let mut st = state.lock().unwrap();
        st.hits.push(hit);
        let a = route(&st, &method, &path, &headers, base);
        (a, st.faults.clone())
    };
    if let (Some(sha), Some(d)) = (&answer.lfs, &faults.deny_once) {
        if sha == d && method == "GET" && path.starts_with("/cdn/") {
            state.lock().unwrap().faults.deny_once = None;
            answer = Answer::error(403, "", "Request has expired");
        }
    }
    let mut cut = None;
    if let Some(sha) = &answer.lfs {
        if let Some((s, n)) = &faults.cut_after {
            if s == sha && method == "GET" {
                cut = Some(*n);
                state.lock().unwrap().faults.cut_after = None; // once
            }
        }
    }
    let mut body: Vec<u8> = match answer.range {
        Some((a, b)) => answer.body[a..b].to_vec(),
        None => answer.body.to_vec(),
    };
    if let (Some(etag), Some(c)) = (&answer.etag, &faults.corrupt) {
        if etag == c && !body.is_empty() {
            let mid = body.len() / 2;
            body[mid] ^= 0x55;
        }
    }
    let mut w = conn;
    let reason = match answer.status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        307 => "Temporary Redirect",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\nConnection: close\r\n", answer.status);
    for (k, v) in &answer.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !answer.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length")) {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    if method == "HEAD" {
        return w.flush();
    }
    let send = cut.map_or(body.len(), |n| n.min(body.len()));
    for chunk in body[..send].chunks(1 << 16) {
        w.write_all(chunk)?;
        if let Some(d) = faults.slow {
            std::thread::sleep(d);
        }
    }
    w.flush()?;
    if cut.is_some() {
        let _ = w.shutdown(std::net::Shutdown::Both);
    }
    Ok(())
}

fn range_of(headers: &BTreeMap<String, String>, len: usize) -> Result<Option<(usize, usize)>, ()> {
    let Some(r) = headers.get("range") else { return Ok(None) };
    let spec = r.strip_prefix("bytes=").ok_or(())?;
    let (a, b) = spec.split_once('-').ok_or(())?;
    let a: usize = a.parse().map_err(|_| ())?;
    let b: usize = if b.is_empty() { len } else { b.parse::<usize>().map_err(|_| ())? + 1 };
    if a >= len || b > len || a >= b {
        return Err(());
    }
    Ok(Some((a, b)))
}

/// A file's bytes, honouring `Range`.
fn bytes_answer(file: &MockFile, headers: &BTreeMap<String, String>, mut extra: Vec<(&str, String)>) -> Answer {
    let len = file.bytes.len();
    match range_of(headers, len) {
        Err(()) => Answer::empty(416, vec![("Content-Range", format!("bytes */{len}"))]),
        Ok(None) => {
            extra.push(("Accept-Ranges", "bytes".into()));
            let mut a = Answer::empty(200, extra);
            a.body = file.bytes.clone();
            a.lfs = file.lfs.then(|| file.sha256());
            a.etag = Some(file.etag());
            a
        }
        Ok(Some((s, e))) => {
            extra.push(("Content-Range", format!("bytes {s}-{}/{len}", e - 1)));
            let mut a = Answer::empty(206, extra);
            a.body = file.bytes.clone();
            a.range = Some((s, e));
            a.lfs = file.lfs.then(|| file.sha256());
            a.etag = Some(file.etag());
            a
        }
    }
}

fn route(st: &State, method: &str, path: &str, headers: &BTreeMap<String, String>, base: &str) -> Answer {
    let auth = headers.get("authorization").and_then(|a| a.strip_prefix("Bearer ")).map(str::to_string);
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if segs.len() == 2 && segs[0] == "cdn" {
        for r in &st.repos {
            for files in r.commits.values() {
                if let Some(f) = files.values().find(|f| f.lfs && f.sha256() == segs[1]) {
                    return bytes_answer(f, headers, vec![]);
                }
            }
        }
        return Answer::error(404, "", "no such object");
    }
    let find = |id: &str| st.repos.iter().find(|r| r.id == id);
    let commit_of = |r: &MockRepo, rev: &str| -> Option<String> {
        r.refs.get(rev).cloned().or_else(|| r.commits.contains_key(rev).then(|| rev.to_string()))
    };
    // GET /api/models/{org}/{name}/revision/{rev}
    if segs.len() == 6 && segs[0] == "api" && segs[1] == "models" && segs[4] == "revision" && method == "GET" {
        let id = format!("{}/{}", segs[2], segs[3]);
        if let Some(new) = st.renamed.get(&id) {
            return Answer::empty(307, vec![("Location", format!("/api/models/{new}/revision/{}", segs[5]))]);
        }
        let Some(r) = find(&id) else { return Answer::error(404, "RepoNotFound", "Repository not found") };
        if let Access::Private(t) = &r.access {
            if auth.as_deref() != Some(t) {
                return Answer::error(401, "RepoNotFound", "Repository not found");
            }
        }
        let rev = unquote(segs[5]);
        let Some(c) = commit_of(r, &rev) else { return Answer::error(404, "RevisionNotFound", "Invalid rev id") };
        let siblings: Vec<_> = r.commits[&c].keys().map(|f| serde_json::json!({ "rfilename": f })).collect();
        let body = serde_json::json!({"id": r.id, "sha": c, "siblings": siblings, "private": matches!(r.access, Access::Private(_)), "gated": matches!(r.access, Access::Gated(_))});
        let mut a = Answer::empty(200, vec![("Content-Type", "application/json".into())]);
        a.body = Arc::new(body.to_string().into_bytes());
        return a;
    }
    // GET /api/models/{org}/{name}/tree/{rev} (huggingface_hub's snapshot_download lists files with it)
    if segs.len() == 6 && segs[0] == "api" && segs[1] == "models" && segs[4] == "tree" && method == "GET" {
        let id = format!("{}/{}", segs[2], segs[3]);
        let Some(r) = find(&id) else { return Answer::error(404, "RepoNotFound", "Repository not found") };
        if let Access::Private(t) = &r.access {
            if auth.as_deref() != Some(t) {
                return Answer::error(401, "RepoNotFound", "Repository not found");
            }
        }
        let Some(c) = commit_of(r, &unquote(segs[5])) else { return Answer::error(404, "RevisionNotFound", "Invalid rev id") };
        let entries: Vec<_> = r.commits[&c]
            .iter()
            .map(|(name, f)| {
                let mut e = serde_json::json!({"type": "file", "path": name, "size": f.bytes.len(), "oid": f.git_oid()});
                if f.lfs {
                    e["lfs"] = serde_json::json!({"oid": f.sha256(), "size": f.bytes.len(), "pointerSize": 134});
                }
                e
            })
            .collect();
        let mut a = Answer::empty(200, vec![("Content-Type", "application/json".into())]);
        a.body = Arc::new(serde_json::Value::Array(entries).to_string().into_bytes());
        return a;
    }
    // /{org}/{name}/resolve/{rev}/{file...}
    if segs.len() >= 5 && segs[2] == "resolve" && (method == "GET" || method == "HEAD") {
        let id = format!("{}/{}", segs[0], segs[1]);
        if let Some(new) = st.renamed.get(&id) {
            return Answer::empty(307, vec![("Location", format!("/{new}/{}", segs[2..].join("/")))]);
        }
        let Some(r) = find(&id) else { return Answer::error(404, "RepoNotFound", "Repository not found") };
        match &r.access {
            Access::Private(t) if auth.as_deref() != Some(t) => return Answer::error(401, "RepoNotFound", "Repository not found"),
            Access::Gated(t) if auth.is_none() => return Answer::error(401, "GatedRepo", "Access to this model is restricted: you must be authenticated"),
            Access::Gated(t) if auth.as_deref() != Some(t) => return Answer::error(403, "GatedRepo", "Access to this model is restricted and you are not in the authorized list"),
            _ => {}
        }
        let rev = unquote(segs[3]);
        let Some(c) = commit_of(r, &rev) else { return Answer::error(404, "RevisionNotFound", "Invalid rev id") };
        let file = unquote(&segs[4..].join("/"));
        let Some(f) = r.commits[&c].get(&file) else { return Answer::error(404, "EntryNotFound", "Entry not found") };
        if f.lfs {
            // the pointer file's git id is the ETag of the redirect; the LFS sha256 is X-Linked-Etag
            return Answer::empty(
                302,
                vec![
                    ("Location", format!("{base}/cdn/{}", f.sha256())),
                    ("ETag", format!("\"{}\"", git_oid(format!("version https://git-lfs.github.com/spec/v1\noid sha256:{}\n", f.sha256()).as_bytes()))),
                    ("X-Linked-Etag", format!("\"{}\"", f.sha256())),
                    ("X-Linked-Size", f.bytes.len().to_string()),
                    ("X-Repo-Commit", c.clone()),
                    ("Content-Length", "0".into()),
                ],
            );
        }
        return bytes_answer(f, headers, vec![("ETag", format!("\"{}\"", f.git_oid())), ("X-Repo-Commit", c.clone())]);
    }
    Answer::error(404, "", "no such route")
}
