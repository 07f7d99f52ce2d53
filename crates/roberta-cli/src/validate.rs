//! `roberta validate --model DIR --reference FILE [--output FILE]`: runs the model on the reference's
//! `input_ids` / `attention_mask` (and `token_type_ids` when the reference has them) and prints max abs / rel error per tensor (`hidden_states.{i}`, `logits`),
//! comparing only positions where attention_mask is 1; exit 1 over tolerance. On CUDA and with `--dtype int8` the
//! judge is ‖ours − ref‖/‖ref‖ per tensor (the last column), which is what quantization error is measured by.
use roberta::{BatchInput, LoadOptions, Model};
use roberta_checkpoint::safetensors::{write_f32, SafetensorsFile};
use roberta_checkpoint::Tensor;
use roberta_encoder::Device;
use std::path::PathBuf;
use std::io::Write;
use std::process::ExitCode;

/// Arguments of `validate`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// HF model directory (config.json + model.safetensors or pytorch_model.bin), or a Hub id org/name[@revision].
    #[arg(long)]
    model: PathBuf,
    /// Reference safetensors with input_ids, attention_mask, hidden_states.{i} and logits.
    #[arg(long)]
    reference: PathBuf,
    /// Write our tensors here under the reference's names.
    #[arg(long)]
    output: Option<PathBuf>,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// f32 or int8 (the CPU encoder's linear layers; see `roberta ner --help`).
    #[arg(long, default_value = "f32", value_parser = crate::pipeline::parse_dtype)]
    dtype: roberta::CpuDType,
    /// Maximum error allowed: absolute on the CPU in f32 (default 1e-4); on CUDA ‖ours − ref‖/‖ref‖ per tensor
    /// (default 1e-2, DESIGN.md's f16 tolerance); with --dtype int8 the same ‖·‖-relative error (default 5e-2).
    #[arg(long)]
    tolerance: Option<f32>,
}

/// (max abs error, max abs error / max |reference|) over the rows of `width` values whose `row_mask` is set.
pub fn errors(ours: &[f32], reference: &[f32], width: usize, row_mask: &[bool]) -> (f32, f32) {
    let (mut max_abs, mut max_ref) = (0.0f32, 0.0f32);
    for ((a, r), &m) in ours.chunks(width).zip(reference.chunks(width)).zip(row_mask) {
        if !m {
            continue;
        }
        for (x, y) in a.iter().zip(r) {
            if !y.is_finite() {
                continue;
            }
            let d = (x - y).abs();
            max_abs = if d.is_nan() { f32::INFINITY } else { max_abs.max(d) };
            max_ref = max_ref.max(y.abs());
        }
    }
    (max_abs, if max_ref > 0.0 { max_abs / max_ref } else { max_abs })
}

/// Parses `--device` (cpu, cuda or auto).
pub fn pick_device(device: &str) -> crate::Result<Device> {
    Ok(device.parse::<Device>()?)
}

/// ‖ours − reference‖ / ‖reference‖ over the rows of `width` values whose `row_mask` is set.
fn norm_rel(ours: &[f32], reference: &[f32], width: usize, row_mask: &[bool]) -> f32 {
    let (mut num, mut den) = (0f64, 0f64);
    for ((a, r), _) in ours.chunks(width).zip(reference.chunks(width)).zip(row_mask).filter(|(_, &m)| m) {
        for (x, y) in a.iter().zip(r).filter(|(_, y)| y.is_finite()) {
            num += ((x - y) as f64).powi(2);
            den += (*y as f64).powi(2);
        }
    }
    if num.is_nan() { f32::INFINITY } else { (num.sqrt() / den.sqrt().max(1e-30)) as f32 }
}

/// Runs `validate`.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let device = pick_device(&a.device)?;
    let mut so = std::io::stdout().lock();
    // ids in, hidden states and logits out: the tokenizer is not needed (nor required to be there)
    let opts = LoadOptions { tokenizer: false, ..crate::pipeline::load_options(device, a.dtype)? };
    let model = Model::load_with(&a.model, &opts)?;
    crate::pipeline::report_device(&model.device_description());
    let cuda = model.encoder().device_name() == "cuda";
    let int8 = a.dtype == roberta::CpuDType::Int8;
    // quantized or half-precision paths are judged on the ‖·‖-relative error, f32 on the absolute one
    let relative = cuda || int8;
    let tolerance = a.tolerance.unwrap_or(if cuda { 1e-2 } else if int8 { 5e-2 } else { 1e-4 });
    let h = model.config().hidden_size;
    let reference = SafetensorsFile::open(&a.reference)?;
    let (shape, ids) = reference.i64("input_ids")?;
    let (_, mask) = reference.i64("attention_mask")?;
    if shape.len() != 2 || mask.len() != ids.len() {
        return Err(format!("{}: input_ids must be [batch, seq_len] like attention_mask", a.reference.display()).into());
    }
    let (batch, seq_len) = (shape[0], shape[1]);
    let ids: Vec<u32> = ids.iter().map(|&v| v as u32).collect();
    let mask: Vec<u32> = mask.iter().map(|&v| v as u32).collect();
    // BERT references of sentence pairs carry token_type_ids (RoBERTa's are all 0, or absent)
    let types: Option<Vec<u32>> = match reference.entries.iter().any(|e| e.name == "token_type_ids") {
        true => {
            let (tshape, t) = reference.i64("token_type_ids")?;
            if tshape != shape {
                return Err(format!("{}: token_type_ids {tshape:?} is not shaped like input_ids {shape:?}", a.reference.display()).into());
            }
            let types: Result<Vec<u32>, _> = t.iter().map(|&v| u32::try_from(v).map_err(|_| v)).collect();
            Some(types.map_err(|v| format!("{}: token_type_ids holds {v}, not a token type", a.reference.display()))?)
        }
        false => None,
    };
    let input = BatchInput { token_type_ids: types.as_deref(), input_ids: &ids, attention_mask: &mask, batch, seq_len };
    let t0 = std::time::Instant::now();
    let out = model.encode(&input, true)?;
    let mut ours: Vec<(String, Tensor)> = out
        .hidden_states
        .into_iter()
        .enumerate()
        .map(|(i, v)| (format!("hidden_states.{i}"), Tensor::new(vec![batch, seq_len, h], v)))
        .collect();
    if let Some((shape, logits)) = model.logits(&out.last_hidden_state, batch, seq_len) {
        ours.push(("logits".into(), Tensor::new(shape, logits)));
    }
    eprintln!("forward {batch}×{seq_len} on {} in {:.1} ms", model.encoder().device_name(), t0.elapsed().as_secs_f64() * 1e3);
    let tok_mask: Vec<bool> = mask.iter().map(|&m| m != 0).collect();
    let mut failed = false;
    let mut written: Vec<(String, Tensor)> = Vec::new();
    writeln!(so, "{:<20} {:>14} {:>12} {:>12}{}", "tensor", "shape", "max abs", "max rel", if relative { format!(" {:>12}", "‖Δ‖/‖ref‖") } else { String::new() })?;
    if relative {
        writeln!(so, "({}: judged on ‖ours − ref‖/‖ref‖, the last column)", if cuda { "cuda" } else { "int8" })?;
    }
    for e in reference.entries.iter().filter(|e| !["input_ids", "attention_mask", "token_type_ids"].contains(&e.name.as_str())) {
        let ours_kind = e.name == "logits" || e.name.strip_prefix("hidden_states.").is_some_and(|i| i.parse::<usize>().is_ok());
        if !ours_kind {
            // Other tensors (e.g. a second batch, or logits at chosen rows) are for the tests, not for this command.
            writeln!(so, "{:<20} {:>14} {:>12}", e.name, format!("{:?}", e.shape), "not compared")?;
            continue;
        }
        let Some((_, t)) = ours.iter().find(|(n, _)| *n == e.name) else {
            writeln!(so, "{:<20} {:>14} {:>12}", e.name, format!("{:?}", e.shape), "not produced")?;
            failed = true;
            continue;
        };
        let r = reference.f32(&e.name)?;
        if r.shape != t.shape {
            writeln!(so, "{:<20} shape {:?} vs ours {:?}", e.name, r.shape, t.shape)?;
            failed = true;
            continue;
        }
        let width = *t.shape.last().unwrap_or(&1);
        let rows = t.data.len() / width.max(1);
        let row_mask: Vec<bool> = if rows == tok_mask.len() { tok_mask.clone() } else { vec![true; rows] };
        let (abs, rel) = errors(&t.data, &r.data, width, &row_mask);
        let nrel = norm_rel(&t.data, &r.data, width, &row_mask);
        let bad = if relative { !(nrel <= tolerance) } else { !(abs <= tolerance) };
        failed |= bad;
        let extra = if relative { format!(" {nrel:>12.3e}") } else { String::new() };
        writeln!(so, "{:<20} {:>14} {:>12.3e} {:>12.3e}{extra}{}", e.name, format!("{:?}", t.shape), abs, rel, if bad { "  FAIL" } else { "" })?;
        written.push((e.name.clone(), t.clone()));
    }
    if let Some(p) = &a.output {
        let refs: Vec<(&str, &Tensor)> = written.iter().map(|(n, t)| (n.as_str(), t)).collect();
        write_f32(p, &refs)?;
        eprintln!("wrote {}", p.display());
    }
    let kind = if relative { "‖·‖-relative" } else { "absolute" };
    writeln!(so, "{} (tolerance {:e} {kind})", if failed { "FAILED" } else { "ok" }, tolerance)?;
    so.flush()?;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
