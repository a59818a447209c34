//! Lockfile specifications: an environment given as a conda-lock v1 lockfile instead of
//! an `environment.yaml` (`is_lockfile: true` in `POST /api/v1/specification/`). The
//! packages are installed exactly as locked, without solving.

use crate::canonical::datastructure_hash;
use crate::specification::{
    CondaSpecification, EMPTY_NAME_MESSAGE, SpecificationError, is_valid_name,
};
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
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => return Err(invalid("description must be a string".to_owned())),
        };
        let mut lockfile = value
            .get("lockfile")
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| invalid("lockfile must be a conda-lock v1 mapping".to_owned()))?;
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
}
