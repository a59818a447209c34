//! Versioned, reversible migrations, one set for SQLite, PostgreSQL and MariaDB/MySQL,
//! and the runner behind `conda-store-server db upgrade|downgrade|current|history`.
//!
//! Applied revisions are recorded in `conda_store_migration`. Each migration runs in a
//! transaction together with its record on SQLite and PostgreSQL; MySQL commits DDL
//! implicitly, so there a failed migration can leave a partial change (docs/DATABASE.md).
//!
//! A database made by the Python conda-store (table `alembic_version` at
//! `bf065abf375b`, no `conda_store_migration`) is *adopted*: revision 0001 is recorded
//! as applied without running it, because its tables are already there.

mod helpers;
mod m0001_conda_store_2025_2_2;
mod m0002_job_queue;
mod m0003_keyvaluestore_unique;
mod m0004_exact_names_on_mysql;

use crate::error::DatabaseError;
use crate::introspect;
use sea_orm::sea_query::{Expr, ExprTrait, Query, Table};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};
use sea_orm_migration::{MigrationTrait, SchemaManager};

pub use m0001_conda_store_2025_2_2::ALEMBIC_REVISION;

/// The table that records which revisions are applied.
pub const MIGRATION_TABLE: &str = "conda_store_migration";

/// Alembic revisions of older Python conda-store releases, oldest first. A database at
/// one of these must be upgraded with the Python conda-store before we adopt it.
const OLDER_ALEMBIC_REVISIONS: [&str; 13] = [
    "48be4072fe58",
    "8d63a091aff8",
    "5ad723de2abd",
    "16f65805dc8f",
    "abd7248d5327",
    "b387747ca9b7",
    "d78e9889566a",
    "30b37e725c32",
    "771180018e1b",
    "0f7e23ff24ee",
    "57cd11b949d5",
    "03c839888c82",
    "e17b4cc6e086",
];

/// One revision: its name and what it does.
pub struct Revision {
    /// The revision's name, e.g. `0002_job_queue`.
    pub name: &'static str,
    /// One line on what it changes.
    pub summary: &'static str,
    migration: Box<dyn MigrationTrait>,
}

/// Every revision this binary knows, oldest first.
pub fn revisions() -> Vec<Revision> {
    vec![
        Revision {
            name: "0001_conda_store_2025_2_2",
            summary: "the Python conda-store 2025.2.2 schema (alembic bf065abf375b); adoption point",
            migration: Box::new(m0001_conda_store_2025_2_2::Migration),
        },
        Revision {
            name: "0002_job_queue",
            summary: "job queue table; enqueues builds left QUEUED or BUILDING",
            migration: Box::new(m0002_job_queue::Migration),
        },
        Revision {
            name: "0003_keyvaluestore_unique",
            summary: "UNIQUE(prefix, key) on keyvaluestore, keeping the newest duplicate",
            migration: Box::new(m0003_keyvaluestore_unique::Migration),
        },
        Revision {
            name: "0004_exact_names_on_mysql",
            summary: "MySQL/MariaDB: names and settings keys compare exactly (binary collation)",
            migration: Box::new(m0004_exact_names_on_mysql::Migration),
        },
    ]
}

/// The name of the newest revision this binary knows.
pub fn newest_revision() -> &'static str {
    revisions()
        .last()
        .map(|revision| revision.name)
        .unwrap_or("base")
}

/// What is in a database, as far as migrations are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseState {
    /// No conda-store tables at all.
    Empty,
    /// A Python conda-store database at the alembic head we adopt, not yet adopted.
    Python,
    /// Managed by us; these revisions are applied, oldest first.
    Managed(Vec<String>),
}

impl DatabaseState {
    /// The current revision: `base`, a revision name, or the adoption point.
    pub fn current(&self) -> String {
        match self {
            DatabaseState::Empty => "base".to_owned(),
            DatabaseState::Python => format!(
                "{} (Python conda-store alembic {ALEMBIC_REVISION}, not adopted yet)",
                revisions()[0].name
            ),
            DatabaseState::Managed(applied) => {
                applied.last().cloned().unwrap_or_else(|| "base".to_owned())
            }
        }
    }

    /// How many revisions count as applied (the adoption point counts as one).
    fn applied_count(&self) -> usize {
        match self {
            DatabaseState::Empty => 0,
            DatabaseState::Python => 1,
            DatabaseState::Managed(applied) => applied.len(),
        }
    }
}

/// Reads the migration state, refusing databases we must not touch: newer than this
/// binary, an older Python conda-store, or conda-store tables with no record.
pub async fn state(connection: &DatabaseConnection) -> Result<DatabaseState, DatabaseError> {
    let tables = introspect::table_names(connection).await?;
    if tables.iter().any(|table| table == MIGRATION_TABLE) {
        let applied = applied_revisions(connection).await?;
        let known = revisions();
        for (position, name) in applied.iter().enumerate() {
            if known.get(position).map(|revision| revision.name) != Some(name.as_str()) {
                return Err(DatabaseError::NewerThanBinary {
                    found: applied.last().cloned().unwrap_or_default(),
                    newest: newest_revision().to_owned(),
                });
            }
        }
        return Ok(DatabaseState::Managed(applied));
    }
    if tables.iter().any(|table| table == "alembic_version") {
        let revision = alembic_revision(connection).await?;
        return match revision.as_deref() {
            Some(ALEMBIC_REVISION) => Ok(DatabaseState::Python),
            Some(older) if OLDER_ALEMBIC_REVISIONS.contains(&older) => {
                Err(DatabaseError::UnsupportedAlembicRevision(format!(
                    "this is a Python conda-store database at alembic revision {older}; \
                     upgrade it to {ALEMBIC_REVISION} with the Python conda-store 2025.2.2 first \
                     (start conda-store-server 2025.2.2 on it once), then run `db upgrade` again"
                )))
            }
            Some(other) => Err(DatabaseError::UnsupportedAlembicRevision(format!(
                "this database is at alembic revision {other}, which is not a Python \
                 conda-store 2025.2.2 revision this conda-store-server can adopt \
                 (it adopts {ALEMBIC_REVISION})"
            ))),
            None => Err(DatabaseError::UnsupportedAlembicRevision(
                "the database has an empty alembic_version table; refusing to touch it".to_owned(),
            )),
        };
    }
    let ours: Vec<&str> = ["namespace", "environment", "build", "specification"]
        .into_iter()
        .filter(|table| tables.iter().any(|found| found == table))
        .collect();
    if !ours.is_empty() {
        return Err(DatabaseError::Unrecognised {
            tables: ours.join(", "),
        });
    }
    Ok(DatabaseState::Empty)
}

async fn applied_revisions(connection: &DatabaseConnection) -> Result<Vec<String>, DatabaseError> {
    let rows = connection
        .query_all(
            &Query::select()
                .column("version")
                .from(MIGRATION_TABLE)
                .order_by("version", sea_orm::Order::Asc)
                .to_owned(),
        )
        .await?;
    rows.iter()
        .map(|row| {
            row.try_get_by_index::<String>(0)
                .map_err(DatabaseError::from)
        })
        .collect()
}

async fn alembic_revision(
    connection: &DatabaseConnection,
) -> Result<Option<String>, DatabaseError> {
    let row = connection
        .query_one(
            &Query::select()
                .column("version_num")
                .from("alembic_version")
                .to_owned(),
        )
        .await?;
    row.map(|row| row.try_get_by_index::<String>(0))
        .transpose()
        .map_err(DatabaseError::from)
}

/// Where `db downgrade` should go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DowngradeTarget {
    /// Revert everything, dropping every table.
    Base,
    /// Revert this many revisions.
    Steps(usize),
    /// Revert until this revision is the newest applied.
    Revision(String),
}

impl DowngradeTarget {
    /// Parses `base`, `-N`, or a revision name.
    pub fn parse(text: &str) -> Self {
        if text == "base" {
            return DowngradeTarget::Base;
        }
        match text.strip_prefix('-').map(str::parse::<usize>) {
            Some(Ok(steps)) => DowngradeTarget::Steps(steps),
            _ => DowngradeTarget::Revision(text.to_owned()),
        }
    }
}

/// Finds a revision by full name, by its number (`0002`, `2`), or, for the adoption
/// point, by the alembic revision `bf065abf375b`. Returns its position.
pub fn find_revision(text: &str) -> Result<usize, DatabaseError> {
    let known = revisions();
    let by_number = text.parse::<usize>().ok();
    known
        .iter()
        .position(|revision| {
            revision.name == text
                || revision.name.split('_').next() == Some(text)
                || by_number
                    .is_some_and(|number| revision.name.starts_with(&format!("{number:04}_")))
        })
        .or((text == ALEMBIC_REVISION).then_some(0))
        .ok_or_else(|| DatabaseError::UnknownRevision(text.to_owned()))
}

/// Applies revisions up to `target` (default: the newest), adopting a Python
/// conda-store database first. Returns the names of the revisions applied.
pub async fn upgrade(
    connection: &DatabaseConnection,
    target: Option<&str>,
) -> Result<Vec<String>, DatabaseError> {
    let state = state(connection).await?;
    let known = revisions();
    let goal = match target {
        None | Some("head") | Some("heads") => known.len(),
        Some(text) => find_revision(text)? + 1,
    };
    let applied = state.applied_count();
    if goal < applied {
        return Err(DatabaseError::InvalidTarget(format!(
            "the database is already at {}, past {}; use `db downgrade` to go back",
            state.current(),
            known[goal - 1].name
        )));
    }
    if state == DatabaseState::Python {
        adopt(connection).await?;
        tracing::info!(
            "adopted the Python conda-store database (alembic {ALEMBIC_REVISION}) as revision {}",
            known[0].name
        );
    }
    let mut done = Vec::new();
    for revision in &known[applied..goal] {
        run(connection, revision, Direction::Upgrade).await?;
        tracing::info!("applied {}", revision.name);
        done.push(revision.name.to_owned());
    }
    Ok(done)
}

/// Reverts revisions down to `target`. Returns the names of the revisions reverted.
pub async fn downgrade(
    connection: &DatabaseConnection,
    target: &DowngradeTarget,
) -> Result<Vec<String>, DatabaseError> {
    let state = state(connection).await?;
    let applied = state.applied_count();
    let keep = match target {
        DowngradeTarget::Base => 0,
        DowngradeTarget::Steps(steps) => applied.saturating_sub(*steps),
        DowngradeTarget::Revision(name) => {
            let keep = find_revision(name)? + 1;
            if keep > applied {
                return Err(DatabaseError::InvalidTarget(format!(
                    "the database is at {}, before {name}; use `db upgrade` to go forward",
                    state.current()
                )));
            }
            keep
        }
    };
    if state == DatabaseState::Python && keep < applied {
        adopt(connection).await?;
    }
    let known = revisions();
    let mut done = Vec::new();
    for revision in known[keep..applied].iter().rev() {
        run(connection, revision, Direction::Downgrade).await?;
        tracing::info!("reverted {}", revision.name);
        done.push(revision.name.to_owned());
    }
    if keep == 0 && applied > 0 {
        connection
            .execute(&Table::drop().table(MIGRATION_TABLE).if_exists().to_owned())
            .await?;
    }
    Ok(done)
}

/// Fails with [`DatabaseError::Outdated`] unless every revision is applied.
pub async fn ensure_current(connection: &DatabaseConnection) -> Result<(), DatabaseError> {
    let state = state(connection).await?;
    if state.applied_count() == revisions().len() && state != DatabaseState::Python {
        return Ok(());
    }
    Err(DatabaseError::Outdated {
        current: state.current(),
        newest: newest_revision().to_owned(),
    })
}

/// Records revision 0001 as applied on a Python conda-store database.
async fn adopt(connection: &DatabaseConnection) -> Result<(), DatabaseError> {
    create_migration_table(connection).await?;
    record(connection, revisions()[0].name, Direction::Upgrade).await?;
    Ok(())
}

async fn create_migration_table<C: ConnectionTrait>(connection: &C) -> Result<(), DbErr> {
    connection
        .execute(
            &Table::create()
                .table(MIGRATION_TABLE)
                .if_not_exists()
                .col(helpers::varchar("version", 255, true).primary_key().take())
                .col(helpers::timestamp("applied_on", true))
                .to_owned(),
        )
        .await
        .map(|_| ())
}

/// Which way a migration runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Upgrade,
    Downgrade,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Upgrade => "upgrade",
            Direction::Downgrade => "downgrade",
        }
    }
}

async fn record<C: ConnectionTrait>(
    connection: &C,
    name: &str,
    direction: Direction,
) -> Result<(), DbErr> {
    let result = match direction {
        Direction::Upgrade => {
            connection
                .execute(
                    &Query::insert()
                        .into_table(MIGRATION_TABLE)
                        .columns(["version", "applied_on"])
                        .values_panic([name.into(), chrono::Utc::now().naive_utc().into()])
                        .to_owned(),
                )
                .await
        }
        Direction::Downgrade => {
            connection
                .execute(
                    &Query::delete()
                        .from_table(MIGRATION_TABLE)
                        .and_where(Expr::col("version").eq(name))
                        .to_owned(),
                )
                .await
        }
    };
    result.map(|_| ())
}

/// Runs one migration and its record. On SQLite, foreign keys are switched off around
/// the transaction (the documented way to change SQLite schemas) and checked before
/// commit; on SQLite and PostgreSQL everything commits or nothing does.
async fn run(
    connection: &DatabaseConnection,
    revision: &Revision,
    direction: Direction,
) -> Result<(), DatabaseError> {
    let failed = |source: DbErr| DatabaseError::Migration {
        revision: revision.name.to_owned(),
        direction: direction.as_str(),
        source,
    };
    let backend = connection.get_database_backend();
    if backend == DbBackend::Sqlite {
        connection
            .execute_unprepared("PRAGMA foreign_keys = OFF")
            .await
            .map_err(failed)?;
    }
    let result = match backend {
        DbBackend::MySql => run_steps(&SchemaManager::new(connection), revision, direction).await,
        _ => run_in_transaction(connection, revision, direction).await,
    };
    if backend == DbBackend::Sqlite {
        connection
            .execute_unprepared("PRAGMA foreign_keys = ON")
            .await
            .map_err(failed)?;
    }
    result.map_err(failed)
}

async fn run_in_transaction(
    connection: &DatabaseConnection,
    revision: &Revision,
    direction: Direction,
) -> Result<(), DbErr> {
    let transaction = connection.begin().await?;
    run_steps(&SchemaManager::new(&transaction), revision, direction).await?;
    if connection.get_database_backend() == DbBackend::Sqlite {
        let violations = transaction
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "PRAGMA foreign_key_check",
            ))
            .await?;
        if !violations.is_empty() {
            return Err(DbErr::Migration(format!(
                "{} rows would violate foreign keys",
                violations.len()
            )));
        }
    }
    transaction.commit().await
}

async fn run_steps(
    manager: &SchemaManager<'_>,
    revision: &Revision,
    direction: Direction,
) -> Result<(), DbErr> {
    let connection = manager.get_connection();
    match direction {
        Direction::Upgrade => {
            create_migration_table(connection).await?;
            revision.migration.up(manager).await?;
        }
        Direction::Downgrade => revision.migration.down(manager).await?,
    }
    record(connection, revision.name, direction).await
}
