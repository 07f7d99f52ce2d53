//! JSON Lines in and out, as DESIGN.md's runner contract says: `--input FILE` or stdin (or one bare TEXT),
//! `--output FILE` or stdout. A line that is not valid UTF-8 or not valid JSON becomes an error record with
//! its line number; the other records go on.
use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

/// Where records come from and go to.
#[derive(clap::Args, Debug, Clone)]
pub struct IoArgs {
    /// JSON Lines input file (default: stdin).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// JSON Lines output file (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// One text to process instead of an input file.
    pub text: Option<String>,
}

/// One input record: its 1-based line number and the parsed JSON, or the reason it could not be read.
pub struct Record {
    pub line: usize,
    pub value: std::result::Result<Value, String>,
}

impl IoArgs {
    /// Opens the input as an iterator of records (lazy: files of any size stream).
    pub fn records(&self) -> crate::Result<Box<dyn Iterator<Item = Record>>> {
        if let Some(t) = &self.text {
            return Ok(Box::new(std::iter::once(Record { line: 1, value: Ok(json!({ "text": t })) })));
        }
        let reader: Box<dyn Read> = match &self.input {
            Some(p) => Box::new(File::open(p).map_err(|e| format!("cannot open input {}: {e}", p.display()))?),
            None => Box::new(std::io::stdin()),
        };
        let mut reader = BufReader::with_capacity(1 << 16, reader);
        let mut line_no = 0usize;
        let mut buf = Vec::new();
        Ok(Box::new(std::iter::from_fn(move || loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) => {
                    line_no += 1;
                    return Some(Record { line: line_no, value: Err(format!("read error: {e}")) });
                }
            }
            line_no += 1;
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            if buf.iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            let value = match std::str::from_utf8(&buf) {
                Err(e) => Err(format!("line {line_no}: invalid UTF-8 at byte {}", e.valid_up_to())),
                Ok(s) => serde_json::from_str::<Value>(s).map_err(|e| format!("line {line_no}: invalid JSON: {e}")),
            };
            return Some(Record { line: line_no, value });
        })))
    }

    /// Opens the output (file or stdout), buffered.
    pub fn writer(&self) -> crate::Result<Box<dyn Write>> {
        Ok(match &self.output {
            Some(p) => Box::new(BufWriter::new(
                File::create(p).map_err(|e| format!("cannot create output {}: {e}", p.display()))?,
            )),
            None => Box::new(BufWriter::new(std::io::stdout().lock())),
        })
    }
}

/// Writes one JSON value as a line.
pub fn write_line(w: &mut dyn Write, v: &Value) -> crate::Result<()> {
    serde_json::to_writer(&mut *w, v)?;
    w.write_all(b"\n")?;
    Ok(())
}

/// The error record for input line `line`.
pub fn error_record(line: usize, msg: &str) -> Value {
    json!({ "line": line, "error": msg })
}

/// Reads the string field `key` of a record, or says which line lacks it.
pub fn str_field<'a>(v: &'a Value, key: &str, line: usize) -> std::result::Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("line {line}: missing string field \"{key}\""))
}
