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

/// Streams the input through a command: `extract` reads what the command needs from a record (or says why
/// it cannot), `run` turns a batch of those into the fields to add (or an error message per record). Writes one
/// output line per input record, in order; exit code 1 when any record failed.
pub fn stream<X>(
    io: &IoArgs,
    name: &str,
    batch: usize,
    extract: impl Fn(&Fields, usize) -> Result<X, String>,
    mut run: impl FnMut(&[X]) -> BatchResult,
) -> crate::Result<ExitCode> {
    let records = io.records()?;
    let mut out = io.writer()?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} records ({per_sec})").expect("template"));
    bar.set_message(name.to_string());
    let t0 = Instant::now();
    let (mut n, mut failed, mut warned, mut chars) = (0usize, 0usize, 0usize, 0usize);
    // (line, the record's fields when it parsed, what the command extracted or why it could not)
    type Pending<X> = Vec<(usize, Option<Fields>, Result<X, String>)>;
    let mut pending: Pending<X> = Vec::new();
    let mut flush = |pending: &mut Pending<X>, out: &mut crate::io::Output| -> crate::Result<()> {
        let mut inputs = Vec::new();
        let mut slots = Vec::with_capacity(pending.len());
        for (line, fields, x) in pending.drain(..) {
            slots.push((line, fields, x.map(|x| inputs.push(x))));
        }
        let mut results = if inputs.is_empty() { Vec::new() } else { run(&inputs)? }.into_iter();
        for (line, fields, x) in slots {
            let res = x.and_then(|()| results.next().expect("one result per input").map_err(|e| format!("line {line}: {e}")));
            let v = match res {
                Ok(o) => {
                    let mut rec = fields.unwrap_or_default();
                    for (k, v) in o.value {
                        rec.set(k, v);
                    }
                    if let Some(w) = o.warning {
                        warned += 1;
                        eprintln!("{name}: line {line}: {w}");
                        rec.set("warning", raw(&w));
                    }
                    rec
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("{name}: {e}");
                    error_record(line, &e, fields)
                }
            };
            out.write(&v)?;
        }
        Ok(())
    };
    for Record { line, value } in records {
        let (fields, x) = match value {
            Ok(m) => {
                let x = extract(&m, line);
                (Some(m), x)
            }
            Err(e) => (None, Err(e)),
        };
        if let Some(Value::String(t)) = fields.as_ref().and_then(|m| m.get("text").ok().flatten()) {
            chars += t.chars().count();
        }
        pending.push((line, fields, x));
        n += 1;
        if pending.len() >= batch.max(1) {
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
