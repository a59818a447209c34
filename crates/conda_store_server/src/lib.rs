//! The conda-store HTTP server: routes under the configured `url_prefix`, JSON
//! envelopes as the Python conda-store sends them.
//!
//! For now it serves the API status route; the REST API grows here route by route.

use axum::Router;
use axum::extract::State;
use axum::response::Json;
use axum::routing::get;
use conda_store_db::DatabaseConnection;
use serde::Serialize;
use std::sync::Arc;

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database pool.
    pub database: DatabaseConnection,
    /// The version reported by `GET /api/v1/`.
    pub version: &'static str,
}

/// The `{"status","data","message"}` envelope of every API answer.
#[derive(Debug, Serialize)]
pub struct Envelope<T: Serialize> {
    /// `ok` or `error`.
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
}

/// The data of `GET /api/v1/`.
#[derive(Debug, Serialize)]
pub struct ApiStatus {
    /// The server's version.
    pub version: &'static str,
}

/// Builds the router, with every route under `url_prefix` (`/` or `/something`).
pub fn router(state: AppState, url_prefix: &str) -> Router {
    let api = Router::new()
        .route("/api/v1/", get(api_status))
        .with_state(Arc::new(state));
    let prefix = url_prefix.trim_end_matches('/');
    if prefix.is_empty() {
        api
    } else {
        Router::new().nest(prefix, api)
    }
}

async fn api_status(State(state): State<Arc<AppState>>) -> Json<Envelope<ApiStatus>> {
    Json(Envelope::ok(ApiStatus {
        version: state.version,
    }))
}
