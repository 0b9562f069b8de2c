//! One error type for every handler: a status and a JSON body `{"error": "...", "field": "..."}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tracing::error;

/// An error answer. A 5xx hides its cause from the client and logs it instead.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What the client is told.
    pub message: String,
    /// The request field at fault, when there is one.
    pub field: Option<String>,
    /// Seconds after which a retry may succeed (503).
    pub retry_after_secs: Option<u32>,
}

/// Every error's JSON form.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    /// What went wrong, for a person to read.
    error: &'a str,
    /// The request field at fault (`authorization` for a missing or bad token).
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// An error with a status and a message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), field: None, retry_after_secs: None }
    }

    /// 400 naming the field at fault.
    pub fn bad_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError { field: Some(field.into()), ..ApiError::new(StatusCode::BAD_REQUEST, message) }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 500, logging `cause` and telling the client only that it failed.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        error!(error = %cause, "request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server log")
    }

    /// 503 with `Retry-After`.
    pub fn busy(message: impl Into<String>, retry_after_secs: u32) -> Self {
        ApiError { retry_after_secs: Some(retry_after_secs), ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: &self.message, field: self.field.as_deref() };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        ApiError::new(rejection.status(), format!("invalid JSON body: {}", rejection.body_text()))
    }
}

impl From<axum::extract::rejection::BytesRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::BytesRejection) -> Self {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::new(status, "request body too large");
        }
        ApiError::new(status, format!("unreadable body: {}", rejection.body_text()))
    }
}

impl From<axum::extract::rejection::QueryRejection> for ApiError {
    fn from(rejection: axum::extract::rejection::QueryRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, format!("invalid query string: {}", rejection.body_text()))
    }
}

impl From<glasshouse_app::AppError> for ApiError {
    fn from(e: glasshouse_app::AppError) -> Self {
        use glasshouse_app::ErrorKind;
        let status = match e.kind {
            ErrorKind::Invalid => StatusCode::BAD_REQUEST,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::Unavailable { retry_after_secs } => {
                return ApiError { field: e.field, ..ApiError::busy(e.message, retry_after_secs) };
            }
            ErrorKind::Internal => return ApiError::internal(e.message),
        };
        ApiError { field: e.field, ..ApiError::new(status, e.message) }
    }
}

impl From<glasshouse_store::StoreError> for ApiError {
    fn from(e: glasshouse_store::StoreError) -> Self {
        ApiError::internal(e)
    }
}
