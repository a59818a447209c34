//! The JSON shape of every read route, as insta snapshots (ids, timestamps, hashes,
//! sizes and temporary paths replaced by placeholders), after one build through the API.
//! A change of field names, nesting, envelope keys or enum spelling shows up here.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{TestServer, client, test_settings};
use conda_store_test_support::{Backend, TestDatabase};
use serde_json::{Map, Value};

/// Keys whose values vary from run to run.
const VARYING: &[&str] = &[
    "id",
    "build_id",
    "environment_id",
    "current_build_id",
    "scheduled_on",
    "started_on",
    "ended_on",
    "created_on",
    "last_update",
    "expiration",
    "sha256",
    "key",
    "size",
    "storage",
    "token",
    "cursor",
];

/// Replaces varying values with `[key]` and the server's temporary root with `[root]`.
fn redact(value: Value, root: &str) -> Value {
    match value {
        Value::Object(object) => Value::Object(
            object
                .into_iter()
                .map(|(key, value)| {
                    let redacted = if VARYING.contains(&key.as_str()) && !value.is_null() {
                        Value::String(format!("[{key}]"))
                    } else {
                        redact(value, root)
                    };
                    (key, redacted)
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|item| redact(item, root)).collect())
        }
        Value::String(text) => Value::String(text.replace(root, "[root]")),
        other => other,
    }
}

#[tokio::test]
async fn read_routes_keep_their_shapes() {
    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        test_settings("/"),
    )
    .await;
    let admin = server.admin_token();
    let build_id = server.submit(&admin, "team", "hello-env", &["hello"]).await;
    server.worker.run_until_idle().await.expect("worker");
    server
        .service
        .update_storage_metrics()
        .await
        .expect("metrics");
    let root = server.root.display().to_string();
    let routes = [
        ("status", "/api/v1/".to_owned()),
        ("permission", "/api/v1/permission/".to_owned()),
        ("usage", "/api/v1/usage/".to_owned()),
        ("namespace_list", "/api/v1/namespace/".to_owned()),
        ("namespace_get", "/api/v1/namespace/team/".to_owned()),
        ("namespace_roles", "/api/v1/namespace/team/roles".to_owned()),
        ("environment_list", "/api/v1/environment/".to_owned()),
        ("environment_list_v2", "/api/v2/environment/".to_owned()),
        (
            "environment_get",
            "/api/v1/environment/team/hello-env/".to_owned(),
        ),
        ("build_list", "/api/v1/build/".to_owned()),
        ("build_get", format!("/api/v1/build/{build_id}/")),
        (
            "build_packages",
            format!("/api/v1/build/{build_id}/packages/"),
        ),
        ("channel_list", "/api/v1/channel/".to_owned()),
        (
            "package_list",
            "/api/v1/package/?distinct_on=name&sort_by=name".to_owned(),
        ),
        ("setting_global", "/api/v1/setting/".to_owned()),
        (
            "setting_environment",
            "/api/v1/setting/team/hello-env/".to_owned(),
        ),
        ("error_not_found", "/api/v1/build/999999/".to_owned()),
    ];
    for (name, path) in routes {
        let body: Value = client()
            .get(server.url(&path))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        insta::assert_json_snapshot!(name, redact(body, &root));
    }
    let body: Value = client()
        .get(server.url("/api/v1/permission/"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    insta::assert_json_snapshot!("permission_anonymous", redact(body, &root));
}
