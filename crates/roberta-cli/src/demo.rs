//! `roberta demo` (`cargo xtask demo`): fill-mask and NER on the small Spanish clinical models shipped in tests/fixtures (no
//! download), printed for people, then how to point the same commands at bsc-bio-ehr-es.
use roberta::{Aggregation, Device, FillMask, Model, Ner};
use std::path::PathBuf;
use std::io::Write;
use std::process::ExitCode;

/// Arguments of `roberta demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// cpu, cuda or auto (the CUDA path is verified under an emulated driver, not yet on a real GPU).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

const MASKED: &[&str] = &[
    "Paciente de 45 años que acude a urgencias por dolor <mask> de tres días de evolución.",
    "Se inició tratamiento con <mask> intravenoso y la fiebre cedió en 48 horas.",
    "La analítica mostró una elevación de las <mask> hepáticas.",
];

const CLINICAL: &[&str] = &[
    "Se realizó determinación de hemoglobina glicosilada y de la proteína C reactiva, con valores normales.",
    "Recibió tratamiento con cisplatino y paclitaxel, con buena respuesta, y se pautó omeprazol.",
    "En la analítica destacaba una elevación de transaminasas y de la ferritina sérica.",
];

/// The checkout's tests/fixtures/models: where this binary was built from, or else under the current folder.
fn fixtures() -> crate::Result<PathBuf> {
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models");
    let here = PathBuf::from("tests/fixtures/models");
    [built.clone(), here].into_iter().find(|d| d.join("tiny-mlm").is_dir()).ok_or_else(|| {
        format!("the demo's models live in the roberta-rs checkout ({} is gone): run it from a checkout", built.display()).into()
    })
}

/// Runs the demo.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let device: Device = a.device.parse()?;
    let mut so = std::io::stdout().lock();
    writeln!(so, "roberta-rs demo — small Spanish clinical RoBERTa models trained on PharmaCoNER text (tests/fixtures).")?;
    writeln!(so, "They are tiny (4 layers, hidden 128): they exist to exercise the real code, so expect weak answers.\n")?;

    let opts = crate::pipeline::load_options(device, roberta::CpuDType::F32)?;
    let fixtures = fixtures()?;
    let mlm = Model::load_with(fixtures.join("tiny-mlm"), &opts)?;
    crate::pipeline::report_device(&mlm.device_description());
    let fm = FillMask::new(mlm, 3)?;
    writeln!(so, "== fill-mask (tiny-mlm, pytorch_model.bin as bsc-bio-ehr-es ships it)")?;
    for (text, out) in MASKED.iter().zip(fm.run(MASKED)) {
        let out = out?;
        writeln!(so, "{text}")?;
        for p in &out.value[0] {
            writeln!(so, "    {:<16} {:.3}", p.token_str.trim(), p.score)?;
        }
    }

    let ner = Ner::new(Model::load_with(fixtures.join("tiny-ner"), &opts)?, Aggregation::First)?;
    writeln!(so, "\n== ner (tiny-ner fine-tuned on PharmaCoNER: NORMALIZABLES, NOTNORMALIZABLES, PROTEINAS; aggregation first)")?;
    for (text, ents) in CLINICAL.iter().zip(ner.run(CLINICAL)) {
        writeln!(so, "{text}")?;
        let ents = ents?.value;
        if ents.is_empty() {
            writeln!(so, "    (no entities)")?;
        }
        for e in ents {
            writeln!(so, "    {:<18} {:<28} [{}..{}] {:.3}", e.label, format!("{:?}", e.word.trim()), e.start, e.end, e.score)?;
        }
    }

    writeln!(so, "\n== the same with the real model")?;
    writeln!(so, "Download PlanTL-GOB-ES/bsc-bio-ehr-es (config.json, pytorch_model.bin, vocab.json, merges.txt, tokenizer_config.json,")?;
    writeln!(so, "special_tokens_map.json) into a folder, then (`cargo install --path crates/roberta-cli` installs `roberta`):")?;
    writeln!(so, "    echo '{{\"text\": \"El paciente presenta dolor <mask>.\"}}' | roberta fill-mask --model PATH/bsc-bio-ehr-es")?;
    writeln!(so, "    roberta convert PATH/bsc-bio-ehr-es        # optional: writes model.safetensors (memory-mapped, faster load)")?;
    writeln!(so, "For NER, point `roberta ner --model DIR --aggregation first` at a model fine-tuned from it (e.g. on PharmaCoNER),")?;
    writeln!(so, "and score it with `roberta eval-ner --model DIR --conll dev.txt`. Records are JSON Lines {{\"text\": ...}} (other")?;
    writeln!(so, "fields are copied through), or plain text with `--format text`.")?;
    writeln!(so, "GPUs: `--device cuda` runs the hand-written CUDA kernels. They are verified in CI under an emulated driver (logic,")?;
    writeln!(so, "not speed) and have not yet run on a real GPU (benches/RESULTS.md records any GPU run): the CPU is the verified path.")?;
    so.flush()?;
    Ok(ExitCode::SUCCESS)
}
