//! Errors as TEI gives them: `{"error": "...", "error_type": "..."}` with TEI's status codes.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// What kind of failure (TEI's `error_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// The request is malformed or asks for something impossible (400, 404, 413, 422).
    Validation,
    /// The tokenizer failed on an input.
    Tokenizer,
    /// Inference failed (424).
    Backend,
    /// The queue is full (429).
    Overloaded,
    /// A bad or missing API key (401).
    Unauthorized,
}

impl ErrorType {
    fn name(self) -> &'static str {
        match self {
            ErrorType::Validation => "validation",
            ErrorType::Tokenizer => "tokenizer",
            ErrorType::Backend => "backend",
            ErrorType::Overloaded => "overloaded",
            ErrorType::Unauthorized => "unauthorized",
        }
    }
}

/// An HTTP error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// TEI's `error_type`.
    pub kind: ErrorType,
    /// The message.
    pub message: String,
}

impl ApiError {
    /// 422: a malformed request.
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, kind: ErrorType::Validation, message: message.into() }
    }
    /// 413: too many inputs, an input too long, a body too large.
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::PAYLOAD_TOO_LARGE, kind: ErrorType::Validation, message: message.into() }
    }
    /// 400: the model cannot serve this route.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, kind: ErrorType::Validation, message: message.into() }
    }
    /// 424: inference failed.
    pub fn backend(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::FAILED_DEPENDENCY, kind: ErrorType::Backend, message: message.into() }
    }
    /// 429: the queue is full.
    pub fn overloaded(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::TOO_MANY_REQUESTS, kind: ErrorType::Overloaded, message: message.into() }
    }
    /// 401: bad or missing key.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::UNAUTHORIZED, kind: ErrorType::Unauthorized, message: message.into() }
    }
    /// 404: no such route.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::NOT_FOUND, kind: ErrorType::Validation, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.message, "error_type": self.kind.name()});
        (self.status, axum::Json(body)).into_response()
    }
}
