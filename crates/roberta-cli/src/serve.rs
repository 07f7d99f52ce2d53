//! `roberta serve --model DIR|ID [--host 127.0.0.1] [--port 8080] [--max-batch-tokens 16384] ...`: the inference
//! server (crates/roberta-server): TEI's routes (`/embed`, `/predict`, `/tokenize`, `/decode`, `/info`,
//! `/health`, `/metrics`) plus `/ner` and `/fill-mask`, with dynamic batching. Stops on Ctrl-C or SIGTERM after
//! answering what was queued.
use crate::pipeline::{load_options, parse_dtype, report_device};
use roberta::{CpuDType, LoadOptions, Model, Pooling};
use roberta_server::{Server, ServerConfig};
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `serve` (TEI's names and defaults).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory, or a Hub id org/name[@revision].
    #[arg(long)]
    model: std::path::PathBuf,
    /// cpu, cuda or auto.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// f32 or int8 (CPU).
    #[arg(long, default_value = "f32", value_parser = parse_dtype)]
    dtype: CpuDType,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0: any free port, printed on stderr).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Real tokens per forward pass.
    #[arg(long, default_value_t = 16384)]
    max_batch_tokens: usize,
    /// Requests per forward pass (default: no limit; 1 runs every request alone).
    #[arg(long)]
    max_batch_requests: Option<usize>,
    /// Requests queued or running before new ones get 429.
    #[arg(long, default_value_t = 512)]
    max_concurrent_requests: usize,
    /// Inputs in one request.
    #[arg(long, default_value_t = 32)]
    max_client_batch_size: usize,
    /// Tokens in one input (default: the model's length); longer inputs get 413 unless "truncate": true.
    #[arg(long)]
    max_input_length: Option<usize>,
    /// Require `Authorization: Bearer KEY` (also from the environment variable API_KEY, as TEI).
    #[arg(long, env = "API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Pooling of /embed: mean or cls.
    #[arg(long, default_value = "mean")]
    pooling: String,
}

/// Runs `serve`.
pub fn run(a: Args) -> crate::Result<ExitCode> {
    let pooling: Pooling = a.pooling.parse()?;
    if a.max_batch_requests == Some(0) || a.max_concurrent_requests == 0 || a.max_client_batch_size == 0 || a.max_batch_tokens == 0 {
        return Err("--max-batch-tokens, --max-batch-requests, --max-concurrent-requests and --max-client-batch-size must be at least 1".into());
    }
    let device = a.device.parse()?;
    // the batcher decides what runs together: one forward may hold every sequence of a batch
    let opts = LoadOptions { batch_size: a.max_batch_requests.unwrap_or(1024).max(1).saturating_mul(a.max_client_batch_size), ..load_options(device, a.dtype)? };
    let mut model = Model::load_with(&a.model, &opts)?;
    // one forward pass holds about --max-batch-tokens tokens: a larger batch (or one long NER text) is split
    if model.memory_limit_bytes().is_none() {
        let limit = roberta_server::memory_limit_for(&model, a.max_batch_tokens);
        model.set_memory_limit_bytes(Some(limit));
    }
    let model = Arc::new(model);
    report_device(&model.device_description());
    let cfg = ServerConfig {
        model_id: a.model.to_string_lossy().into_owned(),
        max_batch_tokens: a.max_batch_tokens,
        max_batch_requests: a.max_batch_requests,
        max_concurrent_requests: a.max_concurrent_requests,
        max_client_batch_size: a.max_client_batch_size,
        max_input_length: a.max_input_length,
        api_key: a.api_key.filter(|k| !k.is_empty()),
        pooling,
        ..ServerConfig::default()
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind((a.host.as_str(), a.port)).await.map_err(|e| format!("cannot listen on {}:{}: {e}", a.host, a.port))?;
        let addr = listener.local_addr()?;
        let server = Server::new(model, cfg);
        eprintln!("serving {} on http://{addr} (Ctrl-C or SIGTERM stops after the queued requests)", a.model.display());
        server.serve(listener, roberta_server::shutdown_signal()).await?;
        eprintln!("server stopped");
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
