//! pip dependencies, resolved and installed with uv: `uv pip compile` pins the
//! requirements for each platform (PEP 751 `pylock.toml`, which names the exact file
//! and its hash), and `uv pip install --no-deps --require-hashes` installs exactly
//! those files into the environment. A lockfile specification installs its pinned
//! files the same way, without resolving.

use crate::error::BuildError;
use conda_store_core::field_text::check_field_text;
use conda_store_core::pip_entry::{PipEntry, check_pinned_package, parse_pip_entry};
use conda_store_core::redaction::redact_credentials;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// One pinned PyPI distribution: the file to install and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PypiPackage {
    /// Distribution name, as the resolver wrote it.
    pub name: String,
    /// Exact version.
    pub version: String,
    /// URL of the wheel (or source archive) to install.
    pub url: String,
    /// Hex sha256 of that file, when known.
    pub sha256: Option<String>,
}

/// The uv executable and the cache it shares between builds.
#[derive(Debug, Clone)]
pub struct Uv {
    command: PathBuf,
    cache_directory: PathBuf,
    allow_source_distributions: bool,
}

/// The `pip:` entries of a specification, checked again and split: requirements go
/// into the file uv reads (one per line), options become uv command-line flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipInput {
    /// PEP 508 requirements.
    pub requirements: Vec<String>,
    /// uv arguments of the allowed options (`--index-url`, URL, `--pre`, ...).
    pub arguments: Vec<String>,
}

impl PipInput {
    /// Checks every entry with the specification rules (a row stored before they
    /// existed must not get through at build time) and splits them.
    pub fn from_entries(entries: &[String]) -> Result<Self, BuildError> {
        let mut input = Self::default();
        for (position, entry) in entries.iter().enumerate() {
            let refused = |reason: String| BuildError::Pip {
                reason: format!("pip entry {position} refused: {reason}"),
            };
            check_field_text(&format!("pip entry {position}"), entry).map_err(refused)?;
            match parse_pip_entry(entry).map_err(refused)? {
                PipEntry::Option(option) => input.arguments.extend(option.arguments()),
                PipEntry::Requirement { .. } => input.requirements.push(entry.clone()),
            }
        }
        Ok(input)
    }

    /// Whether there is nothing to resolve.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// Environment variables passed through to uv besides those it is given: proxies and
/// TLS trust settings, which a deployment may need to reach its indexes.
const PASSED_VARIABLES: [&str; 10] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// The most lines of uv's error output kept in a build's failure message.
const ERROR_LINES: usize = 20;

/// The longest line of uv's error output kept.
const ERROR_LINE_LENGTH: usize = 400;

impl Uv {
    /// Finds uv: the `uv_command` setting when given (a path, or a name looked up on
    /// `PATH`), else `uv` on `PATH`. Its cache lives in `cache_directory`.
    pub fn locate(configured: Option<&str>, cache_directory: &Path) -> Result<Self, BuildError> {
        let wanted = configured.unwrap_or("uv");
        let command = if wanted.contains('/') {
            Some(PathBuf::from(wanted)).filter(|path| path.is_file())
        } else {
            search_path(wanted)
        };
        command
            .map(|command| Self {
                command,
                cache_directory: cache_directory.to_owned(),
                allow_source_distributions: false,
            })
            .ok_or_else(|| BuildError::UvMissing {
                command: wanted.to_owned(),
            })
    }

    /// Lets uv build source distributions (`pip_allow_source_distributions`); by
    /// default it installs wheels only (`--no-build`).
    pub fn allow_source_distributions(mut self, allow: bool) -> Self {
        self.allow_source_distributions = allow;
        self
    }

    /// Pins the requirements of `input` (with its options as uv flags) for the conda
    /// `platform` and `python_version`, resolving with the interpreter `python`.
    pub async fn resolve(
        &self,
        python: &Path,
        input: &PipInput,
        platform: &str,
        python_version: &str,
    ) -> Result<Vec<PypiPackage>, BuildError> {
        let target = uv_platform(platform).ok_or_else(|| BuildError::Pip {
            reason: format!("uv cannot resolve pip dependencies for platform {platform}"),
        })?;
        let scratch = scratch_directory()?;
        let output = scratch.path().join("pylock.toml");
        let requirements = scratch.path().join("requirements.in");
        write(&requirements, &(input.requirements.join("\n") + "\n")).await?;
        let mut arguments: Vec<&std::ffi::OsStr> = vec![
            "pip".as_ref(),
            "compile".as_ref(),
            requirements.as_os_str(),
            "--format".as_ref(),
            "pylock.toml".as_ref(),
            "--output-file".as_ref(),
            output.as_os_str(),
            "--python".as_ref(),
            python.as_os_str(),
            "--python-platform".as_ref(),
            target.as_ref(),
            "--python-version".as_ref(),
            python_version.as_ref(),
            "--no-header".as_ref(),
        ];
        arguments.extend(input.arguments.iter().map(std::ffi::OsStr::new));
        self.run(&arguments, scratch.path()).await?;
        let text = tokio::fs::read_to_string(&output)
            .await
            .map_err(|error| BuildError::Pip {
                reason: format!("uv wrote no {}: {error}", output.display()),
            })?;
        parse_pylock(&text)
    }

    /// Installs exactly `packages` (no dependency resolution, hashes checked) into
    /// the environment of the interpreter `python`.
    pub async fn install(&self, python: &Path, packages: &[PypiPackage]) -> Result<(), BuildError> {
        if packages.is_empty() {
            return Ok(());
        }
        for package in packages {
            check_pinned_package(&package.name, &package.url, package.sha256.as_deref())
                .map_err(|reason| BuildError::Pip { reason })?;
        }
        let scratch = scratch_directory()?;
        let requirements = scratch.path().join("requirements.txt");
        write(&requirements, &install_requirements(packages)).await?;
        let mut arguments = vec![
            "pip".as_ref(),
            "install".as_ref(),
            "--python".as_ref(),
            python.as_os_str(),
            "--no-deps".as_ref(),
            "--requirements".as_ref(),
            requirements.as_os_str(),
        ];
        if packages.iter().all(|package| package.sha256.is_some()) {
            arguments.push("--require-hashes".as_ref());
        }
        self.run(&arguments, scratch.path()).await
    }

    /// Runs uv with `arguments` in `scratch` (its working directory, `HOME` and
    /// `TMPDIR`), with a scrubbed environment: none of the server's variables reach uv
    /// or a build backend, only `PATH`, uv's own settings, proxies and TLS trust. A
    /// failure carries uv's error lines, redacted.
    async fn run(&self, arguments: &[&std::ffi::OsStr], scratch: &Path) -> Result<(), BuildError> {
        let mut command = tokio::process::Command::new(&self.command);
        command
            .args(arguments)
            .arg("--no-config")
            .arg("--quiet")
            .env_clear()
            .current_dir(scratch)
            .env("HOME", scratch)
            .env("TMPDIR", scratch)
            .env("UV_CACHE_DIR", self.cache_for(scratch))
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if !self.allow_source_distributions {
            command.arg("--no-build");
        }
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        for name in PASSED_VARIABLES {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        let output = command.output().await.map_err(|error| BuildError::Pip {
            reason: format!("cannot run {}: {error}", self.command.display()),
        })?;
        if output.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        tracing::debug!("uv failed: {}", redact_credentials(&stderr));
        Err(BuildError::Pip {
            reason: error_lines(&stderr, self.allow_source_distributions),
        })
    }
}

impl Uv {
    /// uv's cache: the shared one when only wheels are installed; a fresh one in the
    /// scratch directory when source distributions may be built, so a build backend
    /// runs outside the data directory and cannot alter what other builds install.
    fn cache_for(&self, scratch: &Path) -> PathBuf {
        if self.allow_source_distributions {
            scratch.join("uv-cache")
        } else {
            self.cache_directory.clone()
        }
    }
}

/// The error lines of uv's output (its `error:`, `cause:`, `×`, `╰─▶`, `Caused by:` and `hint:`
/// lines, at most [`ERROR_LINES`] of at most [`ERROR_LINE_LENGTH`] characters),
/// credentials redacted: never the output of a build backend or the text of a file.
fn error_lines(stderr: &str, allow_source_distributions: bool) -> String {
    let kept: Vec<String> = stderr
        .lines()
        .map(str::trim)
        .filter(|line| {
            [
                "error",
                "cause",
                "×",
                "╰─▶",
                "├─▶",
                "Caused by",
                "hint",
                "help",
            ]
            .iter()
            .any(|start| line.starts_with(start))
        })
        .take(ERROR_LINES)
        .map(|line| line.chars().take(ERROR_LINE_LENGTH).collect())
        .collect();
    let mut message = if kept.is_empty() {
        "uv failed without an error message".to_owned()
    } else {
        redact_credentials(&kept.join("\n"))
    };
    if !allow_source_distributions && stderr.contains("--no-build") {
        message.push_str(
            "\nsource distributions are not built on this server (only wheels are installed); \
             the operator can allow them with the setting `pip_allow_source_distributions`",
        );
    }
    message
}

/// The interpreter of an installed conda environment.
pub fn python_executable(prefix: &Path, platform: &str) -> PathBuf {
    if platform.starts_with("win-") {
        prefix.join("python.exe")
    } else {
        prefix.join("bin").join("python")
    }
}

/// uv's `--python-platform` for a conda platform.
fn uv_platform(platform: &str) -> Option<&'static str> {
    Some(match platform {
        "linux-64" => "x86_64-unknown-linux-gnu",
        "linux-aarch64" => "aarch64-unknown-linux-gnu",
        "linux-ppc64le" => "powerpc64le-unknown-linux-gnu",
        "linux-s390x" => "s390x-unknown-linux-gnu",
        "osx-64" => "x86_64-apple-darwin",
        "osx-arm64" => "aarch64-apple-darwin",
        "win-64" => "x86_64-pc-windows-msvc",
        "win-arm64" => "aarch64-pc-windows-msvc",
        _ => return None,
    })
}

/// A requirements file naming each file by URL with its hash.
fn install_requirements(packages: &[PypiPackage]) -> String {
    packages
        .iter()
        .map(|package| match &package.sha256 {
            Some(sha256) => format!(
                "{} @ {} --hash=sha256:{sha256}\n",
                package.name, package.url
            ),
            None => format!("{} @ {}\n", package.name, package.url),
        })
        .collect()
}

/// The parts of a PEP 751 `pylock.toml` that pin a package to one file.
#[derive(Deserialize)]
struct Pylock {
    #[serde(default)]
    packages: Vec<PylockPackage>,
}

#[derive(Deserialize)]
struct PylockPackage {
    name: String,
    version: Option<String>,
    #[serde(default)]
    wheels: Vec<PylockFile>,
    sdist: Option<PylockFile>,
}

#[derive(Deserialize)]
struct PylockFile {
    url: Option<String>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

/// Reads the packages of a `pylock.toml`, taking the first wheel uv kept for the
/// target platform, else the source archive.
fn parse_pylock(text: &str) -> Result<Vec<PypiPackage>, BuildError> {
    let lock: Pylock = toml::from_str(text).map_err(|error| BuildError::Pip {
        reason: format!("cannot read uv's pylock.toml: {error}"),
    })?;
    lock.packages
        .into_iter()
        .map(|package| {
            let file = package
                .wheels
                .into_iter()
                .chain(package.sdist)
                .find(|file| file.url.is_some());
            let (Some(version), Some(mut file)) = (package.version, file) else {
                return Err(BuildError::Pip {
                    reason: format!(
                        "pip package {} resolved to no downloadable file (local paths and VCS checkouts are not supported)",
                        package.name
                    ),
                });
            };
            Ok(PypiPackage {
                name: package.name,
                version,
                url: file.url.unwrap_or_default(),
                sha256: file.hashes.remove("sha256"),
            })
        })
        .collect()
}

fn scratch_directory() -> Result<tempfile::TempDir, BuildError> {
    tempfile::tempdir().map_err(|error| BuildError::Pip {
        reason: format!("cannot create a scratch directory: {error}"),
    })
}

async fn write(path: &Path, text: &str) -> Result<(), BuildError> {
    tokio::fs::write(path, text)
        .await
        .map_err(|error| BuildError::Pip {
            reason: format!("cannot write {}: {error}", path.display()),
        })
}

/// The first executable called `name` in a `PATH` directory.
fn search_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let directories = std::env::var_os("PATH")?;
    std::env::split_paths(&directories)
        .map(|directory| directory.join(name))
        .find(|candidate| {
            candidate.metadata().is_ok_and(|metadata| {
                metadata.is_file() && metadata.permissions().mode() & 0o111 != 0
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wheels_and_source_archives_from_a_pylock() {
        let text = r#"
lock-version = "1.0"
created-by = "uv"

[[packages]]
name = "hello-pip"
version = "1.0"
wheels = [{ url = "http://127.0.0.1:1/hello_pip-1.0-py3-none-any.whl", hashes = { sha256 = "ab12" } }]

[[packages]]
name = "only-source"
version = "2.0"
sdist = { url = "http://127.0.0.1:1/only-source-2.0.tar.gz", hashes = { sha256 = "cd34" } }
"#;
        let packages = parse_pylock(text).unwrap_or_default();
        assert_eq!(packages.len(), 2);
        assert_eq!(
            packages[0].url,
            "http://127.0.0.1:1/hello_pip-1.0-py3-none-any.whl"
        );
        assert_eq!(packages[1].sha256.as_deref(), Some("cd34"));
        assert_eq!(
            install_requirements(&packages[..1]),
            "hello-pip @ http://127.0.0.1:1/hello_pip-1.0-py3-none-any.whl --hash=sha256:ab12\n"
        );
    }

    #[test]
    fn a_directory_package_is_refused_with_its_name() {
        let text = "[[packages]]\nname = \"local\"\ndirectory = { path = \".\" }\n";
        let error = parse_pylock(text).err().map(|error| error.to_string());
        assert!(error.is_some_and(|message| message.contains("pip package local")));
    }

    #[test]
    fn only_uv_error_lines_reach_the_failure_message() {
        let stderr = "error: Failed to build `probe @ https://u:pw@index.example/probe.zip`\n  Caused by: The build backend returned an error\n[stderr]\nSECRET=from-the-environment\nroot:x:0:0:root:/root:/bin/bash\n  cause: Because probe was not found\nhint: This usually indicates a problem with the package\n";
        let message = error_lines(stderr, true);
        assert!(message.contains("Failed to build"), "{message}");
        assert!(message.contains("cause: Because probe"), "{message}");
        assert!(!message.contains("SECRET"), "{message}");
        assert!(!message.contains("root:x:0:0"), "{message}");
        assert!(!message.contains(":pw@"), "{message}");
        assert_eq!(error_lines("", false), "uv failed without an error message");
        let refused = error_lines(
            "hint: building from source is disabled (i.e., with `--no-build`)",
            false,
        );
        assert!(
            refused.contains("pip_allow_source_distributions"),
            "{refused}"
        );
    }

    #[test]
    fn stored_entries_are_checked_again_and_options_become_flags() {
        let entries = [
            "--index-url https://pypi.example/simple".to_owned(),
            "--pre".to_owned(),
            "hello-pip<2".to_owned(),
        ];
        let input = PipInput::from_entries(&entries).unwrap_or_default();
        assert_eq!(input.requirements, ["hello-pip<2"]);
        assert_eq!(
            input.arguments,
            ["--index-url", "https://pypi.example/simple", "--pre"]
        );
        for bad in [
            "hello-pip\r-r /proc/self/environ",
            "-e .",
            "x @ file:///etc",
        ] {
            assert!(PipInput::from_entries(&[bad.to_owned()]).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_missing_uv_names_what_was_looked_for() {
        let error = Uv::locate(Some("/nonexistent/uv"), Path::new("/tmp")).err();
        assert!(error.is_some_and(|error| error.to_string().contains("/nonexistent/uv")));
    }
}
