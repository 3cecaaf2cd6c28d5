//! DM's error body for every failure, and extractors that answer malformed
//! requests with it (axum's own rejections are plain text).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

use ferry::dm::model::ErrorWithMessage;
use ferry::dm::DmError;
use ferry::error::Coded;

/// An answer with DM's error body.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// A request body that is not the resource it must be.
    pub fn bad_body(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, 10000, message)
    }

    /// An engine error (connection, precheck, job) with its code and fix.
    pub fn engine(status: StatusCode, err: &dyn Coded) -> ApiError {
        let remedy = ferry::error::phrase(&err.remedy(), ferry::error::Audience::Cli);
        ApiError::new(
            status,
            10006,
            format!("[{}] {err} Fix: {remedy}", err.code()),
        )
    }
}

impl From<DmError> for ApiError {
    fn from(e: DmError) -> ApiError {
        let status = match &e {
            // DM answers 400 for these (the only error status `dm.yaml` lists);
            // `error_code` tells them apart.
            DmError::NotFound { .. } | DmError::Exists { .. } | DmError::Conflict(_) => {
                StatusCode::BAD_REQUEST
            }
            DmError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            // Not answered by this server (a client error), but a gateway's if it were.
            DmError::Master(_) => StatusCode::BAD_GATEWAY,
            DmError::Invalid(_) | DmError::Unsupported(_) => StatusCode::BAD_REQUEST,
        };
        let remedy = ferry::error::phrase(&e.remedy(), ferry::error::Audience::Cli);
        ApiError::new(
            status,
            e.number(),
            format!("[{}] {e}. Fix: {remedy}", e.code()),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorWithMessage {
                error_msg: self.message,
                error_code: self.code,
            }),
        )
            .into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// DM's `?with_status=true` on a list or a get: each item with its status.
pub fn with_status(q: &std::collections::HashMap<String, String>) -> bool {
    q.get("with_status").is_some_and(|v| v == "true")
}

/// A JSON body of type `T`; anything else (not JSON, a wrong type, an unknown
/// field, too large) is a 4xx with DM's error body.
pub struct DmJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for DmJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let DmBody(bytes) = DmBody::from_request(req, state).await?;
        parse(&bytes).map(DmJson)
    }
}

/// The raw body (for bodies parsed by hand or optional ones); one over the
/// limit is a 413 with DM's error body.
pub struct DmBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for DmBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(DmBody)
            .map_err(|e| {
                let status = e.status();
                let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    10009
                } else {
                    10000
                };
                ApiError::new(
                    status,
                    code,
                    format!("reading the request body: {}", e.body_text()),
                )
            })
    }
}

/// Parses a body, or an empty one as `T`'s empty object (optional bodies).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(text)
        .map_err(|e| ApiError::bad_body(format!("invalid request body: {e}")))
}

/// Path parameters; a malformed one is a 400 with DM's error body.
pub struct DmPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for DmPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| DmPath(v))
            .map_err(|e| ApiError::bad_body(format!("invalid path: {e}")))
    }
}
