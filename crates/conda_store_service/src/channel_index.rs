//! The channel index: the package builds of a channel's repodata, stored into
//! `conda_channel`, `conda_package` and `conda_package_build` for package search.
//!
//! Indexing is set-based and idempotent: the builds already stored for the channel are
//! read once, only the new ones are written, in multi-row INSERTs that ignore
//! conflicts (another worker or a build may store the same rows at the same moment).
//! The fingerprint of the indexed repodata is recorded last, in `keyvaluestore`, so a
//! later run with the same repodata skips all database work, and a run interrupted
//! midway is redone (without duplicates) by the next.

use crate::build::ensure_channel;
use crate::runtime_settings::put_keyvalue;
use crate::{Service, ServiceError};
use chrono::Utc;
use conda_store_db::entity::{conda_channel, conda_package, conda_package_build, keyvaluestore};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use std::collections::{HashMap, HashSet};

/// The `keyvaluestore.prefix` of the fingerprints of indexed repodata; the key is
/// `{channel}/{subdir}`.
pub const CHANNEL_INDEX_PREFIX: &str = "conda-store.channel-index";

/// Bound variables per statement: below SQLite's 32766 (PostgreSQL and MySQL allow
/// 65535).
const VARIABLES_PER_STATEMENT: usize = 30_000;

/// One package build as the package tables store it (from a channel's repodata or an
/// installed environment).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageBuild {
    /// Package name.
    pub name: String,
    /// Version, as written in the repodata.
    pub version: String,
    /// Build string.
    pub build: String,
    /// Build number.
    pub build_number: i32,
    /// `depends` of the record.
    pub depends: Vec<String>,
    /// `constrains` of the record.
    pub constrains: Vec<String>,
    /// md5 of the archive (hex).
    pub md5: String,
    /// sha256 of the archive (hex).
    pub sha256: String,
    /// Archive size in bytes.
    pub size: i64,
    /// The record's subdir.
    pub subdir: String,
    /// Build timestamp as written in the repodata, if any.
    pub timestamp: Option<i64>,
    /// License, if known.
    pub license: Option<String>,
    /// License family, if known.
    pub license_family: Option<String>,
}

/// What indexing one channel subdir wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChannelIndexOutcome {
    /// `conda_package` rows (name, version) added.
    pub packages_added: usize,
    /// `conda_package_build` rows added.
    pub builds_added: usize,
    /// Records left out because a value does not fit its column.
    pub records_skipped: usize,
}

impl Service {
    /// The fingerprint of the repodata last indexed for `channel`/`subdir`; none when
    /// it was never indexed or its channel row is gone. Reads only.
    pub async fn indexed_fingerprint(
        &self,
        channel: &str,
        subdir: &str,
    ) -> Result<Option<String>, ServiceError> {
        let channel_exists = conda_channel::Entity::find()
            .filter(conda_channel::Column::Name.eq(channel))
            .one(&self.database)
            .await?
            .is_some();
        if !channel_exists {
            return Ok(None);
        }
        let row = keyvaluestore::Entity::find()
            .filter(keyvaluestore::Column::Prefix.eq(CHANNEL_INDEX_PREFIX))
            .filter(keyvaluestore::Column::Key.eq(index_key(channel, subdir)))
            .one(&self.database)
            .await?;
        Ok(row
            .and_then(|row| row.value)
            .and_then(|value| value["fingerprint"].as_str().map(str::to_owned)))
    }

    /// Indexes the package builds of `channel`/`subdir` (whose repodata has
    /// `fingerprint`): ensures the channel row, adds the missing `conda_package` and
    /// `conda_package_build` rows (builds deduplicated on sha256 per subdir), then sets
    /// `conda_channel.last_update` and records the fingerprint.
    pub async fn index_channel(
        &self,
        channel: &str,
        subdir: &str,
        fingerprint: &str,
        packages: Vec<PackageBuild>,
    ) -> Result<ChannelIndexOutcome, ServiceError> {
        let total = packages.len();
        let packages = fitting(packages);
        let mut outcome = ChannelIndexOutcome {
            records_skipped: total - packages.len(),
            ..Default::default()
        };
        let channel_id = {
            let transaction = conda_store_db::begin_write(&self.database).await?;
            let id = ensure_channel(&transaction, channel).await?;
            transaction.commit().await?;
            id
        };
        let new_builds = self.unindexed(channel_id, packages).await?;
        if !new_builds.is_empty() {
            let package_ids = self.ensure_packages(channel_id, &new_builds).await?;
            outcome.packages_added = package_ids.added;
            outcome.builds_added = new_builds.len();
            self.insert_builds(channel_id, &package_ids.ids, new_builds)
                .await?;
        }
        self.record_indexed(channel_id, channel, subdir, fingerprint, total)
            .await?;
        Ok(outcome)
    }

    /// The packages whose build (subdir, sha256) the channel does not have yet,
    /// each once.
    async fn unindexed(
        &self,
        channel_id: i32,
        packages: Vec<PackageBuild>,
    ) -> Result<Vec<PackageBuild>, ServiceError> {
        use conda_package_build::Column as Build;
        let subdirs: HashSet<&str> = packages
            .iter()
            .map(|package| package.subdir.as_str())
            .collect();
        if subdirs.is_empty() {
            return Ok(Vec::new());
        }
        let stored: Vec<(Option<String>, String)> = conda_package_build::Entity::find()
            .select_only()
            .column(Build::Subdir)
            .column(Build::Sha256)
            .filter(Build::ChannelId.eq(channel_id))
            .filter(Build::Subdir.is_in(subdirs))
            .into_tuple()
            .all(&self.database)
            .await?;
        let mut seen: HashSet<(String, String)> = stored
            .into_iter()
            .map(|(subdir, sha256)| (subdir.unwrap_or_default(), sha256))
            .collect();
        Ok(packages
            .into_iter()
            .filter(|package| seen.insert((package.subdir.clone(), package.sha256.clone())))
            .collect())
    }

    /// Adds the missing (name, version) rows of `builds` to `conda_package` and returns
    /// the ids of all of the channel's packages.
    async fn ensure_packages(
        &self,
        channel_id: i32,
        builds: &[PackageBuild],
    ) -> Result<PackageIds, ServiceError> {
        let mut ids = self.package_ids(channel_id).await?;
        let mut missing: Vec<&PackageBuild> = Vec::new();
        let mut wanted = HashSet::new();
        for build in builds {
            let key = (build.name.clone(), build.version.clone());
            if !ids.contains_key(&key) && wanted.insert(key) {
                missing.push(build);
            }
        }
        if missing.is_empty() {
            return Ok(PackageIds { ids, added: 0 });
        }
        // One order for every writer, so that concurrent inserts cannot deadlock.
        missing
            .sort_by(|left, right| (&left.name, &left.version).cmp(&(&right.name, &right.version)));
        use conda_package::Column as Package;
        let conflict = ignore_conflicts(
            self.database.get_database_backend(),
            [Package::ChannelId, Package::Name, Package::Version],
        );
        for chunk in missing.chunks(VARIABLES_PER_STATEMENT / 5) {
            let rows = chunk.iter().map(|build| conda_package::ActiveModel {
                channel_id: Set(Some(channel_id)),
                name: Set(build.name.clone()),
                version: Set(build.version.clone()),
                license: Set(build.license.clone()),
                license_family: Set(build.license_family.clone()),
                ..Default::default()
            });
            let transaction = conda_store_db::begin_write(&self.database).await?;
            conda_package::Entity::insert_many(rows)
                .on_conflict(conflict.clone())
                .exec_without_returning(&transaction)
                .await?;
            transaction.commit().await?;
        }
        ids = self.package_ids(channel_id).await?;
        Ok(PackageIds {
            ids,
            added: missing.len(),
        })
    }

    /// The ids of the channel's packages by (name, version).
    async fn package_ids(
        &self,
        channel_id: i32,
    ) -> Result<HashMap<(String, String), i32>, ServiceError> {
        use conda_package::Column as Package;
        let rows: Vec<(i32, String, String)> = conda_package::Entity::find()
            .select_only()
            .column(Package::Id)
            .column(Package::Name)
            .column(Package::Version)
            .filter(Package::ChannelId.eq(channel_id))
            .into_tuple()
            .all(&self.database)
            .await?;
        Ok(rows
            .into_iter()
            .map(|(id, name, version)| ((name, version), id))
            .collect())
    }

    /// Inserts `builds` into `conda_package_build`, in chunks, ignoring rows another
    /// writer stored meanwhile.
    async fn insert_builds(
        &self,
        channel_id: i32,
        package_ids: &HashMap<(String, String), i32>,
        builds: Vec<PackageBuild>,
    ) -> Result<(), ServiceError> {
        let mut rows = Vec::with_capacity(builds.len());
        for build in builds {
            let key = (build.name.clone(), build.version.clone());
            let package_id = package_ids.get(&key).copied().ok_or_else(|| {
                ServiceError::Internal(format!("package {} {} vanished", key.0, key.1))
            })?;
            rows.push((package_id, build));
        }
        // One order for every writer, so that concurrent inserts cannot deadlock.
        rows.sort_by(|(left_id, left), (right_id, right)| {
            (
                left_id,
                &left.subdir,
                &left.build,
                left.build_number,
                &left.sha256,
            )
                .cmp(&(
                    right_id,
                    &right.subdir,
                    &right.build,
                    right.build_number,
                    &right.sha256,
                ))
        });
        use conda_package_build::Column as Build;
        let conflict = ignore_conflicts(
            self.database.get_database_backend(),
            [
                Build::ChannelId,
                Build::PackageId,
                Build::Subdir,
                Build::Build,
                Build::BuildNumber,
                Build::Sha256,
            ],
        );
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk = rows
                .by_ref()
                .take(VARIABLES_PER_STATEMENT / 11)
                .map(|(package_id, build)| build_row(channel_id, package_id, build));
            let transaction = conda_store_db::begin_write(&self.database).await?;
            conda_package_build::Entity::insert_many(chunk)
                .on_conflict(conflict.clone())
                .exec_without_returning(&transaction)
                .await?;
            transaction.commit().await?;
        }
        Ok(())
    }

    /// Sets `last_update` of the channel and records the fingerprint of the indexed
    /// repodata, in one transaction.
    async fn record_indexed(
        &self,
        channel_id: i32,
        channel: &str,
        subdir: &str,
        fingerprint: &str,
        records: usize,
    ) -> Result<(), ServiceError> {
        let now = Utc::now().naive_utc();
        let transaction = conda_store_db::begin_write(&self.database).await?;
        conda_channel::Entity::update_many()
            .col_expr(conda_channel::Column::LastUpdate, now.into())
            .filter(conda_channel::Column::Id.eq(channel_id))
            .exec(&transaction)
            .await?;
        let value = serde_json::json!({
            "fingerprint": fingerprint,
            "records": records,
            "indexed_on": now.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        });
        put_keyvalue(
            &transaction,
            CHANNEL_INDEX_PREFIX,
            &index_key(channel, subdir),
            value,
        )
        .await?;
        transaction.commit().await?;
        Ok(())
    }
}

/// The channel's package ids, and how many packages were added.
struct PackageIds {
    ids: HashMap<(String, String), i32>,
    added: usize,
}

/// The `keyvaluestore.key` of a channel subdir.
fn index_key(channel: &str, subdir: &str) -> String {
    format!("{channel}/{subdir}")
}

/// A conflict clause that keeps the existing row. MySQL has no DO NOTHING: setting a
/// key column to its own value is the idiom there.
fn ignore_conflicts<C>(
    backend: sea_orm::DbBackend,
    unique: impl IntoIterator<Item = C>,
) -> OnConflict
where
    C: sea_orm::sea_query::IntoIden + Copy,
{
    let unique: Vec<C> = unique.into_iter().collect();
    let mut conflict = OnConflict::columns(unique.clone());
    match (backend, unique.first()) {
        (sea_orm::DbBackend::MySql, Some(column)) => conflict.update_column(*column),
        _ => conflict.do_nothing(),
    };
    conflict
}

/// The `conda_package_build` row of a package build.
fn build_row(
    channel_id: i32,
    package_id: i32,
    build: PackageBuild,
) -> conda_package_build::ActiveModel {
    conda_package_build::ActiveModel {
        package_id: Set(Some(package_id)),
        channel_id: Set(Some(channel_id)),
        build: Set(build.build),
        build_number: Set(build.build_number),
        constrains: Set(Some(serde_json::json!(build.constrains))),
        depends: Set(serde_json::json!(build.depends)),
        md5: Set(build.md5),
        sha256: Set(build.sha256),
        size: Set(build.size),
        subdir: Set(Some(build.subdir)),
        timestamp: Set(build.timestamp),
        ..Default::default()
    }
}

/// The packages whose values fit their columns (name 255, version, build, sha256 and
/// subdir 64 characters); a license family too long is dropped.
fn fitting(packages: Vec<PackageBuild>) -> Vec<PackageBuild> {
    packages
        .into_iter()
        .filter(|package| {
            package.name.chars().count() <= 255
                && package.version.chars().count() <= 64
                && package.build.chars().count() <= 64
                && package.sha256.chars().count() <= 64
                && package.subdir.chars().count() <= 64
                && package.md5.chars().count() <= 255
        })
        .map(|mut package| {
            if package
                .license_family
                .as_ref()
                .is_some_and(|family| family.chars().count() > 64)
            {
                package.license_family = None;
            }
            package
        })
        .collect()
}
