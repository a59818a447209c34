//! The use-cases of conda-store, shared by the HTTP API, the admin pages, the CLI and
//! the worker, so that each rule lives once. Every use-case runs in one transaction.
//!
//! Implemented so far: registering a specification into a namespace (which creates the
//! namespace, specification, environment and a queued build, and enqueues the build
//! job), and the build lifecycle the worker reports through (started, artifacts,
//! packages, completed, failed, canceled).

mod build;
mod channel_index;
mod error;
mod lifecycle;
mod namespaces;
mod periodic;
mod query;
mod runtime_settings;
pub mod url_check;
pub mod views;

pub use build::{BuildContext, InstalledPackage};
pub use channel_index::{CHANNEL_INDEX_PREFIX, ChannelIndexOutcome, PackageBuild};
pub use error::ServiceError;
pub use lifecycle::{DELETE_BUILD_JOB, DELETE_ENVIRONMENT_JOB, DELETE_NAMESPACE_JOB};
pub use namespaces::RoleMappingsVersion;
pub use periodic::disk_usage;
pub use query::{
    BuildFilter, EnvironmentCursor, EnvironmentFilter, Listing, LocatedBuild, PackageFilter, Page,
    Visibility,
};
pub use runtime_settings::{RUNTIME_SETTINGS, SETTINGS_PREFIX, SettingsLevel};

use chrono::Utc;
use conda_store_core::lockfile_specification::Specification;
use conda_store_core::settings::Settings;
use conda_store_db::DatabaseConnection;
use conda_store_db::entity::{build as build_table, environment, namespace, specification};
use conda_store_db::queue::{self, NewJob};
use conda_store_storage::Storage;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Attempts a build job gets before its build is marked FAILED.
pub const BUILD_ATTEMPTS: i32 = 3;

/// The job kind that builds an environment; its payload is `{"build_id": N}`.
pub const BUILD_JOB: &str = "build";

/// The conda-store application: database, settings, artifact storage.
#[derive(Clone)]
pub struct Service {
    database: DatabaseConnection,
    settings: Arc<Settings>,
    storage: Arc<dyn Storage>,
    store_directory: PathBuf,
    jobs_announced: Arc<tokio::sync::Notify>,
    remote_solves: Arc<tokio::sync::Semaphore>,
}

/// What registering a specification created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildCreated {
    /// The new build.
    pub build_id: i32,
    /// Its environment.
    pub environment_id: i32,
}

impl Service {
    /// The service over these parts. `store_directory` is where prefixes are built.
    pub fn new(
        database: DatabaseConnection,
        settings: Arc<Settings>,
        storage: Arc<dyn Storage>,
        store_directory: PathBuf,
    ) -> Self {
        let remote_solves = Arc::new(tokio::sync::Semaphore::new(
            settings.remote_solve_concurrency,
        ));
        Self {
            database,
            settings,
            storage,
            store_directory,
            jobs_announced: Arc::default(),
            remote_solves,
        }
    }

    /// A place among the `remote_solve_concurrency` remote solves that may run at once,
    /// held until the permit is dropped; `None` when all are taken.
    pub fn try_begin_remote_solve(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.remote_solves.clone().try_acquire_owned().ok()
    }

    /// Woken whenever this service queued a job, so in-process workers start it at
    /// once instead of at their next poll (other processes learn of jobs by polling,
    /// or by PostgreSQL notifications).
    pub fn jobs_announced(&self) -> &tokio::sync::Notify {
        &self.jobs_announced
    }

    /// Wakes this process's idle workers: call after committing a new job.
    fn announce_jobs(&self) {
        self.jobs_announced.notify_waiters();
    }

    /// The database pool.
    pub fn database(&self) -> &DatabaseConnection {
        &self.database
    }

    /// The deployment settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The artifact storage.
    pub fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    /// Registers `specification` in `namespace_name`: validates an `environment.yaml`
    /// with the settings (a lockfile is used as it is),
    /// creates the namespace, the (deduplicated) specification and the environment as
    /// needed, queues a build and its job. A new environment's current build is this
    /// build at once, as in the Python conda-store.
    pub async fn create_build(
        &self,
        namespace_name: &str,
        specification: Specification,
    ) -> Result<BuildCreated, ServiceError> {
        let settings = self
            .effective_settings(SettingsLevel::Environment(
                namespace_name,
                specification.name(),
            ))
            .await?;
        let specification = match specification {
            Specification::Conda(conda) => {
                Specification::Conda(conda_store_core::specification::validate(conda, &settings)?)
            }
            lockfile => lockfile,
        };
        self.check_fetched_urls(&specification, &settings).await?;
        self.check_free_space()?;
        let transaction = conda_store_db::begin_write(&self.database).await?;
        let namespace_id = ensure_namespace(&transaction, namespace_name).await?;
        let specification_id = ensure_specification(&transaction, &specification).await?;
        let (environment_id, created) =
            ensure_environment(&transaction, namespace_id, &specification).await?;
        let build_id = insert_build(
            &transaction,
            environment_id,
            specification_id,
            i32::from(self.settings.build_key_version),
        )
        .await?;
        if created {
            environment::ActiveModel {
                id: Set(environment_id),
                current_build_id: Set(Some(build_id)),
                ..Default::default()
            }
            .update(&transaction)
            .await?;
        }
        queue::enqueue(&transaction, build_job(build_id)).await?;
        transaction.commit().await?;
        self.announce_jobs();
        Ok(BuildCreated {
            build_id,
            environment_id,
        })
    }
}

impl Service {
    /// Refuses a specification that would make the server fetch a URL the URL policy
    /// refuses (schemes, `conda_allowed_channels`, private addresses), for the
    /// specification's effective `settings` and this deployment's trusted channels.
    pub async fn check_fetched_urls(
        &self,
        specification: &Specification,
        settings: &conda_store_core::settings::Settings,
    ) -> Result<(), ServiceError> {
        let policy = conda_store_core::url_policy::UrlPolicy::new(&self.settings, settings);
        let urls = specification.fetched_urls(&settings.conda_channel_alias);
        url_check::check_user_urls(&policy, &urls)
            .await
            .map_err(|refusal| ServiceError::Invalid(refusal.to_string()))
    }
}

/// The job that builds `build_id`.
pub fn build_job(build_id: i32) -> NewJob {
    NewJob {
        kind: BUILD_JOB.to_owned(),
        payload: serde_json::json!({ "build_id": build_id }),
        unique_key: Some(format!("build:{build_id}")),
        max_attempts: BUILD_ATTEMPTS,
        delay: Duration::ZERO,
    }
}

async fn ensure_namespace<C: ConnectionTrait>(
    connection: &C,
    name: &str,
) -> Result<i32, ServiceError> {
    if let Some(found) = namespace::Entity::find()
        .filter(namespace::Column::Name.eq(name))
        .filter(namespace::Column::DeletedOn.is_null())
        .one(connection)
        .await?
    {
        return Ok(found.id);
    }
    if !conda_store_core::specification::is_valid_name(name) {
        return Err(ServiceError::InvalidName(name.to_owned()));
    }
    let created = namespace::ActiveModel {
        name: Set(Some(name.to_owned())),
        metadata_: Set(Some(serde_json::json!({}))),
        ..Default::default()
    }
    .insert(connection)
    .await?;
    Ok(created.id)
}

/// Inserts a row unless one with the same unique key exists. Concurrent requests and
/// builds create the same rows at the same moment, so "find, else insert" would race; the
/// database settles it instead, and the caller then reads the row back.
pub(crate) async fn insert_unless_exists<C, A>(
    connection: &C,
    row: A,
    unique: impl IntoIterator<Item = <A::Entity as EntityTrait>::Column>,
) -> Result<(), ServiceError>
where
    C: ConnectionTrait,
    A: ActiveModelTrait + Send,
{
    let unique: Vec<_> = unique.into_iter().collect();
    let mut on_conflict = OnConflict::columns(unique.clone());
    match (connection.get_database_backend(), unique.first()) {
        // MySQL has no DO NOTHING: setting a key column to its own value is the idiom.
        (sea_orm::DbBackend::MySql, Some(column)) => on_conflict.update_column(*column),
        _ => on_conflict.do_nothing(),
    };
    <A::Entity as EntityTrait>::insert(row)
        .on_conflict(on_conflict)
        .exec_without_returning(connection)
        .await?;
    Ok(())
}

async fn ensure_specification<C: ConnectionTrait>(
    connection: &C,
    specification: &Specification,
) -> Result<i32, ServiceError> {
    let sha256 = specification.sha256();
    let row = specification::ActiveModel {
        name: Set(specification.name().to_owned()),
        spec: Set(specification.to_value()),
        sha256: Set(sha256.clone()),
        created_on: Set(Some(Utc::now().naive_utc())),
        is_lockfile: Set(specification.is_lockfile()),
        ..Default::default()
    };
    insert_unless_exists(connection, row, [specification::Column::Sha256]).await?;
    specification::Entity::find()
        .filter(specification::Column::Sha256.eq(sha256))
        .one(connection)
        .await?
        .map(|found| found.id)
        .ok_or_else(|| ServiceError::Internal("specification vanished".to_owned()))
}

/// Finds or creates the environment; returns its id and whether it was created. A
/// non-empty description in the specification updates the environment's.
async fn ensure_environment<C: ConnectionTrait>(
    connection: &C,
    namespace_id: i32,
    specification: &Specification,
) -> Result<(i32, bool), ServiceError> {
    let description = specification
        .description()
        .filter(|description| !description.is_empty())
        .map(str::to_owned);
    if let Some(found) = environment::Entity::find()
        .filter(environment::Column::NamespaceId.eq(namespace_id))
        .filter(environment::Column::Name.eq(specification.name()))
        .filter(environment::Column::DeletedOn.is_null())
        .one(connection)
        .await?
    {
        if description.is_some() {
            environment::ActiveModel {
                id: Set(found.id),
                description: Set(description),
                ..Default::default()
            }
            .update(connection)
            .await?;
        }
        return Ok((found.id, false));
    }
    let created = environment::ActiveModel {
        namespace_id: Set(namespace_id),
        name: Set(specification.name().to_owned()),
        description: Set(description),
        ..Default::default()
    }
    .insert(connection)
    .await?;
    Ok((created.id, true))
}

async fn insert_build<C: ConnectionTrait>(
    connection: &C,
    environment_id: i32,
    specification_id: i32,
    build_key_version: i32,
) -> Result<i32, ServiceError> {
    let created = build_table::ActiveModel {
        specification_id: Set(specification_id),
        environment_id: Set(environment_id),
        status: Set(Some(
            conda_store_core::domain::BuildStatus::Queued.to_string(),
        )),
        size: Set(Some(0)),
        scheduled_on: Set(Some(Utc::now().naive_utc())),
        build_key_version: Set(build_key_version),
        ..Default::default()
    }
    .insert(connection)
    .await?;
    Ok(created.id)
}
