//! What the pipeline commands share: model arguments, and streaming JSON Lines `{"text"}` records through a
//! pipeline in batches, in input order, with a progress bar on stderr and a throughput summary at the end.
use crate::io::{error_record, str_field, write_line, IoArgs};
use roberta::{CpuOptions, CudaOptions, Device, LoadOptions, Model, Output, Pipeline};
use serde_json::{json, Value};
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

/// Arguments every pipeline command takes.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model directory (config.json, weights, tokenizer files), e.g. a bsc-bio-ehr-es checkout.
    #[arg(long)]
    pub model: std::path::PathBuf,
    /// cpu, cuda or auto (cuda when present).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
}

impl ModelArgs {
    /// Loads the model and says on stderr where it runs: one line `device: <description>` (`device: cpu`,
    /// `device: cuda:0 NVIDIA H200 (sm_90)`, `device: emulated sm_90`), whatever `--device` was, `auto` included.
    pub fn load(&self) -> crate::Result<Model> {
        let device: Device = self.device.parse()?;
        let m = Model::load_with(&self.model, &LoadOptions { batch_size: self.batch_size.max(1), ..load_options(device) })?;
        report_device(&m.device_description());
        Ok(m)
    }
}

/// The load options of a command: `device`, and what the environment says — `ROBERTA_MEMORY_LIMIT` (bytes),
/// `ROBERTA_CPU_GEMM=gemm` (the `gemm` crate instead of the AVX-512 kernels), `ROBERTA_ROW_BLOCK` (rows per
/// task, for tuning), `ROBERTA_CUDA_GRAPHS=0` (no CUDA graphs), `ROBERTA_CUBIN_DIR` (prebuilt cubins), `ROBERTA_CUDA_INCLUDE`
/// (':'-separated NVRTC include folders), through the options' `from_env`, which only binaries call.
pub fn load_options(device: Device) -> LoadOptions {
    LoadOptions {
        device,
        memory_limit_bytes: std::env::var("ROBERTA_MEMORY_LIMIT").ok().and_then(|v| v.trim().parse().ok()),
        cpu: CpuOptions::from_env(),
        cuda: CudaOptions::from_env(),
        ..LoadOptions::default()
    }
}

/// The output record of one text: `{"text", <field>: value as HF's pipeline gives it, "warning"?}`.
pub fn record<T: serde::Serialize>(text: &str, field: &str, out: &Output<T>) -> Value {
    let mut v = json!({ "text": text, field: out.value });
    if let Some(w) = &out.warning {
        v["warning"] = json!(w);
    }
    v
}

/// Runs a pipeline on a batch of texts: one output record (see [`record`]) or error message per text.
pub fn run_records<P: Pipeline>(p: &P, field: &str, texts: &[&str]) -> Vec<Result<Value, String>> {
    p.run(texts).into_iter().zip(texts).map(|(r, t)| r.map(|o| record(t, field, &o)).map_err(|e| e.to_string())).collect()
}

/// The one `device: <description>` line on stderr that every command using a device prints after loading its
/// model (see [`roberta_encoder::Encoder::device_description`]).
pub fn report_device(description: &str) {
    eprintln!("device: {description}");
}

/// Streams the input through `run` (a batch of texts → one JSON value or error message per text), writing one
/// output line per input record. Exit code 1 when any record failed.
pub fn stream(io: &IoArgs, name: &str, batch: usize, mut run: impl FnMut(&[&str]) -> Vec<Result<Value, String>>) -> crate::Result<ExitCode> {
    let mut out = io.writer()?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    bar.set_style(indicatif::ProgressStyle::with_template("{spinner} {msg} {pos} records ({per_sec})").expect("template"));
    bar.set_message(name.to_string());
    let t0 = Instant::now();
    let (mut n, mut failed, mut chars) = (0usize, 0usize, 0usize);
    let mut pending: Vec<(usize, Result<String, String>)> = Vec::new();
    let mut flush = |pending: &mut Vec<(usize, Result<String, String>)>, out: &mut dyn Write| -> crate::Result<()> {
        let texts: Vec<&str> = pending.iter().filter_map(|(_, r)| r.as_ref().ok().map(String::as_str)).collect();
        let mut results = run(&texts).into_iter();
        for (line, r) in pending.drain(..) {
            let v = match r {
                Err(e) => Err(e),
                Ok(_) => results.next().expect("one result per text").map_err(|e| format!("line {line}: {e}")),
            };
            let v = v.unwrap_or_else(|e| {
                failed += 1;
                eprintln!("{name}: {e}");
                error_record(line, &e)
            });
            write_line(out, &v)?;
        }
        Ok(())
    };
    for rec in io.records()? {
        let text = rec.value.and_then(|v| str_field(&v, "text", rec.line).map(str::to_string));
        if let Ok(t) = &text {
            chars += t.chars().count();
        }
        pending.push((rec.line, text));
        n += 1;
        if pending.len() >= batch.max(1) {
            flush(&mut pending, &mut out)?;
            bar.set_position(n as u64);
        }
    }
    flush(&mut pending, &mut out)?;
    out.flush()?;
    bar.finish_and_clear();
    let s = t0.elapsed().as_secs_f64();
    eprintln!(
        "{name}: {n} records ({failed} failed) in {s:.2} s: {:.1} records/s, {:.0} characters/s",
        n as f64 / s.max(1e-9),
        chars as f64 / s.max(1e-9)
    );
    Ok(if failed > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
