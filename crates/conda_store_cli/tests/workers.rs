//! Worker processes as deployed: two `conda-store-server worker` processes share one
//! database queue without running any build twice, a worker killed with SIGKILL in
//! the middle of a build does not leave it BUILDING, and a worker stopped with SIGTERM
//! hands its build back to the queue for the next worker to start at once.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_core::lockfile_specification::Specification;
use conda_store_core::settings::Settings;
use conda_store_core::specification::CondaSpecification;
use conda_store_db::entity::{build, build_artifact, job};
use conda_store_db::{DatabaseUrl, PoolSize, connect, migration};
use conda_store_service::Service;
use conda_store_storage::LocalStorage;
use conda_store_test_support::channel::{TestChannel, standard_packages};
use conda_store_test_support::http::SlowChannelServer;
use conda_store_test_support::{TestDatabase, backends};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BINARY: &str = env!("CARGO_BIN_EXE_conda-store-server");

struct Deployment {
    database: TestDatabase,
    data: PathBuf,
    service: Service,
    channel: TestChannel,
    _directory: tempfile::TempDir,
}

async fn deployment(database: TestDatabase) -> Deployment {
    let directory = tempfile::tempdir().expect("temp dir");
    let data = directory.path().join("data");
    let channel =
        TestChannel::create(&directory.path().join("channel"), &standard_packages()).await;
    migration::upgrade(&database.connect().await, None)
        .await
        .expect("upgrade");
    let pool = connect(
        &DatabaseUrl::parse(&database.url).expect("url"),
        PoolSize::Up(4),
    )
    .await
    .expect("pool");
    // The same storage and store directory the worker processes derive from --data-directory.
    let service = Service::new(
        pool,
        Arc::new(Settings::default()),
        Arc::new(LocalStorage::new(data.join("storage"))),
        data.join("state"),
    );
    Deployment {
        database,
        data,
        service,
        channel,
        _directory: directory,
    }
}

fn start_worker(deployment: &Deployment, concurrency: usize) -> Child {
    Command::new(BINARY)
        .env_remove("CONDA_STORE_DATABASE_URL")
        // No channel index: the test must not reach the network.
        .env("CONDA_STORE_CONDA_INDEXED_CHANNELS", "[]")
        // Tests must not depend on how much disk the machine has free.
        .env("CONDA_STORE_STORAGE_THRESHOLD", "0")
        .args(["--database-url", &deployment.database.url])
        .arg("--data-directory")
        .arg(&deployment.data)
        .args([
            "--log-level",
            "WARN",
            "worker",
            "--concurrency",
            &concurrency.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a worker process")
}

fn specification(channel: &str, name: &str) -> Specification {
    Specification::Conda(
        CondaSpecification::from_yaml(&format!(
            "name: {name}\nchannels:\n  - {channel}\ndependencies:\n  - hello\n"
        ))
        .expect("specification"),
    )
}

async fn statuses(service: &Service, ids: &[i32]) -> Vec<String> {
    let mut statuses = Vec::new();
    for id in ids {
        let row = build::Entity::find_by_id(*id)
            .one(service.database())
            .await
            .expect("build");
        statuses.push(row.and_then(|row| row.status).unwrap_or_default());
    }
    statuses
}

/// The storage key of a build's log, once its LOGS row exists.
async fn log_key(service: &Service, build_id: i32) -> Option<String> {
    build_artifact::Entity::find()
        .filter(build_artifact::Column::BuildId.eq(build_id))
        .filter(build_artifact::Column::ArtifactType.eq("LOGS"))
        .one(service.database())
        .await
        .expect("artifact")
        .and_then(|row| row.key)
}

async fn log_of(service: &Service, build_id: i32) -> String {
    let key = log_key(service, build_id).await.expect("LOGS artifact");
    String::from_utf8(service.storage().get(&key).await.expect("log")).expect("utf-8")
}

/// The log written so far; empty while the build has not started logging.
async fn log_so_far(service: &Service, build_id: i32) -> String {
    let Some(key) = log_key(service, build_id).await else {
        return String::new();
    };
    match service.storage().get(&key).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    }
}

/// A build from a mirror slow enough to catch it while it runs, and a worker process
/// that has started it: its log already says it is solving (BUILDING is written before
/// the first log line, so the status alone would not say the attempt has logged).
async fn build_in_progress(deployment: &Deployment, name: &str) -> (SlowChannelServer, i32, Child) {
    let slow =
        SlowChannelServer::start(deployment.channel.directory.clone(), Duration::from_secs(4))
            .await;
    let created = deployment
        .service
        .create_build("default", specification(&slow.url, name))
        .await
        .expect("create build");
    let worker = start_worker(deployment, 1);
    let started = Instant::now();
    while !log_so_far(&deployment.service, created.build_id)
        .await
        .contains("solving")
    {
        assert!(started.elapsed() < Duration::from_secs(30), "never solving");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        statuses(&deployment.service, &[created.build_id]).await,
        ["BUILDING"]
    );
    (slow, created.build_id, worker)
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_run_every_build_exactly_once() {
    for backend in backends() {
        let deployment = deployment(TestDatabase::create(backend).await).await;
        let mut ids = Vec::new();
        for number in 0..20 {
            let created = deployment
                .service
                .create_build(
                    "default",
                    specification(&deployment.channel.url(), &format!("env-{number}")),
                )
                .await
                .expect("create build");
            ids.push(created.build_id);
        }
        let workers = [start_worker(&deployment, 2), start_worker(&deployment, 2)];
        let started = Instant::now();
        loop {
            let statuses = statuses(&deployment.service, &ids).await;
            if statuses
                .iter()
                .all(|status| status == "COMPLETED" || status == "FAILED")
            {
                if let Some(position) = statuses.iter().position(|status| status != "COMPLETED") {
                    let log = log_of(&deployment.service, ids[position]).await;
                    let row = build::Entity::find_by_id(ids[position])
                        .one(deployment.service.database())
                        .await
                        .expect("build");
                    let info = row.and_then(|row| row.status_info);
                    panic!("{statuses:?} on {backend:?}; a failed build: {info:?}\n{log}");
                }
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{statuses:?} on {backend:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for worker in workers {
            stop(worker);
        }
        let jobs = job::Entity::find()
            .filter(job::Column::Kind.eq("build"))
            .all(deployment.service.database())
            .await
            .expect("jobs");
        assert_eq!(jobs.len(), 20);
        assert!(
            jobs.iter()
                .all(|job| job.attempts == 1 && job.state == "SUCCEEDED"),
            "{jobs:?}"
        );
        let runners: std::collections::BTreeSet<String> = jobs
            .iter()
            .filter_map(|job| job.worker_name.clone())
            .collect();
        assert!(
            runners.len() >= 2,
            "only {runners:?} did work on {backend:?}"
        );
        for id in &ids {
            let log = log_of(&deployment.service, *id).await;
            assert_eq!(
                log.matches("starting build of conda environment").count(),
                1,
                "{log}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_does_not_leave_its_build_building() {
    for backend in backends() {
        let deployment = deployment(TestDatabase::create(backend).await).await;
        let (_slow, build_id, mut doomed) = build_in_progress(&deployment, "killed-env").await;
        doomed.kill().expect("SIGKILL");
        let _ = doomed.wait();
        let killed_at = Instant::now();
        let survivor = start_worker(&deployment, 1);
        loop {
            let status = statuses(&deployment.service, &[build_id]).await.remove(0);
            if status == "COMPLETED" || status == "FAILED" {
                break;
            }
            assert!(
                killed_at.elapsed() < Duration::from_secs(60),
                "still {status} on {backend:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        stop(survivor);
        let log = log_of(&deployment.service, build_id).await;
        assert!(log.contains("stopped while running this build"), "{log}");
        assert_eq!(
            log.matches("starting build of conda environment").count(),
            2,
            "{log}"
        );
        assert_eq!(
            statuses(&deployment.service, &[build_id]).await,
            ["COMPLETED"]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_hands_its_build_back_to_the_queue() {
    for backend in backends() {
        let deployment = deployment(TestDatabase::create(backend).await).await;
        let (_slow, build_id, stopping) = build_in_progress(&deployment, "stopped-env").await;
        // SIGTERM, and wait for the process to exit.
        stop(stopping);
        let jobs = job::Entity::find()
            .filter(job::Column::Kind.eq("build"))
            .all(deployment.service.database())
            .await
            .expect("jobs");
        assert_eq!(jobs.len(), 1);
        assert_eq!(
            (
                jobs[0].state.as_str(),
                jobs[0].attempts,
                jobs[0].worker_name.as_deref()
            ),
            ("QUEUED", 0, None),
            "the interrupted attempt is not counted, on {backend:?}"
        );
        assert_eq!(statuses(&deployment.service, &[build_id]).await, ["QUEUED"]);
        let log = log_of(&deployment.service, build_id).await;
        assert!(log.contains("is shutting down"), "{log}");

        let next = start_worker(&deployment, 1);
        let restarted = Instant::now();
        while statuses(&deployment.service, &[build_id]).await != ["COMPLETED"] {
            assert!(
                restarted.elapsed() < Duration::from_secs(60),
                "not completed on {backend:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        stop(next);
        let job = job::Entity::find_by_id(jobs[0].id)
            .one(deployment.service.database())
            .await
            .expect("job")
            .expect("the job row");
        assert_eq!((job.state.as_str(), job.attempts), ("SUCCEEDED", 1));
        let log = log_of(&deployment.service, build_id).await;
        assert_eq!(
            log.matches("starting build of conda environment").count(),
            2,
            "{log}"
        );
        assert!(
            !log.contains("stopped while running"),
            "no lease had to expire: {log}"
        );
    }
}
