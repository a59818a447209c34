//! Issue 9, second look through the real server: a token cannot take another user's
//! primary namespace (an identity that role mappings granted later would reach), nor
//! keep a revoked share; the trailing-slash redirect cannot send a browser off-site;
//! namespace settings cannot redirect or widen the channel allow-list; the admin list
//! takes any page number; names differing by case are different namespaces; JSON
//! routes refuse untyped HTTP/2 bodies; users named like shared namespaces do not own
//! them under `{username}` login bindings.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{TestServer, call, client, test_settings};
use conda_store_core::settings::Settings;
use conda_store_test_support::{Backend, TestDatabase, backends};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `POST /api/v1/token/` with `body` as `token`.
async fn mint(server: &TestServer, token: &str, body: Value) -> (u16, Value) {
    call(
        server,
        Some(token),
        reqwest::Method::POST,
        "/api/v1/token/",
        Some(body),
    )
    .await
}

/// Alice (`alice/*: admin`) asks for a token whose primary namespace is carol's while
/// nothing is shared with carol yet, so its effective permissions are within hers; the
/// namespace bob then shares with carol (v2) would reach that token. Refused (403);
/// her own primary namespace, and an admin of namespace `carol`, still mint.
#[tokio::test]
async fn tokens_cannot_take_another_primary_namespace() {
    for backend in backends() {
        let settings = Settings {
            role_mappings_version: 2,
            ..test_settings("/")
        };
        let server = TestServer::start(TestDatabase::create(backend).await, settings).await;
        let admin = server.admin_token();
        for namespace in ["alice", "bob", "carol"] {
            let path = format!("/api/v1/namespace/{namespace}/");
            let (status, body) =
                call(&server, Some(&admin), reqwest::Method::POST, &path, None).await;
            assert_eq!(status, 200, "{body}");
        }
        let alice = server.token("alice", &[("alice/*", "admin")]);
        let (status, body) = mint(&server, &alice, json!({"primary_namespace": "carol"})).await;
        assert_eq!(status, 403, "{backend:?}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("\"alice\"") && message.contains("\"carol\""),
            "{message}"
        );

        // Benign neighbours: her own primary namespace, implicit or named; a token for
        // `carol` by whoever administers namespace `carol` (or everything).
        for request in [json!({}), json!({"primary_namespace": "alice"})] {
            let (status, body) = mint(&server, &alice, request).await;
            assert_eq!(status, 200, "{body}");
        }
        let carol_admin = server.token("someone", &[("carol/*", "admin")]);
        for token in [&carol_admin, &admin] {
            let (status, body) = mint(&server, token, json!({"primary_namespace": "carol"})).await;
            assert_eq!(status, 200, "{body}");
        }
        // What the refused token would have gained: bob shares his namespace with carol.
        let bob = server.token("bob", &[("bob/*", "admin")]);
        let (status, body) = call(
            &server,
            Some(&bob),
            reqwest::Method::POST,
            "/api/v1/namespace/bob/role",
            Some(json!({"other_namespace": "carol", "role": "developer"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, _) = mint(&server, &alice, json!({"primary_namespace": "carol"})).await;
        assert_eq!(status, 403);
    }
}

/// One raw HTTP/1.1 `GET target` (sent as is: no client normalizes backslashes or
/// double slashes); the status line and the `Location` header.
async fn raw_get(server: &TestServer, target: &str) -> (String, Option<String>) {
    let address = server.origin.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let request = format!("GET {target} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.lines().next().unwrap_or_default().to_owned();
    let location = answer
        .lines()
        .take_while(|line| !line.is_empty())
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("location")
                .then(|| value.trim().to_owned())
        });
    (status, location)
}

/// `GET //evil.example` was answered `307 Location: //evil.example/` (and
/// `/\evil.example` with `/\evil.example/`), which a browser follows off-site. Now a
/// 404; the trailing-slash redirect of real paths still works, with and without prefix.
#[tokio::test]
async fn trailing_slash_redirects_stay_on_this_server() {
    for prefix in ["/", "/conda-store"] {
        let server = TestServer::start(
            TestDatabase::create(Backend::Sqlite).await,
            test_settings(prefix),
        )
        .await;
        let base = prefix.trim_end_matches('/');
        for attack in [
            "//evil.example",
            "//evil.example/x?a=b",
            "/\\evil.example",
            "/\\/evil.example",
        ] {
            let target = if base.is_empty() {
                attack.to_owned()
            } else {
                // Under a prefix the path stays on this server: still no off-site hop.
                format!("{base}{attack}")
            };
            let (status, location) = raw_get(&server, &target).await;
            if let Some(location) = &location {
                assert!(
                    location.starts_with('/')
                        && !location.starts_with("//")
                        && !location.starts_with("/\\")
                        && !location.contains('\\'),
                    "{target:?} -> {status} {location:?}"
                );
            }
            if base.is_empty() {
                assert!(
                    status.contains(" 404 "),
                    "{target:?} -> {status} {location:?}"
                );
            }
        }
        let (status, location) = raw_get(&server, &format!("{base}/api/v1/namespace")).await;
        assert!(status.contains(" 307 "), "{status}");
        assert_eq!(
            location.as_deref(),
            Some(&*format!("{base}/api/v1/namespace/"))
        );
        let (status, location) = raw_get(
            &server,
            &format!("{base}/api/v1/environment?status=COMPLETED/"),
        )
        .await;
        assert!(status.contains(" 307 "), "{status}");
        assert_eq!(
            location.as_deref(),
            Some(&*format!("{base}/api/v1/environment/?status=COMPLETED"))
        );
    }
}

/// `PUT /api/v1/setting/{path}` as `token`; the status and the message.
async fn put_settings(server: &TestServer, token: &str, path: &str, body: Value) -> (u16, String) {
    let (status, body) = call(
        server,
        Some(token),
        reqwest::Method::PUT,
        &format!("/api/v1/setting/{path}"),
        Some(body),
    )
    .await;
    (
        status,
        body["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// With `conda_allowed_channels = ["conda-forge"]`, a namespace admin set the
/// namespace's `conda_channel_alias` to `http://127.0.0.1:9/` and the build fetched
/// "conda-forge" from there. The alias is now global-only. And the allow-list a
/// namespace (or environment) may narrow is the one in effect above it, runtime global
/// settings included, not only the configuration file's.
#[tokio::test]
async fn namespace_settings_cannot_widen_or_redirect_the_channel_allow_list() {
    let settings = Settings {
        conda_allowed_channels: vec!["conda-forge".to_owned()],
        ..test_settings("/")
    };
    let server = TestServer::start(TestDatabase::create(Backend::Sqlite).await, settings).await;
    let admin = server.admin_token();
    let path = "/api/v1/namespace/alice/";
    call(&server, Some(&admin), reqwest::Method::POST, path, None).await;
    let alice = server.token("alice", &[("alice/*", "admin")]);
    let (status, message) = put_settings(
        &server,
        &alice,
        "alice/",
        json!({"conda_channel_alias": "http://127.0.0.1:9/"}),
    )
    .await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("only be set globally"), "{message}");
    let (status, message) = put_settings(
        &server,
        &alice,
        "alice/env1/",
        json!({"conda_channel_alias": "http://127.0.0.1:9/"}),
    )
    .await;
    assert_eq!(status, 400, "{message}");
    // Benign: the operator changes the alias globally; alice narrows her list.
    let (status, message) = put_settings(
        &server,
        &admin,
        "",
        json!({"conda_channel_alias": "https://mirror.example/conda"}),
    )
    .await;
    assert_eq!(status, 200, "{message}");
    let (status, message) = put_settings(
        &server,
        &alice,
        "alice/",
        json!({"conda_allowed_channels": ["conda-forge"]}),
    )
    .await;
    assert_eq!(status, 200, "{message}");

    // The operator's runtime allow-list bounds namespaces even when the file has none.
    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        test_settings("/"),
    )
    .await;
    let admin = server.admin_token();
    call(&server, Some(&admin), reqwest::Method::POST, path, None).await;
    let (status, message) = put_settings(
        &server,
        &admin,
        "",
        json!({"conda_allowed_channels": ["conda-forge", "bioconda"]}),
    )
    .await;
    assert_eq!(status, 200, "{message}");
    let (status, message) = put_settings(
        &server,
        &alice,
        "alice/",
        json!({"conda_allowed_channels": ["https://evil.example/channel"]}),
    )
    .await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("evil.example"), "{message}");
    let (status, message) = put_settings(
        &server,
        &alice,
        "alice/",
        json!({"conda_allowed_channels": ["conda-forge"]}),
    )
    .await;
    assert_eq!(status, 200, "{message}");
    // An environment may not take back what its namespace narrowed away.
    let (status, message) = put_settings(
        &server,
        &alice,
        "alice/env1/",
        json!({"conda_allowed_channels": ["bioconda"]}),
    )
    .await;
    assert_eq!(status, 400, "{message}");
    let (status, message) = put_settings(
        &server,
        &alice,
        "alice/env1/",
        json!({"conda_allowed_channels": ["conda-forge"]}),
    )
    .await;
    assert_eq!(status, 200, "{message}");
}

/// `GET /admin/?page=18446744073709551615` overflowed `page * 25` in the pager and
/// the panic dropped the connection (debug builds; a wrong "next" link in release).
/// Now the page renders, empty; page 1 still lists the environment.
#[tokio::test]
async fn the_admin_list_takes_any_page_number() {
    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        test_settings("/"),
    )
    .await;
    let admin = server.admin_token();
    server.submit(&admin, "team", "listed", &["python"]).await;
    for (page, listed) in [("18446744073709551615", false), ("1", true)] {
        let response = client()
            .get(server.url(&format!("/admin/?page={page}")))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200, "page {page}");
        let text = response.text().await.unwrap();
        assert_eq!(text.contains(">listed<"), listed, "page {page}: {text}");
    }
}

/// Names differ by case only: `ALICE/*: admin` must not see, change or delete
/// namespace `alice`. SQLite's LIKE ignored ASCII case, so the visibility filters
/// listed alice's environments to `ALICE` (fixed: `case_sensitive_like`); MariaDB's
/// default collation made `ALICE` find, change and delete namespace `alice` while the
/// rights were checked for `ALICE` (fixed: migration 0004, a binary collation).
#[tokio::test]
async fn names_differing_by_case_are_different_namespaces() {
    for backend in backends() {
        check_case_isolation(backend).await;
    }
}

/// Namespace `alice` (with environment `private`) against a token for `ALICE/*`.
async fn check_case_isolation(backend: Backend) {
    let server = TestServer::start(TestDatabase::create(backend).await, test_settings("/")).await;
    let admin = server.admin_token();
    server.submit(&admin, "alice", "private", &["python"]).await;
    let upper = server.token("ALICE", &[("ALICE/*", "admin")]);
    let requests = [
        (reqwest::Method::GET, "/api/v1/namespace/ALICE/", None),
        (
            reqwest::Method::GET,
            "/api/v1/environment/ALICE/private/",
            None,
        ),
        (
            reqwest::Method::PUT,
            "/api/v1/namespace/ALICE/metadata",
            Some(json!({"owner": "mallory"})),
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/environment/ALICE/private/",
            None,
        ),
        (reqwest::Method::DELETE, "/api/v1/namespace/ALICE/", None),
    ];
    let mut reached = Vec::new();
    for (method, path, body) in requests {
        let (status, body) = call(&server, Some(&upper), method.clone(), path, body).await;
        if status != 404 && status != 403 {
            reached.push(format!("{method} {path}: {status} {body}"));
        }
    }
    assert!(reached.is_empty(), "{backend:?}: {reached:#?}");
    let (status, body) = call(
        &server,
        Some(&upper),
        reqwest::Method::GET,
        "/api/v1/environment/",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!([]), "{backend:?}");
    let (status, body) = call(
        &server,
        Some(&admin),
        reqwest::Method::GET,
        "/api/v1/environment/alice/private/",
        None,
    )
    .await;
    assert_eq!(status, 200, "{backend:?}: {body}");
}

/// `POST path` over HTTP/2 (prior knowledge) with `body` streamed, so it carries
/// neither `Content-Length` nor `Content-Type`; the status.
async fn post_h2_without_headers(server: &TestServer, path: &str, body: &'static str) -> u16 {
    use http_body_util::{BodyExt, StreamBody};
    use hyper::body::{Bytes, Frame};
    let address = server.origin.trim_start_matches("http://").to_owned();
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .expect("connect");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("handshake");
    tokio::spawn(connection);
    let frames = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(Frame::data(
        Bytes::from_static(body.as_bytes()),
    ))]);
    let request = hyper::Request::post(server.url(path))
        .body(StreamBody::new(frames))
        .expect("request");
    assert!(request.headers().get("content-length").is_none());
    let response = sender.send_request(request).await.expect("send");
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    status
}

/// A JSON body over HTTP/2 with neither `Content-Type` nor `Content-Length` was
/// taken as "empty, needs no type" and logged in (login CSRF through the edge rule's
/// exemption). Now 415; the same body declared `application/json` still logs in.
#[tokio::test]
async fn json_routes_refuse_untyped_bodies_of_unknown_length() {
    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        test_settings("/"),
    )
    .await;
    let credentials = r#"{"username": "mallory", "password": "password"}"#;
    assert_eq!(
        post_h2_without_headers(&server, "/login/", credentials).await,
        415
    );
    assert_eq!(
        post_h2_without_headers(&server, "/api/v1/token/", "{}").await,
        415
    );
    let response = client()
        .post(server.url("/login/"))
        .header("content-type", "application/json")
        .body(credentials)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    // An empty body still needs no type (the official client's bodiless POSTs).
    let response = client()
        .post(server.url("/api/v1/token/"))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
}

/// `POST /login/` as `username` with the test password; the status and whether a
/// login cookie came back.
async fn password_login(server: &TestServer, username: &str) -> (u16, bool) {
    let response = client()
        .post(server.url("/login/"))
        .json(&json!({"username": username, "password": "password"}))
        .send()
        .await
        .expect("send");
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|value| value.to_str().unwrap_or_default().contains("Max-Age=86400"));
    (response.status().as_u16(), cookie)
}

/// With `login_role_bindings = {"{username}/*": ["admin"]}`, a user named `default`
/// (or `filesystem`) became admin of the namespace every anonymous and logged-in user
/// reads, and could replace its environments. Such names are refused (403, no cookie);
/// other users still log in, and without `{username}` the name is not reserved.
#[tokio::test]
async fn users_named_like_shared_namespaces_do_not_own_them() {
    let per_user = Settings {
        login_role_bindings: std::collections::BTreeMap::from([(
            "{username}/*".to_owned(),
            vec!["admin".to_owned()],
        )]),
        ..test_settings("/")
    };
    let server = TestServer::start(TestDatabase::create(Backend::Sqlite).await, per_user).await;
    for reserved in ["default", "filesystem"] {
        assert_eq!(
            password_login(&server, reserved).await,
            (403, false),
            "{reserved}"
        );
    }
    assert_eq!(password_login(&server, "alice").await, (200, true));
    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        test_settings("/"),
    )
    .await;
    assert_eq!(password_login(&server, "default").await, (200, true));
}

/// A token minted without `role_bindings` copied the caller's effective bindings,
/// including those a v2 share granted at that moment; revoking the share then left
/// them in the token until it expired. A minted token keeps the caller's own
/// bindings; shares reach it, and leave it, through its primary namespace.
#[tokio::test]
async fn revoking_a_share_reaches_tokens_minted_under_it() {
    for backend in backends() {
        let settings = Settings {
            role_mappings_version: 2,
            ..test_settings("/")
        };
        let server = TestServer::start(TestDatabase::create(backend).await, settings).await;
        let admin = server.admin_token();
        for namespace in ["alice", "bob"] {
            let path = format!("/api/v1/namespace/{namespace}/");
            call(&server, Some(&admin), reqwest::Method::POST, &path, None).await;
        }
        let share = json!({"other_namespace": "alice", "role": "developer"});
        let (status, body) = call(
            &server,
            Some(&admin),
            reqwest::Method::POST,
            "/api/v1/namespace/bob/role",
            Some(share.clone()),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let alice = server.token("alice", &[("alice/*", "admin")]);
        let (status, body) = mint(&server, &alice, json!({})).await;
        assert_eq!(status, 200, "{body}");
        let minted = body["data"]["token"].as_str().unwrap().to_owned();
        let roles = |token: String| {
            let server = &server;
            async move {
                let (_, body) = call(
                    server,
                    Some(&token),
                    reqwest::Method::GET,
                    "/api/v1/permission/",
                    None,
                )
                .await;
                body["data"]["entity_roles"].clone()
            }
        };
        assert_eq!(roles(minted.clone()).await["bob/*"], json!(["developer"]));
        let (status, body) = call(
            &server,
            Some(&admin),
            reqwest::Method::DELETE,
            "/api/v1/namespace/bob/role",
            Some(json!({"other_namespace": "alice"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(roles(minted).await["bob/*"], Value::Null, "{backend:?}");
        assert_eq!(roles(alice).await["alice/*"], json!(["admin"]));
    }
}
