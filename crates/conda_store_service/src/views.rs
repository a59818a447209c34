//! What the read use-cases return, shaped and named as the Python conda-store's JSON
//! (its pydantic schemas), so the HTTP layer serialises them as they are and the admin
//! pages render the same data. Timestamps are naive UTC, written as Python writes them.

use chrono::NaiveDateTime;
use schemars::JsonSchema;
use serde::{Serialize, Serializer};

/// A namespace row as a list item: `{"id","name"}`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct NamespaceSummary {
    /// Row id.
    pub id: i32,
    /// Namespace name.
    pub name: String,
}

/// One v1 role mapping of a namespace: `entity` (an ARN) gets `role`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "NamespaceRoleMapping")]
pub struct RoleMappingView {
    /// Row id.
    pub id: i32,
    /// The ARN pattern the role is granted on.
    pub entity: String,
    /// The role.
    pub role: String,
}

/// A v2 role mapping: members of `other_namespace` get `role` on `namespace`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "NamespaceRoleMappingV2")]
pub struct RoleMappingV2View {
    /// Row id.
    pub id: i32,
    /// The shared namespace.
    pub namespace: String,
    /// The namespace it is shared with.
    pub other_namespace: String,
    /// The role granted.
    pub role: String,
}

/// A namespace with its metadata and v1 role mappings.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "Namespace")]
pub struct NamespaceView {
    /// Row id.
    pub id: i32,
    /// Namespace name.
    pub name: String,
    /// Free-form metadata (`metadata_` on the wire, as in Python).
    pub metadata_: Option<serde_json::Value>,
    /// v1 role mappings.
    pub role_mappings: Vec<RoleMappingView>,
}

/// An environment with its namespace. `current_build` is always null in lists and
/// lookups, as in the original.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "Environment")]
pub struct EnvironmentView {
    /// Row id.
    pub id: i32,
    /// Its namespace.
    pub namespace: NamespaceView,
    /// Environment name.
    pub name: String,
    /// The active build.
    pub current_build_id: Option<i32>,
    /// Always null (kept for the wire shape).
    pub current_build: Option<BuildView>,
    /// Description.
    pub description: Option<String>,
}

/// A specification as stored.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "Specification")]
pub struct SpecificationView {
    /// Row id.
    pub id: i32,
    /// Environment name it declares.
    pub name: String,
    /// The specification document.
    pub spec: serde_json::Value,
    /// Canonical hash.
    pub sha256: String,
    /// When it was first registered.
    #[serde(serialize_with = "timestamp")]
    #[schemars(with = "Option<String>")]
    pub created_on: Option<NaiveDateTime>,
}

/// One artifact of a build.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "BuildArtifact")]
pub struct ArtifactView {
    /// Row id.
    pub id: i32,
    /// `LOGS`, `LOCKFILE`, ...
    pub artifact_type: String,
    /// Storage key (or prefix path for DIRECTORY).
    pub key: Option<String>,
}

/// A build. Lists leave `specification` and `build_artifacts` null; `packages` is
/// always null, as in the original.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "Build")]
pub struct BuildView {
    /// Row id.
    pub id: i32,
    /// Its environment.
    pub environment_id: i32,
    /// Its specification (single-build lookups only).
    pub specification: Option<SpecificationView>,
    /// Always null.
    pub packages: Option<Vec<PackageView>>,
    /// `QUEUED`, `BUILDING`, `COMPLETED`, `FAILED` or `CANCELED`.
    pub status: Option<String>,
    /// Why it failed, if it did.
    pub status_info: Option<String>,
    /// Installed size in bytes.
    pub size: Option<i64>,
    /// When it was queued.
    #[serde(serialize_with = "timestamp")]
    #[schemars(with = "Option<String>")]
    pub scheduled_on: Option<NaiveDateTime>,
    /// When a worker started it.
    #[serde(serialize_with = "timestamp")]
    #[schemars(with = "Option<String>")]
    pub started_on: Option<NaiveDateTime>,
    /// When it ended.
    #[serde(serialize_with = "timestamp")]
    #[schemars(with = "Option<String>")]
    pub ended_on: Option<NaiveDateTime>,
    /// Its artifacts (single-build lookups only).
    pub build_artifacts: Option<Vec<ArtifactView>>,
}

/// A conda channel.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "CondaChannel")]
pub struct ChannelView {
    /// Row id.
    pub id: i32,
    /// Channel URL or name.
    pub name: String,
    /// When the channel index last changed it.
    #[serde(serialize_with = "timestamp")]
    #[schemars(with = "Option<String>")]
    pub last_update: Option<NaiveDateTime>,
}

/// A conda package (name and version in a channel).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(rename = "CondaPackage")]
pub struct PackageView {
    /// Row id.
    pub id: i32,
    /// Its channel.
    pub channel: ChannelView,
    /// License.
    pub license: Option<String>,
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// One-line summary.
    pub summary: Option<String>,
}

/// Usage figures of one namespace.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct NamespaceUsage {
    /// Environments not deleted.
    pub num_environments: i64,
    /// Builds not deleted.
    pub num_builds: i64,
    /// Sum of build sizes in bytes (null when it has no builds).
    pub storage: Option<i64>,
}

impl NamespaceUsage {
    /// No environments, no builds.
    pub fn empty() -> Self {
        Self {
            num_environments: 0,
            num_builds: 0,
            storage: None,
        }
    }
}

/// A naive UTC timestamp as Python's `isoformat()` writes it: microseconds when
/// non-zero, no offset (`2024-01-29T03:56:36.889909`).
pub fn format_timestamp(value: &NaiveDateTime) -> String {
    use chrono::Timelike;
    let microseconds = value.nanosecond() / 1_000 % 1_000_000;
    let seconds = value.format("%Y-%m-%dT%H:%M:%S");
    if microseconds == 0 {
        seconds.to_string()
    } else {
        format!("{seconds}.{microseconds:06}")
    }
}

fn timestamp<S: Serializer>(
    value: &Option<NaiveDateTime>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => serializer.serialize_str(&format_timestamp(value)),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_python_writes_them() {
        let parse = |text: &str| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").unwrap_or_default()
        };
        assert_eq!(
            format_timestamp(&parse("2024-01-29T03:56:36.889909123")),
            "2024-01-29T03:56:36.889909"
        );
        assert_eq!(
            format_timestamp(&parse("2024-01-29T03:56:36.5")),
            "2024-01-29T03:56:36.500000"
        );
        assert_eq!(
            format_timestamp(&parse("2024-01-29T03:56:36")),
            "2024-01-29T03:56:36"
        );
    }
}
