//! The conda-store database: connections, the schema as SeaORM entities, reversible
//! migrations with adoption of Python conda-store databases, and live-schema
//! introspection with entity-relationship diagrams.
//!
//! SQLite, PostgreSQL and MariaDB/MySQL are supported with one migration set.

pub mod connection;
pub mod diagram;
pub mod entity;
pub mod error;
pub mod introspect;
pub mod migration;
pub mod queue;

pub use connection::{DatabaseUrl, PoolSize, begin_write, connect};
pub use error::DatabaseError;
pub use sea_orm::{DatabaseConnection, DbBackend};
