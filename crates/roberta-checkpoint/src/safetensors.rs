//! The safetensors format, read and written by hand so that every inconsistency is a precise error:
//! 8-byte little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}}`, the data.
use crate::error::{CheckpointError, Result};
use crate::{map_open, names, DType, Tensor, TensorSource};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// One tensor record of a safetensors header, with its data's absolute byte range in the file.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Name as stored.
    pub name: String,
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<usize>,
    /// Absolute start of the data in the file.
    pub start: usize,
    /// Absolute end (exclusive).
    pub end: usize,
}

/// A memory-mapped, validated safetensors file; as a [`TensorSource`] it reads each float tensor straight from
/// the file into its f32 vector (positioned reads on Unix: the map's data pages are never touched, so the peak
/// is the tensors the caller keeps, not the checkpoint).
pub struct SafetensorsFile {
    map: memmap2::Mmap,
    /// The tensor records in file order.
    pub entries: Vec<Entry>,
    path: std::path::PathBuf,
    /// Float, non-buffer records by [`names::normalise`]d name → index into `entries`.
    by_name: HashMap<String, usize>,
    #[cfg(unix)]
    file: std::fs::File,
}

/// The safetensors dtype string for a dtype.
pub fn dtype_name(d: DType) -> &'static str {
    match d {
        DType::F32 => "F32",
        DType::F16 => "F16",
        DType::BF16 => "BF16",
        DType::F64 => "F64",
        DType::I64 => "I64",
        DType::I32 => "I32",
        DType::I16 => "I16",
        DType::I8 => "I8",
        DType::U8 => "U8",
        DType::Bool => "BOOL",
    }
}

fn parse_dtype(s: &str) -> Option<DType> {
    Some(match s {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F64" => DType::F64,
        "I64" => DType::I64,
        "I32" => DType::I32,
        "I16" => DType::I16,
        "I8" => DType::I8,
        "U8" => DType::U8,
        "BOOL" => DType::Bool,
        _ => return None,
    })
}

impl SafetensorsFile {
    /// Maps and validates a file: header bounds, every record's dtype, shape and offsets.
    pub fn open(path: &Path) -> Result<SafetensorsFile> {
        let file = std::fs::File::open(path).map_err(|e| CheckpointError::io(path, e))?;
        let map = map_open(&file, path)?;
        let entries = parse_header(&map, path)?;
        let mut by_name = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            if e.dtype.is_float() && !names::is_buffer(&e.name) {
                by_name.insert(names::normalise(&e.name).to_string(), i);
            }
        }
        #[cfg(not(unix))]
        drop(file);
        Ok(SafetensorsFile {
            map,
            entries,
            path: path.into(),
            by_name,
            #[cfg(unix)]
            file,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The record called `name`.
    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The raw bytes of a record.
    pub fn bytes(&self, e: &Entry) -> &[u8] {
        &self.map[e.start..e.end]
    }

    /// A float record decoded to f32 (error for integer dtypes).
    pub fn f32(&self, name: &str) -> Result<Tensor> {
        let e = self.entry(name).ok_or_else(|| CheckpointError::missing(&self.path, name))?;
        let data = e.dtype.to_f32(self.bytes(e)).ok_or_else(|| {
            CheckpointError::tensor(&self.path, name, format!("dtype {:?} is not a float type", e.dtype))
        })?;
        Ok(Tensor { shape: e.shape.clone(), data })
    }

    /// An integer record decoded to i64 (error for float dtypes); returns (shape, values).
    pub fn i64(&self, name: &str) -> Result<(Vec<usize>, Vec<i64>)> {
        let e = self.entry(name).ok_or_else(|| CheckpointError::missing(&self.path, name))?;
        let data = e.dtype.to_i64(self.bytes(e)).ok_or_else(|| {
            CheckpointError::tensor(&self.path, name, format!("dtype {:?} is not an integer type", e.dtype))
        })?;
        Ok((e.shape.clone(), data))
    }
}

impl TensorSource for SafetensorsFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.by_name.get(names::normalise(name).as_ref()).map(|&i| self.entries[i].shape.clone())
    }

    fn read_f32_unchecked(&self, name: &str) -> Result<Vec<f32>> {
        let e = self
            .by_name
            .get(names::normalise(name).as_ref())
            .map(|&i| &self.entries[i])
            .ok_or_else(|| CheckpointError::missing(&self.path, name))?;
        let n: usize = e.shape.iter().product();
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileExt;
            let read_at = |buf: &mut [u8]| self.file.read_exact_at(buf, e.start as u64).map_err(|err| CheckpointError::io(&self.path, err));
            if e.dtype == DType::F32 && e.end - e.start == 4 * n {
                let mut v = vec![0.0f32; n];
                read_at(bytemuck::cast_slice_mut(&mut v))?;
                if cfg!(target_endian = "big") {
                    v.iter_mut().for_each(|x| *x = f32::from_bits(u32::from_le(x.to_bits())));
                }
                return Ok(v);
            }
            let mut bytes = vec![0u8; e.end - e.start];
            read_at(&mut bytes)?;
            decode_f32(e, &bytes, n, &self.path, name)
        }
        #[cfg(not(unix))]
        decode_f32(e, self.bytes(e), n, &self.path, name)
    }

    fn names(&self) -> Vec<String> {
        crate::source::sorted(self.by_name.keys())
    }
}

fn decode_f32(e: &Entry, bytes: &[u8], n: usize, path: &Path, name: &str) -> Result<Vec<f32>> {
    e.dtype
        .to_f32(bytes)
        .filter(|v| v.len() == n)
        .ok_or_else(|| CheckpointError::tensor(path, name, format!("dtype {:?} is not a float type of {n} elements", e.dtype)))
}

fn parse_header(buf: &[u8], path: &Path) -> Result<Vec<Entry>> {
    let herr = |msg: String| CheckpointError::SafetensorsHeader { path: path.into(), msg };
    if buf.len() < 8 {
        return Err(herr(format!("file is {} bytes, shorter than the 8-byte header length", buf.len())));
    }
    let n = u64::from_le_bytes(buf[..8].try_into().unwrap());
    if n > (buf.len() - 8) as u64 {
        return Err(herr(format!("header length {n} runs past the end of the file ({} bytes): truncated?", buf.len())));
    }
    let data_start = 8 + n as usize;
    let data_len = buf.len() - data_start;
    let header: Map<String, Value> = serde_json::from_slice(&buf[8..data_start])
        .map_err(|e| herr(format!("header is not a JSON object: {e}")))?;
    let mut entries = Vec::with_capacity(header.len());
    for (name, v) in &header {
        if name == "__metadata__" {
            continue;
        }
        let terr = |msg: String| CheckpointError::tensor(path, name.clone(), msg);
        let dt = v.get("dtype").and_then(Value::as_str).ok_or_else(|| terr("record has no dtype".into()))?;
        let dtype = parse_dtype(dt).ok_or_else(|| terr(format!("unknown dtype {dt:?}")))?;
        let shape: Vec<usize> = v
            .get("shape")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(|x| x.as_u64().map(|u| u as usize)).collect::<Option<Vec<_>>>())
            .ok_or_else(|| terr("record has no valid shape".into()))?;
        let offs: Vec<u64> = v
            .get("data_offsets")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<_>>>())
            .filter(|o| o.len() == 2)
            .ok_or_else(|| terr("record has no valid data_offsets [begin, end]".into()))?;
        let (b, e) = (offs[0], offs[1]);
        if b > e {
            return Err(terr(format!("data_offsets [{b}, {e}] end before they begin")));
        }
        if e > data_len as u64 {
            return Err(terr(format!(
                "data_offsets [{b}, {e}] run past the end of the data ({data_len} bytes): file truncated or header lies"
            )));
        }
        let numel = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
        let need = numel.and_then(|n| n.checked_mul(dtype.size() as u64));
        if need != Some(e - b) {
            return Err(terr(format!(
                "shape {shape:?} of {dt} needs {} bytes but data_offsets [{b}, {e}] span {}",
                need.map_or("too many".to_string(), |n| n.to_string()),
                e - b
            )));
        }
        entries.push(Entry { name: name.clone(), dtype, shape, start: data_start + b as usize, end: data_start + e as usize });
    }
    entries.sort_by_key(|e| e.start);
    Ok(entries)
}

/// Loads every float tensor of a safetensors file as f32 (integer buffers are skipped).
pub fn load_f32(path: &Path) -> Result<Vec<(String, Arc<Tensor>)>> {
    load_f32_where(path, |_| true)
}

/// As [`load_f32`], converting only the tensors whose (file) name `keep` accepts: the others are never read.
pub fn load_f32_where(path: &Path, keep: impl Fn(&str) -> bool) -> Result<Vec<(String, Arc<Tensor>)>> {
    let f = SafetensorsFile::open(path)?;
    let mut out = Vec::with_capacity(f.entries.len());
    for e in f.entries.iter().filter(|e| keep(&e.name)) {
        if let Some(data) = e.dtype.to_f32(f.bytes(e)) {
            out.push((e.name.clone(), Arc::new(Tensor { shape: e.shape.clone(), data })));
        }
    }
    Ok(out)
}

/// Writes a safetensors file from (name, dtype, shape, little-endian bytes) records, in the given order.
pub fn write_raw(path: &Path, records: &[(&str, DType, &[usize], &[u8])]) -> Result<()> {
    let mut header = Map::new();
    let mut off = 0usize;
    for (name, dtype, shape, bytes) in records {
        assert_eq!(shape.iter().product::<usize>() * dtype.size(), bytes.len(), "record {name}: shape/bytes disagree");
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype_name(*dtype), "shape": shape, "data_offsets": [off, off + bytes.len()]}),
        );
        off += bytes.len();
    }
    let mut meta = Map::new();
    meta.insert("format".into(), Value::String("pt".into()));
    header.insert("__metadata__".into(), Value::Object(meta));
    let mut h = serde_json::to_vec(&Value::Object(header)).expect("JSON header");
    while h.len() % 8 != 0 {
        h.push(b' ');
    }
    let io = |e| CheckpointError::io(path, e);
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    w.write_all(&(h.len() as u64).to_le_bytes()).map_err(io)?;
    w.write_all(&h).map_err(io)?;
    for (_, _, _, bytes) in records {
        w.write_all(bytes).map_err(io)?;
    }
    w.flush().map_err(io)
}

/// Writes f32 tensors to a safetensors file under the given names.
pub fn write_f32(path: &Path, tensors: &[(&str, &Tensor)]) -> Result<()> {
    let recs: Vec<(&str, DType, &[usize], &[u8])> = tensors
        .iter()
        .map(|(n, t)| (*n, DType::F32, t.shape.as_slice(), bytemuck::cast_slice::<f32, u8>(&t.data)))
        .collect();
    write_raw(path, &recs)
}
