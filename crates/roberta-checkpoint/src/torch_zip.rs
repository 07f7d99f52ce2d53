//! `pytorch_model.bin`: torch's zip archive (stored entries `<root>/data.pkl`, `<root>/data/<key>`, ...),
//! read by hand from the central directory (zip64 included), every offset bounds-checked, local headers
//! verified; tensors decoded from the pickle's storage views (dtype, offset, strides).
use crate::error::{CheckpointError, Result};
use crate::pickle::state_dict;
use crate::{map_file, names, DType, Tensor, TensorSource};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One stored entry of the archive: its name and the byte range of its data.
#[derive(Debug, Clone)]
pub struct ZipEntry {
    /// File name inside the archive.
    pub name: String,
    /// Absolute start of the data.
    pub start: usize,
    /// Length of the data.
    pub len: usize,
}

fn rd16(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at.checked_add(2)?).map(|s| u16::from_le_bytes([s[0], s[1]]))
}
fn rd32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?).map(|s| u32::from_le_bytes(s.try_into().unwrap()))
}
fn rd64(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at.checked_add(8)?).map(|s| u64::from_le_bytes(s.try_into().unwrap()))
}

/// Parses the central directory of a zip archive held in `buf`; only stored (uncompressed) entries.
pub fn parse_zip(buf: &[u8], path: &Path) -> Result<Vec<ZipEntry>> {
    let zerr = |offset: usize, msg: String| CheckpointError::Zip { path: path.into(), offset: offset as u64, msg };
    let trunc = |at: usize| zerr(at, "truncated record".into());
    // End of central directory: the last "PK\x05\x06" within 64 KiB + 22 bytes of the end.
    if buf.len() < 22 {
        return Err(zerr(0, format!("file is {} bytes, too short for a zip archive", buf.len())));
    }
    let lo = buf.len().saturating_sub(22 + 65535);
    let eocd = (lo..=buf.len() - 22)
        .rev()
        .find(|&i| buf[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| zerr(buf.len(), "no end-of-central-directory record: not a zip or truncated".into()))?;
    let mut count = rd16(buf, eocd + 10).ok_or_else(|| trunc(eocd))? as u64;
    let mut cd_size = rd32(buf, eocd + 12).ok_or_else(|| trunc(eocd))? as u64;
    let mut cd_off = rd32(buf, eocd + 16).ok_or_else(|| trunc(eocd))? as u64;
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_off == 0xFFFF_FFFF {
        // zip64: locator just before the EOCD points at the zip64 EOCD record.
        let loc = eocd.checked_sub(20).ok_or_else(|| zerr(eocd, "zip64 locator missing".into()))?;
        if rd32(buf, loc) != Some(0x0706_4b50) {
            return Err(zerr(loc, "zip64 end-of-central-directory locator missing".into()));
        }
        let rec = rd64(buf, loc + 8).ok_or_else(|| trunc(loc))? as usize;
        if rd32(buf, rec) != Some(0x0606_4b50) {
            return Err(zerr(rec, "zip64 end-of-central-directory record missing".into()));
        }
        count = rd64(buf, rec + 32).ok_or_else(|| trunc(rec))?;
        cd_size = rd64(buf, rec + 40).ok_or_else(|| trunc(rec))?;
        cd_off = rd64(buf, rec + 48).ok_or_else(|| trunc(rec))?;
    }
    if cd_off.checked_add(cd_size).is_none_or(|e| e > buf.len() as u64) {
        return Err(zerr(eocd, format!("central directory [{cd_off}, +{cd_size}) runs past the end of the file")));
    }
    // `count` comes from the file: reserve no more than the directory's bytes can hold (46 bytes an entry).
    let mut entries = Vec::with_capacity(count.min(cd_size / 46) as usize);
    let mut p = cd_off as usize;
    for _ in 0..count {
        if rd32(buf, p) != Some(0x0201_4b50) {
            return Err(zerr(p, "bad central directory entry signature".into()));
        }
        let method = rd16(buf, p + 10).ok_or_else(|| trunc(p))?;
        let mut csize = rd32(buf, p + 20).ok_or_else(|| trunc(p))? as u64;
        let mut size = rd32(buf, p + 24).ok_or_else(|| trunc(p))? as u64;
        let nlen = rd16(buf, p + 28).ok_or_else(|| trunc(p))? as usize;
        let xlen = rd16(buf, p + 30).ok_or_else(|| trunc(p))? as usize;
        let clen = rd16(buf, p + 32).ok_or_else(|| trunc(p))? as usize;
        let mut local = rd32(buf, p + 42).ok_or_else(|| trunc(p))? as u64;
        let name_b = buf.get(p + 46..p + 46 + nlen).ok_or_else(|| trunc(p))?;
        let name = String::from_utf8_lossy(name_b).into_owned();
        let extra = buf.get(p + 46 + nlen..p + 46 + nlen + xlen).ok_or_else(|| trunc(p))?;
        // zip64 extended information: the fields that are 0xFFFFFFFF, in order.
        let mut x = 0;
        while x + 4 <= extra.len() {
            let id = rd16(extra, x).unwrap();
            let sz = rd16(extra, x + 2).unwrap() as usize;
            if id == 0x0001 {
                let mut q = x + 4;
                for field in [&mut size, &mut csize, &mut local] {
                    if *field == 0xFFFF_FFFF {
                        *field = rd64(extra, q).ok_or_else(|| zerr(p, format!("{name}: short zip64 extra field")))?;
                        q += 8;
                    }
                }
            }
            x += 4 + sz;
        }
        if method != 0 {
            return Err(zerr(p, format!("{name}: compression method {method}, only stored entries are supported")));
        }
        if csize != size {
            return Err(zerr(p, format!("{name}: stored entry with compressed size {csize} != size {size}")));
        }
        // Local header: signature, same name; data follows its own name and extra field.
        let l = local as usize;
        if local > buf.len() as u64 || rd32(buf, l) != Some(0x0403_4b50) {
            return Err(zerr(l, format!("{name}: local header offset {local} does not point at a local header")));
        }
        let lnlen = rd16(buf, l + 26).ok_or_else(|| trunc(l))? as usize;
        let lxlen = rd16(buf, l + 28).ok_or_else(|| trunc(l))? as usize;
        if buf.get(l + 30..l + 30 + lnlen) != Some(name_b) {
            return Err(zerr(l, format!("{name}: local header names a different file")));
        }
        let start = l + 30 + lnlen + lxlen;
        if (start as u64).checked_add(csize).is_none_or(|e| e > buf.len() as u64) {
            return Err(zerr(start, format!("{name}: data [{start}, +{csize}) runs past the end of the file: truncated?")));
        }
        entries.push(ZipEntry { name, start, len: csize as usize });
        p += 46 + nlen + xlen + clen;
    }
    Ok(entries)
}

/// A float tensor's view on its storage, with the byte range of the storage's archive entry.
#[derive(Debug, Clone)]
struct View {
    dtype: DType,
    key: String,
    storage_numel: u64,
    offset: u64,
    shape: Vec<usize>,
    stride: Vec<usize>,
    /// The storage entry's data in the archive.
    start: usize,
    len: usize,
}

/// Parses the archive in `buf`: its entries, then the pickle's float tensors (original names, file order) as
/// views with their storage located; every view bounds-checked against its storage.
fn views(buf: &[u8], path: &Path) -> Result<Vec<(String, View)>> {
    let entries = parse_zip(buf, path)?;
    let pkl = entries
        .iter()
        .find(|e| e.name.ends_with("data.pkl") && e.name.matches('/').count() <= 1)
        .ok_or_else(|| CheckpointError::Zip { path: path.into(), offset: 0, msg: "no data.pkl in the archive".into() })?;
    let root = &pkl.name[..pkl.name.len() - "data.pkl".len()];
    if let Some(bo) = entries.iter().find(|e| e.name == format!("{root}byteorder")) {
        let v = &buf[bo.start..bo.start + bo.len];
        if v != b"little" {
            return Err(CheckpointError::Zip {
                path: path.into(),
                offset: bo.start as u64,
                msg: format!("byteorder {:?}: only little-endian archives are supported", String::from_utf8_lossy(v)),
            });
        }
    }
    let by_name: HashMap<&str, &ZipEntry> = entries.iter().map(|e| (e.name.as_str(), e)).collect();
    let refs = state_dict(&buf[pkl.start..pkl.start + pkl.len], path)?;
    let mut out = Vec::with_capacity(refs.len());
    for (name, t) in refs {
        if !t.storage.dtype.is_float() {
            continue;
        }
        let entry_name = format!("{root}data/{}", t.storage.key);
        let e = by_name.get(entry_name.as_str()).ok_or_else(|| {
            CheckpointError::tensor(path, &name, format!("storage {entry_name} is not in the archive"))
        })?;
        let v = View {
            dtype: t.storage.dtype,
            key: t.storage.key.clone(),
            storage_numel: t.storage.numel,
            offset: t.offset,
            shape: t.shape,
            stride: t.stride,
            start: e.start,
            len: e.len,
        };
        check_view(&v, path, &name)?;
        out.push((name, v));
    }
    Ok(out)
}

/// Loads every float tensor of a torch zip checkpoint as f32, under its original name (integer buffers
/// such as `position_ids` are skipped). Views of the same storage region share one tensor.
pub fn load_f32(path: &Path) -> Result<Vec<(String, Arc<Tensor>)>> {
    let map = map_file(path)?;
    let buf: &[u8] = &map;
    let mut seen: HashMap<(String, u64, Vec<usize>, Vec<usize>), Arc<Tensor>> = HashMap::new();
    let views = views(buf, path)?;
    let mut out = Vec::with_capacity(views.len());
    for (name, v) in views {
        let k = (v.key.clone(), v.offset, v.shape.clone(), v.stride.clone());
        if let Some(shared) = seen.get(&k) {
            out.push((name, shared.clone()));
            continue;
        }
        let tensor = Arc::new(Tensor { shape: v.shape.clone(), data: gather(&buf[v.start..v.start + v.len], &v) });
        seen.insert(k, tensor.clone());
        out.push((name, tensor));
    }
    Ok(out)
}

/// A `pytorch_model.bin` as a [`TensorSource`]: the archive mapped, its index, pickle and every view checked at
/// open; each tensor decoded from its storage only when read (no whole f32 copy of the checkpoint).
pub struct TorchZipFile {
    map: memmap2::Mmap,
    path: PathBuf,
    /// Views by [`names::normalise`]d name (buffers left out).
    views: HashMap<String, View>,
}

impl TorchZipFile {
    /// Maps and checks an archive.
    pub fn open(path: &Path) -> Result<TorchZipFile> {
        let map = map_file(path)?;
        let mut by_name = HashMap::new();
        for (name, v) in views(&map, path)? {
            if !names::is_buffer(&name) {
                by_name.insert(names::normalise(&name).to_string(), v);
            }
        }
        Ok(TorchZipFile { map, path: path.into(), views: by_name })
    }
}

impl TensorSource for TorchZipFile {
    fn path(&self) -> &Path {
        &self.path
    }
    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.views.get(names::normalise(name).as_ref()).map(|v| v.shape.clone())
    }
    fn read_f32_unchecked(&self, name: &str) -> Result<Vec<f32>> {
        let v = self
            .views
            .get(names::normalise(name).as_ref())
            .ok_or_else(|| CheckpointError::missing(&self.path, name))?;
        Ok(gather(&self.map[v.start..v.start + v.len], v))
    }
    fn names(&self) -> Vec<String> {
        crate::source::sorted(self.views.keys())
    }
}

/// Checks that a view selects only elements of its storage (and the storage fits its archive entry).
fn check_view(t: &View, path: &Path, name: &str) -> Result<()> {
    let es = t.dtype.size() as u64;
    let claimed = t.storage_numel.checked_mul(es);
    if claimed.is_none_or(|c| c > t.len as u64) {
        return Err(CheckpointError::tensor(
            path,
            name,
            format!("storage {} claims {} elements but has {} bytes", t.key, t.storage_numel, t.len),
        ));
    }
    // Shapes, strides and offset come from the file: every product and sum is checked (a wrapped one would let a
    // huge view pass for a small one).
    let overflow = || {
        let msg = format!("view (offset {}, shape {:?}, stride {:?}) overflows 64 bits", t.offset, t.shape, t.stride);
        CheckpointError::tensor(path, name, msg)
    };
    let numel = t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64)).ok_or_else(overflow)?;
    if numel == 0 {
        return Ok(());
    }
    if numel > t.storage_numel {
        // Only overlapping strides (e.g. stride 0) select more elements than the storage has: refused, so that a
        // file cannot make a one-element storage into a terabyte tensor. torch.save'd state dicts never do it.
        let msg = format!("view of shape {:?}, stride {:?} selects {numel} elements of a storage of {}", t.shape, t.stride, t.storage_numel);
        return Err(CheckpointError::tensor(path, name, msg));
    }
    {
        let last = t
            .shape
            .iter()
            .zip(&t.stride)
            .try_fold(t.offset, |a, (&d, &s)| a.checked_add((d as u64 - 1).checked_mul(s as u64)?))
            .ok_or_else(overflow)?;
        if last >= t.storage_numel {
            return Err(CheckpointError::tensor(
                path,
                name,
                format!(
                    "view (offset {}, shape {:?}, stride {:?}) reaches element {last}, past the storage's {}",
                    t.offset, t.shape, t.stride, t.storage_numel
                ),
            ));
        }
    }
    Ok(())
}

/// Decodes the elements a view selects from its storage bytes (checked by [`check_view`]).
fn gather(storage: &[u8], t: &View) -> Vec<f32> {
    let dt = t.dtype;
    let es = dt.size() as u64;
    let numel: u64 = t.shape.iter().map(|&d| d as u64).product();
    if numel == 0 {
        return Vec::new();
    }
    let contiguous = {
        let mut expect = 1usize;
        let mut ok = true;
        for (&d, &s) in t.shape.iter().zip(&t.stride).rev() {
            if d != 1 && s != expect {
                ok = false;
            }
            expect *= d;
        }
        ok
    };
    let data = if contiguous {
        let a = (t.offset * es) as usize;
        dt.to_f32(&storage[a..a + (numel * es) as usize]).expect("float dtype")
    } else {
        // General strided gather, one element at a time (rare: torch.save keeps views as they are).
        let mut out = Vec::with_capacity(numel as usize);
        let mut idx = vec![0usize; t.shape.len()];
        for _ in 0..numel {
            let off = t.offset as usize + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
            let b = off * es as usize;
            out.push(dt.to_f32(&storage[b..b + es as usize]).expect("float dtype")[0]);
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < t.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        out
    };
    data
}
