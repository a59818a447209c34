//! Security regressions at the HTTP edge (issue 9), each sent through the real server on
//! 127.0.0.1 next to its benign neighbour: names that would leave the store, CORS,
//! JSON bodies without their media type (login CSRF), page sizes, the `_` of a LIKE,
//! and artifacts streamed from storage.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{TestServer, client, specification_yaml, test_settings};
use conda_store_core::settings::Settings;
use conda_store_test_support::{Backend, TestDatabase, backends};
use sea_orm::EntityTrait;
use serde_json::{Value, json};

async fn sqlite_server(settings: Settings) -> TestServer {
    TestServer::start(TestDatabase::create(Backend::Sqlite).await, settings).await
}

async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `POST /api/v1/specification/` as admin; the status and body.
async fn post_specification(server: &TestServer, namespace: &str, name: &str) -> (u16, Value) {
    let response = client()
        .post(server.url("/api/v1/specification/"))
        .bearer_auth(server.admin_token())
        .json(&json!({
            "namespace": namespace,
            "specification": specification_yaml(&server.channel.url(), name, &["hello"]),
        }))
        .send()
        .await
        .expect("post");
    answer(response).await
}

/// The status of `POST {path}` as admin, the path sent exactly as written.
async fn raw_post(server: &TestServer, path: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = server.origin.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        server.admin_token()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn names_that_would_leave_the_store_are_refused() {
    for backend in backends() {
        let server =
            TestServer::start(TestDatabase::create(backend).await, test_settings("/")).await;
        for namespace in ["..", ".", ".hidden"] {
            let (status, body) = post_specification(&server, namespace, "env").await;
            assert_eq!(status, 400, "{namespace}: {body}");
            assert!(
                body["message"].as_str().unwrap().contains(namespace),
                "{body}"
            );
        }
        for name in ["..", ".env"] {
            let (status, body) = post_specification(&server, "team", name).await;
            assert_eq!(status, 400, "{name}: {body}");
        }
        // The namespace route takes the name from the path: `%2E%2E` arrives as `..`
        // (sent raw: an HTTP client library would resolve it away).
        for encoded in ["%2E%2E", "%2E", ".hidden"] {
            let path = format!("/api/v1/namespace/{encoded}/");
            let status = raw_post(&server, &path).await;
            assert_eq!(status, 400, "{encoded}");
        }
        // Nothing was made next to the store.
        let entries: Vec<String> = std::fs::read_dir(&server.root)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            entries.iter().all(|name| !name.contains("env")),
            "{entries:?}"
        );

        // Neighbours: dots inside a name are fine, and the build completes in the store.
        let (status, body) = post_specification(&server, "team.a", "env.1").await;
        assert_eq!(status, 200, "{body}");
        server.worker.run_until_idle().await.expect("worker");
        assert!(server.root.join("store/team.a/envs/env.1").exists());
    }
}

#[tokio::test]
async fn cors_answers_only_configured_origins() {
    let server = sqlite_server(test_settings("/")).await;
    let evil = "http://evil.example";
    let response = client()
        .get(server.url("/api/v1/permission/"))
        .header("origin", evil)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert!(
        response
            .headers()
            .get("access-control-allow-credentials")
            .is_none()
    );

    let allowed = "https://ui.example:8443";
    let server = sqlite_server(Settings {
        cors_allow_origins: vec![allowed.to_owned()],
        ..test_settings("/")
    })
    .await;
    let preflight = |origin: &'static str| {
        client()
            .request(
                reqwest::Method::OPTIONS,
                server.url("/api/v1/specification/"),
            )
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let refused = preflight(evil).await.expect("options");
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let accepted = preflight(allowed).await.expect("options");
    assert_eq!(accepted.headers()["access-control-allow-origin"], allowed);
    assert_eq!(
        accepted.headers()["access-control-allow-credentials"],
        "true"
    );
    let response = client()
        .get(server.url("/api/v1/permission/"))
        .header("origin", allowed)
        .send()
        .await
        .expect("get");
    assert_eq!(response.headers()["access-control-allow-origin"], allowed);
    let response = client()
        .get(server.url("/api/v1/permission/"))
        .header("origin", evil)
        .send()
        .await
        .expect("get");
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn json_routes_refuse_bodies_a_cross_site_form_can_send() {
    let server = sqlite_server(test_settings("/")).await;
    let credentials = r#"{"username": "attacker", "password": "password"}"#;
    // Login CSRF: a form posting text/plain (or form data) must not log the browser in.
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/reports+json"),
        Some("application/jsonx"),
        None,
    ] {
        let mut request = client().post(server.url("/login/")).body(credentials);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.expect("post");
        assert_eq!(response.status(), 415, "{content_type:?}");
        assert!(response.headers().get("set-cookie").is_none());
        let (_, body) = answer(response).await;
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("application/json")
        );
    }
    let response = client()
        .post(server.url("/api/v1/specification/"))
        .bearer_auth(server.admin_token())
        .header("content-type", "text/plain")
        .body(
            json!({"namespace": "team", "specification": "name: x\ndependencies: [hello]\n"})
                .to_string(),
        )
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 415);

    // Neighbours: JSON with its type (and a charset) logs in; an empty body needs none.
    let response = client()
        .post(server.url("/login/"))
        .header("content-type", "application/json; charset=utf-8")
        .body(credentials)
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let response = client()
        .post(server.url("/api/v1/token/"))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_v2_environment_list_honours_max_page_size() {
    let server = sqlite_server(Settings {
        max_page_size: 2,
        ..test_settings("/")
    })
    .await;
    let admin = server.admin_token();
    for name in ["one", "two", "three"] {
        server.submit(&admin, "team", name, &["hello"]).await;
    }
    for (query, expected) in [("?limit=1000", 2), ("", 2), ("?limit=1", 1)] {
        let response = client()
            .get(server.url(&format!("/api/v2/environment/{query}")))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("get");
        let (status, body) = answer(response).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"].as_array().unwrap().len(), expected, "{query}");
        assert_eq!(body["count"], 3);
    }
}

#[tokio::test]
async fn deleting_a_namespace_keeps_the_settings_of_its_lookalikes() {
    for backend in backends() {
        let server =
            TestServer::start(TestDatabase::create(backend).await, test_settings("/")).await;
        let admin = server.admin_token();
        for namespace in ["a_b", "aXb"] {
            let response = client()
                .post(server.url(&format!("/api/v1/namespace/{namespace}/")))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("post");
            assert_eq!(response.status(), 200);
            for path in [format!("{namespace}/"), format!("{namespace}/env/")] {
                let response = client()
                    .put(server.url(&format!("/api/v1/setting/{path}")))
                    .bearer_auth(&admin)
                    .json(&json!({"conda_included_packages": [format!("kept-{path}")]}))
                    .send()
                    .await
                    .expect("put");
                assert_eq!(response.status(), 200, "{path}");
            }
        }
        let response = client()
            .delete(server.url("/api/v1/namespace/a_b/"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("delete");
        assert_eq!(response.status(), 200);
        server.worker.run_until_idle().await.expect("worker");
        let prefixes: Vec<String> = conda_store_db::entity::keyvaluestore::Entity::find()
            .all(server.service.database())
            .await
            .expect("rows")
            .into_iter()
            .map(|row| row.prefix)
            .collect();
        assert!(
            prefixes.iter().all(|prefix| !prefix.contains("a_b")),
            "the deleted namespace settings are gone: {prefixes:?}"
        );
        for path in ["aXb/", "aXb/env/"] {
            let response = client()
                .get(server.url(&format!("/api/v1/setting/{path}")))
                .bearer_auth(&admin)
                .send()
                .await
                .expect("get");
            let (_, body) = answer(response).await;
            assert_eq!(
                body["data"]["conda_included_packages"],
                json!([format!("kept-{path}")]),
                "{backend:?} {path}: {body}"
            );
        }
        let response = client()
            .get(server.url("/api/v1/namespace/a_b/"))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 404);
    }
}

#[tokio::test]
async fn artifacts_are_streamed_with_their_length() {
    let server = sqlite_server(test_settings("/")).await;
    let admin = server.admin_token();
    let build_id = server.submit(&admin, "team", "env", &["hello"]).await;
    server.worker.run_until_idle().await.expect("worker");
    let redirect = client()
        .get(server.url(&format!("/api/v1/build/{build_id}/archive/")))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("get");
    assert_eq!(redirect.status(), 307);
    let location = redirect.headers()["location"].to_str().unwrap().to_owned();
    let response = client()
        .get(format!("{}{location}", server.origin))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
    let length: usize = response.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let bytes = response.bytes().await.expect("bytes");
    assert_eq!(bytes.len(), length);
    assert_eq!(&bytes[..2], b"\x1f\x8b");
    // A link for another key with the same signature is refused.
    let forged = location.replace(".tar.gz", ".log");
    let response = client()
        .get(format!("{}{forged}", server.origin))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn namespace_settings_cannot_widen_the_allowed_channels() {
    let channel = "https://conda.example/allowed";
    let server = sqlite_server(Settings {
        conda_allowed_channels: vec![channel.to_owned()],
        ..test_settings("/")
    })
    .await;
    let admin = server.admin_token();
    let put = |path: &'static str, value: Value| {
        client()
            .put(server.url(path))
            .bearer_auth(&admin)
            .json(&json!({ "conda_allowed_channels": value }))
            .send()
    };
    for refused in [json!(["https://evil.example/channel"]), json!([])] {
        for path in ["/api/v1/setting/team/", "/api/v1/setting/team/env/"] {
            let (status, body) = answer(put(path, refused.clone()).await.expect("put")).await;
            assert_eq!(status, 400, "{path} {refused}: {body}");
            assert!(
                body["message"].as_str().unwrap().contains("only narrow"),
                "{body}"
            );
        }
    }
    let (status, body) = answer(
        put("/api/v1/setting/team/", json!([channel]))
            .await
            .expect("put"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn namespace_settings_cannot_make_a_private_channel_trusted() {
    let server = sqlite_server(Settings {
        refuse_private_addresses: true,
        conda_default_channels: vec!["https://conda.example/operator".to_owned()],
        ..test_settings("/")
    })
    .await;
    let admin = server.admin_token();
    let private = "http://127.0.0.1:9/private-channel";
    let response = client()
        .put(server.url("/api/v1/setting/team/"))
        .bearer_auth(&admin)
        .json(&json!({ "conda_default_channels": [private] }))
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), 200);
    let response = client()
        .post(server.url("/api/v1/specification/"))
        .bearer_auth(&admin)
        .json(&json!({
            "namespace": "team",
            "specification": specification_yaml(private, "env", &["hello"]),
        }))
        .send()
        .await
        .expect("post");
    let (status, body) = answer(response).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("refuse_private_addresses"),
        "{body}"
    );
}

#[tokio::test]
async fn pip_urls_follow_the_pypi_allow_list() {
    let server = sqlite_server(Settings {
        pypi_allowed_urls: vec!["https://pypi.example/simple".to_owned()],
        ..test_settings("/")
    })
    .await;
    let submit = |pip: &'static str| {
        let specification = format!(
            "name: env\nchannels: [{}]\ndependencies:\n  - hello\n  - pip:\n    - \"{pip}\"\n    - hello-pip\n",
            server.channel.url()
        );
        client()
            .post(server.url("/api/v1/specification/"))
            .bearer_auth(server.admin_token())
            .json(&json!({"namespace": "team", "specification": specification}))
            .send()
    };
    for refused in [
        "--index-url https://evil.example/simple",
        "--extra-index-url https://pypi.example/simple/../../evil",
        "--find-links https://evil.example/wheels/",
    ] {
        let (status, body) = answer(submit(refused).await.expect("post")).await;
        assert_eq!(status, 400, "{refused}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("pypi_allowed_urls"),
            "{body}"
        );
    }
    let (status, body) = answer(
        submit("--index-url https://pypi.example/simple/")
            .await
            .expect("post"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
