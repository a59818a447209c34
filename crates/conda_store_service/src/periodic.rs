//! Periodic work: the storage figures of `conda_store_configuration`, and registering
//! the specifications found in `watch_paths` into the filesystem namespace.

use crate::{Service, ServiceError};
use conda_store_core::lockfile_specification::Specification;
use conda_store_core::specification::CondaSpecification;
use conda_store_db::entity::{
    build, conda_store_configuration, environment, namespace, specification,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use std::path::{Path, PathBuf};

impl Service {
    /// Measures the store (bytes used under `store_directory`, the bytes of its file
    /// system available to this process, which `storage_threshold` is compared with,
    /// and its total bytes) into the single `conda_store_configuration` row.
    pub async fn update_storage_metrics(&self) -> Result<(), ServiceError> {
        let store = self.store_directory.clone();
        let (used, free, total) = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&store)?;
            let used = disk_usage(&store)?;
            Ok::<_, std::io::Error>((
                used,
                fs4::available_space(&store)?,
                fs4::total_space(&store)?,
            ))
        })
        .await
        .map_err(|error| ServiceError::Internal(error.to_string()))?
        .map_err(|error| ServiceError::Internal(format!("measuring the store: {error}")))?;
        let clamp = |bytes: u64| i64::try_from(bytes).unwrap_or(i64::MAX);
        let row = conda_store_configuration::ActiveModel {
            id: Set(1),
            disk_usage: Set(Some(clamp(used))),
            free_storage: Set(Some(clamp(free))),
            total_storage: Set(Some(clamp(total))),
        };
        conda_store_configuration::Entity::insert(row)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(conda_store_configuration::Column::Id)
                    .update_columns([
                        conda_store_configuration::Column::DiskUsage,
                        conda_store_configuration::Column::FreeStorage,
                        conda_store_configuration::Column::TotalStorage,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.database)
            .await?;
        Ok(())
    }

    /// Registers every `*.yml`/`*.yaml` specification found in `watch_paths` (files, or
    /// directories read without recursion) into `filesystem_namespace`, unless the same
    /// specification already has a build there. Files that are not valid specifications
    /// are logged and skipped. Returns the builds created.
    pub async fn register_watched_specifications(&self) -> Result<Vec<i32>, ServiceError> {
        let namespace_name = self.settings.filesystem_namespace.clone();
        let mut created = Vec::new();
        for file in watched_files(&self.settings.watch_paths) {
            let Ok(text) = tokio::fs::read_to_string(&file).await else {
                continue;
            };
            let specification = match CondaSpecification::from_yaml(&text) {
                Ok(specification) => specification,
                Err(error) => {
                    tracing::warn!("watch_paths: skipping {}: {error}", file.display());
                    continue;
                }
            };
            let specification =
                conda_store_core::specification::validate(specification, &self.settings)?;
            if self
                .already_built(&namespace_name, &specification.sha256())
                .await?
            {
                continue;
            }
            let build = self
                .create_build(&namespace_name, Specification::Conda(specification))
                .await?;
            tracing::info!(
                "watch_paths: {} registered as build {}",
                file.display(),
                build.build_id
            );
            created.push(build.build_id);
        }
        Ok(created)
    }

    /// Whether a build of the specification with `sha256` exists in `namespace_name`.
    async fn already_built(
        &self,
        namespace_name: &str,
        sha256: &str,
    ) -> Result<bool, ServiceError> {
        let Some(found) = specification::Entity::find()
            .filter(specification::Column::Sha256.eq(sha256))
            .one(&self.database)
            .await?
        else {
            return Ok(false);
        };
        let Some(namespace_row) = namespace::Entity::find()
            .filter(namespace::Column::Name.eq(namespace_name))
            .one(&self.database)
            .await?
        else {
            return Ok(false);
        };
        let environments: Vec<i32> = environment::Entity::find()
            .filter(environment::Column::NamespaceId.eq(namespace_row.id))
            .all(&self.database)
            .await?
            .into_iter()
            .map(|environment| environment.id)
            .collect();
        let existing = build::Entity::find()
            .filter(build::Column::SpecificationId.eq(found.id))
            .filter(build::Column::EnvironmentId.is_in(environments))
            .one(&self.database)
            .await?;
        Ok(existing.is_some())
    }
}

/// The specification files named by `watch_paths`, sorted.
fn watched_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let is_specification = |path: &Path| {
        path.extension()
            .is_some_and(|extension| extension == "yml" || extension == "yaml")
    };
    let mut files = Vec::new();
    for path in paths {
        if path.is_file() {
            files.push(path.clone());
        } else if let Ok(entries) = std::fs::read_dir(path) {
            files.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .filter(|path| path.is_file() && is_specification(path)),
            );
        }
    }
    files.sort();
    files
}

/// Bytes under `path`, each hardlinked file counted once (as `du -sb`).
pub fn disk_usage(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total: u64 = 0;
    let mut pending = vec![path.to_owned()];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory)? {
            let entry_path = entry?.path();
            let metadata = entry_path.symlink_metadata()?;
            if seen.insert((metadata.dev(), metadata.ino())) {
                total += metadata.len();
            }
            if metadata.is_dir() {
                pending.push(entry_path);
            }
        }
    }
    Ok(total)
}
