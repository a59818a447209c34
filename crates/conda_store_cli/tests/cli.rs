//! The binary as users run it: `db` commands on every backend, bad input, and
//! `standalone` serving the status route.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_db::introspect;
use conda_store_db::migration::MIGRATION_TABLE;
use conda_store_test_support::{Backend, TestDatabase, backends, table_rows};
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BINARY: &str = env!("CARGO_BIN_EXE_conda-store-server");

/// Runs the binary with a private HOME and no CONDA_STORE_* settings from outside.
fn run(home: &Path, arguments: &[&str]) -> Output {
    let mut command = Command::new(BINARY);
    for (name, _) in std::env::vars() {
        if name.starts_with("CONDA_STORE_") {
            command.env_remove(name);
        }
    }
    command
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("data"))
        .env_remove("RUST_LOG")
        .args(arguments)
        .output()
        .expect("run conda-store-server")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A failed run: exit code 1 and exactly one line on stderr; returns that line.
fn single_error_line(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "stderr: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_owned()
}

#[tokio::test]
async fn db_commands_walk_the_revisions_on_every_backend() {
    for backend in backends() {
        let home = tempfile::tempdir().expect("home");
        let database = TestDatabase::create(backend).await;
        let url = database.url.as_str();
        let db = |arguments: &[&str]| {
            let mut all = vec!["--database-url", url, "db"];
            all.extend_from_slice(arguments);
            run(home.path(), &all)
        };
        let current = db(&["current"]);
        if backend == Backend::Sqlite {
            // Read-only commands do not create a missing SQLite file.
            let line = single_error_line(&current);
            assert!(line.contains("does not exist"), "{line}");
        } else {
            assert_eq!(stdout(&current).trim(), "base", "{current:?}");
        }
        let upgraded = db(&["upgrade", "0002"]);
        assert!(upgraded.status.success(), "{upgraded:?}");
        assert_eq!(stdout(&db(&["current"])).trim(), "0002_job_queue");
        let history = stdout(&db(&["history"]));
        assert!(
            history.contains("0002_job_queue               current"),
            "{history}"
        );
        assert!(
            history.contains("0003_keyvaluestore_unique    pending"),
            "{history}"
        );
        assert!(db(&["upgrade"]).status.success());
        assert_eq!(
            stdout(&db(&["current"])).trim(),
            "0004_exact_names_on_mysql"
        );
        assert!(db(&["downgrade", "-2"]).status.success());
        assert_eq!(stdout(&db(&["current"])).trim(), "0002_job_queue");
        assert!(db(&["downgrade", "bf065abf375b"]).status.success());
        assert_eq!(
            stdout(&db(&["current"])).trim(),
            "0001_conda_store_2025_2_2"
        );
        let error = single_error_line(&db(&["upgrade", "0042"]));
        assert!(error.contains("unknown revision `0042`"), "{error}");
        assert!(db(&["downgrade", "base"]).status.success());
        assert_eq!(stdout(&db(&["current"])).trim(), "base");
        let connection = database.connect().await;
        assert!(
            introspect::table_names(&connection)
                .await
                .expect("tables")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn diagram_names_every_table_and_foreign_key_of_the_live_database() {
    for backend in backends() {
        let home = tempfile::tempdir().expect("home");
        let database = TestDatabase::create(backend).await;
        let url = database.url.as_str();
        assert!(
            run(home.path(), &["--database-url", url, "db", "upgrade"])
                .status
                .success()
        );
        let schema = introspect::schema(&database.connect().await)
            .await
            .expect("schema");
        let mermaid = stdout(&run(home.path(), &["--database-url", url, "db", "diagram"]));
        let dot = stdout(&run(
            home.path(),
            &["--database-url", url, "db", "diagram", "--format", "dot"],
        ));
        assert!(mermaid.starts_with("erDiagram\n"));
        let mut foreign_keys = 0;
        for (table, described) in &schema {
            assert!(
                mermaid.contains(&format!("\n    {table} {{\n")),
                "{table} missing"
            );
            assert!(
                dot.contains(&format!("\"{table}\" [label=<")),
                "{table} missing in dot"
            );
            for key in &described.foreign_keys {
                foreign_keys += 1;
                let columns = key.columns.join(", ");
                let relation = format!("--o{{ {table} : \"{columns}\"");
                assert!(
                    mermaid.contains(&format!("{} ||{relation}", key.referenced_table))
                        || mermaid.contains(&format!("{} |o{relation}", key.referenced_table)),
                    "foreign key {table}.{columns} missing on {backend:?}"
                );
                let edge = format!(
                    "\"{table}\" -> \"{}\" [label=\"{columns}\"]",
                    key.referenced_table
                );
                assert!(dot.contains(&edge), "{edge} missing");
            }
        }
        assert_eq!(foreign_keys, 16);
        let excluded = stdout(&run(
            home.path(),
            &["--database-url", url, "db", "diagram", "--exclude", "build"],
        ));
        assert!(!excluded.contains("\n    build {"));
        assert!(!excluded.contains(" build :"));
    }
}

#[tokio::test]
async fn diagram_renders_svg_with_graphviz() {
    let home = tempfile::tempdir().expect("home");
    let url = format!("sqlite:///{}", home.path().join("db.sqlite").display());
    assert!(
        run(home.path(), &["--database-url", &url, "db", "upgrade"])
            .status
            .success()
    );
    let file = home.path().join("schema.svg");
    let file_name = file.display().to_string();
    let output = run(
        home.path(),
        &[
            "--database-url",
            &url,
            "db",
            "diagram",
            "--format",
            "svg",
            "--output",
            &file_name,
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let svg = std::fs::read_to_string(&file).expect("svg written");
    assert!(svg.contains("<svg") && svg.contains("conda_package_build"));
}

#[test]
fn unreachable_database_and_unknown_scheme_fail_with_one_line() {
    let home = tempfile::tempdir().expect("home");
    let refused = run(
        home.path(),
        &[
            "--database-url",
            "postgresql://user:secret@127.0.0.1:1/cs",
            "db",
            "upgrade",
        ],
    );
    let line = single_error_line(&refused);
    assert!(
        line.contains("cannot open database `postgresql://user:***@127.0.0.1:1/cs`"),
        "{line}"
    );
    assert!(!line.contains("secret"));
    let scheme = single_error_line(&run(
        home.path(),
        &["--database-url", "oracle://db/cs", "db", "current"],
    ));
    assert!(scheme.contains("unknown scheme `oracle`"), "{scheme}");
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_untouched() {
    let home = tempfile::tempdir().expect("home");
    let file = home.path().join("notes.sqlite");
    std::fs::write(&file, "these are my notes, not a database\n".repeat(200)).expect("write");
    let before = Sha256::digest(std::fs::read(&file).expect("read"));
    let url = format!("sqlite:///{}", file.display());
    for command in [
        &["db", "upgrade"][..],
        &["db", "current"],
        &["db", "downgrade", "base"],
    ] {
        let mut arguments = vec!["--database-url", url.as_str()];
        arguments.extend_from_slice(command);
        let line = single_error_line(&run(home.path(), &arguments));
        assert!(line.contains("file is not a database"), "{line}");
    }
    assert_eq!(Sha256::digest(std::fs::read(&file).expect("read")), before);
}

#[tokio::test]
async fn a_database_newer_than_the_binary_is_refused_and_left_untouched() {
    for backend in backends() {
        let home = tempfile::tempdir().expect("home");
        let database = TestDatabase::create(backend).await;
        let url = database.url.as_str();
        assert!(
            run(home.path(), &["--database-url", url, "db", "upgrade"])
                .status
                .success()
        );
        let connection = database.connect().await;
        connection
            .execute_unprepared(&format!(
                "INSERT INTO {MIGRATION_TABLE} (version, applied_on) VALUES ('0099_from_the_future', '2027-01-01 00:00:00')"
            ))
            .await
            .expect("insert a future revision");
        let schema = introspect::schema(&connection).await.expect("schema");
        let recorded = table_rows(&connection, MIGRATION_TABLE).await;
        let file_digest = database
            .sqlite_file()
            .map(|file| Sha256::digest(std::fs::read(file).expect("read")));
        for command in [
            &["db", "upgrade"][..],
            &["db", "downgrade", "-1"],
            &["db", "current"],
            &["db", "diagram"],
            &["serve", "--port", "0"],
        ] {
            let mut arguments = vec!["--database-url", url];
            arguments.extend_from_slice(command);
            let line = single_error_line(&run(home.path(), &arguments));
            assert!(
                line.contains("0099_from_the_future") && line.contains("0004_exact_names_on_mysql"),
                "{line}"
            );
        }
        assert_eq!(
            introspect::schema(&connection).await.expect("schema"),
            schema
        );
        assert_eq!(table_rows(&connection, MIGRATION_TABLE).await, recorded);
        if let Some(digest) = file_digest {
            let file = database.sqlite_file().expect("file");
            assert_eq!(Sha256::digest(std::fs::read(file).expect("read")), digest);
        }
    }
}

#[test]
fn configuration_errors_name_the_key_and_where_it_came_from() {
    let home = tempfile::tempdir().expect("home");
    let config = home.path().join("conda-store.toml");
    std::fs::write(&config, "databse_url = \"sqlite://\"\n").expect("write");
    let config_name = config.display().to_string();
    let line = single_error_line(&run(
        home.path(),
        &["--config", &config_name, "db", "current"],
    ));
    assert_eq!(
        line,
        format!("error: unknown setting `databse_url` in {config_name}")
    );

    std::fs::write(&config, "port = \"http\"\n").expect("write");
    let line = single_error_line(&run(
        home.path(),
        &["--config", &config_name, "db", "current"],
    ));
    assert!(
        line.starts_with(&format!(
            "error: setting `port` in {config_name}: invalid type"
        )),
        "{line}"
    );
}

#[test]
fn environment_overrides_the_file_and_flags_override_the_environment() {
    let home = tempfile::tempdir().expect("home");
    let config = home.path().join("conda-store.toml");
    let from_file = home.path().join("file.sqlite");
    let from_environment = home.path().join("environment.sqlite");
    let from_flag = home.path().join("flag.sqlite");
    std::fs::write(
        &config,
        format!("database_url = \"sqlite:///{}\"\n", from_file.display()),
    )
    .expect("write");
    let config_name = config.display().to_string();
    let upgrade = |environment: Option<&Path>, flag: Option<&Path>| {
        let mut command = Command::new(BINARY);
        command
            .env("HOME", home.path())
            .args(["--config", &config_name]);
        if let Some(path) = environment {
            command.env(
                "CONDA_STORE_DATABASE_URL",
                format!("sqlite:///{}", path.display()),
            );
        }
        if let Some(path) = flag {
            command
                .arg("--database-url")
                .arg(format!("sqlite:///{}", path.display()));
        }
        let output = command.args(["db", "upgrade"]).output().expect("run");
        assert!(output.status.success(), "{output:?}");
    };
    upgrade(None, None);
    assert!(from_file.exists());
    upgrade(Some(&from_environment), None);
    assert!(from_environment.exists());
    upgrade(Some(&from_environment), Some(&from_flag));
    assert!(from_flag.exists());
}

#[test]
fn standalone_migrates_the_embedded_database_and_serves_the_status_route() {
    let home = tempfile::tempdir().expect("home");
    let data = home.path().join("data");
    let mut child = Command::new(BINARY)
        .env("HOME", home.path())
        .env("XDG_DATA_HOME", &data)
        // No channel index: the test must not reach the network.
        .env("CONDA_STORE_CONDA_INDEXED_CHANNELS", "[]")
        // Tests must not depend on how much disk the machine has free.
        .env("CONDA_STORE_STORAGE_THRESHOLD", "0")
        .args(["standalone", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start standalone");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the first line");
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "standalone listens on 127.0.0.1: {url}"
    );
    // Whoever started it stopped reading its output (the pipe is closed now): the
    // server keeps running.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(child.try_wait().expect("wait").is_none(), "the server died");
    let body: serde_json::Value = reqwest::blocking::get(format!("{url}api/v1/"))
        .and_then(|response| response.json())
        .expect("GET /api/v1/");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["data"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(data.join("conda-store/conda-store.sqlite").exists());
}
