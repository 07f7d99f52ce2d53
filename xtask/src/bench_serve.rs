//! `cargo xtask bench-serve [--model DIR|ID] [--route ner|embed] [--clients 1,8,64] [--requests N] [--json]`: a
//! load generator against the inference server, run in this process on loopback: throughput and p50 / p99
//! latency at each number of concurrent clients, once with dynamic batching (the defaults) and once with one
//! request per forward pass (`--max-batch-requests 1`), and their ratio. Every answer is checked against the
//! single-request one. Clients and server share the machine's cores (as a load test on one host does).
use roberta::{Device, LoadOptions, Model};
use roberta_server::{Server, ServerConfig};
use serde_json::json;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `bench-serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory or Hub id (default: the fixture NER model tests/fixtures/models/tiny-ner).
    #[arg(long)]
    model: Option<String>,
    /// The route to load: ner or embed (default: ner when the model has a token-classification head).
    #[arg(long)]
    route: Option<String>,
    /// Numbers of concurrent clients.
    #[arg(long, default_value = "1,8,64", value_delimiter = ',')]
    clients: Vec<usize>,
    /// Requests each client sends at each level (the total is at least 64 at one client).
    #[arg(long, default_value_t = 20)]
    requests: usize,
    /// Print one JSON line of results at the end.
    #[arg(long)]
    json: bool,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// f32 or int8 (CPU).
    #[arg(long, default_value = "f32")]
    dtype: String,
}

/// Clinical sentences of mixed lengths (5 to about 120 tokens).
fn text(i: usize) -> String {
    const S: [&str; 6] = [
        "Sin alergias conocidas.",
        "Se pautó amoxicilina 500 mg cada 8 horas y paracetamol si fiebre.",
        "Paciente con adenocarcinoma de pulmón, EGFR mutado; inicia osimertinib 80 mg al día.",
        "Creatinina 1,4 mg/dL; potasio 5,1 mmol/L. Se suspende el ibuprofeno y se añade omeprazol 20 mg.",
        "Tras la cirugía presenta dolor abdominal, se administra metamizol intravenoso y se solicita analítica.",
        "Carcinoma ductal infiltrante de mama, receptores hormonales positivos, HER2 negativo, Ki-67 del 20 %.",
    ];
    let k = i % S.len();
    S[k].repeat(1 + (i * 5) % 4)
}

struct Level {
    clients: usize,
    requests: usize,
    seconds: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn run_mode(model: Arc<Model>, cfg: ServerConfig, route: &str, levels: &[usize], per_client: usize) -> crate::Result<Vec<Level>> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a port");
            tx.send(format!("http://{}", listener.local_addr().expect("an address"))).expect("the bench waits");
            Server::new(model, cfg).serve(listener, async { let _ = stopped.await; }).await.expect("serves");
        });
    });
    let url = rx.recv()?;
    let agent = || -> ureq::Agent { ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(600))).build().into() };
    // request bodies made once; answers compared as bytes: the clients share the machine, so they do little
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..24).map(|i| if route == "/ner" { json!({"inputs": text(i), "aggregation_strategy": "first"}) } else { json!({"inputs": text(i)}) }.to_string().into_bytes()).collect(),
    );
    let send = |a: &ureq::Agent, body: &[u8]| -> Result<(u16, Vec<u8>), String> {
        let mut r = a.post(&format!("{url}{route}")).header("Content-Type", "application/json").send(body).map_err(|e| e.to_string())?;
        let st = r.status().as_u16();
        Ok((st, r.body_mut().with_config().limit(1 << 30).read_to_vec().map_err(|e| e.to_string())?))
    };
    // the single-request answers (also the warm-up)
    let a = agent();
    let mut expected = Vec::new();
    for b in bodies.iter() {
        match send(&a, b)? {
            (200, v) => expected.push(v),
            (st, v) => return Err(format!("HTTP {st}: {}", String::from_utf8_lossy(&v)).into()),
        }
    }
    let expected = Arc::new(expected);
    let mut out = Vec::new();
    for &clients in levels {
        let n = per_client.max(64 / clients.max(1));
        let t = Instant::now();
        let lats = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..clients)
                .map(|c| {
                    let (expected, bodies, send) = (expected.clone(), bodies.clone(), &send);
                    sc.spawn(move || -> Result<Vec<f64>, String> {
                        let a = agent();
                        let mut lat = Vec::with_capacity(n);
                        for k in 0..n {
                            let i = (c * 7 + k) % expected.len();
                            let t = Instant::now();
                            let (st, v) = send(&a, &bodies[i])?;
                            lat.push(t.elapsed().as_secs_f64() * 1e3);
                            if st != 200 || v != expected[i] {
                                return Err(format!("client {c}: request {k} got HTTP {st} and a different answer"));
                            }
                        }
                        Ok(lat)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().map_err(|_| "a client panicked".to_string()).and_then(|r| r)).collect::<Result<Vec<_>, String>>()
        })?;
        let mut lat: Vec<f64> = lats.into_iter().flatten().collect();
        let seconds = t.elapsed().as_secs_f64();
        lat.sort_by(f64::total_cmp);
        out.push(Level { clients, requests: lat.len(), seconds, p50_ms: percentile(&lat, 0.5), p99_ms: percentile(&lat, 0.99) });
    }
    let _ = stop.send(());
    server.join().map_err(|_| "the server thread panicked")?;
    Ok(out)
}

/// Runs `bench-serve`.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = a.model.clone().map(std::path::PathBuf::from).unwrap_or_else(|| root.join("tests/fixtures/models/tiny-ner"));
    let device: Device = a.device.parse()?;
    let dtype: roberta::CpuDType = a.dtype.parse()?;
    let opts = LoadOptions { device, batch_size: 4096, cpu: roberta::CpuOptions { dtype, ..Default::default() }, ..Default::default() };
    let mut model = Model::load_with(&dir, &opts)?;
    let limit = roberta_server::memory_limit_for(&model, ServerConfig::default().max_batch_tokens);
    model.set_memory_limit_bytes(Some(limit));
    let model = Arc::new(model);
    let route = match a.route.as_deref() {
        Some("ner") => "/ner",
        Some("embed") => "/embed",
        Some(r) => return Err(format!("--route {r}: ner or embed").into()),
        None if roberta::Ner::new(model.clone(), roberta::Aggregation::First).is_ok() => "/ner",
        None => "/embed",
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())).unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    eprintln!("bench-serve: {} on POST {route}, {} ({cpu}, {cores} cores), clients and server in one process", dir.display(), model.device_description());
    let batching = run_mode(model.clone(), ServerConfig::default(), route, &a.clients, a.requests)?;
    let single = run_mode(model, ServerConfig { max_batch_requests: Some(1), ..ServerConfig::default() }, route, &a.clients, a.requests)?;
    println!("| clients | mode | requests | req/s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for (b, s) in batching.iter().zip(&single) {
        for (name, l) in [("dynamic batching", b), ("one request per forward", s)] {
            println!("| {} | {name} | {} | {:.1} | {:.1} | {:.1} |", l.clients, l.requests, l.requests as f64 / l.seconds, l.p50_ms, l.p99_ms);
        }
        let ratio = (b.requests as f64 / b.seconds) / (s.requests as f64 / s.seconds);
        println!("| {} | batching / single | | **{ratio:.2}×** | | |", b.clients);
        rows.push(json!({"clients": b.clients, "batching": {"rps": b.requests as f64 / b.seconds, "p50_ms": b.p50_ms, "p99_ms": b.p99_ms},
            "single": {"rps": s.requests as f64 / s.seconds, "p50_ms": s.p50_ms, "p99_ms": s.p99_ms}, "ratio": ratio}));
    }
    if a.json {
        println!("{}", json!({"model": dir, "route": route, "cpu": cpu, "cores": cores, "levels": rows}));
    }
    Ok(ExitCode::SUCCESS)
}
