//! Records in and out. In: JSON Lines (`--format jsonl`, the default: one JSON object per line) or plain text
//! (`--format text`: one record per line, or per paragraph with `--split paragraphs`), from `--input FILE`,
//! stdin, or one bare TEXT argument; a UTF-8 byte-order mark is skipped. A line that is not UTF-8 or not a JSON
//! object becomes an error record with its line number; the other records go on. Out: JSON Lines to stdout, or
//! to `--output FILE` through a temporary file beside it, renamed over FILE only when the run completes (an
//! interrupted run leaves FILE as it was); `--output` naming the input file is refused.
//!
//! A record's fields are kept as their raw JSON text ([`Fields`]), so an output record carries every input field
//! byte for byte, in its order, whatever it holds.
use serde_json::value::RawValue;
use serde_json::Value;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Input formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line, `{"text": "..."}` and any other fields.
    Jsonl,
    /// Plain UTF-8 text: each line (or paragraph) is one record's text.
    Text,
}

/// How `--format text` cuts the input into records.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// One record per non-blank line.
    Lines,
    /// One record per paragraph: lines up to a blank line, joined with "\n".
    Paragraphs,
}

/// Where records come from and go to.
#[derive(clap::Args, Debug, Clone)]
pub struct IoArgs {
    /// Input file (default: stdin): JSON Lines records like {"text": "..."} (other fields are copied into the
    /// output), or plain text with --format text.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Output file (default: stdout). Written to a temporary file beside it and renamed at the end.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// jsonl: one JSON object per line; text: one record per line (or paragraph, see --split).
    #[arg(long, value_enum, ignore_case = true, default_value = "jsonl")]
    pub format: Format,
    /// With --format text: lines (one record per line) or paragraphs (blocks between blank lines).
    #[arg(long, value_enum, ignore_case = true)]
    pub split: Option<Split>,
    /// One text to process instead of --input or stdin.
    #[arg(conflicts_with = "input")]
    pub text: Option<String>,
}

/// One input record: its 1-based line number (the first line of a paragraph) and its fields, or the reason it
/// could not be read.
pub struct Record {
    pub line: usize,
    pub value: std::result::Result<Fields, String>,
}

/// The fields of one JSON record in their order, each value as its raw JSON text.
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, Box<RawValue>)>);

impl Fields {
    /// The value of `key`, parsed (the last one when a record repeats a key, as JSON parsers read it); an error
    /// for a value JSON allows but no string or number holds (a lone surrogate `"\ud800"`, `1e400`).
    pub fn get(&self, key: &str) -> std::result::Result<Option<Value>, String> {
        match self.0.iter().rev().find(|(k, _)| k == key) {
            None => Ok(None),
            Some((_, v)) => serde_json::from_str(v.get()).map(Some).map_err(|e| {
                let msg = e.to_string();
                let what = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]).to_string();
                format!("field \"{key}\": {what}")
            }),
        }
    }

    /// Sets `key` to `value`: in the place of its first occurrence when the record has it (any repeat of the
    /// key dropped, so no stale copy is left), else at the end.
    pub fn set(&mut self, key: &str, value: Box<RawValue>) {
        match self.0.iter().position(|(k, _)| k == key) {
            Some(i) => {
                self.0[i].1 = value;
                let mut seen = 0usize;
                self.0.retain(|(k, _)| k != key || {
                    seen += 1;
                    seen == 1
                });
            }
            None => self.0.push((key.to_string(), value)),
        }
    }

    /// A record of one string field.
    pub fn text(text: &str) -> Fields {
        let mut f = Fields::default();
        f.set("text", raw(&text));
        f
    }

    /// The record as one line of JSON (no line end).
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(2 + self.0.iter().map(|(k, v)| k.len() + v.get().len() + 4).sum::<usize>());
        s.push('{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&serde_json::to_string(k).expect("a string serialises"));
            s.push(':');
            s.push_str(v.get());
        }
        s.push('}');
        s
    }
}

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Fields, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> std::result::Result<Fields, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Box<RawValue>>()? {
                    out.push((k, v));
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Any serialisable value as raw JSON text.
pub fn raw<T: serde::Serialize + ?Sized>(v: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(v).expect("output values serialise")
}

/// A hint for an input that is not UTF-8.
const LATIN1_HINT: &str = "if the file is Latin-1 or Windows-1252, convert it first: iconv -f latin1 -t utf8 IN > OUT";

impl IoArgs {
    /// Checks the options together, before any model loads.
    pub fn check(&self) -> crate::Result<()> {
        if self.split.is_some() && self.format != Format::Text {
            return Err("--split needs --format text".into());
        }
        if let Some(p) = &self.input {
            if p.is_dir() {
                return Err(format!("--input {} is a directory, not a file", p.display()).into());
            }
            // metadata only: opening a named pipe here would lose what its writer sent
            std::fs::metadata(p).map_err(|e| format!("cannot open input {}: {e}", p.display()))?;
        }
        if let (Some(out), Some(inp)) = (&self.output, &self.input) {
            if same_file(inp, out) {
                return Err(format!(
                    "--output {} is the input file {}: refusing to overwrite what is being read (write to another file)",
                    out.display(),
                    inp.display()
                )
                .into());
            }
        }
        if let (Some(out), None, None) = (&self.output, &self.input, &self.text) {
            if stdin_is(out) {
                return Err(format!("--output {} is the file stdin reads: refusing to overwrite it", out.display()).into());
            }
        }
        Ok(())
    }

    /// Opens the input as an iterator of records (lazy: files of any size stream).
    pub fn records(&self) -> crate::Result<Box<dyn Iterator<Item = Record>>> {
        self.check()?;
        if let Some(t) = &self.text {
            return Ok(Box::new(std::iter::once(Record { line: 1, value: Ok(Fields::text(t)) })));
        }
        let reader: Box<dyn Read> = match &self.input {
            Some(p) => Box::new(File::open(p).map_err(|e| format!("cannot open input {}: {e}", p.display()))?),
            None => Box::new(std::io::stdin()),
        };
        let lines = Lines { reader: BufReader::with_capacity(1 << 16, reader), line: 0, offset: 0, buf: Vec::new() };
        Ok(match (self.format, self.split.unwrap_or(Split::Lines)) {
            (Format::Jsonl, _) => Box::new(jsonl(lines)),
            (Format::Text, Split::Lines) => Box::new(lines.filter_map(|(line, r)| match r {
                Err(e) => Some(Record { line, value: Err(e) }),
                Ok(s) if s.trim().is_empty() => None,
                Ok(s) => Some(Record { line, value: Ok(Fields::text(&s)) }),
            })),
            (Format::Text, Split::Paragraphs) => Box::new(Paragraphs { lines }),
        })
    }

    /// Opens the output: stdout, or a temporary file beside `--output` that [`Output::finish`] renames over it.
    pub fn writer(&self) -> crate::Result<Output> {
        self.check()?;
        Output::create(self.output.as_deref())
    }
}

/// JSON Lines records read from `reader`, a part of a larger input that starts at line `first_line` (1-based)
/// and byte `first_byte`: what `--input` gives for those lines (blank lines skipped, a byte-order mark skipped
/// on line 1, the same error records naming the input's line and byte). The Dask runner reads its partitions
/// through this.
pub fn jsonl_records(reader: impl Read + 'static, first_line: usize, first_byte: usize) -> impl Iterator<Item = Record> {
    let reader: Box<dyn Read> = Box::new(reader);
    jsonl(Lines { reader: BufReader::with_capacity(1 << 16, reader), line: first_line.saturating_sub(1), offset: first_byte, buf: Vec::new() })
}

fn jsonl(lines: Lines) -> impl Iterator<Item = Record> {
    lines.filter_map(|(line, r)| match r {
        Err(e) => Some(Record { line, value: Err(e) }),
        Ok(s) if s.trim().is_empty() => None,
        Ok(s) => Some(Record { line, value: parse_record(&s, line) }),
    })
}

/// Whether two paths name one file (through symlinks, `./` spellings, hard links); false when either is missing.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Whether stdin is redirected from the file `p` (`< notes.jsonl --output notes.jsonl`).
fn stdin_is(p: &Path) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned() else { return false };
    match (File::from(fd).metadata(), std::fs::metadata(p)) {
        (Ok(x), Ok(y)) => x.is_file() && x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Lines of the input as (1-based line number, text without its line end), or why a line is not text. Byte
/// offsets in messages count from the start of the input.
struct Lines {
    reader: BufReader<Box<dyn Read>>,
    line: usize,
    offset: usize,
    buf: Vec<u8>,
}

impl Iterator for Lines {
    type Item = (usize, std::result::Result<String, String>);
    fn next(&mut self) -> Option<Self::Item> {
        self.buf.clear();
        let start = self.offset;
        let n = match self.reader.read_until(b'\n', &mut self.buf) {
            Ok(0) => return None,
            Ok(n) => n,
            Err(e) => {
                self.line += 1;
                let (line, msg) = (self.line, format!("line {}: read error: {e}", self.line));
                // a read error does not move on: end after reporting it
                self.buf.clear();
                self.reader = BufReader::new(Box::new(std::io::empty()));
                return Some((line, Err(msg)));
            }
        };
        self.offset += n;
        self.line += 1;
        let mut body: &[u8] = &self.buf;
        while let Some((b'\n' | b'\r', rest)) = body.split_last() {
            body = rest;
        }
        let mut skip = 0;
        if self.line == 1 && body.starts_with(b"\xef\xbb\xbf") {
            body = &body[3..];
            skip = 3;
        }
        Some((
            self.line,
            match std::str::from_utf8(body) {
                Ok(s) => Ok(s.to_string()),
                Err(e) => Err(format!(
                    "line {}: invalid UTF-8 at byte {} of the input (byte {} of the line); {LATIN1_HINT}",
                    self.line,
                    start + skip + e.valid_up_to(),
                    skip + e.valid_up_to()
                )),
            },
        ))
    }
}

/// Paragraph records: lines up to a blank line, joined with "\n"; the line number is the paragraph's first. A
/// paragraph with a line that cannot be read is one error record (naming that line), never split around it.
struct Paragraphs {
    lines: Lines,
}

impl Iterator for Paragraphs {
    type Item = Record;
    fn next(&mut self) -> Option<Record> {
        let mut first = None;
        let mut text = String::new();
        let mut error = None;
        for (line, r) in self.lines.by_ref() {
            let blank = matches!(&r, Ok(s) if s.trim().is_empty());
            if blank {
                if first.is_some() {
                    break;
                }
                continue;
            }
            let start = *first.get_or_insert(line);
            match r {
                Ok(s) => {
                    if line > start {
                        text.push('\n');
                    }
                    text.push_str(&s);
                }
                Err(e) => {
                    error.get_or_insert(if line > start { format!("the paragraph from line {start}: {e}") } else { e });
                }
            }
        }
        let line = first?;
        Some(Record { line, value: match error { Some(e) => Err(e), None => Ok(Fields::text(&text)) } })
    }
}

/// One JSON Lines record: a JSON object, or an error saying what a record looks like (the column is the
/// line's own; the line number is the file's).
fn parse_record(s: &str, line: usize) -> std::result::Result<Fields, String> {
    const SHAPE: &str = "each line must be a JSON object like {\"text\": \"...\"}; for plain text use --format text";
    serde_json::from_str::<Fields>(s).map_err(|e| match serde_json::from_str::<Value>(s) {
        Ok(v) => format!("line {line}: a record must be a JSON object, got {} ({SHAPE})", kind(&v)),
        Err(_) => {
            let msg = e.to_string();
            let what = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
            format!("line {line}: invalid JSON at column {}: {what} ({SHAPE})", e.column())
        }
    })
}

/// The JSON type of a value, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Where output records go: stdout, a device written in place, or a temporary file beside the target that
/// [`Output::finish`] syncs and renames over it (removed when the output is dropped unfinished).
pub struct Output {
    sink: Sink,
}

enum Sink {
    Stdout(BufWriter<std::io::StdoutLock<'static>>),
    InPlace(BufWriter<File>),
    Temp { w: BufWriter<File>, tmp: PathBuf, target: PathBuf },
    Done,
}

impl Output {
    /// Opens `path` for writing (stdout when None), as `--output` is: through a temporary file for a regular
    /// file (its permissions kept), in place for a device or FIFO, the process's stdout for `/dev/stdout`.
    pub fn create(path: Option<&Path>) -> crate::Result<Output> {
        let stdout = || Output { sink: Sink::Stdout(BufWriter::new(std::io::stdout().lock())) };
        let Some(p) = path else { return Ok(stdout()) };
        if matches!(p.to_str(), Some("/dev/stdout" | "/dev/fd/1" | "/proc/self/fd/1" | "-")) {
            return Ok(stdout());
        }
        if p.is_dir() {
            return Err(format!("--output {} is a directory, not a file", p.display()).into());
        }
        // another name of an open descriptor (/dev/stderr, /dev/fd/N, /proc/self/fd/N): written in place
        let special = p.starts_with("/proc") || p.starts_with("/dev/fd") || p.starts_with("/dev/std");
        match std::fs::metadata(p) {
            // a device, FIFO or socket (/dev/null, a named pipe) is written as it is: nothing to rename over
            Ok(m) if !m.is_file() || special => {
                let f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(p)
                    .map_err(|e| format!("cannot open output {}: {e}", p.display()))?;
                Ok(Output { sink: Sink::InPlace(BufWriter::new(f)) })
            }
            // through a symlink: the file it points to is replaced, the link kept
            Ok(m) => {
                let real = std::fs::canonicalize(p).map_err(|e| format!("cannot resolve output {}: {e}", p.display()))?;
                Self::temp_beside(&real, p, Some(m.permissions()))
            }
            Err(_) => Self::temp_beside(p, p, None),
        }
    }

    /// A new temporary file beside `p` (`shown` in messages), to be renamed over `p`.
    fn temp_beside(p: &Path, shown: &Path, perms: Option<std::fs::Permissions>) -> crate::Result<Output> {
        let name = p.file_name().ok_or_else(|| format!("--output {}: not a file name", shown.display()))?;
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        for attempt in 0u32..100 {
            // the pid alone repeats (pid 1 in every container run): a killed run's leftover must not block the next
            let tmp = dir.join(format!(".{}.{}-{:08x}.tmp", name.to_string_lossy(), std::process::id(), nanos.wrapping_add(attempt)));
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(f) => {
                    if let Some(perms) = &perms {
                        let _ = f.set_permissions(perms.clone());
                    }
                    return Ok(Output { sink: Sink::Temp { w: BufWriter::new(f), tmp, target: p.to_path_buf() } });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("cannot create output {} (temporary {}): {e}", shown.display(), tmp.display()).into()),
            }
        }
        Err(format!("cannot create a temporary file beside {}", shown.display()).into())
    }

    fn w(&mut self) -> &mut dyn Write {
        match &mut self.sink {
            Sink::Stdout(w) => w,
            Sink::InPlace(w) => w,
            Sink::Temp { w, .. } => w,
            Sink::Done => unreachable!("written after finish"),
        }
    }

    /// Writes one record as a line.
    pub fn write(&mut self, rec: &Fields) -> std::io::Result<()> {
        let mut s = rec.to_json();
        s.push('\n');
        self.w().write_all(s.as_bytes())
    }

    /// Writes raw text.
    pub fn write_str(&mut self, s: &str) -> std::io::Result<()> {
        self.w().write_all(s.as_bytes())
    }

    /// Flushes; a temporary file is synced to disk and renamed over the target.
    pub fn finish(mut self) -> crate::Result<()> {
        match std::mem::replace(&mut self.sink, Sink::Done) {
            Sink::Stdout(mut w) => w.flush()?,
            Sink::InPlace(mut w) => w.flush()?,
            Sink::Temp { w, tmp, target } => {
                let done = w.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all()).and_then(|()| std::fs::rename(&tmp, &target));
                if let Err(e) = done {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(format!("cannot write output {}: {e}", target.display()).into());
                }
            }
            Sink::Done => {}
        }
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Sink::Temp { tmp, .. } = &self.sink {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// The error record of input line `line`: `{"line", "error"}` and the record's own fields when it was read.
pub fn error_record(line: usize, msg: &str, fields: Option<Fields>) -> Fields {
    let mut out = Fields::default();
    out.set("line", raw(&line));
    out.set("error", raw(msg));
    for (k, v) in fields.map(|f| f.0).into_iter().flatten() {
        if k != "line" && k != "error" {
            out.0.push((k, v));
        }
    }
    out
}

/// Reads the string field `key` of a record, or says which line lacks it.
pub fn str_field(v: &Fields, key: &str, line: usize) -> std::result::Result<String, String> {
    match v.get(key).map_err(|e| format!("line {line}: {e}"))? {
        Some(Value::String(s)) => Ok(s),
        None => Err(format!("line {line}: missing string field \"{key}\" (records look like {{\"{key}\": \"...\"}})")),
        Some(other) => Err(format!("line {line}: field \"{key}\" must be a string, got {}", kind(&other))),
    }
}

/// A record's `text` and, when it has a non-empty `text_pair`, its pair (an empty one is no pair, as transformers
/// reads `{"text", "text_pair": ""}`: Python truthiness).
pub fn text_and_pair(rec: &Fields, line: usize) -> std::result::Result<(String, Option<String>), String> {
    let text = str_field(rec, "text", line)?;
    let pair = match rec.get("text_pair").map_err(|e| format!("line {line}: {e}"))? {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.is_empty() => None,
        Some(Value::String(p)) => Some(p),
        Some(v) => return Err(format!("line {line}: field \"text_pair\" must be a string, got {}", kind(&v))),
    };
    Ok((text, pair))
}
