//! A pickle VM for the subset `torch.save` writes for a state dict: an `OrderedDict` of
//! `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)` calls whose
//! storages are persistent ids `('storage', torch.FloatStorage, key, location, numel)`.
//! Anything else is an error naming the opcode (or callable) and its byte offset.
use crate::DType;
use crate::error::{CheckpointError, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::{Rc, Weak};

/// A storage referenced by a persistent id: `data/<key>` in the archive.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    /// Element type from the storage class (`FloatStorage`, `HalfStorage`, ...).
    pub dtype: DType,
    /// Archive entry key (`data/<key>`).
    pub key: String,
    /// Number of elements the record claims.
    pub numel: u64,
}

/// A tensor view on a storage.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    /// The storage it views.
    pub storage: Rc<StorageRef>,
    /// Offset in elements.
    pub offset: u64,
    /// Shape.
    pub shape: Vec<usize>,
    /// Strides in elements.
    pub stride: Vec<usize>,
}

/// A pickle value (the subset needed).
#[derive(Debug, Clone)]
pub enum Value {
    /// `None`.
    None,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(Rc<str>),
    /// Bytes.
    Bytes(Rc<[u8]>),
    /// A tuple.
    Tuple(Rc<Items>),
    /// A list (shared and mutable as in Python).
    List(Rc<RefCell<Items>>),
    /// A dict, insertion-ordered (shared and mutable as in Python).
    Dict(Rc<RefCell<Pairs>>),
    /// A global `module.name`.
    Global(Rc<str>, Rc<str>),
    /// A storage from a persistent id.
    Storage(Rc<StorageRef>),
    /// A rebuilt tensor.
    Tensor(Rc<TensorRef>),
}

/// The items of a tuple or list. Dropping containers is iterative (see [`unnest`]), so a hostile pickle nested a
/// million levels deep (one `TUPLE1` byte a level) cannot overflow the stack when it is freed.
#[derive(Debug, Default)]
pub struct Items(pub Vec<Value>);

/// The key–value pairs of a dict; dropped iteratively like [`Items`].
#[derive(Debug, Default)]
pub struct Pairs(pub Vec<(Value, Value)>);

impl std::ops::Deref for Items {
    type Target = Vec<Value>;
    fn deref(&self) -> &Vec<Value> {
        &self.0
    }
}

impl std::ops::DerefMut for Items {
    fn deref_mut(&mut self) -> &mut Vec<Value> {
        &mut self.0
    }
}

impl std::ops::Deref for Pairs {
    type Target = Vec<(Value, Value)>;
    fn deref(&self) -> &Vec<(Value, Value)> {
        &self.0
    }
}

impl std::ops::DerefMut for Pairs {
    fn deref_mut(&mut self) -> &mut Vec<(Value, Value)> {
        &mut self.0
    }
}

impl Drop for Items {
    fn drop(&mut self) {
        unnest(std::mem::take(&mut self.0));
    }
}

impl Drop for Pairs {
    fn drop(&mut self) {
        unnest(self.0.drain(..).flat_map(|(k, v)| [k, v]).collect());
    }
}

/// Frees values with a work list instead of recursion: the children of every container this was the last owner
/// of move onto the list, so each container is dropped empty.
fn unnest(mut stack: Vec<Value>) {
    while let Some(v) = stack.pop() {
        match v {
            Value::Tuple(rc) => {
                if let Ok(mut items) = Rc::try_unwrap(rc) {
                    stack.append(&mut items.0);
                }
            }
            Value::List(rc) => {
                if let Ok(cell) = Rc::try_unwrap(rc) {
                    stack.append(&mut cell.into_inner().0);
                }
            }
            Value::Dict(rc) => {
                if let Ok(cell) = Rc::try_unwrap(rc) {
                    for (k, v) in cell.into_inner().0.drain(..) {
                        stack.push(k);
                        stack.push(v);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Every list and dict one run made, held weakly. Dropping this empties those still alive, so that the cycles a
/// hostile pickle can build (a list appended to itself through the memo) are broken and freed, not leaked.
#[derive(Default)]
pub struct Containers {
    lists: Vec<Weak<RefCell<Items>>>,
    dicts: Vec<Weak<RefCell<Pairs>>>,
}

impl Containers {
    fn list(&mut self) -> Value {
        let rc: Rc<RefCell<Items>> = Default::default();
        self.lists.push(Rc::downgrade(&rc));
        Value::List(rc)
    }
    fn dict(&mut self) -> Value {
        let rc: Rc<RefCell<Pairs>> = Default::default();
        self.dicts.push(Rc::downgrade(&rc));
        Value::Dict(rc)
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        for l in self.lists.drain(..) {
            if let Some(rc) = l.upgrade() {
                let items = std::mem::take(&mut rc.borrow_mut().0);
                drop(rc);
                unnest(items);
            }
        }
        for d in self.dicts.drain(..) {
            if let Some(rc) = d.upgrade() {
                let pairs = std::mem::take(&mut rc.borrow_mut().0);
                drop(rc);
                unnest(pairs.into_iter().flat_map(|(k, v)| [k, v]).collect());
            }
        }
    }
}

/// The top value of a pickle, with the containers its run made: dropping it frees them even when they form
/// cycles (see [`Containers`]). Dereferences to the value.
pub struct Unpickled {
    /// The top value. Clone out what outlives this (tensors, strings); lists and dicts are emptied on drop.
    pub value: Value,
    _made: Containers,
}

impl std::ops::Deref for Unpickled {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.value
    }
}

fn opcode_name(op: u8) -> &'static str {
    match op {
        b'c' => "GLOBAL",
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        b'P' => "PERSID",
        b'I' => "INT",
        b'L' => "LONG",
        b'F' => "FLOAT",
        b'S' => "STRING",
        b'V' => "UNICODE",
        b'l' => "LIST",
        b'd' => "DICT",
        b'g' => "GET",
        b'p' => "PUT",
        0x82 => "EXT1",
        0x8b => "LONG4",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown",
    }
}

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    path: &'a Path,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    made: Containers,
}

impl<'a> Vm<'a> {
    fn err(&self, at: usize, msg: impl Into<String>) -> CheckpointError {
        CheckpointError::Pickle { path: self.path.into(), offset: at, msg: msg.into() }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.data.len() - self.pos < n {
            return Err(self.err(self.pos, format!("truncated: needs {n} more bytes")));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn line(&mut self) -> Result<&'a str> {
        let rest = &self.data[self.pos..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or_else(|| self.err(self.pos, "unterminated line"))?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| self.err(self.pos, "line is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }
    fn string(&mut self, n: usize) -> Result<Value> {
        let at = self.pos;
        let b = self.take(n)?;
        let s = std::str::from_utf8(b).map_err(|_| self.err(at, "string is not UTF-8"))?;
        Ok(Value::Str(s.into()))
    }
    fn pop(&mut self, at: usize) -> Result<Value> {
        self.stack.pop().ok_or_else(|| self.err(at, "stack underflow"))
    }
    fn pop_mark(&mut self, at: usize) -> Result<Vec<Value>> {
        let m = self.marks.pop().ok_or_else(|| self.err(at, "no MARK on the stack"))?;
        if m > self.stack.len() {
            return Err(self.err(at, "MARK above the stack top"));
        }
        Ok(self.stack.split_off(m))
    }
    fn top(&mut self, at: usize) -> Result<&mut Value> {
        let e = self.err(at, "stack underflow");
        self.stack.last_mut().ok_or(e)
    }
    fn set_items(&mut self, at: usize, items: Vec<Value>) -> Result<()> {
        if items.len() % 2 != 0 {
            return Err(self.err(at, "odd number of items for a dict"));
        }
        let Value::Dict(d) = self.top(at)?.clone() else { return Err(self.err(at, "SETITEM(S) on a non-dict")) };
        let mut d = d.borrow_mut();
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            d.push((k, v));
        }
        Ok(())
    }
    fn append(&mut self, at: usize, items: Vec<Value>) -> Result<()> {
        let Value::List(l) = self.top(at)?.clone() else { return Err(self.err(at, "APPEND(S) on a non-list")) };
        l.borrow_mut().extend(items);
        Ok(())
    }

    fn run(mut self) -> Result<Unpickled> {
        loop {
            let at = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let p = self.u8()?;
                    if p > 5 {
                        return Err(self.err(at, format!("unsupported pickle protocol {p}")));
                    }
                }
                0x95 => {
                    self.take(8)?;
                } // FRAME
                b'.' => return Ok(Unpickled { value: self.pop(at)?, _made: std::mem::take(&mut self.made) }),
                b'(' => self.marks.push(self.stack.len()),
                b'}' => {
                    let d = self.made.dict();
                    self.stack.push(d)
                }
                b']' => {
                    let l = self.made.list();
                    self.stack.push(l)
                }
                b')' => self.stack.push(Value::Tuple(Rc::new(Items::default()))),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let v = self.u8()?;
                    self.stack.push(Value::Int(v as i64))
                }
                b'M' => {
                    let b = self.take(2)?;
                    self.stack.push(Value::Int(u16::from_le_bytes([b[0], b[1]]) as i64))
                }
                b'J' => {
                    let v = self.u32()? as i32;
                    self.stack.push(Value::Int(v as i64))
                }
                0x8a => {
                    let n = self.u8()? as usize;
                    if n > 8 {
                        return Err(self.err(at, format!("LONG1 of {n} bytes does not fit in 64 bits")));
                    }
                    let b = self.take(n)?;
                    let mut v: i64 = 0;
                    for (i, &x) in b.iter().enumerate() {
                        v |= (x as i64) << (8 * i);
                    }
                    if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                        v -= 1i64 << (8 * n);
                    }
                    self.stack.push(Value::Int(v))
                }
                b'G' => {
                    let b = self.take(8)?;
                    self.stack.push(Value::Float(f64::from_be_bytes(b.try_into().unwrap())))
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v)
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let v = self.string(n)?;
                    self.stack.push(v)
                }
                0x8d => {
                    let n = u64::from_le_bytes(self.take(8)?.try_into().unwrap());
                    let n = usize::try_from(n).map_err(|_| self.err(at, "string too long"))?;
                    let v = self.string(n)?;
                    self.stack.push(v)
                }
                b'C' | b'B' | 0x8e => {
                    let n = match op {
                        b'C' => self.u8()? as usize,
                        b'B' => self.u32()? as usize,
                        _ => usize::try_from(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
                            .map_err(|_| self.err(at, "bytes too long"))?,
                    };
                    let b = self.take(n)?;
                    self.stack.push(Value::Bytes(b.into()))
                }
                b'c' => {
                    let m = self.line()?;
                    let n = self.line()?;
                    self.stack.push(Value::Global(m.into(), n.into()))
                }
                0x93 => {
                    let (n, m) = (self.pop(at)?, self.pop(at)?);
                    match (m, n) {
                        (Value::Str(m), Value::Str(n)) => self.stack.push(Value::Global(m, n)),
                        _ => return Err(self.err(at, "STACK_GLOBAL needs two strings")),
                    }
                }
                b't' => {
                    let items = self.pop_mark(at)?;
                    self.stack.push(Value::Tuple(Rc::new(Items(items))))
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err(self.err(at, "stack underflow"));
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(Rc::new(Items(items))))
                }
                b'q' | b'r' | 0x94 => {
                    let key = match op {
                        b'q' => self.u8()? as u32,
                        b'r' => self.u32()?,
                        _ => self.memo.len() as u32,
                    };
                    let v = self.top(at)?.clone();
                    self.memo.insert(key, v);
                }
                b'h' | b'j' => {
                    let key = if op == b'h' { self.u8()? as u32 } else { self.u32()? };
                    let v = self.memo.get(&key).cloned().ok_or_else(|| self.err(at, format!("memo key {key} not set")))?;
                    self.stack.push(v)
                }
                b'0' => {
                    self.pop(at)?;
                }
                b'1' => {
                    self.pop_mark(at)?;
                }
                b'2' => {
                    let v = self.top(at)?.clone();
                    self.stack.push(v)
                }
                b's' => {
                    let v = self.pop(at)?;
                    let k = self.pop(at)?;
                    self.set_items(at, vec![k, v])?
                }
                b'u' => {
                    let items = self.pop_mark(at)?;
                    self.set_items(at, items)?
                }
                b'a' => {
                    let v = self.pop(at)?;
                    self.append(at, vec![v])?
                }
                b'e' => {
                    let items = self.pop_mark(at)?;
                    self.append(at, items)?
                }
                b'Q' => {
                    let pid = self.pop(at)?;
                    let s = self.persistent_load(at, pid)?;
                    self.stack.push(s)
                }
                b'R' => {
                    let args = self.pop(at)?;
                    let f = self.pop(at)?;
                    let v = self.reduce(at, f, args)?;
                    self.stack.push(v)
                }
                b'b' => {
                    // BUILD: the state (an OrderedDict's `_metadata`, a parameter's attributes) is not needed.
                    self.pop(at)?;
                    self.top(at)?;
                }
                _ => {
                    return Err(CheckpointError::PickleOpcode {
                        path: self.path.into(),
                        opcode: op,
                        name: opcode_name(op),
                        offset: at,
                    })
                }
            }
        }
    }

    fn persistent_load(&self, at: usize, pid: Value) -> Result<Value> {
        let Value::Tuple(t) = &pid else { return Err(self.err(at, "persistent id is not a tuple")) };
        match t.as_slice() {
            [Value::Str(tag), Value::Global(_, class), Value::Str(key), _location, Value::Int(numel)]
                if &**tag == "storage" =>
            {
                let dtype = match &**class {
                    "FloatStorage" => DType::F32,
                    "HalfStorage" => DType::F16,
                    "BFloat16Storage" => DType::BF16,
                    "DoubleStorage" => DType::F64,
                    "LongStorage" => DType::I64,
                    "IntStorage" => DType::I32,
                    "ShortStorage" => DType::I16,
                    "CharStorage" => DType::I8,
                    "ByteStorage" | "UntypedStorage" => DType::U8,
                    "BoolStorage" => DType::Bool,
                    other => return Err(self.err(at, format!("unsupported storage type {other}"))),
                };
                if *numel < 0 {
                    return Err(self.err(at, format!("storage {key} has negative size {numel}")));
                }
                Ok(Value::Storage(Rc::new(StorageRef { dtype, key: key.to_string(), numel: *numel as u64 })))
            }
            // Not `{pid:?}`: a pickle can make a list that contains itself, and printing it would never end.
            _ => Err(self.err(at, format!("unsupported persistent id (a tuple of {} items, not a torch storage)", t.len()))),
        }
    }

    fn reduce(&mut self, at: usize, f: Value, args: Value) -> Result<Value> {
        let Value::Global(m, n) = &f else { return Err(self.err(at, "REDUCE on a non-global callable")) };
        let Value::Tuple(args) = args else { return Err(self.err(at, "REDUCE arguments are not a tuple")) };
        match (&**m, &**n) {
            ("collections", "OrderedDict") => Ok(self.made.dict()),
            ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
                let ints = |v: &Value| -> Option<Vec<usize>> {
                    match v {
                        Value::Tuple(t) => t
                            .iter()
                            .map(|x| match x {
                                Value::Int(i) if *i >= 0 => Some(*i as usize),
                                _ => None,
                            })
                            .collect(),
                        _ => None,
                    }
                };
                match args.as_slice() {
                    [Value::Storage(s), Value::Int(off), size, stride, ..] if *off >= 0 => {
                        let shape = ints(size).ok_or_else(|| self.err(at, "tensor size is not a tuple of ints"))?;
                        let stride = ints(stride).ok_or_else(|| self.err(at, "tensor stride is not a tuple of ints"))?;
                        if shape.len() != stride.len() {
                            return Err(self.err(at, "tensor size and stride have different ranks"));
                        }
                        Ok(Value::Tensor(Rc::new(TensorRef { storage: s.clone(), offset: *off as u64, shape, stride })))
                    }
                    _ => Err(self.err(at, format!("bad arguments to {m}.{n}"))),
                }
            }
            ("torch._utils", "_rebuild_parameter") => match args.first() {
                Some(t @ Value::Tensor(_)) => Ok(t.clone()),
                _ => Err(self.err(at, "bad arguments to _rebuild_parameter")),
            },
            _ => Err(self.err(at, format!("unsupported callable {m}.{n}"))),
        }
    }
}

/// Runs a pickle and returns its top value (with the containers the run made: see [`Unpickled`]). On an error
/// everything the run made is freed, cycles included.
pub fn unpickle(data: &[u8], path: &Path) -> Result<Unpickled> {
    Vm { data, pos: 0, path, stack: Vec::new(), marks: Vec::new(), memo: HashMap::new(), made: Containers::default() }.run()
}

/// Runs a state-dict pickle and returns its (name, tensor) entries in order. A top-level dict without
/// tensors but with a `state_dict` / `model` dict of tensors (training checkpoints) is looked into.
pub fn state_dict(data: &[u8], path: &Path) -> Result<Vec<(String, TensorRef)>> {
    let unpickled = unpickle(data, path)?;
    let top = &unpickled.value;
    let collect = |v: &Value| -> Option<Vec<(String, TensorRef)>> {
        let Value::Dict(d) = v else { return None };
        let out: Vec<(String, TensorRef)> = d
            .borrow()
            .iter()
            .filter_map(|(k, v)| match (k, v) {
                (Value::Str(k), Value::Tensor(t)) => Some((k.to_string(), (**t).clone())),
                _ => None,
            })
            .collect();
        Some(out)
    };
    let err = |msg: &str| CheckpointError::Pickle { path: path.into(), offset: data.len(), msg: msg.into() };
    let found = collect(top).ok_or_else(|| err("the pickle's top value is not a dict"))?;
    if !found.is_empty() {
        return Ok(found);
    }
    if let Value::Dict(d) = top {
        for (k, v) in d.borrow().iter() {
            if matches!(k, Value::Str(s) if matches!(&**s, "state_dict" | "model" | "module")) {
                if let Some(f) = collect(v).filter(|f| !f.is_empty()) {
                    return Ok(f);
                }
            }
        }
    }
    Err(err("the pickle holds no tensors"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PROTO 2, EMPTY_LIST, BINPUT 0, BINGET 0, APPEND: a list that contains itself (found by the fuzzer as a
    /// LeakSanitizer report, 2026-12-02). Dropping the result frees it.
    const SELF_LIST: &[u8] = &[0x80, 2, b']', b'q', 0, b'h', 0, b'a'];

    #[test]
    fn a_list_that_contains_itself_is_freed() {
        let mut p = SELF_LIST.to_vec();
        p.push(b'.');
        let u = unpickle(&p, Path::new("cycle.pkl")).unwrap();
        let Value::List(rc) = &u.value else { panic!("a list") };
        assert!(matches!(rc.borrow()[0], Value::List(_)), "the list holds itself");
        let weak = Rc::downgrade(rc);
        drop(u);
        assert!(weak.upgrade().is_none(), "the cycle leaked");
    }

    #[test]
    fn a_cycle_in_a_failed_run_is_freed() {
        // the same cycle, inside a dict, then a truncated opcode: the error path frees what the run made
        let mut p = vec![0x80, 2, b'}', b'q', 1];
        p.extend_from_slice(&SELF_LIST[2..]);
        p.extend_from_slice(&[b'X', 1, 0, 0]);
        let weak = {
            let mut vm = Vm { data: &p, pos: 0, path: Path::new("cycle.pkl"), stack: Vec::new(), marks: Vec::new(), memo: HashMap::new(), made: Containers::default() };
            // run the opcodes up to the truncated one by hand, keeping a weak reference to the list
            let l = vm.made.list();
            let Value::List(rc) = &l else { unreachable!() };
            rc.borrow_mut().push(l.clone());
            let w = Rc::downgrade(rc);
            vm.stack.push(l);
            drop(vm);
            w
        };
        assert!(weak.upgrade().is_none(), "the cycle leaked");
        assert!(unpickle(&p, Path::new("cycle.pkl")).is_err());
    }
}
