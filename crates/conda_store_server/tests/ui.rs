//! The embedded conda-store UI: the app's page with its runtime configuration at
//! `{prefix}/ui/`, the vendored files at `{prefix}/static/conda-store-ui/`, the
//! redirects to it, the 404 of its `not-found` page, and `enable_ui = false`.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{TestServer, client, test_settings};
use conda_store_core::settings::Settings;
use conda_store_test_support::{Backend, TestDatabase};
use serde_json::{Value, json};

/// A server on SQLite with `settings`.
async fn server(settings: Settings) -> TestServer {
    TestServer::start(TestDatabase::create(Backend::Sqlite).await, settings).await
}

/// A vendored file of the UI, as `scripts/update-ui.sh` left it.
fn vendored(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("ui")
            .join(name),
    )
    .unwrap()
}

/// The `window.condaStoreConfig` object of the app's page.
fn configuration(page: &str) -> Value {
    let start = page.find("window.condaStoreConfig = ").unwrap() + 26;
    let end = start + page[start..].find("};").unwrap() + 1;
    serde_json::from_str(&page[start..end]).unwrap()
}

/// GET `url` without following redirects: status, content type, body.
async fn fetch(url: &str) -> (u16, String, Vec<u8>) {
    let response = client().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

/// The status of GET `url` after following redirects (the slash redirects of unknown
/// paths, for one).
async fn final_status(url: &str) -> u16 {
    let response = reqwest::Client::new().get(url).send().await.unwrap();
    response.status().as_u16()
}

/// The `Location` of a 307 answer to GET `url`.
async fn redirect_target(url: &str) -> String {
    let response = client().get(url).send().await.unwrap();
    assert_eq!(response.status(), 307, "{url}");
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// Everything the UI needs, under `prefix` (`""` for the root).
async fn check_ui(prefix: &str) {
    let server = server(test_settings(if prefix.is_empty() { "/" } else { prefix })).await;
    let origin = &server.origin;
    let (status, content_type, body) = fetch(&server.url("/ui/")).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = String::from_utf8(body).unwrap();
    let port = origin.rsplit(':').next().unwrap();
    assert_eq!(
        configuration(&page),
        json!({
            "REACT_APP_CONTEXT": "single-page-app",
            "REACT_APP_API_URL": format!("http://127.0.0.1:{port}{prefix}/"),
            "REACT_APP_AUTH_METHOD": "cookie",
            "REACT_APP_AUTH_TOKEN": "",
            "REACT_APP_LOGIN_PAGE_URL": format!("http://127.0.0.1:{port}{prefix}/login/?next="),
            "REACT_APP_LOGOUT_PAGE_URL": format!("http://127.0.0.1:{port}{prefix}/logout/?next=/"),
            "REACT_APP_STYLE_TYPE": "green-accent",
            "REACT_APP_SHOW_AUTH_BUTTON": "true",
            "REACT_APP_URL_BASENAME": format!("{prefix}/ui"),
        })
    );
    assert!(page.contains(&format!(
        r#"<script defer src="{prefix}/static/conda-store-ui/main.js"></script>"#
    )));
    assert!(page.contains(&format!(
        r#"<link href="{prefix}/static/conda-store-ui/main.css" rel="stylesheet">"#
    )));

    // A deep link is the same page; the app's not-found page is a 404.
    let (status, _, deep) = fetch(&server.url("/ui/team/env")).await;
    assert_eq!((status, deep), (200, page.clone().into_bytes()));
    for path in ["/ui/not-found", "/ui/team/not-found"] {
        let (status, content_type, body) = fetch(&server.url(path)).await;
        assert_eq!(status, 404, "{path}");
        assert!(content_type.starts_with("text/html"));
        assert_eq!(body, page.clone().into_bytes());
    }

    // The vendored files, byte for byte, with their types and a cache header.
    for (name, expected_type) in [
        ("main.js", "text/javascript; charset=utf-8"),
        ("main.css", "text/css; charset=utf-8"),
    ] {
        let url = server.url(&format!("/static/conda-store-ui/{name}"));
        let response = client().get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{name}");
        assert_eq!(response.headers()["content-type"], expected_type);
        assert_eq!(response.headers()["cache-control"], "public, max-age=3600");
        let tag = response.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(response.bytes().await.unwrap().to_vec(), vendored(name));
        let again = client()
            .get(&url)
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{name}");
    }
    let (status, _, _) = fetch(&server.url("/static/conda-store-ui/missing.js")).await;
    assert_eq!(status, 404);

    // `/`, the prefix and `/ui` lead to the app.
    let ui = format!("{prefix}/ui/");
    assert_eq!(redirect_target(&format!("{origin}/")).await, ui);
    if !prefix.is_empty() {
        assert_eq!(redirect_target(&server.base).await, ui);
        assert_eq!(redirect_target(&format!("{}/", server.base)).await, ui);
    }
    assert_eq!(redirect_target(&server.url("/ui")).await, ui);

    // Not an API operation: the OpenAPI document leaves the UI out.
    let (_, _, document) = fetch(&server.url("/openapi.json")).await;
    let document: Value = serde_json::from_slice(&document).unwrap();
    let paths = document["paths"].as_object().unwrap();
    assert!(
        paths
            .keys()
            .all(|path| path != "/" && !path.starts_with("/ui") && !path.starts_with("/static")),
        "{:?}",
        paths.keys()
    );
}

#[tokio::test]
async fn the_ui_is_served_at_the_root() {
    check_ui("").await;
}

#[tokio::test]
async fn the_ui_is_served_under_a_prefix() {
    check_ui("/conda-store").await;
}

#[tokio::test]
async fn the_page_names_the_origin_the_proxy_was_asked_for() {
    let behind_proxy = Settings {
        behind_proxy: true,
        ..test_settings("/conda-store")
    };
    let server = server(behind_proxy).await;
    let response = client()
        .get(server.url("/ui/"))
        .header("host", "conda.example.org")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let page = response.text().await.unwrap();
    assert_eq!(
        configuration(&page)["REACT_APP_API_URL"],
        "https://conda.example.org/conda-store/"
    );
    // Without `behind_proxy` the forwarded scheme is not trusted.
    let server = self::server(test_settings("/")).await;
    let response = client()
        .get(server.url("/ui/"))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    let page = response.text().await.unwrap();
    let api = configuration(&page)["REACT_APP_API_URL"].clone();
    assert!(
        api.as_str().unwrap().starts_with("http://127.0.0.1:"),
        "{api}"
    );
}

#[tokio::test]
async fn enable_ui_false_removes_the_ui() {
    for prefix in ["/", "/conda-store"] {
        let settings = Settings {
            enable_ui: false,
            ..test_settings(prefix)
        };
        let server = server(settings).await;
        for path in [
            "/ui/",
            "/ui/team/env",
            "/static/conda-store-ui/main.js",
            "/static/conda-store-ui/main.css",
        ] {
            assert_eq!(
                final_status(&server.url(path)).await,
                404,
                "{prefix} {path}"
            );
        }
        let root = format!("{}/", server.origin);
        assert_eq!(final_status(&root).await, 404, "{prefix} /");
        // The API is still there.
        let (status, _, _) = fetch(&server.url("/api/v1/")).await;
        assert_eq!(status, 200);
    }
}

#[tokio::test]
async fn the_login_button_brings_the_user_back_to_the_page() {
    let server = server(test_settings("/conda-store")).await;
    // The UI sends `window.location.href`: a URL on this server keeps its path.
    let here = server.url("/ui/team/env");
    let login = |next: String| {
        let url = server.url("/login/");
        async move {
            let response = client()
                .get(url)
                .query(&[("next", next)])
                .send()
                .await
                .unwrap();
            response.text().await.unwrap()
        }
    };
    let page = login(here).await;
    assert!(
        page.contains("/conda-store/login/?next=%2Fconda-store%2Fui%2Fteam%2Fenv"),
        "{page}"
    );
    // Another origin is not followed: back to the server's root.
    let page = login("http://elsewhere.example/conda-store/ui/".to_owned()).await;
    assert!(
        page.contains("/conda-store/login/?next=%2Fconda-store%2F\""),
        "{page}"
    );
}
