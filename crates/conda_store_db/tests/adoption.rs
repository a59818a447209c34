//! Adopting databases made by the Python conda-store 2025.2.2 (../shared/data/peer-db):
//! the SQLite file on SQLite, the pg_dump on PostgreSQL. Upgrading keeps every row of
//! every table unchanged; downgrading to the adoption point gives back the Python
//! schema, with every row, for the Python conda-store to open again.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_db::introspect::{self, Schema};
use conda_store_db::migration::{self, DatabaseState, DowngradeTarget, MIGRATION_TABLE};
use conda_store_db::{DatabaseConnection, DatabaseError, DatabaseUrl, PoolSize, connect};
use conda_store_test_support::{
    Backend, TestDatabase, backends, restore_postgres_dump, shared_data, table_rows,
};
use sea_orm::ConnectionTrait;
use std::collections::BTreeMap;

/// Row counts of the peer databases (their README).
const PEER_COUNTS: [(&str, usize); 17] = [
    ("alembic_version", 1),
    ("build", 28),
    ("build_artifact", 75),
    ("build_conda_package_build", 487),
    ("conda_channel", 3),
    ("conda_package", 259),
    ("conda_package_build", 319),
    ("conda_store_configuration", 1),
    ("environment", 12),
    ("keyvaluestore", 6),
    ("namespace", 7),
    ("namespace_role_mapping", 5),
    ("namespace_role_mapping_v2", 4),
    ("solve", 3),
    ("solve_conda_package_build", 65),
    ("specification", 22),
    ("worker", 1),
];

type Rows = BTreeMap<String, Vec<Vec<Option<String>>>>;

async fn python_rows(connection: &DatabaseConnection) -> Rows {
    let mut rows = Rows::new();
    for (table, _) in PEER_COUNTS {
        rows.insert(table.to_owned(), table_rows(connection, table).await);
    }
    rows
}

fn without_ours(mut schema: Schema) -> Schema {
    schema.remove(MIGRATION_TABLE);
    schema
}

/// Upgrade, check, downgrade to the adoption point, check, upgrade again.
async fn adopt_and_give_back(connection: &DatabaseConnection, backend: Backend) {
    let original_schema = introspect::schema(connection).await.expect("introspect");
    let original = python_rows(connection).await;
    for (table, count) in PEER_COUNTS {
        assert_eq!(
            original[table].len(),
            count,
            "{table} in the peer database on {backend:?}"
        );
    }
    assert_eq!(
        migration::state(connection).await.expect("state"),
        DatabaseState::Python
    );

    let applied = migration::upgrade(connection, None).await.expect("upgrade");
    assert_eq!(
        applied,
        vec![
            "0002_job_queue",
            "0003_keyvaluestore_unique",
            "0004_exact_names_on_mysql"
        ]
    );
    assert_eq!(
        python_rows(connection).await,
        original,
        "rows after upgrade on {backend:?}"
    );
    // Builds 28 (BUILDING), 29 and 30 (QUEUED) lost their Celery messages: now jobs.
    let jobs = table_rows(connection, "job").await;
    let mut keys: Vec<String> = jobs.iter().filter_map(|row| row[6].clone()).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec!["build:28", "build:29", "build:30"],
        "jobs on {backend:?}"
    );

    let reverted = migration::downgrade(connection, &DowngradeTarget::parse("bf065abf375b"))
        .await
        .expect("downgrade to the adoption point");
    assert_eq!(
        reverted,
        vec![
            "0004_exact_names_on_mysql",
            "0003_keyvaluestore_unique",
            "0002_job_queue"
        ]
    );
    assert_eq!(
        python_rows(connection).await,
        original,
        "rows after downgrade on {backend:?}"
    );
    let given_back = introspect::schema(connection).await.expect("introspect");
    assert_eq!(
        without_ours(given_back),
        original_schema,
        "schema given back on {backend:?}"
    );

    migration::upgrade(connection, None)
        .await
        .expect("upgrade again");
    assert_eq!(python_rows(connection).await, original);
}

#[tokio::test]
async fn python_sqlite_database_is_adopted_and_given_back() {
    let directory = tempfile::tempdir().expect("temp dir");
    let file = directory.path().join("conda-store.sqlite");
    std::fs::copy(
        shared_data().join("peer-db/conda-store-2025.2.2.sqlite"),
        &file,
    )
    .expect("copy the peer SQLite database");
    let url = DatabaseUrl::parse(&format!("sqlite:///{}", file.display())).expect("url");
    let connection = connect(&url, PoolSize::Single).await.expect("connect");
    adopt_and_give_back(&connection, Backend::Sqlite).await;
}

#[tokio::test]
async fn python_postgres_dump_is_adopted_and_given_back() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let database = TestDatabase::create(Backend::Postgres).await;
    restore_postgres_dump(
        &database.url,
        &shared_data().join("peer-db/conda-store-2025.2.2.postgres.sql"),
    );
    let connection = database.connect().await;
    adopt_and_give_back(&connection, Backend::Postgres).await;
}

#[tokio::test]
async fn older_and_unknown_alembic_revisions_are_refused_untouched() {
    for backend in backends() {
        let database = TestDatabase::create(backend).await;
        let connection = database.connect().await;
        migration::upgrade(&connection, Some("0001"))
            .await
            .expect("upgrade");
        // Make it look like an unadopted Python database at another revision.
        connection
            .execute_unprepared(&format!("DROP TABLE {MIGRATION_TABLE}"))
            .await
            .expect("drop");
        for (revision, expected) in [
            (
                "d78e9889566a",
                "upgrade it to bf065abf375b with the Python conda-store",
            ),
            ("ffffffffffff", "not a Python conda-store 2025.2.2 revision"),
        ] {
            connection
                .execute_unprepared(&format!(
                    "UPDATE alembic_version SET version_num = '{revision}'"
                ))
                .await
                .expect("update");
            let before = introspect::schema(&connection).await.expect("introspect");
            let error = migration::upgrade(&connection, None)
                .await
                .expect_err("refused");
            assert!(
                matches!(error, DatabaseError::UnsupportedAlembicRevision(_)),
                "{error}"
            );
            assert!(error.to_string().contains(expected), "{error}");
            assert_eq!(
                introspect::schema(&connection).await.expect("introspect"),
                before
            );
        }
    }
}
