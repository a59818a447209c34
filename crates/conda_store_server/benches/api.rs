//! API speed benchmark, printing numbers (run: `cargo bench -p conda_store_server --bench
//! api`; `--profile dev` for a quick look at the harness, not for figures).
//!
//! Seeds a database migrated by our migrations with 100 namespaces, 1,000 environments
//! (each with a current build), 10,000 builds (statuses, artifacts), one conda channel
//! with 2,000 packages and 4,000 package builds, and 200,000 `build_conda_package_build`
//! rows; starts the real server in this process on 127.0.0.1; and runs `wrk` (from
//! Debian: `apt-get install -y wrk`) against the list routes with an admin bearer token.
//! It prints requests per second, p50 and p99 for each URL and backend, and the p99 of
//! build-list page 90 over page 1.
//!
//! When a virtual environment with the Python conda-store server is found (see
//! docs/API.md, "Benchmarks"), the same SQLite file is served by it too, measured with
//! the same `wrk` command, and the ratio printed.
//!
//! Settings (environment variables):
//! - `CONDA_STORE_BENCH_BACKENDS`: `sqlite,postgres` by default; PostgreSQL needs
//!   `CONDA_STORE_TEST_POSTGRES_URL` (`eval "$(bash scripts/test-services.sh)"`) and is
//!   skipped with a note without it.
//! - `CONDA_STORE_BENCH_DURATION`: seconds per `wrk` run (10).
//! - `CONDA_STORE_BENCH_CONNECTIONS`: `wrk` connections (50); threads are 2.
//! - `CONDA_STORE_BENCH_PYTHON`: the Python virtual environment (default
//!   `target/bench-python/venv`); `none` skips the Python server.
//! - `CONDA_STORE_BENCH_PYTHON_DURATION`: seconds per `wrk` run on the Python server (30).
//! - `CONDA_STORE_BENCH_KEEP=1`: keep the seeded databases (their URLs are printed), to
//!   look at query plans afterwards; drop them by hand.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use chrono::Utc;
use conda_store_build::Engine;
use conda_store_core::authorization::{ArnPattern, Role, RoleBindings};
use conda_store_core::settings::Settings;
use conda_store_core::token::{AuthenticationToken, TokenSigner};
use conda_store_db::{DatabaseConnection, DatabaseUrl, PoolSize, connect, migration};
use conda_store_server::auth::Authentication;
use conda_store_server::{AppState, router};
use conda_store_service::Service;
use conda_store_storage::LocalStorage;
use conda_store_test_support::{Backend, TestDatabase};
use sea_orm::{ConnectionTrait, DbBackend, TransactionTrait};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NAMESPACES: usize = 100;
const ENVIRONMENTS_PER_NAMESPACE: usize = 10;
const BUILDS_PER_ENVIRONMENT: usize = 10;
const PACKAGES: usize = 2_000;
const SUBDIRECTORIES: [&str; 2] = ["linux-64", "noarch"];
const PACKAGES_PER_BUILD: usize = 20;
const ROWS_PER_INSERT: usize = 500;
const SECRET: &str = "bench-secret";
/// The build whose packages are listed.
const PACKAGES_BUILD_ID: usize = 5_000;

fn environments() -> usize {
    NAMESPACES * ENVIRONMENTS_PER_NAMESPACE
}

fn builds() -> usize {
    environments() * BUILDS_PER_ENVIRONMENT
}

fn package_builds() -> usize {
    PACKAGES * SUBDIRECTORIES.len()
}

/// A timestamp literal `minutes` after a fixed start.
fn timestamp(minutes: usize) -> String {
    let start = chrono::NaiveDate::from_ymd_opt(2025, 1, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let moment = start + chrono::TimeDelta::minutes(i64::try_from(minutes).unwrap());
    format!("'{}'", moment.format("%Y-%m-%d %H:%M:%S"))
}

/// Inserts `rows` (each a parenthesised value list) into `table` in statements of
/// [`ROWS_PER_INSERT`] rows.
async fn insert(
    connection: &impl ConnectionTrait,
    table: &str,
    columns: &str,
    rows: impl IntoIterator<Item = String>,
) {
    let rows: Vec<String> = rows.into_iter().collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let statement = format!(
            "INSERT INTO {table} ({columns}) VALUES {}",
            chunk.join(", ")
        );
        connection
            .execute_unprepared(&statement)
            .await
            .unwrap_or_else(|error| panic!("insert into {table}: {error}"));
    }
}

/// Seeds the data set into a migrated, empty database.
async fn seed(connection: &DatabaseConnection) {
    let transaction = connection.begin().await.expect("begin");
    let database = &transaction;
    insert(
        database,
        "namespace",
        "id, name, metadata_",
        (1..=NAMESPACES).map(|id| format!("({id}, 'namespace-{id:03}', '{{}}')")),
    )
    .await;
    // One specification per environment.
    insert(
        database,
        "specification",
        "id, name, spec, sha256, created_on, is_lockfile",
        (1..=environments()).map(|id| {
            let name = format!("environment-{:02}", (id - 1) % ENVIRONMENTS_PER_NAMESPACE);
            format!(
                "({id}, '{name}', '{{\"name\": \"{name}\", \"channels\": [\"conda-forge\"], \
                 \"dependencies\": [\"python\", \"numpy\"]}}', '{id:064x}', {}, {})",
                timestamp(id),
                if connection.get_database_backend() == DbBackend::Postgres {
                    "false"
                } else {
                    "0"
                }
            )
        }),
    )
    .await;
    insert(
        database,
        "environment",
        "id, namespace_id, name, description",
        (1..=environments()).map(|id| {
            format!(
                "({id}, {}, 'environment-{:02}', 'environment number {id}')",
                (id - 1) / ENVIRONMENTS_PER_NAMESPACE + 1,
                (id - 1) % ENVIRONMENTS_PER_NAMESPACE
            )
        }),
    )
    .await;
    insert(
        database,
        "build",
        "id, specification_id, environment_id, status, size, scheduled_on, started_on, \
         ended_on, build_key_version, hash",
        (1..=builds()).map(|id| {
            let environment = (id - 1) / BUILDS_PER_ENVIRONMENT + 1;
            format!(
                "({id}, {environment}, {environment}, '{}', {}, {}, {}, {}, 2, '{id:032x}')",
                build_status(id),
                id * 1_000_000,
                timestamp(id * 10),
                timestamp(id * 10 + 1),
                timestamp(id * 10 + 3),
            )
        }),
    )
    .await;
    transaction
        .execute_unprepared(&format!(
            "UPDATE environment SET current_build_id = id * {BUILDS_PER_ENVIRONMENT}"
        ))
        .await
        .expect("current builds");
    insert(
        database,
        "build_artifact",
        "build_id, artifact_type, key",
        (1..=builds()).flat_map(|id| {
            let types: &[&str] = if build_status(id) == "COMPLETED" {
                &["LOCKFILE", "YAML", "LOGS", "CONDA_PACK"]
            } else {
                &["LOGS"]
            };
            types.iter().map(move |artifact| {
                format!(
                    "({id}, '{artifact}', '{}/{id:032x}-environment')",
                    artifact.to_lowercase()
                )
            })
        }),
    )
    .await;
    insert(
        database,
        "conda_channel",
        "id, name, last_update",
        [format!(
            "(1, 'https://conda.anaconda.org/conda-forge', {})",
            timestamp(0)
        )],
    )
    .await;
    insert(
        database,
        "conda_package",
        "id, channel_id, license, license_family, name, version, summary, description",
        (1..=PACKAGES).map(|id| {
            format!(
                "({id}, 1, 'BSD-3-Clause', 'BSD', 'package-{id:04}', '1.{}.0', \
                 'Summary of package {id}', 'Description of package {id}')",
                id % 10
            )
        }),
    )
    .await;
    insert(
        database,
        "conda_package_build",
        "id, package_id, channel_id, build, build_number, constrains, depends, md5, sha256, \
         size, subdir, timestamp",
        (1..=package_builds()).map(|id| {
            let package = (id - 1) % PACKAGES + 1;
            let subdirectory = SUBDIRECTORIES[(id - 1) / PACKAGES];
            format!(
                "({id}, {package}, 1, 'h{package:08x}_0', 0, '[]', '[\"python >=3.9\"]', \
                 '{id:032x}', '{id:064x}', {}, '{subdirectory}', {})",
                id * 1000,
                1_700_000_000_000_u64 + id as u64
            )
        }),
    )
    .await;
    // Twenty distinct package builds per build: 199 * 20 < 4,000.
    insert(
        database,
        "build_conda_package_build",
        "build_id, conda_package_build_id",
        (1..=builds()).flat_map(|id| {
            (0..PACKAGES_PER_BUILD).map(move |index| {
                let package_build = (id * 7 + index * 199) % package_builds() + 1;
                format!("({id}, {package_build})")
            })
        }),
    )
    .await;
    if connection.get_database_backend() == DbBackend::Postgres {
        for table in [
            "namespace",
            "specification",
            "environment",
            "build",
            "build_artifact",
            "conda_channel",
            "conda_package",
            "conda_package_build",
        ] {
            transaction
                .execute_unprepared(&format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     (SELECT MAX(id) FROM {table}))"
                ))
                .await
                .expect("sequence");
        }
    }
    transaction.commit().await.expect("commit");
    connection
        .execute_unprepared("ANALYZE")
        .await
        .expect("analyze");
}

fn build_status(id: usize) -> &'static str {
    if id.is_multiple_of(BUILDS_PER_ENVIRONMENT) {
        "COMPLETED"
    } else if id % 5 == 3 {
        "FAILED"
    } else if id % 7 == 1 {
        "CANCELED"
    } else {
        "COMPLETED"
    }
}

/// The admin token: `*/*: admin`, namespace `admin`.
fn admin_token() -> String {
    let mut bindings = RoleBindings::new();
    bindings.grant(
        ArnPattern::parse("*/*").unwrap(),
        "admin".parse::<Role>().unwrap(),
    );
    let token =
        AuthenticationToken::new(Utc::now() + chrono::TimeDelta::hours(12), "admin", bindings);
    TokenSigner::new(SECRET).encode(&token).unwrap()
}

/// The server on `database_url`, on 127.0.0.1; returns its origin.
async fn serve(database_url: &str, root: &Path) -> (String, tokio::task::JoinHandle<()>) {
    let settings = Settings {
        conda_solve_platforms: vec!["linux-64".to_owned()],
        conda_indexed_channels: Vec::new(),
        secret: Some(SECRET.to_owned()),
        ..Settings::default()
    };
    let pool = connect(&DatabaseUrl::parse(database_url).unwrap(), PoolSize::Up(8))
        .await
        .unwrap();
    let service = Service::new(
        pool,
        Arc::new(settings),
        Arc::new(LocalStorage::new(root.join("storage"))),
        root.join("store"),
    );
    let authentication = Authentication::from_settings(&service).await.unwrap();
    let app = router(AppState {
        service,
        authentication,
        engine: Arc::new(Engine::new(&root.join("cache"))),
        version: conda_store_core::VERSION,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}"), task)
}

/// The URLs measured, with their labels.
fn targets() -> Vec<(&'static str, String)> {
    vec![
        (
            "environment list",
            "/api/v1/environment/?size=100".to_owned(),
        ),
        (
            "build list page 1",
            "/api/v1/build/?page=1&size=100".to_owned(),
        ),
        (
            "build list page 90",
            "/api/v1/build/?page=90&size=100".to_owned(),
        ),
        (
            "build packages",
            format!("/api/v1/build/{PACKAGES_BUILD_ID}/packages/"),
        ),
    ]
}

/// What one `wrk` run reported.
#[derive(Debug, Clone)]
struct Measurement {
    requests_per_second: f64,
    p50: Duration,
    p99: Duration,
    requests: u64,
    /// Non-2xx responses and socket errors, as `wrk` words them.
    problems: String,
}

/// `1.23ms`, `456.00us`, `2.01s`, `1.50m` as a duration.
fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|character: char| character.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(seconds))
}

fn parse_wrk(output: &str) -> Option<Measurement> {
    let mut requests_per_second = None;
    let mut p50 = None;
    let mut p99 = None;
    let mut requests = 0;
    let mut problems = Vec::new();
    for line in output.lines().map(str::trim) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            ["Requests/sec:", value] => requests_per_second = value.parse().ok(),
            ["50%", value] => p50 = parse_duration(value),
            ["99%", value] => p99 = parse_duration(value),
            [count, "requests", "in", ..] => requests = count.parse().unwrap_or(0),
            _ if line.starts_with("Non-2xx") || line.starts_with("Socket errors") => {
                problems.push(line.to_owned());
            }
            _ => {}
        }
    }
    Some(Measurement {
        requests_per_second: requests_per_second?,
        p50: p50?,
        p99: p99?,
        requests,
        problems: problems.join("; "),
    })
}

/// Runs `wrk` against `url`.
fn run_wrk(url: &str, token: &str, seconds: u64, timeout_seconds: u64) -> Measurement {
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{}", connections()),
            &format!("-d{seconds}s"),
            "--latency",
            "--timeout",
            &format!("{timeout_seconds}s"),
            "-H",
            &format!("Authorization: Bearer {token}"),
            url,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&output.stdout);
    parse_wrk(&text).unwrap_or_else(|| {
        panic!(
            "could not read wrk's output for {url}:\n{text}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn environment_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn duration_seconds() -> u64 {
    environment_number("CONDA_STORE_BENCH_DURATION", 10)
}

/// The Python server needs longer runs: one environment-list page takes it seconds
/// under load.
fn python_duration_seconds() -> u64 {
    environment_number("CONDA_STORE_BENCH_PYTHON_DURATION", 30)
}

fn connections() -> u64 {
    environment_number("CONDA_STORE_BENCH_CONNECTIONS", 50)
}

/// One GET before measuring: the status must be 200; returns the body size and the
/// number of items it lists.
async fn check(url: &str, token: &str) -> (usize, usize) {
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap_or_else(|error| panic!("GET {url}: {error}"));
    let status = response.status();
    let body = response.bytes().await.unwrap();
    assert_eq!(status, 200, "GET {url}: {}", String::from_utf8_lossy(&body));
    let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let items = value["data"].as_array().map_or(0, Vec::len);
    (body.len(), items)
}

/// Measures every target on the server at `origin`; returns a row per target.
async fn measure(
    server: &str,
    origin: &str,
    token: &str,
    seconds: u64,
    timeout_seconds: u64,
) -> Vec<(String, Measurement)> {
    let mut rows = Vec::new();
    for (label, path) in targets() {
        let url = format!("{origin}{path}");
        let (bytes, items) = check(&url, token).await;
        eprintln!("{server}: {label}: {items} items, {bytes} bytes; running wrk on {url}");
        let token = token.to_owned();
        let measurement =
            tokio::task::spawn_blocking(move || run_wrk(&url, &token, seconds, timeout_seconds))
                .await
                .unwrap();
        rows.push((format!("{server:<10} {label:<20}"), measurement));
    }
    rows
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn print_table(rows: &[(String, Measurement)]) {
    let mut table = String::new();
    writeln!(
        table,
        "\n{:<31} {:>10} {:>10} {:>10} {:>9}  problems",
        "server / request", "req/s", "p50 ms", "p99 ms", "requests"
    )
    .unwrap();
    for (label, measurement) in rows {
        if measurement.requests == 0 {
            writeln!(table, "{label} no request finished").unwrap();
            continue;
        }
        writeln!(
            table,
            "{label} {:>10.1} {:>10.2} {:>10.2} {:>9}  {}",
            measurement.requests_per_second,
            milliseconds(measurement.p50),
            milliseconds(measurement.p99),
            measurement.requests,
            measurement.problems
        )
        .unwrap();
    }
    println!("{table}");
}

fn find<'a>(rows: &'a [(String, Measurement)], server: &str, label: &str) -> &'a Measurement {
    &rows
        .iter()
        .find(|(row, _)| row.starts_with(server) && row.contains(label))
        .unwrap()
        .1
}

fn wrk_available() -> bool {
    match Command::new("wrk").arg("--version").output() {
        Ok(_) => true,
        Err(error) => {
            eprintln!(
                "\nwrk is missing ({error}): this benchmark drives the server with wrk. \
                 Install it (Debian/Ubuntu: `apt-get install -y wrk`) and run again.\n"
            );
            false
        }
    }
}

/// The Python virtual environment with `conda-store-server`, if any.
fn python_environment() -> Option<PathBuf> {
    let configured = std::env::var("CONDA_STORE_BENCH_PYTHON").ok();
    if configured.as_deref() == Some("none") {
        return None;
    }
    let directory = configured.map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-python/venv"),
        PathBuf::from,
    );
    if directory.join("bin/conda-store-server").exists() {
        Some(directory)
    } else {
        eprintln!(
            "\nNo Python conda-store in {}: the Python server is not measured \
             (docs/API.md, \"Benchmarks\", says how to install it).\n",
            directory.display()
        );
        None
    }
}

/// The Python conda-store server (one uvicorn worker, no Celery worker: the measured
/// routes only read) on a copy of the seeded SQLite file.
struct PythonServer {
    child: std::process::Child,
    origin: String,
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_python(venv: &Path, database: &Path, root: &Path) -> PythonServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let directory = root.join("python");
    std::fs::create_dir_all(directory.join("data")).unwrap();
    let copy = directory.join("conda-store.sqlite");
    std::fs::copy(database, &copy).unwrap();
    let configuration = directory.join("config.py");
    std::fs::write(
        &configuration,
        format!(
            "from conda_store_server.server.auth import DummyAuthentication\n\
             c.CondaStoreServer.authentication_class = DummyAuthentication\n\
             c.CondaStoreServer.address = '127.0.0.1'\n\
             c.CondaStoreServer.port = {port}\n\
             c.CondaStoreServer.enable_ui = False\n\
             c.CondaStoreServer.log_level = 40\n\
             c.CondaStore.database_url = 'sqlite:///{}'\n\
             c.CondaStore.store_directory = '{}'\n\
             c.CondaStore.conda_indexed_channels = []\n\
             c.AuthenticationBackend.secret = '{SECRET}'\n",
            copy.display(),
            directory.join("store").display(),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(directory.join("server.log")).unwrap();
    let child = Command::new(venv.join("bin/conda-store-server"))
        .arg("--config")
        .arg(&configuration)
        .env("XDG_DATA_HOME", directory.join("data"))
        .current_dir(&directory)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start the Python conda-store server");
    let origin = format!("http://127.0.0.1:{port}");
    let server = PythonServer { child, origin };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ready = reqwest::get(format!("{}/api/v1/", server.origin))
            .await
            .is_ok_and(|response| response.status().is_success());
        if ready {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the Python server did not start; see {}",
            directory.join("server.log").display()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    server
}

fn backends() -> Vec<Backend> {
    let wanted =
        std::env::var("CONDA_STORE_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    wanted
        .split(',')
        .filter_map(|name| match name.trim() {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => {
                if std::env::var("CONDA_STORE_TEST_POSTGRES_URL").is_ok() {
                    Some(Backend::Postgres)
                } else {
                    eprintln!(
                        "\nCONDA_STORE_TEST_POSTGRES_URL is not set: PostgreSQL is skipped \
                         (start it with `eval \"$(bash scripts/test-services.sh)\"`).\n"
                    );
                    None
                }
            }
            _ => None,
        })
        .collect()
}

async fn run() {
    if !wrk_available() {
        std::process::exit(1);
    }
    let token = admin_token();
    let python = python_environment();
    let mut rows = Vec::new();
    for backend in backends() {
        let name = match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        };
        let database = TestDatabase::create(backend).await;
        let directory = tempfile::tempdir().unwrap();
        {
            let connection = database.connect().await;
            migration::upgrade(&connection, None).await.unwrap();
            let started = Instant::now();
            seed(&connection).await;
            eprintln!(
                "{name}: seeded {NAMESPACES} namespaces, {} environments, {} builds, {} \
                 build packages in {:.1} s",
                environments(),
                builds(),
                builds() * PACKAGES_PER_BUILD,
                started.elapsed().as_secs_f64()
            );
            if backend == Backend::Sqlite {
                connection
                    .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                    .await
                    .unwrap();
            }
        }
        if std::env::var("CONDA_STORE_BENCH_KEEP").is_ok() {
            let copy = directory.path().join("kept.sqlite");
            if let Some(file) = database.url.strip_prefix("sqlite:///") {
                std::fs::copy(file, &copy).unwrap();
                eprintln!("{name}: kept a copy of the database in {}", copy.display());
            } else {
                eprintln!("{name}: kept the database {}", database.url);
            }
        }
        let (origin, task) = serve(&database.url, directory.path()).await;
        rows.extend(measure(name, &origin, &token, duration_seconds(), 10).await);
        task.abort();
        if backend == Backend::Sqlite
            && let Some(venv) = &python
        {
            let file = database
                .url
                .strip_prefix("sqlite:///")
                .map(PathBuf::from)
                .unwrap();
            let server = start_python(venv, &file, directory.path()).await;
            let python_rows = measure(
                "python",
                &server.origin,
                &token,
                python_duration_seconds(),
                60,
            )
            .await;
            rows.extend(python_rows);
        }
        if std::env::var("CONDA_STORE_BENCH_KEEP").is_ok() {
            std::mem::forget(database);
            // It holds the copy of a SQLite database.
            let _ = directory.keep();
        }
    }
    print_table(&rows);
    for server in ["sqlite", "postgres"] {
        if rows.iter().any(|(row, _)| row.starts_with(server)) {
            let first = find(&rows, server, "page 1 ");
            let ninetieth = find(&rows, server, "page 90");
            println!(
                "{server}: build list p99, page 90 / page 1 = {:.2} (goal: at most 2)",
                milliseconds(ninetieth.p99) / milliseconds(first.p99)
            );
        }
    }
    if rows.iter().any(|(row, _)| row.starts_with("python")) {
        for (label, _) in targets() {
            let ours = find(&rows, "sqlite", label);
            let theirs = find(&rows, "python", label);
            if theirs.requests == 0 {
                println!("{label}: no request to the Python server finished, no ratio");
                continue;
            }
            println!(
                "{label}: Rust on SQLite / Python on SQLite = {:.0}x requests per second, \
                 p99 {:.1} ms vs {:.1} ms",
                ours.requests_per_second / theirs.requests_per_second,
                milliseconds(ours.p99),
                milliseconds(theirs.p99)
            );
        }
    }
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run());
}
