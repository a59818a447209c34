//! Issue 9, holes 1, 2 and 6 and the credentials item of 9, through the real HTTP server
//! on 127.0.0.1 (and its in-test worker for builds):
//! - specification fields with control characters, pip entries that reach the server's
//!   disk, and a stored row written before the rules, checked again at build time;
//! - source distributions: not built by default; when allowed, their build backend runs
//!   without the server's environment and outside the data directory;
//! - server-side requests: the remote solve needs `environment::solve`, follows the URL
//!   policy, is bounded, and does not tell open ports from closed ones; lockfile package
//!   URLs must lie under the allowed channels; private addresses can be refused;
//! - credentials in channel URLs appear in no log, artifact, `status_info` or API answer.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use common::{SECRET, TestServer, client, test_settings};
use conda_store_core::settings::Settings;
use conda_store_db::entity::{build, specification};
use conda_store_test_support::channel::{TestChannel, python_package, standard_packages};
use conda_store_test_support::http::SlowChannelServer;
use conda_store_test_support::pypi::{TestPypiIndex, TestSourceDistribution, TestWheel};
use conda_store_test_support::{TestDatabase, backends};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

/// A JSON document as YAML text (YAML is a superset of JSON), every non-ASCII
/// character escaped so that YAML sees the exact code points (U+0085, U+2028...).
fn yaml_text(document: &Value) -> String {
    serde_json::to_string(document)
        .expect("json")
        .chars()
        .map(|character| {
            if character.is_ascii() {
                character.to_string()
            } else {
                format!("\\u{:04x}", u32::from(character))
            }
        })
        .collect()
}

/// `POST /api/v1/specification/` with `body` as the admin.
async fn post_specification(server: &TestServer, body: Value) -> (u16, Value) {
    let response = client()
        .post(server.url("/api/v1/specification/"))
        .bearer_auth(server.admin_token())
        .json(&body)
        .send()
        .await
        .expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Registers the YAML of `document` in namespace `team`.
async fn submit(server: &TestServer, document: &Value) -> (u16, Value) {
    post_specification(
        server,
        json!({"namespace": "team", "specification": yaml_text(document)}),
    )
    .await
}

/// Asserts a 400 whose message contains `expected` and none of `secrets`.
fn assert_refused(outcome: &(u16, Value), expected: &str, what: &str) {
    let (status, body) = outcome;
    assert_eq!(*status, 400, "{what}: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(message.contains(expected), "{what}: {message}");
    for secret in [SECRET, "PATH=", "HOME="] {
        assert!(
            !message.contains(secret),
            "{what} echoes {secret}: {message}"
        );
    }
}

/// Runs the worker, then reads build `build_id` through the API.
async fn finished_build(server: &TestServer, build_id: i64) -> Value {
    server.worker.run_until_idle().await.expect("worker");
    let response = client()
        .get(server.url(&format!("/api/v1/build/{build_id}/")))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .expect("get build");
    let body: Value = response.json().await.expect("json");
    body["data"].clone()
}

/// The text of an artifact (`logs`, `lockfile`, `yaml`) through its signed link.
async fn artifact(server: &TestServer, build_id: i64, kind: &str) -> String {
    let response = client()
        .get(server.url(&format!("/api/v1/build/{build_id}/{kind}/")))
        .bearer_auth(server.admin_token())
        .send()
        .await
        .expect("get artifact");
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    client()
        .get(format!("{}{location}", server.origin))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("text")
}

fn build_id(body: &Value) -> i64 {
    body["data"]["build_id"].as_i64().expect("build_id")
}

/// A local PyPI index with `hello-pip` wheels, served over HTTP.
async fn pypi(root: &Path) -> (TestPypiIndex, SlowChannelServer) {
    let index = TestPypiIndex::create(
        &root.join("pypi"),
        &[TestWheel::new("hello-pip", "1.0", "hello from pip 1.0")],
    );
    let server = SlowChannelServer::start(index.directory.clone(), Duration::ZERO).await;
    (index, server)
}

/// A local channel with a `python` package; its URL.
async fn python_channel(server: &TestServer) -> String {
    TestChannel::create(&server.root.join("python-channel"), &[python_package()])
        .await
        .url()
}

/// A specification of `python` from `channel` and the `pip` entries.
fn pip_document(channel: &str, name: &str, pip: &[&str]) -> Value {
    json!({
        "name": name,
        "channels": [channel],
        "dependencies": ["python", {"pip": pip}],
    })
}

#[tokio::test]
async fn control_characters_in_any_specification_field_are_refused() {
    for backend in backends() {
        let server =
            TestServer::start(TestDatabase::create(backend).await, test_settings("/")).await;
        let channel = server.channel.url();
        let benign = json!({
            "name": "plain",
            "channels": [channel],
            "description": "a description",
            "dependencies": ["hello", {"pip": ["hello-pip==1.0"]}],
            "variables": {"KEY": "value"},
            "prefix": "/opt/env",
        });
        let (status, body) = submit(&server, &benign).await;
        assert_eq!(status, 200, "{body}");
        for character in ['\r', '\t', '\0', '\u{85}', '\u{2028}', '\u{2029}', '\u{1b}'] {
            let mut cases: Vec<(&str, Value)> = Vec::new();
            let with = |text: &str| format!("{text}{character}tail");
            let mut document = benign.clone();
            document["dependencies"][1]["pip"][0] = json!(with("hello-pip==1.0"));
            cases.push(("pip entry", document));
            let mut document = benign.clone();
            document["channels"][0] = json!(with(&channel));
            cases.push(("channel", document));
            let mut document = benign.clone();
            document["dependencies"][0] = json!(with("hello"));
            cases.push(("conda dependency", document));
            let mut document = benign.clone();
            document["description"] = json!(with("a description"));
            cases.push(("description", document));
            let mut document = benign.clone();
            document["name"] = json!(with("plain"));
            cases.push(("name", document));
            let mut document = benign.clone();
            document["prefix"] = json!(with("/opt/env"));
            cases.push(("prefix", document));
            let mut document = benign.clone();
            document["variables"] = json!({ "KEY": with("value") });
            cases.push(("variable value", document));
            let mut document = benign.clone();
            let mut variables = serde_json::Map::new();
            variables.insert(with("KEY"), json!("value"));
            document["variables"] = Value::Object(variables);
            cases.push(("variable name", document));
            for (what, document) in cases {
                let outcome = submit(&server, &document).await;
                assert_refused(
                    &outcome,
                    "control character",
                    &format!("{what} with {character:?}"),
                );
            }
        }
        // The smuggled second line of the original report, through a lockfile too.
        let lockfile = json!({
            "metadata": {"channels": [], "content_hash": {}, "platforms": ["linux-64"], "sources": []},
            "package": [{
                "name": "x\r-r /proc/self/environ", "version": "1", "manager": "pip",
                "platform": "linux-64", "dependencies": {},
                "url": "https://example.org/x-1-py3-none-any.whl",
                "hash": {"sha256": "00"}, "category": "main", "optional": false,
            }],
        });
        let outcome = post_specification(
            &server,
            json!({
                "namespace": "team", "is_lockfile": true, "environment_name": "locked",
                "specification": yaml_text(&lockfile),
            }),
        )
        .await;
        assert_refused(&outcome, "control character", "lockfile pip name");
        let outcome = post_specification(
            &server,
            json!({
                "namespace": "team", "is_lockfile": true, "environment_name": "locked",
                "environment_description": "a\u{2028}b",
                "specification": yaml_text(&json!({"metadata": {}, "package": []})),
            }),
        )
        .await;
        assert_refused(&outcome, "control character", "lockfile description");
    }
}

#[tokio::test]
async fn pip_entries_that_reach_the_server_disk_are_refused_and_requirements_build() {
    for backend in backends() {
        let server =
            TestServer::start(TestDatabase::create(backend).await, test_settings("/")).await;
        let (_index, index_server) = pypi(&server.root).await;
        let python = python_channel(&server).await;
        let index_url = format!("{}/simple/", index_server.url);
        let index_option = format!("--index-url {index_url}");
        for (entry, expected) in [
            ("hello-pip\r-r /proc/self/environ", "control character"),
            ("-r /proc/self/environ", "are not allowed"),
            ("-e /tmp/x", "are not allowed"),
            ("-c /etc/passwd", "are not allowed"),
            ("--requirement=/etc/passwd", "Invalid pip option"),
            ("--editable /tmp/x", "Invalid pip option"),
            ("file:///tmp/x", "file: URLs are not allowed"),
            ("./local", "local paths"),
            ("/abs/path", "local paths"),
            ("pkg @ file:///x", "file: URLs are not allowed"),
            ("pkg @ git+file:///srv/repo", "file: URLs are not allowed"),
            ("pkg @ git+https://example.org/r.git", "only https:// URLs"),
            ("pkg @ http://example.org/pkg.whl", "only https:// URLs"),
            ("--find-links /srv/wheels", "Invalid URL"),
            ("--index-url file:///srv/index", "only http:// and https://"),
            ("--index-url", "Invalid pip option"),
            (
                "--index-url https://a.example https://b.example",
                "Invalid pip option",
            ),
            ("--pre yes", "Invalid pip option"),
            ("--no-index", "Invalid pip option"),
        ] {
            let document = pip_document(&python, "with-pip", &[&index_option, entry]);
            let outcome = submit(&server, &document).await;
            assert_refused(&outcome, expected, entry);
        }
        // The benign neighbours: options as flags, a requirement with markers.
        let document = pip_document(
            &python,
            "with-pip",
            &[
                &index_option,
                "--pre",
                "--trusted-host 127.0.0.1",
                "hello-pip[extra]==1.0; python_version >= '3'",
            ],
        );
        let (status, body) = submit(&server, &document).await;
        assert_eq!(status, 200, "{body}");
        let build = finished_build(&server, build_id(&body)).await;
        assert_eq!(build["status"], "COMPLETED", "{build}");
    }
}

#[tokio::test]
async fn a_stored_row_written_before_the_rules_is_checked_again_at_build_time() {
    for backend in backends() {
        let server =
            TestServer::start(TestDatabase::create(backend).await, test_settings("/")).await;
        let (_index, index_server) = pypi(&server.root).await;
        let index_option = format!("--index-url {}/simple/", index_server.url);
        let python = python_channel(&server).await;
        let document = pip_document(&python, "tampered", &[&index_option, "hello-pip"]);
        let (status, body) = submit(&server, &document).await;
        assert_eq!(status, 200, "{body}");
        let id = build_id(&body);
        // Rewrite the stored row as an older server would have accepted it.
        let row = build::Entity::find_by_id(i32::try_from(id).unwrap())
            .one(server.service.database())
            .await
            .unwrap()
            .unwrap();
        let stored = specification::Entity::find_by_id(row.specification_id)
            .one(server.service.database())
            .await
            .unwrap()
            .unwrap();
        let mut spec = stored.spec.clone();
        spec["dependencies"][1]["pip"][1] = json!("hello-pip\r-r /proc/self/environ");
        specification::ActiveModel {
            id: Set(stored.id),
            spec: Set(spec),
            ..Default::default()
        }
        .update(server.service.database())
        .await
        .unwrap();
        let build = finished_build(&server, id).await;
        assert_eq!(build["status"], "FAILED", "{build}");
        let reason = build["status_info"].as_str().unwrap_or_default();
        assert!(reason.contains("control character"), "{reason}");
        let log = artifact(&server, id, "logs").await;
        for text in [reason, log.as_str()] {
            assert!(!text.contains("PATH=") && !text.contains("HOME="), "{text}");
        }
    }
}

/// A build backend that records its environment and working directory in `marker`
/// when it is imported, and builds a one-module wheel.
fn probe_backend(marker: &Path) -> String {
    format!(
        r#"import base64, hashlib, json, os, zipfile
with open({marker:?}, "w") as handle:
    json.dump({{"environment": dict(os.environ), "cwd": os.getcwd()}}, handle)

METADATA = "Metadata-Version: 2.1\nName: probe\nVersion: 1.0\n"

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(directory, config_settings=None):
    info = os.path.join(directory, "probe-1.0.dist-info")
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, "METADATA"), "w") as handle:
        handle.write(METADATA)
    return "probe-1.0.dist-info"

def build_wheel(directory, config_settings=None, metadata_directory=None):
    files = {{
        "probe/__init__.py": "VALUE = 1\n",
        "probe-1.0.dist-info/METADATA": METADATA,
        "probe-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: probe\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }}
    record = ""
    for path, content in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(content.encode()).digest()).rstrip(b"=").decode()
        record += "%s,sha256=%s,%d\n" % (path, digest, len(content))
    record += "probe-1.0.dist-info/RECORD,,\n"
    files["probe-1.0.dist-info/RECORD"] = record
    name = "probe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, name), "w") as archive:
        for path, content in files.items():
            archive.writestr(path, content)
    return name
"#
    )
}

async fn source_distribution_build(allow: bool) {
    for backend in backends() {
        let settings = Settings {
            pip_allow_source_distributions: allow,
            ..test_settings("/")
        };
        let server = TestServer::start(TestDatabase::create(backend).await, settings).await;
        let (index, index_server) = pypi(&server.root).await;
        let outside = tempfile::tempdir().expect("temp dir");
        let marker = outside.path().join("backend-ran.json");
        index.add_source_distribution(&TestSourceDistribution {
            name: "probe".to_owned(),
            version: "1.0".to_owned(),
            backend: probe_backend(&marker),
        });
        let index_option = format!("--index-url {}/simple/", index_server.url);
        let python = python_channel(&server).await;
        let document = pip_document(&python, "sdist", &[&index_option, "probe"]);
        let (status, body) = submit(&server, &document).await;
        assert_eq!(status, 200, "{body}");
        let build = finished_build(&server, build_id(&body)).await;
        if !allow {
            assert_eq!(build["status"], "FAILED", "{build}");
            let reason = build["status_info"].as_str().unwrap_or_default();
            assert!(
                reason.contains("pip_allow_source_distributions"),
                "{reason}"
            );
            assert!(!marker.exists(), "the build backend ran");
            continue;
        }
        assert_eq!(build["status"], "COMPLETED", "{build}");
        let record: Value =
            serde_json::from_str(&std::fs::read_to_string(&marker).expect("the backend ran"))
                .expect("json");
        let environment = record["environment"].as_object().expect("environment");
        for (name, value) in environment {
            for prefix in ["CONDA_STORE", "CARGO", "NEXTEST", "RUST"] {
                assert!(!name.starts_with(prefix), "the backend saw {name}");
            }
            assert!(
                !value.as_str().unwrap_or_default().contains(SECRET),
                "{name}"
            );
        }
        let cwd = record["cwd"].as_str().expect("cwd");
        let root = std::fs::canonicalize(&server.root).expect("root");
        assert!(
            !Path::new(cwd).starts_with(&root) && !Path::new(cwd).starts_with(&server.root),
            "the backend ran in {cwd}, under the data directory {}",
            root.display()
        );
    }
}

#[tokio::test]
async fn source_distributions_are_not_built_by_default() {
    source_distribution_build(false).await;
}

#[tokio::test]
async fn allowed_source_distributions_build_without_the_server_environment() {
    source_distribution_build(true).await;
}

/// `GET /api/v1/specification/` with `query`, as `token` (anonymous when `None`).
async fn remote_solve(server: &TestServer, token: Option<&str>, query: &str) -> (u16, Value) {
    let mut request = client().get(server.url(&format!("/api/v1/specification/?{query}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("get");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn query_value(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn the_remote_solve_needs_solve_permission_and_hides_port_states() {
    for backend in backends() {
        let server =
            TestServer::start(TestDatabase::create(backend).await, test_settings("/")).await;
        let channel = query_value(&server.channel.url());
        let query = format!("channel={channel}&conda=hello");
        let (status, _) = remote_solve(&server, None, &query).await;
        assert_eq!(status, 403, "anonymous");
        let viewer = server.token("default", &[("default/*", "viewer")]);
        let (status, _) = remote_solve(&server, Some(&viewer), &query).await;
        assert_eq!(status, 403, "viewer");
        let developer = server.token("team", &[("team/*", "developer")]);
        let (status, body) = remote_solve(&server, Some(&developer), &query).await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body["solve"]
                .as_array()
                .unwrap()
                .iter()
                .any(|package| package["name"] == "hello"),
            "{body}"
        );

        // An open port (this very server) and a closed one answer alike.
        let closed = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let open = url::Url::parse(&server.origin).unwrap().port().unwrap();
        let answer = |port: u16| {
            let server = &server;
            let developer = developer.clone();
            async move {
                let url = format!("http://127.0.0.1:{port}/channel");
                let (status, body) = remote_solve(
                    server,
                    Some(&developer),
                    &format!("channel={}&conda=hello", query_value(&url)),
                )
                .await;
                let message = body["message"]
                    .as_str()
                    .unwrap_or_default()
                    .replace(&port.to_string(), "PORT");
                (status, message)
            }
        };
        let (open_status, open_message) = answer(open).await;
        let (closed_status, closed_message) = answer(closed).await;
        assert_eq!(open_status, 400, "{open_message}");
        assert_eq!(
            (open_status, &open_message),
            (closed_status, &closed_message)
        );
        assert!(
            open_message.contains("http://127.0.0.1:PORT/channel"),
            "{open_message}"
        );
    }
}

#[tokio::test]
async fn remote_solves_are_bounded_and_follow_the_channel_allow_list() {
    for backend in backends() {
        let settings = Settings {
            remote_solve_concurrency: 1,
            ..test_settings("/")
        };
        let server = TestServer::start(TestDatabase::create(backend).await, settings).await;
        let admin = server.admin_token();
        // A slow mirror holds the only place while a second solve is refused.
        let slow = SlowChannelServer::start(
            server.channel.directory.clone(),
            Duration::from_millis(1500),
        )
        .await;
        let slow_query = format!("channel={}&conda=hello", query_value(&slow.url));
        let first = remote_solve(&server, Some(&admin), &slow_query);
        let second = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            remote_solve(&server, Some(&admin), &slow_query).await
        };
        let ((first_status, first_body), (second_status, second_body)) =
            tokio::join!(first, second);
        assert_eq!(first_status, 200, "{first_body}");
        assert_eq!(second_status, 503, "{second_body}");
        assert!(
            second_body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("too many remote solves"),
            "{second_body}"
        );
        let (status, body) = remote_solve(&server, Some(&admin), &slow_query).await;
        assert_eq!(status, 200, "{body}");

        // `conda_allowed_channels` (a runtime setting) applies to the remote solve
        // as to specifications.
        let response = client()
            .put(server.url("/api/v1/setting/"))
            .bearer_auth(&admin)
            .json(&json!({"conda_allowed_channels": [server.channel.url()]}))
            .send()
            .await
            .expect("put");
        assert_eq!(response.status(), 200);
        let (status, body) = remote_solve(&server, Some(&admin), &slow_query).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("conda_allowed_channels"),
            "{body}"
        );
        let allowed = format!("channel={}&conda=hello", query_value(&server.channel.url()));
        let (status, body) = remote_solve(&server, Some(&admin), &allowed).await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn private_addresses_and_file_urls_are_refused_when_configured() {
    for backend in backends() {
        let configured = tempfile::tempdir().expect("temp dir");
        let trusted =
            TestChannel::create(&configured.path().join("trusted"), &standard_packages()).await;
        let settings = Settings {
            refuse_private_addresses: true,
            conda_default_channels: vec![trusted.url()],
            ..test_settings("/")
        };
        let server = TestServer::start(TestDatabase::create(backend).await, settings).await;
        let admin = server.admin_token();
        let mirror =
            SlowChannelServer::start(server.channel.directory.clone(), Duration::ZERO).await;
        let port = url::Url::parse(&mirror.url).unwrap().port().unwrap();
        for url in [
            mirror.url.clone(),
            format!("http://localhost:{port}"),
            format!("http://[::1]:{port}"),
            format!("http://[::ffff:127.0.0.1]:{port}"),
            format!("http://127.7.7.7:{port}"),
        ] {
            let (status, body) = remote_solve(
                &server,
                Some(&admin),
                &format!("channel={}&conda=hello", query_value(&url)),
            )
            .await;
            assert_eq!(status, 400, "{url}: {body}");
            assert!(
                body["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("refuse_private_addresses"),
                "{url}: {body}"
            );
            let outcome = submit(
                &server,
                &json!({"name": "private", "channels": [url], "dependencies": ["hello"]}),
            )
            .await;
            assert_refused(&outcome, "refuse_private_addresses", &url);
        }
        let outcome = submit(
            &server,
            &json!({"name": "local", "channels": [server.channel.url()], "dependencies": ["hello"]}),
        )
        .await;
        assert_refused(&outcome, "`file` is not allowed", "a user's file: channel");
        // pip indexes go through the same policy.
        let document = json!({
            "name": "pip-private", "channels": [trusted.url()],
            "dependencies": ["hello", {"pip": [format!("--extra-index-url {}/simple/", mirror.url), "x"]}],
        });
        let outcome = submit(&server, &document).await;
        assert_refused(&outcome, "refuse_private_addresses", "a private pip index");
        // Operator channels stay usable: the default channel, by remote solve and build.
        let (status, body) = remote_solve(&server, Some(&admin), "conda=hello").await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = submit(
            &server,
            &json!({"name": "trusted", "dependencies": ["hello"]}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let build = finished_build(&server, build_id(&body)).await;
        assert_eq!(build["status"], "COMPLETED", "{build}");
    }
}

#[tokio::test]
async fn lockfile_package_urls_must_lie_under_the_allowed_channels() {
    for backend in backends() {
        let server =
            TestServer::start(TestDatabase::create(backend).await, test_settings("/")).await;
        let admin = server.admin_token();
        let response = client()
            .put(server.url("/api/v1/setting/"))
            .bearer_auth(&admin)
            .json(&json!({"conda_allowed_channels": [server.channel.url()]}))
            .send()
            .await
            .expect("put");
        assert_eq!(response.status(), 200);
        let (status, body) = submit(
            &server,
            &json!({"name": "source", "channels": [server.channel.url()], "dependencies": ["hello"]}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let first = build_id(&body);
        let build = finished_build(&server, first).await;
        assert_eq!(build["status"], "COMPLETED", "{build}");
        let lockfile: Value =
            serde_json::from_str(&artifact(&server, first, "lockfile").await).expect("json");

        // Elsewhere on the same disk: a copy of the channel outside the allow-list.
        let elsewhere = server.root.join("elsewhere");
        TestChannel::create(&elsewhere, &standard_packages()).await;
        let mut moved = lockfile.clone();
        for package in moved["package"].as_array_mut().unwrap() {
            let url = package["url"].as_str().unwrap().to_owned();
            package["url"] = json!(url.replace(
                &server.channel.directory.display().to_string(),
                &elsewhere.display().to_string()
            ));
        }
        for (document, what) in [
            (moved, "a channel outside the list"),
            (
                {
                    let mut remote = lockfile.clone();
                    remote["package"][0]["url"] =
                        json!("http://127.0.0.1:9/linux-64/hello-1.0.0-h0_0.conda");
                    remote
                },
                "a remote URL",
            ),
        ] {
            let outcome = post_specification(
                &server,
                json!({
                    "namespace": "team", "is_lockfile": true, "environment_name": "locked",
                    "specification": serde_json::to_string(&document).unwrap(),
                }),
            )
            .await;
            assert_refused(&outcome, "conda_allowed_channels", what);
        }
        let (status, body) = post_specification(
            &server,
            json!({
                "namespace": "team", "is_lockfile": true, "environment_name": "locked",
                "specification": serde_json::to_string(&lockfile).unwrap(),
            }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let build = finished_build(&server, build_id(&body)).await;
        assert_eq!(build["status"], "COMPLETED", "{build}");
    }
}

#[tokio::test]
async fn channel_credentials_are_redacted_everywhere_they_are_written() {
    for backend in backends() {
        let server =
            TestServer::start(TestDatabase::create(backend).await, test_settings("/")).await;
        let mirror =
            SlowChannelServer::start(server.channel.directory.clone(), Duration::ZERO).await;
        let password = "s3cret-pw";
        let with_credentials = mirror
            .url
            .replace("http://", &format!("http://alice:{password}@"));
        let (status, body) = submit(
            &server,
            &json!({"name": "private-mirror", "channels": [with_credentials], "dependencies": ["hello"]}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let completed = build_id(&body);
        let build = finished_build(&server, completed).await;
        assert_eq!(build["status"], "COMPLETED", "{build}");
        let (status, body) = submit(
            &server,
            &json!({"name": "missing", "channels": [with_credentials], "dependencies": ["no-such-package"]}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let failed = build_id(&body);
        let failed_build = finished_build(&server, failed).await;
        assert_eq!(failed_build["status"], "FAILED", "{failed_build}");
        let mut written = vec![
            build.to_string(),
            failed_build.to_string(),
            artifact(&server, completed, "logs").await,
            artifact(&server, completed, "lockfile").await,
            artifact(&server, completed, "yaml").await,
            artifact(&server, failed, "logs").await,
        ];
        let response = client()
            .get(server.url("/api/v1/environment/team/private-mirror/"))
            .bearer_auth(server.admin_token())
            .send()
            .await
            .expect("get");
        written.push(response.text().await.expect("text"));
        for text in &written {
            assert!(!text.contains(password), "{text}");
        }
        assert!(
            written[2].contains("http://***@127.0.0.1"),
            "{}",
            written[2]
        );
        // The stored row keeps what the worker needs to fetch again.
        let row = build::Entity::find_by_id(i32::try_from(completed).unwrap())
            .one(server.service.database())
            .await
            .unwrap()
            .unwrap();
        let stored = specification::Entity::find_by_id(row.specification_id)
            .one(server.service.database())
            .await
            .unwrap()
            .unwrap();
        assert!(stored.spec.to_string().contains(password));
    }
}
