//! Where builds and environment symlinks live: the `build_directory` and
//! `environment_directory` settings are templates filled as Python's `str.format` fills
//! them (`{store_directory}`, `{namespace}`, `{name}`; `{{` and `}}` for braces), so a
//! deployment adopted from the Python conda-store finds its prefixes where they are.

use std::path::{Component, Path, PathBuf};

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
    /// A name could step out of its directory (`..`, a separator, a leading `.`).
    #[error("the {field} {value:?} cannot name a directory: {reason}")]
    UnsafeComponent {
        /// Which value: namespace, name or build key.
        field: &'static str,
        /// The value refused.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The filled template leaves the directory its fixed part names.
    #[error("{path} is not inside {root}")]
    OutsideRoot {
        /// The computed path.
        path: String,
        /// The directory it must stay in.
        root: String,
    },
}

/// Checks that a value from the database or a request can be one path component (or
/// part of one) without leaving its directory: not `.` or `..`, not hidden (a leading
/// `.`), and without a separator or a NUL byte. Empty is allowed (key version 3 fills
/// `{namespace}` with nothing). The one rule every computed path applies.
pub fn check_component(field: &'static str, value: &str) -> Result<(), PathError> {
    let reason = if value.starts_with('.') {
        "it starts with `.`"
    } else if value.contains(['/', '\\']) {
        "it contains a path separator"
    } else if value.contains('\0') {
        "it contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(PathError::UnsafeComponent {
        field,
        value: value.to_owned(),
        reason,
    })
}

/// Whether `path` lies strictly inside `root`, with no `.` or `..` component on the
/// way: what may be written or removed under a root.
pub fn is_within(path: &Path, root: &Path) -> bool {
    path != root
        && path.starts_with(root)
        && path
            .components()
            .all(|component| !matches!(component, Component::ParentDir | Component::CurDir))
}

/// The prefix of a build: `build_directory` filled, then the build key. Key version 3
/// builds pass an empty namespace, as the Python conda-store does.
pub fn build_path(
    template: &str,
    store_directory: &Path,
    namespace: &str,
    key: &str,
) -> Result<PathBuf, PathError> {
    check_component("namespace", namespace)?;
    check_component("build key", key)?;
    if key.is_empty() {
        return Err(PathError::UnsafeComponent {
            field: "build key",
            value: String::new(),
            reason: "it is empty",
        });
    }
    let store = store_directory.to_string_lossy();
    let filled = fill(
        template,
        &[("store_directory", &store), ("namespace", namespace)],
    )?;
    let path = normalize(&Path::new(&filled.text).join(key));
    check_inside(&path, &filled.root)?;
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
    check_component("namespace", namespace)?;
    check_component("environment name", name)?;
    let store = store_directory.to_string_lossy();
    let filled = fill(
        template,
        &[
            ("store_directory", &store),
            ("namespace", namespace),
            ("name", name),
        ],
    )?;
    let path = normalize(Path::new(&filled.text));
    check_inside(&path, &filled.root)?;
    Ok(path)
}

/// Checks that `template` fills with `fields` alone; the reason otherwise.
pub fn check_template(template: &str, fields: &[&str]) -> Result<(), String> {
    let values: Vec<(&str, &str)> = fields.iter().map(|field| (*field, "")).collect();
    fill(template, &values)
        .map(drop)
        .map_err(|error| match error {
            PathError::Template { reason, .. } => reason,
            other => other.to_string(),
        })
}

/// A filled template, and the directory its fixed part names: the text before the
/// first value that is not `{store_directory}`, up to its last separator.
struct Filled {
    text: String,
    root: PathBuf,
}

/// Refuses a computed path that is not inside the fixed part of its template.
fn check_inside(path: &Path, root: &Path) -> Result<(), PathError> {
    if is_within(path, &normalize(root)) {
        return Ok(());
    }
    Err(PathError::OutsideRoot {
        path: path.display().to_string(),
        root: root.display().to_string(),
    })
}

/// Fills `{field}` placeholders from `values`; `{{` and `}}` stand for braces.
fn fill(template: &str, values: &[(&str, &str)]) -> Result<Filled, PathError> {
    let invalid = |reason: String| PathError::Template {
        template: template.to_owned(),
        reason,
    };
    let mut filled = String::with_capacity(template.len());
    let mut fixed_length = None;
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
                if field != "store_directory" && fixed_length.is_none() {
                    fixed_length = Some(filled.len());
                }
                filled.push_str(value);
            }
            '}' => return Err(invalid("a single `}` (write `}}` for a brace)".to_owned())),
            other => filled.push(other),
        }
    }
    let fixed = &filled[..fixed_length.unwrap_or(filled.len())];
    let root = PathBuf::from(fixed.rfind('/').map_or("", |end| &fixed[..=end]));
    Ok(Filled { text: filled, root })
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

    #[test]
    fn names_that_leave_their_directory_are_refused() {
        let store = Path::new("/srv/state");
        for namespace in ["..", ".", ".hidden", "a/b", "a\\b", "a\0b"] {
            assert!(
                matches!(
                    build_path(BUILD, store, namespace, "key"),
                    Err(PathError::UnsafeComponent { .. })
                ),
                "{namespace:?}"
            );
            assert!(environment_path(ENVIRONMENT, store, namespace, "env").is_err());
            assert!(environment_path(ENVIRONMENT, store, "team", namespace).is_err());
        }
        assert!(build_path(BUILD, store, "team", "..").is_err());
        assert!(build_path(BUILD, store, "team", "").is_err());
        assert!(build_path(BUILD, store, "team..x", "key").is_ok());
    }

    #[test]
    fn computed_paths_stay_inside_their_root() {
        assert!(is_within(Path::new("/a/b/c"), Path::new("/a")));
        assert!(!is_within(Path::new("/a"), Path::new("/a")));
        assert!(!is_within(Path::new("/a/../b"), Path::new("/a")));
        assert!(!is_within(Path::new("/ab"), Path::new("/a")));
    }
}
