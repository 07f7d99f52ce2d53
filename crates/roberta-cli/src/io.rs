//! Records in and out. In: JSON Lines (`--format jsonl`, the default: one JSON object per line) or plain text
//! (`--format text`: one record per line, or per paragraph with `--split paragraphs`), from `--input FILE`,
//! stdin, or one bare TEXT argument; a UTF-8 byte-order mark is skipped. A line that is not UTF-8 or not a JSON
//! object becomes an error record with its line number; the other records go on. Out: JSON Lines to stdout, or
//! to `--output FILE` through a temporary file beside it, renamed over FILE only when the run completes (an
//! interrupted run leaves FILE as it was); `--output` naming the input file is refused.
use serde_json::{Map, Value};
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
    pub value: std::result::Result<Map<String, Value>, String>,
}

/// A hint for an input that is not UTF-8.
const LATIN1_HINT: &str = "if the file is Latin-1 or Windows-1252, convert it first: iconv -f latin1 -t utf8 IN > OUT";

impl IoArgs {
    /// Checks the options together, before any model loads.
    pub fn check(&self) -> crate::Result<()> {
        if self.split.is_some() && self.format != Format::Text {
            return Err("--split needs --format text".into());
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
            let mut m = Map::new();
            m.insert("text".into(), Value::String(t.clone()));
            return Ok(Box::new(std::iter::once(Record { line: 1, value: Ok(m) })));
        }
        let reader: Box<dyn Read> = match &self.input {
            Some(p) => {
                if p.is_dir() {
                    return Err(format!("--input {} is a directory, not a file", p.display()).into());
                }
                Box::new(File::open(p).map_err(|e| format!("cannot open input {}: {e}", p.display()))?)
            }
            None => Box::new(std::io::stdin()),
        };
        let lines = Lines { reader: BufReader::with_capacity(1 << 16, reader), line: 0, offset: 0, buf: Vec::new() };
        Ok(match (self.format, self.split.unwrap_or(Split::Lines)) {
            (Format::Jsonl, _) => Box::new(lines.filter_map(|(line, r)| match r {
                Err(e) => Some(Record { line, value: Err(e) }),
                Ok(s) if s.trim().is_empty() => None,
                Ok(s) => Some(Record { line, value: parse_record(&s, line) }),
            })),
            (Format::Text, Split::Lines) => Box::new(lines.filter_map(|(line, r)| match r {
                Err(e) => Some(Record { line, value: Err(e) }),
                Ok(s) if s.trim().is_empty() => None,
                Ok(s) => Some(Record { line, value: Ok(text_record(s)) }),
            })),
            (Format::Text, Split::Paragraphs) => Box::new(Paragraphs { lines, next: None }),
        })
    }

    /// Opens the output: stdout, or a temporary file beside `--output` that [`Output::finish`] renames over it.
    pub fn writer(&self) -> crate::Result<Output> {
        self.check()?;
        Output::open(self.output.as_deref())
    }
}

fn text_record(s: String) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("text".into(), Value::String(s));
    m
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

/// Paragraph records: lines up to a blank line, joined with "\n"; the line number is the paragraph's first.
struct Paragraphs {
    lines: Lines,
    next: Option<(usize, std::result::Result<String, String>)>,
}

impl Iterator for Paragraphs {
    type Item = Record;
    fn next(&mut self) -> Option<Record> {
        let mut first = None;
        let mut text = String::new();
        loop {
            let item = self.next.take().or_else(|| self.lines.next());
            match item {
                None => break,
                Some((line, Err(e))) => {
                    if first.is_some() {
                        // end this paragraph; report the bad line next
                        self.next = Some((line, Err(e)));
                        break;
                    }
                    return Some(Record { line, value: Err(e) });
                }
                Some((line, Ok(s))) => {
                    if s.trim().is_empty() {
                        if first.is_some() {
                            break;
                        }
                        continue;
                    }
                    if first.is_none() {
                        first = Some(line);
                    } else {
                        text.push('\n');
                    }
                    text.push_str(&s);
                }
            }
        }
        first.map(|line| Record { line, value: Ok(text_record(text)) })
    }
}

/// One JSON Lines record: a JSON object, or an error saying what a record looks like (the column is the
/// line's own; the line number is the file's).
fn parse_record(s: &str, line: usize) -> std::result::Result<Map<String, Value>, String> {
    const SHAPE: &str = "each line must be a JSON object like {\"text\": \"...\"}; for plain text use --format text";
    match serde_json::from_str::<Value>(s) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(v) => Err(format!("line {line}: a record must be a JSON object, got {} ({SHAPE})", kind(&v))),
        Err(e) => {
            let msg = e.to_string();
            let what = msg.rfind(" at line ").map_or(msg.as_str(), |i| &msg[..i]);
            Err(format!("line {line}: invalid JSON at column {}: {what} ({SHAPE})", e.column()))
        }
    }
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

/// Where output records go: stdout, or a temporary file renamed over the target by [`Output::finish`] (removed
/// when the output is dropped unfinished).
pub struct Output {
    w: Box<dyn Write>,
    tmp: Option<(PathBuf, PathBuf)>,
}

impl Output {
    fn open(path: Option<&Path>) -> crate::Result<Output> {
        let Some(p) = path else {
            return Ok(Output { w: Box::new(BufWriter::new(std::io::stdout().lock())), tmp: None });
        };
        if p.is_dir() {
            return Err(format!("--output {} is a directory, not a file", p.display()).into());
        }
        match std::fs::metadata(p) {
            // a device, FIFO or socket (/dev/null, a named pipe) is written as it is: nothing to rename over
            Ok(m) if !m.is_file() => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(p)
                    .map_err(|e| format!("cannot open output {}: {e}", p.display()))?;
                Ok(Output { w: Box::new(BufWriter::new(f)), tmp: None })
            }
            // through a symlink: the file it points to is replaced, the link kept
            Ok(_) => {
                let real = std::fs::canonicalize(p).map_err(|e| format!("cannot resolve output {}: {e}", p.display()))?;
                Self::open_file(&real, p)
            }
            Err(_) => Self::open_file(p, p),
        }
    }

    /// A temporary file beside `p` (`shown` in messages), renamed over `p` by [`Output::finish`].
    fn open_file(p: &Path, shown: &Path) -> crate::Result<Output> {
        let name = p.file_name().ok_or_else(|| format!("--output {}: not a file name", shown.display()))?;
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| format!("cannot create output {} (temporary {}): {e}", shown.display(), tmp.display()))?;
        Ok(Output { w: Box::new(BufWriter::new(f)), tmp: Some((tmp, p.to_path_buf())) })
    }

    /// Writes one JSON value as a line.
    pub fn write(&mut self, v: &Value) -> std::io::Result<()> {
        let mut s = serde_json::to_vec(v).map_err(std::io::Error::other)?;
        s.push(b'\n');
        self.w.write_all(&s)
    }

    /// Writes raw text.
    pub fn write_str(&mut self, s: &str) -> std::io::Result<()> {
        self.w.write_all(s.as_bytes())
    }

    /// Flushes, and renames the temporary file over the target.
    pub fn finish(mut self) -> crate::Result<()> {
        self.w.flush()?;
        if let Some((tmp, target)) = self.tmp.take() {
            std::fs::rename(&tmp, &target).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                format!("cannot write output {}: {e}", target.display())
            })?;
        }
        Ok(())
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if let Some((tmp, _)) = &self.tmp {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// The error record of input line `line`: `{"line", "error"}` and the record's own fields when it was read.
pub fn error_record(line: usize, msg: &str, fields: Option<&Map<String, Value>>) -> Value {
    let mut m = Map::new();
    m.insert("line".into(), line.into());
    m.insert("error".into(), msg.into());
    for (k, v) in fields.into_iter().flatten() {
        if k != "line" && k != "error" {
            m.insert(k.clone(), v.clone());
        }
    }
    Value::Object(m)
}

/// Reads the string field `key` of a record, or says which line lacks it.
pub fn str_field<'a>(v: &'a Map<String, Value>, key: &str, line: usize) -> std::result::Result<&'a str, String> {
    match v.get(key) {
        Some(Value::String(s)) => Ok(s),
        None => Err(format!("line {line}: missing string field \"{key}\" (records look like {{\"{key}\": \"...\"}})")),
        Some(other) => Err(format!("line {line}: field \"{key}\" must be a string, got {}", kind(other))),
    }
}
