//! OAuth2 login against a small provider on 127.0.0.1: the generic configuration and
//! the GitHub and JupyterHub presets, state checking, and provider failures.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use axum::Router;
use axum::extract::Form;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::{TestServer, client, test_settings};
use conda_store_core::settings::Settings;
use conda_store_test_support::{Backend, TestDatabase};
use serde_json::{Value, json};
use std::collections::HashMap;

/// A provider that gives access token `abc` for code `good` and client secret
/// `s3cret`, and says the user is `octocat`.
async fn provider() -> String {
    async fn token(Form(form): Form<HashMap<String, String>>) -> impl IntoResponse {
        let good = form.get("code").map(String::as_str) == Some("good")
            && form.get("client_secret").map(String::as_str) == Some("s3cret")
            && form.get("grant_type").map(String::as_str) == Some("authorization_code");
        if good {
            (
                StatusCode::OK,
                axum::Json(json!({"access_token": "abc", "token_type": "bearer"})),
            )
        } else {
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "bad_verification_code"})),
            )
        }
    }
    async fn user(headers: HeaderMap) -> impl IntoResponse {
        if headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            == Some("Bearer abc")
        {
            (
                StatusCode::OK,
                axum::Json(
                    json!({"login": "octocat", "name": "octocat", "preferred_username": "octocat"}),
                ),
            )
        } else {
            (StatusCode::UNAUTHORIZED, axum::Json(json!({})))
        }
    }
    let app = Router::new()
        .route("/token", post(token))
        .route("/login/oauth/access_token", post(token))
        .route("/hub/api/oauth2/token", post(token))
        .route("/user", get(user))
        .route("/hub/api/user", get(user));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
}

/// Logs in through `server` and the provider with `code`; returns the callback's
/// status and the login cookie it set, if any.
async fn log_in(server: &TestServer, code: &str, tamper_state: bool) -> (u16, Option<String>) {
    let response = client()
        .get(server.url("/login/?next=/conda-store/ui/"))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 307);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).expect("url");
    let state_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(query["client_id"], "conda-store");
    assert_eq!(query["response_type"], "code");
    assert!(query["redirect_uri"].ends_with("/conda-store/oauth_callback/"));
    let mut state = query["state"].clone();
    if tamper_state {
        state.push('0');
    }
    let response = client()
        .get(server.url(&format!("/oauth_callback/?code={code}&state={state}")))
        .header("cookie", state_cookie)
        .send()
        .await
        .expect("callback");
    let status = response.status().as_u16();
    let cookie = response.headers().get("set-cookie").map(|value| {
        value
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    });
    if status == 303 {
        assert_eq!(response.headers()["location"], "/conda-store/ui/");
    }
    (status, cookie)
}

async fn who(server: &TestServer, cookie: &str) -> Value {
    client()
        .get(server.url("/api/v1/permission/"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("get")
        .json::<Value>()
        .await
        .expect("json")["data"]
        .clone()
}

fn oauth_settings(class: &str, provider: &str) -> Settings {
    Settings {
        authentication_class: class.to_owned(),
        client_id: Some("conda-store".to_owned()),
        client_secret: Some("s3cret".to_owned()),
        authorize_url: Some(format!("{provider}/authorize")),
        access_token_url: Some(format!("{provider}/token")),
        user_data_url: Some(format!("{provider}/user")),
        user_data_key: Some("preferred_username".to_owned()),
        github_url: provider.to_owned(),
        github_api: provider.to_owned(),
        jupyterhub_url: Some(provider.to_owned()),
        ..test_settings("/conda-store")
    }
}

#[tokio::test]
async fn oauth_login_through_each_provider_kind() {
    let provider = provider().await;
    for class in [
        "GenericOAuthAuthentication",
        "GithubOAuthAuthentication",
        "JupyterHubOAuthAuthentication",
    ] {
        let server = TestServer::start(
            TestDatabase::create(Backend::Sqlite).await,
            oauth_settings(class, &provider),
        )
        .await;
        let (status, cookie) = log_in(&server, "good", false).await;
        assert_eq!(status, 303, "{class}");
        let cookie = cookie.expect("login cookie");
        assert!(cookie.starts_with("conda-store-auth="));
        let data = who(&server, &cookie).await;
        assert_eq!(data["authenticated"], true, "{class}");
        assert_eq!(data["primary_namespace"], "octocat");

        let (status, cookie) = log_in(&server, "good", true).await;
        assert_eq!(
            status, 401,
            "{class}: a state that differs from the cookie's"
        );
        assert!(cookie.is_none());
        let (status, _) = log_in(&server, "stolen", false).await;
        assert_eq!(status, 502, "{class}: the provider refuses the code");
        // Password logins are not offered.
        let response = client()
            .post(server.url("/login/"))
            .json(&json!({"username": "alice", "password": "password"}))
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 405);
    }
}

#[tokio::test]
async fn a_callback_without_the_state_cookie_is_refused() {
    let provider = provider().await;
    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        oauth_settings("GenericOAuthAuthentication", &provider),
    )
    .await;
    let response = client()
        .get(server.url("/oauth_callback/?code=good&state=abc"))
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), 401);
}
