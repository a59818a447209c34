//! The JSON envelopes of the API: `{"status","data","message"}`, the paginated form
//! with `page`, `size` and `count`, and the acknowledgement `{"status","message"}`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use conda_store_service::Listing;
use serde::Serialize;

/// `{"status":"ok","data":...,"message":...}`.
#[derive(Debug, Serialize)]
pub struct Envelope<T: Serialize> {
    /// Always `ok`.
    pub status: &'static str,
    /// The payload.
    pub data: T,
    /// A human-readable message, usually null.
    pub message: Option<String>,
}

impl<T: Serialize> Envelope<T> {
    /// A successful answer carrying `data`.
    pub fn ok(data: T) -> Self {
        Self {
            status: "ok",
            data,
            message: None,
        }
    }

    /// A successful answer with a message.
    pub fn with_message(data: T, message: impl Into<String>) -> Self {
        Self {
            status: "ok",
            data,
            message: Some(message.into()),
        }
    }
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

/// A page of a v1 list: the envelope plus `page`, `size` and `count`.
#[derive(Debug, Serialize)]
pub struct Paginated<T: Serialize> {
    /// Always `ok`.
    pub status: &'static str,
    /// The rows of the page.
    pub data: Vec<T>,
    /// Always null.
    pub message: Option<String>,
    /// The page number (1-based).
    pub page: u64,
    /// The page size.
    pub size: u64,
    /// Rows before pagination.
    pub count: u64,
}

impl<T: Serialize> From<Listing<T>> for Paginated<T> {
    fn from(listing: Listing<T>) -> Self {
        Self {
            status: "ok",
            data: listing.items,
            message: None,
            page: listing.page,
            size: listing.size,
            count: listing.count,
        }
    }
}

impl<T: Serialize> IntoResponse for Paginated<T> {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

/// `{"status":"ok","message":...}`.
pub fn acknowledge(message: Option<String>) -> Response {
    Json(serde_json::json!({"status": "ok", "message": message})).into_response()
}
