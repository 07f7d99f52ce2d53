//! Writing small `pytorch_model.bin` files (torch zip + protocol-2 pickle) the way `torch.save` lays out a state
//! dict: for tests, fuzz seeds and crafted hostile checkpoints. Each record may claim a storage size of its own
//! (`numel`), so a file can lie about its tensors exactly as a corrupt or malicious one would.
use crate::DType;
use crate::error::{CheckpointError, Result};
use std::path::Path;

/// One tensor of a state dict to write: contiguous, offset 0, its storage `archive/data/<index>`.
#[derive(Debug, Clone)]
pub struct TorchRecord<'a> {
    /// The state-dict key.
    pub name: &'a str,
    /// Element type (selects `torch.FloatStorage`, `torch.HalfStorage`, ...).
    pub dtype: DType,
    /// Shape written into `_rebuild_tensor_v2` (contiguous strides are derived from it).
    pub shape: &'a [usize],
    /// The storage's bytes, little-endian.
    pub bytes: &'a [u8],
    /// The element count the persistent id claims; None: `bytes.len() / dtype.size()`.
    pub numel: Option<u64>,
    /// Strides in elements; None: contiguous.
    pub stride: Option<&'a [usize]>,
}

fn storage_class(d: DType) -> &'static str {
    match d {
        DType::F32 => "FloatStorage",
        DType::F16 => "HalfStorage",
        DType::BF16 => "BFloat16Storage",
        DType::F64 => "DoubleStorage",
        DType::I64 => "LongStorage",
        DType::I32 => "IntStorage",
        DType::I16 => "ShortStorage",
        DType::I8 => "CharStorage",
        DType::U8 => "ByteStorage",
        DType::Bool => "BoolStorage",
    }
}

fn put_str(p: &mut Vec<u8>, s: &str) {
    p.push(b'X');
    p.extend_from_slice(&(s.len() as u32).to_le_bytes());
    p.extend_from_slice(s.as_bytes());
}

fn put_int(p: &mut Vec<u8>, v: u64) {
    // LONG1 with 8 bytes holds any value the reader accepts (it reads i64).
    p.extend_from_slice(&[0x8a, 8]);
    p.extend_from_slice(&v.to_le_bytes());
}

fn put_int_tuple(p: &mut Vec<u8>, vs: &[u64]) {
    p.push(b'(');
    for &v in vs {
        put_int(p, v);
    }
    p.push(b't');
}

/// The `data.pkl` of a state dict: `OrderedDict` of `_rebuild_tensor_v2(storage, 0, shape, stride, False,
/// OrderedDict())`, storage `i` being record `i`.
pub fn state_dict_pickle(records: &[TorchRecord]) -> Vec<u8> {
    let mut p = vec![0x80, 2];
    p.extend_from_slice(b"ccollections\nOrderedDict\n)R");
    for (i, r) in records.iter().enumerate() {
        put_str(&mut p, r.name);
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        // persistent id ('storage', torch.<Class>, key, 'cpu', numel)
        p.push(b'(');
        put_str(&mut p, "storage");
        p.extend_from_slice(format!("ctorch\n{}\n", storage_class(r.dtype)).as_bytes());
        put_str(&mut p, &i.to_string());
        put_str(&mut p, "cpu");
        put_int(&mut p, r.numel.unwrap_or((r.bytes.len() / r.dtype.size()) as u64));
        p.extend_from_slice(b"tQ");
        put_int(&mut p, 0);
        let shape: Vec<u64> = r.shape.iter().map(|&d| d as u64).collect();
        let mut stride = vec![1u64; shape.len()];
        for d in (0..shape.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1].saturating_mul(shape[d + 1]);
        }
        if let Some(s) = r.stride {
            stride = s.iter().map(|&x| x as u64).collect();
        }
        put_int_tuple(&mut p, &shape);
        put_int_tuple(&mut p, &stride);
        p.push(0x89);
        p.extend_from_slice(b"ccollections\nOrderedDict\n)R");
        p.extend_from_slice(b"tRs");
    }
    p.push(b'.');
    p
}

/// A zip archive of stored (uncompressed) entries, as `torch.save` writes (no zip64: entries under 4 GiB).
pub fn zip_stored(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let off = out.len() as u32;
        let crc = crc32(data);
        let mut fixed = Vec::new();
        fixed.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // version, flags, method 0, time, date
        fixed.extend_from_slice(&crc.to_le_bytes());
        fixed.extend_from_slice(&(data.len() as u32).to_le_bytes());
        fixed.extend_from_slice(&(data.len() as u32).to_le_bytes());
        fixed.extend_from_slice(&(name.len() as u16).to_le_bytes());
        fixed.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&fixed);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 0]); // version made by
        central.extend_from_slice(&fixed);
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&off.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_off = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_off.to_le_bytes());
    out.extend_from_slice(&[0, 0]);
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
        }
    }
    !c
}

/// The bytes of a `pytorch_model.bin` holding `records` (root folder `archive/`).
pub fn torch_zip_bytes(records: &[TorchRecord]) -> Vec<u8> {
    let pkl = state_dict_pickle(records);
    let names: Vec<String> = (0..records.len()).map(|i| format!("archive/data/{i}")).collect();
    let mut entries: Vec<(&str, &[u8])> = vec![("archive/data.pkl", &pkl), ("archive/byteorder", b"little")];
    entries.extend(names.iter().zip(records).map(|(n, r)| (n.as_str(), r.bytes)));
    entries.push(("archive/version", b"3\n"));
    zip_stored(&entries)
}

/// Writes a `pytorch_model.bin` holding `records`.
pub fn write_torch_zip(path: &Path, records: &[TorchRecord]) -> Result<()> {
    std::fs::write(path, torch_zip_bytes(records)).map_err(|e| CheckpointError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_the_reader() {
        let w: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let b: Vec<u8> = [0.5f32, -0.5].iter().flat_map(|x| x.to_le_bytes()).collect();
        let recs = [
            TorchRecord { name: "a.weight", dtype: DType::F32, shape: &[2, 3], bytes: &w, numel: None, stride: None },
            TorchRecord { name: "a.bias", dtype: DType::F32, shape: &[2], bytes: &b, numel: None, stride: None },
        ];
        let dir = std::env::temp_dir().join(format!("torch-write-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pytorch_model.bin");
        write_torch_zip(&p, &recs).unwrap();
        let got = crate::torch_zip::load_f32(&p).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, "a.weight");
        assert_eq!(got[0].1.shape, vec![2, 3]);
        assert_eq!(got[0].1.data, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(got[1].1.data, vec![0.5, -0.5]);
    }
}
