//! The queue and the batching loop. Requests from every client enter one channel; a dedicated thread takes
//! the first waiting request, adds every request already waiting while the batch stays within
//! `max_batch_tokens` (real tokens: the CPU path is padding-free) and `max_batch_requests`, and runs each
//! pipeline's share of the batch as one call (one or more forward passes, as `Model` plans them). The async
//! runtime only waits on a oneshot channel: it never runs inference.
use crate::error::ApiError;
use crate::metrics::Metrics;
use roberta::{Aggregation, Classifier, Embedder, FillMask, Model, Ner, Output, Pooling};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// What a request asks the model for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Task {
    Embed { normalize: bool },
    Predict { raw: bool },
    Ner { aggregation: Aggregation },
    FillMask { top_k: usize },
}

/// One input of a request.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Text(String),
    Pair(String, String),
}

impl Item {
    fn text(&self) -> &str {
        match self {
            Item::Text(t) | Item::Pair(t, _) => t,
        }
    }
}

/// The answer to a request: one JSON value per input, or the request's error.
pub(crate) type Reply = Result<Vec<Value>, ApiError>;

/// A request in the queue.
pub(crate) struct Job {
    pub task: Task,
    pub items: Vec<Item>,
    /// Real tokens of its inputs (each cut at the model's length).
    pub tokens: usize,
    pub reply: oneshot::Sender<Reply>,
    pub enqueued: Instant,
}

/// Limits of one batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_batch_tokens: usize,
    pub max_batch_requests: Option<usize>,
}

/// The pipelines, built on first use and kept (they share the one model).
struct Pipelines {
    model: Arc<Model>,
    pooling: Pooling,
    embed: HashMap<bool, Embedder>,
    classifier: Option<Classifier>,
    ner: Vec<(Aggregation, Ner)>,
    fill: HashMap<usize, FillMask>,
}

fn values<T: Serialize>(results: Vec<roberta::Result<Output<T>>>) -> Vec<Result<Value, roberta::Error>> {
    results.into_iter().map(|r| r.map(|o| serde_json::to_value(o.value).expect("pipeline values serialise"))).collect()
}

impl Pipelines {
    fn run(&mut self, task: Task, items: &[&Item]) -> Result<Vec<Result<Value, roberta::Error>>, roberta::Error> {
        let texts: Vec<&str> = items.iter().map(|i| i.text()).collect();
        Ok(match task {
            Task::Embed { normalize } => {
                if !self.embed.contains_key(&normalize) {
                    self.embed.insert(normalize, Embedder::new(self.model.clone(), self.pooling, normalize)?);
                }
                values(self.embed[&normalize].run(&texts))
            }
            Task::Predict { raw } => {
                if self.classifier.is_none() {
                    self.classifier = Some(Classifier::new(self.model.clone(), None)?);
                }
                let c = self.classifier.as_ref().expect("just built");
                let pairs: Vec<(&str, Option<&str>)> = items
                    .iter()
                    .map(|i| match i {
                        Item::Text(t) => (t.as_str(), None),
                        Item::Pair(a, b) => (a.as_str(), Some(b.as_str())),
                    })
                    .collect();
                let logits = c.logits_pairs(&pairs);
                logits
                    .into_iter()
                    .map(|r| r.map(|o| serde_json::to_value(if raw { c.raw_scores(&o.value) } else { c.scores(&o.value) }).expect("serialises")))
                    .collect()
            }
            Task::Ner { aggregation } => {
                let i = match self.ner.iter().position(|(a, _)| *a == aggregation) {
                    Some(i) => i,
                    None => {
                        self.ner.push((aggregation, Ner::new(self.model.clone(), aggregation)?));
                        self.ner.len() - 1
                    }
                };
                values(self.ner[i].1.run(&texts))
            }
            Task::FillMask { top_k } => {
                if !self.fill.contains_key(&top_k) {
                    self.fill.insert(top_k, FillMask::new(self.model.clone(), top_k)?);
                }
                values(self.fill[&top_k].run(&texts))
            }
        })
    }
}

/// The error a request gets for a pipeline error on one of its inputs.
pub(crate) fn api_error(e: &roberta::Error) -> ApiError {
    match e {
        roberta::Error::Batch(inner) => api_error(inner),
        roberta::Error::Input(m) => ApiError::unprocessable(m.clone()),
        roberta::Error::Model(m) => ApiError::bad_request(m.clone()),
        roberta::Error::Tokenizer(t) => ApiError {
            status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            kind: crate::error::ErrorType::Tokenizer,
            message: t.to_string(),
        },
        e => ApiError::backend(format!("inference failed: {e}")),
    }
}

/// Starts the batching thread; it ends when every sender is gone and the queue is empty. `alive` turns false
/// if it ever stops.
pub(crate) fn start(model: Arc<Model>, pooling: Pooling, limits: Limits, metrics: Arc<Metrics>, alive: Arc<AtomicBool>) -> Sender<Job> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("roberta-batcher".into())
        .spawn(move || {
            let pipes = Pipelines { model, pooling, embed: HashMap::new(), classifier: None, ner: Vec::new(), fill: HashMap::new() };
            run(rx, pipes, limits, &metrics);
            alive.store(false, Ordering::SeqCst);
        })
        .expect("a thread for the batcher");
    tx
}

fn run(rx: Receiver<Job>, mut pipes: Pipelines, limits: Limits, metrics: &Metrics) {
    let mut carry: Option<Job> = None;
    loop {
        let first = match carry.take() {
            Some(j) => j,
            None => match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            },
        };
        let mut tokens = first.tokens;
        let mut batch = vec![first];
        while limits.max_batch_requests.is_none_or(|m| batch.len() < m) {
            match rx.try_recv() {
                Ok(j) if tokens + j.tokens > limits.max_batch_tokens => {
                    carry = Some(j);
                    break;
                }
                Ok(j) => {
                    tokens += j.tokens;
                    batch.push(j);
                }
                Err(_) => break,
            }
        }
        let start = Instant::now();
        for j in &batch {
            metrics.queued(start.duration_since(j.enqueued).as_secs_f64());
        }
        // one pipeline call per task in the batch, in order of first appearance
        let mut groups: Vec<(Task, Vec<usize>)> = Vec::new();
        for (i, j) in batch.iter().enumerate() {
            match groups.iter_mut().find(|(t, _)| *t == j.task) {
                Some((_, v)) => v.push(i),
                None => groups.push((j.task, vec![i])),
            }
        }
        let mut replies: Vec<Option<Reply>> = (0..batch.len()).map(|_| None).collect();
        for (task, members) in &groups {
            let items: Vec<&Item> = members.iter().flat_map(|&i| batch[i].items.iter()).collect();
            let out = std::panic::catch_unwind(AssertUnwindSafe(|| pipes.run(*task, &items)));
            match out {
                Ok(Ok(results)) => {
                    let mut it = results.into_iter();
                    for &i in members {
                        let mine: Vec<Result<Value, roberta::Error>> = it.by_ref().take(batch[i].items.len()).collect();
                        replies[i] = Some(match mine.iter().find_map(|r| r.as_ref().err()) {
                            Some(e) => Err(api_error(e)),
                            None => Ok(mine.into_iter().map(|r| r.expect("no error")).collect()),
                        });
                    }
                }
                Ok(Err(e)) => {
                    for &i in members {
                        replies[i] = Some(Err(api_error(&e)));
                    }
                }
                Err(_) => {
                    log::error!("a pipeline panicked on a batch of {} inputs; its requests get 424", items.len());
                    for &i in members {
                        replies[i] = Some(Err(ApiError::backend("inference failed (internal error)")));
                    }
                }
            }
        }
        let inputs: usize = batch.iter().map(|j| j.items.len()).sum();
        metrics.batch(batch.len(), inputs, tokens, start.elapsed().as_secs_f64());
        for (j, r) in batch.into_iter().zip(replies) {
            let _ = j.reply.send(r.expect("every request answered")); // a client that left drops its receiver
        }
    }
}
