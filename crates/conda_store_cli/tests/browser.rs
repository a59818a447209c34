//! The web UI and the admin pages in a real browser: Debian's Chromium driven by
//! playwright-core (tests/browser/scenario.cjs, run with node) against a real
//! `conda-store-server standalone` and a local channel. scripts/browser-tools.sh installs
//! Chromium, node and the pinned npm packages (scripts/test.sh runs it). Screenshots of
//! every step go to target/browser-screenshots/ (or `CONDA_STORE_BROWSER_SCREENSHOTS`).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_test_support::channel::{TestChannel, standard_packages};
use conda_store_test_support::http::SlowChannelServer;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_conda-store-server");
const INSTALL: &str = "run scripts/browser-tools.sh (scripts/test.sh does), which installs \
    Debian's chromium, node and npm when missing and the pinned playwright-core into \
    target/browser-tools";

/// The workspace's folder.
fn workspace() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    workspace.canonicalize().unwrap_or(workspace)
}

/// The path named by the environment variable `name`, else `default`.
fn path_from(name: &str, default: PathBuf) -> PathBuf {
    std::env::var_os(name).map_or(default, PathBuf::from)
}

/// A `conda-store-server standalone` process with one worker, killed on drop.
struct Server {
    child: Child,
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
            // One job at a time: the admin step keeps a build queued behind another.
            .env("CONDA_STORE_CONCURRENCY", "1")
            .arg("--data-directory")
            .arg(root.join("data"))
            .args(["standalone", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("server log"))
            .spawn()
            .expect("start conda-store-server standalone");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                line.split_whitespace()
                    .find(|word| word.starts_with("http://"))
                    .map(|word| word.trim_end_matches('/').to_owned())
            })
            .expect("the server prints its URL");
        // Keep reading its output, so that it never writes into a closed pipe.
        let mut output = std::fs::File::create(root.join("server.out")).expect("server output");
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = writeln!(output, "{line}");
            }
        });
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

/// Chromium's executable and the node_modules folder holding playwright-core; fails the
/// test with the install advice when node, Chromium or the npm packages are missing.
fn browser_tools() -> (PathBuf, PathBuf) {
    let chromium = path_from("CONDA_STORE_BROWSER_CHROMIUM", "/usr/bin/chromium".into());
    assert!(
        chromium.is_file(),
        "{} is missing: {INSTALL}",
        chromium.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|output| output.status.success()),
        "node is missing: {INSTALL}"
    );
    let modules = path_from(
        "CONDA_STORE_BROWSER_MODULES",
        workspace().join("target/browser-tools/node_modules"),
    );
    assert!(
        modules.join("playwright-core/package.json").is_file(),
        "playwright-core is missing from {}: {INSTALL}",
        modules.display()
    );
    (chromium, modules)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ui_and_admin_pages_in_chromium() {
    let (chromium, modules) = browser_tools();
    let screenshots = path_from(
        "CONDA_STORE_BROWSER_SCREENSHOTS",
        workspace().join("target/browser-screenshots"),
    );
    std::fs::create_dir_all(&screenshots).expect("screenshot folder");
    for entry in std::fs::read_dir(&screenshots).expect("screenshot folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|extension| extension == "png") {
            std::fs::remove_file(path).expect("remove an old screenshot");
        }
    }

    let root = tempfile::tempdir().expect("temp dir");
    let channel = TestChannel::create(&root.path().join("channel"), &standard_packages()).await;
    // Its repodata answers after ten minutes: the builds using it stay BUILDING until
    // canceled.
    let slow = SlowChannelServer::start(channel.directory.clone(), Duration::from_secs(600)).await;
    let server = Server::start(root.path());

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/scenario.cjs");
    let mut command = Command::new("node");
    command
        .arg(&script)
        .env("BASE", &server.url)
        .env("CHANNEL", channel.url())
        .env("SLOW_CHANNEL", &slow.url)
        .env("SCREENSHOTS", &screenshots)
        .env("CHROMIUM", &chromium)
        .env("NODE_PATH", &modules)
        .env("HOME", root.path().join("home"));
    let start = Instant::now();
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!(
        "{stdout}{stderr}scenario took {:.1} s; screenshots in {}",
        start.elapsed().as_secs_f64(),
        screenshots.display()
    );
    assert!(
        output.status.success(),
        "the browser scenario failed ({}):\n{stdout}{stderr}\nscreenshots in {}\nserver log:\n{}",
        output.status,
        screenshots.display(),
        server.log()
    );
}
