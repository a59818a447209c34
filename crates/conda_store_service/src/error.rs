//! Errors of the use-cases; the HTTP layer maps each to one status code.

use conda_store_core::specification::SpecificationError;

/// Why a use-case was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The specification is invalid (400).
    #[error(transparent)]
    Specification(#[from] SpecificationError),
    /// A namespace or environment name with characters conda-store does not allow (400).
    #[error("invalid name `{0}`: use letters, digits and -+_@$&?^~.=")]
    InvalidName(String),
    /// A request that is well-formed but not acceptable (400).
    #[error("{0}")]
    Invalid(String),
    /// Too little free disk space under the store for a new build (400).
    #[error("{0}")]
    InsufficientStorage(String),
    /// No such build, environment or namespace (404).
    #[error("{0} not found")]
    NotFound(String),
    /// The request conflicts with the current state (409), e.g. canceling a finished build.
    #[error("{0}")]
    Conflict(String),
    /// The database failed (500).
    #[error(transparent)]
    Database(#[from] conda_store_db::DatabaseError),
    /// Artifact storage failed (500).
    #[error(transparent)]
    Storage(#[from] conda_store_storage::StorageError),
    /// Anything else that should not happen (500).
    #[error("{0}")]
    Internal(String),
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(error: sea_orm::DbErr) -> Self {
        ServiceError::Database(error.into())
    }
}
