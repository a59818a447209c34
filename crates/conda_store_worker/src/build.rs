//! One build, start to finish: solve every platform, store the lockfile, install the
//! current platform into the build path, resolve and install pip dependencies with uv
//! (then store the lockfile again, with them), point the environment symlink at it,
//! record the packages and the size. Every failure ends the build FAILED with the reason at
//! the end of its log.

use crate::channel_index::package_build;
use conda_store_build::{
    Engine, Lock, Permissions, PipInput, PypiPackage, SolveRequest, Uv, python_executable,
};
use conda_store_core::domain::{BuildArtifactType, BuildStatus};
use conda_store_core::lockfile_specification::{LockfileSpecification, Specification};
use conda_store_core::redaction::redact_credentials;
use conda_store_core::settings::current_platform;
use conda_store_core::specification::{CondaSpecification, Variable, normalize_channel};
use conda_store_service::{BuildContext, InstalledPackage, Service};
use rattler_conda_types::RepoDataRecord;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why a build failed: the last line of its log and its `status_info`.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(error: E) -> Self {
        Self(error.to_string())
    }
}

/// Builds `build_id`, recording the outcome through `service`.
pub async fn run(service: &Service, engine: &Engine, build_id: i32) {
    let context = match service.build_context(build_id).await {
        Ok(context) => context,
        Err(error) => {
            tracing::error!(
                "build {build_id}: {}",
                redact_credentials(&error.to_string())
            );
            return;
        }
    };
    let status = context.build.status.as_deref().unwrap_or_default();
    if status != BuildStatus::Queued.as_str() && status != BuildStatus::Building.as_str() {
        tracing::info!("build {build_id} is {status}; nothing to do");
        return;
    }
    if let Err(Failure(message)) = build(service, engine, &context).await {
        let _ = service.append_log(&context, &message).await;
        if let Err(error) = service
            .mark_build_finished(build_id, BuildStatus::Failed, Some(message))
            .await
        {
            tracing::error!(
                "build {build_id}: cannot record the failure: {}",
                redact_credentials(&error.to_string())
            );
        }
    }
}

async fn build(service: &Service, engine: &Engine, context: &BuildContext) -> Result<(), Failure> {
    service.mark_build_started(context).await?;
    let prefix = context.build_path(service).map_err(Failure)?;
    let started = chrono::Utc::now().naive_utc();
    service
        .append_log(
            context,
            &format!("starting build of conda environment {started} UTC"),
        )
        .await?;
    let platform = current_platform();
    let (mut lock, requirements, uv) = if context.specification.is_lockfile {
        let lock = read_lockfile(service, context).await?;
        let uv = match lock.pypi_packages(platform) {
            [] => None,
            _ => Some(locate_uv(service, engine, context)?),
        };
        (lock, PipInput::default(), uv)
    } else {
        // Checked again as at submission: a row stored before a rule existed must not
        // get through at build time.
        let specification = CondaSpecification::from_value(&context.specification.spec)?;
        let checked = Specification::Conda(specification.clone());
        service
            .check_fetched_urls(&checked, &context.settings)
            .await?;
        let entries: Vec<String> = specification
            .pip_dependencies()
            .map(str::to_owned)
            .collect();
        let requirements = PipInput::from_entries(&entries)?;
        // Before solving, so a missing uv fails the build at once.
        let uv = match entries.as_slice() {
            [] => None,
            _ => Some(locate_uv(service, engine, context)?),
        };
        let lock = solve(service, engine, context, &specification).await?;
        (lock, requirements, uv)
    };
    store_lockfile(service, context, &lock).await?;
    let records = lock
        .records(platform)
        .ok_or_else(|| Failure::from(format!("the lock has no {platform} packages")))?
        .to_vec();
    install(service, engine, context, &prefix, platform, &records).await?;
    if let Some(uv) = &uv {
        let python = python_executable(&prefix, platform);
        if !requirements.is_empty() {
            pin_pip_packages(service, context, uv, &python, &requirements, &mut lock).await?;
            store_lockfile(service, context, &lock).await?;
        }
        install_pip_packages(service, context, uv, &python, lock.pypi_packages(platform)).await?;
    }
    service.point_environment_symlink(context, &prefix).await?;
    set_permissions(service, context, &prefix).await?;
    service
        .record_packages(context.build.id, &installed_packages(&records))
        .await?;
    if context
        .settings
        .build_artifacts
        .contains(&BuildArtifactType::Yaml)
    {
        let export = environment_export(
            &context.environment.name,
            lock.channels(),
            &records,
            lock.pypi_packages(platform),
            &prefix,
        )?;
        service
            .store_artifact(context, BuildArtifactType::Yaml, export.as_bytes())
            .await?;
    }
    if context
        .settings
        .build_artifacts
        .contains(&BuildArtifactType::CondaPack)
    {
        store_conda_pack(service, context, &prefix).await?;
    }
    let size = directory_size(prefix.clone()).await?;
    service.mark_build_completed(context, &prefix, size).await?;
    service
        .append_log(
            context,
            &format!("build {} completed: {size} bytes", context.build.id),
        )
        .await?;
    Ok(())
}

/// Applies `default_permissions`, `default_uid` and `default_gid` to the prefix.
async fn set_permissions(
    service: &Service,
    context: &BuildContext,
    prefix: &Path,
) -> Result<(), Failure> {
    let settings = &context.settings;
    let permissions = Permissions::from_settings(
        settings.default_permissions.as_deref(),
        settings.default_uid,
        settings.default_gid,
    );
    if permissions.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let changed = permissions.apply(prefix).await?;
    service
        .append_log(
            context,
            &format!(
                "permissions applied to {}: {changed} entries changed in {:.1} ms",
                prefix.display(),
                milliseconds(started.elapsed())
            ),
        )
        .await?;
    Ok(())
}

/// Packs the prefix into the CONDA_PACK artifact, through a file beside the prefix.
async fn store_conda_pack(
    service: &Service,
    context: &BuildContext,
    prefix: &Path,
) -> Result<(), Failure> {
    service
        .append_log(context, "packing the environment (conda-pack archive)")
        .await?;
    let archive = prefix.with_file_name(format!(".{}.tar.gz.partial", context.key));
    let result = async {
        conda_store_build::conda_pack(prefix, &archive).await?;
        let key = context
            .artifact_key(BuildArtifactType::CondaPack)
            .ok_or("CONDA_PACK has no storage key")?;
        service.storage().put_file(&key, &archive).await?;
        service
            .ensure_artifact(context.build.id, BuildArtifactType::CondaPack, &key)
            .await?;
        Ok::<(), Failure>(())
    }
    .await;
    let _ = tokio::fs::remove_file(&archive).await;
    result
}

/// The lock of a lockfile specification, installed as it is, without solving.
async fn read_lockfile(service: &Service, context: &BuildContext) -> Result<Lock, Failure> {
    let specification = LockfileSpecification::from_value(&context.specification.spec)?;
    let checked = Specification::Lockfile(specification.clone());
    service
        .check_fetched_urls(&checked, &context.settings)
        .await?;
    service
        .append_log(
            context,
            "installing the packages of the specification's lockfile, without solving",
        )
        .await?;
    Ok(Lock::from_conda_lock(&specification.lockfile_text())?)
}

/// Stores the lock as the LOCKFILE artifact (again, once pip packages are pinned).
async fn store_lockfile(
    service: &Service,
    context: &BuildContext,
    lock: &Lock,
) -> Result<(), Failure> {
    let lockfile = redact_credentials(&lock.to_conda_lock_json()?);
    service
        .store_artifact(context, BuildArtifactType::Lockfile, lockfile.as_bytes())
        .await?;
    Ok(())
}

/// uv, as the `uv_command` setting or `PATH` gives it, with its cache beside the
/// package cache, building source distributions only if the settings allow it.
fn locate_uv(service: &Service, engine: &Engine, context: &BuildContext) -> Result<Uv, Failure> {
    Ok(Uv::locate(
        service.settings().uv_command.as_deref(),
        &engine.cache_directory().join("uv"),
    )?
    .allow_source_distributions(context.settings.pip_allow_source_distributions))
}

/// Pins the pip requirements for every platform of the lock, resolving with the
/// environment's own interpreter for that platform's python version.
async fn pin_pip_packages(
    service: &Service,
    context: &BuildContext,
    uv: &Uv,
    python: &Path,
    requirements: &PipInput,
    lock: &mut Lock,
) -> Result<(), Failure> {
    let platforms: Vec<String> = lock.platforms().map(str::to_owned).collect();
    for platform in platforms {
        let version = lock.python_version(&platform).ok_or_else(|| {
            Failure::from(format!(
                "pip dependencies need python among the conda dependencies, and the {platform} solution has none"
            ))
        })?;
        service
            .append_log(
                context,
                &format!("resolving pip dependencies for {platform} (python {version}) with uv"),
            )
            .await?;
        let packages = uv
            .resolve(python, requirements, &platform, &version)
            .await?;
        lock.set_pypi_packages(&platform, packages);
    }
    Ok(())
}

/// Installs the pinned pip distributions into the environment.
async fn install_pip_packages(
    service: &Service,
    context: &BuildContext,
    uv: &Uv,
    python: &Path,
    packages: &[PypiPackage],
) -> Result<(), Failure> {
    let names: Vec<String> = packages
        .iter()
        .map(|package| format!("{}=={}", package.name, package.version))
        .collect();
    service
        .append_log(
            context,
            &format!("installing pip packages with uv: {}", names.join(", ")),
        )
        .await?;
    Ok(uv.install(python, packages).await?)
}

/// Solves an `environment.yaml` specification for every solve platform.
async fn solve(
    service: &Service,
    engine: &Engine,
    context: &BuildContext,
    specification: &CondaSpecification,
) -> Result<Lock, Failure> {
    let request = solve_request(context, specification);
    service
        .append_log(
            context,
            &format!(
                "solving {} for {} from {}",
                request.specs.join(", "),
                request.platforms.join(", "),
                request.channels.join(", ")
            ),
        )
        .await?;
    let started = Instant::now();
    let lock = engine.lock(&request).await?;
    service
        .append_log(
            context,
            &format!("solved in {:.1} ms", milliseconds(started.elapsed())),
        )
        .await?;
    Ok(lock)
}

async fn install(
    service: &Service,
    engine: &Engine,
    context: &BuildContext,
    prefix: &Path,
    platform: &str,
    records: &[RepoDataRecord],
) -> Result<(), Failure> {
    service
        .append_log(
            context,
            &format!(
                "installing {} packages into {}",
                records.len(),
                prefix.display()
            ),
        )
        .await?;
    if let Some(parent) = prefix.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let started = Instant::now();
    engine.install(prefix, platform, records.to_vec()).await?;
    service
        .append_log(
            context,
            &format!("installed in {:.1} ms", milliseconds(started.elapsed())),
        )
        .await?;
    Ok(())
}

/// The solve request of a specification: channels normalised with the channel alias
/// (default channels when it names none), its conda dependencies, the solve platforms
/// and `CONDA_OVERRIDE_CUDA` from its variables.
fn solve_request(context: &BuildContext, specification: &CondaSpecification) -> SolveRequest {
    let settings = &context.settings;
    let channels = if specification.channels.is_empty() {
        &settings.conda_default_channels
    } else {
        &specification.channels
    };
    let cuda_override = specification
        .variables
        .as_ref()
        .and_then(|variables| variables.get("CONDA_OVERRIDE_CUDA"))
        .map(|value| match value {
            Variable::String(text) => text.clone(),
            Variable::Integer(number) => number.to_string(),
        });
    SolveRequest {
        channels: channels
            .iter()
            .map(|channel| normalize_channel(channel, &settings.conda_channel_alias))
            .collect(),
        specs: specification
            .conda_dependencies()
            .map(str::to_owned)
            .collect(),
        platforms: settings.conda_solve_platforms.clone(),
        cuda_override,
        timeout: settings.solve_time_limit(),
    }
}

fn installed_packages(records: &[RepoDataRecord]) -> Vec<InstalledPackage> {
    records
        .iter()
        .map(|record| {
            let channel = record.channel.clone().unwrap_or_else(|| {
                let url = record.url.as_str();
                // {channel}/{subdir}/{file}
                url.rsplitn(3, '/').nth(2).unwrap_or(url).to_owned()
            });
            InstalledPackage {
                channel,
                build: package_build(&record.package_record),
            }
        })
        .collect()
}

/// The pinned `environment.yaml` of an installed environment, as `conda env export`
/// writes it: every conda package as `name=version=build`, then the pip packages as
/// `name==version` in a `pip:` entry.
fn environment_export(
    name: &str,
    channels: &[String],
    records: &[RepoDataRecord],
    pypi_packages: &[PypiPackage],
    prefix: &Path,
) -> Result<String, Failure> {
    let mut dependencies: Vec<String> = records
        .iter()
        .map(|record| {
            let package = &record.package_record;
            format!(
                "{}={}={}",
                package.name.as_normalized(),
                package.version,
                package.build
            )
        })
        .collect();
    dependencies.sort();
    let mut dependencies: Vec<serde_json::Value> = dependencies
        .into_iter()
        .map(serde_json::Value::from)
        .collect();
    if !pypi_packages.is_empty() {
        let pip: Vec<String> = pypi_packages
            .iter()
            .map(|package| format!("{}=={}", package.name, package.version))
            .collect();
        dependencies.push(serde_json::json!({ "pip": pip }));
    }
    let document = serde_json::json!({
        "name": name,
        "channels": channels,
        "dependencies": dependencies,
        "prefix": prefix.display().to_string(),
    });
    Ok(redact_credentials(&serde_yaml::to_string(&document)?))
}

fn milliseconds(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Bytes of the prefix, hardlinks counted once.
async fn directory_size(path: PathBuf) -> Result<i64, Failure> {
    let bytes =
        tokio::task::spawn_blocking(move || conda_store_service::disk_usage(&path)).await??;
    Ok(i64::try_from(bytes).unwrap_or(i64::MAX))
}
