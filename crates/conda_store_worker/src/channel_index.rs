//! The `update_conda_channels` periodic job: indexes the repodata of every channel of
//! `conda_indexed_channels` for every subdir of `conda_platforms` into the package
//! tables. A channel subdir that fails is logged and the others are still indexed.

use crate::Worker;
use conda_store_build::ChannelRepodata;
use conda_store_core::specification::normalize_channel;
use conda_store_service::{ChannelIndexOutcome, PackageBuild};
use rattler_conda_types::PackageRecord;
use rattler_conda_types::utils::TimestampMs;

/// What an index run did with one channel subdir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubdirIndexed {
    /// The channel URL (normalised with the channel alias).
    pub channel: String,
    /// The subdir (`linux-64`, `noarch`, ...).
    pub subdir: String,
    /// What happened, or why it failed.
    pub result: Result<IndexResult, String>,
}

/// The outcome of indexing a channel subdir that could be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexResult {
    /// The repodata was the one indexed last time: nothing was read or written.
    Unchanged,
    /// The repodata was new or changed and has been indexed.
    Indexed(ChannelIndexOutcome),
}

impl Worker {
    /// Indexes every channel of `conda_indexed_channels` for every subdir of
    /// `conda_platforms`, one after the other; returns what happened to each.
    pub async fn update_conda_channels(&self) -> Vec<SubdirIndexed> {
        let settings = self.service.settings();
        let mut report = Vec::new();
        for channel in &settings.conda_indexed_channels {
            let channel = normalize_channel(channel, &settings.conda_channel_alias);
            // What the server log shows of the channel: no credentials.
            let shown = conda_store_core::redaction::redact_credentials(&channel);
            for subdir in &settings.conda_platforms {
                let result = self.index_subdir(&channel, subdir).await;
                match &result {
                    Ok(IndexResult::Unchanged) => {
                        tracing::debug!("channel index: {shown}/{subdir} unchanged");
                    }
                    Ok(IndexResult::Indexed(outcome)) => tracing::info!(
                        "channel index: {shown}/{subdir}: {} packages and {} builds added",
                        outcome.packages_added,
                        outcome.builds_added
                    ),
                    Err(error) => tracing::warn!(
                        "channel index: {shown}/{subdir}: {}",
                        conda_store_core::redaction::redact_credentials(&error.to_string())
                    ),
                }
                report.push(SubdirIndexed {
                    channel: channel.clone(),
                    subdir: subdir.clone(),
                    result,
                });
            }
        }
        report
    }

    /// The job: indexes every channel subdir; fails, naming them, when any failed.
    pub(crate) async fn update_conda_channels_job(&self) -> Result<(), String> {
        let failures: Vec<String> = self
            .update_conda_channels()
            .await
            .into_iter()
            .filter_map(|indexed| {
                let (channel, subdir) = (indexed.channel, indexed.subdir);
                indexed
                    .result
                    .err()
                    .map(|error| format!("{channel}/{subdir}: {error}"))
            })
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }

    /// Fetches and indexes one channel subdir.
    async fn index_subdir(&self, channel: &str, subdir: &str) -> Result<IndexResult, String> {
        let known = self
            .service
            .indexed_fingerprint(channel, subdir)
            .await
            .map_err(|error| error.to_string())?;
        let fetched = self
            .engine
            .fetch_channel_repodata(channel, subdir, known.as_deref())
            .await
            .map_err(|error| error.to_string())?;
        let ChannelRepodata::Changed {
            fingerprint,
            records,
        } = fetched
        else {
            return Ok(IndexResult::Unchanged);
        };
        let packages = tokio::task::spawn_blocking(move || channel_packages(records))
            .await
            .map_err(|error| error.to_string())?;
        self.service
            .index_channel(channel, subdir, &fingerprint, packages)
            .await
            .map(IndexResult::Indexed)
            .map_err(|error| format!("storing the index of {channel}/{subdir}: {error}"))
    }
}

/// The records the index stores: those with md5, sha256 and size (as the Python
/// conda-store, which drops the others).
pub fn channel_packages(records: Vec<PackageRecord>) -> Vec<PackageBuild> {
    records
        .iter()
        .filter(|record| record.md5.is_some() && record.sha256.is_some() && record.size.is_some())
        .map(package_build)
        .collect()
}

/// A package record as the package tables store it; unknown hashes are empty, an
/// unknown size is -1.
pub(crate) fn package_build(record: &PackageRecord) -> PackageBuild {
    PackageBuild {
        name: record.name.as_normalized().to_owned(),
        version: record.version.to_string(),
        build: record.build.to_string(),
        build_number: i32::try_from(record.build_number).unwrap_or(i32::MAX),
        timestamp: record.timestamp.as_ref().and_then(raw_timestamp),
        depends: record.depends.clone(),
        constrains: record.constrains.clone(),
        md5: record.md5.map(|hash| hex(&hash)).unwrap_or_default(),
        sha256: record.sha256.map(|hash| hex(&hash)).unwrap_or_default(),
        size: record
            .size
            .and_then(|size| i64::try_from(size).ok())
            .unwrap_or(-1),
        subdir: record.subdir.clone(),
        license: record.license.clone(),
        license_family: record.license_family.clone(),
    }
}

/// The timestamp as the repodata writes it (milliseconds, or seconds in old records).
fn raw_timestamp(timestamp: &TimestampMs) -> Option<i64> {
    serde_json::to_value(timestamp).ok()?.as_i64()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
