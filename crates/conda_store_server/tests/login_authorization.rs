//! Issue 9, "authorization users can configure", through the real server and a fake
//! OAuth provider on 127.0.0.1 (GitHub-, JupyterHub- and generic-style): allow-lists
//! of users, GitHub organisations/teams and JupyterHub groups, group and user role
//! bindings, invalid user names, the password login's configured bindings; and the
//! OAuth side of hole 5 (the callback answers 303 to a checked `next`) and of item 9
//! (the state cookie's `Secure` flag).

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::{TestServer, client, test_settings};
use conda_store_core::settings::Settings;
use conda_store_test_support::{Backend, TestDatabase};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A user the fake provider knows, logging in with the code `code`.
struct FakeUser {
    code: &'static str,
    name: String,
    organisations: Vec<String>,
    teams: Vec<(String, String)>,
    groups: Vec<String>,
}

/// The fake provider's users, by access token (`token-{code}`).
type Directory = Arc<HashMap<String, FakeUser>>;

fn user(code: &'static str, name: &str) -> FakeUser {
    FakeUser {
        code,
        name: name.to_owned(),
        organisations: Vec::new(),
        teams: Vec::new(),
        groups: Vec::new(),
    }
}

/// The users of every test: `alice` (no groups), `bob` (team acme/platform), `carol`
/// (101 organisations and teams, acme/platform on the second page), `dave` (org acme
/// only), `erin` (hub group scientists), `frank` (hub group students), and two names
/// that cannot be namespaces.
fn directory() -> Directory {
    let fillers = |prefix: &'static str| (0..100).map(move |index| format!("{prefix}{index}"));
    let users = vec![
        user("alice", "alice"),
        FakeUser {
            organisations: vec!["acme".to_owned()],
            teams: vec![("acme".to_owned(), "platform".to_owned())],
            ..user("bob", "bob")
        },
        FakeUser {
            organisations: fillers("org").chain(["acme".to_owned()]).collect(),
            teams: fillers("team")
                .map(|team| ("other".to_owned(), team))
                .chain([("acme".to_owned(), "platform".to_owned())])
                .collect(),
            ..user("carol", "carol")
        },
        FakeUser {
            organisations: vec!["acme".to_owned()],
            ..user("dave", "dave")
        },
        FakeUser {
            groups: vec!["scientists".to_owned()],
            ..user("erin", "erin")
        },
        FakeUser {
            groups: vec!["students".to_owned()],
            ..user("frank", "frank")
        },
        user("slash", "a/b"),
        user("script", "<script>alert(1)</script>"),
    ];
    Arc::new(
        users
            .into_iter()
            .map(|user| (format!("token-{}", user.code), user))
            .collect(),
    )
}

/// Starts the fake provider; its base URL.
async fn provider() -> String {
    async fn token(
        State(users): State<Directory>,
        Form(form): Form<HashMap<String, String>>,
    ) -> impl IntoResponse {
        let access_token = format!("token-{}", form.get("code").cloned().unwrap_or_default());
        let good = users.contains_key(&access_token)
            && form.get("client_secret").map(String::as_str) == Some("s3cret");
        if good {
            (
                StatusCode::OK,
                axum::Json(json!({"access_token": access_token, "token_type": "bearer"})),
            )
        } else {
            (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "bad_verification_code"})),
            )
        }
    }
    fn who<'a>(users: &'a Directory, headers: &HeaderMap) -> Option<&'a FakeUser> {
        let bearer = headers.get("authorization")?.to_str().ok()?;
        users.get(bearer.strip_prefix("Bearer ")?)
    }
    async fn user_data(State(users): State<Directory>, headers: HeaderMap) -> impl IntoResponse {
        match who(&users, &headers) {
            Some(user) => (
                StatusCode::OK,
                axum::Json(json!({
                    "login": user.name,
                    "name": user.name,
                    "preferred_username": user.name,
                    "groups": user.groups,
                })),
            ),
            None => (StatusCode::UNAUTHORIZED, axum::Json(json!({}))),
        }
    }
    fn page(items: Vec<Value>, query: &HashMap<String, String>) -> Vec<Value> {
        let size: usize = query["per_page"].parse().unwrap();
        let number: usize = query["page"].parse().unwrap();
        items
            .into_iter()
            .skip((number - 1) * size)
            .take(size)
            .collect()
    }
    async fn organisations(
        State(users): State<Directory>,
        Query(query): Query<HashMap<String, String>>,
        headers: HeaderMap,
    ) -> impl IntoResponse {
        let Some(user) = who(&users, &headers) else {
            return (StatusCode::UNAUTHORIZED, axum::Json(json!({})));
        };
        let items = user
            .organisations
            .iter()
            .map(|login| json!({"login": login}))
            .collect();
        (StatusCode::OK, axum::Json(json!(page(items, &query))))
    }
    async fn teams(
        State(users): State<Directory>,
        Query(query): Query<HashMap<String, String>>,
        headers: HeaderMap,
    ) -> impl IntoResponse {
        let Some(user) = who(&users, &headers) else {
            return (StatusCode::UNAUTHORIZED, axum::Json(json!({})));
        };
        let items = user
            .teams
            .iter()
            .map(|(organisation, slug)| json!({"slug": slug, "organization": {"login": organisation}}))
            .collect();
        (StatusCode::OK, axum::Json(json!(page(items, &query))))
    }
    let app = Router::new()
        .route("/token", post(token))
        .route("/login/oauth/access_token", post(token))
        .route("/hub/api/oauth2/token", post(token))
        .route("/user", get(user_data))
        .route("/user/orgs", get(organisations))
        .route("/user/teams", get(teams))
        .route("/hub/api/user", get(user_data))
        .with_state(directory());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{address}")
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

/// `{pattern: [roles]}` as a bindings setting.
fn bindings(pattern: &str, roles: &[&str]) -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([(
        pattern.to_owned(),
        roles.iter().map(|role| (*role).to_owned()).collect(),
    )])
}

/// What the OAuth login of `code` with `next` ended with.
struct Callback {
    status: u16,
    location: Option<String>,
    login_cookie: Option<String>,
    body: String,
    scope: String,
    state_cookie: String,
}

/// `GET /login/?next=` (with `headers`), then the callback with `code`.
async fn oauth_login(
    server: &TestServer,
    code: &str,
    next: &str,
    headers: &[(&str, &str)],
) -> Callback {
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let mut request = client().get(server.url(&format!("/login/?next={next}")));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("login");
    assert_eq!(response.status(), 307);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let query: HashMap<String, String> = location.query_pairs().into_owned().collect();
    let state_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let response = client()
        .get(server.url(&format!(
            "/oauth_callback/?code={code}&state={}",
            query["state"]
        )))
        .header("cookie", state_cookie.split(';').next().unwrap())
        .send()
        .await
        .expect("callback");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    let login_cookie = header("set-cookie")
        .filter(|cookie| cookie.starts_with("conda-store-auth="))
        .map(|cookie| cookie.split(';').next().unwrap().to_owned());
    Callback {
        status: response.status().as_u16(),
        location: header("location"),
        login_cookie,
        scope: query["scope"].clone(),
        state_cookie,
        body: response.text().await.expect("body"),
    }
}

/// The `entity_roles` the login cookie gives.
async fn roles(server: &TestServer, cookie: &str) -> Value {
    let body: Value = client()
        .get(server.url("/api/v1/permission/"))
        .header("cookie", cookie)
        .send()
        .await
        .expect("permission")
        .json()
        .await
        .expect("json");
    body["data"]["entity_roles"].clone()
}

/// An allowed login: 303 to `next`, and the cookie's `entity_roles`.
async fn allowed(server: &TestServer, code: &str) -> Value {
    let callback = oauth_login(server, code, "/conda-store/ui/", &[]).await;
    assert_eq!(callback.status, 303, "{code}: {}", callback.body);
    assert_eq!(callback.location.as_deref(), Some("/conda-store/ui/"));
    roles(server, &callback.login_cookie.expect("login cookie")).await
}

/// A refused login: a 403 page saying why, and no login cookie.
async fn refused(server: &TestServer, code: &str, reason: &str) -> String {
    let callback = oauth_login(server, code, "/conda-store/ui/", &[]).await;
    assert_eq!(callback.status, 403, "{code}: {}", callback.body);
    assert!(callback.login_cookie.is_none(), "{code}");
    assert!(callback.body.contains(reason), "{code}: {}", callback.body);
    callback.body
}

#[tokio::test]
async fn github_organisations_and_teams_decide_who_logs_in_and_with_what() {
    let provider = provider().await;
    let settings = Settings {
        login_role_bindings: BTreeMap::new(),
        login_allowed_users: vec!["alice".to_owned()],
        login_allowed_groups: vec!["acme/platform".to_owned()],
        login_group_role_bindings: BTreeMap::from([
            ("acme".to_owned(), bindings("acme/*", &["developer"])),
            ("acme/platform".to_owned(), bindings("*/*", &["admin"])),
        ]),
        login_user_role_bindings: BTreeMap::from([(
            "alice".to_owned(),
            bindings("alice/*", &["admin"]),
        )]),
        ..oauth_settings("GithubOAuthAuthentication", &provider)
    };
    let server = TestServer::start(TestDatabase::create(Backend::Sqlite).await, settings).await;
    let callback = oauth_login(&server, "alice", "/conda-store/ui/", &[]).await;
    assert!(callback.scope.contains("read:org"), "{}", callback.scope);

    let alice = allowed(&server, "alice").await;
    assert_eq!(alice["alice/*"], json!(["admin"]), "{alice}");
    assert!(alice.get("*/*").is_none(), "{alice}");
    let bob = allowed(&server, "bob").await;
    assert_eq!(bob["*/*"], json!(["admin"]), "{bob}");
    assert_eq!(bob["acme/*"], json!(["developer"]), "{bob}");
    let carol = allowed(&server, "carol").await;
    assert_eq!(
        carol["*/*"],
        json!(["admin"]),
        "the team on the second page counts: {carol}"
    );
    refused(&server, "dave", "is not allowed").await;
}

#[tokio::test]
async fn jupyterhub_groups_decide_who_logs_in_and_with_what() {
    let provider = provider().await;
    let settings = Settings {
        login_role_bindings: bindings("shared/*", &["viewer"]),
        login_allowed_groups: vec!["scientists".to_owned()],
        login_group_role_bindings: BTreeMap::from([(
            "scientists".to_owned(),
            bindings("science/*", &["developer"]),
        )]),
        ..oauth_settings("JupyterHubOAuthAuthentication", &provider)
    };
    let server = TestServer::start(TestDatabase::create(Backend::Sqlite).await, settings).await;
    let erin = allowed(&server, "erin").await;
    assert_eq!(erin["shared/*"], json!(["viewer"]), "{erin}");
    assert_eq!(erin["science/*"], json!(["developer"]), "{erin}");
    assert!(erin.get("*/*").is_none(), "{erin}");
    refused(&server, "frank", "is not allowed").await;
    let callback = oauth_login(&server, "erin", "/conda-store/", &[]).await;
    assert!(
        callback.scope.contains("read:users:groups!user"),
        "{}",
        callback.scope
    );
}

#[tokio::test]
async fn generic_oauth_reads_groups_from_the_configured_field() {
    let provider = provider().await;
    let settings = Settings {
        oauth_user_data_groups_key: Some("groups".to_owned()),
        login_allowed_users: vec!["alice".to_owned()],
        login_allowed_groups: vec!["scientists".to_owned()],
        ..oauth_settings("GenericOAuthAuthentication", &provider)
    };
    let server = TestServer::start(TestDatabase::create(Backend::Sqlite).await, settings).await;
    let erin = allowed(&server, "erin").await;
    assert_eq!(
        erin["*/*"],
        json!(["admin"]),
        "the default login bindings: {erin}"
    );
    allowed(&server, "alice").await;
    refused(&server, "frank", "is not allowed").await;
}

#[tokio::test]
async fn user_names_that_cannot_be_namespaces_are_refused() {
    let provider = provider().await;
    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        oauth_settings("GenericOAuthAuthentication", &provider),
    )
    .await;
    refused(&server, "slash", "not a valid namespace name").await;
    let page = refused(&server, "script", "not a valid namespace name").await;
    assert!(!page.contains("<script>alert"), "escaped: {page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");
    allowed(&server, "alice").await;
}

/// The default (no login settings) is the Python conda-store's: admin everywhere.
#[tokio::test]
async fn by_default_every_oauth_login_is_admin_everywhere() {
    let provider = provider().await;
    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        oauth_settings("GithubOAuthAuthentication", &provider),
    )
    .await;
    let dave = allowed(&server, "dave").await;
    assert_eq!(dave["*/*"], json!(["admin"]));
    let callback = oauth_login(&server, "dave", "/conda-store/", &[]).await;
    assert_eq!(callback.scope, "user:email", "no groups asked for");
    let settings = Settings {
        access_scope: Some("read:user read:org".to_owned()),
        login_allowed_groups: vec!["acme".to_owned()],
        ..oauth_settings("GithubOAuthAuthentication", &provider)
    };
    let server = TestServer::start(TestDatabase::create(Backend::Sqlite).await, settings).await;
    let callback = oauth_login(&server, "dave", "/conda-store/", &[]).await;
    assert_eq!(
        callback.scope, "read:user read:org",
        "a configured scope wins"
    );
    assert_eq!(callback.status, 303);
}

/// The `Set-Cookie` and body of a password login as `user`.
async fn password_login(server: &TestServer, user: &str) -> (u16, Option<String>, Value) {
    let response = client()
        .post(server.url("/login/"))
        .json(&json!({"username": user, "password": "password"}))
        .send()
        .await
        .expect("login");
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
    (status, cookie, response.json().await.expect("json"))
}

#[tokio::test]
async fn password_logins_get_exactly_the_configured_bindings() {
    let settings = Settings {
        login_role_bindings: bindings("lab/*", &["developer"]),
        login_user_role_bindings: BTreeMap::from([(
            "alice".to_owned(),
            bindings("alice/*", &["admin"]),
        )]),
        login_allowed_users: vec!["alice".to_owned(), "bob".to_owned()],
        ..test_settings("/conda-store")
    };
    let server = TestServer::start(TestDatabase::create(Backend::Sqlite).await, settings).await;
    let (status, cookie, body) = password_login(&server, "alice").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        roles(&server, &cookie.unwrap()).await,
        json!({
            "default/*": ["viewer"],
            "filesystem/*": ["viewer"],
            "lab/*": ["developer"],
            "alice/*": ["admin"],
        })
    );
    let (status, cookie, _) = password_login(&server, "bob").await;
    assert_eq!(status, 200);
    let bob = roles(&server, &cookie.unwrap()).await;
    assert!(
        bob.get("alice/*").is_none() && bob.get("*/*").is_none(),
        "{bob}"
    );
    let (status, cookie, body) = password_login(&server, "mallory").await;
    assert_eq!(status, 403, "{body}");
    assert!(cookie.is_none());
    assert!(
        body["message"].as_str().unwrap().contains("not allowed"),
        "{body}"
    );

    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        test_settings("/"),
    )
    .await;
    let (status, cookie, body) = password_login(&server, "a/b").await;
    assert_eq!(status, 400, "{body}");
    assert!(cookie.is_none());
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("not a valid namespace name"),
        "{body}"
    );
}

/// `{username}` in a login binding names the user logging in: each user administers
/// their own namespace and nobody else's.
#[tokio::test]
async fn each_user_can_own_their_namespace() {
    let settings = Settings {
        login_role_bindings: bindings("{username}/*", &["admin"]),
        ..test_settings("/")
    };
    let server = TestServer::start(TestDatabase::create(Backend::Sqlite).await, settings).await;
    let (status, cookie, body) = password_login(&server, "alice").await;
    assert_eq!(status, 200, "{body}");
    let cookie = cookie.unwrap();
    assert_eq!(roles(&server, &cookie).await["alice/*"], json!(["admin"]));
    for (namespace, expected) in [("alice", 200), ("bob", 403)] {
        let response = client()
            .post(server.url("/api/v1/specification/"))
            .header("cookie", &cookie)
            .json(&json!({
                "namespace": namespace,
                "specification": "name: env\ndependencies: [hello]\n",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected, "{namespace}");
    }
}

/// Hole 5 through OAuth: whatever `next` the login started with, the callback answers
/// 303 (no page, no script) to a path on this origin under the prefix.
#[tokio::test]
async fn the_oauth_callback_redirects_only_within_the_origin() {
    let provider = provider().await;
    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        oauth_settings("GenericOAuthAuthentication", &provider),
    )
    .await;
    let port: u16 = server.origin.rsplit(':').next().unwrap().parse().unwrap();
    let other_port = format!("http://127.0.0.1:{}/", port.wrapping_add(1));
    for next in [
        "//evil.example",
        "/\\evil.example",
        "\\/evil.example",
        "/%09/evil.example",
        "/\t/evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        other_port.as_str(),
        "</script><script>alert(1)</script>",
    ] {
        let callback = oauth_login(&server, "alice", next, &[]).await;
        assert_eq!(callback.status, 303, "{next:?}: {}", callback.body);
        assert_eq!(
            callback.location.as_deref(),
            Some("/conda-store/"),
            "{next:?}"
        );
        assert!(!callback.body.contains("<script"), "{}", callback.body);
        assert!(callback.login_cookie.is_some());
    }
    let callback = oauth_login(&server, "alice", "/conda-store/ui/foo?x=1", &[]).await;
    assert_eq!(
        callback.location.as_deref(),
        Some("/conda-store/ui/foo?x=1")
    );
    let absolute = format!("{}/conda-store/ui/", server.origin);
    let callback = oauth_login(&server, "alice", &absolute, &[]).await;
    assert_eq!(callback.location.as_deref(), Some("/conda-store/ui/"));
}

/// Item 9: the OAuth state cookie and the login cookie are `Secure` behind an https
/// proxy, and not over plain http.
#[tokio::test]
async fn oauth_cookies_are_secure_over_https() {
    let provider = provider().await;
    let settings = Settings {
        behind_proxy: true,
        ..oauth_settings("GenericOAuthAuthentication", &provider)
    };
    let server = TestServer::start(TestDatabase::create(Backend::Sqlite).await, settings).await;
    let https = oauth_login(
        &server,
        "alice",
        "/conda-store/",
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert!(
        https.state_cookie.contains("; Secure"),
        "{}",
        https.state_cookie
    );
    let http = oauth_login(&server, "alice", "/conda-store/", &[]).await;
    assert!(
        !http.state_cookie.contains("; Secure"),
        "{}",
        http.state_cookie
    );

    let settings = Settings {
        cookie_secure: Some(true),
        ..oauth_settings("GenericOAuthAuthentication", &provider)
    };
    let server = TestServer::start(TestDatabase::create(Backend::Sqlite).await, settings).await;
    let forced = oauth_login(&server, "alice", "/conda-store/", &[]).await;
    assert!(
        forced.state_cookie.contains("; Secure"),
        "{}",
        forced.state_cookie
    );
    assert_eq!(forced.status, 303);
}
