//! Errors of the build engine, each naming the channel, spec, platform or prefix.

use std::path::PathBuf;

/// Why a solve, lock or install failed. The messages are written for the build log
/// and `status_info`, so they say what the user can fix.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A channel that is not a valid channel name or URL.
    #[error("invalid channel `{channel}`: {reason}")]
    InvalidChannel {
        /// The channel as given.
        channel: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A dependency that is not a valid conda match spec.
    #[error("invalid dependency `{spec}`: {reason}")]
    InvalidSpec {
        /// The dependency as given.
        spec: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A platform name conda does not know.
    #[error("invalid platform `{platform}`: {reason}")]
    InvalidPlatform {
        /// The platform as given.
        platform: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Repodata could not be read from a channel (unreachable, missing, corrupt).
    #[error("cannot read repodata from {}: {reason}", channels.join(", "))]
    Repodata {
        /// The channels queried.
        channels: Vec<String>,
        /// What went wrong.
        reason: String,
    },
    /// No set of packages satisfies the specification.
    #[error("the specification cannot be solved for {platform}: {explanation}")]
    Unsolvable {
        /// The platform solved for.
        platform: String,
        /// The solver's explanation.
        explanation: String,
    },
    /// Installing into the prefix failed.
    #[error("cannot install into {}: {reason}", prefix.display())]
    Install {
        /// The prefix.
        prefix: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The solver ran longer than `conda_max_solve_time` allows.
    #[error(
        "the specification could not be solved for {platform} within {seconds} s (conda_max_solve_time)"
    )]
    SolveTimeout {
        /// The platform solved for.
        platform: String,
        /// The time limit in seconds.
        seconds: u64,
    },
    /// The mode or owner of an installed file could not be set.
    #[error("cannot set the permissions of {}: {reason}", path.display())]
    Permissions {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The conda-pack archive could not be written.
    #[error("cannot pack {}: {reason}", prefix.display())]
    Pack {
        /// The prefix.
        prefix: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The specification has pip dependencies but no uv executable was found.
    #[error(
        "the specification has pip dependencies, but uv was not found (looked for `{command}`): install the `uv` PyPI package or set `uv_command`"
    )]
    UvMissing {
        /// The command looked for.
        command: String,
    },
    /// Resolving or installing pip dependencies failed.
    #[error("pip dependencies: {reason}")]
    Pip {
        /// What went wrong (uv's own message when uv failed).
        reason: String,
    },
    /// A lockfile could not be written or read.
    #[error("lockfile: {0}")]
    Lockfile(String),
    /// A failure inside the engine itself.
    #[error("internal error: {0}")]
    Internal(String),
}
