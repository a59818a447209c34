//! Environment lifecycle: choose the current build, rebuild, delete builds; and the
//! free-space guard on new builds.

use crate::{BuildContext, Service, ServiceError, build_job};
use chrono::Utc;
use conda_store_core::domain::{BuildArtifactType, BuildStatus};
use conda_store_db::entity::{build, build_artifact, environment};
use conda_store_db::queue::{self, NewJob};
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

    /// Points `{store}/{namespace}/envs/{name}` at `prefix`, replacing the link
    /// atomically. Nothing for key version 3 builds, which have no symlink.
    pub async fn point_environment_symlink(
        &self,
        context: &BuildContext,
        prefix: &Path,
    ) -> Result<(), ServiceError> {
        let Some(link) = context.environment_path(self) else {
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
        Ok(())
    }

    /// The job body of [`Self::delete_build`]: removes the stored artifacts that are
    /// not kept, the prefix (only under `store_directory`), and sets the size to 0.
    pub async fn purge_deleted_build(&self, build_id: i32) -> Result<(), ServiceError> {
        let artifacts = build_artifact::Entity::find()
            .filter(build_artifact::Column::BuildId.eq(build_id))
            .all(&self.database)
            .await?;
        for artifact in artifacts {
            let Ok(kind) = BuildArtifactType::from_str(&artifact.artifact_type) else {
                continue;
            };
            if self
                .settings
                .build_artifacts_kept_on_deletion
                .contains(&kind)
            {
                continue;
            }
            let key = artifact.key.clone().unwrap_or_default();
            if kind == BuildArtifactType::Directory {
                self.remove_prefix(Path::new(&key)).await?;
            } else if !key.is_empty() {
                self.storage.delete(&key).await?;
            }
            build_artifact::Entity::delete_by_id(artifact.id)
                .exec(&self.database)
                .await?;
        }
        build::ActiveModel {
            id: Set(build_id),
            size: Set(Some(0)),
            ..Default::default()
        }
        .update(&self.database)
        .await?;
        Ok(())
    }

    /// Removes a prefix directory, refusing anything outside `store_directory`.
    async fn remove_prefix(&self, prefix: &Path) -> Result<(), ServiceError> {
        if !prefix.starts_with(&self.store_directory) || prefix == self.store_directory {
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
