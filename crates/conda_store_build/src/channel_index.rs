//! Fetching a channel's `repodata.json` for the channel index: conditional requests
//! through an on-disk cache (`{cache}/channel-index`), so an unchanged channel costs
//! one `304 Not Modified` (or nothing while the server's `max-age` holds), and a
//! content fingerprint, so an unchanged repodata is not even parsed.

use crate::{BuildError, Engine, parse_platform};
use rattler_conda_types::{PackageRecord, RepoData};
use rattler_digest::{Blake2b256, compute_file_digest};
use rattler_repodata_gateway::fetch::{FetchRepoDataOptions, fetch_repo_data};
use std::path::Path;
use std::time::Duration;

/// Longest wait for a connection to a channel's server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest silence while reading an answer (the download itself may take longer).
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The repodata of one channel subdir, as fetched for the channel index.
#[derive(Debug, Clone)]
pub enum ChannelRepodata {
    /// The repodata has the fingerprint the caller already indexed; it was not parsed.
    Unchanged {
        /// Its fingerprint (`blake2b256:{hex}` of the uncompressed `repodata.json`).
        fingerprint: String,
    },
    /// New or changed repodata, parsed.
    Changed {
        /// Its fingerprint (`blake2b256:{hex}` of the uncompressed `repodata.json`).
        fingerprint: String,
        /// Every record of `packages` and `packages.conda`.
        records: Vec<PackageRecord>,
    },
}

impl ChannelRepodata {
    /// The content fingerprint of the repodata.
    pub fn fingerprint(&self) -> &str {
        match self {
            Self::Unchanged { fingerprint } | Self::Changed { fingerprint, .. } => fingerprint,
        }
    }
}

impl Engine {
    /// The cache of the channel index's repodata downloads (`{cache}/channel-index`).
    pub fn channel_index_cache_directory(&self) -> std::path::PathBuf {
        self.cache_directory.join("channel-index")
    }

    /// Fetches `{channel_url}/{subdir}/repodata.json` (`file://` or `http(s)://`) with a
    /// conditional request. When its fingerprint equals `known_fingerprint` (what the
    /// caller indexed last time) the repodata is [`ChannelRepodata::Unchanged`] and is
    /// not parsed. Unreachable servers fail within bounded time-outs, naming the URL.
    pub async fn fetch_channel_repodata(
        &self,
        channel_url: &str,
        subdir: &str,
        known_fingerprint: Option<&str>,
    ) -> Result<ChannelRepodata, BuildError> {
        let subdir_url = subdir_url(channel_url, subdir)?;
        let failed = |reason: String| BuildError::Repodata {
            channels: vec![format!("{subdir_url}repodata.json")],
            reason,
        };
        let cached = fetch_repo_data(
            subdir_url.clone(),
            http_client().map_err(&failed)?.into(),
            self.channel_index_cache_directory(),
            FetchRepoDataOptions::default(),
            None,
        )
        .await
        .map_err(|error| failed(error_chain(&error)))?;
        let known_hash = cached.cache_state.blake2_hash.map(fingerprint_of);
        let known_fingerprint = known_fingerprint.map(str::to_owned);
        // Reading and parsing a large repodata.json is blocking CPU work. The cache's lock
        // is held until the file has been read.
        tokio::task::spawn_blocking(move || {
            let path = cached.repo_data_json_path.as_path();
            let fingerprint = match known_hash {
                Some(fingerprint) => fingerprint,
                None => file_fingerprint(path)?,
            };
            if known_fingerprint.as_deref() == Some(fingerprint.as_str()) {
                return Ok(ChannelRepodata::Unchanged { fingerprint });
            }
            let records = parse_records(path)?;
            drop(cached);
            Ok(ChannelRepodata::Changed {
                fingerprint,
                records,
            })
        })
        .await
        .map_err(|error| BuildError::Internal(error.to_string()))?
        .map_err(|error: std::io::Error| failed(error.to_string()))
    }
}

/// `{channel_url}/{subdir}/`, with the subdir checked.
fn subdir_url(channel_url: &str, subdir: &str) -> Result<url::Url, BuildError> {
    parse_platform(subdir)?;
    let invalid = |reason: String| BuildError::InvalidChannel {
        channel: channel_url.to_owned(),
        reason,
    };
    let base = url::Url::parse(&format!("{}/", channel_url.trim_end_matches('/')))
        .map_err(|error| invalid(error.to_string()))?;
    if !matches!(base.scheme(), "file" | "http" | "https") {
        return Err(invalid(format!(
            "unsupported scheme `{}`; use file, http or https",
            base.scheme()
        )));
    }
    base.join(&format!("{subdir}/"))
        .map_err(|error| invalid(error.to_string()))
}

/// An HTTP client with bounded connect and read time-outs. The channel index makes one
/// per fetch: a pooled connection must not outlive the runtime that opened it.
pub(crate) fn http_client() -> Result<reqwest_middleware::ClientWithMiddleware, String> {
    http_client_with(None)
}

/// [`http_client`], resolving host names through `filter` when given.
pub(crate) fn http_client_with(
    filter: Option<crate::AddressFilter>,
) -> Result<reqwest_middleware::ClientWithMiddleware, String> {
    let mut builder = rattler_reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .user_agent(concat!("conda-store-rs/", env!("CARGO_PKG_VERSION")));
    if let Some(filter) = filter {
        builder = builder.dns_resolver(filter);
    }
    let client = builder
        .build()
        .map_err(|error| format!("cannot create an HTTP client: {error}"))?;
    Ok(reqwest_middleware::ClientBuilder::new(client).build())
}

/// The fingerprint of a BLAKE2b-256 digest.
fn fingerprint_of(hash: impl AsRef<[u8]>) -> String {
    let hex: String = hash
        .as_ref()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("blake2b256:{hex}")
}

/// The fingerprint of a file's content.
fn file_fingerprint(path: &Path) -> std::io::Result<String> {
    compute_file_digest::<Blake2b256>(path).map(fingerprint_of)
}

/// The records of `packages` and `packages.conda`.
fn parse_records(path: &Path) -> std::io::Result<Vec<PackageRecord>> {
    let repodata = RepoData::from_path(path)?;
    Ok(repodata
        .packages
        .into_values()
        .chain(repodata.conda_packages.into_values())
        .collect())
}

/// An error with its sources, so that the underlying cause (connection refused,
/// time-out, 404) is in the message.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}
