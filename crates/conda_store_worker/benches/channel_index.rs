//! Channel index throughput: indexes a synthetic `linux-64/repodata.json` of many
//! records (made from the pytorch channel's records with varied versions and hashes)
//! into a fresh SQLite file and, when `CONDA_STORE_TEST_POSTGRES_URL` is set, into a
//! fresh PostgreSQL database (and MariaDB with `CONDA_STORE_TEST_MYSQL_URL`). Prints
//! records per second for the first index, a re-index of unchanged repodata, and an
//! index after 1% new records. Each figure is the whole job: fetch (a `file://`
//! channel), fingerprint, parse and store.
//!
//! `cargo bench -p conda_store_worker --bench channel_index [-- RECORDS]`
//! (200,000 records by default).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_build::Engine;
use conda_store_core::settings::Settings;
use conda_store_db::{DatabaseUrl, PoolSize, connect, migration};
use conda_store_service::Service;
use conda_store_storage::LocalStorage;
use conda_store_test_support::{Backend, TestDatabase, shared_data};
use conda_store_worker::{IndexResult, Worker, WorkerOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let records: usize = std::env::args()
        .skip(1)
        .find_map(|argument| argument.parse().ok())
        .unwrap_or(200_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut backends = vec![Backend::Sqlite];
    if std::env::var_os("CONDA_STORE_TEST_POSTGRES_URL").is_some() {
        backends.push(Backend::Postgres);
    }
    if std::env::var_os("CONDA_STORE_TEST_MYSQL_URL").is_some() {
        backends.push(Backend::MySql);
    }
    for backend in backends {
        runtime.block_on(bench(backend, records));
    }
}

async fn bench(backend: Backend, records: usize) {
    let directory = tempfile::tempdir().expect("temp dir");
    let channel = directory.path().join("channel");
    let templates = pytorch_records();
    write_repodata(&channel, &templates, records);
    let url = format!("file://{}", channel.display());
    let database = TestDatabase::create(backend).await;
    let worker = worker(&database, directory.path(), &url).await;

    let first = index(&worker, records).await;
    let unchanged = index(&worker, records).await;
    let grown = records + records / 100;
    write_repodata(&channel, &templates, grown);
    let after = index(&worker, grown).await;
    println!(
        "{backend:?}: {records} records: first index {first:.0} records/s, \
         unchanged {unchanged:.0} records/s, after 1% new records {after:.0} records/s"
    );
}

/// Runs the index of every configured channel subdir once; records per second.
async fn index(worker: &Worker, records: usize) -> f64 {
    let started = Instant::now();
    let report = worker.update_conda_channels().await;
    let seconds = started.elapsed().as_secs_f64();
    for indexed in &report {
        match &indexed.result {
            Ok(IndexResult::Unchanged) => eprintln!("  {:.2} s: unchanged", seconds),
            Ok(IndexResult::Indexed(outcome)) => eprintln!(
                "  {seconds:.2} s: {} packages and {} builds added",
                outcome.packages_added, outcome.builds_added
            ),
            Err(error) => panic!("{}/{}: {error}", indexed.channel, indexed.subdir),
        }
    }
    records as f64 / seconds
}

async fn worker(database: &TestDatabase, root: &Path, channel: &str) -> Worker {
    migration::upgrade(&database.connect().await, None)
        .await
        .expect("upgrade");
    let pool = connect(
        &DatabaseUrl::parse(&database.url).expect("url"),
        PoolSize::Up(4),
    )
    .await
    .expect("pool");
    let settings = Settings {
        conda_indexed_channels: vec![channel.to_owned()],
        conda_platforms: vec!["linux-64".to_owned()],
        ..Settings::default()
    };
    let service = Service::new(
        pool,
        Arc::new(settings),
        Arc::new(LocalStorage::new(root.join("storage"))),
        root.join("store"),
    );
    Worker::new(
        service,
        Arc::new(Engine::new(&root.join("cache"))),
        WorkerOptions::default(),
    )
}

/// The records of the pytorch channel's `linux-64/repodata.json`.
fn pytorch_records() -> Vec<serde_json::Value> {
    let file = shared_data().join("channels/pytorch/linux-64/repodata.json");
    let repodata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("read pytorch repodata"))
            .expect("json");
    ["packages", "packages.conda"]
        .iter()
        .filter_map(|key| repodata[key].as_object())
        .flat_map(|records| records.values().cloned())
        .collect()
}

/// Writes `{channel}/linux-64/repodata.json` with `count` records: the templates over
/// and over, each round with its own version suffix, every record with its own hashes.
/// The first records are the same for any `count`, so a larger count adds records.
fn write_repodata(channel: &Path, templates: &[serde_json::Value], count: usize) {
    let mut packages = serde_json::Map::new();
    for index in 0..count {
        let mut record = templates[index % templates.len()].clone();
        let round = index / templates.len();
        let version = format!("{}.{round}", record["version"].as_str().unwrap());
        record["version"] = version.clone().into();
        record["md5"] = format!("{index:032x}").into();
        record["sha256"] = format!("{index:064x}").into();
        let file_name = format!(
            "{}-{version}-{}.tar.bz2",
            record["name"].as_str().unwrap(),
            record["build"].as_str().unwrap()
        );
        packages.insert(file_name, record);
    }
    let repodata = serde_json::json!({
        "info": { "subdir": "linux-64" },
        "packages": packages,
        "packages.conda": {},
        "repodata_version": 1,
    });
    let subdir = channel.join("linux-64");
    std::fs::create_dir_all(&subdir).expect("subdir");
    std::fs::write(
        subdir.join("repodata.json"),
        serde_json::to_vec(&repodata).expect("json"),
    )
    .expect("write repodata");
}
