//! The status route, served by a real server on 127.0.0.1, with and without a prefix.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_db::{DatabaseUrl, PoolSize, connect};
use conda_store_server::{AppState, router};

async fn serve(prefix: &str) -> (String, tempfile::TempDir) {
    let directory = tempfile::tempdir().expect("temp dir");
    let url = DatabaseUrl::parse(&format!(
        "sqlite:///{}/db.sqlite",
        directory.path().display()
    ))
    .expect("url");
    let database = connect(&url, PoolSize::Up(2)).await.expect("connect");
    let app = router(
        AppState {
            database,
            version: conda_store_core::VERSION,
        },
        prefix,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}"), directory)
}

#[tokio::test]
async fn api_status_answers_with_the_envelope() {
    for prefix in ["/", "/conda-store", "/conda-store/"] {
        let (base, _directory) = serve(prefix).await;
        let path = prefix.trim_end_matches('/');
        let response = reqwest::get(format!("{base}{path}/api/v1/"))
            .await
            .expect("get");
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.expect("json");
        assert_eq!(
            body,
            serde_json::json!({
                "status": "ok",
                "data": {"version": conda_store_core::VERSION},
                "message": null
            })
        );
        if !path.is_empty() {
            let outside = reqwest::get(format!("{base}/api/v1/")).await.expect("get");
            assert_eq!(outside.status(), 404);
        }
    }
}
