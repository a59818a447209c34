//! The engine on a real local channel: solve, conda-lock v1 round trip, install with
//! prefix replacement and hardlinks from the shared cache, unsolvable specifications.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_build::{BuildError, Engine, Lock, SolveRequest};
use conda_store_test_support::channel::{TestChannel, standard_packages};
use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

struct Setup {
    _directory: tempfile::TempDir,
    channel: TestChannel,
    engine: Engine,
    root: std::path::PathBuf,
}

async fn setup() -> Setup {
    let directory = tempfile::tempdir().expect("temp dir");
    let root = directory.path().to_owned();
    let channel = TestChannel::create(&root.join("channel"), &standard_packages()).await;
    let engine = Engine::new(&root.join("cache"));
    Setup {
        _directory: directory,
        channel,
        engine,
        root,
    }
}

fn request(channel: &TestChannel, specs: &[&str]) -> SolveRequest {
    SolveRequest {
        channels: vec![channel.url()],
        specs: specs.iter().map(|spec| (*spec).to_owned()).collect(),
        platforms: vec!["linux-64".to_owned()],
        cuda_override: None,
        timeout: None,
    }
}

fn names(lock: &Lock) -> BTreeSet<String> {
    lock.records("linux-64")
        .expect("linux-64")
        .iter()
        .map(|record| {
            format!(
                "{}={}",
                record.package_record.name.as_normalized(),
                record.package_record.version
            )
        })
        .collect()
}

fn run(program: &Path) -> String {
    let output = Command::new(program).output().expect("run program");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn solves_locks_and_installs_a_runnable_environment() {
    let setup = setup().await;
    let lock = setup
        .engine
        .lock(&request(&setup.channel, &["hello"]))
        .await
        .expect("lock");
    assert_eq!(
        names(&lock),
        BTreeSet::from([
            "hello=1.0.0".to_owned(),
            "hello-data=0.1.0".to_owned(),
            "libhello=2.0.0".to_owned()
        ])
    );
    let pinned = setup
        .engine
        .lock(&request(&setup.channel, &["hello", "libhello=1"]))
        .await
        .expect("lock");
    assert!(names(&pinned).contains("libhello=1.0.0"));

    let prefix = setup.root.join("envs/first");
    let records = lock.records("linux-64").expect("records").to_vec();
    setup
        .engine
        .install(&prefix, "linux-64", records.clone())
        .await
        .expect("install");
    let output = run(&prefix.join("bin/hello"));
    assert!(
        output.contains(&format!("prefix={}", prefix.display())),
        "{output}"
    );
    assert!(output.contains("libhello 2.0.0"), "{output}");
    assert!(output.contains("Hello from a test channel"), "{output}");
    // The binary placeholder was replaced, NUL-padded, size unchanged.
    let library = std::fs::read(prefix.join("lib/libhello.so")).expect("library");
    assert_eq!(
        library.len(),
        conda_store_test_support::channel::BINARY_SIZE
    );
    assert!(String::from_utf8_lossy(&library).contains(&prefix.display().to_string()));

    // A second prefix shares plain files with the first through the cache (hardlinks).
    let second = setup.root.join("envs/second");
    setup
        .engine
        .install(&second, "linux-64", records)
        .await
        .expect("install");
    let inode = |prefix: &Path| {
        std::fs::metadata(prefix.join("share/hello-data/greeting.txt"))
            .expect("file")
            .ino()
    };
    assert_eq!(inode(&prefix), inode(&second));
}

#[tokio::test]
async fn conda_lock_v1_round_trips_and_installs() {
    let setup = setup().await;
    let lock = setup
        .engine
        .lock(&request(&setup.channel, &["hello"]))
        .await
        .expect("lock");
    let text = lock.to_conda_lock_json().expect("conda-lock");
    let document: serde_json::Value = serde_json::from_str(&text).expect("the lockfile is JSON");
    assert_eq!(document["version"], 1);
    let packages = document["package"].as_array().expect("package list");
    assert_eq!(packages.len(), 3);
    for package in packages {
        assert_eq!(package["manager"], "conda");
        assert_eq!(package["platform"], "linux-64");
        assert!(package["url"].as_str().expect("url").starts_with("file://"));
        assert_eq!(package["hash"]["sha256"].as_str().map(str::len), Some(64));
        assert_eq!(package["hash"]["md5"].as_str().map(str::len), Some(32));
    }

    let again = Lock::from_conda_lock(&text).expect("read the lockfile back");
    assert_eq!(names(&again), names(&lock));
    assert_eq!(
        again.to_conda_lock_json().expect("conda-lock"),
        text,
        "identical lockfile"
    );
    let prefix = setup.root.join("envs/from-lock");
    let records = again.records("linux-64").expect("records").to_vec();
    setup
        .engine
        .install(&prefix, "linux-64", records)
        .await
        .expect("install");
    assert!(run(&prefix.join("bin/hello")).contains("libhello 2.0.0"));
}

#[tokio::test]
async fn unsolvable_specifications_explain_why() {
    let setup = setup().await;
    let error = setup
        .engine
        .lock(&request(&setup.channel, &["conflict"]))
        .await
        .expect_err("unsolvable");
    assert!(matches!(error, BuildError::Unsolvable { .. }), "{error}");
    let message = error.to_string();
    assert!(message.contains("libhello"), "{message}");

    let missing = setup
        .engine
        .lock(&request(&setup.channel, &["no-such-package"]))
        .await
        .expect_err("unsolvable");
    assert!(missing.to_string().contains("no-such-package"), "{missing}");
}

#[tokio::test]
async fn a_solve_past_its_time_limit_fails_naming_the_setting() {
    let setup = setup().await;
    let mut request = request(&setup.channel, &["hello"]);
    request.timeout = Some(std::time::Duration::ZERO);
    let error = setup.engine.lock(&request).await.expect_err("timed out");
    assert!(
        matches!(error, BuildError::SolveTimeout { ref platform, .. } if platform == "linux-64"),
        "{error}"
    );
    assert!(
        error.to_string().contains("conda_max_solve_time"),
        "{error}"
    );
    // The same request with room to solve succeeds.
    request.timeout = Some(std::time::Duration::from_secs(60));
    setup.engine.lock(&request).await.expect("solved in time");
}

#[tokio::test]
async fn a_missing_channel_fails_naming_its_url() {
    let setup = setup().await;
    let mut request = request(&setup.channel, &["hello"]);
    let missing = format!("file://{}", setup.root.join("nowhere").display());
    request.channels = vec![missing.clone()];
    let error = setup.engine.lock(&request).await.expect_err("no channel");
    assert!(
        error.to_string().contains(&missing) || error.to_string().contains("nowhere"),
        "{error}"
    );
}

/// Twenty installs at once from an HTTP channel, all needing the same packages: each
/// archive is downloaded exactly once, and every environment works.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_installs_download_each_package_once() {
    let setup = setup().await;
    let server = conda_store_test_support::http::SlowChannelServer::start(
        setup.channel.directory.clone(),
        std::time::Duration::ZERO,
    )
    .await;
    let mut request = request(&setup.channel, &["hello"]);
    request.channels = vec![server.url.clone()];
    let lock = setup.engine.lock(&request).await.expect("lock");
    let records = lock.records("linux-64").expect("records").to_vec();
    let engine = std::sync::Arc::new(setup.engine);
    let mut installs = tokio::task::JoinSet::new();
    for number in 0..20 {
        let engine = engine.clone();
        let records = records.clone();
        let prefix = setup.root.join(format!("envs/concurrent-{number}"));
        installs.spawn(async move {
            engine
                .install(&prefix, "linux-64", records)
                .await
                .expect("install");
            prefix
        });
    }
    while let Some(prefix) = installs.join_next().await {
        assert!(run(&prefix.expect("install task").join("bin/hello")).contains("libhello 2.0.0"));
    }
    for record in &records {
        let path = format!("/{}/{}", record.package_record.subdir, record.identifier);
        assert_eq!(server.downloads(&path), 1, "{path} downloads");
    }
}
