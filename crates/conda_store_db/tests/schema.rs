//! The migrated schema, migration round trips and the schema-drift check, on every backend.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_db::introspect::{self, Schema, TableSchema, TypeFamily};
use conda_store_db::migration::{self, DowngradeTarget, MIGRATION_TABLE};
use conda_store_db::{DatabaseConnection, DbBackend};
use conda_store_test_support::{Backend, TestDatabase, backends, table_rows};
use sea_orm::{ConnectionTrait, Statement};
use std::collections::BTreeSet;

/// Column shorthand: (name, family, nullable).
type Expected = (&'static str, TypeFamily, bool);

fn varchar(length: u32) -> TypeFamily {
    TypeFamily::Varchar(Some(length))
}

/// The newest schema, written out by hand from reference §1.1 and the peer databases.
fn expected_schema(backend: DbBackend) -> Vec<(&'static str, Vec<Expected>)> {
    use TypeFamily::*;
    let big = if backend == DbBackend::Sqlite {
        Integer
    } else {
        BigInteger
    };
    let unbounded = if backend == DbBackend::MySql {
        varchar(255)
    } else {
        Varchar(None)
    };
    let id = ("id", Integer, false);
    vec![
        ("alembic_version", vec![("version_num", varchar(32), false)]),
        (
            "build",
            vec![
                id.clone(),
                ("specification_id", Integer, false),
                ("environment_id", Integer, false),
                ("status", varchar(9), true),
                ("size", big.clone(), true),
                ("scheduled_on", Timestamp, true),
                ("started_on", Timestamp, true),
                ("ended_on", Timestamp, true),
                ("deleted_on", Timestamp, true),
                ("status_info", Text, true),
                ("build_key_version", Integer, false),
                ("hash", varchar(32), true),
            ],
        ),
        (
            "build_artifact",
            vec![
                id.clone(),
                ("build_id", Integer, true),
                ("artifact_type", varchar(21), false),
                ("key", varchar(255), true),
            ],
        ),
        (
            "build_conda_package_build",
            vec![
                ("build_id", Integer, false),
                ("conda_package_build_id", Integer, false),
            ],
        ),
        (
            "conda_channel",
            vec![
                id.clone(),
                ("name", varchar(255), false),
                ("last_update", Timestamp, true),
            ],
        ),
        (
            "conda_package",
            vec![
                id.clone(),
                ("channel_id", Integer, true),
                ("license", Text, true),
                ("license_family", varchar(64), true),
                ("name", varchar(255), false),
                ("version", varchar(64), false),
                ("summary", Text, true),
                ("description", Text, true),
            ],
        ),
        (
            "conda_package_build",
            vec![
                id.clone(),
                ("package_id", Integer, true),
                ("channel_id", Integer, true),
                ("build", varchar(64), false),
                ("build_number", Integer, false),
                ("constrains", Json, true),
                ("depends", Json, false),
                ("md5", varchar(255), false),
                ("sha256", varchar(64), false),
                ("size", big.clone(), false),
                ("subdir", varchar(64), true),
                ("timestamp", big.clone(), true),
            ],
        ),
        (
            "conda_store_configuration",
            vec![
                id.clone(),
                ("disk_usage", big.clone(), true),
                ("free_storage", big.clone(), true),
                ("total_storage", big.clone(), true),
            ],
        ),
        (
            MIGRATION_TABLE,
            vec![
                ("version", varchar(255), false),
                ("applied_on", Timestamp, false),
            ],
        ),
        (
            "environment",
            vec![
                id.clone(),
                ("namespace_id", Integer, false),
                ("name", varchar(255), false),
                ("current_build_id", Integer, true),
                ("deleted_on", Timestamp, true),
                ("description", Text, true),
            ],
        ),
        (
            "job",
            vec![
                id.clone(),
                ("kind", varchar(64), false),
                ("payload", Json, false),
                ("state", varchar(16), false),
                ("attempts", Integer, false),
                ("max_attempts", Integer, false),
                ("unique_key", varchar(255), true),
                ("worker_name", varchar(255), true),
                ("lease_expires_on", Timestamp, true),
                ("heartbeat_on", Timestamp, true),
                ("run_after", Timestamp, false),
                ("created_on", Timestamp, false),
                ("started_on", Timestamp, true),
                ("ended_on", Timestamp, true),
                ("error", Text, true),
            ],
        ),
        (
            "keyvaluestore",
            vec![
                id.clone(),
                ("prefix", unbounded.clone(), false),
                ("key", unbounded, false),
                ("value", Json, true),
            ],
        ),
        (
            "namespace",
            vec![
                id.clone(),
                ("name", varchar(255), true),
                ("deleted_on", Timestamp, true),
                ("metadata_", Json, true),
            ],
        ),
        (
            "namespace_role_mapping",
            vec![
                id.clone(),
                ("namespace_id", Integer, false),
                ("entity", varchar(255), false),
                ("role", varchar(255), false),
            ],
        ),
        (
            "namespace_role_mapping_v2",
            vec![
                id.clone(),
                ("namespace_id", Integer, false),
                ("other_namespace_id", Integer, false),
                ("role", varchar(255), false),
            ],
        ),
        (
            "solve",
            vec![
                id.clone(),
                ("specification_id", Integer, false),
                ("scheduled_on", Timestamp, true),
                ("started_on", Timestamp, true),
                ("ended_on", Timestamp, true),
            ],
        ),
        (
            "solve_conda_package_build",
            vec![
                ("solve_id", Integer, false),
                ("conda_package_build_id", Integer, false),
            ],
        ),
        (
            "specification",
            vec![
                id.clone(),
                ("name", varchar(255), false),
                ("spec", Json, false),
                ("sha256", varchar(255), false),
                ("created_on", Timestamp, true),
                ("is_lockfile", Boolean, false),
            ],
        ),
        ("worker", vec![id, ("initialized", Boolean, true)]),
    ]
}

/// (table, columns, referenced table, on delete)
const FOREIGN_KEYS: [(&str, &str, &str, &str); 16] = [
    ("build", "environment_id", "environment", "NO ACTION"),
    ("build", "specification_id", "specification", "NO ACTION"),
    ("build_artifact", "build_id", "build", "NO ACTION"),
    ("build_conda_package_build", "build_id", "build", "CASCADE"),
    (
        "build_conda_package_build",
        "conda_package_build_id",
        "conda_package_build",
        "CASCADE",
    ),
    ("conda_package", "channel_id", "conda_channel", "NO ACTION"),
    (
        "conda_package_build",
        "channel_id",
        "conda_channel",
        "NO ACTION",
    ),
    (
        "conda_package_build",
        "package_id",
        "conda_package",
        "NO ACTION",
    ),
    ("environment", "current_build_id", "build", "NO ACTION"),
    ("environment", "namespace_id", "namespace", "NO ACTION"),
    (
        "namespace_role_mapping",
        "namespace_id",
        "namespace",
        "NO ACTION",
    ),
    (
        "namespace_role_mapping_v2",
        "namespace_id",
        "namespace",
        "NO ACTION",
    ),
    (
        "namespace_role_mapping_v2",
        "other_namespace_id",
        "namespace",
        "NO ACTION",
    ),
    ("solve", "specification_id", "specification", "NO ACTION"),
    (
        "solve_conda_package_build",
        "conda_package_build_id",
        "conda_package_build",
        "CASCADE",
    ),
    ("solve_conda_package_build", "solve_id", "solve", "CASCADE"),
];

/// (table, unique column list)
const UNIQUE: [(&str, &[&str]); 8] = [
    ("conda_channel", &["name"]),
    ("conda_package", &["channel_id", "name", "version"]),
    (
        "conda_package_build",
        &[
            "channel_id",
            "package_id",
            "subdir",
            "build",
            "build_number",
            "sha256",
        ],
    ),
    ("environment", &["namespace_id", "name"]),
    ("job", &["unique_key"]),
    ("keyvaluestore", &["prefix", "key"]),
    ("namespace", &["name"]),
    (
        "namespace_role_mapping_v2",
        &["namespace_id", "other_namespace_id"],
    ),
];

/// (table, index name, columns)
const INDEXES: [(&str, &str, &[&str]); 6] = [
    (
        "conda_package",
        "ix_conda_package_channel_id",
        &["channel_id"],
    ),
    ("conda_package", "ix_conda_package_name", &["name"]),
    ("conda_package", "ix_conda_package_version", &["version"]),
    (
        "conda_package_build",
        "ix_conda_package_build_build",
        &["build"],
    ),
    ("job", "ix_job_state_run_after", &["state", "run_after"]),
    ("keyvaluestore", "ix_keyvaluestore_prefix", &["prefix"]),
];

fn assert_matches_expected(schema: &Schema, backend: DbBackend) {
    let expected = expected_schema(backend);
    let names: Vec<&str> = expected.iter().map(|(name, _)| *name).collect();
    let found: Vec<&str> = schema.keys().map(String::as_str).collect();
    assert_eq!(found, names, "tables on {backend:?}");
    for (name, columns) in &expected {
        let table = &schema[*name];
        let actual: Vec<Expected> = table
            .columns
            .iter()
            .map(|column| (leak(&column.name), column.family.clone(), column.nullable))
            .collect();
        assert_eq!(&actual, columns, "columns of {name} on {backend:?}");
        let primary_key = match *name {
            "alembic_version" => vec!["version_num"],
            MIGRATION_TABLE => vec!["version"],
            "build_conda_package_build" => vec!["build_id", "conda_package_build_id"],
            "solve_conda_package_build" => vec!["solve_id", "conda_package_build_id"],
            _ => vec!["id"],
        };
        assert_eq!(
            table.primary_key, primary_key,
            "primary key of {name} on {backend:?}"
        );
        let keys: BTreeSet<(String, String, String)> = table
            .foreign_keys
            .iter()
            .map(|key| {
                assert_eq!(key.referenced_columns, vec!["id".to_owned()]);
                (
                    key.columns.join(","),
                    key.referenced_table.clone(),
                    key.on_delete.clone(),
                )
            })
            .collect();
        let expected_keys: BTreeSet<(String, String, String)> = FOREIGN_KEYS
            .iter()
            .filter(|(table, ..)| table == name)
            .map(|(_, column, referenced, rule)| {
                (
                    (*column).to_owned(),
                    (*referenced).to_owned(),
                    (*rule).to_owned(),
                )
            })
            .collect();
        assert_eq!(keys, expected_keys, "foreign keys of {name} on {backend:?}");
        let unique: BTreeSet<Vec<String>> = UNIQUE
            .iter()
            .filter(|(table, _)| table == name)
            .map(|(_, columns)| columns.iter().map(|column| (*column).to_owned()).collect())
            .chain(match *name {
                "specification" => Some(vec!["sha256".to_owned()]),
                _ => None,
            })
            .collect();
        assert_eq!(
            table.unique, unique,
            "unique constraints of {name} on {backend:?}"
        );
        let indexes: Vec<(String, Vec<String>)> = INDEXES
            .iter()
            .filter(|(table, ..)| table == name)
            .map(|(_, index, columns)| {
                (
                    (*index).to_owned(),
                    columns.iter().map(|c| (*c).to_owned()).collect(),
                )
            })
            .collect();
        let actual_indexes: Vec<(String, Vec<String>)> =
            table.indexes.clone().into_iter().collect();
        assert_eq!(actual_indexes, indexes, "indexes of {name} on {backend:?}");
    }
}

fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

#[tokio::test]
async fn fresh_upgrade_gives_the_expected_schema() {
    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let connection = database.connect().await;
        let applied = migration::upgrade(&connection, None)
            .await
            .expect("upgrade");
        assert_eq!(applied.len(), migration::revisions().len());
        let schema = introspect::schema(&connection).await.expect("introspect");
        assert_matches_expected(&schema, connection.get_database_backend());
        // The Python conda-store can open what we create: alembic is at its head.
        let rows = table_rows(&connection, "alembic_version").await;
        assert_eq!(rows, vec![vec![Some("bf065abf375b".to_owned())]]);
    }
}

async fn execute(connection: &DatabaseConnection, sql: &str) {
    connection
        .execute_raw(Statement::from_string(
            connection.get_database_backend(),
            sql,
        ))
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// Rows that every revision leaves alone, inserted at revision 0001.
async fn insert_sample_rows(connection: &DatabaseConnection) {
    for sql in [
        "INSERT INTO namespace (id, name, metadata_) VALUES (1, 'default', '{}')",
        "INSERT INTO specification (id, name, spec, sha256, created_on, is_lockfile) \
         VALUES (1, 'python', '{\"name\": \"python\"}', 'abc', '2025-03-03 08:00:00', false)",
        "INSERT INTO environment (id, namespace_id, name) VALUES (1, 1, 'python')",
        "INSERT INTO build (id, specification_id, environment_id, status, size, scheduled_on, build_key_version) \
         VALUES (1, 1, 1, 'COMPLETED', 10, '2025-03-03 08:00:00', 2)",
        "INSERT INTO build (id, specification_id, environment_id, status, size, scheduled_on, build_key_version) \
         VALUES (2, 1, 1, 'QUEUED', 0, '2025-03-03 09:00:00', 2)",
        "INSERT INTO build (id, specification_id, environment_id, status, size, scheduled_on, build_key_version, deleted_on) \
         VALUES (3, 1, 1, 'QUEUED', 0, '2025-03-03 09:30:00', 2, '2025-03-04 00:00:00')",
        "INSERT INTO build (id, specification_id, environment_id, status, size, scheduled_on, build_key_version) \
         VALUES (4, 1, 1, 'BUILDING', 0, '2025-03-03 10:00:00', 2)",
        "UPDATE environment SET current_build_id = 1 WHERE id = 1",
        "INSERT INTO build_artifact (id, build_id, artifact_type, \"key\") VALUES (1, 1, 'LOGS', 'logs/x.log')",
        "INSERT INTO keyvaluestore (id, prefix, \"key\", value) VALUES (1, 'setting', 'conda_default_channels', '[\"a\"]')",
        "INSERT INTO keyvaluestore (id, prefix, \"key\", value) VALUES (2, 'setting', 'conda_default_channels', '[\"b\"]')",
    ] {
        let sql = if connection.get_database_backend() == DbBackend::MySql {
            sql.replace('"', "`")
                .replace("'{`name`: `python`}'", "'{\"name\": \"python\"}'")
                .replace("'[`a`]'", "'[\"a\"]'")
                .replace("'[`b`]'", "'[\"b\"]'")
        } else {
            sql.to_owned()
        };
        execute(connection, &sql).await;
    }
}

const UNTOUCHED: [&str; 5] = [
    "namespace",
    "specification",
    "environment",
    "build",
    "build_artifact",
];

async fn untouched_rows(connection: &DatabaseConnection) -> Vec<Vec<Vec<Option<String>>>> {
    let mut rows = Vec::new();
    for table in UNTOUCHED {
        rows.push(table_rows(connection, table).await);
    }
    rows
}

#[tokio::test]
async fn every_migration_goes_up_down_and_up_again_keeping_rows() {
    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let connection = database.connect().await;
        let revisions = migration::revisions();
        let mut before = introspect::schema(&connection).await.expect("introspect");
        let mut sample = None;
        for revision in &revisions {
            migration::upgrade(&connection, Some(revision.name))
                .await
                .expect("upgrade");
            if sample.is_none() {
                insert_sample_rows(&connection).await;
                sample = Some(untouched_rows(&connection).await);
            }
            let after = introspect::schema(&connection).await.expect("introspect");
            let reverted = migration::downgrade(&connection, &DowngradeTarget::Steps(1))
                .await
                .expect("downgrade");
            assert_eq!(reverted, vec![revision.name.to_owned()]);
            let mut down = introspect::schema(&connection).await.expect("introspect");
            if revision.name.starts_with("0001") {
                // The sample rows went with the tables; base is empty.
                assert!(
                    down.is_empty(),
                    "base is not empty on {backend:?}: {down:?}"
                );
                migration::upgrade(&connection, Some(revision.name))
                    .await
                    .expect("upgrade");
                insert_sample_rows(&connection).await;
            } else {
                strip_migration_table(&mut down);
                strip_migration_table(&mut before);
                assert_eq!(down, before, "{} down on {backend:?}", revision.name);
                assert_eq!(
                    Some(untouched_rows(&connection).await),
                    sample,
                    "rows after down"
                );
                migration::upgrade(&connection, Some(revision.name))
                    .await
                    .expect("upgrade again");
            }
            let again = introspect::schema(&connection).await.expect("introspect");
            assert_eq!(again, after, "{} up again on {backend:?}", revision.name);
            assert_eq!(
                Some(untouched_rows(&connection).await),
                sample,
                "rows after up again"
            );
            before = again;
        }
    }
}

fn strip_migration_table(schema: &mut Schema) {
    schema.remove(MIGRATION_TABLE);
}

#[tokio::test]
async fn job_queue_revision_enqueues_waiting_builds_and_gives_them_back() {
    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let connection = database.connect().await;
        migration::upgrade(&connection, Some("0001"))
            .await
            .expect("upgrade to 0001");
        insert_sample_rows(&connection).await;
        let builds = table_rows(&connection, "build").await;

        migration::upgrade(&connection, Some("0002"))
            .await
            .expect("upgrade to 0002");
        let jobs = job_summary(&connection).await;
        // Build 2 is QUEUED, 4 BUILDING; 1 is COMPLETED and 3 deleted.
        assert_eq!(
            jobs,
            vec![
                (
                    "build".to_owned(),
                    "build:2".to_owned(),
                    "QUEUED".to_owned()
                ),
                (
                    "build".to_owned(),
                    "build:4".to_owned(),
                    "QUEUED".to_owned()
                ),
            ],
            "on {backend:?}"
        );

        migration::downgrade(&connection, &DowngradeTarget::parse("0001"))
            .await
            .expect("down");
        let tables = introspect::table_names(&connection).await.expect("tables");
        assert!(!tables.contains(&"job".to_owned()));
        assert_eq!(table_rows(&connection, "build").await, builds);

        migration::upgrade(&connection, Some("0002"))
            .await
            .expect("up again");
        assert_eq!(job_summary(&connection).await, jobs);
    }
}

async fn job_summary(connection: &DatabaseConnection) -> Vec<(String, String, String)> {
    let rows = connection
        .query_all_raw(Statement::from_string(
            connection.get_database_backend(),
            "SELECT kind, unique_key, state, payload FROM job ORDER BY unique_key",
        ))
        .await
        .expect("jobs");
    rows.iter()
        .map(|row| {
            let payload: serde_json::Value = row
                .try_get_by_index::<serde_json::Value>(3)
                .or_else(|_| {
                    row.try_get_by_index::<String>(3)
                        .map(|text| serde_json::from_str(&text).expect("json"))
                })
                .expect("payload");
            let key: String = row.try_get_by_index(1).expect("key");
            assert_eq!(format!("build:{}", payload["build_id"]), key);
            (
                row.try_get_by_index(0).expect("kind"),
                key,
                row.try_get_by_index(2).expect("state"),
            )
        })
        .collect()
}

#[tokio::test]
async fn keyvaluestore_revision_keeps_the_newest_duplicate_and_then_refuses_duplicates() {
    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let connection = database.connect().await;
        migration::upgrade(&connection, Some("0002"))
            .await
            .expect("upgrade to 0002");
        insert_sample_rows(&connection).await;
        migration::upgrade(&connection, None)
            .await
            .expect("upgrade");
        let rows = table_rows(&connection, "keyvaluestore").await;
        assert_eq!(rows.len(), 1, "on {backend:?}");
        assert_eq!(rows[0][0].as_deref(), Some("2"));
        let duplicate = connection
            .execute_unprepared(&format!(
                "INSERT INTO keyvaluestore (prefix, {key}, value) VALUES ('setting', 'conda_default_channels', '[]')",
                key = if backend == Backend::MySql { "`key`" } else { "\"key\"" }
            ))
            .await;
        assert!(duplicate.is_err(), "duplicate accepted on {backend:?}");
    }
}

/// The entities (what the code reads and writes) and the migrations (what the database
/// has) must describe the same tables, on every backend. SQLite takes the circular
/// foreign key inline; the other backends get the tables first and the keys after.
#[tokio::test]
async fn entities_agree_with_the_migrated_schema() {
    for backend in backends() {
        let migrated_database = TestDatabase::create(backend).await;
        let migrated = migrated_database.connect().await;
        migration::upgrade(&migrated, None).await.expect("upgrade");
        let mut expected = introspect::schema(&migrated).await.expect("introspect");
        expected.remove("alembic_version");
        expected.remove(MIGRATION_TABLE);

        let entity_database = TestDatabase::create(backend).await;
        let connection = entity_database.connect().await;
        create_tables_from_entities(&connection).await;
        let actual = introspect::schema(&connection).await.expect("introspect");
        assert_eq!(
            actual.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "entity tables on {backend:?}: update conda_store_db::entity and entity::TABLES"
        );
        assert_eq!(conda_store_db::entity::TABLES.len(), expected.len());
        for (name, table) in &expected {
            assert_eq!(
                comparable(&actual[name]),
                comparable(table),
                "entity `{name}` differs from the migrations on {backend:?}"
            );
        }
    }
}

async fn create_tables_from_entities(connection: &DatabaseConnection) {
    use conda_store_db::entity::*;
    use sea_orm::Schema as EntitySchema;
    use sea_orm::sea_query::Table;
    let backend = connection.get_database_backend();
    let builder = EntitySchema::new(backend);
    let mut tables = Vec::new();
    let mut unique_indexes = Vec::new();
    macro_rules! collect {
        ($($entity:ident),+) => {$(
            tables.push(builder.create_table_from_entity($entity::Entity));
            unique_indexes.extend(
                builder
                    .create_index_from_entity($entity::Entity)
                    .into_iter()
                    .filter(|index| index.is_unique_key()),
            );
        )+};
    }
    collect!(
        build,
        build_artifact,
        build_conda_package_build,
        conda_channel,
        conda_package,
        conda_package_build,
        conda_store_configuration,
        environment,
        job,
        keyvaluestore,
        namespace,
        namespace_role_mapping,
        namespace_role_mapping_v2,
        solve,
        solve_conda_package_build,
        specification,
        worker
    );
    let mut foreign_keys = Vec::new();
    for table in &tables {
        if backend == DbBackend::Sqlite {
            connection.execute(table).await.expect("create table");
            continue;
        }
        let mut without_keys = Table::create();
        without_keys.table(table.get_table_name().expect("table name").clone());
        for column in table.get_columns() {
            without_keys.col(column.clone());
        }
        for index in table.get_indexes() {
            without_keys.index(&mut index.clone());
        }
        connection
            .execute(&without_keys)
            .await
            .expect("create table");
        foreign_keys.extend(table.get_foreign_key_create_stmts().iter().cloned());
    }
    for key in foreign_keys {
        connection.execute(&key).await.expect("add foreign key");
    }
    for index in unique_indexes {
        connection
            .execute(&index)
            .await
            .expect("create unique index");
    }
}

/// What the drift check compares: non-unique indexes are left out (entities cannot
/// express composite ones, and they change no behaviour the code relies on).
fn comparable(table: &TableSchema) -> TableSchema {
    TableSchema {
        indexes: Default::default(),
        unique: table
            .unique
            .iter()
            .map(|columns| {
                let mut sorted = columns.clone();
                sorted.sort();
                sorted
            })
            .collect(),
        ..table.clone()
    }
}
