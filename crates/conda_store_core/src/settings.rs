//! Deployment settings: one TOML file, then `CONDA_STORE_*` environment variables, then
//! command-line flags, each layer overriding the one before.
//!
//! Setting names are the Python conda-store's trait names (`database_url`,
//! `store_directory`, `url_prefix`, ...). Every setting can be given as the environment
//! variable `CONDA_STORE_` + its name in upper case; lists and tables are written as JSON
//! there (`CONDA_STORE_WATCH_PATHS='["/srv/envs"]'`).

use crate::domain::BuildArtifactType;
use crate::paths;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Prefix of the environment variables that set settings.
pub const ENVIRONMENT_PREFIX: &str = "CONDA_STORE_";

/// Every deployment setting, with the Python conda-store's names and defaults.
///
/// Paths and the database URL that depend on the data directory are optional here and
/// resolved by [`Settings::data_directory`], [`Settings::store_directory`] and
/// [`Settings::database_url`].
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where the embedded defaults keep their files (database, store, artifacts).
    /// Default: the platform's user data directory + `conda-store`.
    pub data_directory: Option<PathBuf>,
    /// Where environments are built. Default: `{data_directory}/state`.
    pub store_directory: Option<PathBuf>,
    /// The database, as an SQLAlchemy-style URL (`sqlite:////abs/path.sqlite`,
    /// `postgresql://user:pass@host/db`, `mysql://...`).
    /// Default: `sqlite:///{data_directory}/conda-store.sqlite`.
    pub database_url: Option<String>,
    /// Apply pending database migrations when `serve` or `standalone` starts.
    pub upgrade_db: bool,
    /// Template of the directory that holds a namespace's builds.
    pub build_directory: String,
    /// Template of the symlink that points at an environment's current build.
    pub environment_directory: String,
    /// Build key scheme for new builds (1, 2 or 3).
    pub build_key_version: u8,
    /// Artifacts produced for each build.
    pub build_artifacts: Vec<BuildArtifactType>,
    /// Artifacts kept when a build is deleted.
    pub build_artifacts_kept_on_deletion: Vec<BuildArtifactType>,
    /// Platforms every specification is solved for.
    pub conda_solve_platforms: Vec<String>,
    /// Subdirectories indexed from channel repodata.
    pub conda_platforms: Vec<String>,
    /// Base URL that channel names are joined to.
    pub conda_channel_alias: String,
    /// Channels used when a specification names none.
    pub conda_default_channels: Vec<String>,
    /// Channels a specification may use (empty: any).
    pub conda_allowed_channels: Vec<String>,
    /// Channels whose repodata is indexed into the database.
    pub conda_indexed_channels: Vec<String>,
    /// Conda packages added when a specification has no conda dependencies.
    pub conda_default_packages: Vec<String>,
    /// Conda packages every specification must list.
    pub conda_required_packages: Vec<String>,
    /// Conda packages added to every specification.
    pub conda_included_packages: Vec<String>,
    /// PyPI packages added when a specification has no pip dependencies.
    pub pypi_default_packages: Vec<String>,
    /// PyPI packages every specification must list.
    pub pypi_required_packages: Vec<String>,
    /// PyPI packages added to every specification.
    pub pypi_included_packages: Vec<String>,
    /// Seconds a remote solve may take.
    pub conda_max_solve_time: u64,
    /// Namespace used when a request names none.
    pub default_namespace: String,
    /// Namespace of environments registered from `watch_paths`.
    pub filesystem_namespace: String,
    /// Owner uid given to built prefixes (default: the server's own).
    pub default_uid: Option<u32>,
    /// Owner gid given to built prefixes (default: the server's own).
    pub default_gid: Option<u32>,
    /// Octal permissions given to built prefixes.
    pub default_permissions: Option<String>,
    /// Minimum free bytes under `store_directory` to accept new builds.
    pub storage_threshold: u64,
    /// The `uv` executable used for pip dependencies (default: `uv` on `PATH`).
    pub uv_command: Option<String>,
    /// Address the HTTP server binds to.
    pub address: String,
    /// Port the HTTP server listens on.
    pub port: u16,
    /// Path prefix of every route; starts with `/`.
    pub url_prefix: String,
    /// Largest page a list endpoint returns.
    pub max_page_size: u64,
    /// Trust `X-Forwarded-*` headers.
    pub behind_proxy: bool,
    /// Log level (`ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE`).
    pub log_level: String,
    /// Directories scanned for `*.yml`/`*.yaml` specifications.
    pub watch_paths: Vec<PathBuf>,
    /// Builds a worker runs at once (default: the number of CPUs).
    pub concurrency: Option<usize>,
    /// Serve the web UI.
    pub enable_ui: bool,
    /// Serve the REST API.
    pub enable_api: bool,
    /// Serve `/metrics`.
    pub enable_metrics: bool,
    /// Origins (`https://host[:port]`) whose pages may call the API with the user's
    /// credentials (CORS). Empty, the default: no CORS headers at all.
    pub cors_allow_origins: Vec<String>,
    /// The password of the default login (`DummyAuthentication.password`): any user
    /// name logs in with it; empty accepts any password.
    pub password: String,
    /// The secret that signs tokens, cookies and artifact links
    /// (`AuthenticationBackend.secret`). Unset: one is generated on first start and
    /// kept in the database, so tokens survive restarts and replicas agree.
    pub secret: Option<String>,
    /// Fixed tokens for service accounts: token text → `{primary_namespace,
    /// role_bindings, exp}` (`AuthenticationBackend.predefined_tokens`).
    pub predefined_tokens: BTreeMap<String, Value>,
    /// Which role-mapping table grants database bindings: 1 or 2
    /// (`RBACAuthorizationBackend.role_mappings_version`).
    pub role_mappings_version: u8,
    /// Role bindings of every logged-in user (ARN pattern → roles).
    pub authenticated_role_bindings: BTreeMap<String, Vec<String>>,
    /// Role bindings of anonymous callers (ARN pattern → roles).
    pub unauthenticated_role_bindings: BTreeMap<String, Vec<String>>,
    /// The login cookie's domain (`Authentication.cookie_domain`).
    pub cookie_domain: Option<String>,
    /// How long signed artifact links stay valid, in seconds.
    pub artifact_link_lifetime: u64,
    /// How users log in, as the original's `authentication_class`:
    /// `DummyAuthentication` (user name and the `password` setting),
    /// `GenericOAuthAuthentication`, `GithubOAuthAuthentication` or
    /// `JupyterHubOAuthAuthentication`.
    pub authentication_class: String,
    /// OAuth2 client id.
    pub client_id: Option<String>,
    /// OAuth2 client secret.
    pub client_secret: Option<String>,
    /// OAuth2 authorization endpoint (generic OAuth).
    pub authorize_url: Option<String>,
    /// OAuth2 token endpoint (generic OAuth).
    pub access_token_url: Option<String>,
    /// The scope asked for (generic OAuth).
    pub access_scope: Option<String>,
    /// Where the user's data is read with the access token (generic OAuth).
    pub user_data_url: Option<String>,
    /// The field of the user's data that is the user name (generic OAuth).
    pub user_data_key: Option<String>,
    /// Verify the OAuth provider's TLS certificate.
    pub tls_verify: bool,
    /// The callback URL registered with the provider (default: this server's
    /// `{prefix}/oauth_callback/`).
    pub oauth_callback_url: Option<String>,
    /// GitHub's web address (GitHub OAuth).
    pub github_url: String,
    /// GitHub's API address (GitHub OAuth).
    pub github_api: String,
    /// The JupyterHub address (JupyterHub OAuth).
    pub jupyterhub_url: Option<String>,

    // Issue 9, login authorization and cookies: what a login gets, who may log in,
    // and the `Secure` flag of cookies (docs/CONFIGURATION.md, "Login authorization").
    /// Role bindings of every login, password or OAuth (ARN pattern → roles). Default
    /// `{"*/*": ["admin"]}`, what the Python conda-store gives every login.
    pub login_role_bindings: BTreeMap<String, Vec<String>>,
    /// Extra role bindings of some users: user name → (ARN pattern → roles), added to
    /// `login_role_bindings`.
    pub login_user_role_bindings: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Extra role bindings of the members of a group: group → (ARN pattern → roles),
    /// added to `login_role_bindings`. GitHub groups are `org` and `org/team`,
    /// JupyterHub groups the hub's, generic OAuth groups `oauth_user_data_groups_key`'s.
    pub login_group_role_bindings: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Users who may log in; with `login_allowed_groups`, an allow-list (both empty:
    /// anyone the login method accepts).
    pub login_allowed_users: Vec<String>,
    /// Groups whose members may log in (see `login_group_role_bindings` for names).
    pub login_allowed_groups: Vec<String>,
    /// The field of the generic OAuth provider's user data that lists the user's
    /// groups (a list of strings, or one string); unset: no groups.
    pub oauth_user_data_groups_key: Option<String>,
    /// The `Secure` flag of the login and OAuth state cookies: unset follows the
    /// request's scheme (`https` only through `X-Forwarded-Proto` with
    /// `behind_proxy`), `true` always sets it, `false` never.
    pub cookie_secure: Option<bool>,

    // Issue 9, specifications, pip and server-side requests (holes 1, 2 and 6).
    /// Let uv build source distributions of pip packages. Building one runs its build
    /// backend (arbitrary code) on the worker, so the default is wheels only
    /// (`uv --no-build`).
    pub pip_allow_source_distributions: bool,
    /// Refuse user-supplied URLs (specification channels, lockfile package URLs, pip
    /// indexes, remote-solve channels) whose host is or resolves to a loopback,
    /// link-local, private, unique-local or otherwise non-public address, and `file:`
    /// URLs, unless the channel is one the operator configured
    /// (`conda_default_channels`, `conda_allowed_channels`). Hardening for multi-user
    /// deployments; off by default so single-machine setups with local channels work.
    pub refuse_private_addresses: bool,
    /// How many remote solves (`GET /api/v1/specification/`) may run at once; more
    /// are answered 503.
    pub remote_solve_concurrency: usize,
    /// URLs (prefixes) that pip options (`--index-url`, `--extra-index-url`,
    /// `--find-links`), direct `name @ https://…` requirements and the pinned pip files
    /// of lockfile specifications must lie under. Empty (the default): any, within the
    /// rest of the URL policy.
    pub pypi_allowed_urls: Vec<String>,
}

/// Settings whose values are secrets (or may hold one, as a database URL's password):
/// `Debug` prints them as `<redacted>`, so a logged or panicking `Settings` leaks none.
pub const SECRET_SETTINGS: &[&str] = &[
    "password",
    "secret",
    "client_secret",
    "predefined_tokens",
    "database_url",
];

impl fmt::Debug for Settings {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Ok(Value::Object(mut fields)) = serde_json::to_value(self) else {
            return formatter.write_str("Settings { .. }");
        };
        for name in SECRET_SETTINGS {
            if let Some(value) = fields.get_mut(*name)
                && !value.is_null()
            {
                *value = Value::String("<redacted>".to_owned());
            }
        }
        let mut output = formatter.debug_struct("Settings");
        for (name, value) in &fields {
            output.field(name, value);
        }
        output.finish()
    }
}

/// Checks that `text` is a web origin, `http(s)://host[:port]`, as CORS compares
/// them: no path, no wildcard (credentials are sent, so `*` may not stand for any).
fn check_origin(text: &str) -> Result<(), String> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .ok_or_else(|| format!("`{text}` is not an origin such as https://app.example.org"))?;
    let host = rest.strip_suffix('/').unwrap_or(rest);
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "-.:[]".contains(character));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{text}` is not an origin such as https://app.example.org (no path, no wildcard)"
        ))
    }
}

impl Default for Settings {
    fn default() -> Self {
        let platform = current_platform().to_owned();
        Self {
            data_directory: None,
            store_directory: None,
            database_url: None,
            upgrade_db: true,
            build_directory: "{store_directory}/{namespace}".to_owned(),
            environment_directory: "{store_directory}/{namespace}/envs/{name}".to_owned(),
            build_key_version: 2,
            build_artifacts: vec![
                BuildArtifactType::Lockfile,
                BuildArtifactType::Yaml,
                BuildArtifactType::CondaPack,
            ],
            build_artifacts_kept_on_deletion: vec![
                BuildArtifactType::Logs,
                BuildArtifactType::Lockfile,
                BuildArtifactType::Yaml,
            ],
            conda_solve_platforms: vec![platform.clone()],
            conda_platforms: vec![platform, "noarch".to_owned()],
            conda_channel_alias: "https://conda.anaconda.org".to_owned(),
            conda_default_channels: vec!["conda-forge".to_owned()],
            conda_allowed_channels: Vec::new(),
            conda_indexed_channels: vec![
                "main".to_owned(),
                "conda-forge".to_owned(),
                "https://repo.anaconda.com/pkgs/main".to_owned(),
            ],
            conda_default_packages: Vec::new(),
            conda_required_packages: Vec::new(),
            conda_included_packages: Vec::new(),
            pypi_default_packages: Vec::new(),
            pypi_required_packages: Vec::new(),
            pypi_included_packages: Vec::new(),
            conda_max_solve_time: 300,
            default_namespace: "default".to_owned(),
            filesystem_namespace: "filesystem".to_owned(),
            default_uid: None,
            default_gid: None,
            default_permissions: Some("775".to_owned()),
            storage_threshold: 5 * 1024 * 1024 * 1024,
            uv_command: None,
            address: "0.0.0.0".to_owned(),
            port: 8080,
            url_prefix: "/".to_owned(),
            max_page_size: 100,
            behind_proxy: false,
            log_level: "INFO".to_owned(),
            watch_paths: Vec::new(),
            concurrency: None,
            enable_ui: true,
            enable_api: true,
            enable_metrics: true,
            cors_allow_origins: Vec::new(),
            password: "password".to_owned(),
            secret: None,
            predefined_tokens: BTreeMap::new(),
            role_mappings_version: 1,
            authenticated_role_bindings: BTreeMap::from([
                ("default/*".to_owned(), vec!["viewer".to_owned()]),
                ("filesystem/*".to_owned(), vec!["viewer".to_owned()]),
            ]),
            unauthenticated_role_bindings: BTreeMap::from([(
                "default/*".to_owned(),
                vec!["viewer".to_owned()],
            )]),
            cookie_domain: None,
            artifact_link_lifetime: 600,
            authentication_class: "DummyAuthentication".to_owned(),
            client_id: None,
            client_secret: None,
            authorize_url: None,
            access_token_url: None,
            access_scope: None,
            user_data_url: None,
            user_data_key: None,
            tls_verify: true,
            oauth_callback_url: None,
            github_url: "https://github.com".to_owned(),
            github_api: "https://api.github.com".to_owned(),
            jupyterhub_url: None,
            login_role_bindings: BTreeMap::from([("*/*".to_owned(), vec!["admin".to_owned()])]),
            login_user_role_bindings: BTreeMap::new(),
            login_group_role_bindings: BTreeMap::new(),
            login_allowed_users: Vec::new(),
            login_allowed_groups: Vec::new(),
            oauth_user_data_groups_key: None,
            cookie_secure: None,
            pip_allow_source_distributions: false,
            refuse_private_addresses: false,
            remote_solve_concurrency: 2,
            pypi_allowed_urls: Vec::new(),
        }
    }
}

/// The conda subdirectory of the machine this binary was built for (`linux-64`, ...).
pub fn current_platform() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux-64",
        ("linux", "aarch64") => "linux-aarch64",
        ("linux", "powerpc64") => "linux-ppc64le",
        ("linux", "x86") => "linux-32",
        ("macos", "x86_64") => "osx-64",
        ("macos", "aarch64") => "osx-arm64",
        ("windows", "x86_64") => "win-64",
        ("windows", "aarch64") => "win-arm64",
        ("windows", "x86") => "win-32",
        _ => "noarch",
    }
}

/// Where a setting's value came from; named in error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The built-in default.
    Default,
    /// A TOML configuration file.
    File(PathBuf),
    /// An environment variable.
    Environment,
    /// A command-line flag.
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => formatter.write_str("the built-in default"),
            Source::File(path) => write!(formatter, "{}", path.display()),
            Source::Environment => formatter.write_str("the environment"),
            Source::Flag => formatter.write_str("the command line"),
        }
    }
}

/// A configuration error that names the setting and where it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The configuration file is not valid TOML.
    #[error("{path}: not a valid TOML file: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        reason: String,
    },
    /// A key that is not a setting.
    #[error("unknown setting `{key}` in {origin}")]
    UnknownKey {
        /// The key as written.
        key: String,
        /// Where it was written.
        origin: Source,
    },
    /// A value of the wrong type or out of range.
    #[error("setting `{key}` in {origin}{variable}: {reason}")]
    InvalidValue {
        /// The setting.
        key: String,
        /// Where the bad value came from.
        origin: Source,
        /// ` (CONDA_STORE_KEY)` when it came from an environment variable, else empty.
        variable: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// One layer of settings (a file, the environment, or the flags) before merging.
#[derive(Debug, Clone)]
pub struct Layer {
    source: Source,
    values: Map<String, Value>,
}

impl Layer {
    /// Parses the text of a TOML configuration file read from `path`.
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, SettingsError> {
        let source = Source::File(path.to_owned());
        let table: toml::Table = toml::from_str(text).map_err(|error| SettingsError::Syntax {
            path: path.to_owned(),
            reason: error.message().to_owned(),
        })?;
        let values = match serde_json::to_value(table) {
            Ok(Value::Object(values)) => values,
            _ => Map::new(),
        };
        Self::checked(source, values)
    }

    /// Collects the `CONDA_STORE_*` variables that name settings.
    ///
    /// Variables with that prefix that name no setting are returned separately so the
    /// caller can warn about them: the official Python client reads `CONDA_STORE_URL`,
    /// `CONDA_STORE_TOKEN` and others from the same environment, so they are not errors.
    pub fn from_environment(
        variables: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Self, Vec<String>), SettingsError> {
        let defaults = default_values();
        let mut values = Map::new();
        let mut ignored = Vec::new();
        for (name, text) in variables {
            let Some(key) = name.strip_prefix(ENVIRONMENT_PREFIX) else {
                continue;
            };
            let key = key.to_ascii_lowercase();
            match defaults.get(&key) {
                Some(default) => {
                    let value = parse_environment_value(&key, default, &text)?;
                    values.insert(key, value);
                }
                None => ignored.push(name),
            }
        }
        Ok((
            Self {
                source: Source::Environment,
                values,
            },
            ignored,
        ))
    }

    /// Defaults of one command that differ from the general ones (for example
    /// `standalone` listens on 127.0.0.1); lowest precedence, under the file.
    pub fn command_defaults(values: Map<String, Value>) -> Result<Self, SettingsError> {
        Self::checked(Source::Default, values)
    }

    /// A layer of values given as command-line flags, keyed by setting name.
    pub fn from_flags(values: Map<String, Value>) -> Result<Self, SettingsError> {
        Self::checked(Source::Flag, values)
    }

    fn checked(source: Source, values: Map<String, Value>) -> Result<Self, SettingsError> {
        let defaults = default_values();
        if let Some(key) = values.keys().find(|key| !defaults.contains_key(*key)) {
            return Err(SettingsError::UnknownKey {
                key: key.clone(),
                origin: source,
            });
        }
        Ok(Self { source, values })
    }
}

fn default_values() -> Map<String, Value> {
    match serde_json::to_value(Settings::default()) {
        Ok(Value::Object(values)) => values,
        _ => Map::new(),
    }
}

/// Reads an environment variable's text with the type of the setting's default: strings
/// and paths as they are, everything else (numbers, booleans, lists, tables) as JSON.
fn parse_environment_value(key: &str, default: &Value, text: &str) -> Result<Value, SettingsError> {
    let invalid = |reason: String| SettingsError::InvalidValue {
        key: key.to_owned(),
        origin: Source::Environment,
        variable: format!(" ({ENVIRONMENT_PREFIX}{})", key.to_ascii_uppercase()),
        reason,
    };
    match default {
        Value::String(_) => Ok(Value::String(text.to_owned())),
        Value::Null => Ok(serde_json::from_str(text)
            .ok()
            .filter(|value: &Value| !value.is_string())
            .unwrap_or_else(|| Value::String(text.to_owned()))),
        _ => serde_json::from_str(text)
            .map_err(|error| invalid(format!("`{text}` is not valid JSON ({error})"))),
    }
}

impl Settings {
    /// Merges the layers over the defaults (later layers win, key by key) and checks
    /// every value.
    pub fn from_layers(layers: &[Layer]) -> Result<Self, SettingsError> {
        let mut merged = default_values();
        for layer in layers {
            for (key, value) in &layer.values {
                merged.insert(key.clone(), value.clone());
            }
        }
        let source_of = |key: &str| {
            layers
                .iter()
                .rev()
                .find(|layer| layer.values.contains_key(key))
                .map(|layer| layer.source.clone())
                .unwrap_or(Source::Default)
        };
        let invalid = |key: &str, reason: String| {
            let source = source_of(key);
            let variable = if source == Source::Environment {
                format!(" ({ENVIRONMENT_PREFIX}{})", key.to_ascii_uppercase())
            } else {
                String::new()
            };
            SettingsError::InvalidValue {
                key: key.to_owned(),
                origin: source,
                variable,
                reason,
            }
        };
        let settings: Settings =
            serde_path_to_error::deserialize(Value::Object(merged)).map_err(|error| {
                let key = error
                    .path()
                    .iter()
                    .next()
                    .map(|segment| segment.to_string())
                    .unwrap_or_default();
                invalid(&key, error.into_inner().to_string())
            })?;
        settings
            .validate()
            .map_err(|(key, reason)| invalid(key, reason))?;
        Ok(settings)
    }

    /// Checks values whose type alone does not say they are valid.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.url_prefix.starts_with('/') {
            return Err((
                "url_prefix",
                format!("`{}` must start with `/`", self.url_prefix),
            ));
        }
        if !(1..=3).contains(&self.build_key_version) {
            return Err((
                "build_key_version",
                format!("{} is not one of 1, 2, 3", self.build_key_version),
            ));
        }
        if self.max_page_size == 0 {
            return Err(("max_page_size", "must be at least 1".to_owned()));
        }
        if self.concurrency == Some(0) {
            return Err(("concurrency", "must be at least 1".to_owned()));
        }
        if let Some(permissions) = &self.default_permissions
            && (permissions.is_empty()
                || permissions.len() > 4
                || !permissions
                    .chars()
                    .all(|digit| ('0'..='7').contains(&digit)))
        {
            return Err((
                "default_permissions",
                format!("`{permissions}` is not an octal mode such as 775"),
            ));
        }
        paths::check_template(&self.build_directory, paths::BUILD_DIRECTORY_FIELDS)
            .map_err(|reason| ("build_directory", reason))?;
        paths::check_template(
            &self.environment_directory,
            paths::ENVIRONMENT_DIRECTORY_FIELDS,
        )
        .map_err(|reason| ("environment_directory", reason))?;
        for origin in &self.cors_allow_origins {
            check_origin(origin).map_err(|reason| ("cors_allow_origins", reason))?;
        }
        const LEVELS: [&str; 5] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];
        if !LEVELS.contains(&self.log_level.to_ascii_uppercase().as_str()) {
            return Err((
                "log_level",
                format!("`{}` is not one of {}", self.log_level, LEVELS.join(", ")),
            ));
        }
        Ok(())
    }

    /// Whether a cross-origin request from `origin` may call the API with the caller's
    /// credentials: only origins listed in `cors_allow_origins` (none by default).
    pub fn is_cors_origin_allowed(&self, origin: &str) -> bool {
        self.cors_allow_origins
            .iter()
            .any(|allowed| allowed.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }

    /// The longest one solve may take (`conda_max_solve_time`); none when it is 0.
    pub fn solve_time_limit(&self) -> Option<std::time::Duration> {
        (self.conda_max_solve_time > 0)
            .then(|| std::time::Duration::from_secs(self.conda_max_solve_time))
    }

    /// The data directory: the setting, or `user_data_directory/conda-store`.
    ///
    /// `user_data_directory` is the platform's (for example `~/.local/share`); the
    /// caller looks it up so this crate stays free of IO.
    pub fn data_directory(&self, user_data_directory: &Path) -> PathBuf {
        self.data_directory
            .clone()
            .unwrap_or_else(|| user_data_directory.join("conda-store"))
    }

    /// Where builds go: the setting, or `{data_directory}/state`.
    pub fn store_directory(&self, user_data_directory: &Path) -> PathBuf {
        self.store_directory
            .clone()
            .unwrap_or_else(|| self.data_directory(user_data_directory).join("state"))
    }

    /// The database URL: the setting, or the embedded SQLite file in the data directory.
    pub fn database_url(&self, user_data_directory: &Path) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            let file = self
                .data_directory(user_data_directory)
                .join("conda-store.sqlite");
            format!("sqlite:///{}", file.display())
        })
    }
}

/// The platform's user data directory (`~/.local/share` on Linux), falling back to the
/// current directory when the platform has none.
pub fn user_data_directory() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from("."))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn environment(pairs: &[(&str, &str)]) -> Layer {
        let variables = pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()));
        match Layer::from_environment(variables) {
            Ok((layer, _)) => layer,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn layers_override_in_order_file_then_environment_then_flags() {
        let file = Layer::from_toml(
            "port = 9000\nurl_prefix = \"/file\"\naddress = \"10.0.0.1\"\n",
            Path::new("/etc/cs.toml"),
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let env = environment(&[
            ("CONDA_STORE_PORT", "9100"),
            ("CONDA_STORE_URL_PREFIX", "/env"),
        ]);
        let mut flags = Map::new();
        flags.insert("port".into(), Value::from(9200));
        let flags = Layer::from_flags(flags).unwrap_or_else(|error| panic!("{error}"));
        let settings =
            Settings::from_layers(&[file, env, flags]).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(settings.port, 9200);
        assert_eq!(settings.url_prefix, "/env");
        assert_eq!(settings.address, "10.0.0.1");
        assert_eq!(settings.max_page_size, 100);
    }

    #[test]
    fn environment_lists_tables_and_optional_values_are_json() {
        let settings = Settings::from_layers(&[environment(&[
            ("CONDA_STORE_WATCH_PATHS", r#"["/srv/envs"]"#),
            ("CONDA_STORE_BUILD_ARTIFACTS", r#"["LOCKFILE","LOGS"]"#),
            ("CONDA_STORE_DATABASE_URL", "postgresql://u:p@db/cs"),
            ("CONDA_STORE_CONCURRENCY", "4"),
            ("CONDA_STORE_UPGRADE_DB", "false"),
            ("CONDA_STORE_TOKEN", "client-side, ignored"),
        ])])
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(settings.watch_paths, vec![PathBuf::from("/srv/envs")]);
        assert_eq!(
            settings.build_artifacts,
            vec![BuildArtifactType::Lockfile, BuildArtifactType::Logs]
        );
        assert_eq!(
            settings.database_url.as_deref(),
            Some("postgresql://u:p@db/cs")
        );
        assert_eq!(settings.concurrency, Some(4));
        assert!(!settings.upgrade_db);
    }

    #[test]
    fn unknown_file_key_names_key_and_file() {
        let error = Layer::from_toml("prot = 1\n", Path::new("/etc/cs.toml"))
            .err()
            .map(|error| error.to_string());
        assert_eq!(
            error.as_deref(),
            Some("unknown setting `prot` in /etc/cs.toml")
        );
    }

    #[test]
    fn wrong_types_name_key_and_source() {
        let file = Layer::from_toml("port = \"eighty\"\n", Path::new("/etc/cs.toml"))
            .unwrap_or_else(|error| panic!("{error}"));
        let message = Settings::from_layers(&[file]).err().map(|e| e.to_string());
        let message = message.unwrap_or_default();
        assert!(
            message.starts_with("setting `port` in /etc/cs.toml: invalid type"),
            "{message}"
        );

        let env = environment(&[("CONDA_STORE_PORT", "99999")]);
        let message = Settings::from_layers(&[env]).err().map(|e| e.to_string());
        let message = message.unwrap_or_default();
        assert!(
            message.starts_with("setting `port` in the environment (CONDA_STORE_PORT):"),
            "{message}"
        );

        let bad_json = Layer::from_environment([(
            "CONDA_STORE_WATCH_PATHS".to_string(),
            "/not/json".to_string(),
        )]);
        let message = bad_json.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("CONDA_STORE_WATCH_PATHS"), "{message}");

        let prefix = environment(&[("CONDA_STORE_URL_PREFIX", "api")]);
        let message = Settings::from_layers(&[prefix])
            .err()
            .map(|e| e.to_string());
        assert!(message.unwrap_or_default().contains("must start with `/`"));

        let artifact = Layer::from_toml("build_artifacts = [\"ZIP\"]", Path::new("c.toml"))
            .unwrap_or_else(|error| panic!("{error}"));
        let message = Settings::from_layers(&[artifact])
            .err()
            .map(|e| e.to_string());
        assert!(
            message
                .unwrap_or_default()
                .starts_with("setting `build_artifacts` in c.toml")
        );

        let template = Layer::from_toml(
            "environment_directory = \"/envs/{namespace}/{env}\"",
            Path::new("c.toml"),
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let message = Settings::from_layers(&[template])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            message.starts_with("setting `environment_directory` in c.toml")
                && message.contains("unknown field {env}"),
            "{message}"
        );
    }

    #[test]
    fn bad_toml_is_a_syntax_error_naming_the_file() {
        let error = Layer::from_toml("port = = 1", Path::new("x.toml")).err();
        assert!(matches!(error, Some(SettingsError::Syntax { .. })));
    }

    #[test]
    fn defaults_derive_from_the_data_directory() {
        let settings = Settings::default();
        let base = Path::new("/home/u/.local/share");
        assert_eq!(
            settings.database_url(base),
            "sqlite:////home/u/.local/share/conda-store/conda-store.sqlite"
        );
        assert_eq!(
            settings.store_directory(base),
            PathBuf::from("/home/u/.local/share/conda-store/state")
        );
    }

    #[test]
    fn debug_output_holds_no_secret() {
        let settings = Settings {
            password: "hunter2-password".to_owned(),
            secret: Some("hunter2-secret".to_owned()),
            client_secret: Some("hunter2-client".to_owned()),
            database_url: Some("postgresql://user:hunter2-db@host/db".to_owned()),
            predefined_tokens: BTreeMap::from([("hunter2-token".to_owned(), Value::Null)]),
            ..Settings::default()
        };
        let printed = format!("{settings:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("<redacted>") && printed.contains("url_prefix"));
    }

    #[test]
    fn cors_origins_must_be_origins() {
        for origin in [
            "*",
            "https://a.example/path",
            "a.example",
            "https://*.example",
        ] {
            let settings = Settings {
                cors_allow_origins: vec![origin.to_owned()],
                ..Settings::default()
            };
            assert!(settings.validate().is_err(), "{origin}");
        }
        let settings = Settings {
            cors_allow_origins: vec!["https://app.example:8443".to_owned()],
            ..Settings::default()
        };
        assert!(settings.validate().is_ok());
        assert!(settings.is_cors_origin_allowed("https://app.example:8443"));
        assert!(!settings.is_cors_origin_allowed("https://evil.example"));
    }
}
