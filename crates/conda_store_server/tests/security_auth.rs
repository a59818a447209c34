//! Issue 9, through the real server: token minting cannot escalate through a primary
//! namespace's role mappings (hole 3); environment-scoped bindings do not act on their
//! namespace (hole 4); `next` cannot send a browser off-site nor into a script
//! (hole 5, password login and logout); the password and the `Secure` cookie flag
//! (item 9).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{TestServer, call, client, test_settings};
use conda_store_core::settings::Settings;
use conda_store_test_support::{Backend, TestDatabase, backends};
use serde_json::{Value, json};

/// `POST /api/v1/token/` with `body`, as `token` (or anonymously).
async fn mint(server: &TestServer, token: Option<&str>, body: Value) -> (u16, Value) {
    call(
        server,
        token,
        reqwest::Method::POST,
        "/api/v1/token/",
        Some(body),
    )
    .await
}

/// The `entity_roles` of `GET /api/v1/permission/` for `token`.
async fn roles_of(server: &TestServer, token: &str) -> Value {
    let (status, body) = call(
        server,
        Some(token),
        reqwest::Method::GET,
        "/api/v1/permission/",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["entity_roles"].clone()
}

/// Hole 3: namespace `evil` holds v1 role mappings granting `victim/*: admin`; asking
/// for a token whose primary namespace is `evil` must not hand those rights to a
/// caller who lacks them, authenticated or anonymous.
#[tokio::test]
async fn token_minting_cannot_escalate_through_v1_role_mappings() {
    for backend in backends() {
        let server =
            TestServer::start(TestDatabase::create(backend).await, test_settings("/")).await;
        let admin = server.admin_token();
        for namespace in ["evil", "victim"] {
            let path = format!("/api/v1/namespace/{namespace}/");
            let (status, body) =
                call(&server, Some(&admin), reqwest::Method::POST, &path, None).await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, body) = call(
            &server,
            Some(&admin),
            reqwest::Method::PUT,
            "/api/v1/namespace/evil/",
            Some(json!({"role_mappings": {"victim/*": ["admin"]}})),
        )
        .await;
        assert_eq!(status, 200, "{body}");

        let bob = server.token("bob", &[("bob/*", "admin")]);
        let (status, body) = mint(&server, Some(&bob), json!({"primary_namespace": "evil"})).await;
        assert_eq!(status, 403, "{backend:?}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("victim/*") && message.contains("\"evil\""),
            "{message}"
        );
        let (status, body) = mint(&server, None, json!({"primary_namespace": "evil"})).await;
        assert_eq!(status, 403, "anonymous, {backend:?}: {body}");

        // Benign neighbours: bob narrows his own token; a caller of namespace `evil`
        // (who holds its mappings) may mint tokens for it.
        let (status, body) = mint(
            &server,
            Some(&bob),
            json!({"role_bindings": {"bob/env": ["viewer"]}}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let narrowed = body["data"]["token"].as_str().unwrap().to_owned();
        assert_eq!(
            roles_of(&server, &narrowed).await["bob/env"],
            json!(["viewer"])
        );
        let insider = server.token("evil", &[("evil/*", "admin")]);
        let (status, body) = mint(
            &server,
            Some(&insider),
            json!({"primary_namespace": "evil"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let issued = body["data"]["token"].as_str().unwrap().to_owned();
        assert_eq!(
            roles_of(&server, &issued).await["victim/*"],
            json!(["admin"])
        );
        // The original's 400 for requested bindings beyond the caller's stays.
        let (status, body) = mint(
            &server,
            Some(&bob),
            json!({"role_bindings": {"victim/*": ["admin"]}}),
        )
        .await;
        assert_eq!(status, 400, "{body}");
    }
}

/// Hole 3 with v2 role mappings: `victim` shared with `evil` as admin.
#[tokio::test]
async fn token_minting_cannot_escalate_through_v2_role_mappings() {
    for backend in backends() {
        let settings = Settings {
            role_mappings_version: 2,
            ..test_settings("/")
        };
        let server = TestServer::start(TestDatabase::create(backend).await, settings).await;
        let admin = server.admin_token();
        for namespace in ["evil", "victim"] {
            let path = format!("/api/v1/namespace/{namespace}/");
            call(&server, Some(&admin), reqwest::Method::POST, &path, None).await;
        }
        let (status, body) = call(
            &server,
            Some(&admin),
            reqwest::Method::POST,
            "/api/v1/namespace/victim/role",
            Some(json!({"other_namespace": "evil", "role": "admin"})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let bob = server.token("bob", &[("bob/*", "admin")]);
        let (status, body) = mint(&server, Some(&bob), json!({"primary_namespace": "evil"})).await;
        assert_eq!(status, 403, "{backend:?}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains("victim/*"),
            "{body}"
        );
        let (status, body) = mint(&server, None, json!({"primary_namespace": "evil"})).await;
        assert_eq!(status, 403, "anonymous: {body}");
        let (status, body) = mint(&server, Some(&bob), json!({})).await;
        assert_eq!(status, 200, "bob's own namespace: {body}");
    }
}

/// Anonymous callers may still mint a token when the deployment gives logged-in
/// users nothing more than anonymous ones; with the defaults (`filesystem/*` for
/// logged-in users) they may not.
#[tokio::test]
async fn anonymous_token_minting_is_bounded_by_the_anonymous_bindings() {
    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        test_settings("/"),
    )
    .await;
    let (status, body) = mint(&server, None, json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("filesystem/*"),
        "{body}"
    );

    let settings = Settings {
        authenticated_role_bindings: Default::default(),
        ..test_settings("/")
    };
    let server = TestServer::start(TestDatabase::create(Backend::Sqlite).await, settings).await;
    let (status, body) = mint(&server, None, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let token = body["data"]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        roles_of(&server, &token).await,
        json!({"default/*": ["viewer"]})
    );
}

/// Hole 4: a token bound to `team/env1: admin` (and one bound to `*/env1: admin`)
/// cannot delete, configure, share or create namespaces, nor change global settings;
/// it still reads the namespace and acts on its environment, and `team/*: admin` acts
/// on the namespace.
#[tokio::test]
async fn environment_scoped_bindings_do_not_act_on_their_namespace() {
    for backend in backends() {
        let server =
            TestServer::start(TestDatabase::create(backend).await, test_settings("/")).await;
        let admin = server.admin_token();
        call(
            &server,
            Some(&admin),
            reqwest::Method::POST,
            "/api/v1/namespace/team/",
            None,
        )
        .await;
        let scoped = server.token("someone", &[("team/env1", "admin")]);
        let everywhere_env1 = server.token("someone", &[("*/env1", "admin")]);
        let fresh_env1 = server.token("someone", &[("fresh/env1", "admin")]);
        let (put, post, delete, get) = (
            reqwest::Method::PUT,
            reqwest::Method::POST,
            reqwest::Method::DELETE,
            reqwest::Method::GET,
        );
        let channels = json!({"conda_default_channels": ["x"]});
        let attacks: Vec<(&str, reqwest::Method, &str, Option<Value>)> = vec![
            (&scoped, delete.clone(), "/api/v1/namespace/team/", None),
            (
                &scoped,
                put.clone(),
                "/api/v1/namespace/team/",
                Some(json!({"metadata": {"owner": "me"}})),
            ),
            (
                &scoped,
                put.clone(),
                "/api/v1/namespace/team/metadata",
                Some(json!({"owner": "me"})),
            ),
            (
                &scoped,
                put.clone(),
                "/api/v1/setting/team/",
                Some(channels.clone()),
            ),
            (
                &scoped,
                post.clone(),
                "/api/v1/namespace/team/role",
                Some(json!({"other_namespace": "someone", "role": "admin"})),
            ),
            (
                &scoped,
                put.clone(),
                "/api/v1/namespace/team/role",
                Some(json!({"other_namespace": "someone", "role": "admin"})),
            ),
            (&scoped, get.clone(), "/api/v1/namespace/team/roles", None),
            (
                &scoped,
                delete.clone(),
                "/api/v1/namespace/team/roles",
                None,
            ),
            (
                &scoped,
                delete.clone(),
                "/api/v1/namespace/team/role",
                Some(json!({"other_namespace": "someone"})),
            ),
            (&fresh_env1, post.clone(), "/api/v1/namespace/fresh/", None),
            (
                &everywhere_env1,
                put.clone(),
                "/api/v1/setting/",
                Some(channels.clone()),
            ),
            (
                &everywhere_env1,
                delete.clone(),
                "/api/v1/namespace/team/",
                None,
            ),
        ];
        for (token, method, path, body) in attacks {
            let (status, answer) = call(&server, Some(token), method.clone(), path, body).await;
            assert_eq!(status, 403, "{backend:?} {method} {path}: {answer}");
        }
        let (status, answer) = call(
            &server,
            Some(&scoped),
            delete.clone(),
            "/api/v1/namespace/team/",
            None,
        )
        .await;
        assert_eq!(status, 403);
        assert!(
            answer["message"].as_str().unwrap().contains("team/*"),
            "the refusal says what is needed: {answer}"
        );

        // Nothing changed.
        let (status, body) = call(
            &server,
            Some(&admin),
            get.clone(),
            "/api/v1/namespace/team/",
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["metadata_"], json!({}), "{body}");
        let (_, body) = call(
            &server,
            Some(&admin),
            get.clone(),
            "/api/v1/namespace/team/roles",
            None,
        )
        .await;
        assert_eq!(body["data"], json!([]));
        let (_, body) = call(&server, Some(&admin), get.clone(), "/api/v1/setting/", None).await;
        assert_ne!(body["data"]["conda_default_channels"], json!(["x"]));

        // Benign neighbours.
        let (status, body) = call(
            &server,
            Some(&scoped),
            get.clone(),
            "/api/v1/namespace/team/",
            None,
        )
        .await;
        assert_eq!(status, 200, "reading the namespace: {body}");
        let (status, body) = call(
            &server,
            Some(&scoped),
            put.clone(),
            "/api/v1/setting/team/env1/",
            Some(channels.clone()),
        )
        .await;
        assert_eq!(status, 200, "settings of the bound environment: {body}");
        let owner = server.token("someone", &[("team/*", "admin")]);
        let (status, body) = call(
            &server,
            Some(&owner),
            put.clone(),
            "/api/v1/setting/team/",
            Some(channels.clone()),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = call(
            &server,
            Some(&owner),
            delete.clone(),
            "/api/v1/namespace/team/",
            None,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
}

/// The `next` values an attacker would try: off-site, script, other port, and the
/// parser tricks (backslashes, tabs, encoded tabs).
fn hostile_next_values(server: &TestServer) -> Vec<String> {
    let port: u16 = server.origin.rsplit(':').next().unwrap().parse().unwrap();
    vec![
        "//evil.example".to_owned(),
        "/\\evil.example".to_owned(),
        "\\/evil.example".to_owned(),
        "/%09/evil.example".to_owned(),
        "/\t/evil.example".to_owned(),
        "https://evil.example/".to_owned(),
        "javascript:alert(1)".to_owned(),
        format!("http://127.0.0.1:{}/", port.wrapping_add(1)),
        "</script><script>alert(1)</script>".to_owned(),
    ]
}

/// `next` as a query value.
fn encoded(next: &str) -> String {
    form_urlencoded::byte_serialize(next.as_bytes()).collect()
}

/// Where `POST /login/?next=` sends the browser (`redirect_url`).
async fn login_redirect(server: &TestServer, next: &str) -> String {
    let response = client()
        .post(server.url(&format!("/login/?next={}", encoded(next))))
        .json(&json!({"username": "alice", "password": "password"}))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    body["data"]["redirect_url"].as_str().unwrap().to_owned()
}

/// Where `POST /logout/?next=` sends the browser (`Location`).
async fn logout_location(server: &TestServer, next: &str) -> String {
    let response = client()
        .post(server.url(&format!("/logout/?next={}", encoded(next))))
        .send()
        .await
        .expect("logout");
    assert_eq!(response.status(), 303);
    response.headers()["location"].to_str().unwrap().to_owned()
}

/// The login form page for `GET /login/?next=`.
async fn login_form(server: &TestServer, next: &str) -> String {
    let response = client()
        .get(server.url(&format!("/login/?next={}", encoded(next))))
        .send()
        .await
        .expect("form");
    assert_eq!(response.status(), 200);
    response.text().await.expect("text")
}

/// Whether `location`, followed by a browser on `server`, stays on its origin.
fn stays_on_origin(server: &TestServer, location: &str) -> bool {
    let base = url::Url::parse(&server.origin).unwrap();
    base.join(location)
        .is_ok_and(|resolved| resolved.origin() == base.origin())
        && location.starts_with('/')
        && !location.starts_with("//")
        && !location.contains('\\')
}

/// Hole 5: with a URL prefix, every hostile `next` falls back to `{prefix}/` in the
/// login JSON, the logout `Location` and the login form; benign paths (and this
/// origin's absolute URLs) are kept.
#[tokio::test]
async fn next_cannot_leave_the_origin_or_the_prefix() {
    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        test_settings("/conda-store"),
    )
    .await;
    for next in hostile_next_values(&server) {
        assert_eq!(
            login_redirect(&server, &next).await,
            "/conda-store/",
            "{next:?}"
        );
        assert_eq!(
            logout_location(&server, &next).await,
            "/conda-store/",
            "{next:?}"
        );
        let page = login_form(&server, &next).await;
        assert!(
            page.contains(r#""/conda-store/login/?next=%2Fconda-store%2F""#),
            "{next:?}: {page}"
        );
        assert!(
            !page.contains("evil.example") && !page.contains("alert(1)"),
            "{page}"
        );
    }
    let benign = "/conda-store/ui/foo?x=1";
    assert_eq!(login_redirect(&server, benign).await, benign);
    assert_eq!(logout_location(&server, benign).await, benign);
    let page = login_form(&server, benign).await;
    assert!(
        page.contains("next=%2Fconda-store%2Fui%2Ffoo%3Fx%3D1"),
        "{page}"
    );
    let absolute = format!("{}/conda-store/ui/", server.origin);
    let page = login_form(&server, &absolute).await;
    assert!(page.contains("next=%2Fconda-store%2Fui%2F\""), "{page}");
}

/// Hole 5 at the root prefix: hostile values stay on this origin.
#[tokio::test]
async fn next_stays_on_the_origin_at_the_root_prefix() {
    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        test_settings("/"),
    )
    .await;
    for next in hostile_next_values(&server) {
        for location in [
            login_redirect(&server, &next).await,
            logout_location(&server, &next).await,
        ] {
            assert!(
                stays_on_origin(&server, &location),
                "{next:?} → {location:?}"
            );
            assert!(!location.contains('<'), "{location}");
        }
        let page = login_form(&server, &next).await;
        assert!(!page.contains("<script>alert"), "{page}");
    }
    assert_eq!(login_redirect(&server, "/ui/foo?x=1").await, "/ui/foo?x=1");
    assert_eq!(logout_location(&server, "/ui/foo?x=1").await, "/ui/foo?x=1");
}

/// The `Set-Cookie` of a password login sent with `headers`.
async fn login_cookie(server: &TestServer, headers: &[(&str, &str)]) -> String {
    let mut request = client()
        .post(server.url("/login/"))
        .json(&json!({"username": "alice", "password": "password"}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("login");
    assert_eq!(response.status(), 200);
    response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Item 9: the login cookie is `Secure` over https behind a proxy that says so, or
/// when `cookie_secure` forces it; a client cannot ask for it without `behind_proxy`.
#[tokio::test]
async fn the_login_cookie_is_secure_over_https_or_when_configured() {
    let https = [("x-forwarded-proto", "https")];
    let cases = [
        (false, None, &https[..], false),
        (true, None, &https[..], true),
        (true, None, &[][..], false),
        (true, Some(false), &https[..], false),
        (false, Some(true), &[][..], true),
    ];
    for (behind_proxy, cookie_secure, headers, secure) in cases {
        let settings = Settings {
            behind_proxy,
            cookie_secure,
            ..test_settings("/")
        };
        let server = TestServer::start(TestDatabase::create(Backend::Sqlite).await, settings).await;
        let cookie = login_cookie(&server, headers).await;
        assert_eq!(
            cookie.contains("; Secure"),
            secure,
            "behind_proxy {behind_proxy}, cookie_secure {cookie_secure:?}: {cookie}"
        );
        let mut request = client().post(server.url("/logout/"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("logout");
        let cleared = response.headers()["set-cookie"].to_str().unwrap();
        assert_eq!(cleared.contains("; Secure"), secure, "{cleared}");
    }
}

/// Item 9: the password check (now constant-time) still refuses near misses and
/// accepts the password.
#[tokio::test]
async fn the_password_is_checked_exactly() {
    let settings = Settings {
        password: "correct horse".to_owned(),
        ..test_settings("/")
    };
    let server = TestServer::start(TestDatabase::create(Backend::Sqlite).await, settings).await;
    for (password, status) in [
        ("correct horse", 200),
        ("correct hors", 403),
        ("correct horsf", 403),
        ("correct horse ", 403),
        ("", 403),
    ] {
        let response = client()
            .post(server.url("/login/"))
            .json(&json!({"username": "alice", "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), status, "{password:?}");
    }
}
