//! The README's main command, exactly as written there, on a machine with no
//! conda-store data: it comes up, prints the URL to open and how to log in, serves
//! `/api/v1/` and `/ui/`, and stops cleanly on Ctrl-C (SIGINT).
//!
//! Only the environment is set, so the test leaves the user's data alone: `HOME` and
//! `XDG_DATA_HOME` point into a temporary folder (`CARGO_HOME` and `RUSTUP_HOME` stay
//! the machine's), and the channel index is off (no network here).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The first `cargo run` line of the README's quick start, without its comment.
fn main_command() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("README.md");
    readme
        .lines()
        .find(|line| line.starts_with("cargo run "))
        .map(|line| line.split(" #").next().unwrap_or(line).trim().to_owned())
        .expect("the README names its main command in the quick start")
}

/// Where a Rust tool keeps its files: the variable when set, else `~/{folder}`.
fn tool_home(variable: &str, folder: &str) -> std::path::PathBuf {
    std::env::var_os(variable).map_or_else(
        || std::env::home_dir().expect("a home directory").join(folder),
        std::path::PathBuf::from,
    )
}

#[test]
fn the_readme_main_command_serves_the_api_and_the_ui_and_stops_on_ctrl_c() {
    let command = main_command();
    assert_eq!(command, "cargo run --bin conda-store-server -- standalone");
    let home = tempfile::tempdir().expect("temp dir");
    let mut shell = Command::new("sh");
    // What cargo set for this test (CARGO_MANIFEST_DIR, CARGO_PKG_*, ...) is not in a
    // user's shell; left in, it would make the inner cargo rebuild crates whose build
    // scripts watch it.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("CARGO") {
            shell.env_remove(name);
        }
    }
    let mut child = shell
        .arg("-c")
        .arg(format!("exec {command}"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        // Cargo and rustup stay where they are: only the user's data moves. (With
        // CARGO_HOME under the new HOME, cargo would fetch and rebuild every crate.)
        .env("CARGO_HOME", tool_home("CARGO_HOME", ".cargo"))
        .env("RUSTUP_HOME", tool_home("RUSTUP_HOME", ".rustup"))
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("CONDA_STORE_CONDA_INDEXED_CHANNELS", "[]")
        // Tests must not depend on how much disk the machine has free.
        .env("CONDA_STORE_STORAGE_THRESHOLD", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run the README command");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let started = Instant::now();
    let mut printed = Vec::new();
    while !printed
        .iter()
        .any(|line: &String| line.starts_with("Open "))
    {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no start-up message: {printed:?}"
        );
        match lines.next() {
            Some(Ok(line)) => printed.push(line),
            _ => panic!("the server stopped: {printed:?}"),
        }
    }
    let open = printed
        .iter()
        .find(|line| line.starts_with("Open "))
        .unwrap();
    assert!(
        open.starts_with("Open http://127.0.0.1:8080/ui/ in a browser. Log in with any user name and the password `password`"),
        "{open}"
    );
    assert!(
        home.path()
            .join("data/conda-store/conda-store.sqlite")
            .is_file(),
        "the embedded database lives in the user data directory"
    );
    let status: serde_json::Value = reqwest::blocking::get("http://127.0.0.1:8080/api/v1/")
        .expect("GET /api/v1/")
        .json()
        .expect("json");
    assert_eq!(status["status"], "ok");
    let page = reqwest::blocking::get("http://127.0.0.1:8080/ui/").expect("GET /ui/");
    assert_eq!(page.status(), 200);
    assert!(page.text().expect("text").contains("condaStoreConfig"));

    // Ctrl-C: a clean stop.
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill -INT");
    let stopping = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "exit status after Ctrl-C: {status}");
            break;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(20),
            "still running 20 s after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
