//! Specification → COMPLETED build on every backend, end to end through the service,
//! the queue, the worker and a real local channel; and an unsolvable specification.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use conda_store_build::{Engine, Lock};
use conda_store_core::lockfile_specification::{LockfileSpecification, Specification};
use conda_store_core::settings::Settings;
use conda_store_core::specification::CondaSpecification;
use conda_store_db::entity::{build, build_artifact, build_conda_package_build, environment};
use conda_store_db::{DatabaseUrl, PoolSize, connect, migration};
use conda_store_service::Service;
use conda_store_storage::LocalStorage;
use conda_store_test_support::channel::{
    TestChannel, TestPackage, python_package, standard_packages,
};
use conda_store_test_support::http::SlowChannelServer;
use conda_store_test_support::pypi::{TestPypiIndex, TestWheel};
use conda_store_test_support::{TestDatabase, backends};
use conda_store_worker::{Worker, WorkerOptions};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Setup {
    _database: TestDatabase,
    _directory: tempfile::TempDir,
    root: std::path::PathBuf,
    channel: TestChannel,
    service: Service,
    worker: Worker,
}

async fn setup(database: TestDatabase) -> Setup {
    setup_with(database, WorkerOptions::default(), Settings::default()).await
}

async fn setup_with(database: TestDatabase, options: WorkerOptions, settings: Settings) -> Setup {
    let directory = tempfile::tempdir().expect("temp dir");
    let root = directory.path().to_owned();
    let channel = TestChannel::create(&root.join("channel"), &standard_packages()).await;
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
        conda_solve_platforms: vec!["linux-64".to_owned()],
        // No channel index: no network in tests.
        conda_indexed_channels: Vec::new(),
        // Tests must not depend on how much disk the machine has free.
        storage_threshold: 0,
        ..settings
    };
    let service = Service::new(
        pool,
        Arc::new(settings),
        Arc::new(LocalStorage::new(root.join("storage"))),
        root.join("store"),
    );
    let engine = Arc::new(Engine::new(&root.join("cache")));
    let worker = Worker::new(service.clone(), engine, options);
    Setup {
        _database: database,
        _directory: directory,
        root,
        channel,
        service,
        worker,
    }
}

fn specification(channel: &TestChannel, name: &str, dependencies: &[&str]) -> Specification {
    specification_from(&channel.url(), name, dependencies)
}

fn specification_from(channel: &str, name: &str, dependencies: &[&str]) -> Specification {
    let yaml = format!(
        "name: {name}\nchannels:\n  - {channel}\ndependencies:\n{}",
        dependencies
            .iter()
            .map(|dependency| format!("  - {dependency}\n"))
            .collect::<String>()
    );
    Specification::Conda(CondaSpecification::from_yaml(&yaml).expect("valid specification"))
}

/// Registers a specification of `dependencies` from the test channel in `default`.
async fn submit(
    setup: &Setup,
    name: &str,
    dependencies: &[&str],
) -> conda_store_service::BuildCreated {
    setup
        .service
        .create_build("default", specification(&setup.channel, name, dependencies))
        .await
        .expect("create build")
}

/// The build row, which must exist.
async fn build_row(setup: &Setup, build_id: i32) -> build::Model {
    build::Entity::find_by_id(build_id)
        .one(setup.service.database())
        .await
        .expect("build")
        .expect("the build row exists")
}

async fn artifact(setup: &Setup, build_id: i32, kind: &str) -> Option<String> {
    build_artifact::Entity::find()
        .filter(build_artifact::Column::BuildId.eq(build_id))
        .filter(build_artifact::Column::ArtifactType.eq(kind))
        .one(setup.service.database())
        .await
        .expect("artifact")
        .and_then(|row| row.key)
}

async fn stored(setup: &Setup, key: &str) -> String {
    String::from_utf8(
        setup
            .service
            .storage()
            .get(key)
            .await
            .expect("stored object"),
    )
    .expect("utf-8")
}

#[tokio::test]
async fn a_specification_becomes_a_completed_runnable_environment() {
    for backend in backends() {
        let setup = setup(TestDatabase::create(backend).await).await;
        let created = submit(&setup, "hello-env", &["hello"]).await;
        // A new environment points at its first build at once, while it is queued.
        let queued = environment::Entity::find_by_id(created.environment_id)
            .one(setup.service.database())
            .await
            .expect("environment")
            .expect("exists");
        assert_eq!(queued.current_build_id, Some(created.build_id));

        assert_eq!(setup.worker.run_until_idle().await.expect("worker"), 1);
        let finished = build_row(&setup, created.build_id).await;
        let log_key = artifact(&setup, created.build_id, "LOGS")
            .await
            .expect("LOGS artifact");
        let log = stored(&setup, &log_key).await;
        assert_eq!(
            finished.status.as_deref(),
            Some("COMPLETED"),
            "on {backend:?}: {log}"
        );
        assert!(finished.started_on.is_some() && finished.ended_on.is_some());
        assert!(finished.size.unwrap_or_default() > 0);
        assert!(log.contains("starting build of conda environment"), "{log}");

        // The prefix runs, directly and through the environment symlink.
        let prefix = artifact(&setup, created.build_id, "DIRECTORY")
            .await
            .expect("DIRECTORY");
        let link = setup.root.join("store/default/envs/hello-env");
        assert_eq!(
            std::fs::read_link(&link).expect("symlink"),
            Path::new(&prefix)
        );
        for hello in [Path::new(&prefix).join("bin/hello"), link.join("bin/hello")] {
            let output = std::process::Command::new(&hello)
                .output()
                .expect("run hello");
            let text = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success() && text.contains("libhello 2.0.0"),
                "{text}"
            );
        }

        // The lockfile is conda-lock v1 and lists what was installed.
        let lockfile_key = artifact(&setup, created.build_id, "LOCKFILE")
            .await
            .expect("LOCKFILE");
        assert!(lockfile_key.starts_with("lockfile/") && lockfile_key.ends_with(".yml"));
        let lock =
            Lock::from_conda_lock(&stored(&setup, &lockfile_key).await).expect("conda-lock v1");
        assert_eq!(lock.records("linux-64").expect("linux-64").len(), 3);
        let yaml_key = artifact(&setup, created.build_id, "YAML")
            .await
            .expect("YAML artifact");
        let export: serde_yaml::Value =
            serde_yaml::from_str(&stored(&setup, &yaml_key).await).expect("yaml");
        assert_eq!(export["name"].as_str(), Some("hello-env"));
        let pinned: Vec<&str> = export["dependencies"]
            .as_sequence()
            .expect("dependencies")
            .iter()
            .filter_map(|dependency| dependency.as_str())
            .collect();
        assert!(pinned.contains(&"hello=1.0.0=h0_0"), "{pinned:?}");
        // The conda-pack archive works anywhere after conda-unpack.
        let archive_key = artifact(&setup, created.build_id, "CONDA_PACK")
            .await
            .expect("CONDA_PACK");
        assert!(archive_key.starts_with("archive/") && archive_key.ends_with(".tar.gz"));
        let unpacked = tempfile::tempdir().expect("unpack dir");
        let archive_file = unpacked.path().join("env.tar.gz");
        std::fs::write(
            &archive_file,
            setup
                .service
                .storage()
                .get(&archive_key)
                .await
                .expect("archive"),
        )
        .expect("write");
        let target = unpacked.path().join("moved");
        std::fs::create_dir(&target).expect("target");
        let extracted = std::process::Command::new("tar")
            .arg("-xzf")
            .arg(&archive_file)
            .arg("-C")
            .arg(&target)
            .status()
            .expect("tar");
        assert!(extracted.success());
        let unpack = std::process::Command::new(target.join("bin/conda-unpack"))
            .output()
            .expect("conda-unpack");
        assert!(unpack.status.success(), "{unpack:?}");
        let output = std::process::Command::new(target.join("bin/hello"))
            .output()
            .expect("run moved hello");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{output:?}");
        assert!(
            text.contains(&format!("prefix={}", target.display())),
            "{text}"
        );
        assert!(text.contains("libhello 2.0.0"), "{text}");
        // Its bin/activate (as `conda-store run` sources it) puts it first on PATH.
        for shell in ["bash", "sh"] {
            let activated = std::process::Command::new(shell)
                .arg("-c")
                .arg(r#". "$1/bin/activate" "$1" && echo "$CONDA_PREFIX" && exec hello"#)
                .arg(shell)
                .arg(&target)
                .output()
                .expect("activate");
            let text = String::from_utf8_lossy(&activated.stdout);
            assert!(activated.status.success(), "{shell}: {activated:?}");
            assert!(
                text.starts_with(&format!(
                    "{}\nprefix={}",
                    target.display(),
                    target.display()
                )),
                "{shell}: {text}"
            );
        }
        let library = std::fs::read(target.join("lib/libhello.so")).expect("library");
        assert_eq!(
            library.len(),
            conda_store_test_support::channel::BINARY_SIZE
        );
        assert!(String::from_utf8_lossy(&library).contains(&target.display().to_string()));
        assert!(!String::from_utf8_lossy(&library).contains(&prefix));

        let packages = build_conda_package_build::Entity::find()
            .filter(build_conda_package_build::Column::BuildId.eq(created.build_id))
            .all(setup.service.database())
            .await
            .expect("packages");
        assert_eq!(packages.len(), 3, "package rows on {backend:?}");

        // The same specification again: same specification row, a second build.
        let again = submit(&setup, "hello-env", &["hello"]).await;
        assert_ne!(again.build_id, created.build_id);
        assert_eq!(again.environment_id, created.environment_id);
    }
}

/// A worker that dies after recording a build's packages (while packing, say) leaves
/// rows, artifacts and a prefix behind; the retry must complete with one row per
/// package, not trip over what the first attempt wrote.
#[tokio::test]
async fn a_build_retried_after_its_packages_were_recorded_completes() {
    for backend in backends() {
        let setup = setup(TestDatabase::create(backend).await).await;
        let created = submit(&setup, "again", &["hello"]).await;
        setup.worker.run_until_idle().await.expect("worker");
        assert_eq!(status(&setup, created.build_id).await, "COMPLETED");
        let package_rows = || async {
            build_conda_package_build::Entity::find()
                .filter(build_conda_package_build::Column::BuildId.eq(created.build_id))
                .all(setup.service.database())
                .await
                .expect("rows")
                .len()
        };
        let recorded = package_rows().await;
        assert!(recorded > 0);
        // The state a crash after recording leaves: the build BUILDING again, its job
        // back in the queue for another attempt.
        build::Entity::update_many()
            .col_expr(build::Column::Status, "BUILDING".into())
            .filter(build::Column::Id.eq(created.build_id))
            .exec(setup.service.database())
            .await
            .expect("reset");
        conda_store_db::queue::enqueue(
            setup.service.database(),
            conda_store_service::build_job(created.build_id),
        )
        .await
        .expect("enqueue");
        setup.worker.run_until_idle().await.expect("worker");
        let row = build_row(&setup, created.build_id).await;
        assert_eq!(
            row.status.as_deref(),
            Some("COMPLETED"),
            "{backend:?}: {:?}",
            row.status_info
        );
        assert_eq!(package_rows().await, recorded, "{backend:?}");
        let artifacts = build_artifact::Entity::find()
            .filter(build_artifact::Column::BuildId.eq(created.build_id))
            .all(setup.service.database())
            .await
            .expect("artifacts");
        let mut kinds: Vec<String> = artifacts.into_iter().map(|row| row.artifact_type).collect();
        let count = kinds.len();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), count, "one row per artifact: {kinds:?}");
    }
}

#[tokio::test]
async fn an_unsolvable_specification_fails_with_the_solver_explanation() {
    for backend in backends() {
        let setup = setup(TestDatabase::create(backend).await).await;
        let created = submit(&setup, "broken", &["conflict"]).await;
        setup.worker.run_until_idle().await.expect("worker");
        let finished = build_row(&setup, created.build_id).await;
        assert_eq!(finished.status.as_deref(), Some("FAILED"));
        let log = stored(
            &setup,
            &artifact(&setup, created.build_id, "LOGS")
                .await
                .expect("LOGS"),
        )
        .await;
        // The log ends with the solver's explanation.
        let explanation = log.rsplit("cannot be solved").next().unwrap_or_default();
        assert!(
            log.contains("cannot be solved") && explanation.contains("libhello <1"),
            "{log}"
        );
        assert!(
            artifact(&setup, created.build_id, "DIRECTORY")
                .await
                .is_none()
        );
    }
}

async fn status(setup: &Setup, build_id: i32) -> String {
    build::Entity::find_by_id(build_id)
        .one(setup.service.database())
        .await
        .expect("build")
        .and_then(|row| row.status)
        .unwrap_or_default()
}

async fn wait_for_status(setup: &Setup, build_id: i32, wanted: &str, limit: Duration) {
    let started = Instant::now();
    while status(setup, build_id).await != wanted {
        assert!(
            started.elapsed() < limit,
            "build {build_id} not {wanted} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const CANCELED_LINE: &str = "marked as CANCELED due to being canceled from the REST API";

#[tokio::test]
async fn a_queued_build_is_canceled_before_any_worker_runs_it() {
    for backend in backends() {
        let setup = setup(TestDatabase::create(backend).await).await;
        let created = submit(&setup, "hello-env", &["hello"]).await;
        setup
            .service
            .cancel_build(created.build_id)
            .await
            .expect("cancel");
        assert_eq!(status(&setup, created.build_id).await, "CANCELED");
        assert_eq!(
            setup.worker.run_until_idle().await.expect("worker"),
            0,
            "nothing to run"
        );
        let log = stored(
            &setup,
            &artifact(&setup, created.build_id, "LOGS")
                .await
                .expect("LOGS"),
        )
        .await;
        assert!(
            log.trim_end()
                .ends_with(&format!("build {} {CANCELED_LINE}", created.build_id)),
            "{log}"
        );
        let again = setup.service.cancel_build(created.build_id).await;
        assert!(matches!(
            again,
            Err(conda_store_service::ServiceError::Conflict(_))
        ));
    }
}

/// A build stuck on a slow mirror is canceled while BUILDING: its worker drops it within
/// seconds and is free for the next build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_building_build_is_canceled_and_its_worker_moves_on() {
    for backend in backends() {
        let options = WorkerOptions {
            lease: Duration::from_secs(6),
            poll_interval: Duration::from_millis(100),
            ..WorkerOptions::default()
        };
        let setup = setup_with(
            TestDatabase::create(backend).await,
            options,
            Settings::default(),
        )
        .await;
        let slow =
            SlowChannelServer::start(setup.channel.directory.clone(), Duration::from_secs(60))
                .await;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let worker = setup.worker.clone();
        let running = tokio::spawn(async move { worker.run(1, stopped).await });

        let stuck = setup
            .service
            .create_build(
                "default",
                specification_from(&slow.url, "slow-env", &["hello"]),
            )
            .await
            .expect("create build");
        wait_for_status(&setup, stuck.build_id, "BUILDING", Duration::from_secs(20)).await;
        let canceled_at = Instant::now();
        setup
            .service
            .cancel_build(stuck.build_id)
            .await
            .expect("cancel");

        let next = submit(&setup, "next-env", &["hello"]).await;
        wait_for_status(&setup, next.build_id, "COMPLETED", Duration::from_secs(20)).await;
        assert!(
            canceled_at.elapsed() < Duration::from_secs(15),
            "the worker was held up"
        );
        assert_eq!(status(&setup, stuck.build_id).await, "CANCELED");
        assert!(
            artifact(&setup, stuck.build_id, "DIRECTORY")
                .await
                .is_none()
        );
        let log = stored(
            &setup,
            &artifact(&setup, stuck.build_id, "LOGS")
                .await
                .expect("LOGS"),
        )
        .await;
        assert!(log.trim_end().ends_with(CANCELED_LINE), "{log}");
        let _ = stop.send(true);
        running.abort();
    }
}

#[tokio::test]
async fn builds_can_be_made_current_rebuilt_and_deleted() {
    for backend in backends() {
        let setup = setup(TestDatabase::create(backend).await).await;
        let spec = || specification(&setup.channel, "life", &["hello"]);
        let first = setup
            .service
            .create_build("default", spec())
            .await
            .expect("first");
        setup.worker.run_until_idle().await.expect("worker");
        let second = setup
            .service
            .rebuild(first.build_id)
            .await
            .expect("rebuild");
        setup.worker.run_until_idle().await.expect("worker");
        assert_eq!(status(&setup, second).await, "COMPLETED");
        let current = |setup: &Setup| {
            let database = setup.service.database().clone();
            async move {
                environment::Entity::find_by_id(first.environment_id)
                    .one(&database)
                    .await
                    .expect("environment")
                    .and_then(|row| row.current_build_id)
            }
        };
        assert_eq!(
            current(&setup).await,
            Some(second),
            "a completed rebuild becomes current"
        );
        let link = setup.root.join("store/default/envs/life");
        let second_prefix = artifact(&setup, second, "DIRECTORY").await.expect("prefix");
        assert_eq!(
            std::fs::read_link(&link).expect("link"),
            Path::new(&second_prefix)
        );

        // Roll back to the first build: the symlink follows.
        setup
            .service
            .set_current_build(first.environment_id, first.build_id)
            .await
            .expect("roll back");
        assert_eq!(current(&setup).await, Some(first.build_id));
        let first_prefix = artifact(&setup, first.build_id, "DIRECTORY")
            .await
            .expect("prefix");
        assert_eq!(
            std::fs::read_link(&link).expect("link"),
            Path::new(&first_prefix)
        );

        // The current build cannot be deleted; the other one can, and its files go.
        let refused = setup.service.delete_build(first.build_id).await;
        assert!(matches!(
            refused,
            Err(conda_store_service::ServiceError::Conflict(_))
        ));
        setup.service.delete_build(second).await.expect("delete");
        assert!(
            Path::new(&second_prefix).exists(),
            "removed by the job, not the request"
        );
        setup.worker.run_until_idle().await.expect("worker");
        assert!(!Path::new(&second_prefix).exists());
        assert!(artifact(&setup, second, "DIRECTORY").await.is_none());
        let lockfile = artifact(&setup, second, "LOCKFILE")
            .await
            .expect("LOCKFILE is kept");
        assert!(!stored(&setup, &lockfile).await.is_empty());
        let deleted = build_row(&setup, second).await;
        assert!(deleted.deleted_on.is_some());
        assert_eq!(deleted.size, Some(0));

        // A failed build cannot become current.
        let broken = submit(&setup, "life", &["conflict"]).await;
        setup.worker.run_until_idle().await.expect("worker");
        let refused = setup
            .service
            .set_current_build(first.environment_id, broken.build_id)
            .await;
        assert!(
            matches!(refused, Err(conda_store_service::ServiceError::Invalid(_))),
            "{refused:?}"
        );
    }
}

#[tokio::test]
async fn new_builds_are_refused_below_the_storage_threshold() {
    let database = TestDatabase::create(conda_store_test_support::Backend::Sqlite).await;
    let setup = setup(database).await;
    let full = Service::new(
        setup.service.database().clone(),
        Arc::new(Settings {
            storage_threshold: u64::MAX,
            ..Settings::default()
        }),
        Arc::new(LocalStorage::new(setup.root.join("storage"))),
        setup.root.join("store"),
    );
    let refused = full
        .create_build("default", specification(&setup.channel, "full", &["hello"]))
        .await;
    let message = refused.expect_err("refused").to_string();
    assert!(message.contains("below storage_threshold"), "{message}");
}

/// A lockfile specification made from a build's lockfile installs the same packages
/// without solving and gives an identical lockfile.
#[tokio::test]
async fn a_lockfile_specification_reproduces_a_build() {
    for backend in backends() {
        let setup = setup(TestDatabase::create(backend).await).await;
        let first = submit(&setup, "locked", &["hello", "libhello=1"]).await;
        setup.worker.run_until_idle().await.expect("worker");
        let lockfile_key = artifact(&setup, first.build_id, "LOCKFILE")
            .await
            .expect("LOCKFILE");
        let lockfile_text = stored(&setup, &lockfile_key).await;
        let lockfile: serde_json::Value = serde_json::from_str(&lockfile_text).expect("json");

        let locked = LockfileSpecification::from_value(&serde_json::json!({
            "name": "from-lock",
            "lockfile": lockfile,
        }))
        .expect("a valid lockfile specification");
        let second = setup
            .service
            .create_build("default", Specification::Lockfile(locked))
            .await
            .expect("create build");
        setup.worker.run_until_idle().await.expect("worker");
        assert_eq!(status(&setup, second.build_id).await, "COMPLETED");
        let again_key = artifact(&setup, second.build_id, "LOCKFILE")
            .await
            .expect("LOCKFILE");
        assert_eq!(
            stored(&setup, &again_key).await,
            lockfile_text,
            "identical lockfile"
        );
        let log = stored(
            &setup,
            &artifact(&setup, second.build_id, "LOGS")
                .await
                .expect("LOGS"),
        )
        .await;
        assert!(log.contains("without solving"), "{log}");
        let prefix = artifact(&setup, second.build_id, "DIRECTORY")
            .await
            .expect("prefix");
        let output = std::process::Command::new(Path::new(&prefix).join("bin/hello"))
            .output()
            .expect("run");
        assert!(String::from_utf8_lossy(&output.stdout).contains("libhello 1.0.0"));

        let bad = LockfileSpecification::from_value(&serde_json::json!({
            "name": "bad", "lockfile": {"version": 2, "package": []}
        }));
        assert!(
            bad.expect_err("version 2")
                .to_string()
                .contains("version=1")
        );
        let garbage = LockfileSpecification::from_value(&serde_json::json!({
            "name": "bad", "lockfile": {"package": "nonsense"}
        }));
        assert!(
            garbage
                .expect_err("invalid")
                .to_string()
                .contains("invalid conda-lock v1 lockfile")
        );
    }
}

/// A specification with python from a second local channel, `hello` from the test
/// channel, and pip requirements from a PyPI simple index served on 127.0.0.1.
async fn pip_specification(setup: &Setup, index_url: &str) -> Specification {
    let python = TestChannel::create(&setup.root.join("python-channel"), &[python_package()]).await;
    let yaml = format!(
        "name: with-pip\nchannels:\n  - {}\n  - {}\ndependencies:\n  - python\n  - hello\n  - pip:\n    - --index-url {index_url}\n    - hello-pip<2\n",
        setup.channel.url(),
        python.url()
    );
    Specification::Conda(CondaSpecification::from_yaml(&yaml).expect("valid specification"))
}

/// What `greet()` of the installed `hello_pip` module returns in `prefix`.
fn pip_greeting(prefix: &str) -> String {
    let output = std::process::Command::new(Path::new(prefix).join("bin/python"))
        .args(["-c", "import hello_pip; print(hello_pip.greet())"])
        .output()
        .expect("run the environment's python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test]
async fn pip_dependencies_are_installed_and_locked_with_uv() {
    for backend in backends() {
        let setup = setup(TestDatabase::create(backend).await).await;
        let index = TestPypiIndex::create(
            &setup.root.join("pypi"),
            &[
                TestWheel::new("hello-pip", "1.0", "hello from pip 1.0"),
                TestWheel::new("hello-pip", "2.0", "hello from pip 2.0"),
            ],
        );
        let server = SlowChannelServer::start(index.directory.clone(), Duration::ZERO).await;
        let specification = pip_specification(&setup, &format!("{}/simple/", server.url)).await;
        let first = setup
            .service
            .create_build("default", specification)
            .await
            .expect("create build");
        setup.worker.run_until_idle().await.expect("worker");
        let row = build_row(&setup, first.build_id).await;
        assert_eq!(
            row.status.as_deref(),
            Some("COMPLETED"),
            "{:?}",
            row.status_info
        );
        let prefix = artifact(&setup, first.build_id, "DIRECTORY")
            .await
            .expect("prefix");
        assert_eq!(pip_greeting(&prefix), "hello from pip 1.0");

        let lockfile_text = stored(
            &setup,
            &artifact(&setup, first.build_id, "LOCKFILE")
                .await
                .expect("LOCKFILE"),
        )
        .await;
        let lockfile: serde_json::Value = serde_json::from_str(&lockfile_text).expect("json");
        let pip_entries: Vec<&serde_json::Value> = lockfile["package"]
            .as_array()
            .expect("packages")
            .iter()
            .filter(|package| package["manager"] == "pip")
            .collect();
        assert_eq!(pip_entries.len(), 1, "{lockfile_text}");
        assert_eq!(pip_entries[0]["name"], "hello-pip");
        assert_eq!(pip_entries[0]["version"], "1.0");
        assert_eq!(
            pip_entries[0]["url"],
            format!("{}/files/hello_pip-1.0-py3-none-any.whl", server.url)
        );
        assert_eq!(
            pip_entries[0]["hash"]["sha256"].as_str().map(str::len),
            Some(64)
        );
        let export = stored(
            &setup,
            &artifact(&setup, first.build_id, "YAML")
                .await
                .expect("YAML"),
        )
        .await;
        assert!(export.contains("hello-pip==1.0"), "{export}");

        // The lockfile as a specification installs the same files without resolving.
        let locked = LockfileSpecification::from_value(&serde_json::json!({
            "name": "with-pip-locked",
            "lockfile": lockfile,
        }))
        .expect("a valid lockfile specification");
        let second = setup
            .service
            .create_build("default", Specification::Lockfile(locked))
            .await
            .expect("create build");
        setup.worker.run_until_idle().await.expect("worker");
        assert_eq!(status(&setup, second.build_id).await, "COMPLETED");
        let again = stored(
            &setup,
            &artifact(&setup, second.build_id, "LOCKFILE")
                .await
                .expect("LOCKFILE"),
        )
        .await;
        assert_eq!(again, lockfile_text, "identical lockfile");
        let second_prefix = artifact(&setup, second.build_id, "DIRECTORY")
            .await
            .expect("prefix");
        assert_eq!(pip_greeting(&second_prefix), "hello from pip 1.0");
    }
}

#[tokio::test]
async fn pip_dependencies_without_uv_fail_with_a_clear_message() {
    for backend in backends() {
        let settings = Settings {
            uv_command: Some("/nonexistent/bin/uv".to_owned()),
            ..Settings::default()
        };
        let setup = setup_with(
            TestDatabase::create(backend).await,
            WorkerOptions::default(),
            settings,
        )
        .await;
        let specification = pip_specification(&setup, "http://127.0.0.1:1/simple/").await;
        let created = setup
            .service
            .create_build("default", specification)
            .await
            .expect("create build");
        setup.worker.run_until_idle().await.expect("worker");
        let row = build_row(&setup, created.build_id).await;
        assert_eq!(row.status.as_deref(), Some("FAILED"));
        let reason = row.status_info.unwrap_or_default();
        assert!(
            reason.contains("uv was not found") && reason.contains("/nonexistent/bin/uv"),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn periodic_jobs_measure_the_store_and_register_watched_specifications() {
    for backend in backends() {
        let watched = tempfile::tempdir().expect("watched dir");
        let settings = Settings {
            watch_paths: vec![watched.path().to_owned()],
            ..Settings::default()
        };
        let setup = setup_with(
            TestDatabase::create(backend).await,
            WorkerOptions::default(),
            settings,
        )
        .await;
        std::fs::write(
            watched.path().join("tools.yaml"),
            format!(
                "name: tools\nchannels:\n  - {}\ndependencies:\n  - hello\n",
                setup.channel.url()
            ),
        )
        .expect("write");
        std::fs::write(watched.path().join("broken.yml"), "name: [not, a, name]\n").expect("write");
        std::fs::write(watched.path().join("notes.txt"), "not a specification").expect("write");

        setup
            .worker
            .schedule_periodic_jobs()
            .await
            .expect("schedule");
        setup
            .worker
            .schedule_periodic_jobs()
            .await
            .expect("scheduling twice is harmless");
        // Metrics, watch paths, then the build they registered.
        assert_eq!(setup.worker.run_until_idle().await.expect("worker"), 3);

        let environment = environment::Entity::find()
            .filter(environment::Column::Name.eq("tools"))
            .one(setup.service.database())
            .await
            .expect("environment")
            .expect("registered from the watched file");
        let build_id = environment.current_build_id.expect("current build");
        assert_eq!(status(&setup, build_id).await, "COMPLETED");
        assert!(
            setup
                .root
                .join("store/filesystem/envs/tools/bin/hello")
                .exists()
        );
        // Already built there: not registered again.
        assert!(
            setup
                .service
                .register_watched_specifications()
                .await
                .expect("again")
                .is_empty()
        );

        let metrics = conda_store_db::entity::conda_store_configuration::Entity::find_by_id(1)
            .one(setup.service.database())
            .await
            .expect("metrics")
            .expect("row 1");
        assert!(metrics.total_storage.unwrap_or_default() > 0);
        // Free storage is what `storage_threshold` is compared with: the space available
        // to this process, not the file system's free blocks (which count the blocks
        // reserved for root); other tests write meanwhile, hence the margin.
        let available = fs4::available_space(&setup.root).expect("available space");
        let reported = u64::try_from(metrics.free_storage.unwrap_or_default()).unwrap_or(0);
        assert!(
            reported.abs_diff(available) < 1 << 30,
            "reported {reported}, available {available}"
        );
        // Both periodic jobs wait for their next run.
        let jobs = conda_store_db::entity::job::Entity::find()
            .filter(
                conda_store_db::entity::job::Column::Kind
                    .is_in(["update_storage_metrics", "watch_paths"]),
            )
            .all(setup.service.database())
            .await
            .expect("jobs");
        assert_eq!(jobs.len(), 2);
        let now = chrono::Utc::now().naive_utc();
        assert!(
            jobs.iter()
                .all(|job| job.state == "QUEUED" && job.run_after > now),
            "{jobs:?}"
        );
    }
}

/// Starts `setup`'s worker with a two-minute poll, lets it go idle, registers a build
/// through `service` and expects it COMPLETED long before the next poll.
async fn expect_started_without_polling(setup: Setup, service: &Service) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = setup.worker.clone();
    let running = tokio::spawn(async move { worker.run(1, stopped).await });
    // Let the worker go idle (its first poll finds the periodic job only).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let created = service
        .create_build(
            "default",
            specification(&setup.channel, "woken", &["hello"]),
        )
        .await
        .expect("create build");
    wait_for_status(
        &setup,
        created.build_id,
        "COMPLETED",
        Duration::from_secs(20),
    )
    .await;
    let _ = stop.send(true);
    running.abort();
}

fn slow_polling() -> WorkerOptions {
    WorkerOptions {
        poll_interval: Duration::from_secs(120),
        ..WorkerOptions::default()
    }
}

/// On PostgreSQL, a job queued by another process (here: another service over the
/// same database) wakes an idle worker through LISTEN/NOTIFY, not at its next poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_workers_start_new_jobs_without_waiting_for_the_poll() {
    if !backends().contains(&conda_store_test_support::Backend::Postgres) {
        return;
    }
    let database = TestDatabase::create(conda_store_test_support::Backend::Postgres).await;
    let setup = setup_with(database, slow_polling(), Settings::default()).await;
    let other_process = Service::new(
        setup.service.database().clone(),
        Arc::new(setup.service.settings().clone()),
        Arc::new(LocalStorage::new(setup.root.join("storage"))),
        setup.root.join("store"),
    );
    expect_started_without_polling(setup, &other_process).await;
}

/// On every backend, a job queued in this process wakes its idle workers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_workers_start_new_jobs_without_waiting_for_the_poll() {
    for backend in backends() {
        let setup = setup_with(
            TestDatabase::create(backend).await,
            slow_polling(),
            Settings::default(),
        )
        .await;
        let service = setup.service.clone();
        expect_started_without_polling(setup, &service).await;
    }
}

#[tokio::test]
async fn a_build_path_over_255_characters_fails_with_status_info() {
    let setup = setup(TestDatabase::create(conda_store_test_support::Backend::Sqlite).await).await;
    let name = "n".repeat(240);
    let created = submit(&setup, &name, &["hello"]).await;
    setup.worker.run_until_idle().await.expect("worker");
    let row = build_row(&setup, created.build_id).await;
    assert_eq!(row.status.as_deref(), Some("FAILED"));
    assert_eq!(
        row.status_info.as_deref(),
        Some("build_path too long: must be <= 255 characters")
    );
}

/// `CONDA_OVERRIDE_CUDA` among a specification's variables stands in for the machine's
/// (absent) CUDA driver when solving: a package needing `__cuda >=12` solves with it and
/// not without.
#[tokio::test]
async fn conda_override_cuda_from_the_variables_is_honoured() {
    let setup = setup(TestDatabase::create(conda_store_test_support::Backend::Sqlite).await).await;
    let channel = TestChannel::create(
        &setup.root.join("cuda-channel"),
        &[TestPackage::new("cuda-app", "1.0.0").depends(&["__cuda >=12"])],
    )
    .await;
    let yaml = |variables: &str| {
        format!(
            "name: gpu\nchannels:\n  - {}\ndependencies:\n  - cuda-app\n{variables}",
            channel.url()
        )
    };
    let submit_yaml = |text: String| {
        let service = setup.service.clone();
        async move {
            let specification = CondaSpecification::from_yaml(&text).expect("valid specification");
            service
                .create_build("default", Specification::Conda(specification))
                .await
                .expect("create build")
        }
    };
    let without = submit_yaml(yaml("")).await;
    setup.worker.run_until_idle().await.expect("worker");
    let row = build_row(&setup, without.build_id).await;
    assert_eq!(row.status.as_deref(), Some("FAILED"));
    let reason = row.status_info.unwrap_or_default();
    assert!(reason.contains("__cuda"), "{reason}");

    let with = submit_yaml(yaml("variables:\n  CONDA_OVERRIDE_CUDA: \"12.4\"\n")).await;
    setup.worker.run_until_idle().await.expect("worker");
    let row = build_row(&setup, with.build_id).await;
    assert_eq!(
        row.status.as_deref(),
        Some("COMPLETED"),
        "{:?}",
        row.status_info
    );
}

/// The `build_directory` and `environment_directory` templates place the prefix and
/// the symlink (here outside `store_directory`), `default_permissions` sets the modes,
/// `default_uid`/`default_gid` the owner (as root) or fail the build naming the file
/// (as anyone else), and deleting the build removes the prefix where the template put
/// it.
#[tokio::test]
async fn path_templates_and_permissions_are_applied() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let directory = tempfile::tempdir().expect("temp dir");
    let elsewhere = directory.path();
    let root = std::fs::metadata("/proc/self").expect("/proc/self").uid() == 0;
    let settings = Settings {
        build_directory: format!("{}/prefixes/{{namespace}}", elsewhere.display()),
        environment_directory: format!("{}/links/{{namespace}}-{{name}}", elsewhere.display()),
        default_permissions: Some("750".to_owned()),
        // As root: a new owner. As anyone else: root, which only root may give.
        default_uid: Some(if root { 4321 } else { 0 }),
        default_gid: Some(if root { 4321 } else { 0 }),
        ..Settings::default()
    };
    let setup = setup_with(
        TestDatabase::create(conda_store_test_support::Backend::Sqlite).await,
        WorkerOptions::default(),
        settings,
    )
    .await;
    let created = submit(&setup, "placed", &["hello"]).await;
    setup.worker.run_until_idle().await.expect("worker");
    let row = build_row(&setup, created.build_id).await;
    if !root {
        assert_eq!(row.status.as_deref(), Some("FAILED"));
        let reason = row.status_info.unwrap_or_default();
        assert!(
            reason.starts_with("cannot set the permissions of ")
                && reason.contains(&elsewhere.join("prefixes/default").display().to_string()),
            "{reason}"
        );
        return;
    }
    assert_eq!(
        row.status.as_deref(),
        Some("COMPLETED"),
        "{:?}",
        row.status_info
    );
    let prefix = artifact(&setup, created.build_id, "DIRECTORY")
        .await
        .expect("prefix");
    let prefix = Path::new(&prefix);
    assert_eq!(
        prefix.parent(),
        Some(elsewhere.join("prefixes/default").as_path())
    );
    assert_eq!(
        std::fs::read_link(elsewhere.join("links/default-placed")).expect("link"),
        prefix
    );
    let mode = |path: &Path| {
        std::fs::symlink_metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode(prefix), 0o750);
    assert_eq!(mode(&prefix.join("bin")), 0o750);
    assert_eq!(mode(&prefix.join("bin/hello")), 0o750, "executables keep x");
    let data = prefix.join("share/hello-data/greeting.txt");
    assert_eq!(mode(&data), 0o640, "data files get no x");
    for path in [prefix, &prefix.join("bin/hello"), &data] {
        let metadata = std::fs::symlink_metadata(path).expect("metadata");
        assert_eq!((metadata.uid(), metadata.gid()), (4321, 4321), "{path:?}");
    }

    // Another build becomes current, so the first can be deleted: its prefix goes,
    // though it lies outside store_directory.
    let second = setup
        .service
        .rebuild(created.build_id)
        .await
        .expect("rebuild");
    setup.worker.run_until_idle().await.expect("worker");
    assert_eq!(status(&setup, second).await, "COMPLETED");
    setup
        .service
        .delete_build(created.build_id)
        .await
        .expect("delete");
    setup.worker.run_until_idle().await.expect("worker");
    assert!(!prefix.exists(), "{prefix:?} is left");
}

/// Ten builds at once sharing every package: each package is extracted once into the
/// shared cache, and every cached file still matches the sha256 its package declares.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_builds_leave_the_package_cache_intact() {
    let setup = setup(TestDatabase::create(conda_store_test_support::Backend::Sqlite).await).await;
    let mut ids = Vec::new();
    for number in 0..10 {
        let created = submit(&setup, &format!("shared-{number}"), &["hello"]).await;
        ids.push(created.build_id);
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = setup.worker.clone();
    let running = tokio::spawn(async move { worker.run(10, stopped).await });
    for id in &ids {
        wait_for_status(&setup, *id, "COMPLETED", Duration::from_secs(60)).await;
    }
    let _ = stop.send(true);
    running.abort();

    let cache = setup.root.join("cache/pkgs");
    let mut packages = 0;
    for entry in std::fs::read_dir(&cache).expect("cache") {
        let directory = entry.expect("entry").path();
        let paths_json = directory.join("info/paths.json");
        if !paths_json.is_file() {
            continue;
        }
        packages += 1;
        let paths: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&paths_json).expect("paths.json"))
                .expect("json");
        for file in paths["paths"].as_array().expect("paths") {
            let relative = file["_path"].as_str().expect("_path");
            let expected = file["sha256"].as_str().expect("sha256");
            let bytes = std::fs::read(directory.join(relative)).expect("cached file");
            let actual: String =
                rattler_digest::compute_bytes_digest::<rattler_digest::Sha256>(&bytes)
                    .iter()
                    .map(|byte| format!("{byte:02x}"))
                    .collect();
            assert_eq!(actual, expected, "{} in the cache is corrupt", relative);
        }
    }
    assert_eq!(packages, 3, "each package extracted once");
}

#[tokio::test]
async fn environments_and_namespaces_are_deleted_with_all_their_files() {
    for backend in backends() {
        let setup = setup(TestDatabase::create(backend).await).await;
        let first = setup
            .service
            .create_build("team", specification(&setup.channel, "doomed", &["hello"]))
            .await
            .expect("build");
        let other = setup
            .service
            .create_build("team", specification(&setup.channel, "other", &["hello"]))
            .await
            .expect("build");
        setup.worker.run_until_idle().await.expect("worker");
        let log_key = artifact(&setup, first.build_id, "LOGS")
            .await
            .expect("LOGS");
        let prefix = artifact(&setup, first.build_id, "DIRECTORY")
            .await
            .expect("prefix");
        let waiting = setup
            .service
            .rebuild(first.build_id)
            .await
            .expect("queued rebuild");

        setup
            .service
            .delete_environment(first.environment_id)
            .await
            .expect("delete");
        assert_eq!(
            status(&setup, waiting).await,
            "CANCELED",
            "its waiting build is canceled"
        );
        let hidden = environment::Entity::find_by_id(first.environment_id)
            .one(setup.service.database())
            .await
            .expect("environment")
            .expect("row kept until the job runs");
        assert!(hidden.deleted_on.is_some());
        setup.worker.run_until_idle().await.expect("worker");
        let gone = environment::Entity::find_by_id(first.environment_id)
            .one(setup.service.database())
            .await
            .expect("environment");
        assert!(gone.is_none(), "environment row removed on {backend:?}");
        assert!(
            build::Entity::find_by_id(first.build_id)
                .one(setup.service.database())
                .await
                .expect("build")
                .is_none()
        );
        assert!(!Path::new(&prefix).exists());
        assert!(!setup.root.join("store/team/envs/doomed").exists());
        assert!(
            !setup
                .service
                .storage()
                .exists(&log_key)
                .await
                .expect("exists"),
            "kept types go too"
        );
        assert_eq!(
            status(&setup, other.build_id).await,
            "COMPLETED",
            "the other environment stays"
        );

        setup
            .service
            .delete_namespace("team")
            .await
            .expect("delete namespace");
        setup.worker.run_until_idle().await.expect("worker");
        let namespaces = conda_store_db::entity::namespace::Entity::find()
            .filter(conda_store_db::entity::namespace::Column::Name.eq("team"))
            .all(setup.service.database())
            .await
            .expect("namespaces");
        assert!(namespaces.is_empty(), "namespace removed on {backend:?}");
        assert!(
            build::Entity::find_by_id(other.build_id)
                .one(setup.service.database())
                .await
                .expect("build")
                .is_none()
        );
        let missing = setup.service.delete_namespace("team").await;
        assert!(matches!(
            missing,
            Err(conda_store_service::ServiceError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn an_unreachable_channel_fails_the_build_fast_naming_the_channel() {
    for backend in backends() {
        let setup = setup(TestDatabase::create(backend).await).await;
        // A port nothing listens on, and a host name that does not resolve.
        for channel in [
            "http://127.0.0.1:1/offline",
            "https://no-such-host.invalid/conda-forge",
        ] {
            let created = setup
                .service
                .create_build(
                    "default",
                    specification_from(channel, "offline", &["hello"]),
                )
                .await
                .expect("create build");
            let started = Instant::now();
            setup.worker.run_until_idle().await.expect("worker");
            let row = build_row(&setup, created.build_id).await;
            assert_eq!(row.status.as_deref(), Some("FAILED"));
            let reason = row.status_info.unwrap_or_default();
            assert!(reason.contains(channel), "{reason}");
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{:?}",
                started.elapsed()
            );
        }
    }
}
