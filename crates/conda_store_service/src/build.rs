//! The build lifecycle as the worker reports it: started, log lines, artifacts,
//! installed packages, completed, failed, canceled.

use crate::{PackageBuild, Service, ServiceError, SettingsLevel, insert_unless_exists};
use chrono::Utc;
use conda_store_core::build_key::{BuildKeyParts, artifact_key};
use conda_store_core::domain::{BuildArtifactType, BuildStatus};
use conda_store_core::paths;
use conda_store_core::settings::Settings;
use conda_store_db::entity::{
    build, build_artifact, build_conda_package_build, conda_channel, conda_package,
    conda_package_build, environment, namespace, specification,
};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

/// Everything a worker needs to know about a build.
#[derive(Debug)]
pub struct BuildContext {
    /// The build row.
    pub build: build::Model,
    /// Its specification.
    pub specification: specification::Model,
    /// Its environment.
    pub environment: environment::Model,
    /// The environment's namespace name.
    pub namespace: String,
    /// The build key (names the prefix and the artifacts).
    pub key: String,
    /// The settings in effect for its environment (deployment, then the runtime
    /// settings of the deployment, the namespace and the environment).
    pub settings: Settings,
    /// Whether this context has recorded the LOGS artifact row, so appending a log
    /// line costs no database round trip after the first.
    logs_recorded: AtomicBool,
}

/// One conda package installed in a build: its channel and package build.
#[derive(Debug, Clone)]
pub struct InstalledPackage {
    /// The channel URL it came from.
    pub channel: String,
    /// The package build.
    pub build: PackageBuild,
}

impl BuildContext {
    /// The prefix directory: the `build_directory` template, then the key (namespace
    /// empty for key version 3, as in the Python conda-store).
    pub fn build_path(&self, service: &Service) -> Result<PathBuf, String> {
        let namespace = match self.build.build_key_version {
            3 => "",
            _ => self.namespace.as_str(),
        };
        paths::build_path(
            &service.settings.build_directory,
            &service.store_directory,
            namespace,
            &self.key,
        )
        .map_err(|error| error.to_string())
    }

    /// The environment symlink, from the `environment_directory` template; none for key
    /// version 3, as in the Python conda-store.
    pub fn environment_path(&self, service: &Service) -> Result<Option<PathBuf>, String> {
        if self.build.build_key_version == 3 {
            return Ok(None);
        }
        paths::environment_path(
            &service.settings.environment_directory,
            &service.store_directory,
            &self.namespace,
            &self.environment.name,
        )
        .map(Some)
        .map_err(|error| error.to_string())
    }

    /// The storage key of an artifact of this build.
    pub fn artifact_key(&self, artifact: BuildArtifactType) -> Option<String> {
        artifact_key(artifact, &self.key)
    }
}

impl Service {
    /// Loads a build with its specification, environment and namespace.
    pub async fn build_context(&self, build_id: i32) -> Result<BuildContext, ServiceError> {
        let not_found = || ServiceError::NotFound(format!("build {build_id}"));
        let build = build::Entity::find_by_id(build_id)
            .one(&self.database)
            .await?
            .ok_or_else(not_found)?;
        let specification = specification::Entity::find_by_id(build.specification_id)
            .one(&self.database)
            .await?
            .ok_or_else(not_found)?;
        let environment = environment::Entity::find_by_id(build.environment_id)
            .one(&self.database)
            .await?
            .ok_or_else(not_found)?;
        let namespace = namespace::Entity::find_by_id(environment.namespace_id)
            .one(&self.database)
            .await?
            .and_then(|namespace| namespace.name)
            .ok_or_else(not_found)?;
        let scheduled_on = build.scheduled_on.unwrap_or_default();
        let key = BuildKeyParts {
            version: build.build_key_version,
            build_id: i64::from(build.id),
            specification_sha256: &specification.sha256,
            specification_name: &specification.name,
            namespace: &namespace,
            scheduled_on,
        }
        .key()
        .map_err(|error| ServiceError::Internal(error.to_string()))?;
        let settings = self
            .effective_settings(SettingsLevel::Environment(&namespace, &environment.name))
            .await?;
        Ok(BuildContext {
            build,
            specification,
            environment,
            namespace,
            key,
            settings,
            logs_recorded: AtomicBool::new(false),
        })
    }

    /// BUILDING, `started_on` now (and `hash` for key version 3).
    pub async fn mark_build_started(&self, context: &BuildContext) -> Result<(), ServiceError> {
        build::ActiveModel {
            id: Set(context.build.id),
            status: Set(Some(BuildStatus::Building.to_string())),
            started_on: Set(Some(Utc::now().naive_utc())),
            ended_on: Set(None),
            hash: Set((context.build.build_key_version == 3).then(|| context.key.clone())),
            ..Default::default()
        }
        .update(&self.database)
        .await?;
        Ok(())
    }

    /// Appends `text` to the build log, creating the LOGS artifact row on the
    /// context's first line.
    pub async fn append_log(&self, context: &BuildContext, text: &str) -> Result<(), ServiceError> {
        let Some(key) = context.artifact_key(BuildArtifactType::Logs) else {
            return Ok(());
        };
        let mut line = conda_store_core::redaction::redact_credentials(text);
        if !line.ends_with('\n') {
            line.push('\n');
        }
        self.storage.append(&key, line.as_bytes()).await?;
        if context.logs_recorded.load(Ordering::Acquire) {
            return Ok(());
        }
        self.ensure_artifact(context.build.id, BuildArtifactType::Logs, &key)
            .await?;
        context.logs_recorded.store(true, Ordering::Release);
        Ok(())
    }

    /// Stores `bytes` as an artifact of the build and records it.
    pub async fn store_artifact(
        &self,
        context: &BuildContext,
        artifact: BuildArtifactType,
        bytes: &[u8],
    ) -> Result<(), ServiceError> {
        let key = context
            .artifact_key(artifact)
            .ok_or_else(|| ServiceError::Internal(format!("{artifact} has no storage key")))?;
        self.storage.put(&key, bytes).await?;
        self.ensure_artifact(context.build.id, artifact, &key).await
    }

    /// Adds an artifact row unless the same one exists.
    pub async fn ensure_artifact(
        &self,
        build_id: i32,
        artifact: BuildArtifactType,
        key: &str,
    ) -> Result<(), ServiceError> {
        let exists = build_artifact::Entity::find()
            .filter(build_artifact::Column::BuildId.eq(build_id))
            .filter(build_artifact::Column::ArtifactType.eq(artifact.to_string()))
            .filter(build_artifact::Column::Key.eq(key))
            .one(&self.database)
            .await?
            .is_some();
        if !exists {
            build_artifact::ActiveModel {
                build_id: Set(Some(build_id)),
                artifact_type: Set(artifact.to_string()),
                key: Set(Some(key.to_owned())),
                ..Default::default()
            }
            .insert(&self.database)
            .await?;
        }
        Ok(())
    }

    /// Records every installed package (channel, package, package build rows as
    /// needed) and links them to the build, replacing the links an earlier attempt of
    /// the same build recorded.
    pub async fn record_packages(
        &self,
        build_id: i32,
        packages: &[InstalledPackage],
    ) -> Result<(), ServiceError> {
        // A retry after a crash replaces what the interrupted attempt recorded, so
        // recording is idempotent (issue 10). Only then: on MySQL a DELETE of an empty
        // range takes gap locks that deadlock with other builds' inserts.
        let recorded_before = build_conda_package_build::Entity::find()
            .filter(build_conda_package_build::Column::BuildId.eq(build_id))
            .one(&self.database)
            .await?
            .is_some();
        let transaction = conda_store_db::begin_write(&self.database).await?;
        if recorded_before {
            build_conda_package_build::Entity::delete_many()
                .filter(build_conda_package_build::Column::BuildId.eq(build_id))
                .exec(&transaction)
                .await?;
        }
        for package in packages {
            let package_build_id = ensure_package_build(&transaction, package).await?;
            build_conda_package_build::Entity::insert(build_conda_package_build::ActiveModel {
                build_id: Set(build_id),
                conda_package_build_id: Set(package_build_id),
            })
            .exec_without_returning(&transaction)
            .await?;
        }
        transaction.commit().await?;
        Ok(())
    }

    /// COMPLETED: size, `ended_on`, the DIRECTORY artifact, and the build becomes the
    /// environment's current build. Returns `false` (and changes nothing) when the
    /// build is no longer BUILDING, for example because it was canceled meanwhile.
    pub async fn mark_build_completed(
        &self,
        context: &BuildContext,
        prefix: &std::path::Path,
        size: i64,
    ) -> Result<bool, ServiceError> {
        let transaction = conda_store_db::begin_write(&self.database).await?;
        let updated = build::Entity::update_many()
            .col_expr(
                build::Column::Status,
                BuildStatus::Completed.to_string().into(),
            )
            .col_expr(build::Column::EndedOn, Utc::now().naive_utc().into())
            .col_expr(build::Column::Size, size.into())
            .filter(build::Column::Id.eq(context.build.id))
            .filter(build::Column::Status.eq(BuildStatus::Building.to_string()))
            .exec(&transaction)
            .await?;
        if updated.rows_affected == 0 {
            transaction.rollback().await?;
            return Ok(false);
        }
        environment::ActiveModel {
            id: Set(context.environment.id),
            current_build_id: Set(Some(context.build.id)),
            ..Default::default()
        }
        .update(&transaction)
        .await?;
        transaction.commit().await?;
        self.ensure_artifact(
            context.build.id,
            BuildArtifactType::Directory,
            &prefix.display().to_string(),
        )
        .await?;
        Ok(true)
    }

    /// Cancels a QUEUED or BUILDING build: CANCELED at once. A worker running it stops
    /// at its next heartbeat (within seconds) and ends the log with the Python
    /// conda-store's line; a build no worker runs gets that line here.
    pub async fn cancel_build(&self, build_id: i32) -> Result<(), ServiceError> {
        let context = self.build_context(build_id).await?;
        let status = context.build.status.clone().unwrap_or_default();
        if status != BuildStatus::Queued.as_str() && status != BuildStatus::Building.as_str() {
            return Err(ServiceError::Conflict(format!(
                "build {build_id} is {status}; only QUEUED and BUILDING builds can be canceled"
            )));
        }
        let job =
            conda_store_db::queue::cancel(&self.database, &format!("build:{build_id}")).await?;
        self.mark_build_finished(build_id, BuildStatus::Canceled, None)
            .await?;
        if job == Some(conda_store_db::queue::JobState::Running) {
            return Ok(());
        }
        self.append_canceled_line(&context).await
    }

    /// Ends the log of a canceled build with the Python conda-store's line.
    pub async fn append_canceled_line(&self, context: &BuildContext) -> Result<(), ServiceError> {
        let id = context.build.id;
        self.append_log(
            context,
            &format!("build {id} marked as CANCELED due to being canceled from the REST API"),
        )
        .await
    }

    /// A BUILDING build whose worker is shutting down becomes QUEUED again, with a log
    /// line saying so; the caller then returns its job to the queue.
    pub async fn mark_build_interrupted(
        &self,
        build_id: i32,
        worker: &str,
    ) -> Result<(), ServiceError> {
        build::Entity::update_many()
            .col_expr(
                build::Column::Status,
                BuildStatus::Queued.to_string().into(),
            )
            .filter(build::Column::Id.eq(build_id))
            .filter(build::Column::Status.eq(BuildStatus::Building.to_string()))
            .exec(&self.database)
            .await?;
        let context = self.build_context(build_id).await?;
        self.append_log(
            &context,
            &format!(
                "worker `{worker}` is shutting down: build {build_id} is queued again and starts over when a worker runs"
            ),
        )
        .await
    }

    /// FAILED (or CANCELED), `ended_on` now, with `status_info` when given. A build
    /// already finished is left as it is.
    pub async fn mark_build_finished(
        &self,
        build_id: i32,
        status: BuildStatus,
        status_info: Option<String>,
    ) -> Result<(), ServiceError> {
        build::Entity::update_many()
            .col_expr(build::Column::Status, status.to_string().into())
            .col_expr(build::Column::EndedOn, Utc::now().naive_utc().into())
            .col_expr(
                build::Column::StatusInfo,
                status_info
                    .map(|text| conda_store_core::redaction::redact_credentials(&text))
                    .into(),
            )
            .filter(build::Column::Id.eq(build_id))
            .filter(build::Column::Status.is_in([
                BuildStatus::Queued.to_string(),
                BuildStatus::Building.to_string(),
            ]))
            .exec(&self.database)
            .await?;
        Ok(())
    }
}

/// The id of the `conda_channel` row named `url`, created when missing.
pub(crate) async fn ensure_channel<C: ConnectionTrait>(
    connection: &C,
    url: &str,
) -> Result<i32, ServiceError> {
    let row = conda_channel::ActiveModel {
        name: Set(url.to_owned()),
        ..Default::default()
    };
    insert_unless_exists(connection, row, [conda_channel::Column::Name]).await?;
    conda_channel::Entity::find()
        .filter(conda_channel::Column::Name.eq(url))
        .one(connection)
        .await?
        .map(|found| found.id)
        .ok_or_else(|| ServiceError::Internal(format!("channel {url} vanished")))
}

async fn ensure_package_build<C: ConnectionTrait>(
    connection: &C,
    package: &InstalledPackage,
) -> Result<i32, ServiceError> {
    let channel_id = ensure_channel(connection, &package.channel).await?;
    let package = &package.build;
    let row = conda_package::ActiveModel {
        channel_id: Set(Some(channel_id)),
        name: Set(package.name.clone()),
        version: Set(package.version.clone()),
        license: Set(package.license.clone()),
        license_family: Set(package.license_family.clone()),
        ..Default::default()
    };
    use conda_package::Column as Package;
    insert_unless_exists(
        connection,
        row,
        [Package::ChannelId, Package::Name, Package::Version],
    )
    .await?;
    let package_id = conda_package::Entity::find()
        .filter(Package::ChannelId.eq(channel_id))
        .filter(Package::Name.eq(package.name.clone()))
        .filter(Package::Version.eq(package.version.clone()))
        .one(connection)
        .await?
        .map(|found| found.id)
        .ok_or_else(|| ServiceError::Internal(format!("package {} vanished", package.name)))?;
    let row = conda_package_build::ActiveModel {
        package_id: Set(Some(package_id)),
        channel_id: Set(Some(channel_id)),
        build: Set(package.build.clone()),
        build_number: Set(package.build_number),
        constrains: Set(Some(serde_json::json!(package.constrains))),
        depends: Set(serde_json::json!(package.depends)),
        md5: Set(package.md5.clone()),
        sha256: Set(package.sha256.clone()),
        size: Set(package.size),
        subdir: Set(Some(package.subdir.clone())),
        timestamp: Set(package.timestamp),
        ..Default::default()
    };
    use conda_package_build::Column as Build;
    let unique = [
        Build::ChannelId,
        Build::PackageId,
        Build::Subdir,
        Build::Build,
        Build::BuildNumber,
        Build::Sha256,
    ];
    insert_unless_exists(connection, row, unique).await?;
    conda_package_build::Entity::find()
        .filter(Build::ChannelId.eq(channel_id))
        .filter(Build::PackageId.eq(package_id))
        .filter(Build::Subdir.eq(package.subdir.clone()))
        .filter(Build::Build.eq(package.build.clone()))
        .filter(Build::BuildNumber.eq(package.build_number))
        .filter(Build::Sha256.eq(package.sha256.clone()))
        .one(connection)
        .await?
        .map(|found| found.id)
        .ok_or_else(|| ServiceError::Internal(format!("package build {} vanished", package.name)))
}
