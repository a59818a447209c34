//! Small builders shared by migrations, so each migration reads like a table listing.
//!
//! Migrations use sea-query statements only, never entities: entities describe the
//! newest schema, a migration must work against the schema of its own moment.

use sea_orm::sea_query::{
    ColumnDef, ForeignKey, ForeignKeyAction, ForeignKeyCreateStatement, Index, IndexCreateStatement,
};
use sea_orm::{DbErr, QueryResult};

/// `INTEGER NOT NULL` auto-increment primary key named `id`.
pub fn id() -> ColumnDef {
    ColumnDef::new("id")
        .integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .take()
}

/// A nullable or required `VARCHAR(length)`.
pub fn varchar(name: &'static str, length: u32, required: bool) -> ColumnDef {
    nullability(ColumnDef::new(name).string_len(length).take(), required)
}

/// A nullable or required `VARCHAR` without a length (`VARCHAR(255)` on MySQL, which
/// requires one).
pub fn varchar_unbounded(name: &'static str, required: bool) -> ColumnDef {
    nullability(ColumnDef::new(name).string().take(), required)
}

/// A nullable or required `TEXT`.
pub fn text(name: &'static str, required: bool) -> ColumnDef {
    nullability(ColumnDef::new(name).text().take(), required)
}

/// A nullable or required `INTEGER`.
pub fn integer(name: &'static str, required: bool) -> ColumnDef {
    nullability(ColumnDef::new(name).integer().take(), required)
}

/// A nullable or required `BIGINT`.
pub fn big_integer(name: &'static str, required: bool) -> ColumnDef {
    nullability(ColumnDef::new(name).big_integer().take(), required)
}

/// A nullable or required `BOOLEAN`.
pub fn boolean(name: &'static str, required: bool) -> ColumnDef {
    nullability(ColumnDef::new(name).boolean().take(), required)
}

/// A nullable or required naive-UTC timestamp (`DATETIME` / `timestamp without time zone`).
pub fn timestamp(name: &'static str, required: bool) -> ColumnDef {
    nullability(ColumnDef::new(name).date_time().take(), required)
}

/// A nullable or required `JSON` column.
pub fn json(name: &'static str, required: bool) -> ColumnDef {
    nullability(ColumnDef::new(name).json().take(), required)
}

fn nullability(mut column: ColumnDef, required: bool) -> ColumnDef {
    if required {
        column.not_null();
    } else {
        column.null();
    }
    column
}

/// A foreign key named as PostgreSQL (and the Python conda-store) names them:
/// `{table}_{column}_fkey`.
pub fn foreign_key(
    table: &'static str,
    column: &'static str,
    referenced_table: &'static str,
    on_delete_cascade: bool,
) -> ForeignKeyCreateStatement {
    let mut key = ForeignKey::create()
        .name(format!("{table}_{column}_fkey"))
        .from(table, column)
        .to(referenced_table, "id")
        .take();
    if on_delete_cascade {
        key.on_delete(ForeignKeyAction::Cascade);
    }
    key
}

/// A named index over `columns`, unique or not.
pub fn index(
    name: &'static str,
    table: &'static str,
    columns: &[&'static str],
    unique: bool,
) -> IndexCreateStatement {
    let mut index = Index::create().name(name).table(table).take();
    for column in columns {
        index.col(*column);
    }
    if unique {
        index.unique();
    }
    index
}

/// Reads an integer column by position, whether the backend stores it in 32 or 64 bits
/// (PostgreSQL `integer` ids decode only as `i32`).
pub fn integer_at(row: &QueryResult, position: usize) -> Result<i64, DbErr> {
    row.try_get_by_index::<i64>(position)
        .or_else(|_| row.try_get_by_index::<i32>(position).map(i64::from))
}
