//! Errors of the database layer, each naming the URL, revision or table involved.

/// What went wrong talking to or migrating the database.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The database URL cannot be used.
    #[error("invalid database URL `{url}`: {reason}")]
    InvalidUrl {
        /// The URL, password redacted.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The database cannot be reached or opened.
    #[error("cannot open database `{url}`: {reason}")]
    Connect {
        /// The URL, password redacted.
        url: String,
        /// What the driver said.
        reason: String,
    },
    /// The database was migrated by a newer conda-store-server than this one.
    #[error(
        "the database is at revision {found}, which this conda-store-server does not know \
         (its newest is {newest}); upgrade conda-store-server, or downgrade the database with the newer one"
    )]
    NewerThanBinary {
        /// The revision recorded in the database.
        found: String,
        /// The newest revision this binary knows.
        newest: String,
    },
    /// A Python conda-store database at an alembic revision we cannot adopt.
    #[error("{0}")]
    UnsupportedAlembicRevision(String),
    /// The database holds tables we would create, but no record of how they got there.
    #[error(
        "the database already has conda-store tables ({tables}) but no migration record; \
         refusing to touch it"
    )]
    Unrecognised {
        /// Some of the tables found.
        tables: String,
    },
    /// `db upgrade`/`db downgrade` was given a revision that does not exist.
    #[error("unknown revision `{0}`; `db history` lists them")]
    UnknownRevision(String),
    /// A revision target that lies in the wrong direction.
    #[error("{0}")]
    InvalidTarget(String),
    /// Pending migrations while `upgrade_db` is off.
    #[error(
        "the database is at revision {current} but this conda-store-server needs {newest}; \
         run `conda-store-server db upgrade` (or set upgrade_db = true)"
    )]
    Outdated {
        /// The database's revision.
        current: String,
        /// What the binary needs.
        newest: String,
    },
    /// A migration failed; its changes were rolled back where the backend allows.
    #[error("migration {revision} ({direction}) failed: {source}")]
    Migration {
        /// The revision being applied or reverted.
        revision: String,
        /// `upgrade` or `downgrade`.
        direction: &'static str,
        /// The underlying error.
        source: sea_orm::DbErr,
    },
    /// Any other database error.
    #[error("database error: {0}")]
    Query(#[from] sea_orm::DbErr),
}
