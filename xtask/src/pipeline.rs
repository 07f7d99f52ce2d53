//! What the pipeline commands share: model arguments, and streaming JSON Lines `{"text"}` records through a
//! pipeline in batches, in input order, with a progress bar on stderr and a throughput summary at the end.
use crate::io::{error_record, str_field, write_line, IoArgs};
use roberta::{Device, Model};
use serde_json::Value;
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
        let mut m = Model::load(&self.model, device)?;
        m.batch_size = self.batch_size.max(1);
        report_device(&m.device_description());
        Ok(m)
    }
}

/// The one `device: <description>` line on stderr that every command using a device prints after loading its
/// model (see [`roberta_encoder::Encoder::device_description`]).
pub fn report_device(description: &str) {
    eprintln!("device: {description}");
}

/// One output record per text from a whole-batch result (a batch-level error becomes every text's error), with
/// the `warning` field set when the pipeline reported one for that text.
pub fn records<T>(
    texts: &[&str],
    batch: roberta::Result<Vec<(T, Option<String>)>>,
    record: impl Fn(&str, T) -> Value,
) -> Vec<Result<Value, String>> {
    match batch {
        Err(e) => texts.iter().map(|_| Err(e.to_string())).collect(),
        Ok(v) => v
            .into_iter()
            .zip(texts)
            .map(|((out, warning), t)| {
                let mut r = record(t, out);
                if let Some(w) = warning {
                    r["warning"] = Value::String(w);
                }
                Ok(r)
            })
            .collect(),
    }
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
