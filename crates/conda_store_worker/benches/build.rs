//! End-to-end build benchmark, printing numbers (run: `cargo bench -p conda_store_worker
//! --bench build`, or with `--profile dev` for a quick look).
//!
//! A small environment (`hello`: three packages from a local channel) is built from a
//! warm package and repodata cache on a SQLite file, the embedded default, by an
//! in-process worker, as `standalone` runs it. Each round registers a new environment
//! and waits for COMPLETED. The build log says how long solving and linking took, so
//! the rest is the service's own cost: registering the specification, queueing and
//! claiming the job, the lockfile, YAML and conda-pack artifacts, package rows, size
//! and status updates (goal: at most 200 ms). Printed with the default artifacts and
//! without the conda-pack archive.

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use conda_store_build::Engine;
use conda_store_core::domain::BuildArtifactType;
use conda_store_core::lockfile_specification::Specification;
use conda_store_core::settings::Settings;
use conda_store_core::specification::CondaSpecification;
use conda_store_db::entity::build;
use conda_store_db::{DatabaseUrl, PoolSize, connect, migration};
use conda_store_service::Service;
use conda_store_storage::LocalStorage;
use conda_store_test_support::channel::{TestChannel, standard_packages};
use conda_store_worker::{Worker, WorkerOptions};
use sea_orm::EntityTrait;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 20;

/// One timed build: wall time from registration to COMPLETED, and the solve and link
/// times its log reports.
struct Round {
    total: Duration,
    solve: Duration,
    link: Duration,
}

impl Round {
    fn outside(&self) -> Duration {
        self.total.saturating_sub(self.solve + self.link)
    }
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn percentile(mut samples: Vec<Duration>, fraction: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() - 1) as f64 * fraction).round() as usize;
    samples[index]
}

/// The `{what} in N ms` figure of a build log.
fn logged(log: &str, what: &str) -> Duration {
    let prefix = format!("{what} in ");
    let line = log
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` line in the log:\n{log}"));
    let number: f64 = line.trim_end_matches(" ms").parse().expect("milliseconds");
    Duration::from_secs_f64(number / 1000.0)
}

async fn service(root: &Path, artifacts: Vec<BuildArtifactType>) -> Service {
    let url = format!("sqlite:///{}", root.join("conda-store.sqlite").display());
    let url = DatabaseUrl::parse(&url).expect("url");
    let database = connect(&url, PoolSize::Up(4)).await.expect("database");
    migration::upgrade(&database, None).await.expect("migrate");
    let settings = Settings {
        conda_solve_platforms: vec!["linux-64".to_owned()],
        build_artifacts: artifacts,
        ..Settings::default()
    };
    Service::new(
        database,
        Arc::new(settings),
        Arc::new(LocalStorage::new(root.join("storage"))),
        root.join("store"),
    )
}

async fn round(service: &Service, worker: &Worker, channel: &str, name: &str) -> Round {
    let yaml = format!("name: {name}\nchannels:\n  - {channel}\ndependencies:\n  - hello\n");
    let specification =
        Specification::Conda(CondaSpecification::from_yaml(&yaml).expect("specification"));
    let started = Instant::now();
    let created = service
        .create_build("default", specification)
        .await
        .expect("create build");
    worker.run_until_idle().await.expect("worker");
    let total = started.elapsed();
    let row = build::Entity::find_by_id(created.build_id)
        .one(service.database())
        .await
        .expect("query")
        .expect("build");
    assert_eq!(
        row.status.as_deref(),
        Some("COMPLETED"),
        "{:?}",
        row.status_info
    );
    let context = service
        .build_context(created.build_id)
        .await
        .expect("context");
    let key = context
        .artifact_key(BuildArtifactType::Logs)
        .expect("logs key");
    let log = String::from_utf8(service.storage().get(&key).await.expect("log")).expect("utf-8");
    Round {
        total,
        solve: logged(&log, "solved"),
        link: logged(&log, "installed"),
    }
}

async fn measure(label: &str, channel: &TestChannel, artifacts: Vec<BuildArtifactType>) {
    let directory = tempfile::tempdir().expect("temp dir");
    let service = service(directory.path(), artifacts).await;
    let engine = Arc::new(Engine::new(&directory.path().join("cache")));
    let worker = Worker::new(service.clone(), engine, WorkerOptions::default());
    // Warm the repodata and package caches.
    round(&service, &worker, &channel.url(), "warm-up").await;
    let mut rounds = Vec::new();
    for index in 0..ROUNDS {
        rounds.push(round(&service, &worker, &channel.url(), &format!("env-{index}")).await);
    }
    let column = |pick: fn(&Round) -> Duration| {
        let samples: Vec<Duration> = rounds.iter().map(pick).collect();
        format!(
            "median {:7.1} ms, p90 {:7.1} ms",
            milliseconds(percentile(samples.clone(), 0.5)),
            milliseconds(percentile(samples, 0.9))
        )
    };
    println!("{label} ({ROUNDS} builds of `hello`, warm cache, SQLite):");
    println!("  total            {}", column(|round| round.total));
    println!("  solve            {}", column(|round| round.solve));
    println!("  link             {}", column(|round| round.link));
    println!(
        "  outside solve+link {} (goal: <= 200 ms)",
        column(Round::outside)
    );
}

#[tokio::main]
async fn main() {
    let directory = tempfile::tempdir().expect("temp dir");
    let channel =
        TestChannel::create(&directory.path().join("channel"), &standard_packages()).await;
    measure(
        "default artifacts (LOGS, LOCKFILE, YAML, CONDA_PACK)",
        &channel,
        Settings::default().build_artifacts,
    )
    .await;
    measure(
        "without the conda-pack archive",
        &channel,
        vec![
            BuildArtifactType::Logs,
            BuildArtifactType::Lockfile,
            BuildArtifactType::Yaml,
        ],
    )
    .await;
}
