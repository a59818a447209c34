//! Database URLs and connections.
//!
//! URLs are accepted in the Python conda-store's SQLAlchemy form (`sqlite:///relative`,
//! `sqlite:////absolute`, `postgresql+psycopg2://...`, `mysql+pymysql://...`) and in the
//! plain form (`postgres://...`, `mysql://...`, `mariadb://...`).

use crate::error::DatabaseError;
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend};
use std::path::PathBuf;
use std::time::Duration;

/// A parsed database URL: which backend, and the URL the driver understands.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    backend: DbBackend,
    driver_url: String,
    sqlite_file: Option<PathBuf>,
    display: String,
}

/// Prints the URL with its password redacted, never the driver URL that holds it.
impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("DatabaseUrl")
            .field("backend", &self.backend)
            .field("url", &self.display)
            .finish()
    }
}

impl DatabaseUrl {
    /// Parses a database URL, rejecting unknown schemes.
    pub fn parse(url: &str) -> Result<Self, DatabaseError> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| DatabaseError::InvalidUrl {
                url: redact(url),
                reason: "expected `scheme://...`".to_owned(),
            })?;
        let dialect = scheme.split('+').next().unwrap_or_default();
        let (backend, driver_url, sqlite_file) = match dialect {
            "sqlite" => {
                let (driver_url, file) = sqlite_driver_url(rest);
                (DbBackend::Sqlite, driver_url, file)
            }
            "postgres" | "postgresql" => (DbBackend::Postgres, format!("postgres://{rest}"), None),
            "mysql" | "mariadb" => (DbBackend::MySql, format!("mysql://{rest}"), None),
            other => {
                return Err(DatabaseError::InvalidUrl {
                    url: redact(url),
                    reason: format!("unknown scheme `{other}`; use sqlite, postgresql or mysql"),
                });
            }
        };
        Ok(Self {
            backend,
            driver_url,
            sqlite_file,
            display: redact(url),
        })
    }

    /// The backend this URL points at.
    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// The SQLite file, for SQLite URLs that name one.
    pub fn sqlite_file(&self) -> Option<&PathBuf> {
        self.sqlite_file.as_ref()
    }

    /// The URL with any password replaced by `***`, safe to print.
    pub fn redacted(&self) -> &str {
        &self.display
    }
}

/// Maps the SQLAlchemy SQLite forms to sqlx: `sqlite:///rel.db` is relative,
/// `sqlite:////abs.db` absolute, `sqlite://` and `sqlite:///:memory:` in memory.
fn sqlite_driver_url(rest: &str) -> (String, Option<PathBuf>) {
    let path = rest.strip_prefix('/').unwrap_or(rest);
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    if path.is_empty() || path == ":memory:" {
        return ("sqlite::memory:".to_owned(), None);
    }
    let mut options = vec!["mode=rwc"];
    if !query.is_empty() {
        options.push(query);
    }
    (
        format!("sqlite://{path}?{}", options.join("&")),
        Some(PathBuf::from(path)),
    )
}

/// Replaces the password of `scheme://user:password@host` with `***`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => match credentials.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// How many pooled connections to open.
#[derive(Debug, Clone, Copy)]
pub enum PoolSize {
    /// Exactly one connection, so that session settings (SQLite pragmas, MySQL variables)
    /// hold for every statement. Used for migrations and introspection.
    Single,
    /// Up to this many connections.
    Up(u32),
}

/// Opens a connection pool. SQLite files (and their parent directory) are created when
/// missing; SQLite connections enforce foreign keys and wait up to 30 s on a lock.
/// Write transactions on SQLite must start with [`begin_write`].
pub async fn connect(
    url: &DatabaseUrl,
    size: PoolSize,
) -> Result<DatabaseConnection, DatabaseError> {
    if let Some(file) = url.sqlite_file()
        && let Some(parent) = file.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent).map_err(|error| DatabaseError::Connect {
            url: url.redacted().to_owned(),
            reason: format!("cannot create {}: {error}", parent.display()),
        })?;
    }
    probe(url).await?;
    let mut options = ConnectOptions::new(url.driver_url.clone());
    let (max, min) = match size {
        PoolSize::Single => (1, 1),
        PoolSize::Up(max) => (max.max(1), 1),
    };
    options
        .max_connections(max)
        .min_connections(min)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(move |sqlite| {
            // LIKE compares ASCII case-insensitively by default in SQLite, so the
            // visibility filters (`ALICE/*` as `LIKE 'ALICE'`) would match namespace
            // `alice`; names are case-sensitive everywhere else (issue 9).
            let sqlite = sqlite
                .busy_timeout(Duration::from_secs(30))
                .pragma("case_sensitive_like", "ON");
            match size {
                // Serving pools use WAL so that readers never wait for a writer. The
                // single connection of migrations and `db` commands leaves the journal
                // mode alone, so they write nothing before their first real change.
                PoolSize::Up(_) => {
                    sqlite.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                }
                PoolSize::Single => sqlite,
            }
        });
    let connection = Database::connect(options)
        .await
        .map_err(|error| DatabaseError::Connect {
            url: url.redacted().to_owned(),
            reason: error.to_string(),
        })?;
    // A file that is not a database opens fine and fails on first read: read now, so
    // the caller gets one clear error before anything is written.
    connection
        .execute_unprepared("SELECT 1")
        .await
        .map_err(|error| DatabaseError::Connect {
            url: url.redacted().to_owned(),
            reason: error.to_string(),
        })?;
    if connection.get_database_backend() == DbBackend::Sqlite {
        connection
            .query_one_raw(sea_orm::Statement::from_string(
                DbBackend::Sqlite,
                "SELECT count(*) FROM sqlite_master",
            ))
            .await
            .map_err(|error| DatabaseError::Connect {
                url: url.redacted().to_owned(),
                reason: error.to_string(),
            })?;
    }
    Ok(connection)
}

/// Opens and closes one direct connection to a server database, so that an unreachable
/// server or bad credentials give the driver's own message ("connection refused",
/// "password authentication failed") instead of a pool time-out.
async fn probe(url: &DatabaseUrl) -> Result<(), DatabaseError> {
    use sea_orm::sqlx::Connection;
    let failed = |reason: String| DatabaseError::Connect {
        url: url.redacted().to_owned(),
        reason,
    };
    let attempt = async {
        match url.backend {
            DbBackend::Postgres => sea_orm::sqlx::PgConnection::connect(&url.driver_url)
                .await
                .map(|connection| drop(connection.close())),
            DbBackend::MySql => sea_orm::sqlx::MySqlConnection::connect(&url.driver_url)
                .await
                .map(|connection| drop(connection.close())),
            _ => Ok(()),
        }
    };
    match tokio::time::timeout(Duration::from_secs(10), attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(failed(error.to_string())),
        Err(_) => Err(failed("no answer within 10 s".to_owned())),
    }
}

/// Begins a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: it takes
/// the write lock first, so it waits its turn (busy timeout) instead of failing with
/// "database is locked" when it upgrades from reading to writing while another
/// connection writes. Elsewhere it is a plain transaction.
pub async fn begin_write(
    connection: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::TransactionTrait;
    let immediate = connection.get_database_backend() == DbBackend::Sqlite;
    connection
        .begin_with_options(sea_orm::TransactionOptions {
            sqlite_transaction_mode: immediate.then_some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlalchemy_urls_map_to_driver_urls() {
        let parse = |url: &str| DatabaseUrl::parse(url).map(|parsed| parsed.driver_url);
        assert_eq!(
            parse("sqlite:////tmp/a.db").ok().as_deref(),
            Some("sqlite:///tmp/a.db?mode=rwc")
        );
        assert_eq!(
            parse("sqlite:///a.db").ok().as_deref(),
            Some("sqlite://a.db?mode=rwc")
        );
        assert_eq!(parse("sqlite://").ok().as_deref(), Some("sqlite::memory:"));
        assert_eq!(
            parse("postgresql+psycopg2://u:p@h:5432/db").ok().as_deref(),
            Some("postgres://u:p@h:5432/db")
        );
        assert_eq!(
            parse("mysql+pymysql://u@h/db").ok().as_deref(),
            Some("mysql://u@h/db")
        );
        assert!(parse("oracle://u@h/db").is_err());
        assert!(parse("not a url").is_err());
    }

    #[test]
    fn passwords_are_redacted() {
        let url = DatabaseUrl::parse("postgresql://user:secret@db:5432/cs").ok();
        assert_eq!(
            url.map(|url| url.display),
            Some("postgresql://user:***@db:5432/cs".to_owned())
        );
        let error = DatabaseUrl::parse("oracle://user:secret@db/cs")
            .err()
            .map(|e| e.to_string());
        assert!(!error.unwrap_or_default().contains("secret"));
    }
}
