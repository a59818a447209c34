//! The OpenAPI document at `{prefix}/openapi.json` and the page at `{prefix}/docs`:
//! they list every API route the router serves (and the original's API routes; web
//! pages, such as the UI's, are served but marked hidden in the table), and
//! schemathesis (PyPI, installed into target/test-venv by scripts/test-tools.sh)
//! fuzzes every operation of the document against a real server on SQLite with a few
//! built environments, finding no 5xx and no answer that breaks the document.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{TestServer, client, test_settings};
use conda_store_core::settings::Settings;
use conda_store_test_support::{Backend, TestDatabase};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::Duration;

/// The pinned schemathesis (scripts/test-requirements.txt).
const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// The API operations of the Python conda-store 2025.2.2 (its OpenAPI document, less
/// the admin pages, the UI and `/celery`), with path parameters written `{}`.
const ORIGINAL_OPERATIONS: &[(&str, &str)] = &[
    ("GET", "/login/"),
    ("POST", "/login/"),
    ("POST", "/logout/"),
    ("GET", "/api/v1/"),
    ("GET", "/api/v1/permission/"),
    ("GET", "/api/v1/usage/"),
    ("POST", "/api/v1/token/"),
    ("GET", "/api/v1/namespace/"),
    ("GET", "/api/v1/namespace/{}/"),
    ("POST", "/api/v1/namespace/{}/"),
    ("PUT", "/api/v1/namespace/{}/"),
    ("DELETE", "/api/v1/namespace/{}/"),
    ("PUT", "/api/v1/namespace/{}/metadata"),
    ("GET", "/api/v1/namespace/{}/roles"),
    ("DELETE", "/api/v1/namespace/{}/roles"),
    ("GET", "/api/v1/namespace/{}/role"),
    ("POST", "/api/v1/namespace/{}/role"),
    ("PUT", "/api/v1/namespace/{}/role"),
    ("DELETE", "/api/v1/namespace/{}/role"),
    ("GET", "/api/v1/environment/"),
    ("GET", "/api/v2/environment/"),
    ("GET", "/api/v1/environment/{}/{}/"),
    ("PUT", "/api/v1/environment/{}/{}/"),
    ("DELETE", "/api/v1/environment/{}/{}/"),
    ("GET", "/api/v1/environment/{}/{}/lockfile/"),
    ("GET", "/api/v1/environment/{}/{}/conda-lock.yml"),
    ("GET", "/api/v1/environment/{}/{}/conda-lock.yaml"),
    ("GET", "/api/v1/specification/"),
    ("POST", "/api/v1/specification/"),
    ("GET", "/api/v1/build/"),
    ("GET", "/api/v1/build/{}/"),
    ("PUT", "/api/v1/build/{}/"),
    ("DELETE", "/api/v1/build/{}/"),
    ("PUT", "/api/v1/build/{}/cancel/"),
    ("GET", "/api/v1/build/{}/packages/"),
    ("GET", "/api/v1/build/{}/logs/"),
    ("GET", "/api/v1/build/{}/yaml/"),
    ("GET", "/api/v1/build/{}/lockfile/"),
    ("GET", "/api/v1/build/{}/conda-lock.yml"),
    ("GET", "/api/v1/build/{}/conda-lock.yaml"),
    ("GET", "/api/v1/build/{}/archive/"),
    ("GET", "/api/v1/build/{}/installer/"),
    ("GET", "/api/v1/build/{}/docker/"),
    ("GET", "/api/v1/channel/"),
    ("GET", "/api/v1/package/"),
    ("GET", "/api/v1/setting/"),
    ("PUT", "/api/v1/setting/"),
    ("GET", "/api/v1/setting/{}/"),
    ("PUT", "/api/v1/setting/{}/"),
    ("GET", "/api/v1/setting/{}/{}/"),
    ("PUT", "/api/v1/setting/{}/{}/"),
    ("GET", "/metrics"),
];

/// `path` with every `{parameter}` written `{}`.
fn template(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// `(METHOD, template)` of every operation of `document`.
fn operations(document: &Value) -> Vec<(String, String)> {
    document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, methods)| {
            methods
                .as_object()
                .unwrap()
                .keys()
                .map(|method| (method.to_ascii_uppercase(), template(path)))
        })
        .collect()
}

/// The test settings under `/conda-store`, with channel names (the remote solve's,
/// made up by the fuzzer) resolving to a missing local directory, never the network.
fn offline_settings() -> Settings {
    Settings {
        conda_channel_alias: "file:///nonexistent-channel-alias/".to_owned(),
        conda_default_channels: Vec::new(),
        ..test_settings("/conda-store")
    }
}

#[tokio::test]
async fn the_document_and_the_docs_page_list_every_route_under_the_prefix() {
    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        offline_settings(),
    )
    .await;
    let response = client()
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["servers"], json!([{"url": "/conda-store"}]));
    // The document is the route table (less its hidden routes), and the router serves
    // every operation of it: each method on each path reaches a handler (no 405, no
    // slash redirect).
    let table = conda_store_server::api::document("/conda-store");
    assert_eq!(document, table);
    let served = operations(&document);
    for (method, path) in &served {
        let concrete = path.replace("{}", "1");
        let response = client()
            .request(method.parse().unwrap(), server.url(&concrete))
            .send()
            .await
            .unwrap();
        assert!(
            ![405, 307].contains(&response.status().as_u16()),
            "{method} {concrete}: {}",
            response.status()
        );
        let wrong = if method == "DELETE" {
            "PATCH"
        } else {
            "DELETE"
        };
        let response = client()
            .request(wrong.parse().unwrap(), server.url(&concrete))
            .send()
            .await
            .unwrap();
        let allowed = served
            .iter()
            .any(|(other, other_path)| other == wrong && other_path == path);
        assert!(allowed || response.status() == 405, "{wrong} {concrete}");
    }
    for (method, path) in ORIGINAL_OPERATIONS {
        assert!(
            served.contains(&(method.to_string(), path.to_string())),
            "{method} {path} of the original is not in the document"
        );
    }
    // Path and query parameters carry the original's names; repeatable ones are arrays.
    let packages = &document["paths"]["/api/v1/package/"]["get"]["parameters"];
    let names: Vec<&str> = packages
        .as_array()
        .unwrap()
        .iter()
        .map(|parameter| parameter["name"].as_str().unwrap())
        .collect();
    for name in [
        "search",
        "exact",
        "build",
        "distinct_on",
        "page",
        "size",
        "order",
        "sort_by",
    ] {
        assert!(names.contains(&name), "{names:?}");
    }
    let distinct_on = packages
        .as_array()
        .unwrap()
        .iter()
        .find(|parameter| parameter["name"] == "distinct_on")
        .unwrap();
    assert_eq!(distinct_on["schema"]["type"], "array");
    let build = &document["paths"]["/api/v1/build/{build_id}/"]["get"];
    assert_eq!(build["parameters"][0]["schema"]["type"], "integer");
    assert_eq!(
        build["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["data"],
        json!({"$ref": "#/components/schemas/Build"})
    );
    assert_eq!(
        build["responses"]["404"]["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/APIErrorResponse"})
    );
    let logs = &document["paths"]["/api/v1/build/{build_id}/logs/"]["get"]["responses"];
    assert!(logs.get("307").is_some(), "{logs}");
    let specification = &document["paths"]["/api/v1/specification/"]["post"]["requestBody"];
    assert_eq!(
        specification["content"]["application/json"]["schema"],
        json!({"$ref": "#/components/schemas/SpecificationRequest"})
    );
    for component in [
        "Namespace",
        "Environment",
        "Build",
        "CondaPackage",
        "CondaChannel",
    ] {
        assert!(
            document["components"]["schemas"].get(component).is_some(),
            "{component}"
        );
    }

    let response = client().get(server.url("/docs")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("/conda-store/openapi.json"));
    assert!(page.contains("/conda-store/api/v1/build/{build_id}/packages/"));
    assert!(!page.contains("<script") && !page.contains("https://"));
}

/// schemathesis on PATH, at the pinned version; fails the test when it is missing.
fn schemathesis() -> PathBuf {
    let executable = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|directory| directory.join("schemathesis"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "schemathesis=={SCHEMATHESIS_VERSION} is not on PATH: run the tests with \
                 scripts/test.sh, or first `eval \"$(scripts/test-tools.sh)\"`, which installs \
                 it into target/test-venv"
            )
        });
    let version = std::process::Command::new(&executable)
        .arg("--version")
        .output()
        .expect("schemathesis --version");
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.contains(SCHEMATHESIS_VERSION),
        "{} is not schemathesis {SCHEMATHESIS_VERSION} ({version:?}): run the tests with \
         scripts/test.sh, which puts target/test-venv/bin first on PATH",
        executable.display()
    );
    executable
}

/// A server with data for the routes to find: two built environments, a queued build,
/// a failed one, namespace metadata and a shared namespace.
async fn seeded_server() -> TestServer {
    let server = TestServer::start(
        TestDatabase::create(Backend::Sqlite).await,
        offline_settings(),
    )
    .await;
    let admin = server.admin_token();
    server.submit(&admin, "team", "hello-env", &["hello"]).await;
    server
        .submit(&admin, "team", "lib-env", &["libhello 1.0.0"])
        .await;
    server
        .submit(&admin, "other", "broken-env", &["does-not-exist"])
        .await;
    server.worker.run_until_idle().await.expect("worker");
    server
        .submit(&admin, "team", "queued-env", &["hello"])
        .await;
    for (method, path, body) in [
        (
            "PUT",
            "/api/v1/namespace/team/metadata",
            json!({"owner": "data"}),
        ),
        (
            "POST",
            "/api/v1/namespace/team/role",
            json!({"other_namespace": "other", "role": "viewer"}),
        ),
    ] {
        let response = client()
            .request(method.parse().unwrap(), server.url(path))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{method} {path}");
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let executable = schemathesis();
    let server = seeded_server().await;
    let work = tempfile::tempdir().unwrap();
    // Bounded for CI (30 to 40 seconds on 2 cores); raise it to explore further.
    let max_examples =
        std::env::var("CONDA_STORE_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "100".to_owned());
    let mut command = tokio::process::Command::new(executable);
    command
        .current_dir(work.path())
        .env("NO_COLOR", "1")
        .args(["run", &server.url("/openapi.json")])
        .args([
            "--header",
            &format!("Authorization: Bearer {}", server.admin_token()),
        ])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        .args(["--max-examples", &max_examples])
        .args(["--generation-deterministic", "--workers", "1"])
        .args(["--request-timeout", "30"])
        .args(["--max-redirects", "0", "--no-color"])
        // The live log follows a build until it finishes; the queued one never does
        // here (no worker runs), so that stream would only end at the timeout.
        .args(["--exclude-operation-id", "api_get_build_logs_stream"])
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(600), command.output())
        .await
        .expect("schemathesis finishes within 10 minutes")
        .expect("run schemathesis");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{report}");
    assert!(output.status.success(), "schemathesis failed:\n{report}");
    assert!(report.contains("Tested:"), "{report}");
}
