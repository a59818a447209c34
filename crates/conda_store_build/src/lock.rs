//! The solved environment of every platform, and its conda-lock v1 form (the lockfile
//! format conda-store stores and serves, as JSON text).

use crate::error::BuildError;
use crate::pip::PypiPackage;
use rattler_conda_types::{RepoDataRecord, Subdir};
use rattler_lock::conda_lock::{ExportOptions, ImportOptions};
use rattler_lock::{
    CondaPackageData, LockFile, PackageHashes, PlatformData, PypiDistributionData, PypiPackageData,
    UrlOrPath, Verbatim,
};
use std::collections::BTreeMap;
use std::str::FromStr;

const ENVIRONMENT: &str = "default";

/// The packages chosen for each platform (conda records, then pip distributions),
/// and the channels they came from.
#[derive(Debug, Clone)]
pub struct Lock {
    channels: Vec<String>,
    platforms: BTreeMap<String, Vec<RepoDataRecord>>,
    pypi: BTreeMap<String, Vec<PypiPackage>>,
}

impl Lock {
    /// A lock of the given per-platform records.
    pub fn new(channels: Vec<String>, platforms: BTreeMap<String, Vec<RepoDataRecord>>) -> Self {
        Self {
            channels,
            platforms,
            pypi: BTreeMap::new(),
        }
    }

    /// The records chosen for `platform`.
    pub fn records(&self, platform: &str) -> Option<&[RepoDataRecord]> {
        self.platforms.get(platform).map(Vec::as_slice)
    }

    /// The pip distributions pinned for `platform` (none when it has no pip
    /// dependencies).
    pub fn pypi_packages(&self, platform: &str) -> &[PypiPackage] {
        self.pypi.get(platform).map_or(&[], Vec::as_slice)
    }

    /// Pins the pip distributions of `platform`.
    pub fn set_pypi_packages(&mut self, platform: &str, packages: Vec<PypiPackage>) {
        self.pypi.insert(platform.to_owned(), packages);
    }

    /// The version of the `python` package locked for `platform`, if any.
    pub fn python_version(&self, platform: &str) -> Option<String> {
        self.records(platform)?
            .iter()
            .find(|record| record.package_record.name.as_normalized() == "python")
            .map(|record| record.package_record.version.to_string())
    }

    /// The channel URLs of this lock.
    pub fn channels(&self) -> &[String] {
        &self.channels
    }

    /// The platforms of this lock.
    pub fn platforms(&self) -> impl Iterator<Item = &str> {
        self.platforms.keys().map(String::as_str)
    }

    /// The lock as a conda-lock v1 document in JSON text (valid YAML too), with
    /// `manager: conda`, URLs and hashes for every package of every platform.
    pub fn to_conda_lock_json(&self) -> Result<String, BuildError> {
        let failed = |error: &dyn std::fmt::Display| BuildError::Lockfile(error.to_string());
        let platform_data = self
            .platforms
            .keys()
            .map(|name| {
                Ok(PlatformData {
                    name: name.as_str().try_into().map_err(|error| failed(&error))?,
                    subdir: Subdir::from_str(name).map_err(|error| failed(&error))?,
                    virtual_packages: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, BuildError>>()?;
        let mut builder = LockFile::builder()
            .with_platforms(platform_data)
            .map_err(|error| failed(&error))?
            .with_channels(ENVIRONMENT, self.channels.iter().cloned());
        for (platform, records) in &self.platforms {
            for record in records {
                let mut data: CondaPackageData = record.clone().into();
                // rattler turns file:// URLs into paths, which conda-lock cannot hold.
                if let CondaPackageData::Binary(binary) = &mut data {
                    binary.location = UrlOrPath::Url(record.url.clone());
                }
                builder
                    .add_conda_package(ENVIRONMENT, platform.as_str(), data)
                    .map_err(|error| failed(&error))?;
            }
        }
        for (platform, packages) in &self.pypi {
            for package in packages {
                builder
                    .add_pypi_package(ENVIRONMENT, platform.as_str(), distribution(package)?)
                    .map_err(|error| failed(&error))?;
            }
        }
        let lock = builder.finish();
        let environment = lock
            .default_environment()
            .ok_or_else(|| BuildError::Lockfile("no environment in the lock".to_owned()))?;
        let yaml = environment
            .to_conda_lock(&ExportOptions {
                sources: vec!["environment.yaml".to_owned()],
                ..Default::default()
            })
            .map_err(|error| failed(&error))?
            .to_yaml()
            .map_err(|error| failed(&error))?;
        let document: serde_json::Value =
            serde_yaml::from_str(&yaml).map_err(|error| failed(&error))?;
        let mut text = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut serializer = serde_json::Serializer::with_formatter(&mut text, formatter);
        serde::Serialize::serialize(&document, &mut serializer).map_err(|error| failed(&error))?;
        String::from_utf8(text).map_err(|error| failed(&error))
    }

    /// Reads a conda-lock v1 document (YAML or JSON).
    pub fn from_conda_lock(text: &str) -> Result<Self, BuildError> {
        let failed = |error: &dyn std::fmt::Display| BuildError::Lockfile(error.to_string());
        let document = rattler_conda_lock::Document::parse(text).map_err(|error| failed(&error))?;
        let lock = LockFile::from_conda_lock_document(&document, &ImportOptions::default())
            .map_err(|error| failed(&error))?;
        let environment = lock
            .default_environment()
            .ok_or_else(|| BuildError::Lockfile("the lockfile has no environment".to_owned()))?;
        let channels = environment
            .channels()
            .iter()
            .map(|channel| channel.url.clone())
            .collect();
        let mut platforms = BTreeMap::new();
        let mut pypi_by_platform = BTreeMap::new();
        for platform in environment.platforms() {
            let records = environment
                .conda_repodata_records(platform)
                .map_err(|error| failed(&error))?
                .unwrap_or_default();
            let pypi = environment
                .pypi_packages(platform)
                .into_iter()
                .flatten()
                .filter_map(|package| match package {
                    PypiPackageData::Distribution(data) => Some(pypi_package(data)),
                    PypiPackageData::Source(_) => None,
                })
                .collect();
            platforms.insert(platform.name().to_string(), records);
            pypi_by_platform.insert(platform.name().to_string(), pypi);
        }
        Ok(Self {
            channels,
            platforms,
            pypi: pypi_by_platform,
        })
    }
}

/// A pinned pip distribution in rattler's lock model.
fn distribution(package: &PypiPackage) -> Result<PypiPackageData, BuildError> {
    let failed = |what: &str, error: &dyn std::fmt::Display| {
        BuildError::Lockfile(format!("pip package {}: {what}: {error}", package.name))
    };
    let url = url::Url::parse(&package.url).map_err(|error| failed("url", &error))?;
    let sha256 = match &package.sha256 {
        Some(hex) => Some(
            rattler_digest::parse_digest_from_hex::<rattler_digest::Sha256>(hex)
                .ok_or_else(|| failed("sha256", &hex))?,
        ),
        None => None,
    };
    Ok(PypiDistributionData {
        name: package
            .name
            .parse()
            .map_err(|error| failed("name", &error))?,
        version: package
            .version
            .parse()
            .map_err(|error| failed("version", &error))?,
        location: Verbatim::new_with_given(UrlOrPath::Url(url), package.url.clone()),
        index_url: None,
        hash: PackageHashes::from_hashes(None, sha256),
        requires_dist: Vec::new(),
        requires_python: None,
    }
    .into())
}

/// A pip distribution read from a lockfile.
fn pypi_package(data: &PypiDistributionData) -> PypiPackage {
    PypiPackage {
        name: data.name.to_string(),
        version: data.version.to_string(),
        url: data
            .location
            .given()
            .map_or_else(|| data.location.to_string(), str::to_owned),
        sha256: data
            .hash
            .as_ref()
            .and_then(PackageHashes::sha256)
            .map(|hash| hash.iter().map(|byte| format!("{byte:02x}")).collect()),
    }
}
