//! The official Python client (`conda-store` 2025.2.2 from PyPI, installed into
//! target/test-venv by scripts/test-tools.sh) drives a real `conda-store-server
//! standalone` under a URL prefix: `info`, `list`, `wait`, `download` of every
//! artifact, `run` of a built environment, with token and with basic authentication.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_test_support::channel::{TestChannel, python_package, standard_packages};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_conda-store-server");
const PREFIX: &str = "/conda-store";

/// The official client's executable on PATH; fails the test when it is missing or
/// another version.
fn official_client() -> PathBuf {
    static EXECUTABLE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    EXECUTABLE.get_or_init(find_official_client).clone()
}

fn find_official_client() -> PathBuf {
    let executable = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|directory| directory.join("conda-store"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the official client `conda-store` (PyPI conda-store==2025.2.2) is not on PATH: \
                 run the tests with scripts/test.sh, or first `eval \"$(scripts/test-tools.sh)\"`, \
                 which installs it into target/test-venv"
            )
        });
    let version = Command::new(&executable)
        .arg("--version")
        .output()
        .expect("conda-store --version");
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.contains("version 2025.2.2"),
        "{} is not the official client 2025.2.2 ({version:?}): run the tests with \
         scripts/test.sh, which puts target/test-venv/bin first on PATH",
        executable.display()
    );
    executable
}

/// A `conda-store-server standalone` process, killed on drop.
struct Server {
    child: Child,
    /// `http://localhost:PORT/conda-store` (no trailing slash).
    url: String,
    log: PathBuf,
}

impl Server {
    fn start(root: &Path) -> Self {
        let log = root.join("server.log");
        let mut child = Command::new(BINARY)
            .env_remove("CONDA_STORE_DATABASE_URL")
            .env("HOME", root.join("home"))
            .env("XDG_DATA_HOME", root.join("home/data"))
            // No channel index: the test must not reach the network.
            .env("CONDA_STORE_CONDA_INDEXED_CHANNELS", "[]")
            // Tests must not depend on how much disk the machine has free.
            .env("CONDA_STORE_STORAGE_THRESHOLD", "0")
            .env("CONDA_STORE_CONDA_SOLVE_PLATFORMS", "[\"linux-64\"]")
            .arg("--data-directory")
            .arg(root.join("data"))
            .args(["--url-prefix", PREFIX, "standalone", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("server log"))
            .spawn()
            .expect("start conda-store-server standalone");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the first line");
        let url = line
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .trim_end_matches('/')
            .to_owned();
        assert!(url.ends_with(PREFIX), "{url}");
        // The client's cookie jar (aiohttp) ignores cookies of IP-address hosts, so its
        // basic authentication (a login cookie) needs a host name.
        let url = url.replacen("http://127.0.0.1:", "http://localhost:", 1);
        Self { child, url, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the official client authenticates.
#[derive(Clone, Copy)]
enum Authentication<'a> {
    None,
    Token(&'a str),
    Basic(&'a str, &'a str),
}

/// Runs the official client (`conda-store --conda-store-url URL --auth ... ARGUMENTS`)
/// in `directory`, with its temporary directory (the `run` cache) inside it.
fn client(
    server: &Server,
    authentication: Authentication<'_>,
    directory: &Path,
    arguments: &[&str],
) -> Output {
    let mut command = Command::new(official_client());
    command
        .current_dir(directory)
        .env("TMPDIR", directory.join("tmp"))
        .env_remove("CONDA_STORE_URL")
        .env_remove("CONDA_STORE_AUTH")
        .env_remove("CONDA_STORE_TOKEN")
        .env_remove("CONDA_STORE_USERNAME")
        .env_remove("CONDA_STORE_PASSWORD")
        .args(["--conda-store-url", &server.url]);
    match authentication {
        Authentication::None => command.args(["--auth", "none"]),
        Authentication::Token(token) => command
            .args(["--auth", "token"])
            .env("CONDA_STORE_TOKEN", token),
        Authentication::Basic(username, password) => command
            .args(["--auth", "basic"])
            .env("CONDA_STORE_USERNAME", username)
            .env("CONDA_STORE_PASSWORD", password),
    };
    std::fs::create_dir_all(directory.join("tmp")).expect("client temp dir");
    command.args(arguments).output().expect("run conda-store")
}

/// The client's stdout; fails with its output and the server log unless it succeeded.
fn success(server: &Server, arguments: &[&str], output: &Output) -> String {
    assert!(
        output.status.success(),
        "conda-store {arguments:?} failed: {}\nstdout: {}\nstderr: {}\nserver log:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

/// Runs the client and returns its stdout, which must come from a success.
fn drive(
    server: &Server,
    authentication: Authentication<'_>,
    directory: &Path,
    arguments: &[&str],
) -> String {
    let output = client(server, authentication, directory, arguments);
    success(server, arguments, &output)
}

/// Logs in as `username` (`POST /login/`) and exchanges the cookie for a token
/// (`POST /api/v1/token/`).
fn login_token(server: &Server, username: &str) -> String {
    let http = reqwest::blocking::Client::new();
    let response = http
        .post(format!("{}/login/", server.url))
        .json(&serde_json::json!({"username": username, "password": "password"}))
        .send()
        .expect("POST /login/");
    assert_eq!(response.status(), 200);
    let cookie = response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find_map(|value| value.split(';').next()?.strip_prefix("conda-store-auth="))
        .expect("conda-store-auth cookie")
        .to_owned();
    let body: serde_json::Value = http
        .post(format!("{}/api/v1/token/", server.url))
        .header(
            reqwest::header::COOKIE,
            format!("conda-store-auth={cookie}"),
        )
        .json(&serde_json::json!({}))
        .send()
        .and_then(reqwest::blocking::Response::json)
        .expect("POST /api/v1/token/");
    body["data"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token in {body}"))
        .to_owned()
}

fn specification(channel: &TestChannel, name: &str, dependencies: &[&str]) -> String {
    format!(
        "name: {name}\nchannels:\n  - {}\ndependencies:\n{}",
        channel.url(),
        dependencies
            .iter()
            .map(|dependency| format!("  - {dependency}\n"))
            .collect::<String>()
    )
}

/// `POST /api/v1/specification/` with a bearer token; the new build's id.
fn create_environment(server: &Server, token: &str, namespace: &str, yaml: &str) -> i64 {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/api/v1/specification/", server.url))
        .bearer_auth(token)
        .json(&serde_json::json!({"namespace": namespace, "specification": yaml}))
        .send()
        .expect("POST /api/v1/specification/");
    let status = response.status();
    let body: serde_json::Value = response.json().expect("json");
    assert_eq!(status, 200, "{body}");
    body["data"]["build_id"].as_i64().expect("build_id")
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

fn names(list: &serde_json::Value) -> Vec<&str> {
    let mut names: Vec<&str> = list
        .as_array()
        .expect("a JSON list")
        .iter()
        .filter_map(|item| item["name"].as_str())
        .collect();
    names.sort_unstable();
    names
}

#[test]
fn the_official_client_drives_the_server_with_token_and_basic_authentication() {
    let executable = official_client();
    let root = tempfile::tempdir().expect("temp dir");
    let mut packages = standard_packages();
    packages.push(python_package());
    let channel = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(TestChannel::create(&root.path().join("channel"), &packages));
    let server = Server::start(root.path());
    let work = root.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");

    let token = login_token(&server, "alice");
    let with_token = Authentication::Token(&token);
    let hello_build = create_environment(
        &server,
        &token,
        "alice",
        &specification(&channel, "hello-env", &["hello"]),
    );
    // The client library's own create_environment, with the same token (through the
    // environment: the library reads CONDA_STORE_TOKEN even when given `api_token`).
    let created = Command::new(executable.with_file_name("python"))
        .env("CONDA_STORE_TOKEN", &token)
        .args([
            "-c",
            "import asyncio, sys\n\
             from conda_store.api import CondaStoreAPI\n\
             async def main():\n\
             \x20   async with CondaStoreAPI(sys.argv[1], auth_type='token', api_token=sys.argv[2]) as api:\n\
             \x20       print(await api.create_environment('alice', sys.argv[3]))\n\
             asyncio.run(main())\n",
            &server.url,
            &token,
            &specification(&channel, "python-env", &["python"]),
        ])
        .output()
        .expect("python");
    let python_build: i64 = success(&server, &["create_environment"], &created)
        .trim()
        .parse()
        .expect("a build id");

    // wait: by namespace/name, by id, by namespace/name:id, and for an artifact.
    for uri in [
        "alice/hello-env".to_owned(),
        python_build.to_string(),
        format!("alice/hello-env:{hello_build}"),
    ] {
        drive(
            &server,
            with_token,
            &work,
            &["wait", &uri, "--interval", "1", "--timeout", "300"],
        );
    }
    drive(
        &server,
        with_token,
        &work,
        &[
            "wait",
            "alice/python-env",
            "--artifact",
            "archive",
            "--interval",
            "1",
        ],
    );

    // info
    let info = drive(&server, with_token, &work, &["info"]);
    assert!(info.contains("Default namespace is alice"), "{info}");
    assert!(info.contains("Authenticated True"), "{info}");
    assert!(info.contains("namespace::create"), "{info}");

    // list namespace | environment | build
    let namespaces = json(&drive(
        &server,
        with_token,
        &work,
        &["list", "namespace", "--output", "json"],
    ));
    assert!(names(&namespaces).contains(&"alice"), "{namespaces}");
    let environments = json(&drive(
        &server,
        with_token,
        &work,
        &["list", "environment", "--output", "json"],
    ));
    assert_eq!(
        names(&environments),
        ["hello-env", "python-env"],
        "{environments}"
    );
    let hello = environments
        .as_array()
        .unwrap()
        .iter()
        .find(|environment| environment["name"] == "hello-env")
        .unwrap();
    assert_eq!(hello["namespace"]["name"], "alice");
    assert_eq!(hello["current_build_id"], hello_build);
    let filtered = json(&drive(
        &server,
        with_token,
        &work,
        &[
            "list",
            "environment",
            "--status",
            "COMPLETED",
            "--artifact",
            "CONDA_PACK",
            "--package",
            "hello",
            "--output",
            "json",
        ],
    ));
    assert_eq!(names(&filtered), ["hello-env"], "{filtered}");
    let table = drive(&server, with_token, &work, &["list", "environment"]);
    assert!(table.contains("python-env"), "{table}");
    let builds = json(&drive(
        &server,
        with_token,
        &work,
        &["list", "build", "--status", "COMPLETED", "--output", "json"],
    ));
    let mut ids: Vec<i64> = builds
        .as_array()
        .expect("builds")
        .iter()
        .map(|build| build["id"].as_i64().expect("id"))
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [hello_build, python_build], "{builds}");
    let table = drive(&server, with_token, &work, &["list", "build"]);
    assert!(table.contains("COMPLETED"), "{table}");

    // download: lockfile (conda-lock JSON), yaml, logs, archive.
    let path = drive(&server, with_token, &work, &["download", "alice/hello-env"]);
    assert_eq!(
        Path::new(&path),
        work.join(format!("build-{hello_build}.lock"))
    );
    let lockfile = json(&std::fs::read_to_string(&path).expect("lockfile"));
    assert_eq!(lockfile["version"], 1, "{lockfile}");
    let locked: Vec<&str> = lockfile["package"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|package| package["name"].as_str())
        .collect();
    assert!(
        locked.contains(&"hello") && locked.contains(&"libhello"),
        "{locked:?}"
    );
    let path = drive(
        &server,
        with_token,
        &work,
        &[
            "download",
            &format!("alice/hello-env:{hello_build}"),
            "--artifact",
            "yaml",
        ],
    );
    let yaml = std::fs::read_to_string(&path).expect("yaml");
    assert!(
        yaml.contains("name: hello-env") && yaml.contains("hello=1.0.0"),
        "{yaml}"
    );
    let path = drive(
        &server,
        with_token,
        &work,
        &[
            "download",
            &hello_build.to_string(),
            "--artifact",
            "logs",
            "--output-filename",
            "hello.log",
        ],
    );
    assert_eq!(Path::new(&path), work.join("hello.log"));
    let logs = std::fs::read_to_string(&path).expect("logs");
    assert!(
        logs.contains("starting build of conda environment"),
        "{logs}"
    );
    let path = drive(
        &server,
        with_token,
        &work,
        &["download", "alice/python-env", "--artifact", "archive"],
    );
    assert_eq!(
        Path::new(&path),
        work.join(format!("build-{python_build}.tar.gz"))
    );
    let listing = Command::new("tar")
        .arg("-tzf")
        .arg(&path)
        .output()
        .expect("tar");
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("bin/python") && listing.contains("bin/activate"),
        "{listing}"
    );

    // run: python of the environment, unpacked into the client's cache.
    let script = "import os, sys; print('hello from', sys.prefix, os.environ['CONDA_PREFIX'])";
    let output = drive(
        &server,
        with_token,
        &work,
        &["run", "alice/python-env", "--", "python", "-c", script],
    );
    let unpacked = work.join("tmp/conda-store").join(python_build.to_string());
    assert_eq!(
        output.trim(),
        format!("hello from {} {}", unpacked.display(), unpacked.display())
    );
    // Again from the cache, by namespace/name:id.
    let output = drive(
        &server,
        with_token,
        &work,
        &[
            "run",
            &format!("alice/python-env:{python_build}"),
            "--",
            "python",
            "-c",
            "print(6 * 7)",
        ],
    );
    assert_eq!(output.trim(), "42");

    // Basic authentication: logs in as bob (admin everywhere, as the default login).
    let basic = Authentication::Basic("bob", "password");
    let info = drive(&server, basic, &work, &["info"]);
    assert!(info.contains("Default namespace is bob"), "{info}");
    assert!(info.contains("Authenticated True"), "{info}");
    let environments = json(&drive(
        &server,
        basic,
        &work,
        &["list", "environment", "--output", "json"],
    ));
    assert_eq!(
        names(&environments),
        ["hello-env", "python-env"],
        "{environments}"
    );
    let path = drive(
        &server,
        basic,
        &work,
        &[
            "download",
            "alice/hello-env",
            "--artifact",
            "lockfile",
            "--output-filename",
            "basic.lock",
        ],
    );
    json(&std::fs::read_to_string(&path).expect("lockfile"));
    let output = drive(
        &server,
        basic,
        &work,
        &[
            "run",
            "--no-cache",
            &python_build.to_string(),
            "--",
            "python",
            "-c",
            "import sys; print(sys.version_info[0])",
        ],
    );
    assert_eq!(output.trim(), "3");

    // A wrong password and no authentication see nothing of alice's.
    let refused = client(
        &server,
        Authentication::Basic("bob", "wrong"),
        &work,
        &["info"],
    );
    assert!(!refused.status.success(), "{refused:?}");
    let info = drive(&server, Authentication::None, &work, &["info"]);
    assert!(info.contains("Authenticated False"), "{info}");
    let environments = json(&drive(
        &server,
        Authentication::None,
        &work,
        &["list", "environment", "--output", "json"],
    ));
    assert_eq!(environments, serde_json::json!([]));
    let denied = client(
        &server,
        Authentication::None,
        &work,
        &["download", "alice/hello-env"],
    );
    assert!(!denied.status.success(), "{denied:?}");
}
