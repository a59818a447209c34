//! The build engine: solve a specification for each platform, write the conda-lock v1
//! lockfile, and install the environment from one shared package cache, all in-process
//! with the rattler crates. It knows no database: the worker feeds it and records what
//! it returns.
//!
//! One [`Engine`] is shared by every build of a process: its gateway keeps repodata in
//! memory and on disk, and its package cache downloads each package once (concurrent
//! builds needing the same package wait for one download) and hardlinks it into
//! prefixes.

mod address_filter;
mod channel_index;
mod error;
mod lock;
mod pack;
mod permissions;
mod pip;

pub use address_filter::AddressFilter;
pub use channel_index::ChannelRepodata;
pub use error::BuildError;
pub use lock::Lock;
pub use pack::conda_pack;
pub use permissions::Permissions;
pub use pip::{PipInput, PypiPackage, Uv, python_executable};

use conda_store_core::specification::parse_match_spec;
use rattler::install::Installer;
use rattler::package_cache::PackageCache;
use rattler_conda_types::{
    Channel, ChannelConfig, GenericVirtualPackage, MatchSpec, RepoDataRecord, Subdir,
};
use rattler_repodata_gateway::Gateway;
use rattler_solve::{CancellationToken, SolveError, SolverImpl, SolverTask, resolvo};
use rattler_virtual_packages::{Override, VirtualPackageOverrides, VirtualPackages};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

/// What to solve: channels (full URLs, already normalised), conda match specs, the
/// target platforms, and the CUDA version to assume (`CONDA_OVERRIDE_CUDA`).
#[derive(Debug, Clone, Default)]
pub struct SolveRequest {
    /// Channel URLs, in priority order.
    pub channels: Vec<String>,
    /// Conda match specs.
    pub specs: Vec<String>,
    /// Platforms to solve for (`linux-64`, ...).
    pub platforms: Vec<String>,
    /// `CONDA_OVERRIDE_CUDA` from the specification's variables, if any.
    pub cuda_override: Option<String>,
    /// The longest a solve of one platform may take (`conda_max_solve_time`); none for
    /// no limit.
    pub timeout: Option<Duration>,
}

/// Solves, locks and installs environments. Cheap to share behind an `Arc`.
pub struct Engine {
    gateway: Gateway,
    package_cache: PackageCache,
    download_client: Option<reqwest_middleware::ClientWithMiddleware>,
    cache_directory: PathBuf,
}

impl Engine {
    /// An engine whose repodata and package caches live under `cache_directory`
    /// (`repodata/` and `pkgs/`). Its HTTP client gives up on a channel that does not
    /// connect or stops sending (bounded time-outs), so a build against an unreachable
    /// channel fails with the channel's URL instead of hanging.
    pub fn new(cache_directory: &Path) -> Self {
        Self::with_address_filter(cache_directory, None)
    }

    /// [`Self::new`], its HTTP client resolving host names through `filter` (see
    /// [`AddressFilter`]: `refuse_private_addresses` at fetch time).
    pub fn with_address_filter(cache_directory: &Path, filter: Option<AddressFilter>) -> Self {
        let package_cache = PackageCache::new(cache_directory.join("pkgs"));
        let mut builder = Gateway::builder()
            .with_cache_dir(cache_directory.join("repodata"))
            .with_package_cache(package_cache.clone());
        let download_client = channel_index::http_client_with(filter).ok();
        if let Some(client) = &download_client {
            builder = builder.with_client(client.clone());
        }
        Self {
            gateway: builder.finish(),
            package_cache,
            download_client,
            cache_directory: cache_directory.to_owned(),
        }
    }

    /// The cache directory this engine was made with.
    pub fn cache_directory(&self) -> &Path {
        &self.cache_directory
    }

    /// The package cache directory (`{cache}/pkgs`).
    pub fn package_cache_directory(&self) -> PathBuf {
        self.cache_directory.join("pkgs")
    }

    /// Solves `request` for every platform and returns the lock.
    pub async fn lock(&self, request: &SolveRequest) -> Result<Lock, BuildError> {
        let channels = parse_channels(&request.channels)?;
        let specs = parse_specs(&request.specs)?;
        let mut platforms = BTreeMap::new();
        for platform in &request.platforms {
            let subdir = parse_platform(platform)?;
            let records = self.solve(&channels, &specs, subdir, request).await?;
            platforms.insert(platform.clone(), records);
        }
        Ok(Lock::new(request.channels.clone(), platforms))
    }

    /// Solves `specs` against `channels` for one platform, with the virtual packages
    /// and the time limit of `request`.
    async fn solve(
        &self,
        channels: &[Channel],
        specs: &[MatchSpec],
        platform: Subdir,
        request: &SolveRequest,
    ) -> Result<Vec<RepoDataRecord>, BuildError> {
        let repodata = self
            .gateway
            .query(
                channels.iter().cloned(),
                [platform, Subdir::NoArch],
                specs.iter().cloned(),
            )
            .recursive(true)
            .await
            .map_err(|error| BuildError::Repodata {
                channels: channels
                    .iter()
                    .map(|channel| channel.base_url.to_string())
                    .collect(),
                reason: error.to_string(),
            })?;
        let virtual_packages = virtual_packages(platform, request.cuda_override.as_deref())?;
        let specs = specs.to_vec();
        let timeout = request.timeout;
        // A build dropped meanwhile (canceled) stops the solver thread too.
        let cancellation = CancelOnDrop(CancellationToken::new());
        let token = cancellation.0.clone();
        // Solving is CPU work: keep it off the async executor.
        tokio::task::spawn_blocking(move || {
            let task = SolverTask {
                virtual_packages,
                specs,
                timeout,
                cancellation_token: Some(token),
                ..SolverTask::from_iter(&repodata)
            };
            resolvo::Solver
                .solve(task)
                .map(|solution| solution.records)
                .map_err(|error| match error {
                    SolveError::Cancelled => BuildError::SolveTimeout {
                        platform: platform.to_string(),
                        seconds: timeout.map_or(0, |timeout| timeout.as_secs()),
                    },
                    error => BuildError::Unsolvable {
                        platform: platform.to_string(),
                        explanation: error.to_string(),
                    },
                })
        })
        .await
        .map_err(|error| BuildError::Internal(error.to_string()))?
    }

    /// Installs `records` into `prefix` from the shared package cache, with hardlinks
    /// where the package allows and prefix replacement where it needs it.
    pub async fn install(
        &self,
        prefix: &Path,
        platform: &str,
        records: Vec<RepoDataRecord>,
    ) -> Result<(), BuildError> {
        let subdir = parse_platform(platform)?;
        let mut installer = Installer::new();
        if let Some(client) = &self.download_client {
            installer.set_download_client(client.clone());
        }
        installer
            .with_package_cache(self.package_cache.clone())
            .with_target_platform(subdir)
            .with_execute_link_scripts(false)
            .install(prefix, records)
            .await
            .map_err(|error| BuildError::Install {
                prefix: prefix.to_owned(),
                reason: error.to_string(),
            })?;
        Ok(())
    }
}

/// Cancels a solve when the future waiting for it is dropped.
struct CancelOnDrop(CancellationToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

fn parse_channels(urls: &[String]) -> Result<Vec<Channel>, BuildError> {
    let config = ChannelConfig::default_with_root_dir(PathBuf::from("/"));
    urls.iter()
        .map(|url| {
            Channel::from_str(url, &config).map_err(|error| BuildError::InvalidChannel {
                channel: url.clone(),
                reason: error.to_string(),
            })
        })
        .collect()
}

fn parse_specs(specs: &[String]) -> Result<Vec<MatchSpec>, BuildError> {
    specs
        .iter()
        .map(|spec| {
            parse_match_spec(spec).map_err(|error| BuildError::InvalidSpec {
                spec: spec.clone(),
                reason: error.to_string(),
            })
        })
        .collect()
}

fn parse_platform(platform: &str) -> Result<Subdir, BuildError> {
    Subdir::from_str(platform).map_err(|error| BuildError::InvalidPlatform {
        platform: platform.to_owned(),
        reason: error.to_string(),
    })
}

/// The virtual packages of `platform`: detected on this machine for its own platform,
/// the platform's defaults otherwise; `__cuda` from the override when given.
fn virtual_packages(
    platform: Subdir,
    cuda_override: Option<&str>,
) -> Result<Vec<GenericVirtualPackage>, BuildError> {
    let mut overrides = VirtualPackageOverrides::default();
    if let Some(version) = cuda_override {
        overrides.cuda = Some(Override::String(version.to_owned()));
    }
    VirtualPackages::detect_for_platform(platform, &overrides, None)
        .map(|detected| detected.into_generic_virtual_packages().collect())
        .map_err(|error| BuildError::Internal(format!("detecting virtual packages: {error}")))
}
