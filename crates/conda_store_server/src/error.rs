//! The one mapping from failures to HTTP answers: `{"status":"error","message":...}`
//! with the status code the Python conda-store uses.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use conda_store_service::ServiceError;

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// The `message` of the envelope.
    pub message: String,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 403 "request not authorized", as the original words it.
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "request not authorized")
    }

    /// 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"status": "error", "message": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        let status = match &error {
            ServiceError::Specification(_)
            | ServiceError::InvalidName(_)
            | ServiceError::Invalid(_)
            | ServiceError::InsufficientStorage(_) => StatusCode::BAD_REQUEST,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::Conflict(_) => StatusCode::CONFLICT,
            ServiceError::Database(_) | ServiceError::Storage(_) | ServiceError::Internal(_) => {
                tracing::error!("request failed: {error}");
                return Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
            }
        };
        Self::new(status, error.to_string())
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
