//! What a `pip:` entry of a specification may be, and what it means to uv.
//!
//! An entry is either a PEP 508 requirement (name, extras, version, markers, or a
//! direct `name @ https://…` URL), or one option of [`PIP_OPTIONS`] with exactly one
//! argument (none for `--pre`). Everything else is refused: `-e`, `-r`, `-c`, other
//! options, local paths, `file:` and VCS URLs. Options become uv command-line flags
//! ([`PipOption::arguments`]); requirements become lines of a requirements file, which
//! is safe because an accepted requirement holds no control character and no option.

use pep508_rs::{Pep508Url, Requirement};
use std::convert::Infallible;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// The pip options a `pip:` section may contain.
pub const PIP_OPTIONS: [&str; 5] = [
    "--index-url",
    "--extra-index-url",
    "--find-links",
    "--trusted-host",
    "--pre",
];

/// An option of [`PIP_OPTIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipFlag {
    /// `--index-url URL`: the package index (http or https).
    IndexUrl,
    /// `--extra-index-url URL`: one more package index (http or https).
    ExtraIndexUrl,
    /// `--find-links URL`: a page of links to distributions (http or https only).
    FindLinks,
    /// `--trusted-host HOST`: a host whose TLS certificate is not checked.
    TrustedHost,
    /// `--pre`: allow pre-release versions (no argument).
    Pre,
}

impl PipFlag {
    /// The option as written in a specification.
    pub fn as_str(self) -> &'static str {
        match self {
            PipFlag::IndexUrl => "--index-url",
            PipFlag::ExtraIndexUrl => "--extra-index-url",
            PipFlag::FindLinks => "--find-links",
            PipFlag::TrustedHost => "--trusted-host",
            PipFlag::Pre => "--pre",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "--index-url" => PipFlag::IndexUrl,
            "--extra-index-url" => PipFlag::ExtraIndexUrl,
            "--find-links" => PipFlag::FindLinks,
            "--trusted-host" => PipFlag::TrustedHost,
            "--pre" => PipFlag::Pre,
            _ => return None,
        })
    }

    /// Whether the argument of this option is a URL the server will fetch.
    pub fn takes_url(self) -> bool {
        matches!(
            self,
            PipFlag::IndexUrl | PipFlag::ExtraIndexUrl | PipFlag::FindLinks
        )
    }
}

/// An accepted pip option and its argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipOption {
    /// Which option.
    pub flag: PipFlag,
    /// Its argument (`None` for `--pre`).
    pub value: Option<String>,
}

impl PipOption {
    /// The uv command-line arguments of this option (`["--index-url", URL]`).
    pub fn arguments(&self) -> Vec<String> {
        let mut arguments = vec![self.flag.as_str().to_owned()];
        arguments.extend(self.value.clone());
        arguments
    }

    /// The URL this option makes the server fetch, if any.
    pub fn url(&self) -> Option<&str> {
        self.value.as_deref().filter(|_| self.flag.takes_url())
    }
}

/// What a `pip:` entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipEntry {
    /// A PEP 508 requirement.
    Requirement {
        /// The normalized distribution name.
        name: String,
        /// The `https://` URL of a direct reference (`name @ URL`), if any.
        url: Option<String>,
    },
    /// An allowed option.
    Option(PipOption),
}

/// Classifies one `pip:` entry (which the caller has already checked for control
/// characters), refusing anything but a requirement or an allowed option.
pub fn parse_pip_entry(text: &str) -> Result<PipEntry, String> {
    if text.starts_with("--") {
        return parse_option(text).map(PipEntry::Option);
    }
    if text.starts_with('-') {
        return Err(format!(
            "Invalid pypi package dependency \"{text}\": pip options such as -e, -r and -c are not allowed"
        ));
    }
    if looks_like_a_path(text) {
        return Err(format!(
            "Invalid pypi package dependency \"{text}\": local paths and file: URLs are not allowed; \
             name a package (PEP 508) or an https:// URL"
        ));
    }
    let requirement = Requirement::<PipUrl>::from_str(text).map_err(|error| {
        format!(
            "Invalid pypi package dependency \"{text}\" ensure it follows peps https://peps.python.org/pep-0508/ and https://peps.python.org/pep-0440/: {}",
            error.message
        )
    })?;
    let url = match &requirement.version_or_url {
        Some(pep508_rs::VersionOrUrl::Url(url)) => Some(check_direct_url(&url.0)?),
        _ => None,
    };
    Ok(PipEntry::Requirement {
        name: requirement.name.to_string(),
        url,
    })
}

/// Checks a pinned pip distribution (from uv's resolution or a lockfile) before it is
/// written as a line `name @ url --hash=sha256:…` of the file uv installs from: a
/// distribution name, an http(s) URL without spaces or control characters, a hex hash.
pub fn check_pinned_package(name: &str, url: &str, sha256: Option<&str>) -> Result<(), String> {
    let valid_name = name.starts_with(|character: char| character.is_ascii_alphanumeric())
        && name.chars().all(|character| {
            character.is_ascii_alphanumeric() || matches!(character, '.' | '-' | '_')
        });
    if !valid_name {
        return Err(format!(
            "pinned pip package {name:?} is not a valid distribution name"
        ));
    }
    let valid_url = !url
        .contains(|character: char| character.is_whitespace() || character.is_control())
        && url::Url::parse(url).is_ok_and(|parsed| {
            matches!(parsed.scheme(), "https" | "http") && parsed.host_str().is_some()
        });
    if !valid_url {
        return Err(format!(
            "pinned pip package {name}: its URL must be an http:// or https:// URL"
        ));
    }
    if sha256.is_some_and(|hash| !hash.chars().all(|character| character.is_ascii_hexdigit())) {
        return Err(format!(
            "pinned pip package {name}: its sha256 is not hexadecimal"
        ));
    }
    Ok(())
}

/// Bare paths and `file:` references, refused before PEP 508 parsing for a clear message.
fn looks_like_a_path(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    text.starts_with(['.', '/', '~', '\\']) || lower.contains("file:")
}

fn unsupported_option(text: &str) -> String {
    format!(
        "Invalid pip option '{text}' supported options are ['--index-url', '--extra-index-url', '--find-links', '--trusted-host', '--pre'], each with exactly one argument (none for --pre)"
    )
}

fn parse_option(text: &str) -> Result<PipOption, String> {
    let (name, value) = match text.find([' ', '=']) {
        Some(position) => (&text[..position], Some(text[position + 1..].trim())),
        None => (text, None),
    };
    let flag = PipFlag::from_name(name).ok_or_else(|| unsupported_option(text))?;
    let value = match (flag, value) {
        (PipFlag::Pre, None) => None,
        (PipFlag::Pre, Some(_)) | (_, None) => return Err(unsupported_option(text)),
        (_, Some(value)) if value.is_empty() || value.contains(char::is_whitespace) => {
            return Err(unsupported_option(text));
        }
        (_, Some(value)) => Some(value.to_owned()),
    };
    if let Some(value) = &value {
        if flag.takes_url() {
            check_index_url(value).map_err(|reason| format!("{reason} (pip option {name})"))?;
        } else if !is_host(value) {
            return Err(format!(
                "Invalid pip option '{text}': --trusted-host takes a host name, optionally with a port"
            ));
        }
    }
    Ok(PipOption { flag, value })
}

/// `host`, `host:port`, or a bracketed IPv6 address, nothing else.
fn is_host(value: &str) -> bool {
    value.chars().all(|character| {
        character.is_ascii_alphanumeric() || matches!(character, '.' | '-' | ':' | '[' | ']')
    })
}

/// The URL of an index option: http or https, with a host.
fn check_index_url(value: &str) -> Result<(), String> {
    let url = url::Url::parse(value).map_err(|_| format!("Invalid URL \"{value}\""))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "Invalid URL \"{value}\": only http:// and https:// package indexes are allowed"
        ));
    }
    Ok(())
}

/// The URL of a direct reference: https only (no plain http, no `file:`, no VCS).
fn check_direct_url(value: &str) -> Result<String, String> {
    let refused = || {
        format!(
            "Invalid pypi package dependency URL \"{value}\": only https:// URLs are allowed (no file:, VCS or plain http:// URLs)"
        )
    };
    let url = url::Url::parse(value).map_err(|_| refused())?;
    if url.scheme() != "https" || url.host_str().is_none_or(str::is_empty) {
        return Err(refused());
    }
    Ok(value.to_owned())
}

/// The URL of a `name @ url` pip requirement, kept as written.
///
/// `pep508_rs`'s own `VerbatimUrl` expands `${VARIABLE}` from the server's environment and
/// echoes the result in its errors, which would leak secrets into 400 responses; Python's
/// `packaging` accepts any URL text, and so does this (then [`check_direct_url`] decides).
#[derive(Debug)]
struct PipUrl(String);

impl fmt::Display for PipUrl {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl Pep508Url for PipUrl {
    type Err = Infallible;

    fn parse_url(url: &str, _working_directory: Option<&Path>) -> Result<Self, Self::Err> {
        Ok(PipUrl(url.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> bool {
        parse_pip_entry(text).is_err()
    }

    #[test]
    fn only_requirements_and_allowed_options_pass() {
        for bad in [
            "-r /proc/self/environ",
            "-e /tmp/x",
            "-c constraints.txt",
            "--requirement /etc/passwd",
            "--editable=.",
            "file:///tmp/x",
            "./local",
            "/abs/path",
            "~/x",
            "pkg @ file:///x",
            "pkg @ git+file:///srv/repo",
            "pkg @ git+https://example.org/repo.git",
            "pkg @ http://example.org/pkg.whl",
            "pkg @ /abs/path",
            "pkg==1.0 --hash=sha256:00",
            "pkg==1.0 -r /etc/passwd",
            "--index-url",
            "--index-url file:///srv/index",
            "--find-links /srv/wheels",
            "--find-links=file:///srv",
            "--index-url https://a https://b",
            "--pre=1",
            "--trusted-host=",
            "--trusted-host a/b",
            "--no-index",
        ] {
            assert!(refused(bad), "{bad} should be refused");
        }
        for good in [
            "numpy",
            "numpy[extra]>=1.0,<2; python_version > '3.8'",
            "pkg @ https://example.org/pkg-1.0-py3-none-any.whl",
            "--index-url https://pypi.example/simple",
            "--index-url=http://127.0.0.1:8000/simple/",
            "--extra-index-url https://user:token@pypi.example/simple",
            "--find-links https://example.org/wheels/",
            "--trusted-host pypi.example:8080",
            "--pre",
        ] {
            assert!(
                parse_pip_entry(good).is_ok(),
                "{good}: {:?}",
                parse_pip_entry(good)
            );
        }
    }

    #[test]
    fn options_become_separate_arguments() {
        let Ok(PipEntry::Option(option)) = parse_pip_entry("--index-url=https://x.example/simple")
        else {
            panic!("an option");
        };
        assert_eq!(
            option.arguments(),
            vec![
                "--index-url".to_owned(),
                "https://x.example/simple".to_owned()
            ]
        );
        assert_eq!(option.url(), Some("https://x.example/simple"));
    }
}
