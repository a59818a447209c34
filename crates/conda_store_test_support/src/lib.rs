#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Test helpers shared by the crates' integration tests.
//!
//! [`TestDatabase`] gives each test its own empty database on SQLite (a temp file),
//! PostgreSQL or MariaDB/MySQL (a fresh database on the server named by
//! `CONDA_STORE_TEST_POSTGRES_URL` / `CONDA_STORE_TEST_MYSQL_URL`, which
//! `scripts/test.sh` starts and exports). Tests loop over [`backends`], so every
//! database test runs on every backend; a backend whose server is not configured makes
//! the test fail with a message saying how to run it, never pass silently.

pub mod channel;
pub mod http;
pub mod pypi;

use conda_store_db::{DatabaseConnection, DatabaseUrl, PoolSize, connect};
use sea_orm::ConnectionTrait;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A database backend under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temp directory.
    Sqlite,
    /// A database on the test PostgreSQL server.
    Postgres,
    /// A database on the test MariaDB/MySQL server.
    MySql,
}

/// The backends to test: `CONDA_STORE_TEST_BACKENDS` (comma-separated `sqlite`,
/// `postgres`, `mysql`), by default all three.
pub fn backends() -> Vec<Backend> {
    let wanted = std::env::var("CONDA_STORE_TEST_BACKENDS")
        .unwrap_or_else(|_| "sqlite,postgres,mysql".to_owned());
    wanted
        .split(',')
        .filter_map(|name| match name.trim() {
            "sqlite" => Some(Backend::Sqlite),
            "postgres" | "postgresql" => Some(Backend::Postgres),
            "mysql" | "mariadb" => Some(Backend::MySql),
            "" => None,
            other => panic!("unknown backend `{other}` in CONDA_STORE_TEST_BACKENDS"),
        })
        .collect()
}

/// The shared test data folder (`../shared/data` from the repository root).
pub fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

/// A throw-away database, removed when dropped.
pub struct TestDatabase {
    /// Which backend it is on.
    pub backend: Backend,
    /// Its URL, in the form `database_url` accepts.
    pub url: String,
    server: Option<(String, String)>,
    directory: Option<tempfile::TempDir>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn server_url(backend: Backend) -> String {
    let variable = match backend {
        Backend::Postgres => "CONDA_STORE_TEST_POSTGRES_URL",
        _ => "CONDA_STORE_TEST_MYSQL_URL",
    };
    std::env::var(variable).unwrap_or_else(|_| {
        panic!(
            "{variable} is not set: run the tests with scripts/test.sh, which starts \
             PostgreSQL and MariaDB, or set CONDA_STORE_TEST_BACKENDS=sqlite"
        )
    })
}

impl TestDatabase {
    /// Creates an empty database on `backend`.
    pub async fn create(backend: Backend) -> Self {
        let unique = format!(
            "cs_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.subsec_nanos())
                .unwrap_or_default()
        );
        match backend {
            Backend::Sqlite => {
                let directory = tempfile::tempdir().expect("temp dir");
                let url = format!(
                    "sqlite:///{}",
                    directory.path().join("test.sqlite").display()
                );
                Self {
                    backend,
                    url,
                    server: None,
                    directory: Some(directory),
                }
            }
            Backend::Postgres | Backend::MySql => {
                let server = server_url(backend);
                let admin = admin_connection(&server).await;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {unique}"))
                    .await
                    .expect("create test database");
                let base = server.trim_end_matches('/');
                let base = match base.rsplit_once('/') {
                    Some((host, _)) if host.contains("://") && !host.ends_with(':') => host,
                    _ => base,
                };
                Self {
                    backend,
                    url: format!("{base}/{unique}"),
                    server: Some((server, unique)),
                    directory: None,
                }
            }
        }
    }

    /// The SQLite file of a SQLite test database.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.directory
            .as_ref()
            .map(|directory| directory.path().join("test.sqlite"))
    }

    /// Opens a single-connection pool on it (what migrations use).
    pub async fn connect(&self) -> DatabaseConnection {
        let url = DatabaseUrl::parse(&self.url).expect("test database URL");
        connect(&url, PoolSize::Single)
            .await
            .expect("connect to test database")
    }
}

async fn admin_connection(server: &str) -> DatabaseConnection {
    let url = DatabaseUrl::parse(server).expect("test server URL");
    connect(&url, PoolSize::Single)
        .await
        .unwrap_or_else(|error| panic!("test database server: {error}"))
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((server, name)) = self.server.take() else {
            return;
        };
        // Drop runs inside the test's runtime; use a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let admin = admin_connection(&server).await;
                let force = if admin.get_database_backend() == sea_orm::DbBackend::Postgres {
                    " WITH (FORCE)"
                } else {
                    ""
                };
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}{force}"))
                    .await;
            });
        })
        .join();
    }
}

/// Every row of `table`, each value rendered as text by the database itself, sorted.
/// Two calls that return the same rows saw the same data.
pub async fn table_rows(connection: &DatabaseConnection, table: &str) -> Vec<Vec<Option<String>>> {
    let backend = connection.get_database_backend();
    let schema = conda_store_db::introspect::schema(connection)
        .await
        .expect("introspect");
    let columns = &schema
        .get(table)
        .unwrap_or_else(|| panic!("no table {table}"))
        .columns;
    let quote = |name: &str| match backend {
        sea_orm::DbBackend::MySql => format!("`{name}`"),
        _ => format!("\"{name}\""),
    };
    let casts = columns
        .iter()
        .map(|column| match backend {
            sea_orm::DbBackend::MySql => format!("CAST({} AS CHAR)", quote(&column.name)),
            _ => format!("CAST({} AS TEXT)", quote(&column.name)),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let rows = connection
        .query_all_raw(sea_orm::Statement::from_string(
            backend,
            format!("SELECT {casts} FROM {}", quote(table)),
        ))
        .await
        .expect("select rows");
    let mut rendered = rows
        .iter()
        .map(|row| {
            (0..columns.len())
                .map(|position| {
                    row.try_get_by_index::<Option<String>>(position)
                        .expect("text value")
                })
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    rendered.sort();
    rendered
}

/// Restores a plain-SQL `pg_dump` file into the (empty) PostgreSQL database at `url`
/// with `psql`, as the dump's README prescribes.
pub fn restore_postgres_dump(url: &str, dump: &Path) {
    let status = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
        .arg(dump)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run psql (install postgresql-client)");
    assert!(
        status.success(),
        "psql restore of {} failed",
        dump.display()
    );
}
