//! A real server for the API tests: a fresh database on the chosen backend, local
//! storage, a local channel, an in-test worker (run on demand), and the HTTP server on
//! 127.0.0.1 under a URL prefix.

#![allow(clippy::expect_used, clippy::unwrap_used, dead_code)]

use chrono::Utc;
use conda_store_build::Engine;
use conda_store_core::authorization::{ArnPattern, Role, RoleBindings};
use conda_store_core::settings::Settings;
use conda_store_core::token::{AuthenticationToken, TokenSigner};
use conda_store_db::{DatabaseUrl, PoolSize, connect, migration};
use conda_store_server::auth::Authentication;
use conda_store_server::{AppState, router};
use conda_store_service::Service;
use conda_store_storage::LocalStorage;
use conda_store_test_support::TestDatabase;
use conda_store_test_support::channel::{TestChannel, standard_packages};
use conda_store_worker::{Worker, WorkerOptions};
use std::sync::Arc;

/// The secret the test servers sign with, so tests can make tokens themselves.
pub const SECRET: &str = "test-secret";

/// A running server and what it runs on.
pub struct TestServer {
    /// `http://127.0.0.1:PORT{prefix}` (no trailing slash).
    pub base: String,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// The service behind it.
    pub service: Service,
    /// A worker over the same service; run it with `run_until_idle`.
    pub worker: Worker,
    /// The local test channel.
    pub channel: TestChannel,
    /// The database URL.
    pub database_url: String,
    /// Where everything lives.
    pub root: std::path::PathBuf,
    task: tokio::task::JoinHandle<()>,
    _database: TestDatabase,
    _directory: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Settings of the test servers: one platform, no channel index, a known secret.
pub fn test_settings(prefix: &str) -> Settings {
    Settings {
        conda_solve_platforms: vec!["linux-64".to_owned()],
        conda_indexed_channels: Vec::new(),
        url_prefix: prefix.to_owned(),
        secret: Some(SECRET.to_owned()),
        // Tests must not depend on how much disk the machine has free.
        storage_threshold: 0,
        ..Settings::default()
    }
}

impl TestServer {
    /// A server on `database` with `settings`.
    pub async fn start(database: TestDatabase, settings: Settings) -> Self {
        let directory = tempfile::tempdir().expect("temp dir");
        let root = directory.path().to_owned();
        let channel = TestChannel::create(&root.join("channel"), &standard_packages()).await;
        migration::upgrade(&database.connect().await, None)
            .await
            .expect("upgrade");
        let pool = connect(
            &DatabaseUrl::parse(&database.url).expect("url"),
            PoolSize::Up(8),
        )
        .await
        .expect("pool");
        let service = Service::new(
            pool,
            Arc::new(settings),
            Arc::new(LocalStorage::new(root.join("storage"))),
            root.join("store"),
        );
        let engine = Arc::new(Engine::new(&root.join("cache")));
        let worker = Worker::new(service.clone(), engine.clone(), WorkerOptions::default());
        let (origin, task) = serve(&service, engine).await;
        let prefix = service
            .settings()
            .url_prefix
            .trim_end_matches('/')
            .to_owned();
        Self {
            base: format!("{origin}{prefix}"),
            origin,
            service,
            worker,
            channel,
            database_url: database.url.clone(),
            root,
            task,
            _database: database,
            _directory: directory,
        }
    }

    /// A second server process over the same database and files (a restart).
    pub async fn restart(&mut self) {
        self.task.abort();
        let engine = Arc::new(Engine::new(&self.root.join("cache")));
        let service = Service::new(
            self.service.database().clone(),
            Arc::new(self.service.settings().clone()),
            Arc::new(LocalStorage::new(self.root.join("storage"))),
            self.root.join("store"),
        );
        let (origin, task) = serve(&service, engine).await;
        let prefix = service
            .settings()
            .url_prefix
            .trim_end_matches('/')
            .to_owned();
        self.base = format!("{origin}{prefix}");
        self.origin = origin;
        self.task = task;
    }

    /// `{base}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A token signed with the test secret for `primary_namespace` with `bindings`
    /// (`[("team/*", "viewer")]`).
    pub fn token(&self, primary_namespace: &str, bindings: &[(&str, &str)]) -> String {
        let mut role_bindings = RoleBindings::new();
        for (arn, role) in bindings {
            role_bindings.grant(
                ArnPattern::parse(arn).expect("arn"),
                role.parse::<Role>().expect("role"),
            );
        }
        let token = AuthenticationToken::new(
            Utc::now() + chrono::TimeDelta::hours(1),
            primary_namespace,
            role_bindings,
        );
        TokenSigner::new(SECRET).encode(&token).expect("encode")
    }

    /// An admin token (`*/*: admin`), namespace `admin`.
    pub fn admin_token(&self) -> String {
        self.token("admin", &[("*/*", "admin")])
    }

    /// Registers `dependencies` from the test channel as `namespace/name` through the
    /// API with `token`; returns the build id.
    pub async fn submit(
        &self,
        token: &str,
        namespace: &str,
        name: &str,
        dependencies: &[&str],
    ) -> i32 {
        let response = client()
            .post(self.url("/api/v1/specification/"))
            .bearer_auth(token)
            .json(&serde_json::json!({
                "namespace": namespace,
                "specification": specification_yaml(&self.channel.url(), name, dependencies),
            }))
            .send()
            .await
            .expect("post");
        let status = response.status();
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(status, 200, "{body}");
        i32::try_from(body["data"]["build_id"].as_i64().expect("build_id")).expect("i32")
    }
}

/// An `environment.yaml` text.
pub fn specification_yaml(channel: &str, name: &str, dependencies: &[&str]) -> String {
    format!(
        "name: {name}\nchannels:\n  - {channel}\ndependencies:\n{}",
        dependencies
            .iter()
            .map(|dependency| format!("  - {dependency}\n"))
            .collect::<String>()
    )
}

/// `method path` on `server` with `token` (bearer) and a JSON `body`; the status and
/// the JSON answer (`null` when it is not JSON).
pub async fn call(
    server: &TestServer,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = client().request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// A client that does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn serve(service: &Service, engine: Arc<Engine>) -> (String, tokio::task::JoinHandle<()>) {
    let authentication = Authentication::from_settings(service)
        .await
        .expect("authentication");
    let app = router(AppState {
        service: service.clone(),
        authentication,
        engine,
        version: conda_store_core::VERSION,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}"), task)
}
