use roberta::{Aggregation, Device, FillMask, Model, Ner};
use std::sync::Arc;

fn main() -> Result<(), roberta::Error> {
    // Any HF RoBERTa directory (config.json, weights, tokenizer files); these two ship in tests/fixtures.
    let mlm = Model::load("tests/fixtures/models/tiny-mlm", Device::Cpu)?;
    let fill = FillMask::new(mlm, 3)?;
    let out = fill.run(&["Se inició tratamiento con <mask> intravenoso."]).remove(0)?;
    for p in &out.value[0] {
        println!("{:>14} {:.3}  {}", p.token_str, p.score, p.sequence);
    }

    // One loaded model, shared by every pipeline that uses it (Arc<Model>).
    let tagger = Arc::new(Model::load("tests/fixtures/models/tiny-ner", Device::Cpu)?);
    let ner = Ner::new(tagger.clone(), Aggregation::First)?;
    let text = "Recibió cisplatino y se pautó omeprazol por la creatinina elevada.";
    for e in ner.run(&[text]).remove(0)?.value {
        // start / end count characters, as HF's Python pipeline does; span() slices the Rust &str safely
        println!("{:<14} {:<12} chars {}..{} bytes {}..{} {:.3}", e.label, e.span(text), e.start, e.end, e.byte_start, e.byte_end, e.score);
    }

    // Every pipeline's value serialises with HF's field names.
    let json = serde_json::to_string(&ner.run(&["Se pautó omeprazol."]).remove(0)?.value).expect("serialises");
    println!("{json}");
    Ok(())
}
