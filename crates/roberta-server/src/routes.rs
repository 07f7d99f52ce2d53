//! The routes: request parsing and validation (every malformed field a 422 naming it), the admission check
//! (429 past the queue's bound), the answer shapes of TEI and of the Hub's inference API.
use crate::batcher::{api_error, Item, Job, Permit, Task};
use crate::error::ApiError;
use crate::{ServerConfig, State};
use axum::body::Bytes;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use roberta::{Aggregation, Classifier, FillMask, Model, Ner};
use roberta_tokenizer::{EncodeOptions, Input};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

type S = axum::extract::State<Arc<State>>;

/// Why the model cannot serve each pipeline route (`None`: it can).
pub(crate) struct Refusals {
    pub embed: Option<String>,
    pub predict: Option<String>,
    pub ner: Option<String>,
    pub fill_mask: Option<String>,
}

impl Refusals {
    pub(crate) fn of(model: &Arc<Model>) -> Refusals {
        let why = |r: roberta::Result<()>| r.err().map(|e| e.to_string());
        Refusals {
            embed: why(model.tokenizer().map(drop)),
            predict: why(Classifier::new(model.clone(), None).map(drop)),
            ner: why(Ner::new(model.clone(), Aggregation::None).map(drop)),
            fill_mask: why(FillMask::new(model.clone(), 1).map(drop)),
        }
    }
}

/// `GET /info`'s answer (TEI's fields, and the pipelines this model serves).
pub(crate) fn info(model: &Model, cfg: &ServerConfig, max_input: usize, r: &Refusals) -> Value {
    let c = model.config();
    let labels = c.labels();
    let model_type = if r.predict.is_none() {
        let id2label: serde_json::Map<String, Value> = labels.iter().enumerate().map(|(i, l)| (i.to_string(), json!(l))).collect();
        let label2id: serde_json::Map<String, Value> = labels.iter().enumerate().map(|(i, l)| (l.clone(), json!(i))).collect();
        json!({"classifier": {"id2label": id2label, "label2id": label2id}})
    } else if r.ner.is_none() {
        let id2label: serde_json::Map<String, Value> = labels.iter().enumerate().map(|(i, l)| (i.to_string(), json!(l))).collect();
        json!({"token_classifier": {"id2label": id2label}})
    } else {
        json!({"embedding": {"pooling": match cfg.pooling { roberta::Pooling::Cls => "cls", _ => "mean" }}})
    };
    // a snapshot of the Hugging Face cache is named by its commit
    let sha = model.dir().file_name().and_then(|n| n.to_str()).filter(|n| roberta_checkpoint::hub::is_commit_hash(n));
    let mut routes = vec!["/embed", "/tokenize", "/decode"];
    if r.predict.is_none() {
        routes.push("/predict");
    }
    if r.ner.is_none() {
        routes.push("/ner");
    }
    if r.fill_mask.is_none() {
        routes.push("/fill-mask");
    }
    json!({
        "model_id": cfg.model_id,
        "model_sha": sha,
        "model_dtype": dtype_name(model),
        "model_type": model_type,
        "architectures": c.architectures,
        "device": model.device_description(),
        "pipelines": routes,
        "max_concurrent_requests": cfg.max_concurrent_requests,
        "max_input_length": max_input,
        "max_batch_tokens": cfg.max_batch_tokens,
        "max_batch_requests": cfg.max_batch_requests,
        "max_client_batch_size": cfg.max_client_batch_size,
        "auto_truncate": false,
        "tokenization_workers": 1,
        "version": env!("CARGO_PKG_VERSION"),
        "sha": Value::Null,
        "docker_label": Value::Null,
    })
}

/// What the encoder computes in, for `/info`.
fn dtype_name(model: &Model) -> &'static str {
    let d = model.device_description();
    if d.contains("int8") {
        "int8"
    } else if d.starts_with("cpu") {
        "float32"
    } else {
        "float16"
    }
}

pub(crate) fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/embed", post(embed))
        .route("/predict", post(predict))
        .route("/ner", post(ner))
        .route("/fill-mask", post(fill_mask))
        .route("/tokenize", post(tokenize))
        .route("/decode", post(decode))
        .route("/info", get(info_route))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route_layer(middleware::from_fn_with_state(state.clone(), track))
        .fallback(unknown)
        .method_not_allowed_fallback(wrong_method)
        .layer(middleware::from_fn_with_state(state.clone(), auth))
        .layer(axum::extract::DefaultBodyLimit::max(state.cfg.max_body_bytes))
        .with_state(state)
}

/// Counts each answer by route and status.
async fn track(s: S, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_default();
    let res = next.run(req).await;
    s.metrics.request(&route, res.status().as_u16());
    res
}

/// `Authorization: Bearer <key>` when the server has a key.
async fn auth(s: S, req: Request, next: Next) -> Response {
    if let Some(key) = &s.cfg.api_key {
        let given = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| same_key(g.trim().as_bytes(), key.as_bytes())) {
            let why = if given.is_none() { "missing `Authorization: Bearer <api key>` header" } else { "wrong API key" };
            let res = ApiError::unauthorized(why).into_response();
            s.metrics.request("unauthorized", res.status().as_u16());
            return res;
        }
    }
    next.run(req).await
}

/// Compares keys in time independent of where they differ.
fn same_key(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn unknown(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "no route {} {}: the routes are POST /embed /predict /ner /fill-mask /tokenize /decode, GET /info /health /metrics /openapi.json",
        req.method(),
        req.uri().path()
    ))
}

async fn wrong_method(req: Request) -> ApiError {
    ApiError { status: StatusCode::METHOD_NOT_ALLOWED, kind: crate::ErrorType::Validation, message: format!("{} is not a method of {}", req.method(), req.uri().path()) }
}

// ---- request parsing ----

/// The body as a JSON object (413 past the size limit; 422 for anything but a JSON object).
fn parse_body(body: Result<Bytes, axum::extract::rejection::BytesRejection>) -> Result<serde_json::Map<String, Value>, ApiError> {
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(format!("the request body is too large: {e}")),
        _ => ApiError::unprocessable(format!("cannot read the request body: {e}")),
    })?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(v) => Err(ApiError::unprocessable(format!("the body must be a JSON object, not {}", kind(&v)))),
        Err(e) => Err(ApiError::unprocessable(format!("the body is not valid JSON (or not UTF-8): {e}"))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A field looked up at the top level, then under `"parameters"` (the Hub inference API's shape).
fn field<'a>(body: &'a serde_json::Map<String, Value>, name: &str) -> Option<&'a Value> {
    body.get(name).or_else(|| body.get("parameters").and_then(|p| p.get(name))).filter(|v| !v.is_null())
}

fn flag(body: &serde_json::Map<String, Value>, name: &str, default: bool) -> Result<bool, ApiError> {
    match field(body, name) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(ApiError::unprocessable(format!("`{name}` must be a boolean, not {}", kind(v)))),
    }
}

/// `inputs`: a string (one input; `true`) or a non-empty list of strings (`false`).
fn texts(body: &serde_json::Map<String, Value>) -> Result<(Vec<String>, bool), ApiError> {
    match body.get("inputs") {
        None => Err(ApiError::unprocessable("missing field `inputs`")),
        Some(Value::String(s)) => Ok((vec![s.clone()], true)),
        Some(Value::Array(a)) if a.is_empty() => Err(ApiError::unprocessable("`inputs` cannot be an empty list")),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| v.as_str().map(String::from).ok_or_else(|| ApiError::unprocessable(format!("`inputs[{i}]` must be a string, not {}", kind(v)))))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| (v, false)),
        Some(v) => Err(ApiError::unprocessable(format!("`inputs` must be a string or a list of strings, not {}", kind(v)))),
    }
}

/// `/predict`'s `inputs` as TEI reads them: a string, `[text]` or `[text, text_pair]` is one input; a list of
/// those (strings, or lists of one or two strings) is a batch.
fn predict_inputs(body: &serde_json::Map<String, Value>) -> Result<(Vec<Item>, bool), ApiError> {
    let seq = |v: &Value, at: &str| -> Result<Item, ApiError> {
        match v {
            Value::String(s) => Ok(Item::Text(s.clone())),
            Value::Array(a) => match a.as_slice() {
                [Value::String(x)] => Ok(Item::Text(x.clone())),
                [Value::String(x), Value::String(y)] => Ok(Item::Pair(x.clone(), y.clone())),
                _ => Err(ApiError::unprocessable(format!("`{at}` must be a string, [text] or [text, text_pair]"))),
            },
            v => Err(ApiError::unprocessable(format!("`{at}` must be a string or a list, not {}", kind(v)))),
        }
    };
    match body.get("inputs") {
        None => Err(ApiError::unprocessable("missing field `inputs`")),
        Some(Value::String(s)) => Ok((vec![Item::Text(s.clone())], true)),
        Some(Value::Array(a)) if a.is_empty() => Err(ApiError::unprocessable("`inputs` cannot be an empty list")),
        // a list that starts with a string is one input: [text] or [text, text_pair] (as TEI reads it)
        Some(v @ Value::Array(a)) if a[0].is_string() => Ok((vec![seq(v, "inputs")?], true)),
        Some(Value::Array(a)) => a.iter().enumerate().map(|(i, v)| seq(v, &format!("inputs[{i}]"))).collect::<Result<Vec<_>, _>>().map(|v| (v, false)),
        Some(v) => Err(ApiError::unprocessable(format!("`inputs` must be a string or a list, not {}", kind(v)))),
    }
}

impl State {
    fn refuse(&self, why: &Option<String>) -> Result<(), ApiError> {
        match why {
            Some(w) => Err(ApiError::bad_request(format!("this server's model cannot serve this route: {w}"))),
            None => Ok(()),
        }
    }

    fn check_count(&self, n: usize) -> Result<(), ApiError> {
        if n > self.cfg.max_client_batch_size {
            return Err(ApiError::too_large(format!(
                "batch size {n} > maximum allowed batch size {} (--max-client-batch-size)",
                self.cfg.max_client_batch_size
            )));
        }
        Ok(())
    }

    /// Tokenizes each input (on a blocking thread): an input over `max_input` tokens gets 413, or with
    /// `truncate` is cut after its `max_input`-th token (special tokens included, as TEI truncates); a NER text
    /// (`windowed`) may be any length, every window counted. A request over `max_batch_tokens` tokens, or a
    /// fill-mask request over `max_fill_mask_predictions` predictions, gets 413. Returns the inputs to run and
    /// their tokens.
    fn prepare(&self, task: Task, items: Vec<Item>, truncate: bool) -> Result<(Vec<Item>, usize), ApiError> {
        let tok = self.model.tokenizer().map_err(|e| api_error(&e))?;
        let windowed = matches!(task, Task::Ner { .. });
        let opts = EncodeOptions::default();
        let mut total = 0usize;
        let mut predictions = 0usize;
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            let enc = match &it {
                Item::Text(t) => tok.encode_with(Input::Single(t), &opts),
                Item::Pair(a, b) => tok.encode_with(Input::Pair(a, b), &opts),
            }
            .map_err(|e| api_error(&roberta::Error::from(e)))?;
            let n = enc.ids.len();
            let mut it = it;
            let mut kept = n;
            if !windowed && n > self.max_input {
                if !truncate {
                    return Err(ApiError::too_large(format!(
                        "Input validation error: `inputs` must have less than {} tokens. Given: {n} (send \"truncate\": true to cut it)",
                        self.max_input
                    )));
                }
                if let Item::Text(t) = &it {
                    // the text up to the end of the last token that fits beside the special tokens
                    let cut = EncodeOptions { max_length: Some(self.max_input), ..EncodeOptions::default() };
                    let e = tok.encode_with(Input::Single(t), &cut).map_err(|e| api_error(&roberta::Error::from(e)))?;
                    let end = (0..e.ids.len()).filter(|&i| e.special_tokens_mask[i] == 0).map(|i| e.byte_offsets[i].1).max().unwrap_or(0);
                    it = Item::Text(t[..end].to_string());
                }
                kept = self.max_input;
            }
            if let (Task::FillMask { top_k }, Some(mask)) = (task, tok.mask_token_id()) {
                predictions = predictions.saturating_add(enc.ids.iter().filter(|&&id| id == mask).count().saturating_mul(top_k));
            }
            total = total.saturating_add(kept.min(if windowed { usize::MAX } else { self.model.max_tokens() }));
            out.push(it);
        }
        if total > self.cfg.max_batch_tokens {
            return Err(ApiError::too_large(format!(
                "the request holds {total} tokens, more than --max-batch-tokens {} allows in one request",
                self.cfg.max_batch_tokens
            )));
        }
        if predictions > self.cfg.max_fill_mask_predictions {
            return Err(ApiError::too_large(format!(
                "the request asks for {predictions} predictions (masks × top_k), more than the server's {}",
                self.cfg.max_fill_mask_predictions
            )));
        }
        Ok((out, total))
    }

    /// A place in the queue's bound, or 429 at once.
    fn admit(&self) -> Result<Permit, ApiError> {
        if self.in_flight.fetch_add(1, Ordering::SeqCst) >= self.cfg.max_concurrent_requests {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(ApiError::overloaded(format!(
                "Model is overloaded: {} requests are queued or running (--max-concurrent-requests)",
                self.cfg.max_concurrent_requests
            )));
        }
        Ok(Permit(self.in_flight.clone()))
    }
}

/// Validates on a blocking thread (tokenizing is CPU work), queues, and waits for the batcher's answer. The
/// permit travels with the request until the batcher is done with it.
async fn submit(s: Arc<State>, task: Task, items: Vec<Item>, truncate: bool) -> Result<Vec<Value>, ApiError> {
    let permit = s.admit()?;
    let s2 = s.clone();
    let (items, tokens) = tokio::task::spawn_blocking(move || s2.prepare(task, items, truncate))
        .await
        .map_err(|e| ApiError::backend(format!("tokenization failed: {e}")))??;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let job = Job { task, items, tokens, reply, enqueued: Instant::now(), _permit: permit };
    s.queue.send(job).map_err(|_| ApiError::backend("the batching thread has stopped"))?;
    answer.await.map_err(|_| ApiError::backend("the batching thread has stopped"))?
}

/// One answer per input: the value itself for a single input, the list for a list.
fn shaped(mut values: Vec<Value>, single: bool) -> Value {
    if single && values.len() == 1 {
        values.pop().expect("one value")
    } else {
        Value::Array(values)
    }
}

type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;

/// `POST /embed` `{"inputs", "normalize" (true), "truncate" (false)}` → `[[f32]]`.
async fn embed(s: S, body: Body) -> Result<Json<Value>, ApiError> {
    let s = s.0;
    s.refuse(&s.refusals.embed)?;
    let b = parse_body(body)?;
    let (inputs, _) = texts(&b)?;
    let (normalize, truncate) = (flag(&b, "normalize", true)?, flag(&b, "truncate", false)?);
    s.check_count(inputs.len())?;
    let items = inputs.into_iter().map(Item::Text).collect();
    Ok(Json(Value::Array(submit(s, Task::Embed { normalize }, items, truncate).await?)))
}

/// `POST /predict` `{"inputs", "raw_scores" (false), "truncate" (false)}` → `[{label, score}]` sorted by score, or
/// a list of them for a batch.
async fn predict(s: S, body: Body) -> Result<Json<Value>, ApiError> {
    let s = s.0;
    s.refuse(&s.refusals.predict)?;
    let b = parse_body(body)?;
    let (items, single) = predict_inputs(&b)?;
    let (raw, truncate) = (flag(&b, "raw_scores", false)?, flag(&b, "truncate", false)?);
    s.check_count(items.len())?;
    Ok(Json(shaped(submit(s, Task::Predict { raw }, items, truncate).await?, single)))
}

/// `POST /ner` `{"inputs", "aggregation_strategy" ("simple", as the Hub's inference API)}` → entities as
/// `pipeline("token-classification")` gives them, a list per input when a list is sent. Texts of any length
/// (run in windows).
async fn ner(s: S, body: Body) -> Result<Json<Value>, ApiError> {
    let s = s.0;
    s.refuse(&s.refusals.ner)?;
    let b = parse_body(body)?;
    let (inputs, single) = texts(&b)?;
    let aggregation = match field(&b, "aggregation_strategy") {
        None => Aggregation::Simple,
        Some(Value::String(a)) => a.parse().map_err(|e: String| ApiError::unprocessable(format!("`aggregation_strategy`: {e}")))?,
        Some(v) => return Err(ApiError::unprocessable(format!("`aggregation_strategy` must be a string, not {}", kind(v)))),
    };
    s.check_count(inputs.len())?;
    let items = inputs.into_iter().map(Item::Text).collect();
    Ok(Json(shaped(submit(s, Task::Ner { aggregation }, items, false).await?, single)))
}

/// `POST /fill-mask` `{"inputs", "top_k" (5), "truncate" (false)}` → predictions as `pipeline("fill-mask")`
/// gives them (a list per mask when a text has several), a list per input when a list is sent.
async fn fill_mask(s: S, body: Body) -> Result<Json<Value>, ApiError> {
    let s = s.0;
    s.refuse(&s.refusals.fill_mask)?;
    let b = parse_body(body)?;
    let (inputs, single) = texts(&b)?;
    let top_k = match field(&b, "top_k") {
        None => 5,
        Some(v) => match v.as_u64() {
            Some(k) if k >= 1 && k as usize <= s.model.config().vocab_size => k as usize,
            _ => return Err(ApiError::unprocessable(format!("`top_k` must be an integer from 1 to the vocabulary size {}, not {v}", s.model.config().vocab_size))),
        },
    };
    let truncate = flag(&b, "truncate", false)?;
    s.check_count(inputs.len())?;
    let items = inputs.into_iter().map(Item::Text).collect();
    Ok(Json(shaped(submit(s, Task::FillMask { top_k }, items, truncate).await?, single)))
}

/// `POST /tokenize` `{"inputs", "add_special_tokens" (true)}` → `[[{"id", "text", "special", "start", "stop"}]]`
/// (byte offsets, as TEI; `text` is the input's slice, or the special token).
async fn tokenize(s: S, body: Body) -> Result<Json<Value>, ApiError> {
    let s = s.0;
    s.refuse(&s.refusals.embed)?;
    let b = parse_body(body)?;
    let (inputs, _) = texts(&b)?;
    let special = flag(&b, "add_special_tokens", true)?;
    s.check_count(inputs.len())?;
    let permit = s.admit()?;
    let s2 = s.clone();
    let out = tokio::task::spawn_blocking(move || -> Result<Value, ApiError> {
        let _permit = permit;
        let tok = s2.model.tokenizer().map_err(|e| api_error(&e))?;
        let opts = EncodeOptions { add_special_tokens: special, ..EncodeOptions::default() };
        let mut all = Vec::new();
        let mut total = 0usize;
        for t in &inputs {
            let enc = tok.encode_with(Input::Single(t), &opts).map_err(|e| api_error(&roberta::Error::from(e)))?;
            total += enc.ids.len();
            if total > s2.cfg.max_batch_tokens {
                return Err(ApiError::too_large(format!("the request holds more than --max-batch-tokens {} tokens", s2.cfg.max_batch_tokens)));
            }
            let toks: Vec<Value> = (0..enc.ids.len())
                .map(|i| {
                    let id = enc.ids[i];
                    if enc.special_tokens_mask[i] == 1 {
                        json!({"id": id, "text": tok.id_to_token(id).unwrap_or(""), "special": true, "start": null, "stop": null})
                    } else {
                        let (a, z) = enc.byte_offsets[i];
                        json!({"id": id, "text": t.get(a..z).unwrap_or(""), "special": false, "start": a, "stop": z})
                    }
                })
                .collect();
            all.push(Value::Array(toks));
        }
        Ok(Value::Array(all))
    })
    .await
    .map_err(|e| ApiError::backend(format!("tokenization failed: {e}")))??;
    Ok(Json(out))
}

/// `POST /decode` `{"ids": [u32] | [[u32]], "skip_special_tokens" (true)}` → `["text"]`.
async fn decode(s: S, body: Body) -> Result<Json<Value>, ApiError> {
    let s = s.0;
    s.refuse(&s.refusals.embed)?;
    let b = parse_body(body)?;
    let skip = flag(&b, "skip_special_tokens", true)?;
    let tok = s.model.tokenizer().map_err(|e| api_error(&e))?;
    let vocab = tok.vocab_size();
    let seq = |v: &Value, at: &str| -> Result<Vec<u32>, ApiError> {
        let a = v.as_array().ok_or_else(|| ApiError::unprocessable(format!("`{at}` must be a list of token ids")))?;
        a.iter()
            .enumerate()
            .map(|(i, x)| match x.as_u64() {
                Some(id) if (id as usize) < vocab => Ok(id as u32),
                _ => Err(ApiError::unprocessable(format!("`{at}[{i}]` = {x} is not a token id (0 to {})", vocab - 1))),
            })
            .collect()
    };
    let lists: Vec<Vec<u32>> = match b.get("ids") {
        None => return Err(ApiError::unprocessable("missing field `ids`")),
        Some(Value::Array(a)) if a.first().is_some_and(Value::is_array) => {
            a.iter().enumerate().map(|(i, v)| seq(v, &format!("ids[{i}]"))).collect::<Result<_, _>>()?
        }
        Some(v) => vec![seq(v, "ids")?],
    };
    s.check_count(lists.len())?;
    let permit = s.admit()?;
    let s2 = s.clone();
    let out = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let tok = s2.model.tokenizer().expect("checked above");
        Value::Array(lists.iter().map(|ids| json!(tok.decode(ids, skip))).collect())
    })
    .await
    .map_err(|e| ApiError::backend(format!("decoding failed: {e}")))?;
    Ok(Json(out))
}

async fn info_route(s: S) -> Json<Value> {
    Json(s.info.clone())
}

/// 200 while the batching thread runs.
async fn health(s: S) -> Response {
    if s.alive.load(Ordering::SeqCst) {
        StatusCode::OK.into_response()
    } else {
        ApiError { status: StatusCode::SERVICE_UNAVAILABLE, kind: crate::ErrorType::Backend, message: "the batching thread has stopped".into() }.into_response()
    }
}

async fn metrics(s: S) -> Response {
    let text = s.metrics.render(s.in_flight.load(Ordering::SeqCst));
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}
