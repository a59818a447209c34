//! Lockfile specifications: an environment given as a conda-lock v1 lockfile instead of
//! an `environment.yaml` (`is_lockfile: true` in `POST /api/v1/specification/`). The
//! packages are installed exactly as locked, without solving.

use crate::canonical::datastructure_hash;
use crate::field_text::check_field_text;
use crate::pip_entry::{PipEntry, check_pinned_package, parse_pip_entry};
use crate::specification::{
    CondaSpecification, EMPTY_NAME_MESSAGE, SpecificationError, is_valid_name, normalize_channel,
};
use crate::url_policy::UrlKind;
use serde_json::{Map, Value};

/// A lockfile specification, as the Python `LockfileSpecification` model holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LockfileSpecification {
    /// The environment name.
    pub name: String,
    /// Free-text description (`""` when absent).
    pub description: Option<String>,
    /// The conda-lock v1 document, without its `version` key.
    pub lockfile: Map<String, Value>,
}

impl LockfileSpecification {
    /// Reads `{name, description, lockfile}`, checking the name, that `lockfile.version`
    /// is absent or 1, and that the lockfile is a valid conda-lock v1 document.
    pub fn from_value(value: &Value) -> Result<Self, SpecificationError> {
        let invalid = |problem: String| SpecificationError::Invalid {
            problems: vec![problem],
        };
        let name = value
            .get("name")
            .and_then(Value::as_str)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| invalid(EMPTY_NAME_MESSAGE.to_owned()))?;
        if !is_valid_name(name) {
            return Err(invalid(format!(
                "Invalid environment name {name:?}: use only ASCII letters, digits and -+_@$&?^~.="
            )));
        }
        let description = match value.get("description") {
            None => Some(String::new()),
            Some(Value::Null) => None,
            Some(Value::String(text)) => {
                check_field_text("Field `description`", text).map_err(invalid)?;
                Some(text.clone())
            }
            Some(_) => return Err(invalid("description must be a string".to_owned())),
        };
        let mut lockfile = value
            .get("lockfile")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| invalid("lockfile must be a conda-lock v1 mapping".to_owned()))?;
        let mut problems = Vec::new();
        check_json_text("lockfile", &Value::Object(lockfile.clone()), &mut problems);
        problems.extend(pip_package_problems(&lockfile));
        if !problems.is_empty() {
            return Err(SpecificationError::Invalid { problems });
        }
        match lockfile.remove("version") {
            None => {}
            Some(version) if version == 1 => {}
            Some(_) => {
                return Err(invalid(
                    "Expected lockfile to have no version field, or version=1".to_owned(),
                ));
            }
        }
        let specification = Self {
            name: name.to_owned(),
            description,
            lockfile,
        };
        rattler_conda_lock::Document::parse(&specification.lockfile_text())
            .map_err(|error| invalid(format!("invalid conda-lock v1 lockfile: {error}")))?;
        Ok(specification)
    }

    /// The URLs the lockfile makes the worker download: `(is_conda, url)` for every
    /// package of `package`.
    pub fn package_urls(&self) -> Vec<(bool, String)> {
        self.lockfile
            .get("package")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|package| {
                let url = package.get("url")?.as_str()?;
                let is_conda = package.get("manager").and_then(Value::as_str) != Some("pip");
                Some((is_conda, url.to_owned()))
            })
            .collect()
    }

    /// The lockfile as conda-lock v1 JSON text, `version: 1` included.
    pub fn lockfile_text(&self) -> String {
        Value::Object(self.lockfile_with_version()).to_string()
    }

    fn lockfile_with_version(&self) -> Map<String, Value> {
        let mut lockfile = self.lockfile.clone();
        lockfile.insert("version".to_owned(), Value::from(1));
        lockfile
    }

    /// The stored form: `{name, description, lockfile}` with `version: 1` re-added, as
    /// the Python conda-store's `model_dump`.
    pub fn to_value(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "description": self.description,
            "lockfile": Value::Object(self.lockfile_with_version()),
        })
    }
}

/// The pip packages of a lockfile that could not be written safely for uv.
fn pip_package_problems(lockfile: &Map<String, Value>) -> Vec<String> {
    let text = |package: &Value, key: &str| {
        package
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    lockfile
        .get("package")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|package| package.get("manager").and_then(Value::as_str) == Some("pip"))
        .filter_map(|package| {
            let sha256 = package
                .get("hash")
                .and_then(|hash| hash.get("sha256"))
                .and_then(Value::as_str);
            check_pinned_package(&text(package, "name"), &text(package, "url"), sha256).err()
        })
        .collect()
}

/// Collects a problem for every string (key or value) of `value` holding a control
/// character, naming its place (`lockfile.package[3].url`).
fn check_json_text(place: &str, value: &Value, problems: &mut Vec<String>) {
    match value {
        Value::String(text) => {
            if let Err(problem) = check_field_text(&format!("Field `{place}`"), text) {
                problems.push(problem);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                check_json_text(&format!("{place}[{index}]"), item, problems);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                if check_field_text("", key).is_err() {
                    problems.push(format!(
                        "A key of `{place}` contains a control character, which is not allowed in a specification"
                    ));
                    continue;
                }
                check_json_text(&format!("{place}.{key}"), item, problems);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Either kind of specification.
#[derive(Debug, Clone)]
pub enum Specification {
    /// An `environment.yaml`.
    Conda(CondaSpecification),
    /// A conda-lock v1 lockfile.
    Lockfile(LockfileSpecification),
}

impl Specification {
    /// The environment name.
    pub fn name(&self) -> &str {
        match self {
            Specification::Conda(specification) => &specification.name,
            Specification::Lockfile(specification) => &specification.name,
        }
    }

    /// The description, if any.
    pub fn description(&self) -> Option<&str> {
        match self {
            Specification::Conda(specification) => specification.description.as_deref(),
            Specification::Lockfile(specification) => specification.description.as_deref(),
        }
    }

    /// The stored JSON form.
    pub fn to_value(&self) -> Value {
        match self {
            Specification::Conda(specification) => specification.to_value(),
            Specification::Lockfile(specification) => specification.to_value(),
        }
    }

    /// The canonical sha256 of the stored form.
    pub fn sha256(&self) -> String {
        datastructure_hash(&self.to_value())
    }

    /// Whether it is a lockfile specification.
    pub fn is_lockfile(&self) -> bool {
        matches!(self, Specification::Lockfile(_))
    }

    /// Every URL this specification makes the server fetch, with its kind, for
    /// [`UrlPolicy`](crate::url_policy::UrlPolicy): channels (normalized with `alias`),
    /// pip index options and direct pip URLs; for a lockfile, its package URLs.
    pub fn fetched_urls(&self, alias: &str) -> Vec<(UrlKind, String)> {
        match self {
            Specification::Conda(specification) => conda_fetched_urls(specification, alias),
            Specification::Lockfile(specification) => specification
                .package_urls()
                .into_iter()
                .map(|(is_conda, url)| {
                    let kind = if is_conda {
                        UrlKind::CondaPackage
                    } else {
                        UrlKind::PipIndex
                    };
                    (kind, url)
                })
                .collect(),
        }
    }
}

fn conda_fetched_urls(specification: &CondaSpecification, alias: &str) -> Vec<(UrlKind, String)> {
    let mut urls: Vec<(UrlKind, String)> = specification
        .channels
        .iter()
        .map(|channel| (UrlKind::Channel, normalize_channel(channel, alias)))
        .collect();
    for entry in specification.pip_dependencies() {
        match parse_pip_entry(entry) {
            Ok(PipEntry::Option(option)) => {
                urls.extend(option.url().map(|url| (UrlKind::PipIndex, url.to_owned())));
            }
            Ok(PipEntry::Requirement { url: Some(url), .. }) => {
                urls.push((UrlKind::PipDirect, url));
            }
            Ok(PipEntry::Requirement { url: None, .. }) | Err(_) => {}
        }
    }
    urls
}
