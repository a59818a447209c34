//! Conda environment specifications (`environment.yaml`): parsing, the checks the Python
//! conda-store's `CondaSpecification` model makes, the settings-driven validation of
//! `conda_store_validate_specification`, and the canonical dump and hash.
//!
//! A specification has the shape
//! `{channels: [str], dependencies: [str | {pip: [str]}], description: str | null,
//! name: str, prefix: str | null, variables: {str: str | int} | null}`.
//! Unknown top-level keys are ignored, as pydantic does by default.
//!
//! Parsing never panics: every problem is collected into one [`SpecificationError`] whose
//! message lists them all, one per line, ready to be sent back with a 400 status.

use crate::canonical::datastructure_hash;
use crate::field_text::check_field_text;
use crate::pip_entry::{PipEntry, parse_pip_entry};
use crate::settings::Settings;
use rattler_conda_types::{MatchSpec, ParseMatchSpecError, ParseMatchSpecOptions};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The punctuation an environment name may contain besides ASCII letters and digits
/// (Python: `ALLOWED_CHARACTERS = "A-Za-z0-9-+_@$&?^~.="`).
pub const NAME_PUNCTUATION: &str = "-+_@$&?^~.=";

pub use crate::pip_entry::PIP_OPTIONS;

/// The message given when the environment name is missing, null or empty.
pub const EMPTY_NAME_MESSAGE: &str = "The name of the environment cannot be empty.";

/// One entry of `dependencies`: a conda match spec, or a `pip:` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Dependency {
    /// A conda package requirement such as `python=3.12` (a conda `MatchSpec`).
    Conda(String),
    /// A `pip:` section: PEP 508 requirements and a few pip options.
    Pip {
        /// The requirements and options, in the order written.
        pip: Vec<String>,
    },
}

/// The value of an environment variable: a string or an integer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Variable {
    /// A text value.
    String(String),
    /// An integer value (booleans and integral floats are read as integers, as pydantic does).
    Integer(i64),
}

/// A conda environment specification, as the Python `CondaSpecification` model holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CondaSpecification {
    /// Channels to solve from, as written (names such as `conda-forge` or URLs).
    pub channels: Vec<String>,
    /// Conda match specs and `pip:` sections.
    pub dependencies: Vec<Dependency>,
    /// Free-text description; `Some("")` when absent, `None` when given as null.
    pub description: Option<String>,
    /// The environment name (letters, digits and [`NAME_PUNCTUATION`]).
    pub name: String,
    /// An install prefix (kept for compatibility; conda-store does not use it).
    pub prefix: Option<String>,
    /// Environment variables to set in the environment.
    pub variables: Option<BTreeMap<String, Variable>>,
}

/// Why a specification was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecificationError {
    /// The text is not YAML (or uses a tag that safe loading refuses).
    #[error("Unable to parse. Invalid YAML: {reason}")]
    Yaml {
        /// What the YAML parser reported, with the line and column.
        reason: String,
    },
    /// The document does not have the shape of a specification or an entry is invalid.
    #[error("{}", problems.join("\n"))]
    Invalid {
        /// One human-readable message per problem, in document order.
        problems: Vec<String>,
    },
    /// Some channels are outside `conda_allowed_channels`.
    #[error("Conda channels {} not allowed in specification", python_set(channels))]
    ChannelsNotAllowed {
        /// The offending channels, normalized to URLs, sorted.
        channels: Vec<String>,
    },
    /// Packages of `conda_required_packages` are missing from the dependencies.
    #[error(
        "Conda packages {} required and missing from specification",
        python_set(packages)
    )]
    CondaPackagesMissing {
        /// The missing package names, sorted.
        packages: Vec<String>,
    },
    /// Packages of `pypi_required_packages` are missing from the `pip:` section.
    #[error(
        "PyPi packages {} required and missing from specification",
        python_set(packages)
    )]
    PypiPackagesMissing {
        /// The missing package names (normalized), sorted.
        packages: Vec<String>,
    },
    /// An entry of a package setting cannot be parsed, so it cannot be applied.
    #[error("Setting `{setting}` has an invalid entry `{entry}`: {reason}")]
    InvalidSetting {
        /// The setting's name, e.g. `conda_included_packages`.
        setting: &'static str,
        /// The entry as configured.
        entry: String,
        /// Why it does not parse.
        reason: String,
    },
}

impl SpecificationError {
    /// The problems as separate human-readable messages (one for most variants).
    pub fn problems(&self) -> Vec<String> {
        match self {
            SpecificationError::Invalid { problems } => problems.clone(),
            other => vec![other.to_string()],
        }
    }
}

/// A Python `set` repr of strings, e.g. `{'a', 'b'}`, used in the Python error messages.
fn python_set(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|item| format!("'{item}'")).collect();
    format!("{{{}}}", quoted.join(", "))
}

impl CondaSpecification {
    /// Parses and checks a specification from YAML text (an `environment.yaml`).
    pub fn from_yaml(text: &str) -> Result<Self, SpecificationError> {
        let document: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|error| SpecificationError::Yaml {
                reason: error.to_string(),
            })?;
        let node = Node::from_yaml(&document)?;
        Self::from_node(&node)
    }

    /// Parses and checks a specification from JSON (e.g. the `spec` column of the database).
    pub fn from_value(value: &Value) -> Result<Self, SpecificationError> {
        Self::from_node(&Node::from_json(value))
    }

    /// The Python `model_dump()` of this specification: keys `channels`, `dependencies`,
    /// `description`, `name`, `prefix` and `variables`.
    pub fn to_value(&self) -> Value {
        let dependencies = self
            .dependencies
            .iter()
            .map(|dependency| match dependency {
                Dependency::Conda(text) => Value::String(text.clone()),
                Dependency::Pip { pip } => {
                    let mut section = Map::new();
                    section.insert("pip".to_owned(), strings_value(pip));
                    Value::Object(section)
                }
            })
            .collect();
        let variables = match &self.variables {
            None => Value::Null,
            Some(variables) => Value::Object(
                variables
                    .iter()
                    .map(|(key, variable)| {
                        let value = match variable {
                            Variable::String(text) => Value::String(text.clone()),
                            Variable::Integer(integer) => Value::from(*integer),
                        };
                        (key.clone(), value)
                    })
                    .collect(),
            ),
        };
        let mut object = Map::new();
        object.insert("channels".to_owned(), strings_value(&self.channels));
        object.insert("dependencies".to_owned(), Value::Array(dependencies));
        object.insert("description".to_owned(), optional_string(&self.description));
        object.insert("name".to_owned(), Value::String(self.name.clone()));
        object.insert("prefix".to_owned(), optional_string(&self.prefix));
        object.insert("variables".to_owned(), variables);
        Value::Object(object)
    }

    /// The canonical hash of [`Self::to_value`], equal to the Python conda-store's
    /// `specification.sha256`.
    pub fn sha256(&self) -> String {
        datastructure_hash(&self.to_value())
    }

    /// The conda match specs of `dependencies`, in order.
    pub fn conda_dependencies(&self) -> impl Iterator<Item = &str> {
        self.dependencies
            .iter()
            .filter_map(|dependency| match dependency {
                Dependency::Conda(text) => Some(text.as_str()),
                Dependency::Pip { .. } => None,
            })
    }

    /// The entries of every `pip:` section (requirements and options), in order.
    pub fn pip_dependencies(&self) -> impl Iterator<Item = &str> {
        self.dependencies
            .iter()
            .filter_map(|dependency| match dependency {
                Dependency::Pip { pip } => Some(pip),
                Dependency::Conda(_) => None,
            })
            .flatten()
            .map(String::as_str)
    }

    /// Re-checks the name and every dependency (useful for a specification built in code).
    pub fn check(&self) -> Result<(), SpecificationError> {
        let mut problems = Vec::new();
        for (index, dependency) in self.dependencies.iter().enumerate() {
            match dependency {
                Dependency::Conda(text) => {
                    if let Err(problem) = check_conda_dependency(text, index) {
                        problems.push(problem);
                    }
                }
                Dependency::Pip { pip } => {
                    for (position, entry) in pip.iter().enumerate() {
                        if let Err(problem) = check_pip_dependency(entry, index, position) {
                            problems.push(problem);
                        }
                    }
                }
            }
        }
        if let Err(problem) = check_name(&self.name) {
            problems.push(problem);
        }
        problems.extend(self.text_problems());
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SpecificationError::Invalid { problems })
        }
    }

    /// Control characters in the fields [`Self::check`] does not parse: channels,
    /// description, prefix and variables.
    fn text_problems(&self) -> Vec<String> {
        let mut fields: Vec<(String, &str)> = self
            .channels
            .iter()
            .enumerate()
            .map(|(index, channel)| {
                (
                    format!("Channel in section `channels`, line {index},"),
                    channel.as_str(),
                )
            })
            .collect();
        fields.extend(
            self.description
                .as_deref()
                .map(|text| ("Field `description`".to_owned(), text)),
        );
        fields.extend(
            self.prefix
                .as_deref()
                .map(|text| ("Field `prefix`".to_owned(), text)),
        );
        for (key, value) in self.variables.iter().flatten() {
            fields.push((
                "A variable name in section `variables`".to_owned(),
                key.as_str(),
            ));
            if let Variable::String(text) = value {
                fields.push((format!("Variable `{key}`"), text.as_str()));
            }
        }
        fields
            .into_iter()
            .filter_map(|(field, text)| check_field_text(&field, text).err())
            .collect()
    }

    fn from_node(node: &Node) -> Result<Self, SpecificationError> {
        let entries = match node {
            Node::Map(entries) => entries,
            Node::Null => {
                return Err(invalid(
                    "The specification is empty: it must be a mapping with at least a `name`."
                        .to_owned(),
                ));
            }
            other => {
                return Err(invalid(format!(
                    "The specification must be a mapping with at least a `name`, not {}.",
                    other.kind()
                )));
            }
        };
        // Python dicts keep the last value of a repeated key.
        let field = |key: &str| {
            entries
                .iter()
                .rev()
                .find(|(name, _)| name.as_deref() == Some(key))
                .map(|(_, value)| value)
        };
        let mut problems = Vec::new();
        let channels = read_channels(field("channels"), &mut problems);
        let dependencies = read_dependencies(field("dependencies"), &mut problems);
        let description = match field("description") {
            None => Some(String::new()),
            Some(value) => read_optional_string("description", value, &mut problems),
        };
        let name = read_name(field("name"), &mut problems);
        let prefix = match field("prefix") {
            None => None,
            Some(value) => read_optional_string("prefix", value, &mut problems),
        };
        let variables = read_variables(field("variables"), &mut problems);
        if !problems.is_empty() {
            return Err(SpecificationError::Invalid { problems });
        }
        Ok(Self {
            channels,
            dependencies,
            description,
            name,
            prefix,
            variables,
        })
    }
}

impl fmt::Display for CondaSpecification {
    /// Writes the canonical JSON dump (the Python `model_dump()`).
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.to_value())
    }
}

impl<'de> Deserialize<'de> for CondaSpecification {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_value(&value).map_err(serde::de::Error::custom)
    }
}

fn strings_value(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect())
}

fn optional_string(text: &Option<String>) -> Value {
    text.clone().map_or(Value::Null, Value::String)
}

fn invalid(problem: String) -> SpecificationError {
    SpecificationError::Invalid {
        problems: vec![problem],
    }
}

/// The message the Python conda-store gives for a null list item (`line` is the 0-based index).
fn none_in_list(section: &str, index: usize) -> String {
    format!(
        "Invalid YAML : A forbidden `None` value has been encountered in section `{section}`, line {index}"
    )
}

/// The message the Python conda-store gives for a null section.
fn none_section(section: &str) -> String {
    format!("Invalid YAML : A forbidden `None` value has been encountered in section {section}")
}

fn read_channels(value: Option<&Node>, problems: &mut Vec<String>) -> Vec<String> {
    let mut channels = Vec::new();
    match value {
        None => {}
        Some(Node::Null) => problems.push(none_section("channels")),
        Some(Node::List(items)) => {
            for (index, item) in items.iter().enumerate() {
                match item {
                    Node::String(text) => match check_field_text(
                        &format!("Channel in section `channels`, line {index},"),
                        text,
                    ) {
                        Ok(()) => channels.push(text.clone()),
                        Err(problem) => problems.push(problem),
                    },
                    Node::Null => problems.push(none_in_list("channels", index)),
                    other => problems.push(format!(
                        "Invalid channel in section `channels`, line {index}: expected a string, found {}",
                        other.kind()
                    )),
                }
            }
        }
        Some(other) => problems.push(format!(
            "Section `channels` must be a list of channel names, found {}",
            other.kind()
        )),
    }
    channels
}

fn read_dependencies(value: Option<&Node>, problems: &mut Vec<String>) -> Vec<Dependency> {
    let mut dependencies = Vec::new();
    let items = match value {
        None => return dependencies,
        Some(Node::Null) => {
            problems.push(none_section("dependencies"));
            return dependencies;
        }
        Some(Node::List(items)) => items,
        Some(other) => {
            problems.push(format!(
                "Section `dependencies` must be a list of package specifications, found {}",
                other.kind()
            ));
            return dependencies;
        }
    };
    for (index, item) in items.iter().enumerate() {
        match item {
            Node::String(text) => match check_conda_dependency(text, index) {
                Ok(()) => dependencies.push(Dependency::Conda(text.clone())),
                Err(problem) => problems.push(problem),
            },
            Node::Null => problems.push(none_in_list("dependencies", index)),
            Node::Map(entries) => {
                // Like pydantic's `CondaSpecificationPip`: other keys are ignored and a
                // missing `pip` means an empty list.
                let pip_value = entries
                    .iter()
                    .rev()
                    .find(|(name, _)| name.as_deref() == Some("pip"))
                    .map(|(_, value)| value);
                let mut pip = Vec::new();
                match pip_value {
                    None => {}
                    Some(Node::Null) => problems.push(format!(
                        "Invalid YAML : A forbidden `None` value has been encountered in section `pip` of `dependencies`, line {index}"
                    )),
                    Some(Node::List(entries)) => {
                        for (position, entry) in entries.iter().enumerate() {
                            match entry {
                                Node::String(text) => {
                                    match check_pip_dependency(text, index, position) {
                                        Ok(()) => pip.push(text.clone()),
                                        Err(problem) => problems.push(problem),
                                    }
                                }
                                Node::Null => problems.push(none_in_list("pip", position)),
                                other => problems.push(format!(
                                    "Invalid pip dependency in section `pip` of `dependencies`, line {index}, entry {position}: expected a string, found {}",
                                    other.kind()
                                )),
                            }
                        }
                    }
                    Some(other) => problems.push(format!(
                        "Section `pip` of `dependencies`, line {index} must be a list of pip requirements, found {}",
                        other.kind()
                    )),
                }
                dependencies.push(Dependency::Pip { pip });
            }
            other => problems.push(format!(
                "Invalid dependency in section `dependencies`, line {index}: expected a conda package specification or a `pip:` section, found {}",
                other.kind()
            )),
        }
    }
    dependencies
}

fn read_optional_string(field: &str, value: &Node, problems: &mut Vec<String>) -> Option<String> {
    match value {
        Node::Null => None,
        Node::String(text) => {
            if let Err(problem) = check_field_text(&format!("Field `{field}`"), text) {
                problems.push(problem);
            }
            Some(text.clone())
        }
        other => {
            problems.push(format!(
                "Field `{field}` must be a string, found {}",
                other.kind()
            ));
            None
        }
    }
}

fn read_name(value: Option<&Node>, problems: &mut Vec<String>) -> String {
    match value {
        None | Some(Node::Null) => {
            problems.push(EMPTY_NAME_MESSAGE.to_owned());
            String::new()
        }
        Some(Node::String(text)) => {
            if let Err(problem) = check_name(text) {
                problems.push(problem);
            }
            text.clone()
        }
        Some(other) => {
            problems.push(format!(
                "The name of the environment must be a string, found {}",
                other.kind()
            ));
            String::new()
        }
    }
}

fn read_variables(
    value: Option<&Node>,
    problems: &mut Vec<String>,
) -> Option<BTreeMap<String, Variable>> {
    let entries = match value {
        None | Some(Node::Null) => return None,
        Some(Node::Map(entries)) => entries,
        Some(other) => {
            problems.push(format!(
                "Section `variables` must be a mapping of names to strings or integers, found {}",
                other.kind()
            ));
            return None;
        }
    };
    let mut variables = BTreeMap::new();
    for (key, value) in entries {
        let Some(key) = key else {
            problems.push(
                "Section `variables` must have string keys (quote the variable names)".to_owned(),
            );
            continue;
        };
        if let Err(problem) = check_field_text("A variable name in section `variables`", key) {
            problems.push(problem);
            continue;
        }
        let variable = match value {
            Node::String(text) => {
                if let Err(problem) = check_field_text(&format!("Variable `{key}`"), text) {
                    problems.push(problem);
                    continue;
                }
                Variable::String(text.clone())
            }
            Node::Integer(integer) => match i64::try_from(*integer) {
                Ok(integer) => Variable::Integer(integer),
                Err(_) => {
                    problems.push(format!(
                        "Variable `{key}` is out of the 64-bit integer range: {integer}"
                    ));
                    continue;
                }
            },
            Node::Bool(flag) => Variable::Integer(i64::from(*flag)),
            Node::Float(float)
                if float.is_finite()
                    && float.fract() == 0.0
                    && (-9.2e18..9.2e18).contains(float) =>
            {
                // pydantic's lax mode takes integral floats as integers.
                #[allow(clippy::cast_possible_truncation)]
                Variable::Integer(*float as i64)
            }
            other => {
                problems.push(format!(
                    "Variable `{key}` must be a string or an integer, found {}",
                    other.kind()
                ));
                continue;
            }
        };
        variables.insert(key.clone(), variable);
    }
    Some(variables)
}

/// Whether `name` is a valid environment or namespace name
/// (`^[A-Za-z0-9-+_@$&?^~.=]+$`, the Python conda-store's `ALLOWED_CHARACTERS`), not
/// starting with `.` (so never `.` or `..`: names become directories).
pub fn is_valid_name(name: &str) -> bool {
    check_name(name).is_ok()
}

/// Checks an environment name against `^[A-Za-z0-9-+_@$&?^~.=]+$` and refuses a
/// leading `.`.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(EMPTY_NAME_MESSAGE.to_owned());
    }
    check_field_text("The name of the environment", name)?;
    if name.starts_with('.') {
        return Err(format!(
            "Invalid name {name:?}: a name may not start with '.' (it names a directory)"
        ));
    }
    if let Some(character) = name.chars().find(|character| {
        !character.is_ascii_alphanumeric() && !NAME_PUNCTUATION.contains(*character)
    }) {
        return Err(format!(
            "Invalid environment name {name:?}: the character {character:?} is not allowed; \
             use only ASCII letters, digits and {NAME_PUNCTUATION}"
        ));
    }
    Ok(())
}

/// Parses a conda dependency as conda-store accepts it: a strict `MatchSpec`, or failing
/// that a lenient one, because conda itself accepts forms that rattler's strict mode refuses
/// (`blas=*=mkl` is in real conda-store databases). The error is the strict parser's.
pub fn parse_match_spec(text: &str) -> Result<MatchSpec, ParseMatchSpecError> {
    MatchSpec::from_str(text, ParseMatchSpecOptions::strict()).or_else(|strict_error| {
        MatchSpec::from_str(text, ParseMatchSpecOptions::lenient()).map_err(|_| strict_error)
    })
}

fn check_conda_dependency(text: &str, index: usize) -> Result<(), String> {
    check_field_text(
        &format!("Conda dependency in section `dependencies`, line {index},"),
        text,
    )?;
    parse_match_spec(text).map(|_| ()).map_err(|reason| {
        format!(
            "Invalid conda package dependency specification {text} (section `dependencies`, line {index}): {reason}"
        )
    })
}

fn check_pip_dependency(text: &str, index: usize, position: usize) -> Result<(), String> {
    check_field_text(
        &format!("Entry {position} of section `pip` of `dependencies`, line {index},"),
        text,
    )?;
    parse_pip_entry(text).map(|_| ()).map_err(|reason| {
        format!("{reason} (section `pip` of `dependencies`, line {index}, entry {position})")
    })
}

/// The URL a channel stands for: names are put under `alias`
/// (`conda-forge` → `https://conda.anaconda.org/conda-forge`), URLs (`scheme://…`) are kept,
/// absolute paths become `file://` URLs; trailing slashes are removed.
pub fn normalize_channel(channel: &str, alias: &str) -> String {
    let channel = channel.trim();
    let url = if channel.contains("://") {
        channel.to_owned()
    } else if channel.starts_with('/') {
        format!("file://{channel}")
    } else {
        format!(
            "{}/{}",
            alias.trim().trim_end_matches('/'),
            channel.trim_start_matches('/')
        )
    };
    let trimmed = url.trim_end_matches('/');
    if trimmed.ends_with(':') || trimmed.is_empty() {
        url
    } else {
        trimmed.to_owned()
    }
}

/// Applies the (merged) settings to a parsed specification, as the Python
/// `conda_store_validate_specification` does: default channels and the channel allow-list,
/// then default/included/required pip packages, then default/included/required conda
/// packages. The returned specification is the one to store and hash.
pub fn validate(
    specification: CondaSpecification,
    settings: &Settings,
) -> Result<CondaSpecification, SpecificationError> {
    specification.check()?;
    let mut specification = specification;
    validate_channels(&mut specification, settings)?;
    validate_pypi_packages(&mut specification, settings)?;
    validate_conda_packages(&mut specification, settings)?;
    Ok(specification)
}

fn validate_channels(
    specification: &mut CondaSpecification,
    settings: &Settings,
) -> Result<(), SpecificationError> {
    if specification.channels.is_empty() {
        specification.channels = settings.conda_default_channels.clone();
    }
    if settings.conda_allowed_channels.is_empty() {
        return Ok(());
    }
    let alias = &settings.conda_channel_alias;
    let allowed: BTreeSet<String> = settings
        .conda_allowed_channels
        .iter()
        .map(|channel| normalize_channel(channel, alias))
        .collect();
    let refused: BTreeSet<String> = specification
        .channels
        .iter()
        .map(|channel| normalize_channel(channel, alias))
        .filter(|channel| !allowed.contains(channel))
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(SpecificationError::ChannelsNotAllowed {
            channels: refused
                .iter()
                .map(|channel| crate::redaction::redact_credentials(channel))
                .collect(),
        })
    }
}

/// The key a pip entry is matched by: the normalized requirement name, or the whole
/// option line.
fn pip_key(entry: &str) -> Result<String, String> {
    Ok(match parse_pip_entry(entry)? {
        PipEntry::Option(_) => entry.to_owned(),
        PipEntry::Requirement { name, .. } => name,
    })
}

/// Entries of a package setting keyed by name; a later entry with the same name replaces an
/// earlier one (Python builds a dict), the first position is kept.
fn keyed_setting(
    setting: &'static str,
    entries: &[String],
    key: fn(&str) -> Result<String, String>,
) -> Result<Vec<(String, String)>, SpecificationError> {
    let mut keyed: Vec<(String, String)> = Vec::new();
    for entry in entries {
        let name = key(entry).map_err(|reason| SpecificationError::InvalidSetting {
            setting,
            entry: entry.clone(),
            reason,
        })?;
        match keyed.iter_mut().find(|(existing, _)| *existing == name) {
            Some(slot) => slot.1 = entry.clone(),
            None => keyed.push((name, entry.clone())),
        }
    }
    Ok(keyed)
}

/// The first `pip:` section (the one the Python code reads and extends).
fn first_pip_section(specification: &mut CondaSpecification) -> Option<&mut Vec<String>> {
    specification
        .dependencies
        .iter_mut()
        .find_map(|dependency| match dependency {
            Dependency::Pip { pip } => Some(pip),
            Dependency::Conda(_) => None,
        })
}

fn append_pip(specification: &mut CondaSpecification, packages: Vec<String>) {
    match first_pip_section(specification) {
        Some(pip) => pip.extend(packages),
        None => specification
            .dependencies
            .push(Dependency::Pip { pip: packages }),
    }
}

fn present_pip_keys(specification: &mut CondaSpecification) -> BTreeSet<String> {
    first_pip_section(specification)
        .map(|pip| pip.iter().filter_map(|entry| pip_key(entry).ok()).collect())
        .unwrap_or_default()
}

fn validate_pypi_packages(
    specification: &mut CondaSpecification,
    settings: &Settings,
) -> Result<(), SpecificationError> {
    let defaults = keyed_setting(
        "pypi_default_packages",
        &settings.pypi_default_packages,
        pip_key,
    )?;
    let included = keyed_setting(
        "pypi_included_packages",
        &settings.pypi_included_packages,
        pip_key,
    )?;
    let required = keyed_setting(
        "pypi_required_packages",
        &settings.pypi_required_packages,
        pip_key,
    )?;
    let has_pip = first_pip_section(specification).is_some_and(|pip| !pip.is_empty());
    if !has_pip && !defaults.is_empty() {
        append_pip(specification, settings.pypi_default_packages.clone());
    }
    let present = present_pip_keys(specification);
    let additions: Vec<String> = included
        .into_iter()
        .filter(|(name, _)| !present.contains(name))
        .map(|(_, entry)| entry)
        .collect();
    if !additions.is_empty() {
        append_pip(specification, additions);
    }
    let present = present_pip_keys(specification);
    let missing: BTreeSet<String> = required
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !present.contains(name))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(SpecificationError::PypiPackagesMissing {
            packages: missing.into_iter().collect(),
        })
    }
}

/// The normalized package name of a conda match spec.
fn conda_key(entry: &str) -> Result<String, String> {
    let spec = parse_match_spec(entry).map_err(|error| error.to_string())?;
    Ok(match spec.name.as_exact() {
        Some(name) => name.as_normalized().to_owned(),
        None => spec.name.to_string(),
    })
}

fn present_conda_keys(specification: &CondaSpecification) -> BTreeSet<String> {
    specification
        .conda_dependencies()
        .filter_map(|entry| conda_key(entry).ok())
        .collect()
}

fn validate_conda_packages(
    specification: &mut CondaSpecification,
    settings: &Settings,
) -> Result<(), SpecificationError> {
    keyed_setting(
        "conda_default_packages",
        &settings.conda_default_packages,
        conda_key,
    )?;
    let included = keyed_setting(
        "conda_included_packages",
        &settings.conda_included_packages,
        conda_key,
    )?;
    let required = keyed_setting(
        "conda_required_packages",
        &settings.conda_required_packages,
        conda_key,
    )?;
    if specification.conda_dependencies().next().is_none() {
        // Defaults go first, before any `pip:` section.
        let defaults = settings
            .conda_default_packages
            .iter()
            .cloned()
            .map(Dependency::Conda);
        specification.dependencies.splice(0..0, defaults);
    }
    let present = present_conda_keys(specification);
    for (name, entry) in included {
        if !present.contains(&name) {
            specification.dependencies.push(Dependency::Conda(entry));
        }
    }
    let present = present_conda_keys(specification);
    let missing: BTreeSet<String> = required
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !present.contains(name))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(SpecificationError::CondaPackagesMissing {
            packages: missing.into_iter().collect(),
        })
    }
}

/// A parsed document, from YAML or JSON: what the checks above look at.
enum Node {
    Null,
    Bool(bool),
    Integer(i128),
    Float(f64),
    String(String),
    List(Vec<Node>),
    /// Entries in document order; `None` for a key that is not a string.
    Map(Vec<(Option<String>, Node)>),
}

impl Node {
    /// What kind of value this is, for error messages.
    fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Integer(_) => "an integer",
            Node::Float(_) => "a number",
            Node::String(_) => "a string",
            Node::List(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }

    fn from_json(value: &Value) -> Node {
        match value {
            Value::Null => Node::Null,
            Value::Bool(flag) => Node::Bool(*flag),
            Value::Number(number) => match (number.as_i64(), number.as_u64(), number.as_f64()) {
                (Some(integer), _, _) => Node::Integer(i128::from(integer)),
                (_, Some(integer), _) => Node::Integer(i128::from(integer)),
                (_, _, Some(float)) => Node::Float(float),
                _ => Node::Float(f64::NAN),
            },
            Value::String(text) => Node::String(text.clone()),
            Value::Array(items) => Node::List(items.iter().map(Node::from_json).collect()),
            Value::Object(map) => Node::Map(
                map.iter()
                    .map(|(key, value)| (Some(key.clone()), Node::from_json(value)))
                    .collect(),
            ),
        }
    }

    /// Converts a YAML value; tags are refused as PyYAML's `safe_load` refuses unknown ones.
    fn from_yaml(value: &serde_yaml::Value) -> Result<Node, SpecificationError> {
        Ok(match value {
            serde_yaml::Value::Null => Node::Null,
            serde_yaml::Value::Bool(flag) => Node::Bool(*flag),
            serde_yaml::Value::Number(number) => {
                match (number.as_i64(), number.as_u64(), number.as_f64()) {
                    (Some(integer), _, _) => Node::Integer(i128::from(integer)),
                    (_, Some(integer), _) => Node::Integer(i128::from(integer)),
                    (_, _, Some(float)) => Node::Float(float),
                    _ => Node::Float(f64::NAN),
                }
            }
            serde_yaml::Value::String(text) => Node::String(text.clone()),
            serde_yaml::Value::Sequence(items) => Node::List(
                items
                    .iter()
                    .map(Node::from_yaml)
                    .collect::<Result<_, _>>()?,
            ),
            serde_yaml::Value::Mapping(mapping) => Node::Map(
                mapping
                    .iter()
                    .map(|(key, value)| {
                        let key = match key {
                            serde_yaml::Value::String(text) => Some(text.clone()),
                            _ => None,
                        };
                        Ok((key, Node::from_yaml(value)?))
                    })
                    .collect::<Result<_, SpecificationError>>()?,
            ),
            serde_yaml::Value::Tagged(tagged) => {
                return Err(SpecificationError::Yaml {
                    reason: format!("unsupported tag {}", tagged.tag),
                });
            }
        })
    }
}
