//! The cache layout of `huggingface_hub`, byte for byte:
//!
//! ```text
//! <cache>/models--org--name/
//!     blobs/<etag>                      the files' bytes, named by ETag (the LFS sha256, or the git blob id)
//!     blobs/<etag>.incomplete           a download in progress (resumed from its length)
//!     refs/<revision>                   the commit a branch, tag or refs/pr/N pointed to (no trailing newline)
//!     snapshots/<commit>/<file>         relative symlinks ../../blobs/<etag> (copies where symlinks fail)
//! <cache>/.locks/models--org--name/<etag>.lock   the lock a process holds while it downloads that blob
//! ```
use super::error::{CachedRevisions, HubError};
use super::{is_commit_hash, Result};
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One model repository's part of the cache.
#[derive(Debug, Clone)]
pub struct CacheRepo {
    root: PathBuf,
    folder: String,
}

impl CacheRepo {
    /// The cache folder of `repo_id` (`org/name` → `models--org--name`) under `cache_dir`.
    pub fn new(cache_dir: &Path, repo_id: &str) -> CacheRepo {
        CacheRepo { root: cache_dir.to_path_buf(), folder: format!("models--{}", repo_id.replace('/', "--")) }
    }

    /// `<cache>/models--org--name`.
    pub fn dir(&self) -> PathBuf {
        self.root.join(&self.folder)
    }

    /// `refs/<revision>`.
    pub fn ref_path(&self, revision: &str) -> PathBuf {
        let mut p = self.dir().join("refs");
        p.extend(revision.split('/'));
        p
    }

    /// `snapshots/<commit>`.
    pub fn snapshot_dir(&self, commit: &str) -> PathBuf {
        self.dir().join("snapshots").join(commit)
    }

    /// `blobs/<etag>`.
    pub fn blob(&self, etag: &str) -> PathBuf {
        self.dir().join("blobs").join(etag)
    }

    /// `blobs/<etag>.incomplete`.
    pub fn incomplete(&self, etag: &str) -> PathBuf {
        self.dir().join("blobs").join(format!("{etag}.incomplete"))
    }

    /// `<cache>/.locks/models--org--name/<etag>.lock`.
    pub fn lock_path(&self, etag: &str) -> PathBuf {
        self.root.join(".locks").join(&self.folder).join(format!("{etag}.lock"))
    }

    /// The commit `revision` stands for in the cache: itself when it is a commit id, else what `refs/<revision>`
    /// holds.
    pub fn commit_of(&self, revision: &str) -> Option<String> {
        if is_commit_hash(revision) {
            return Some(revision.to_string());
        }
        if !super::valid_revision(revision) {
            return None;
        }
        let s = fs::read_to_string(self.ref_path(revision)).ok()?;
        let s = s.trim();
        is_commit_hash(s).then(|| s.to_string())
    }

    /// The snapshot directory of `revision`, when the cache has one.
    pub fn snapshot_of(&self, revision: &str) -> Option<PathBuf> {
        self.commit_of(revision).map(|c| self.snapshot_dir(&c)).filter(|d| d.is_dir())
    }

    /// The revisions with a ref in the cache (`main`, `refs/pr/1`...), and the commits with a snapshot, for
    /// messages.
    pub fn cached_revisions(&self) -> CachedRevisions {
        let mut out = Vec::new();
        fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
            let Ok(rd) = fs::read_dir(dir) else { return };
            let mut names: Vec<_> = rd.flatten().collect();
            names.sort_by_key(|e| e.file_name());
            for e in names {
                let name = format!("{prefix}{}", e.file_name().to_string_lossy());
                if e.path().is_dir() {
                    walk(&e.path(), &format!("{name}/"), out);
                } else {
                    out.push(name);
                }
            }
        }
        walk(&self.dir().join("refs"), "", &mut out);
        if let Ok(rd) = fs::read_dir(self.dir().join("snapshots")) {
            let mut commits: Vec<String> = rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            commits.sort();
            out.extend(commits.into_iter().map(|c| format!("snapshot {c}")));
        }
        CachedRevisions(out)
    }

    /// Marks `file` absent from `commit` (`.no_exist/<commit>/<file>`, an empty file, as `huggingface_hub`
    /// records a 404).
    pub fn mark_absent(&self, commit: &str, file: &str) -> Result<()> {
        let p = self.dir().join(".no_exist").join(commit).join(file);
        let parent = p.parent().expect("a marker has a parent");
        fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))?;
        File::create(&p).map(drop).map_err(|e| HubError::io(&p, e))
    }

    /// Writes `refs/<revision>` = `commit`, atomically (a temporary file renamed over it). A revision that is
    /// not a ref name (`..`, an empty component) is refused: it could name a path outside the cache.
    pub fn write_ref(&self, revision: &str, commit: &str) -> Result<()> {
        if !super::valid_revision(revision) || !is_commit_hash(commit) {
            return Err(HubError::Config(format!("refusing to write ref {revision:?} = {commit:?}")));
        }
        let path = self.ref_path(revision);
        write_atomic(&path, commit.as_bytes())
    }

    /// Points `snapshots/<commit>/<file>` at `blobs/<etag>`: a relative symlink as `huggingface_hub` makes
    /// (`../../blobs/<etag>`, one more `../` per folder of `file`), or a copy where the file system has no
    /// symlinks. The link is made under a name of its own and renamed over any earlier one (atomic; safe when
    /// several threads or processes link the same file).
    pub fn link(&self, commit: &str, file: &str, etag: &str) -> Result<PathBuf> {
        let link = self.snapshot_dir(commit).join(file);
        let parent = link.parent().expect("a snapshot file has a parent");
        fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))?;
        let depth = 2 + file.matches('/').count();
        let target: PathBuf = std::iter::repeat_n("..", depth).collect::<PathBuf>().join("blobs").join(etag);
        if fs::read_link(&link).is_ok_and(|t| t == target) {
            return Ok(link);
        }
        let tmp = temp_name(&link);
        #[cfg(unix)]
        let made = std::os::unix::fs::symlink(&target, &tmp);
        #[cfg(not(unix))]
        let made: std::io::Result<()> = Err(std::io::ErrorKind::Unsupported.into());
        match made {
            Ok(()) => {}
            // no symlinks here (as huggingface_hub on such file systems): a copy, into a file of our own
            Err(e) if matches!(e.kind(), std::io::ErrorKind::Unsupported | std::io::ErrorKind::PermissionDenied) || e.raw_os_error() == Some(38) => {
                let mut out = File::options().write(true).create_new(true).open(&tmp).map_err(|e| HubError::io(&tmp, e))?;
                let mut src = File::open(self.blob(etag)).map_err(|e| HubError::io(self.blob(etag), e))?;
                std::io::copy(&mut src, &mut out).map_err(|e| HubError::io(&tmp, e))?;
            }
            Err(e) => return Err(HubError::io(&tmp, e)),
        }
        fs::rename(&tmp, &link).map_err(|e| {
            let _ = fs::remove_file(&tmp);
            HubError::io(&link, e)
        })?;
        Ok(link)
    }
}

/// A temporary name beside `path`, unique to this process and call (`.<name>.<pid>.<n>.tmp`).
fn temp_name(path: &Path) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` through a temporary file in the same folder, renamed over it.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = path.parent().expect("a cache path has a parent");
    fs::create_dir_all(parent).map_err(|e| HubError::io(parent, e))?;
    let tmp = temp_name(path);
    let mut f = File::options().write(true).create_new(true).open(&tmp).map_err(|e| HubError::io(&tmp, e))?;
    let res = f.write_all(bytes).and_then(|_| f.sync_all()).and_then(|_| fs::rename(&tmp, path));
    res.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        HubError::io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_huggingface_hubs() {
        let r = CacheRepo::new(Path::new("/c"), "PlanTL-GOB-ES/bsc-bio-ehr-es");
        assert_eq!(r.dir(), PathBuf::from("/c/models--PlanTL-GOB-ES--bsc-bio-ehr-es"));
        assert_eq!(r.ref_path("refs/pr/1"), PathBuf::from("/c/models--PlanTL-GOB-ES--bsc-bio-ehr-es/refs/refs/pr/1"));
        assert_eq!(r.blob("abc"), PathBuf::from("/c/models--PlanTL-GOB-ES--bsc-bio-ehr-es/blobs/abc"));
        assert_eq!(r.incomplete("abc"), PathBuf::from("/c/models--PlanTL-GOB-ES--bsc-bio-ehr-es/blobs/abc.incomplete"));
        assert_eq!(r.lock_path("abc"), PathBuf::from("/c/.locks/models--PlanTL-GOB-ES--bsc-bio-ehr-es/abc.lock"));
    }

    #[test]
    #[cfg(unix)]
    fn links_are_relative_and_refs_plain() {
        let root = std::env::temp_dir().join(format!("roberta-hub-cache-{}", std::process::id()));
        let r = CacheRepo::new(&root, "a/b");
        let c = "0123456789abcdef0123456789abcdef01234567";
        fs::create_dir_all(r.blob("e").parent().unwrap()).unwrap();
        fs::write(r.blob("e"), b"x").unwrap();
        let l = r.link(c, "config.json", "e").unwrap();
        assert_eq!(fs::read_link(&l).unwrap(), PathBuf::from("../../blobs/e"));
        let l = r.link(c, "sub/w.safetensors", "e").unwrap();
        assert_eq!(fs::read_link(&l).unwrap(), PathBuf::from("../../../blobs/e"));
        assert_eq!(fs::read(&l).unwrap(), b"x");
        r.write_ref("refs/pr/1", c).unwrap();
        assert_eq!(fs::read_to_string(root.join("models--a--b/refs/refs/pr/1")).unwrap(), c);
        assert_eq!(r.snapshot_of("refs/pr/1"), Some(r.snapshot_dir(c)));
        assert_eq!(r.snapshot_of("main"), None);
        assert_eq!(r.cached_revisions().0, vec!["refs/pr/1".to_string(), format!("snapshot {c}")]);
        fs::remove_dir_all(&root).unwrap();
    }
}
