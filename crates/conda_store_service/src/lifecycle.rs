//! Environment lifecycle: choose the current build, rebuild, delete builds; and the
//! free-space guard on new builds.

use crate::{BuildContext, Service, ServiceError, build_job};
use chrono::Utc;
use conda_store_core::authorization::{SQL_LIKE_ESCAPE, sql_like_pattern};
use conda_store_core::domain::{BuildArtifactType, BuildStatus};
use conda_store_db::entity::{
    build, build_artifact, build_conda_package_build, environment, keyvaluestore, namespace,
    namespace_role_mapping, namespace_role_mapping_v2,
};
use conda_store_db::queue::{self, NewJob};
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// The job kind that removes a deleted build's files; payload `{"build_id": N}`.
pub const DELETE_BUILD_JOB: &str = "delete_build";

impl Service {
    /// Refuses new builds when the free space under `store_directory` is below
    /// `storage_threshold`.
    pub fn check_free_space(&self) -> Result<(), ServiceError> {
        let mut directory = self.store_directory.as_path();
        // The store may not exist yet: measure the nearest existing ancestor.
        while !directory.exists() {
            match directory.parent() {
                Some(parent) => directory = parent,
                None => break,
            }
        }
        let free = fs4::available_space(directory).map_err(|error| {
            ServiceError::Internal(format!("free space of {}: {error}", directory.display()))
        })?;
        let threshold = self.settings.storage_threshold;
        if free < threshold {
            return Err(ServiceError::InsufficientStorage(format!(
                "only {free} bytes free under {}, below storage_threshold ({threshold} bytes)",
                self.store_directory.display()
            )));
        }
        Ok(())
    }

    /// Makes a COMPLETED build of an environment its current build and points the
    /// environment symlink at it.
    pub async fn set_current_build(
        &self,
        environment_id: i32,
        build_id: i32,
    ) -> Result<(), ServiceError> {
        let context = self.build_context(build_id).await?;
        if context.environment.id != environment_id {
            return Err(ServiceError::Invalid(format!(
                "build {build_id} does not belong to environment {environment_id}"
            )));
        }
        if context.build.status.as_deref() != Some(BuildStatus::Completed.as_str())
            || context.build.deleted_on.is_some()
        {
            return Err(ServiceError::Invalid(format!(
                "build {build_id} is not a completed build; only completed builds can be current"
            )));
        }
        environment::ActiveModel {
            id: Set(environment_id),
            current_build_id: Set(Some(build_id)),
            ..Default::default()
        }
        .update(&self.database)
        .await?;
        let prefix = context.build_path(self).map_err(ServiceError::Invalid)?;
        self.point_environment_symlink(&context, &prefix).await
    }

    /// Replaces the description of an environment.
    pub async fn update_environment_description(
        &self,
        environment_id: i32,
        description: &str,
    ) -> Result<(), ServiceError> {
        environment::ActiveModel {
            id: Set(environment_id),
            description: Set(Some(description.to_owned())),
            ..Default::default()
        }
        .update(&self.database)
        .await?;
        Ok(())
    }

    /// Points `{store}/{namespace}/envs/{name}` at `prefix`, replacing the link
    /// atomically. Nothing for key version 3 builds, which have no symlink.
    pub async fn point_environment_symlink(
        &self,
        context: &BuildContext,
        prefix: &Path,
    ) -> Result<(), ServiceError> {
        let Some(link) = context
            .environment_path(self)
            .map_err(ServiceError::Invalid)?
        else {
            return Ok(());
        };
        let failed = |error: std::io::Error| {
            ServiceError::Internal(format!("symlink {}: {error}", link.display()))
        };
        if let Some(parent) = link.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(failed)?;
        }
        let temporary = link.with_extension(format!("{}.link", std::process::id()));
        let _ = tokio::fs::remove_file(&temporary).await;
        tokio::fs::symlink(prefix, &temporary)
            .await
            .map_err(failed)?;
        tokio::fs::rename(&temporary, &link).await.map_err(failed)
    }

    /// Queues a new build of the same specification in the same environment.
    pub async fn rebuild(&self, build_id: i32) -> Result<i32, ServiceError> {
        self.check_free_space()?;
        let context = self.build_context(build_id).await?;
        let transaction = conda_store_db::begin_write(&self.database).await?;
        let created = build::ActiveModel {
            specification_id: Set(context.build.specification_id),
            environment_id: Set(context.build.environment_id),
            status: Set(Some(BuildStatus::Queued.to_string())),
            size: Set(Some(0)),
            scheduled_on: Set(Some(Utc::now().naive_utc())),
            build_key_version: Set(i32::from(self.settings.build_key_version)),
            ..Default::default()
        }
        .insert(&transaction)
        .await?;
        queue::enqueue(&transaction, build_job(created.id)).await?;
        transaction.commit().await?;
        self.announce_jobs();
        Ok(created.id)
    }

    /// Deletes a finished build: marks it deleted now and queues the removal of its
    /// files (all artifacts but `build_artifacts_kept_on_deletion`, and the prefix).
    /// The current build of an environment cannot be deleted.
    pub async fn delete_build(&self, build_id: i32) -> Result<(), ServiceError> {
        let context = self.build_context(build_id).await?;
        let status = context.build.status.clone().unwrap_or_default();
        let finished = [
            BuildStatus::Completed,
            BuildStatus::Failed,
            BuildStatus::Canceled,
        ]
        .iter()
        .any(|finished| finished.as_str() == status);
        if !finished {
            return Err(ServiceError::Conflict(format!(
                "build {build_id} is {status}; only finished builds can be deleted"
            )));
        }
        if context.environment.current_build_id == Some(build_id) {
            return Err(ServiceError::Conflict(format!(
                "build {build_id} is the current build of its environment; make another build current first"
            )));
        }
        let transaction = conda_store_db::begin_write(&self.database).await?;
        build::ActiveModel {
            id: Set(build_id),
            deleted_on: Set(Some(Utc::now().naive_utc())),
            ..Default::default()
        }
        .update(&transaction)
        .await?;
        queue::enqueue(
            &transaction,
            NewJob {
                kind: DELETE_BUILD_JOB.to_owned(),
                payload: serde_json::json!({ "build_id": build_id }),
                unique_key: Some(format!("delete_build:{build_id}")),
                max_attempts: 3,
                delay: Duration::ZERO,
            },
        )
        .await?;
        transaction.commit().await?;
        self.announce_jobs();
        Ok(())
    }

    /// The job body of [`Self::delete_build`]: removes the stored artifacts that are
    /// not kept, the prefix (only under `store_directory`), and sets the size to 0.
    pub async fn purge_deleted_build(&self, build_id: i32) -> Result<(), ServiceError> {
        let kept = self.settings.build_artifacts_kept_on_deletion.clone();
        self.purge_build_files(build_id, &kept).await?;
        build::ActiveModel {
            id: Set(build_id),
            size: Set(Some(0)),
            ..Default::default()
        }
        .update(&self.database)
        .await?;
        Ok(())
    }

    /// Removes a build's artifacts (storage objects, rows, and the prefix for
    /// DIRECTORY) except the `kept` types.
    async fn purge_build_files(
        &self,
        build_id: i32,
        kept: &[BuildArtifactType],
    ) -> Result<(), ServiceError> {
        let artifacts = build_artifact::Entity::find()
            .filter(build_artifact::Column::BuildId.eq(build_id))
            .all(&self.database)
            .await?;
        // The prefix this build's path template gives: removable even when the
        // template puts it outside `store_directory`.
        let build_path = match self.build_context(build_id).await {
            Ok(context) => context.build_path(self).ok(),
            Err(_) => None,
        };
        for artifact in artifacts {
            let kind = BuildArtifactType::from_str(&artifact.artifact_type).ok();
            if kind.is_some_and(|kind| kept.contains(&kind)) {
                continue;
            }
            let key = artifact.key.clone().unwrap_or_default();
            match kind {
                Some(BuildArtifactType::Directory) => {
                    self.remove_prefix(Path::new(&key), build_path.as_deref())
                        .await?;
                }
                // Legacy docker and registry keys name no stored object of ours.
                Some(
                    BuildArtifactType::DockerBlob
                    | BuildArtifactType::DockerManifest
                    | BuildArtifactType::ContainerRegistry,
                )
                | None => {}
                Some(_) if !key.is_empty() => self.storage.delete(&key).await?,
                Some(_) => {}
            }
            build_artifact::Entity::delete_by_id(artifact.id)
                .exec(&self.database)
                .await?;
        }
        Ok(())
    }

    /// Removes a prefix directory: the build's own `build_path`, or a directory under
    /// `store_directory`; anything else is refused.
    async fn remove_prefix(
        &self,
        prefix: &Path,
        build_path: Option<&Path>,
    ) -> Result<(), ServiceError> {
        let own = build_path == Some(prefix);
        let in_store = conda_store_core::paths::is_within(prefix, &self.store_directory);
        if !own && !in_store {
            tracing::warn!("not removing {}: outside the store", prefix.display());
            return Ok(());
        }
        match tokio::fs::remove_dir_all(prefix).await {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(
                ServiceError::Internal(format!("removing {}: {error}", prefix.display())),
            ),
            _ => Ok(()),
        }
    }
}

/// The job kind that removes a deleted environment; payload `{"environment_id": N}`.
pub const DELETE_ENVIRONMENT_JOB: &str = "delete_environment";

/// The job kind that removes a deleted namespace; payload `{"namespace_id": N}`.
pub const DELETE_NAMESPACE_JOB: &str = "delete_namespace";

fn deletion_job(kind: &str, key: &str, id: i32) -> NewJob {
    NewJob {
        kind: kind.to_owned(),
        payload: serde_json::json!({ key: id }),
        unique_key: Some(format!("{kind}:{id}")),
        max_attempts: 3,
        delay: Duration::ZERO,
    }
}

impl Service {
    /// Deletes an environment: it and its builds are marked deleted at once (hidden
    /// from lists), its waiting or running builds are canceled, and a job removes every
    /// artifact, prefix and row.
    pub async fn delete_environment(&self, environment_id: i32) -> Result<(), ServiceError> {
        let environment_row = environment::Entity::find_by_id(environment_id)
            .one(&self.database)
            .await?
            .filter(|row| row.deleted_on.is_none())
            .ok_or_else(|| ServiceError::NotFound(format!("environment {environment_id}")))?;
        self.cancel_active_builds(&[environment_row.id]).await?;
        let now = Utc::now().naive_utc();
        let transaction = conda_store_db::begin_write(&self.database).await?;
        mark_environments_deleted(&transaction, &[environment_row.id], now).await?;
        queue::enqueue(
            &transaction,
            deletion_job(DELETE_ENVIRONMENT_JOB, "environment_id", environment_row.id),
        )
        .await?;
        transaction.commit().await?;
        self.announce_jobs();
        Ok(())
    }

    /// Deletes a namespace with all its environments, as [`Self::delete_environment`]
    /// does for each, then its role mappings and settings.
    pub async fn delete_namespace(&self, name: &str) -> Result<(), ServiceError> {
        let namespace_row = namespace::Entity::find()
            .filter(namespace::Column::Name.eq(name))
            .filter(namespace::Column::DeletedOn.is_null())
            .one(&self.database)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("namespace {name}")))?;
        let environments: Vec<i32> = environment::Entity::find()
            .filter(environment::Column::NamespaceId.eq(namespace_row.id))
            .all(&self.database)
            .await?
            .into_iter()
            .map(|row| row.id)
            .collect();
        self.cancel_active_builds(&environments).await?;
        let now = Utc::now().naive_utc();
        let transaction = conda_store_db::begin_write(&self.database).await?;
        mark_environments_deleted(&transaction, &environments, now).await?;
        namespace::ActiveModel {
            id: Set(namespace_row.id),
            deleted_on: Set(Some(now)),
            ..Default::default()
        }
        .update(&transaction)
        .await?;
        queue::enqueue(
            &transaction,
            deletion_job(DELETE_NAMESPACE_JOB, "namespace_id", namespace_row.id),
        )
        .await?;
        transaction.commit().await?;
        self.announce_jobs();
        Ok(())
    }

    async fn cancel_active_builds(&self, environments: &[i32]) -> Result<(), ServiceError> {
        let active = build::Entity::find()
            .filter(build::Column::EnvironmentId.is_in(environments.iter().copied()))
            .filter(build::Column::Status.is_in([
                BuildStatus::Queued.to_string(),
                BuildStatus::Building.to_string(),
            ]))
            .all(&self.database)
            .await?;
        for row in active {
            self.cancel_build(row.id).await?;
        }
        Ok(())
    }

    /// The job body of [`Self::delete_environment`]: removes every artifact (kept
    /// types included), every prefix, the symlink, the builds and the environment.
    pub async fn purge_deleted_environment(&self, environment_id: i32) -> Result<(), ServiceError> {
        let Some(environment_row) = environment::Entity::find_by_id(environment_id)
            .one(&self.database)
            .await?
        else {
            return Ok(());
        };
        let builds = build::Entity::find()
            .filter(build::Column::EnvironmentId.eq(environment_id))
            .all(&self.database)
            .await?;
        let mut link = None;
        for row in &builds {
            if let Ok(context) = self.build_context(row.id).await {
                link = link.or_else(|| context.environment_path(self).ok().flatten());
            }
            self.purge_build_files(row.id, &[]).await?;
        }
        if let Some(link) = link {
            let _ = tokio::fs::remove_file(link).await;
        }
        let transaction = conda_store_db::begin_write(&self.database).await?;
        environment::ActiveModel {
            id: Set(environment_row.id),
            current_build_id: Set(None),
            ..Default::default()
        }
        .update(&transaction)
        .await?;
        let ids: Vec<i32> = builds.iter().map(|row| row.id).collect();
        build_conda_package_build::Entity::delete_many()
            .filter(build_conda_package_build::Column::BuildId.is_in(ids.clone()))
            .exec(&transaction)
            .await?;
        build::Entity::delete_many()
            .filter(build::Column::Id.is_in(ids))
            .exec(&transaction)
            .await?;
        environment::Entity::delete_by_id(environment_row.id)
            .exec(&transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }

    /// The job body of [`Self::delete_namespace`]: purges each environment, then the
    /// namespace's role mappings, settings and the namespace itself.
    pub async fn purge_deleted_namespace(&self, namespace_id: i32) -> Result<(), ServiceError> {
        let Some(namespace_row) = namespace::Entity::find_by_id(namespace_id)
            .one(&self.database)
            .await?
        else {
            return Ok(());
        };
        let environments = environment::Entity::find()
            .filter(environment::Column::NamespaceId.eq(namespace_id))
            .all(&self.database)
            .await?;
        for row in environments {
            self.purge_deleted_environment(row.id).await?;
        }
        let transaction = conda_store_db::begin_write(&self.database).await?;
        namespace_role_mapping::Entity::delete_many()
            .filter(namespace_role_mapping::Column::NamespaceId.eq(namespace_id))
            .exec(&transaction)
            .await?;
        namespace_role_mapping_v2::Entity::delete_many()
            .filter(
                namespace_role_mapping_v2::Column::NamespaceId
                    .eq(namespace_id)
                    .or(namespace_role_mapping_v2::Column::OtherNamespaceId.eq(namespace_id)),
            )
            .exec(&transaction)
            .await?;
        if let Some(name) = &namespace_row.name {
            keyvaluestore::Entity::delete_many()
                .filter(
                    keyvaluestore::Column::Prefix
                        .eq(format!("setting/{name}"))
                        .or(Expr::col(keyvaluestore::Column::Prefix).like(
                            LikeExpr::new(sql_like_pattern(&format!("setting/{name}/*")))
                                .escape(SQL_LIKE_ESCAPE),
                        )),
                )
                .exec(&transaction)
                .await?;
        }
        namespace::Entity::delete_by_id(namespace_id)
            .exec(&transaction)
            .await?;
        transaction.commit().await?;
        Ok(())
    }
}

async fn mark_environments_deleted<C: sea_orm::ConnectionTrait>(
    connection: &C,
    environments: &[i32],
    now: chrono::NaiveDateTime,
) -> Result<(), ServiceError> {
    environment::Entity::update_many()
        .col_expr(environment::Column::DeletedOn, now.into())
        .filter(environment::Column::Id.is_in(environments.iter().copied()))
        .exec(connection)
        .await?;
    build::Entity::update_many()
        .col_expr(build::Column::DeletedOn, now.into())
        .filter(build::Column::EnvironmentId.is_in(environments.iter().copied()))
        .filter(build::Column::DeletedOn.is_null())
        .exec(connection)
        .await?;
    Ok(())
}
