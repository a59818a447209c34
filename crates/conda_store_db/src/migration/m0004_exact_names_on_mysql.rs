//! Revision 0004: on MySQL/MariaDB, namespace and environment names and settings keys
//! compare exactly (a binary collation), as they do on SQLite and PostgreSQL.
//!
//! MySQL's default collations ignore case (and some accents), so `ALICE` found the row
//! of namespace `alice`: a user allowed on `ALICE/*` created environments in `alice`,
//! read `alice`'s role mappings through a token whose primary namespace was `ALICE`, and
//! overwrote `alice`'s settings (`setting/ALICE` matched `setting/alice`). Authorization
//! compares names exactly, so the database must too. Other backends: nothing to do.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager, async_trait};

/// Gives the name columns a binary collation on MySQL.
pub struct Migration;

/// The columns that hold names compared with what a request says: (table, column).
const NAME_COLUMNS: [(&str, &str); 4] = [
    ("namespace", "name"),
    ("environment", "name"),
    ("keyvaluestore", "prefix"),
    ("keyvaluestore", "key"),
];

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "0004_exact_names_on_mysql"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_collations(manager, Collation::Binary).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        set_collations(manager, Collation::CharsetDefault).await
    }
}

/// Which collation a column gets.
#[derive(Clone, Copy)]
enum Collation {
    /// `{charset}_bin`: byte for byte.
    Binary,
    /// The character set's default collation (what the column had before).
    CharsetDefault,
}

async fn set_collations(manager: &SchemaManager<'_>, collation: Collation) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::MySql {
        return Ok(());
    }
    for (table, column) in NAME_COLUMNS {
        let definition = column_definition(manager, table, column, collation).await?;
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "ALTER TABLE `{table}` MODIFY `{column}` {definition}"
            ))
            .await?;
    }
    Ok(())
}

/// The column's type and nullability as they are, with the wanted collation of its
/// character set.
async fn column_definition(
    manager: &SchemaManager<'_>,
    table: &str,
    column: &str,
    collation: Collation,
) -> Result<String, DbErr> {
    let row = manager
        .get_connection()
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::MySql,
            "SELECT c.COLUMN_TYPE, c.IS_NULLABLE, c.CHARACTER_SET_NAME, s.DEFAULT_COLLATE_NAME \
             FROM information_schema.COLUMNS c \
             JOIN information_schema.CHARACTER_SETS s ON s.CHARACTER_SET_NAME = c.CHARACTER_SET_NAME \
             WHERE c.TABLE_SCHEMA = DATABASE() AND c.TABLE_NAME = ? AND c.COLUMN_NAME = ?",
            [table.into(), column.into()],
        ))
        .await?
        .ok_or_else(|| DbErr::Migration(format!("column {table}.{column} not found")))?;
    let column_type: String = row.try_get_by_index(0)?;
    let nullable: String = row.try_get_by_index(1)?;
    let charset: String = row.try_get_by_index(2)?;
    let default_collation: String = row.try_get_by_index(3)?;
    let collation = match collation {
        Collation::Binary => format!("{charset}_bin"),
        Collation::CharsetDefault => default_collation,
    };
    let null = if nullable == "YES" {
        "NULL"
    } else {
        "NOT NULL"
    };
    Ok(format!(
        "{column_type} CHARACTER SET {charset} COLLATE {collation} {null}"
    ))
}
