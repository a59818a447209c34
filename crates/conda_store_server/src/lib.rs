//! The conda-store HTTP server: the REST API of the Python conda-store (v1, and the v2
//! environment list) under the configured `url_prefix`, with its JSON envelopes, status
//! codes, trailing-slash redirects, authentication (login cookie, bearer and basic
//! tokens), role-based authorization, signed artifact links and metrics.
//!
//! Handlers are thin: they authorize, call a use-case of `conda_store_service`, and
//! wrap the answer. Failures go through [`error::ApiError`], the one error → envelope
//! mapping.

pub mod admin;
pub mod api;
pub mod artifacts;
pub mod auth;
pub mod envelope;
pub mod error;
pub mod log_stream;
pub mod oauth;
pub mod openapi;
pub mod params;
pub mod redirect;
mod routes;
pub mod signing;

use auth::Authentication;
use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use conda_store_build::Engine;
use conda_store_service::Service;
use std::sync::Arc;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

/// What every request handler can reach.
pub struct AppState {
    /// The use-cases.
    pub service: Service,
    /// Authentication settings and the token signer.
    pub authentication: Authentication,
    /// Solves for the remote-solve route.
    pub engine: Arc<Engine>,
    /// The version reported by `GET /api/v1/`.
    pub version: &'static str,
}

impl AppState {
    /// The URL prefix without a trailing slash (`""` for the root).
    pub fn prefix(&self) -> &str {
        self.service.settings().url_prefix.trim_end_matches('/')
    }
}

/// Routes declared without a trailing slash, as in the original (requests with a
/// slash are redirected to these; every other route has the slash).
const SLASHLESS_ROUTES: &[&str] = &[
    "/api/v1/namespace/{}/metadata",
    "/api/v1/namespace/{}/roles",
    "/api/v1/namespace/{}/role",
    "/api/v1/environment/{}/{}/conda-lock.yml",
    "/api/v1/environment/{}/{}/conda-lock.yaml",
    "/api/v1/build/{}/conda-lock.yml",
    "/api/v1/build/{}/conda-lock.yaml",
    "/metrics",
];

/// Builds the application, with every route under the settings' `url_prefix`.
/// With `enable_ui` off, the web UI's routes are left out.
pub fn router(state: AppState) -> Router {
    let prefix = state.prefix().to_owned();
    let settings = state.service.settings();
    let enable_ui = settings.enable_ui;
    let served = |route: &api::Route| {
        let path = route.operation.path;
        if route.web_ui {
            enable_ui
        } else if path.starts_with("/api/") {
            settings.enable_api
        } else if path == "/metrics" {
            settings.enable_metrics
        } else {
            true
        }
    };
    let cors = cors_layer(settings);
    let mut routes = Router::new();
    for route in api::routes().into_iter().filter(|route| served(route)) {
        let handler = if route.operation.body.is_some() {
            route
                .handler
                .route_layer(axum::middleware::from_fn(require_json_body))
        } else {
            route.handler
        };
        routes = routes.route(route.operation.path, handler);
    }
    let state = Arc::new(state);
    let routes = routes.fallback(redirect_slashes).with_state(state.clone());
    let application = if prefix.is_empty() {
        routes
    } else if enable_ui {
        // `/` outside the prefix, and `{prefix}/`, go to the UI too, as in the original.
        let redirect = axum::routing::get(routes::ui::redirect);
        Router::new()
            .route("/", redirect.clone())
            .route(&format!("{prefix}/"), redirect)
            .with_state(state)
            .nest(&prefix, routes)
    } else {
        Router::new().nest(&prefix, routes)
    };
    match cors {
        Some(cors) => application.layer(cors),
        None => application,
    }
}

/// FastAPI's `redirect_slashes`: 307 to the form of the path that has a route, else 404.
/// One difference: the official client appends its `/` to the whole URL, query included
/// (`environment?status=COMPLETED/`), so a slash that ends the query of a slash-less
/// path moves to the path, where the client meant it (docs/COMPATIBILITY.md).
async fn redirect_slashes(request: Request) -> Response {
    let uri = request.uri();
    let path = uri.path();
    let mut query = uri
        .query()
        .map(|query| format!("?{query}"))
        .unwrap_or_default();
    // The nested router sees the path without the prefix; the original URI has it.
    let original = request
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| path.to_owned(), |original| original.path().to_owned());
    let prefix_length = original.len().saturating_sub(path.len());
    let prefix = &original[..prefix_length];
    let target = if let Some(stripped) = path.strip_suffix('/') {
        is_slashless_route(stripped).then(|| stripped.to_owned())
    } else if is_slashless_route(path) {
        None
    } else {
        if query.ends_with('/') {
            query.pop();
        }
        Some(format!("{path}/"))
    };
    // `//host/` or `/\host/` sent back as a path would send the browser off-site.
    let location = target
        .and_then(|target| redirect::local_location(prefix, &format!("{prefix}{target}{query}")));
    match location {
        Some(location) => Redirect::temporary(&location).into_response(),
        None => error::ApiError::not_found("Not Found").into_response(),
    }
}

fn is_slashless_route(path: &str) -> bool {
    SLASHLESS_ROUTES.iter().any(|template| {
        let expected: Vec<&str> = template.split('/').collect();
        let actual: Vec<&str> = path.split('/').collect();
        expected.len() == actual.len()
            && expected
                .iter()
                .zip(&actual)
                .all(|(want, got)| *want == "{}" && !got.is_empty() || want == got)
    })
}

/// Refuses (415) a request to a route taking a JSON body whose body is not declared
/// JSON: a cross-site HTML form can post `text/plain` or form data without a CORS
/// preflight (login CSRF), but not `application/json`. A body known to be empty needs
/// no type; "known" is the body's own size (HTTP/2 sends a body of unknown length with
/// neither `Content-Length` nor `Transfer-Encoding`).
async fn require_json_body(request: Request, next: Next) -> Response {
    use axum::body::HttpBody;
    let content_type = request.headers().get(header::CONTENT_TYPE);
    let declared_json = content_type
        .and_then(|value| value.to_str().ok())
        .is_some_and(is_json_media_type);
    let empty = request.body().size_hint().exact() == Some(0);
    if declared_json || (empty && content_type.is_none()) {
        next.run(request).await
    } else {
        error::ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the request body must be JSON, sent with Content-Type: application/json",
        )
        .into_response()
    }
}

/// `application/json`, with any parameters (`; charset=utf-8`); nothing else, not even
/// `+json` types, some of which browsers send to other sites themselves.
fn is_json_media_type(value: &str) -> bool {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .eq_ignore_ascii_case("application/json")
}

/// CORS from `cors_allow_origins`: none when it is empty (the default); else only the
/// listed origins get the CORS headers, with credentials, any method and the headers
/// they ask for (docs/SECURITY.md).
fn cors_layer(settings: &conda_store_core::settings::Settings) -> Option<CorsLayer> {
    if settings.cors_allow_origins.is_empty() {
        return None;
    }
    let settings = settings.clone();
    let allowed = AllowOrigin::predicate(move |origin: &HeaderValue, _| {
        origin
            .to_str()
            .is_ok_and(|origin| settings.is_cors_origin_allowed(origin))
    });
    Some(
        CorsLayer::new()
            .allow_origin(allowed)
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
                Method::OPTIONS,
            ])
            .allow_headers(AllowHeaders::mirror_request())
            .max_age(std::time::Duration::from_secs(600)),
    )
}
