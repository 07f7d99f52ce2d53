//! Sharded safetensors checkpoints as `transformers` saves them past `max_shard_size`:
//! `model.safetensors.index.json` (`{"metadata": {...}, "weight_map": {tensor: shard file}}`) beside
//! `model-00001-of-0000N.safetensors` files. Each shard is opened (header checked) and every tensor the index
//! lists must be in the shard it names.
use crate::error::{CheckpointError, Result};
use crate::{names, safetensors::SafetensorsFile, TensorSource};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A sharded safetensors checkpoint, read tensor by tensor like one [`SafetensorsFile`].
pub struct ShardedSafetensors {
    index: PathBuf,
    shards: Vec<SafetensorsFile>,
    /// Normalised tensor name → shard.
    by_name: HashMap<String, usize>,
}

impl ShardedSafetensors {
    /// Reads the index at `index` and opens every shard it names (shard paths are relative to its folder and
    /// must stay inside it).
    pub fn open(index: &Path) -> Result<ShardedSafetensors> {
        let bad = |msg: String| CheckpointError::Index { path: index.into(), msg };
        let text = std::fs::read(index).map_err(|e| CheckpointError::io(index, e))?;
        let json: serde_json::Value = serde_json::from_slice(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let map = json
            .get("weight_map")
            .and_then(serde_json::Value::as_object)
            .ok_or_else(|| bad("no \"weight_map\" object".into()))?;
        let dir = index.parent().unwrap_or(Path::new("."));
        let mut files: Vec<String> = Vec::new();
        let mut wanted: Vec<(&str, usize)> = Vec::with_capacity(map.len());
        for (tensor, file) in map {
            let file = file.as_str().ok_or_else(|| bad(format!("weight_map[{tensor:?}] is not a file name")))?;
            let plain = Path::new(file).components().all(|c| matches!(c, std::path::Component::Normal(_)));
            if !plain || file.is_empty() {
                return Err(bad(format!("weight_map[{tensor:?}] = {file:?} is not a file name inside the checkpoint's folder")));
            }
            let k = files.iter().position(|f| f == file).unwrap_or_else(|| {
                files.push(file.to_string());
                files.len() - 1
            });
            wanted.push((tensor, k));
        }
        if files.is_empty() {
            return Err(bad("the weight_map is empty".into()));
        }
        let shards = files.iter().map(|f| SafetensorsFile::open(&dir.join(f))).collect::<Result<Vec<_>>>()?;
        let mut by_name = HashMap::with_capacity(wanted.len());
        for (tensor, k) in wanted {
            if shards[k].entry(tensor).is_none() {
                return Err(bad(format!("tensor {tensor} is listed in {} but that shard does not hold it", files[k])));
            }
            if names::is_buffer(tensor) || !shards[k].contains(&names::normalise(tensor)) {
                continue; // a buffer or an integer tensor: not a weight
            }
            by_name.insert(names::normalise(tensor).to_string(), k);
        }
        Ok(ShardedSafetensors { index: index.into(), shards, by_name })
    }

    /// The shards' paths, in the order the index first names them.
    pub fn shard_paths(&self) -> impl Iterator<Item = &Path> {
        self.shards.iter().map(|s| s.path())
    }

    fn shard(&self, name: &str) -> Option<&SafetensorsFile> {
        self.by_name.get(names::normalise(name).as_ref()).map(|&k| &self.shards[k])
    }
}

impl TensorSource for ShardedSafetensors {
    fn path(&self) -> &Path {
        &self.index
    }
    fn shape(&self, name: &str) -> Option<Vec<usize>> {
        self.shard(name)?.shape(name)
    }
    fn read_f32_unchecked(&self, name: &str) -> Result<Vec<f32>> {
        match self.shard(name) {
            Some(s) => s.read_f32_unchecked(name),
            None => Err(CheckpointError::missing(&self.index, name)),
        }
    }
    fn names(&self) -> Vec<String> {
        crate::source::sorted(self.by_name.keys())
    }
}
