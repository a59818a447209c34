//! The channel index on every backend: a local channel's repodata lands in the package
//! tables exactly; unchanged repodata costs no database work (and, over HTTP, no
//! download); new packages add only their rows; an unreachable channel fails fast
//! without stopping the others; the real pytorch repodata; two indexers at once.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_build::Engine;
use conda_store_core::settings::Settings;
use conda_store_db::entity::{
    conda_channel, conda_package, conda_package_build, job, keyvaluestore,
};
use conda_store_db::{DatabaseUrl, PoolSize, connect, migration};
use conda_store_service::{CHANNEL_INDEX_PREFIX, Service};
use conda_store_storage::LocalStorage;
use conda_store_test_support::channel::{TestChannel, TestPackage, standard_packages};
use conda_store_test_support::http::SlowChannelServer;
use conda_store_test_support::{TestDatabase, backends, shared_data, table_rows};
use conda_store_worker::{IndexResult, SubdirIndexed, Worker, WorkerOptions};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The tables the index writes.
const INDEX_TABLES: [&str; 4] = [
    "conda_channel",
    "conda_package",
    "conda_package_build",
    "keyvaluestore",
];

struct Setup {
    database: TestDatabase,
    service: Service,
    worker: Worker,
}

/// A service and worker on `database` indexing `channels` for `platforms`, with an
/// engine cache under `cache`.
async fn setup(
    database: TestDatabase,
    cache: &Path,
    channels: &[&str],
    platforms: &[&str],
) -> Setup {
    migration::upgrade(&database.connect().await, None)
        .await
        .expect("upgrade");
    let (service, worker) = worker_on(&database, cache, channels, platforms).await;
    Setup {
        database,
        service,
        worker,
    }
}

/// Another service and worker on an existing (migrated) database.
async fn worker_on(
    database: &TestDatabase,
    cache: &Path,
    channels: &[&str],
    platforms: &[&str],
) -> (Service, Worker) {
    let pool = connect(
        &DatabaseUrl::parse(&database.url).expect("url"),
        PoolSize::Up(4),
    )
    .await
    .expect("pool");
    let settings = Settings {
        conda_indexed_channels: channels.iter().map(|&channel| channel.to_owned()).collect(),
        conda_platforms: platforms
            .iter()
            .map(|&platform| platform.to_owned())
            .collect(),
        ..Settings::default()
    };
    let service = Service::new(
        pool,
        Arc::new(settings),
        Arc::new(LocalStorage::new(cache.join("storage"))),
        cache.join("store"),
    );
    let engine = Arc::new(Engine::new(cache));
    let worker = Worker::new(service.clone(), engine, WorkerOptions::default());
    (service, worker)
}

/// The outcome of every subdir, which must all have succeeded.
fn outcomes(report: &[SubdirIndexed]) -> Vec<IndexResult> {
    report
        .iter()
        .map(|indexed| {
            indexed
                .result
                .clone()
                .unwrap_or_else(|error| panic!("{}/{}: {error}", indexed.channel, indexed.subdir))
        })
        .collect()
}

fn builds_added(result: &IndexResult) -> usize {
    match result {
        IndexResult::Indexed(outcome) => outcome.builds_added,
        IndexResult::Unchanged => 0,
    }
}

/// Every record of a `repodata.json` (`packages` and `packages.conda`), by sha256.
fn repodata_records(file: &Path) -> HashMap<String, serde_json::Value> {
    let repodata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(file).expect("read repodata")).expect("json");
    ["packages", "packages.conda"]
        .iter()
        .filter_map(|key| repodata[key].as_object())
        .flat_map(|records| records.values())
        .map(|record| {
            (
                record["sha256"].as_str().unwrap().to_owned(),
                record.clone(),
            )
        })
        .collect()
}

/// The channel's package build rows, by sha256.
async fn build_rows(
    service: &Service,
    channel: &str,
) -> HashMap<String, conda_package_build::Model> {
    let channel = conda_channel::Entity::find()
        .filter(conda_channel::Column::Name.eq(channel))
        .one(service.database())
        .await
        .expect("channel")
        .expect("the channel row exists");
    conda_package_build::Entity::find()
        .filter(conda_package_build::Column::ChannelId.eq(channel.id))
        .all(service.database())
        .await
        .expect("builds")
        .into_iter()
        .map(|row| (row.sha256.clone(), row))
        .collect()
}

/// Every row of the index tables, as the database renders them.
async fn snapshot(service: &Service) -> Vec<Vec<Vec<Option<String>>>> {
    let mut tables = Vec::new();
    for table in INDEX_TABLES {
        tables.push(table_rows(service.database(), table).await);
    }
    tables
}

/// Checks that the rows of `channel` are exactly the records of its repodata files.
async fn assert_rows_match(service: &Service, channel: &str, repodata_files: &[&Path]) {
    let mut records = HashMap::new();
    for file in repodata_files {
        records.extend(repodata_records(file));
    }
    let rows = build_rows(service, channel).await;
    assert_eq!(rows.len(), records.len(), "one row per record");
    let packages: HashMap<i32, conda_package::Model> = conda_package::Entity::find()
        .all(service.database())
        .await
        .expect("packages")
        .into_iter()
        .map(|package| (package.id, package))
        .collect();
    for (sha256, record) in &records {
        let row = rows
            .get(sha256)
            .unwrap_or_else(|| panic!("no row for {record}"));
        assert_eq!(row.md5, record["md5"].as_str().unwrap());
        assert_eq!(row.size, record["size"].as_i64().unwrap());
        assert_eq!(row.subdir.as_deref(), record["subdir"].as_str());
        assert_eq!(row.timestamp, record["timestamp"].as_i64());
        assert_eq!(row.build, record["build"].as_str().unwrap());
        assert_eq!(
            row.build_number,
            record["build_number"].as_i64().unwrap() as i32
        );
        assert_eq!(row.depends, record["depends"]);
        let package = &packages[&row.package_id.unwrap()];
        assert_eq!(package.name, record["name"].as_str().unwrap());
        assert_eq!(package.version, record["version"].as_str().unwrap());
        assert_eq!(package.channel_id, row.channel_id);
    }
}

#[tokio::test]
async fn a_local_channel_is_indexed_exactly_then_only_changes_are_written() {
    for backend in backends() {
        let directory = tempfile::tempdir().expect("temp dir");
        let channel_directory = directory.path().join("channel");
        let channel = TestChannel::create(&channel_directory, &standard_packages()).await;
        let url = channel.url();
        let setup = setup(
            TestDatabase::create(backend).await,
            &directory.path().join("cache"),
            &[url.as_str()],
            &["linux-64", "noarch"],
        )
        .await;
        let linux = channel_directory.join("linux-64/repodata.json");
        let noarch = channel_directory.join("noarch/repodata.json");

        // First run: every record, exactly.
        let first = outcomes(&setup.worker.update_conda_channels().await);
        assert_eq!(
            first.iter().map(builds_added).sum::<usize>(),
            5,
            "{first:?}"
        );
        assert_rows_match(&setup.service, &url, &[&linux, &noarch]).await;
        let hello = build_rows(&setup.service, &url)
            .await
            .into_values()
            .find(|row| row.depends.to_string().contains("hello-data"))
            .expect("hello's row");
        assert_eq!(
            hello.depends,
            serde_json::json!(["libhello >=1", "hello-data >=0.1"])
        );
        assert_eq!(
            conda_package::Entity::find()
                .count(setup.service.database())
                .await
                .expect("count"),
            5
        );
        let channel_row = conda_channel::Entity::find()
            .filter(conda_channel::Column::Name.eq(url.as_str()))
            .one(setup.service.database())
            .await
            .expect("channel")
            .expect("row");
        assert!(channel_row.last_update.is_some());
        let fingerprints = keyvaluestore::Entity::find()
            .filter(keyvaluestore::Column::Prefix.eq(CHANNEL_INDEX_PREFIX))
            .all(setup.service.database())
            .await
            .expect("fingerprints");
        let mut keys: Vec<_> = fingerprints.iter().map(|row| row.key.clone()).collect();
        keys.sort();
        assert_eq!(keys, [format!("{url}/linux-64"), format!("{url}/noarch")]);

        // Second run, same repodata: nothing written (same rows, same last_update, same
        // fingerprint rows with their `indexed_on`).
        let before = snapshot(&setup.service).await;
        let second = outcomes(&setup.worker.update_conda_channels().await);
        assert_eq!(second, [IndexResult::Unchanged, IndexResult::Unchanged]);
        assert_eq!(snapshot(&setup.service).await, before);

        // A new package: only its rows are added, the others keep their ids.
        let old_ids: HashMap<_, _> = build_rows(&setup.service, &url)
            .await
            .into_iter()
            .map(|(sha256, row)| (sha256, row.id))
            .collect();
        TestChannel::create(&channel_directory, &[TestPackage::new("extra", "3.0.0")]).await;
        let third = outcomes(&setup.worker.update_conda_channels().await);
        assert_eq!(builds_added(&third[0]), 1, "{third:?}");
        assert_eq!(
            third.iter().map(builds_added).sum::<usize>(),
            1,
            "{third:?}"
        );
        assert_rows_match(&setup.service, &url, &[&linux, &noarch]).await;
        let rows = build_rows(&setup.service, &url).await;
        assert_eq!(rows.len(), 6);
        for (sha256, id) in old_ids {
            assert_eq!(rows[&sha256].id, id, "an existing row was rewritten");
        }
    }
}

#[tokio::test]
async fn an_interrupted_index_is_completed_by_the_next_run() {
    for backend in backends() {
        let directory = tempfile::tempdir().expect("temp dir");
        let channel =
            TestChannel::create(&directory.path().join("channel"), &standard_packages()).await;
        let url = channel.url();
        let setup = setup(
            TestDatabase::create(backend).await,
            &directory.path().join("cache"),
            &[url.as_str()],
            &["linux-64"],
        )
        .await;
        outcomes(&setup.worker.update_conda_channels().await);
        // As if the worker died after storing some rows but before recording the
        // fingerprint.
        let database = setup.service.database();
        keyvaluestore::Entity::delete_many()
            .filter(keyvaluestore::Column::Prefix.eq(CHANNEL_INDEX_PREFIX))
            .exec(database)
            .await
            .expect("forget the fingerprint");
        let rows = build_rows(&setup.service, &url).await;
        let lost = rows.values().next().expect("a row").id;
        conda_package_build::Entity::delete_by_id(lost)
            .exec(database)
            .await
            .expect("lose a row");

        let report = outcomes(&setup.worker.update_conda_channels().await);
        assert_eq!(
            report.iter().map(builds_added).sum::<usize>(),
            1,
            "{report:?}"
        );
        assert_eq!(build_rows(&setup.service, &url).await.len(), rows.len());
        let report = outcomes(&setup.worker.update_conda_channels().await);
        assert_eq!(report, [IndexResult::Unchanged]);
    }
}

#[tokio::test]
async fn an_unreachable_channel_fails_fast_and_the_others_are_still_indexed() {
    for backend in backends() {
        let directory = tempfile::tempdir().expect("temp dir");
        let channel =
            TestChannel::create(&directory.path().join("channel"), &standard_packages()).await;
        let url = channel.url();
        let setup = setup(
            TestDatabase::create(backend).await,
            &directory.path().join("cache"),
            &["http://127.0.0.1:1", url.as_str()],
            &["linux-64"],
        )
        .await;
        let started = Instant::now();
        let report = setup.worker.update_conda_channels().await;
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "took {:?}",
            started.elapsed()
        );
        let error = report[0].result.clone().expect_err("unreachable");
        assert!(
            error.contains("http://127.0.0.1:1/linux-64/repodata.json"),
            "{error}"
        );
        assert!(
            matches!(report[1].result, Ok(IndexResult::Indexed(_))),
            "{report:?}"
        );
        assert_eq!(build_rows(&setup.service, &url).await.len(), 4);
    }
}

#[tokio::test]
async fn the_periodic_job_indexes_and_waits_fifteen_minutes() {
    for backend in backends() {
        let directory = tempfile::tempdir().expect("temp dir");
        let channel =
            TestChannel::create(&directory.path().join("channel"), &standard_packages()).await;
        let url = channel.url();
        let setup = setup(
            TestDatabase::create(backend).await,
            &directory.path().join("cache"),
            &["http://127.0.0.1:1", url.as_str()],
            &["linux-64", "noarch"],
        )
        .await;
        setup
            .worker
            .schedule_periodic_jobs()
            .await
            .expect("schedule");
        // Storage metrics, then the channel index.
        assert_eq!(setup.worker.run_until_idle().await.expect("worker"), 2);
        assert_eq!(build_rows(&setup.service, &url).await.len(), 5);
        let index_job = job::Entity::find()
            .filter(job::Column::Kind.eq("update_conda_channels"))
            .one(setup.service.database())
            .await
            .expect("job")
            .expect("the job is armed again");
        assert_eq!(index_job.state, "QUEUED");
        let wait = index_job.run_after - chrono::Utc::now().naive_utc();
        assert!(
            wait > chrono::Duration::minutes(14) && wait <= chrono::Duration::minutes(15),
            "{wait:?}"
        );

        // No indexed channels: the job is not scheduled.
        let (_, idle) = worker_on(&setup.database, &directory.path().join("cache"), &[], &[]).await;
        job::Entity::delete_many()
            .exec(setup.service.database())
            .await
            .expect("clear jobs");
        idle.schedule_periodic_jobs().await.expect("schedule");
        let kinds: Vec<String> = job::Entity::find()
            .all(setup.service.database())
            .await
            .expect("jobs")
            .into_iter()
            .map(|job| job.kind)
            .collect();
        assert_eq!(kinds, ["update_storage_metrics"]);
        assert!(idle.update_conda_channels().await.is_empty());
    }
}

#[tokio::test]
async fn over_http_unchanged_repodata_is_not_downloaded_again() {
    for backend in backends() {
        let directory = tempfile::tempdir().expect("temp dir");
        let channel_directory = directory.path().join("channel");
        TestChannel::create(&channel_directory, &standard_packages()).await;
        let server = SlowChannelServer::start(channel_directory.clone(), Duration::ZERO).await;
        let setup = setup(
            TestDatabase::create(backend).await,
            &directory.path().join("cache"),
            &[server.url.as_str()],
            &["linux-64"],
        )
        .await;
        let path = "/linux-64/repodata.json";

        let first = outcomes(&setup.worker.update_conda_channels().await);
        assert_eq!(builds_added(&first[0]), 4);
        assert_eq!(server.downloads(path), 1);

        let second = outcomes(&setup.worker.update_conda_channels().await);
        assert_eq!(second, [IndexResult::Unchanged]);
        assert_eq!(
            server.downloads(path),
            1,
            "a conditional request, answered 304"
        );
        assert_eq!(server.not_modified(path), 1);

        TestChannel::create(&channel_directory, &[TestPackage::new("extra", "3.0.0")]).await;
        let third = outcomes(&setup.worker.update_conda_channels().await);
        assert_eq!(builds_added(&third[0]), 1, "{third:?}");
        assert_eq!(server.downloads(path), 2);
        assert_rows_match(
            &setup.service,
            &server.url,
            &[&channel_directory.join("linux-64/repodata.json")],
        )
        .await;
    }
}

#[tokio::test]
async fn the_pytorch_channel_is_indexed_in_full_even_by_two_workers_at_once() {
    let pytorch = shared_data().join("channels/pytorch");
    let url = format!(
        "file://{}",
        pytorch.canonicalize().expect("pytorch").display()
    );
    let repodata = pytorch.join("linux-64/repodata.json");
    for backend in backends() {
        let directory = tempfile::tempdir().expect("temp dir");
        let setup = setup(
            TestDatabase::create(backend).await,
            &directory.path().join("cache"),
            &[url.as_str()],
            &["linux-64"],
        )
        .await;
        // A second worker process: its own pool and cache, the same database.
        let (_, other) = worker_on(
            &setup.database,
            &directory.path().join("other-cache"),
            &[url.as_str()],
            &["linux-64"],
        )
        .await;
        let (mine, theirs) = tokio::join!(
            setup.worker.update_conda_channels(),
            other.update_conda_channels()
        );
        outcomes(&mine);
        outcomes(&theirs);
        assert_eq!(build_rows(&setup.service, &url).await.len(), 2181);
        assert_eq!(
            conda_package::Entity::find()
                .count(setup.service.database())
                .await
                .expect("count"),
            403
        );
        assert_rows_match(&setup.service, &url, &[&repodata]).await;
        let again = outcomes(&setup.worker.update_conda_channels().await);
        assert_eq!(again, [IndexResult::Unchanged]);
    }
}
