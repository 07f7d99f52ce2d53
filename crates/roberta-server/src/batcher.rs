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

/// A request's place in the bound of `max_concurrent_requests`: held from admission until the batcher is done
/// with the request (a client that leaves does not free it while its work is still queued).
pub(crate) struct Permit(pub Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A request in the queue.
pub(crate) struct Job {
    pub task: Task,
    pub items: Vec<Item>,
    /// Real tokens its inputs will run (every window of a long NER text).
    pub tokens: usize,
    pub reply: oneshot::Sender<Reply>,
    pub enqueued: Instant,
    pub _permit: Permit,
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
            // /health turns 503 however the loop ends (a panic included)
            struct Dead(Arc<AtomicBool>);
            impl Drop for Dead {
                fn drop(&mut self) {
                    self.0.store(false, Ordering::SeqCst);
                }
            }
            let _dead = Dead(alive);
            let pipes = Pipelines { model, pooling, embed: HashMap::new(), classifier: None, ner: Vec::new(), fill: HashMap::new() };
            run(rx, pipes, limits, &metrics);
        })
        .expect("a thread for the batcher");
    tx
}

/// Runs one task over `items`: each input's value, or the whole call's error (a panic becomes a 424).
fn run_group(pipes: &mut Pipelines, task: Task, items: &[&Item]) -> Result<Vec<Result<Value, roberta::Error>>, ApiError> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| pipes.run(task, items))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(api_error(&e)),
        Err(_) => {
            log::error!("a pipeline panicked on {} inputs", items.len());
            Err(ApiError::backend("inference failed (internal error)"))
        }
    }
}

/// A request's reply from its inputs' results: its values, or its first input's error.
fn reply_of(results: Vec<Result<Value, roberta::Error>>) -> Reply {
    match results.iter().find_map(|r| r.as_ref().err()) {
        Some(e) => Err(api_error(e)),
        None => Ok(results.into_iter().map(|r| r.expect("no error")).collect()),
    }
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
        if first.reply.is_closed() {
            continue; // its client left: nobody waits for this work
        }
        let mut tokens = first.tokens;
        let mut batch = vec![first];
        while limits.max_batch_requests.is_none_or(|m| batch.len() < m) {
            match rx.try_recv() {
                Ok(j) if j.reply.is_closed() => {}
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
        let inputs: usize = batch.iter().map(|j| j.items.len()).sum();
        let requests = batch.len();
        // one pipeline call per task in the batch, in order of first appearance; each group's requests are
        // answered as soon as it is done
        let mut groups: Vec<(Task, Vec<usize>)> = Vec::new();
        for (i, j) in batch.iter().enumerate() {
            match groups.iter_mut().find(|(t, _)| *t == j.task) {
                Some((_, v)) => v.push(i),
                None => groups.push((j.task, vec![i])),
            }
        }
        let mut jobs: Vec<Option<Job>> = batch.into_iter().map(Some).collect();
        for (task, members) in &groups {
            let items: Vec<&Item> = members.iter().flat_map(|&i| jobs[i].as_ref().expect("unanswered").items.iter()).collect();
            let sizes: Vec<usize> = members.iter().map(|&i| jobs[i].as_ref().expect("unanswered").items.len()).collect();
            let out = run_group(&mut pipes, *task, &items);
            drop(items);
            let replies: Vec<Reply> = match out {
                Ok(results) => {
                    let mut it = results.into_iter();
                    sizes.iter().map(|&n| reply_of(it.by_ref().take(n).collect())).collect()
                }
                // the call failed as a whole: each request alone, so that only the one at fault fails
                Err(e) if members.len() == 1 => vec![Err(e)],
                Err(_) => members
                    .iter()
                    .map(|&i| {
                        let job = jobs[i].as_ref().expect("unanswered");
                        let own: Vec<&Item> = job.items.iter().collect();
                        run_group(&mut pipes, *task, &own).and_then(reply_of)
                    })
                    .collect(),
            };
            for (&i, r) in members.iter().zip(replies) {
                let job = jobs[i].take().expect("answered once");
                let _ = job.reply.send(r); // a client that left drops its receiver
            }
        }
        metrics.batch(requests, inputs, tokens, start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_errors_get_teis_statuses() {
        let status = |e: roberta::Error| api_error(&e).status.as_u16();
        assert_eq!(status(roberta::Error::Input("no <mask>".into())), 422);
        assert_eq!(status(roberta::Error::Model("wrong head".into())), 400);
        assert_eq!(status(roberta::Error::Data { path: "x".into(), msg: "y".into() }), 424);
        assert_eq!(status(roberta::Error::Batch(Arc::new(roberta::Error::Input("x".into())))), 422);
        assert_eq!(api_error(&roberta::Error::Data { path: "x".into(), msg: "y".into() }).kind, crate::ErrorType::Backend);
    }
}
