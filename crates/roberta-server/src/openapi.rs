//! `GET /openapi.json`: an OpenAPI 3.0 description of every route.
use serde_json::{json, Value};

fn body(schema: Value, example: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema, "example": example}}})
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn errors(codes: &[&str]) -> serde_json::Map<String, Value> {
    codes
        .iter()
        .map(|c| {
            let d = match *c {
                "400" => "the model cannot serve this route",
                "401" => "missing or wrong API key",
                "413" => "too many inputs, or an input longer than the model allows without truncate",
                "422" => "malformed JSON or fields",
                "424" => "inference failed",
                "429" => "the queue is full",
                _ => "error",
            };
            (c.to_string(), json!({"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}))
        })
        .collect()
}

fn op(summary: &str, request: Option<Value>, answer: Value, codes: &[&str]) -> Value {
    let mut responses = errors(codes);
    responses.insert("200".into(), answer);
    let mut o = json!({"summary": summary, "responses": responses});
    if let Some(r) = request {
        o["requestBody"] = r;
    }
    o
}

/// The document.
pub(crate) fn document() -> Value {
    let inputs = json!({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]});
    let label = json!({"type": "object", "properties": {"label": {"type": "string"}, "score": {"type": "number"}}});
    let entity = json!({"type": "object", "properties": {
        "entity_group": {"type": "string"}, "entity": {"type": "string"}, "score": {"type": "number"}, "index": {"type": "integer"},
        "word": {"type": "string"}, "start": {"type": "integer", "description": "character offset"}, "end": {"type": "integer"}}});
    let prediction = json!({"type": "object", "properties": {"score": {"type": "number"}, "token": {"type": "integer"}, "token_str": {"type": "string"}, "sequence": {"type": "string"}}});
    let p = ["413", "422", "424", "429", "400", "401"];
    json!({
        "openapi": "3.0.3",
        "info": {"title": "roberta-rs inference server", "version": env!("CARGO_PKG_VERSION"),
                 "description": "The API of text-embeddings-inference (TEI), with ner and fill-mask as the Hugging Face inference API gives them."},
        "paths": {
            "/embed": {"post": op("One vector per input (TEI)",
                Some(body(json!({"type": "object", "required": ["inputs"], "properties": {"inputs": inputs, "normalize": {"type": "boolean", "default": true}, "truncate": {"type": "boolean", "default": false}}}),
                          json!({"inputs": "El paciente presenta dolor torácico."}))),
                ok("a list of vectors", json!({"type": "array", "items": {"type": "array", "items": {"type": "number"}}})), &p)},
            "/predict": {"post": op("Sequence classification (TEI): every label, best first",
                Some(body(json!({"type": "object", "required": ["inputs"], "properties": {
                    "inputs": {"description": "a text; [text, text_pair]; or a list of texts, [text] or [text, text_pair]"},
                    "raw_scores": {"type": "boolean", "default": false}, "truncate": {"type": "boolean", "default": false}}}),
                          json!({"inputs": "Paciente con cefalea."}))),
                ok("labels (a list of them for a batch)", json!({"type": "array", "items": label})), &p)},
            "/ner": {"post": op("Named entities, as pipeline(\"token-classification\")",
                Some(body(json!({"type": "object", "required": ["inputs"], "properties": {"inputs": inputs,
                    "aggregation_strategy": {"type": "string", "enum": ["none", "simple", "first", "average", "max"], "default": "simple"}}}),
                          json!({"inputs": "Se pautó omeprazol 20 mg.", "aggregation_strategy": "first"}))),
                ok("entities (a list of them per input for a list)", json!({"type": "array", "items": entity})), &p)},
            "/fill-mask": {"post": op("Top-k tokens for each mask, as pipeline(\"fill-mask\")",
                Some(body(json!({"type": "object", "required": ["inputs"], "properties": {"inputs": inputs,
                    "top_k": {"type": "integer", "default": 5, "minimum": 1}, "truncate": {"type": "boolean", "default": false}}}),
                          json!({"inputs": "El paciente presenta dolor <mask>."}))),
                ok("predictions (a list per mask when a text has several; a list per input for a list)", json!({"type": "array", "items": prediction})), &p)},
            "/tokenize": {"post": op("Tokens with byte offsets (TEI)",
                Some(body(json!({"type": "object", "required": ["inputs"], "properties": {"inputs": inputs, "add_special_tokens": {"type": "boolean", "default": true}}}),
                          json!({"inputs": "Paracetamol 1 g"}))),
                ok("a list of tokens per input", json!({"type": "array", "items": {"type": "array", "items": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "text": {"type": "string"}, "special": {"type": "boolean"}, "start": {"type": "integer", "nullable": true}, "stop": {"type": "integer", "nullable": true}}}}})),
                &["413", "422", "400", "401"])},
            "/decode": {"post": op("Text of token ids (TEI)",
                Some(body(json!({"type": "object", "required": ["ids"], "properties": {"ids": {"oneOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}]},
                    "skip_special_tokens": {"type": "boolean", "default": true}}}), json!({"ids": [0, 1234, 2]}))),
                ok("one text per list of ids", json!({"type": "array", "items": {"type": "string"}})), &["413", "422", "401"])},
            "/info": {"get": op("The model and the server's limits (TEI)", None, ok("info", json!({"type": "object"})), &["401"])},
            "/health": {"get": op("200 while the server can run the model", None, json!({"description": "healthy"}), &["401"])},
            "/metrics": {"get": op("Prometheus metrics", None, json!({"description": "text format", "content": {"text/plain": {}}}), &["401"])},
            "/openapi.json": {"get": op("This document", None, ok("OpenAPI 3.0", json!({"type": "object"})), &["401"])}
        },
        "components": {"schemas": {"Error": {"type": "object", "properties": {
            "error": {"type": "string"},
            "error_type": {"type": "string", "enum": ["validation", "tokenizer", "backend", "overloaded", "unauthorized"]}}}}}
    })
}
