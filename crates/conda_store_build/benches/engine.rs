//! Benchmarks of the build engine, printing numbers (run: `cargo bench -p conda_store_build`,
//! or `cargo bench -p conda_store_build --profile dev` for a quick look):
//!
//! 1. solve only: `Engine::lock` against calling `rattler_solve` directly on the same
//!    repodata, as a ratio (goal: within 1.2x), on a small local channel and the real
//!    conda-forge numpy subset of ../shared/data (the sudoku instance there is encoded
//!    for libmamba's semantics and has no solution under resolvo as given);
//! 2. twenty installs at once sharing their packages, from an HTTP mirror: total time and
//!    downloads per package (goal: exactly one each);
//! 3. install of a 20,000-file environment from a warm cache against `cp -al` of the
//!    same tree on the same disk (goal: within 2x).

#![allow(clippy::expect_used, clippy::unwrap_used, missing_docs)]

use conda_store_build::{Engine, SolveRequest};
use conda_store_test_support::channel::{TestChannel, TestFile, TestPackage, standard_packages};
use conda_store_test_support::http::SlowChannelServer;
use conda_store_test_support::shared_data;
use rattler_conda_types::{Channel, ChannelConfig, MatchSpec, ParseMatchSpecOptions, Subdir};
use rattler_repodata_gateway::Gateway;
use rattler_solve::{SolverImpl, SolverTask, resolvo};
use rattler_virtual_packages::{VirtualPackageOverrides, VirtualPackages};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 15;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

async fn direct_solve(
    gateway: &Gateway,
    channel: &str,
    specs: &[String],
    platform: Subdir,
) -> usize {
    let channel =
        Channel::from_str(channel, &ChannelConfig::default_with_root_dir("/".into())).unwrap();
    let specs: Vec<MatchSpec> = specs
        .iter()
        .map(|spec| MatchSpec::from_str(spec, ParseMatchSpecOptions::lenient()).unwrap())
        .collect();
    let repodata = gateway
        .query([channel], [platform, Subdir::NoArch], specs.clone())
        .recursive(true)
        .await
        .unwrap();
    let virtual_packages =
        VirtualPackages::detect_for_platform(platform, &VirtualPackageOverrides::default(), None)
            .unwrap()
            .into_generic_virtual_packages()
            .collect();
    tokio::task::spawn_blocking(move || {
        let task = SolverTask {
            virtual_packages,
            specs,
            ..SolverTask::from_iter(&repodata)
        };
        resolvo::Solver.solve(task).unwrap().records.len()
    })
    .await
    .unwrap()
}

async fn solve_case(name: &str, channel: &str, specs: &[&str], platform: &str, cache: &Path) {
    let specs: Vec<String> = specs.iter().map(|spec| (*spec).to_owned()).collect();
    let engine = Engine::new(&cache.join(format!("engine-{name}")));
    let request = SolveRequest {
        channels: vec![channel.to_owned()],
        specs: specs.clone(),
        platforms: vec![platform.to_owned()],
        cuda_override: None,
        timeout: None,
    };
    let gateway = Gateway::builder()
        .with_cache_dir(cache.join(format!("direct-{name}")))
        .finish();
    let subdir = Subdir::from_str(platform).unwrap();
    // Warm both (repodata parsed and held in memory), then alternate the measurements.
    let packages = engine
        .lock(&request)
        .await
        .unwrap()
        .records(platform)
        .unwrap()
        .len();
    assert_eq!(
        direct_solve(&gateway, channel, &specs, subdir).await,
        packages
    );
    let (mut ours, mut direct) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        engine.lock(&request).await.unwrap();
        ours.push(started.elapsed());
        let started = Instant::now();
        direct_solve(&gateway, channel, &specs, subdir).await;
        direct.push(started.elapsed());
    }
    let (ours, direct) = (median(ours), median(direct));
    println!(
        "solve {name:<22} {packages:>3} packages  engine {:>8.2} ms  rattler_solve {:>8.2} ms  ratio {:.2}",
        milliseconds(ours),
        milliseconds(direct),
        ours.as_secs_f64() / direct.as_secs_f64()
    );
}

/// A solve-only channel directory from a shared repodata file (with `info.subdir` set
/// and `null` lists made empty, which some upstream test files need), plus empty
/// repodata for the other subdirs.
fn solve_only_channel(root: &Path, name: &str, subdir: &str, repodata: &Path) -> String {
    let directory = root.join(name);
    for folder in ["noarch", "linux-64"] {
        std::fs::create_dir_all(directory.join(folder)).unwrap();
        let empty =
            serde_json::json!({"info": {"subdir": folder}, "packages": {}, "packages.conda": {}});
        std::fs::write(
            directory.join(folder).join("repodata.json"),
            empty.to_string(),
        )
        .unwrap();
    }
    let mut document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repodata).unwrap()).unwrap();
    document["info"] = serde_json::json!({ "subdir": subdir });
    // Some upstream files write `null` for empty lists, which repodata readers refuse.
    for section in ["packages", "packages.conda"] {
        if let Some(records) = document[section].as_object_mut() {
            for record in records.values_mut() {
                for list in ["depends", "constrains", "track_features"] {
                    if record[list].is_null() || record[list] == "" {
                        record[list] = serde_json::json!([]);
                    }
                }
            }
        }
    }
    std::fs::write(
        directory.join(subdir).join("repodata.json"),
        document.to_string(),
    )
    .unwrap();
    format!("file://{}", directory.display())
}

async fn install_case(root: &Path) {
    let files = 20_000;
    let mut package = TestPackage::new("many-files", "1.0.0");
    for number in 0..files {
        package = package.file(TestFile::data(
            &format!("share/many/{:03}/{number}.txt", number / 100),
            "x\n",
        ));
    }
    let channel = TestChannel::create(&root.join("many-channel"), &[package]).await;
    let engine = Engine::new(&root.join("many-cache"));
    let request = SolveRequest {
        channels: vec![channel.url()],
        specs: vec!["many-files".to_owned()],
        platforms: vec!["linux-64".to_owned()],
        cuda_override: None,
        timeout: None,
    };
    let records = engine
        .lock(&request)
        .await
        .unwrap()
        .records("linux-64")
        .unwrap()
        .to_vec();
    let started = Instant::now();
    engine
        .install(&root.join("many-cold"), "linux-64", records.clone())
        .await
        .unwrap();
    let cold = started.elapsed();
    let (mut warm, mut copy) = (Vec::new(), Vec::new());
    for round in 0..5 {
        let started = Instant::now();
        engine
            .install(
                &root.join(format!("many-warm-{round}")),
                "linux-64",
                records.clone(),
            )
            .await
            .unwrap();
        warm.push(started.elapsed());
        let started = Instant::now();
        let status = std::process::Command::new("cp")
            .arg("-al")
            .arg(root.join("many-cold"))
            .arg(root.join(format!("many-copy-{round}")))
            .status()
            .unwrap();
        assert!(status.success());
        copy.push(started.elapsed());
    }
    let (warm, copy) = (median(warm), median(copy));
    println!(
        "install {files} files  cold cache {:>8.1} ms  warm cache {:>8.1} ms  cp -al {:>8.1} ms  ratio {:.2}",
        milliseconds(cold),
        milliseconds(warm),
        milliseconds(copy),
        warm.as_secs_f64() / copy.as_secs_f64()
    );
}

/// Twenty builds' installs at once from an HTTP mirror of the local channel, sharing
/// every package: total time, and how often each archive was downloaded.
async fn concurrent_case(root: &Path, local: &TestChannel) {
    let server = SlowChannelServer::start(local.directory.clone(), Duration::ZERO).await;
    let engine = Arc::new(Engine::new(&root.join("concurrent-cache")));
    let request = SolveRequest {
        channels: vec![server.url.clone()],
        specs: vec!["hello".to_owned()],
        platforms: vec!["linux-64".to_owned()],
        cuda_override: None,
        timeout: None,
    };
    let records = engine
        .lock(&request)
        .await
        .unwrap()
        .records("linux-64")
        .unwrap()
        .to_vec();
    let started = Instant::now();
    let mut installs = tokio::task::JoinSet::new();
    for number in 0..20 {
        let engine = engine.clone();
        let records = records.clone();
        let prefix = root.join(format!("concurrent-{number}"));
        installs.spawn(async move { engine.install(&prefix, "linux-64", records).await.unwrap() });
    }
    while installs.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let downloads: Vec<usize> = records
        .iter()
        .map(|record| {
            server.downloads(&format!(
                "/{}/{}",
                record.package_record.subdir, record.identifier
            ))
        })
        .collect();
    println!(
        "20 concurrent installs sharing {} packages  total {:>8.1} ms  downloads per package {downloads:?}",
        records.len(),
        milliseconds(elapsed)
    );
}

#[tokio::main]
async fn main() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let local = TestChannel::create(&root.join("local"), &standard_packages()).await;
    solve_case("local hello", &local.url(), &["hello"], "linux-64", root).await;

    let data = shared_data();
    let numpy = solve_only_channel(
        root,
        "numpy",
        "linux-64",
        &data.join("channels/conda-forge-numpy-subset/linux-64/repodata.json"),
    );
    solve_case("conda-forge numpy", &numpy, &["numpy"], "linux-64", root).await;

    concurrent_case(root, &local).await;
    install_case(root).await;
}
