//! One build, start to finish: solve every platform, store the lockfile, install the
//! current platform into the build path, point the environment symlink at it, record
//! the packages and the size. Every failure ends the build FAILED with the reason at
//! the end of its log.

use conda_store_build::{Engine, Lock, SolveRequest};
use conda_store_core::domain::{BuildArtifactType, BuildStatus};
use conda_store_core::lockfile_specification::LockfileSpecification;
use conda_store_core::settings::current_platform;
use conda_store_core::specification::{CondaSpecification, Variable, normalize_channel};
use conda_store_service::{BuildContext, InstalledPackage, Service};
use rattler_conda_types::RepoDataRecord;
use std::path::{Path, PathBuf};

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
            tracing::error!("build {build_id}: {error}");
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
            tracing::error!("build {build_id}: cannot record the failure: {error}");
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
    let lock = if context.specification.is_lockfile {
        let specification = LockfileSpecification::from_value(&context.specification.spec)?;
        service
            .append_log(
                context,
                "installing the packages of the specification's lockfile, without solving",
            )
            .await?;
        Lock::from_conda_lock(&specification.lockfile_text())?
    } else {
        solve(service, engine, context).await?
    };
    let lockfile = lock.to_conda_lock_json()?;
    service
        .store_artifact(context, BuildArtifactType::Lockfile, lockfile.as_bytes())
        .await?;
    let platform = current_platform();
    let records = lock
        .records(platform)
        .ok_or_else(|| Failure::from(format!("the lock has no {platform} packages")))?
        .to_vec();
    install(service, engine, context, &prefix, platform, &records).await?;
    service
        .record_packages(context.build.id, &installed_packages(&records))
        .await?;
    if service
        .settings()
        .build_artifacts
        .contains(&BuildArtifactType::Yaml)
    {
        let export = environment_export(
            &context.environment.name,
            lock.channels(),
            &records,
            &prefix,
        )?;
        service
            .store_artifact(context, BuildArtifactType::Yaml, export.as_bytes())
            .await?;
    }
    if service
        .settings()
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

/// Solves an `environment.yaml` specification for every solve platform.
async fn solve(
    service: &Service,
    engine: &Engine,
    context: &BuildContext,
) -> Result<Lock, Failure> {
    let specification = CondaSpecification::from_value(&context.specification.spec)?;
    if specification.pip_dependencies().next().is_some() {
        return Err(Failure::from(
            "pip dependencies are not supported by this conda-store-server yet",
        ));
    }
    let request = solve_request(service, &specification);
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
    Ok(engine.lock(&request).await?)
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
    engine.install(prefix, platform, records.to_vec()).await?;
    service.point_environment_symlink(context, prefix).await?;
    Ok(())
}

/// The solve request of a specification: channels normalised with the channel alias
/// (default channels when it names none), its conda dependencies, the solve platforms
/// and `CONDA_OVERRIDE_CUDA` from its variables.
fn solve_request(service: &Service, specification: &CondaSpecification) -> SolveRequest {
    let settings = service.settings();
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
    }
}

fn installed_packages(records: &[RepoDataRecord]) -> Vec<InstalledPackage> {
    records
        .iter()
        .map(|record| {
            let package = &record.package_record;
            let channel = record.channel.clone().unwrap_or_else(|| {
                let url = record.url.as_str();
                // {channel}/{subdir}/{file}
                url.rsplitn(3, '/').nth(2).unwrap_or(url).to_owned()
            });
            InstalledPackage {
                channel,
                name: package.name.as_normalized().to_owned(),
                version: package.version.to_string(),
                build: package.build.to_string(),
                build_number: i32::try_from(package.build_number).unwrap_or(i32::MAX),
                depends: package.depends.clone(),
                constrains: package.constrains.clone(),
                md5: package.md5.map(|hash| hex(&hash)).unwrap_or_default(),
                sha256: package.sha256.map(|hash| hex(&hash)).unwrap_or_default(),
                size: package
                    .size
                    .and_then(|size| i64::try_from(size).ok())
                    .unwrap_or(-1),
                subdir: package.subdir.clone(),
                timestamp: package
                    .timestamp
                    .map(|timestamp| timestamp.timestamp_millis()),
                license: package.license.clone(),
                license_family: package.license_family.clone(),
            }
        })
        .collect()
}

/// The pinned `environment.yaml` of an installed environment, as `conda env export`
/// writes it: every package as `name=version=build`.
fn environment_export(
    name: &str,
    channels: &[String],
    records: &[RepoDataRecord],
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
    let document = serde_json::json!({
        "name": name,
        "channels": channels,
        "dependencies": dependencies,
        "prefix": prefix.display().to_string(),
    });
    Ok(serde_yaml::to_string(&document)?)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Bytes of the prefix, hardlinks counted once.
async fn directory_size(path: PathBuf) -> Result<i64, Failure> {
    let bytes =
        tokio::task::spawn_blocking(move || conda_store_service::disk_usage(&path)).await??;
    Ok(i64::try_from(bytes).unwrap_or(i64::MAX))
}
