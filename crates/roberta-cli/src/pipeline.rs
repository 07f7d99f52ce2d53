//! What the pipeline commands share: model arguments, and streaming records through a pipeline in batches, in
//! input order, with a progress bar on stderr and a summary at the end. Every output record is its input record
//! (all fields, in their order) with the command's fields added (`entities`, `labels`...; an input field of the
//! same name is replaced), and `warning` when the text was cut; warnings also go to stderr and the summary.
use crate::io::{error_record, raw, str_field, Fields, IoArgs, Record};
use roberta::{CpuDType, CpuOptions, CudaOptions, Device, LoadOptions, Model, Output};
use serde_json::value::RawValue;
use serde_json::Value;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments every pipeline command takes.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model directory (config.json, weights, tokenizer files), or a model id `org/name[@revision]` from the
    /// Hugging Face Hub (e.g. PlanTL-GOB-ES/bsc-bio-ehr-es), taken from the HF cache or downloaded into it.
    #[arg(long)]
    pub model: std::path::PathBuf,
    /// cpu, cuda or auto (cuda when a GPU is present, else cpu). The CUDA path is verified under an emulated
    /// driver in CI, not yet on a real GPU: see benches/RESULTS.md before relying on it.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Sequences per forward pass (at least 1).
    #[arg(long, default_value_t = 16, value_parser = at_least_one)]
    pub batch_size: usize,
    /// What the CPU encoder's linear layers compute in: f32 (the reference, within 1e-4 of HF) or int8
    /// (weights per output channel, activations per row, VNNI where the CPU has it; ~2× faster, PharmaCoNER
    /// F1 within 0.005: benches/RESULTS.md). bf16 is refused (not implemented).
    #[arg(long, default_value = "f32", value_parser = parse_dtype)]
    pub dtype: CpuDType,
}

/// Parses `--dtype`.
pub fn parse_dtype(s: &str) -> Result<CpuDType, String> {
    s.parse()
}

impl ModelArgs {
    /// The device asked for (checked before anything loads).
    pub fn device(&self) -> crate::Result<Device> {
        Ok(self.device.parse()?)
    }

    /// Loads the model and says on stderr where it runs: one line `device: <description>` (`device: cpu`,
    /// `device: cuda:0 NVIDIA H200 (sm_90)`, `device: emulated sm_90`), whatever `--device` was, `auto` included.
    pub fn load(&self) -> crate::Result<Model> {
        let m = Model::load_with(&self.model, &LoadOptions { batch_size: self.batch_size, ..load_options(self.device()?, self.dtype)? })?;
        report_device(&m.device_description());
        Ok(m)
    }
}

/// Parses a count that must be at least 1 (`--batch-size`).
pub fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// The texts of a batch as `&str`s.
pub fn strs(t: &[String]) -> Vec<&str> {
    t.iter().map(String::as_str).collect()
}

/// The load options of a command: `device`, `dtype`, and what the environment says — `ROBERTA_MEMORY_LIMIT`
/// (bytes), `ROBERTA_CPU_GEMM=gemm` (the `gemm` crate instead of the AVX-512 kernels), `ROBERTA_ROW_BLOCK` (rows
/// per task, for tuning), `ROBERTA_INT8_KERNEL` (force an int8 kernel: avx512vnni, avxvnni, avx2, portable),
/// `ROBERTA_CUDA_GRAPHS=0` (no CUDA graphs), `ROBERTA_CUBIN_DIR` (prebuilt cubins), `ROBERTA_CUDA_INCLUDE`
/// (':'-separated NVRTC include folders), through the options' `from_env`, which only binaries call.
pub fn load_options(device: Device, dtype: CpuDType) -> crate::Result<LoadOptions> {
    Ok(LoadOptions {
        device,
        memory_limit_bytes: std::env::var("ROBERTA_MEMORY_LIMIT").ok().and_then(|v| v.trim().parse().ok()),
        cpu: CpuOptions { dtype, ..CpuOptions::from_env()? },
        cuda: CudaOptions::from_env(),
        ..LoadOptions::default()
    })
}

/// The one `device: <description>` line on stderr that every command using a device prints after loading its
/// model (see [`roberta_encoder::Encoder::device_description`]).
pub fn report_device(description: &str) {
    eprintln!("device: {description}");
}

/// The fields a command adds to one record (in order), as raw JSON.
pub type Added = Vec<(&'static str, Box<RawValue>)>;

/// One pipeline output as the single field `field` (serialised with its own key order: HF's), warning kept.
pub fn as_field<T: serde::Serialize>(field: &'static str, out: Output<T>) -> Output<Added> {
    Output { value: vec![(field, raw(&out.value))], warning: out.warning }
}

/// The `text` field of every record, for the pipelines that take one text.
pub fn text_of(rec: &Fields, line: usize) -> Result<String, String> {
    str_field(rec, "text", line)
}

/// What a batch gives: per record the fields to add or why it failed; a failure of the whole batch (a forward
/// pass: the device, memory) is fatal, so that no output made only of errors replaces a good one.
pub type BatchResult = crate::Result<Vec<Result<Output<Added>, String>>>;

/// A pipeline's results as one `field` per text, or its error message; a batch-level failure is fatal.
pub fn run_texts<T: serde::Serialize>(results: Vec<roberta::Result<Output<T>>>, field: &'static str) -> BatchResult {
    results
        .into_iter()
        .map(|r| match r {
            Ok(o) => Ok(Ok(as_field(field, o))),
            Err(roberta::Error::Batch(e)) => Err(format!("a forward pass failed: {e}").into()),
            Err(e) => Ok(Err(e.to_string())),
        })
        .collect()
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// One record through a pipeline command: its output record, and the warning or the error message it gave
/// (the output record is then the error record `{"line", "error", <its fields>}`).
pub struct Done {
    /// The input's 1-based line number.
    pub line: usize,
    /// The output record.
    pub record: Fields,
    /// Set when the text was cut (also a `warning` field of the record).
    pub warning: Option<String>,
    /// Set when the record failed.
    pub error: Option<String>,
}

/// A pipeline command ready to run, its model loaded: records in, output records out, in order. The command
/// line streams a file through it; the Python package's Dask runner sends each partition through one per worker
/// (`Send + Sync`: one task serves many threads).
pub trait Task: Send + Sync {
    /// The command's name (`ner`, `fill-mask`, ...).
    fn name(&self) -> &'static str;
    /// Records per call to the pipeline.
    fn batch(&self) -> usize;
    /// Runs records in batches of [`Task::batch`]; a failure of a whole batch (a forward pass: the device,
    /// memory) is fatal, so that no output made only of errors replaces a good one.
    fn process(&self, records: Vec<Record>) -> crate::Result<Vec<Done>>;
}

/// A [`Task`] from two functions: `extract` reads what the command needs from a record (or says why it cannot),
/// `run` turns a batch of those into the fields to add (or an error message per record).
pub struct TaskFn<X, E, R> {
    name: &'static str,
    batch: usize,
    extract: E,
    run: R,
    _x: std::marker::PhantomData<fn() -> X>,
}

impl<X, E, R> TaskFn<X, E, R>
where
    E: Fn(&Fields, usize) -> Result<X, String> + Send + Sync + 'static,
    R: Fn(&[X]) -> BatchResult + Send + Sync + 'static,
    X: 'static,
{
    /// A boxed task.
    pub fn boxed(name: &'static str, batch: usize, extract: E, run: R) -> Box<dyn Task> {
        Box::new(TaskFn { name, batch: batch.max(1), extract, run, _x: std::marker::PhantomData })
    }
}

impl<X, E, R> Task for TaskFn<X, E, R>
where
    E: Fn(&Fields, usize) -> Result<X, String> + Send + Sync,
    R: Fn(&[X]) -> BatchResult + Send + Sync,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn batch(&self) -> usize {
        self.batch
    }

    fn process(&self, records: Vec<Record>) -> crate::Result<Vec<Done>> {
        let mut done = Vec::with_capacity(records.len());
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            let mut inputs = Vec::new();
            let mut slots = Vec::new();
            for Record { line, value } in records.by_ref().take(self.batch) {
                let (fields, x) = match value {
                    Ok(m) => {
                        let x = (self.extract)(&m, line);
                        (Some(m), x)
                    }
                    Err(e) => (None, Err(e)),
                };
                slots.push((line, fields, x.map(|x| inputs.push(x))));
            }
            let mut results = if inputs.is_empty() { Vec::new() } else { (self.run)(&inputs)? }.into_iter();
            for (line, fields, x) in slots {
                let res = x.and_then(|()| results.next().expect("one result per input").map_err(|e| format!("line {line}: {e}")));
                done.push(match res {
                    Ok(o) => {
                        let mut record = fields.unwrap_or_default();
                        for (k, v) in o.value {
                            record.set(k, v);
                        }
                        if let Some(w) = &o.warning {
                            record.set("warning", raw(w));
                        }
                        Done { line, record, warning: o.warning, error: None }
                    }
                    Err(e) => Done { line, record: error_record(line, &e, fields), warning: None, error: Some(e) },
                });
            }
        }
        Ok(done)
    }
}

/// Streams the input through a task: one output line per input record, in order, a progress bar on stderr and a
/// summary at the end; warnings and errors also on stderr. Exit code 1 when any record failed.
pub fn stream(io: &IoArgs, task: &dyn Task) -> crate::Result<ExitCode> {
    let name = task.name();
    let records = io.records()?;
    let mut out = io.writer()?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} records ({per_sec})").expect("template"));
    bar.set_message(name.to_string());
    let t0 = Instant::now();
    let (mut n, mut failed, mut warned, mut chars) = (0usize, 0usize, 0usize, 0usize);
    let mut pending: Vec<Record> = Vec::new();
    let mut flush = |pending: &mut Vec<Record>, out: &mut crate::io::Output| -> crate::Result<()> {
        for d in task.process(std::mem::take(pending))? {
            if let Some(w) = &d.warning {
                warned += 1;
                eprintln!("{name}: line {}: {w}", d.line);
            }
            if let Some(e) = &d.error {
                failed += 1;
                eprintln!("{name}: {e}");
            }
            out.write(&d.record)?;
        }
        Ok(())
    };
    for rec in records {
        if let Ok(Some(Value::String(t))) = rec.value.as_ref().map(|m| m.get("text").ok().flatten()) {
            chars += t.chars().count();
        }
        pending.push(rec);
        n += 1;
        if pending.len() >= task.batch() {
            flush(&mut pending, &mut out)?;
            bar.set_position(n as u64);
        }
    }
    flush(&mut pending, &mut out)?;
    out.finish()?;
    bar.finish_and_clear();
    let s = t0.elapsed().as_secs_f64();
    let truncated = if warned > 0 { format!(", {warned} truncated") } else { String::new() };
    eprintln!(
        "{name}: {} ({failed} failed{truncated}) in {s:.2} s: {:.1} records/s, {:.0} characters/s",
        plural(n, "record", "records"),
        n as f64 / s.max(1e-9),
        chars as f64 / s.max(1e-9)
    );
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_forward_pass_is_fatal_a_bad_text_is_not() {
        let batch = roberta::Error::Batch(std::sync::Arc::new(roberta::Error::Input("out of device memory".into())));
        let e = run_texts::<u32>(vec![Ok(Output::new(1)), Err(batch)], "x").err().expect("fatal");
        assert!(e.to_string().contains("a forward pass failed: out of device memory"), "{e}");
        let one = run_texts::<u32>(vec![Ok(Output::new(1)), Err(roberta::Error::Input("no <mask>".into()))], "x").unwrap();
        assert!(one[0].is_ok() && one[1].as_ref().err().unwrap().contains("no <mask>"));
    }
}
