//! Reads the live schema of a database: tables, columns with their types and
//! nullability, primary keys, foreign keys, unique constraints and indexes.
//!
//! Used by `db diagram`, by the schema tests and by the schema-drift check. Types are
//! reduced to [`TypeFamily`] so that the same schema compares equal on every backend.

use crate::error::DatabaseError;
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The type of a column, reduced to what matters across backends.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum TypeFamily {
    /// 32-bit integer (on SQLite: any integer, which is 64-bit there).
    Integer,
    /// 64-bit integer (never reported on SQLite, whose integers are all one type).
    BigInteger,
    /// Variable-length string, with its length limit if any.
    Varchar(Option<u32>),
    /// Unbounded text.
    Text,
    /// Boolean (`tinyint(1)` on MySQL).
    Boolean,
    /// Naive timestamp.
    Timestamp,
    /// JSON document.
    Json,
    /// Anything else, by its declared name.
    Other(String),
}

impl fmt::Display for TypeFamily {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeFamily::Integer => formatter.write_str("integer"),
            TypeFamily::BigInteger => formatter.write_str("bigint"),
            TypeFamily::Varchar(Some(length)) => write!(formatter, "varchar({length})"),
            TypeFamily::Varchar(None) => formatter.write_str("varchar"),
            TypeFamily::Text => formatter.write_str("text"),
            TypeFamily::Boolean => formatter.write_str("boolean"),
            TypeFamily::Timestamp => formatter.write_str("timestamp"),
            TypeFamily::Json => formatter.write_str("json"),
            TypeFamily::Other(name) => formatter.write_str(name),
        }
    }
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Its type family.
    pub family: TypeFamily,
    /// Whether it accepts NULL.
    pub nullable: bool,
}

/// One foreign key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct ForeignKey {
    /// Referencing columns, in key order.
    pub columns: Vec<String>,
    /// The referenced table.
    pub referenced_table: String,
    /// The referenced columns, in key order.
    pub referenced_columns: Vec<String>,
    /// `CASCADE`, `SET NULL`, ... or `NO ACTION`.
    pub on_delete: String,
}

/// One table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TableSchema {
    /// Columns in declaration order.
    pub columns: Vec<Column>,
    /// Primary key columns, in key order.
    pub primary_key: Vec<String>,
    /// Foreign keys.
    pub foreign_keys: BTreeSet<ForeignKey>,
    /// Column lists of unique constraints and unique indexes (other than the primary key).
    pub unique: BTreeSet<Vec<String>>,
    /// Non-unique indexes: name → columns. Indexes MySQL creates by itself for foreign
    /// keys are left out.
    pub indexes: BTreeMap<String, Vec<String>>,
}

/// Every table of a database, by name.
pub type Schema = BTreeMap<String, TableSchema>;

/// Lists the tables of the connected database (or schema).
pub async fn table_names<C: ConnectionTrait>(connection: &C) -> Result<Vec<String>, DatabaseError> {
    let sql = match connection.get_database_backend() {
        DbBackend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        }
        DbBackend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1"
        }
        _ => {
            "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
             WHERE table_schema = database() AND table_type = 'BASE TABLE' ORDER BY 1"
        }
    };
    let rows = query(connection, sql, Vec::new()).await?;
    rows.iter().map(|row| text_at(row, 0)).collect()
}

/// Reads the whole schema of the connected database.
pub async fn schema<C: ConnectionTrait>(connection: &C) -> Result<Schema, DatabaseError> {
    match connection.get_database_backend() {
        DbBackend::Sqlite => sqlite::schema(connection).await,
        DbBackend::Postgres => postgres::schema(connection).await,
        _ => mysql::schema(connection).await,
    }
}

async fn query<C: ConnectionTrait>(
    connection: &C,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Result<Vec<QueryResult>, DatabaseError> {
    let backend = connection.get_database_backend();
    Ok(connection
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?)
}

fn text_at(row: &QueryResult, position: usize) -> Result<String, DatabaseError> {
    Ok(row.try_get_by_index::<String>(position)?)
}

fn optional_text_at(row: &QueryResult, position: usize) -> Result<Option<String>, DatabaseError> {
    Ok(row.try_get_by_index::<Option<String>>(position)?)
}

fn integer_at(row: &QueryResult, position: usize) -> Result<i64, DatabaseError> {
    Ok(row
        .try_get_by_index::<i64>(position)
        .or_else(|_| row.try_get_by_index::<i32>(position).map(i64::from))?)
}

fn split_columns(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|column| !column.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reduces a declared type to its family. `length` is the character limit when the
/// backend reports it separately.
fn family(backend: DbBackend, declared: &str, length: Option<i64>) -> TypeFamily {
    let lower = declared.trim().to_ascii_lowercase();
    let base = lower.split('(').next().unwrap_or_default().trim();
    let parenthesised = lower
        .split_once('(')
        .and_then(|(_, rest)| rest.trim_end_matches(')').parse::<u32>().ok());
    let length = length
        .and_then(|length| u32::try_from(length).ok())
        .or(parenthesised);
    match base {
        "tinyint" if parenthesised == Some(1) || backend == DbBackend::MySql => TypeFamily::Boolean,
        "bool" | "boolean" => TypeFamily::Boolean,
        "int" | "integer" | "int4" | "serial" | "mediumint" | "smallint" | "int2" => {
            TypeFamily::Integer
        }
        "bigint" | "int8" | "bigserial" if backend == DbBackend::Sqlite => TypeFamily::Integer,
        "bigint" | "int8" | "bigserial" => TypeFamily::BigInteger,
        "varchar" | "character varying" | "nvarchar" => TypeFamily::Varchar(length),
        "text" | "longtext" | "mediumtext" | "clob" => TypeFamily::Text,
        "datetime" | "datetime_text" | "timestamp" | "timestamp without time zone" => {
            TypeFamily::Timestamp
        }
        "json" | "json_text" | "jsonb" => TypeFamily::Json,
        _ => TypeFamily::Other(lower),
    }
}

fn on_delete_rule(rule: &str) -> String {
    match rule.to_ascii_uppercase().as_str() {
        "" | "NONE" | "RESTRICT" | "NO ACTION" => "NO ACTION".to_owned(),
        other => other.to_owned(),
    }
}

mod sqlite {
    use super::*;

    pub async fn schema<C: ConnectionTrait>(connection: &C) -> Result<Schema, DatabaseError> {
        let mut schema = Schema::new();
        for table in table_names(connection).await? {
            schema.insert(table.clone(), describe(connection, &table).await?);
        }
        Ok(schema)
    }

    async fn describe<C: ConnectionTrait>(
        connection: &C,
        table: &str,
    ) -> Result<TableSchema, DatabaseError> {
        let mut described = TableSchema::default();
        let columns = query(
            connection,
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?) ORDER BY cid",
            vec![table.into()],
        )
        .await?;
        let mut primary_key = Vec::new();
        for row in &columns {
            let name = text_at(row, 0)?;
            let position = integer_at(row, 3)?;
            if position > 0 {
                primary_key.push((position, name.clone()));
            }
            described.columns.push(Column {
                family: family(DbBackend::Sqlite, &text_at(row, 1)?, None),
                // A primary-key column is never NULL in practice, whatever SQLite says.
                nullable: integer_at(row, 2)? == 0 && position == 0,
                name,
            });
        }
        primary_key.sort();
        described.primary_key = primary_key.into_iter().map(|(_, name)| name).collect();

        let keys = query(
            connection,
            "SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq",
            vec![table.into()],
        )
        .await?;
        let mut grouped: BTreeMap<i64, ForeignKey> = BTreeMap::new();
        for row in &keys {
            let key = grouped
                .entry(integer_at(row, 0)?)
                .or_insert_with(|| ForeignKey {
                    columns: Vec::new(),
                    referenced_table: String::new(),
                    referenced_columns: Vec::new(),
                    on_delete: String::new(),
                });
            key.referenced_table = text_at(row, 1)?;
            key.columns.push(text_at(row, 2)?);
            key.referenced_columns
                .push(optional_text_at(row, 3)?.unwrap_or_else(|| "id".to_owned()));
            key.on_delete = on_delete_rule(&text_at(row, 4)?);
        }
        described.foreign_keys = grouped.into_values().collect();

        let indexes = query(
            connection,
            "SELECT name, \"unique\", origin FROM pragma_index_list(?)",
            vec![table.into()],
        )
        .await?;
        for row in &indexes {
            let name = text_at(row, 0)?;
            if text_at(row, 2)? == "pk" {
                continue;
            }
            let columns = query(
                connection,
                "SELECT name FROM pragma_index_info(?) ORDER BY seqno",
                vec![name.clone().into()],
            )
            .await?
            .iter()
            .map(|row| text_at(row, 0))
            .collect::<Result<Vec<_>, _>>()?;
            if integer_at(row, 1)? != 0 {
                described.unique.insert(columns);
            } else {
                described.indexes.insert(name, columns);
            }
        }
        Ok(described)
    }
}

mod postgres {
    use super::*;

    const COLUMNS: &str = "SELECT table_name::text, column_name::text, data_type::text, \
        CAST(character_maximum_length AS bigint), is_nullable::text \
        FROM information_schema.columns WHERE table_schema = current_schema() \
        ORDER BY table_name, ordinal_position";

    const INDEXES: &str = "SELECT t.relname::text, i.relname::text, ix.indisunique, ix.indisprimary, \
        array_to_string(ARRAY(SELECT a.attname::text FROM unnest(ix.indkey::int2[]) WITH ORDINALITY AS k(number, position) \
          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.number ORDER BY k.position), ',') \
        FROM pg_index ix JOIN pg_class t ON t.oid = ix.indrelid JOIN pg_class i ON i.oid = ix.indexrelid \
        JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema()";

    const FOREIGN_KEYS: &str = "SELECT t.relname::text, r.relname::text, \
        array_to_string(ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(number, position) \
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.number ORDER BY k.position), ','), \
        array_to_string(ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(number, position) \
          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.number ORDER BY k.position), ','), \
        c.confdeltype::text \
        FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid JOIN pg_class r ON r.oid = c.confrelid \
        JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema() AND c.contype = 'f'";

    pub async fn schema<C: ConnectionTrait>(connection: &C) -> Result<Schema, DatabaseError> {
        let mut schema = Schema::new();
        for table in table_names(connection).await? {
            schema.insert(table, TableSchema::default());
        }
        for row in query(connection, COLUMNS, Vec::new()).await? {
            let Some(table) = schema.get_mut(&text_at(&row, 0)?) else {
                continue;
            };
            let length = row.try_get_by_index::<Option<i64>>(3)?;
            table.columns.push(Column {
                name: text_at(&row, 1)?,
                family: family(DbBackend::Postgres, &text_at(&row, 2)?, length),
                nullable: text_at(&row, 4)? == "YES",
            });
        }
        for row in query(connection, INDEXES, Vec::new()).await? {
            let Some(table) = schema.get_mut(&text_at(&row, 0)?) else {
                continue;
            };
            let columns = split_columns(&text_at(&row, 4)?);
            let unique = row.try_get_by_index::<bool>(2)?;
            if row.try_get_by_index::<bool>(3)? {
                table.primary_key = columns;
            } else if unique {
                table.unique.insert(columns);
            } else {
                table.indexes.insert(text_at(&row, 1)?, columns);
            }
        }
        for row in query(connection, FOREIGN_KEYS, Vec::new()).await? {
            let Some(table) = schema.get_mut(&text_at(&row, 0)?) else {
                continue;
            };
            let on_delete = match text_at(&row, 4)?.as_str() {
                "c" => "CASCADE",
                "n" => "SET NULL",
                "d" => "SET DEFAULT",
                _ => "NO ACTION",
            };
            table.foreign_keys.insert(ForeignKey {
                columns: split_columns(&text_at(&row, 2)?),
                referenced_table: text_at(&row, 1)?,
                referenced_columns: split_columns(&text_at(&row, 3)?),
                on_delete: on_delete.to_owned(),
            });
        }
        Ok(schema)
    }
}

mod mysql {
    use super::*;

    const COLUMNS: &str = "SELECT CAST(table_name AS CHAR), CAST(column_name AS CHAR), CAST(column_type AS CHAR), \
        CAST(character_maximum_length AS SIGNED), CAST(is_nullable AS CHAR) \
        FROM information_schema.columns WHERE table_schema = database() \
        ORDER BY table_name, ordinal_position";

    /// MariaDB stores JSON as LONGTEXT with a `json_valid` check; this finds them.
    const JSON_CHECKS: &str = "SELECT CAST(table_name AS CHAR), CAST(check_clause AS CHAR) \
        FROM information_schema.check_constraints WHERE constraint_schema = database()";

    const INDEXES: &str = "SELECT CAST(table_name AS CHAR), CAST(index_name AS CHAR), CAST(non_unique AS SIGNED), \
        CAST(column_name AS CHAR) FROM information_schema.statistics WHERE table_schema = database() \
        ORDER BY table_name, index_name, seq_in_index";

    const FOREIGN_KEYS: &str = "SELECT CAST(k.table_name AS CHAR), CAST(k.constraint_name AS CHAR), \
        CAST(k.column_name AS CHAR), CAST(k.referenced_table_name AS CHAR), CAST(k.referenced_column_name AS CHAR), \
        CAST(r.delete_rule AS CHAR) FROM information_schema.key_column_usage k \
        JOIN information_schema.referential_constraints r \
          ON r.constraint_schema = k.constraint_schema AND r.constraint_name = k.constraint_name AND r.table_name = k.table_name \
        WHERE k.table_schema = database() AND k.referenced_table_name IS NOT NULL \
        ORDER BY k.table_name, k.constraint_name, k.ordinal_position";

    pub async fn schema<C: ConnectionTrait>(connection: &C) -> Result<Schema, DatabaseError> {
        let mut schema = Schema::new();
        for table in table_names(connection).await? {
            schema.insert(table, TableSchema::default());
        }
        let mut json_columns = BTreeSet::new();
        for row in query(connection, JSON_CHECKS, Vec::new())
            .await
            .unwrap_or_default()
        {
            let clause = text_at(&row, 1)?;
            if let Some(column) = clause
                .strip_prefix("json_valid(`")
                .and_then(|rest| rest.strip_suffix("`)"))
            {
                json_columns.insert((text_at(&row, 0)?, column.to_owned()));
            }
        }
        for row in query(connection, COLUMNS, Vec::new()).await? {
            let table_name = text_at(&row, 0)?;
            let name = text_at(&row, 1)?;
            let Some(table) = schema.get_mut(&table_name) else {
                continue;
            };
            let family = if json_columns.contains(&(table_name, name.clone())) {
                TypeFamily::Json
            } else {
                let length = row.try_get_by_index::<Option<i64>>(3)?;
                family(DbBackend::MySql, &text_at(&row, 2)?, length)
            };
            table.columns.push(Column {
                name,
                family,
                nullable: text_at(&row, 4)? == "YES",
            });
        }
        let mut foreign_keys: BTreeMap<(String, String), ForeignKey> = BTreeMap::new();
        for row in query(connection, FOREIGN_KEYS, Vec::new()).await? {
            let key = foreign_keys
                .entry((text_at(&row, 0)?, text_at(&row, 1)?))
                .or_default();
            key.columns.push(text_at(&row, 2)?);
            key.referenced_table = text_at(&row, 3)?;
            key.referenced_columns.push(text_at(&row, 4)?);
            key.on_delete = on_delete_rule(&text_at(&row, 5)?);
        }
        let mut indexes: BTreeMap<(String, String), (bool, Vec<String>)> = BTreeMap::new();
        for row in query(connection, INDEXES, Vec::new()).await? {
            let entry = indexes
                .entry((text_at(&row, 0)?, text_at(&row, 1)?))
                .or_default();
            entry.0 = integer_at(&row, 2)? == 0;
            entry.1.push(text_at(&row, 3)?);
        }
        for ((table_name, index_name), (unique, columns)) in indexes {
            let Some(table) = schema.get_mut(&table_name) else {
                continue;
            };
            if index_name == "PRIMARY" {
                table.primary_key = columns;
            } else if unique {
                table.unique.insert(columns);
            } else if !foreign_keys.contains_key(&(table_name, index_name.clone())) {
                table.indexes.insert(index_name, columns);
            }
        }
        for ((table_name, _), key) in foreign_keys {
            if let Some(table) = schema.get_mut(&table_name) {
                table.foreign_keys.insert(key);
            }
        }
        Ok(schema)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_reduce_to_families() {
        assert_eq!(
            family(DbBackend::Sqlite, "VARCHAR(255)", None),
            TypeFamily::Varchar(Some(255))
        );
        assert_eq!(
            family(DbBackend::Sqlite, "BIGINT", None),
            TypeFamily::Integer
        );
        assert_eq!(
            family(DbBackend::Sqlite, "datetime_text", None),
            TypeFamily::Timestamp
        );
        assert_eq!(
            family(DbBackend::Postgres, "character varying", Some(64)),
            TypeFamily::Varchar(Some(64))
        );
        assert_eq!(
            family(DbBackend::Postgres, "bigint", None),
            TypeFamily::BigInteger
        );
        assert_eq!(
            family(DbBackend::MySql, "tinyint(1)", None),
            TypeFamily::Boolean
        );
        assert_eq!(
            family(DbBackend::MySql, "int(11)", None),
            TypeFamily::Integer
        );
        assert_eq!(family(DbBackend::Postgres, "json", None), TypeFamily::Json);
    }
}
