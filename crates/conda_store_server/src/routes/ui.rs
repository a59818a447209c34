//! The official conda-store UI (npm `@conda-store/conda-store-ui`, BSD-3-Clause),
//! embedded in the binary: the single-page app's shell at `{prefix}/ui/` with the
//! runtime configuration the original's page sets, its files at
//! `{prefix}/static/conda-store-ui/`, and the redirects of `/` and `{prefix}` to it.
//! `scripts/update-ui.sh` refreshes the vendored files in `ui/` of this crate.

use super::login::request_origin;
use crate::AppState;
use crate::admin::html::{escape, script_value};
use crate::api::{Route, get, route};
use crate::error::ApiError;
use crate::openapi::Answer;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::sync::Arc;

/// The vendored UI's version (`ui/VERSION`, written by `scripts/update-ui.sh`).
pub const UI_VERSION: &str = include_str!("../../ui/VERSION");

/// How long browsers may reuse a file before asking again (its ETag answers 304 then).
const CACHE_CONTROL: &str = "public, max-age=3600";

/// One embedded file of the UI.
struct Asset {
    /// Its name under `static/conda-store-ui/`.
    name: &'static str,
    /// Its `Content-Type`.
    content_type: &'static str,
    /// Its bytes, as vendored.
    bytes: &'static [u8],
}

/// Every file served under `static/conda-store-ui/`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "main.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../ui/main.js"),
    },
    Asset {
        name: "main.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../ui/main.css"),
    },
    Asset {
        name: "main.css.map",
        content_type: "application/json",
        bytes: include_bytes!("../../ui/main.css.map"),
    },
    Asset {
        name: "main.js.LICENSE.txt",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../../ui/main.js.LICENSE.txt"),
    },
];

/// The UI's routes: served only with `enable_ui`, and not part of the OpenAPI document.
pub fn routes() -> Vec<Route> {
    [
        route(
            get(
                "/",
                "redirect_root_to_ui",
                "Redirect to the UI",
                Answer::Redirect,
            ),
            redirect,
        ),
        route(
            get("/ui/", "get_conda_store_ui", "The UI", Answer::Html),
            shell,
        ),
        route(
            get(
                "/ui/{*path}",
                "get_conda_store_ui_path",
                "The UI, at one of its pages",
                Answer::Html,
            ),
            shell,
        ),
        route(
            get(
                "/static/conda-store-ui/{*file}",
                "get_conda_store_ui_file",
                "A file of the UI",
                Answer::File,
            ),
            file,
        ),
    ]
    .into_iter()
    .map(|route| route.hidden().web_ui())
    .collect()
}

/// `GET /` and `GET {prefix}`: 307 to `{prefix}/ui/`.
pub async fn redirect(State(state): State<Arc<AppState>>) -> Redirect {
    Redirect::temporary(&format!("{}/ui/", state.prefix()))
}

/// `GET /ui/` and `GET /ui/{*path}`: the app's page, 404 for its `not-found` page.
async fn shell(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let status = if uri.path().ends_with("not-found") {
        StatusCode::NOT_FOUND
    } else {
        StatusCode::OK
    };
    let origin = request_origin(&state, &headers);
    (status, Html(shell_page(state.prefix(), &origin))).into_response()
}

/// The page of the single-page app under `prefix` (`""` for the root), as the original's
/// `conda-store-ui.html`: the runtime configuration, then the bundle, which adds its own
/// `<div id="app">` to the body.
pub fn shell_page(prefix: &str, origin: &str) -> String {
    let configuration = serde_json::json!({
        "REACT_APP_CONTEXT": "single-page-app",
        "REACT_APP_API_URL": format!("{origin}{prefix}/"),
        "REACT_APP_AUTH_METHOD": "cookie",
        "REACT_APP_AUTH_TOKEN": "",
        "REACT_APP_LOGIN_PAGE_URL": format!("{origin}{prefix}/login/?next="),
        "REACT_APP_LOGOUT_PAGE_URL": format!("{origin}{prefix}/logout/?next=/"),
        "REACT_APP_STYLE_TYPE": "green-accent",
        "REACT_APP_SHOW_AUTH_BUTTON": "true",
        "REACT_APP_URL_BASENAME": format!("{prefix}/ui"),
    });
    let configuration = script_value(&configuration);
    let assets = escape(&format!("{prefix}/static/conda-store-ui"));
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>conda-store</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<script>
window.condaStoreConfig = {configuration};
</script>
<script defer src="{assets}/main.js"></script>
<link href="{assets}/main.css" rel="stylesheet">
</head>
<body>
</body>
</html>
"#
    )
}

/// `GET /static/conda-store-ui/{*file}`: an embedded file, with its ETag (the UI's
/// version) answering 304 to a browser that has it.
async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return ApiError::not_found("Not Found").into_response();
    };
    let tag = format!("\"conda-store-ui-{}\"", UI_VERSION.trim());
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|each| each.trim() == tag));
    let response_headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        ),
        (
            header::ETAG,
            HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"\"")),
        ),
    ];
    if cached {
        (StatusCode::NOT_MODIFIED, response_headers).into_response()
    } else {
        (response_headers, asset.bytes).into_response()
    }
}
