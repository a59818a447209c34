//! Where builds and environment symlinks live: the `build_directory` and
//! `environment_directory` settings are templates filled as Python's `str.format` fills
//! them (`{store_directory}`, `{namespace}`, `{name}`; `{{` and `}}` for braces), so a
//! deployment adopted from the Python conda-store finds its prefixes where they are.

use std::path::{Path, PathBuf};

/// Longest build path the Python conda-store accepts.
pub const MAX_BUILD_PATH: usize = 255;

/// The fields a `build_directory` template may name.
pub const BUILD_DIRECTORY_FIELDS: &[&str] = &["store_directory", "namespace"];

/// The fields an `environment_directory` template may name.
pub const ENVIRONMENT_DIRECTORY_FIELDS: &[&str] = &["store_directory", "namespace", "name"];

/// Why a path could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The template names a field it may not use, or its braces do not pair up.
    #[error("template `{template}`: {reason}")]
    Template {
        /// The template.
        template: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The build path is longer than [`MAX_BUILD_PATH`] (the Python message).
    #[error("build_path too long: must be <= {MAX_BUILD_PATH} characters")]
    TooLong,
}

/// The prefix of a build: `build_directory` filled, then the build key. Key version 3
/// builds pass an empty namespace, as the Python conda-store does.
pub fn build_path(
    template: &str,
    store_directory: &Path,
    namespace: &str,
    key: &str,
) -> Result<PathBuf, PathError> {
    let store = store_directory.to_string_lossy();
    let directory = fill(
        template,
        &[("store_directory", &store), ("namespace", namespace)],
    )?;
    let path = normalize(&Path::new(&directory).join(key));
    if path.as_os_str().len() > MAX_BUILD_PATH {
        return Err(PathError::TooLong);
    }
    Ok(path)
}

/// The symlink that points at an environment's current build: `environment_directory`
/// filled.
pub fn environment_path(
    template: &str,
    store_directory: &Path,
    namespace: &str,
    name: &str,
) -> Result<PathBuf, PathError> {
    let store = store_directory.to_string_lossy();
    let path = fill(
        template,
        &[
            ("store_directory", &store),
            ("namespace", namespace),
            ("name", name),
        ],
    )?;
    Ok(normalize(Path::new(&path)))
}

/// Checks that `template` fills with `fields` alone; the reason otherwise.
pub fn check_template(template: &str, fields: &[&str]) -> Result<(), String> {
    let values: Vec<(&str, &str)> = fields.iter().map(|field| (*field, "")).collect();
    fill(template, &values)
        .map(drop)
        .map_err(|error| match error {
            PathError::Template { reason, .. } => reason,
            PathError::TooLong => error.to_string(),
        })
}

/// Fills `{field}` placeholders from `values`; `{{` and `}}` stand for braces.
fn fill(template: &str, values: &[(&str, &str)]) -> Result<String, PathError> {
    let invalid = |reason: String| PathError::Template {
        template: template.to_owned(),
        reason,
    };
    let mut filled = String::with_capacity(template.len());
    let mut characters = template.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            '{' if characters.peek() == Some(&'{') => {
                characters.next();
                filled.push('{');
            }
            '}' if characters.peek() == Some(&'}') => {
                characters.next();
                filled.push('}');
            }
            '{' => {
                let mut field = String::new();
                loop {
                    match characters.next() {
                        Some('}') => break,
                        Some(next) => field.push(next),
                        None => return Err(invalid("a `{` without its `}`".to_owned())),
                    }
                }
                let value = values
                    .iter()
                    .find(|(name, _)| *name == field)
                    .map(|(_, value)| *value)
                    .ok_or_else(|| {
                        let known: Vec<String> = values
                            .iter()
                            .map(|(name, _)| format!("{{{name}}}"))
                            .collect();
                        invalid(format!(
                            "unknown field {{{field}}}; it may use {}",
                            known.join(", ")
                        ))
                    })?;
                filled.push_str(value);
            }
            '}' => return Err(invalid("a single `}` (write `}}` for a brace)".to_owned())),
            other => filled.push(other),
        }
    }
    Ok(filled)
}

/// The path with repeated separators and `.` components removed, as Python's `pathlib`
/// writes it.
fn normalize(path: &Path) -> PathBuf {
    path.components().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILD: &str = "{store_directory}/{namespace}";
    const ENVIRONMENT: &str = "{store_directory}/{namespace}/envs/{name}";

    #[test]
    fn default_templates_give_the_python_layout() {
        let store = Path::new("/srv/state");
        assert_eq!(
            build_path(BUILD, store, "team", "abc-1-env").unwrap(),
            Path::new("/srv/state/team/abc-1-env")
        );
        // Key version 3: no namespace level, and no doubled separator.
        assert_eq!(
            build_path(BUILD, store, "", "abc").unwrap(),
            Path::new("/srv/state/abc")
        );
        assert_eq!(
            environment_path(ENVIRONMENT, store, "team", "env").unwrap(),
            Path::new("/srv/state/team/envs/env")
        );
    }

    #[test]
    fn custom_templates_are_filled_like_str_format() {
        let store = Path::new("/srv/state");
        assert_eq!(
            environment_path("/envs/{namespace}-{name}", store, "team", "env").unwrap(),
            Path::new("/envs/team-env")
        );
        assert_eq!(
            build_path("{store_directory}/{{x}}/{namespace}", store, "ns", "key").unwrap(),
            Path::new("/srv/state/{x}/ns/key")
        );
    }

    #[test]
    fn bad_templates_name_what_is_wrong() {
        assert_eq!(
            check_template("{store_directory}/{name}", BUILD_DIRECTORY_FIELDS).unwrap_err(),
            "unknown field {name}; it may use {store_directory}, {namespace}"
        );
        assert!(check_template("/a}b", BUILD_DIRECTORY_FIELDS).is_err());
        assert!(check_template("/a/{namespace", BUILD_DIRECTORY_FIELDS).is_err());
        assert!(check_template(ENVIRONMENT, ENVIRONMENT_DIRECTORY_FIELDS).is_ok());
    }

    #[test]
    fn long_build_paths_are_refused() {
        let store = PathBuf::from(format!("/{}", "s".repeat(250)));
        assert_eq!(
            build_path(BUILD, &store, "ns", "key"),
            Err(PathError::TooLong)
        );
    }
}
