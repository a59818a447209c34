//! Revision 0001: the schema of the Python conda-store 2025.2.2 (alembic head
//! `bf065abf375b`), table for table, column for column.
//!
//! A database made by the Python conda-store is *adopted* at this revision instead of
//! running it (see `migration::runner`). A database we create gets `alembic_version`
//! stamped `bf065abf375b` too, so the Python conda-store can open it at this revision.

use super::helpers::{
    big_integer, boolean, foreign_key, id, index, integer, json, text, timestamp, varchar,
    varchar_unbounded,
};
use sea_orm::sea_query::{Expr, ForeignKey, Index, Query, Table, TableCreateStatement};
use sea_orm::{DbBackend, DbErr};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager, async_trait};

/// The alembic revision of the Python conda-store schema this revision equals.
pub const ALEMBIC_REVISION: &str = "bf065abf375b";

/// Creates the Python conda-store 2025.2.2 schema.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "0001_conda_store_2025_2_2"
    }
}

/// Tables in creation order; dropped in reverse.
const TABLES: [&str; 17] = [
    "alembic_version",
    "conda_channel",
    "conda_store_configuration",
    "namespace",
    "specification",
    "conda_package",
    "conda_package_build",
    "environment",
    "build",
    "build_artifact",
    "build_conda_package_build",
    "solve",
    "solve_conda_package_build",
    "keyvaluestore",
    "namespace_role_mapping",
    "namespace_role_mapping_v2",
    "worker",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        for table in tables(backend) {
            manager.create_table(table).await?;
        }
        if backend != DbBackend::Sqlite {
            // The circular key: `build` did not exist when `environment` was created.
            // SQLite takes it inline instead (it cannot add a key to a table later).
            manager
                .create_foreign_key(foreign_key(
                    "environment",
                    "current_build_id",
                    "build",
                    false,
                ))
                .await?;
        }
        for statement in [
            index(
                "ix_conda_package_channel_id",
                "conda_package",
                &["channel_id"],
                false,
            ),
            index("ix_conda_package_name", "conda_package", &["name"], false),
            index(
                "ix_conda_package_version",
                "conda_package",
                &["version"],
                false,
            ),
            index(
                "ix_conda_package_build_build",
                "conda_package_build",
                &["build"],
                false,
            ),
            index(
                "ix_keyvaluestore_prefix",
                "keyvaluestore",
                &["prefix"],
                false,
            ),
        ] {
            manager.create_index(statement).await?;
        }
        manager
            .execute(
                Query::insert()
                    .into_table("alembic_version")
                    .columns(["version_num"])
                    .values_panic([ALEMBIC_REVISION.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Sqlite {
            manager
                .drop_foreign_key(
                    ForeignKey::drop()
                        .name("environment_current_build_id_fkey")
                        .table("environment")
                        .to_owned(),
                )
                .await?;
        }
        for table in TABLES.iter().rev() {
            manager
                .drop_table(Table::drop().table(*table).to_owned())
                .await?;
        }
        Ok(())
    }
}

fn tables(backend: DbBackend) -> Vec<TableCreateStatement> {
    let mut environment = Table::create()
        .table("environment")
        .col(id())
        .col(integer("namespace_id", true))
        .col(varchar("name", 255, true))
        .col(integer("current_build_id", false))
        .col(timestamp("deleted_on", false))
        .col(text("description", false))
        .index(&mut index(
            "_namespace_name_uc",
            "environment",
            &["namespace_id", "name"],
            true,
        ))
        .foreign_key(&mut foreign_key(
            "environment",
            "namespace_id",
            "namespace",
            false,
        ))
        .to_owned();
    if backend == DbBackend::Sqlite {
        environment.foreign_key(&mut foreign_key(
            "environment",
            "current_build_id",
            "build",
            false,
        ));
    }
    vec![
        Table::create()
            .table("alembic_version")
            .col(varchar("version_num", 32, true))
            .primary_key(
                Index::create()
                    .name("alembic_version_pkc")
                    .col("version_num"),
            )
            .to_owned(),
        Table::create()
            .table("conda_channel")
            .col(id())
            .col(varchar("name", 255, true).unique_key().take())
            .col(timestamp("last_update", false))
            .to_owned(),
        Table::create()
            .table("conda_store_configuration")
            .col(id())
            .col(big_integer("disk_usage", false))
            .col(big_integer("free_storage", false))
            .col(big_integer("total_storage", false))
            .to_owned(),
        Table::create()
            .table("namespace")
            .col(id())
            .col(varchar("name", 255, false).unique_key().take())
            .col(timestamp("deleted_on", false))
            .col(json("metadata_", false))
            .to_owned(),
        Table::create()
            .table("specification")
            .col(id())
            .col(varchar("name", 255, true))
            .col(json("spec", true))
            .col(varchar("sha256", 255, true).unique_key().take())
            .col(timestamp("created_on", false))
            .col(
                boolean("is_lockfile", true)
                    .default(Expr::val(false))
                    .take(),
            )
            .to_owned(),
        Table::create()
            .table("conda_package")
            .col(id())
            .col(integer("channel_id", false))
            .col(text("license", false))
            .col(varchar("license_family", 64, false))
            .col(varchar("name", 255, true))
            .col(varchar("version", 64, true))
            .col(text("summary", false))
            .col(text("description", false))
            .index(&mut index(
                "_conda_package_uc",
                "conda_package",
                &["channel_id", "name", "version"],
                true,
            ))
            .foreign_key(&mut foreign_key(
                "conda_package",
                "channel_id",
                "conda_channel",
                false,
            ))
            .to_owned(),
        Table::create()
            .table("conda_package_build")
            .col(id())
            .col(integer("package_id", false))
            .col(integer("channel_id", false))
            .col(varchar("build", 64, true))
            .col(integer("build_number", true))
            .col(json("constrains", false))
            .col(json("depends", true))
            .col(varchar("md5", 255, true))
            .col(varchar("sha256", 64, true))
            .col(big_integer("size", true))
            .col(varchar("subdir", 64, false))
            .col(big_integer("timestamp", false))
            .index(&mut index(
                "_conda_package_build_uc",
                "conda_package_build",
                &[
                    "channel_id",
                    "package_id",
                    "subdir",
                    "build",
                    "build_number",
                    "sha256",
                ],
                true,
            ))
            .foreign_key(&mut foreign_key(
                "conda_package_build",
                "channel_id",
                "conda_channel",
                false,
            ))
            .foreign_key(&mut foreign_key(
                "conda_package_build",
                "package_id",
                "conda_package",
                false,
            ))
            .to_owned(),
        environment,
        Table::create()
            .table("build")
            .col(id())
            .col(integer("specification_id", true))
            .col(integer("environment_id", true))
            .col(varchar("status", 9, false))
            .col(big_integer("size", false))
            .col(timestamp("scheduled_on", false))
            .col(timestamp("started_on", false))
            .col(timestamp("ended_on", false))
            .col(timestamp("deleted_on", false))
            .col(text("status_info", false))
            .col(integer("build_key_version", true).default(1).take())
            .col(varchar("hash", 32, false))
            .foreign_key(&mut foreign_key(
                "build",
                "specification_id",
                "specification",
                false,
            ))
            .foreign_key(&mut foreign_key(
                "build",
                "environment_id",
                "environment",
                false,
            ))
            .to_owned(),
        Table::create()
            .table("build_artifact")
            .col(id())
            .col(integer("build_id", false))
            .col(varchar("artifact_type", 21, true))
            .col(varchar("key", 255, false))
            .foreign_key(&mut foreign_key(
                "build_artifact",
                "build_id",
                "build",
                false,
            ))
            .to_owned(),
        link_table("build_conda_package_build", "build_id", "build"),
        Table::create()
            .table("solve")
            .col(id())
            .col(integer("specification_id", true))
            .col(timestamp("scheduled_on", false))
            .col(timestamp("started_on", false))
            .col(timestamp("ended_on", false))
            .foreign_key(&mut foreign_key(
                "solve",
                "specification_id",
                "specification",
                false,
            ))
            .to_owned(),
        link_table("solve_conda_package_build", "solve_id", "solve"),
        Table::create()
            .table("keyvaluestore")
            .col(id())
            .col(varchar_unbounded("prefix", true))
            .col(varchar_unbounded("key", true))
            .col(json("value", false))
            .to_owned(),
        Table::create()
            .table("namespace_role_mapping")
            .col(id())
            .col(integer("namespace_id", true))
            .col(varchar("entity", 255, true))
            .col(varchar("role", 255, true))
            .foreign_key(&mut foreign_key(
                "namespace_role_mapping",
                "namespace_id",
                "namespace",
                false,
            ))
            .to_owned(),
        Table::create()
            .table("namespace_role_mapping_v2")
            .col(id())
            .col(integer("namespace_id", true))
            .col(integer("other_namespace_id", true))
            .col(varchar("role", 255, true))
            .index(&mut index(
                "_uc",
                "namespace_role_mapping_v2",
                &["namespace_id", "other_namespace_id"],
                true,
            ))
            .foreign_key(&mut foreign_key(
                "namespace_role_mapping_v2",
                "namespace_id",
                "namespace",
                false,
            ))
            .foreign_key(&mut foreign_key(
                "namespace_role_mapping_v2",
                "other_namespace_id",
                "namespace",
                false,
            ))
            .to_owned(),
        Table::create()
            .table("worker")
            .col(id())
            .col(boolean("initialized", false))
            .to_owned(),
    ]
}

/// A many-to-many table from `owner` to `conda_package_build`, both keys cascading.
fn link_table(
    table: &'static str,
    owner_column: &'static str,
    owner_table: &'static str,
) -> TableCreateStatement {
    Table::create()
        .table(table)
        .col(integer(owner_column, true))
        .col(integer("conda_package_build_id", true))
        .primary_key(
            Index::create()
                .col(owner_column)
                .col("conda_package_build_id"),
        )
        .foreign_key(&mut foreign_key(table, owner_column, owner_table, true))
        .foreign_key(&mut foreign_key(
            table,
            "conda_package_build_id",
            "conda_package_build",
            true,
        ))
        .to_owned()
}
