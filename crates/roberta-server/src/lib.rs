//! roberta-server: an inference server speaking the API of Hugging Face's text-embeddings-inference (TEI) —
//! `POST /embed`, `/predict`, `/tokenize`, `/decode`, `GET /info`, `/health`, `/metrics` — plus the pipelines TEI
//! lacks, with the shapes of the Hub's inference API: `POST /ner` and `POST /fill-mask`; `GET /openapi.json`
//! describes them all.
//!
//! Requests from every client go into one queue; a batching thread forms forward passes bounded by
//! `max_batch_tokens` real tokens (and optionally `max_batch_requests`) from whatever is waiting, so a busy
//! server runs large batches and an idle one answers at once. Past `max_concurrent_requests` requests in the
//! queue, new ones get 429 at once. Each input's answer is exactly what the pipeline (and the `roberta`
//! command line) gives for it alone.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let model = std::sync::Arc::new(roberta::Model::load("PlanTL-GOB-ES/bsc-bio-ehr-es", roberta::Device::Cpu)?);
//! let server = roberta_server::Server::new(model, roberta_server::ServerConfig::default());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! server.serve(listener, async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
mod batcher;
pub mod error;
pub mod metrics;
mod openapi;
mod routes;

pub use error::{ApiError, ErrorType};

use roberta::{Model, Pooling};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize};

use std::sync::Arc;

/// How the server batches, bounds and guards its work (TEI's options, with TEI's defaults).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The model's name in `/info` (the `--model` argument).
    pub model_id: String,
    /// Real tokens per batch (16384); also the most one request may hold (413 past it: a long `/ner` text runs
    /// in windows, every window's tokens counted). Give the model a memory limit to match
    /// ([`memory_limit_for`]), so that a forward pass never holds much more than this.
    pub max_batch_tokens: usize,
    /// Requests per batch (no limit); 1 runs one request per forward pass.
    pub max_batch_requests: Option<usize>,
    /// Requests queued or running before new ones get 429 (512).
    pub max_concurrent_requests: usize,
    /// Inputs in one request (32).
    pub max_client_batch_size: usize,
    /// Tokens in one input, special tokens included (default and most: the model's length). Longer inputs get
    /// 413 unless the request says `"truncate": true` (then the pipeline cuts them at the model's length).
    pub max_input_length: Option<usize>,
    /// When set, every request needs `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// Pooling of `/embed` (mean).
    pub pooling: Pooling,
    /// Largest request body in bytes (16 MiB).
    pub max_body_bytes: usize,
    /// Predictions one `/fill-mask` request may ask for (masks × top_k, summed over its inputs; 10,000).
    pub max_fill_mask_predictions: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            model_id: String::new(),
            max_batch_tokens: 16384,
            max_batch_requests: None,
            max_concurrent_requests: 512,
            max_client_batch_size: 32,
            max_input_length: None,
            api_key: None,
            pooling: Pooling::Mean,
            max_body_bytes: 16 << 20,
            max_fill_mask_predictions: 10_000,
        }
    }
}

/// The shared state of the routes.
pub(crate) struct State {
    pub model: Arc<Model>,
    pub cfg: ServerConfig,
    pub queue: std::sync::mpsc::Sender<batcher::Job>,
    pub in_flight: Arc<AtomicUsize>,
    pub metrics: Arc<metrics::Metrics>,
    pub max_input: usize,
    pub alive: Arc<AtomicBool>,
    /// Why the model cannot serve each route (None: it can).
    pub refusals: routes::Refusals,
    pub info: serde_json::Value,
}

/// The server: a model, its batching thread, and the routes.
pub struct Server {
    state: Arc<State>,
}

impl Server {
    /// A server for `model` with `cfg`; starts the batching thread (it stops when the server and its routers are
    /// dropped, after answering what was queued).
    pub fn new(model: Arc<Model>, cfg: ServerConfig) -> Server {
        let metrics = Arc::new(metrics::Metrics::default());
        let alive = Arc::new(AtomicBool::new(true));
        let limits = batcher::Limits { max_batch_tokens: cfg.max_batch_tokens.max(1), max_batch_requests: cfg.max_batch_requests };
        let tx = batcher::start(model.clone(), cfg.pooling, limits, metrics.clone(), alive.clone());
        let max_input = cfg.max_input_length.map_or(model.max_tokens(), |m| m.min(model.max_tokens()));
        let refusals = routes::Refusals::of(&model);
        let info = routes::info(&model, &cfg, max_input, &refusals);
        Server {
            state: Arc::new(State {
                model,
                cfg,
                queue: tx,
                in_flight: Arc::new(AtomicUsize::new(0)),
                metrics,
                max_input,
                alive,
                refusals,
                info,
            }),
        }
    }

    /// The routes, to serve or to nest in another axum application.
    pub fn router(&self) -> axum::Router {
        routes::router(self.state.clone())
    }

    /// Serves on `listener` until `shutdown` completes; then stops accepting connections, finishes the requests
    /// in progress (and their batches), and returns.
    pub async fn serve(self, listener: tokio::net::TcpListener, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let app = self.router();
        drop(self);
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await
    }
}

/// The activation memory limit (`LoadOptions::memory_limit_bytes`) that keeps one forward pass of `model` near
/// `max_batch_tokens` tokens: what that many tokens need in sequences of the model's full length. Larger
/// batches are then split into several passes by the model itself.
pub fn memory_limit_for(model: &Model, max_batch_tokens: usize) -> usize {
    let len = model.max_tokens().max(1);
    model.activation_bytes(max_batch_tokens.div_ceil(len).max(1), len)
}

/// Completes on Ctrl-C or SIGTERM (what `roberta serve` shuts down on).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
