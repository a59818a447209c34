//! SeaORM entities: the newest schema, as the code reads and writes it.
//!
//! Migrations never use these (they describe only the newest schema). The schema-drift
//! test creates tables from these entities and compares them with what the migrations
//! build, so the two cannot disagree unnoticed.

pub mod build;
pub mod build_artifact;
pub mod build_conda_package_build;
pub mod conda_channel;
pub mod conda_package;
pub mod conda_package_build;
pub mod conda_store_configuration;
pub mod environment;
pub mod job;
pub mod keyvaluestore;
pub mod namespace;
pub mod namespace_role_mapping;
pub mod namespace_role_mapping_v2;
pub mod solve;
pub mod solve_conda_package_build;
pub mod specification;
pub mod worker;

/// Every entity's table name, in alphabetical order.
pub const TABLES: [&str; 17] = [
    "build",
    "build_artifact",
    "build_conda_package_build",
    "conda_channel",
    "conda_package",
    "conda_package_build",
    "conda_store_configuration",
    "environment",
    "job",
    "keyvaluestore",
    "namespace",
    "namespace_role_mapping",
    "namespace_role_mapping_v2",
    "solve",
    "solve_conda_package_build",
    "specification",
    "worker",
];
