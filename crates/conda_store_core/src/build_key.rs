//! Build keys: the names of a build's directory and artifacts, in the three versions of
//! the Python conda-store (reference §1.3), so builds adopted from a Python database
//! resolve to the same paths and storage keys.

use crate::domain::BuildArtifactType;
use chrono::NaiveDateTime;
use sha2::{Digest, Sha256};
use std::fmt::Write;

/// What a build key is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildKeyParts<'a> {
    /// `build.build_key_version` (1, 2 or 3).
    pub version: i32,
    /// `build.id`.
    pub build_id: i64,
    /// The specification's sha256.
    pub specification_sha256: &'a str,
    /// The specification's name (= the environment name).
    pub specification_name: &'a str,
    /// The namespace's name.
    pub namespace: &'a str,
    /// `build.scheduled_on`, naive UTC.
    pub scheduled_on: NaiveDateTime,
}

/// Error for an unknown `build_key_version`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown build key version {0}; expected 1, 2 or 3")]
pub struct UnknownBuildKeyVersion(pub i32);

impl BuildKeyParts<'_> {
    /// The build key:
    /// - v1: `{sha256}-{scheduled:%Y%m%d-%H%M%S-%f}-{id}-{name}`
    /// - v2: `{sha256[:8]}-{epoch seconds}-{id}-{name}`
    /// - v3: `sha256(namespace + sha256 + epoch + id)[:32]`
    pub fn key(&self) -> Result<String, UnknownBuildKeyVersion> {
        let epoch = self.scheduled_on.and_utc().timestamp();
        match self.version {
            1 => Ok(format!(
                "{}-{}-{}-{}",
                self.specification_sha256,
                self.scheduled_on.format("%Y%m%d-%H%M%S-%6f"),
                self.build_id,
                self.specification_name
            )),
            2 => Ok(format!(
                "{}-{epoch}-{}-{}",
                self.specification_sha256
                    .get(..8)
                    .unwrap_or(self.specification_sha256),
                self.build_id,
                self.specification_name
            )),
            3 => {
                let digest = Sha256::digest(
                    format!(
                        "{}{}{epoch}{}",
                        self.namespace, self.specification_sha256, self.build_id
                    )
                    .as_bytes(),
                );
                let mut hex = String::with_capacity(64);
                for byte in digest {
                    let _ = write!(hex, "{byte:02x}");
                }
                hex.truncate(32);
                Ok(hex)
            }
            other => Err(UnknownBuildKeyVersion(other)),
        }
    }
}

/// How a build id is found from a key: directly for v1 and v2, by the `build.hash`
/// column for v3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedBuildKey {
    /// The key names this build id.
    Id(i64),
    /// A v3 key: look the build up by `hash`.
    Hash(String),
}

/// Parses a build key back to its build, as the Python conda-store does: `key[8] == '-'`
/// is v2, no `-` is v3, anything else v1. `None` for text that is no build key.
pub fn parse_build_key(key: &str) -> Option<ParsedBuildKey> {
    let parts: Vec<&str> = key.split('-').collect();
    if key.as_bytes().get(8) == Some(&b'-') {
        return parts.get(2)?.parse().ok().map(ParsedBuildKey::Id);
    }
    if parts.len() == 1 {
        return (!key.is_empty()).then(|| ParsedBuildKey::Hash(key.to_owned()));
    }
    parts.get(4)?.parse().ok().map(ParsedBuildKey::Id)
}

/// The storage key of an artifact of the build with `build_key`. `None` for
/// `DIRECTORY` (its key is the prefix path) and the legacy docker types.
pub fn artifact_key(artifact: BuildArtifactType, build_key: &str) -> Option<String> {
    let (folder, extension) = match artifact {
        BuildArtifactType::Logs => ("logs", "log"),
        BuildArtifactType::Lockfile => ("lockfile", "yml"),
        BuildArtifactType::Yaml => ("yaml", "yml"),
        BuildArtifactType::CondaPack => ("archive", "tar.gz"),
        BuildArtifactType::ConstructorInstaller => ("installer", "sh"),
        _ => return None,
    };
    Some(format!("{folder}/{build_key}.{extension}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(version: i32) -> BuildKeyParts<'static> {
        BuildKeyParts {
            version,
            build_id: 3,
            specification_sha256: "a6dbd964de10430fd025dce34f03b88da616bceb6980a3c360af8b8d32a6b400",
            specification_name: "python-base",
            namespace: "default",
            scheduled_on: chrono::NaiveDate::from_ymd_opt(2025, 3, 3)
                .and_then(|date| date.and_hms_micro_opt(22, 51, 27, 314187))
                .unwrap_or_default(),
        }
    }

    #[test]
    fn keys_match_the_peer_database() {
        // Build 3 of ../shared/data/peer-db is a v1 build with this LOGS key.
        assert_eq!(
            parts(1).key().ok().as_deref(),
            Some(
                "a6dbd964de10430fd025dce34f03b88da616bceb6980a3c360af8b8d32a6b400-20250303-225127-314187-3-python-base"
            )
        );
        assert_eq!(
            parts(2).key().ok().as_deref(),
            Some("a6dbd964-1741042287-3-python-base")
        );
        assert_eq!(parts(4).key(), Err(UnknownBuildKeyVersion(4)));
    }

    #[test]
    fn keys_parse_back_to_their_build() {
        for version in [1, 2] {
            let key = parts(version).key().unwrap_or_default();
            assert_eq!(
                parse_build_key(&key),
                Some(ParsedBuildKey::Id(3)),
                "v{version}"
            );
        }
        let v3 = parts(3).key().unwrap_or_default();
        assert_eq!(parse_build_key(&v3), Some(ParsedBuildKey::Hash(v3.clone())));
        assert_eq!(parse_build_key(""), None);
        assert_eq!(parse_build_key("not-a-key"), None);
    }

    #[test]
    fn artifact_keys_follow_the_original_layout() {
        assert_eq!(
            artifact_key(BuildArtifactType::CondaPack, "k").as_deref(),
            Some("archive/k.tar.gz")
        );
        assert_eq!(
            artifact_key(BuildArtifactType::Lockfile, "k").as_deref(),
            Some("lockfile/k.yml")
        );
        assert_eq!(artifact_key(BuildArtifactType::Directory, "k"), None);
    }
}
