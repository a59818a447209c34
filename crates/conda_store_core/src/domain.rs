//! Enumerations stored in the database and sent over the wire, spelled as the Python
//! conda-store spells them (upper-case enum *names*).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Error returned when a stored or submitted enum value is not one we know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownVariant {
    /// Which enumeration was being parsed.
    pub kind: &'static str,
    /// The text that did not match any variant.
    pub value: String,
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal, { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored spelling of this variant.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|variant| variant.as_str() == value)
                    .ok_or_else(|| UnknownVariant { kind: $kind, value: value.to_owned() })
            }
        }
    };
}

string_enum!(
    /// The state of a build (`build.status`).
    BuildStatus, "build status", {
        /// Waiting for a worker.
        Queued = "QUEUED",
        /// A worker is building it.
        Building = "BUILDING",
        /// Built; its environment can be used.
        Completed = "COMPLETED",
        /// The build failed; `status_info` and the log say why.
        Failed = "FAILED",
        /// Canceled by a user before it finished.
        Canceled = "CANCELED",
    }
);

string_enum!(
    /// The kind of a stored build artifact (`build_artifact.artifact_type`).
    BuildArtifactType, "build artifact type", {
        /// The installed prefix; the key is its absolute path.
        Directory = "DIRECTORY",
        /// The conda-lock v1 lockfile (JSON text).
        Lockfile = "LOCKFILE",
        /// The build log.
        Logs = "LOGS",
        /// The pinned `environment.yaml` export.
        Yaml = "YAML",
        /// The relocatable conda-pack archive.
        CondaPack = "CONDA_PACK",
        /// Legacy: a docker image manifest.
        DockerManifest = "DOCKER_MANIFEST",
        /// A constructor installer.
        ConstructorInstaller = "CONSTRUCTOR_INSTALLER",
        /// Legacy: an image in a container registry.
        ContainerRegistry = "CONTAINER_REGISTRY",
        /// Legacy: a docker image layer.
        DockerBlob = "DOCKER_BLOB",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_spelling_round_trips_through_serde_and_from_str() {
        for variant in BuildArtifactType::ALL {
            let json = serde_json::to_string(variant).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", variant.as_str()));
            assert_eq!(
                variant.as_str().parse::<BuildArtifactType>().ok(),
                Some(*variant)
            );
        }
        for variant in BuildStatus::ALL {
            let json = serde_json::to_string(variant).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", variant.as_str()));
        }
        assert_eq!(BuildArtifactType::CondaPack.as_str(), "CONDA_PACK");
        assert!("conda_pack".parse::<BuildArtifactType>().is_err());
    }
}
