//! Permissions, roles, ARN patterns and role bindings: the pure rules of conda-store's
//! role-based access control (reference §5.3–§5.5), with no database and no HTTP.
//!
//! An ARN pattern is `<namespace-pattern>/<name-pattern>` where `*` stands for zero or
//! more allowed characters. A role binding maps a pattern to roles, a role grants
//! permissions, and a caller may act on a concrete ARN (`""`, `namespace` or
//! `namespace/environment`) with the union of the permissions of every binding whose
//! pattern matches it.
//!
//! Deliberate differences from the Python original (see docs/COMPATIBILITY.md):
//! - Characters of a pattern are literal. Python pastes them into a regular expression
//!   unescaped, so `.`, `+`, `?`, `^` and `$` act as regex operators there (`my.team/*`
//!   also matches `myXteam`).
//! - The SQL LIKE rendering escapes `_` (and `%`, `\`), so `my_team/*` does not list
//!   `myXteam`; Python leaves `_` as a LIKE wildcard.
//! - The role `editor` is accepted everywhere as an alias of `developer` and written back
//!   as `developer`; Python raises an error when a token binding says `editor`.

use crate::specification::NAME_PUNCTUATION;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// An action a role may allow; the wire strings are those of the Python `Permissions` enum.
///
/// The variants are declared in the order of their wire strings, so a sorted collection
/// of permissions lists them as Python's `sorted(permission.value ...)` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    /// `build::cancel`
    BuildCancel,
    /// `build::delete`
    BuildDelete,
    /// `environment::delete`
    EnvironmentDelete,
    /// `environment::read`
    EnvironmentRead,
    /// `environment::solve`
    EnvironmentSolve,
    /// `environment::update`
    EnvironmentUpdate,
    /// `environment:create` (a single colon, as in the original).
    EnvironmentCreate,
    /// `namespace-role-mapping::create`
    NamespaceRoleMappingCreate,
    /// `namespace-role-mapping::delete`
    NamespaceRoleMappingDelete,
    /// `namespace-role-mapping::read`
    NamespaceRoleMappingRead,
    /// `namespace-role-mapping::update`
    NamespaceRoleMappingUpdate,
    /// `namespace::create`
    NamespaceCreate,
    /// `namespace::delete`
    NamespaceDelete,
    /// `namespace::read`
    NamespaceRead,
    /// `namespace::update`
    NamespaceUpdate,
    /// `setting::read`
    SettingRead,
    /// `setting::update`
    SettingUpdate,
}

impl Permission {
    /// Every permission, in sorted (wire string) order.
    pub const ALL: [Permission; 17] = [
        Permission::BuildCancel,
        Permission::BuildDelete,
        Permission::EnvironmentDelete,
        Permission::EnvironmentRead,
        Permission::EnvironmentSolve,
        Permission::EnvironmentUpdate,
        Permission::EnvironmentCreate,
        Permission::NamespaceRoleMappingCreate,
        Permission::NamespaceRoleMappingDelete,
        Permission::NamespaceRoleMappingRead,
        Permission::NamespaceRoleMappingUpdate,
        Permission::NamespaceCreate,
        Permission::NamespaceDelete,
        Permission::NamespaceRead,
        Permission::NamespaceUpdate,
        Permission::SettingRead,
        Permission::SettingUpdate,
    ];

    /// The wire string, e.g. `environment::read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::BuildCancel => "build::cancel",
            Permission::BuildDelete => "build::delete",
            Permission::EnvironmentDelete => "environment::delete",
            Permission::EnvironmentRead => "environment::read",
            Permission::EnvironmentSolve => "environment::solve",
            Permission::EnvironmentUpdate => "environment::update",
            Permission::EnvironmentCreate => "environment:create",
            Permission::NamespaceRoleMappingCreate => "namespace-role-mapping::create",
            Permission::NamespaceRoleMappingDelete => "namespace-role-mapping::delete",
            Permission::NamespaceRoleMappingRead => "namespace-role-mapping::read",
            Permission::NamespaceRoleMappingUpdate => "namespace-role-mapping::update",
            Permission::NamespaceCreate => "namespace::create",
            Permission::NamespaceDelete => "namespace::delete",
            Permission::NamespaceRead => "namespace::read",
            Permission::NamespaceUpdate => "namespace::update",
            Permission::SettingRead => "setting::read",
            Permission::SettingUpdate => "setting::update",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Error for a string that is not one of the permission wire strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission {0:?}")]
pub struct UnknownPermission(pub String);

impl FromStr for Permission {
    type Err = UnknownPermission;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Permission::ALL
            .into_iter()
            .find(|permission| permission.as_str() == text)
            .ok_or_else(|| UnknownPermission(text.to_owned()))
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A role a binding grants (reference §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Read environments, namespaces and role mappings.
    Viewer,
    /// Viewer plus create, update, solve and cancel; spelled `editor` or `developer`,
    /// always written back (and stored in the database) as `developer`.
    Editor,
    /// Every permission.
    Admin,
}

/// Error for a role name other than `viewer`, `editor`, `developer` or `admin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid role={0}: expected one of viewer, editor, developer, admin")]
pub struct UnknownRole(pub String);

const VIEWER_PERMISSIONS: [Permission; 3] = [
    Permission::EnvironmentRead,
    Permission::NamespaceRoleMappingRead,
    Permission::NamespaceRead,
];

const EDITOR_PERMISSIONS: [Permission; 8] = [
    Permission::BuildCancel,
    Permission::EnvironmentRead,
    Permission::EnvironmentSolve,
    Permission::EnvironmentUpdate,
    Permission::EnvironmentCreate,
    Permission::NamespaceRoleMappingRead,
    Permission::NamespaceRead,
    Permission::SettingRead,
];

impl Role {
    /// The name written back in JSON and stored in role columns: `viewer`, `developer`
    /// (never `editor`) or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "developer",
            Role::Admin => "admin",
        }
    }

    /// The permissions this role grants, sorted.
    pub fn permissions(self) -> &'static [Permission] {
        match self {
            Role::Viewer => &VIEWER_PERMISSIONS,
            Role::Editor => &EDITOR_PERMISSIONS,
            Role::Admin => &Permission::ALL,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "editor" | "developer" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            _ => Err(UnknownRole(text.to_owned())),
        }
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Permissions as their wire strings joined by `, ` (messages and pages).
pub fn permission_list<'a>(permissions: impl IntoIterator<Item = &'a Permission>) -> String {
    let names: Vec<&str> = permissions
        .into_iter()
        .map(|permission| permission.as_str())
        .collect();
    names.join(", ")
}

/// The union of the permissions of `roles`.
pub fn permissions_of_roles(roles: &[Role]) -> BTreeSet<Permission> {
    roles
        .iter()
        .flat_map(|role| role.permissions().iter().copied())
        .collect()
}

/// Whether `character` may appear in a namespace or environment name
/// (`A-Za-z0-9-+_@$&?^~.=`, the Python `ALLOWED_CHARACTERS`).
pub fn is_name_character(character: char) -> bool {
    character.is_ascii_alphanumeric() || NAME_PUNCTUATION.contains(character)
}

/// The wildcard of ARN patterns.
const WILDCARD: char = '*';

/// What a binding scoped to some environments (`ns/env1`) still grants on its
/// namespace `ns`: reading it (its name and metadata are shown with the environments
/// anyway). Every other namespace-level action needs a binding `ns/*`.
pub const ENVIRONMENT_SCOPED_NAMESPACE_PERMISSIONS: [Permission; 1] = [Permission::NamespaceRead];

/// The escape character of the LIKE patterns made by [`sql_like_pattern`]; queries
/// must say `ESCAPE '!'` (SQLite has no default escape character, and a backslash is
/// quoted differently by each database).
pub const SQL_LIKE_ESCAPE: char = '!';

/// Why a string is not a valid ARN pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    /// The pattern has no `/` between namespace and name.
    #[error("invalid arn={arn:?}: expected <namespace-pattern>/<name-pattern>")]
    MissingSlash {
        /// The rejected pattern.
        arn: String,
    },
    /// The pattern has more than one `/`.
    #[error("invalid arn={arn:?}: only one '/' may separate namespace and name")]
    ExtraSlash {
        /// The rejected pattern.
        arn: String,
    },
    /// The namespace or the name part is empty.
    #[error("invalid arn={arn:?}: the {part} pattern is empty (use '*' to match anything)")]
    EmptyPart {
        /// The rejected pattern.
        arn: String,
        /// `namespace` or `name`.
        part: &'static str,
    },
    /// A character other than `A-Za-z0-9-+_@$&?^~.=*` (and the one `/`).
    #[error(
        "invalid arn={arn:?}: the character {character:?} is not allowed; \
         use only ASCII letters, digits, {NAME_PUNCTUATION} and '*'"
    )]
    InvalidCharacter {
        /// The rejected pattern.
        arn: String,
        /// The first character that is not allowed.
        character: char,
    },
}

/// A validated role-binding ARN pattern, `<namespace-pattern>/<name-pattern>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArnPattern {
    text: String,
    slash: usize,
}

/// The two LIKE patterns of an ARN pattern, for filtering namespace and environment names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlLikePatterns {
    /// LIKE pattern for `namespace.name`.
    pub namespace: String,
    /// LIKE pattern for `environment.name`.
    pub name: String,
}

impl ArnPattern {
    /// Validates `text` as `^[A-Za-z0-9-+_@$&?^~.=*]+/[A-Za-z0-9-+_@$&?^~.=*]+$`.
    pub fn parse(text: &str) -> Result<Self, ArnError> {
        let arn = || text.to_owned();
        if let Some(character) = text
            .chars()
            .find(|&character| character != '/' && !is_pattern_character(character))
        {
            return Err(ArnError::InvalidCharacter {
                arn: arn(),
                character,
            });
        }
        let Some((namespace, name)) = text.split_once('/') else {
            return Err(ArnError::MissingSlash { arn: arn() });
        };
        if name.contains('/') {
            return Err(ArnError::ExtraSlash { arn: arn() });
        }
        for (part, value) in [("namespace", namespace), ("name", name)] {
            if value.is_empty() {
                return Err(ArnError::EmptyPart { arn: arn(), part });
            }
        }
        Ok(ArnPattern {
            text: text.to_owned(),
            slash: namespace.len(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The part before the `/`.
    pub fn namespace_pattern(&self) -> &str {
        &self.text[..self.slash]
    }

    /// The part after the `/`.
    pub fn name_pattern(&self) -> &str {
        &self.text[self.slash + 1..]
    }

    /// Whether the concrete ARN (`""`, `namespace` or `namespace/name`) is matched, as the
    /// original's `^namespace(?:/name)?$`: a pattern also matches the bare namespace, and
    /// the empty ARN of global settings is matched when the namespace pattern is all `*`.
    pub fn matches(&self, concrete: &str) -> bool {
        let (namespace, name) = match concrete.split_once('/') {
            Some((namespace, name)) => (namespace, Some(name)),
            None => (concrete, None),
        };
        let namespace_matches =
            is_concrete_part(namespace) && glob_matches(self.namespace_pattern(), namespace);
        namespace_matches
            && name.is_none_or(|name| {
                is_concrete_part(name) && glob_matches(self.name_pattern(), name)
            })
    }

    /// Whether the name part is only `*`s, so the pattern covers every environment of
    /// the namespaces it matches: only such a binding acts on a whole namespace (and,
    /// with an all-`*` namespace part, on the global level).
    pub fn covers_whole_namespaces(&self) -> bool {
        self.name_pattern()
            .chars()
            .all(|character| character == WILDCARD)
    }

    /// The permissions `roles` bound to this pattern grant on the concrete ARN, which
    /// this pattern must match ([`ArnPattern::matches`]): all of them on an
    /// environment; on a namespace-level or global ARN (no `/`), all of them only when
    /// the pattern [covers whole namespaces](ArnPattern::covers_whole_namespaces), else
    /// only [`ENVIRONMENT_SCOPED_NAMESPACE_PERMISSIONS`]. This is the one place that
    /// keeps `ns/env1: admin` from deleting, sharing or configuring namespace `ns`
    /// (Python's regex lets any `ns/...` binding act on `ns`; docs/COMPATIBILITY.md).
    pub fn permissions_on(&self, concrete: &str, roles: &[Role]) -> BTreeSet<Permission> {
        let granted = permissions_of_roles(roles);
        if concrete.contains('/') || self.covers_whole_namespaces() {
            return granted;
        }
        granted
            .into_iter()
            .filter(|permission| ENVIRONMENT_SCOPED_NAMESPACE_PERMISSIONS.contains(permission))
            .collect()
    }

    /// Whether every concrete ARN this pattern matches is also matched by `other`
    /// (sound, not complete: `other` must match this pattern's text with its `*`s
    /// absorbed by `*`s of `other`).
    pub fn is_covered_by(&self, other: &ArnPattern) -> bool {
        glob_matches(other.namespace_pattern(), self.namespace_pattern())
            && glob_matches(other.name_pattern(), self.name_pattern())
    }

    /// The LIKE patterns for namespace and environment names: `*` becomes `%`, and `_`,
    /// `%` and `\` are escaped with [`SQL_LIKE_ESCAPE`] (Python leaves `_` a wildcard).
    pub fn sql_like(&self) -> SqlLikePatterns {
        SqlLikePatterns {
            namespace: sql_like_pattern(self.namespace_pattern()),
            name: sql_like_pattern(self.name_pattern()),
        }
    }
}

impl fmt::Display for ArnPattern {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.text)
    }
}

impl FromStr for ArnPattern {
    type Err = ArnError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ArnPattern::parse(text)
    }
}

impl Serialize for ArnPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ArnPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        ArnPattern::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Whether `character` may appear in an ARN pattern part.
fn is_pattern_character(character: char) -> bool {
    character == WILDCARD || is_name_character(character)
}

/// Whether a part of a concrete ARN holds only name characters (no `*`, no `/`).
fn is_concrete_part(part: &str) -> bool {
    part.chars().all(is_name_character)
}

/// Glob match of a whole `text` against `pattern`, where `*` consumes any run of
/// characters and every other character is literal. Callers make sure `text` holds only
/// characters a `*` may consume.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern = pattern.as_bytes();
    let text = text.as_bytes();
    let (mut pattern_index, mut text_index) = (0, 0);
    let mut last_star: Option<(usize, usize)> = None;
    while text_index < text.len() {
        match pattern.get(pattern_index) {
            Some(b'*') => {
                last_star = Some((pattern_index, text_index));
                pattern_index += 1;
            }
            Some(&byte) if byte == text[text_index] => {
                pattern_index += 1;
                text_index += 1;
            }
            _ => match last_star {
                Some((star_index, star_text_index)) => {
                    last_star = Some((star_index, star_text_index + 1));
                    pattern_index = star_index + 1;
                    text_index = star_text_index + 1;
                }
                None => return false,
            },
        }
    }
    pattern[pattern_index..].iter().all(|&byte| byte == b'*')
}

/// A glob (`*` matches any run of characters, everything else is literal) as a LIKE
/// pattern with [`SQL_LIKE_ESCAPE`]: `%` and `_` are escaped, so they match only
/// themselves (Python leaves `_` a wildcard).
pub fn sql_like_pattern(part: &str) -> String {
    let mut like = String::with_capacity(part.len() + 4);
    for character in part.chars() {
        match character {
            WILDCARD => like.push('%'),
            '%' | '_' | SQL_LIKE_ESCAPE => {
                like.push(SQL_LIKE_ESCAPE);
                like.push(character);
            }
            _ => like.push(character),
        }
    }
    like
}

/// Role bindings: ARN pattern → roles, in insertion order like a Python dict, so the JSON
/// (`entity_roles` of `/api/v1/permission/`, a token's `role_bindings`) keeps its order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleBindings {
    entries: Vec<(ArnPattern, Vec<Role>)>,
}

impl RoleBindings {
    /// No bindings.
    pub fn new() -> Self {
        RoleBindings::default()
    }

    /// The original's `unauthenticated_role_bindings`: `{"default/*": ["viewer"]}`.
    pub fn unauthenticated_default() -> Self {
        RoleBindings::from_static(&["default/*"])
    }

    /// The original's `authenticated_role_bindings`:
    /// `{"default/*": ["viewer"], "filesystem/*": ["viewer"]}`.
    pub fn authenticated_default() -> Self {
        RoleBindings::from_static(&["default/*", "filesystem/*"])
    }

    /// Viewer bindings on fixed, known-valid patterns.
    fn from_static(patterns: &[&str]) -> Self {
        let mut bindings = RoleBindings::new();
        for pattern in patterns {
            if let Ok(arn) = ArnPattern::parse(pattern) {
                bindings.insert(arn, vec![Role::Viewer]);
            }
        }
        bindings
    }

    /// Sets the roles of `arn`, replacing earlier roles of the same pattern in place
    /// (Python `dict[arn] = roles`).
    pub fn insert(&mut self, arn: ArnPattern, roles: Vec<Role>) {
        match self
            .entries
            .iter_mut()
            .find(|(existing, _)| *existing == arn)
        {
            Some((_, existing_roles)) => *existing_roles = roles,
            None => self.entries.push((arn, roles)),
        }
    }

    /// Adds one role to `arn`, keeping its other roles (how database rows are gathered).
    pub fn grant(&mut self, arn: ArnPattern, role: Role) {
        match self
            .entries
            .iter_mut()
            .find(|(existing, _)| *existing == arn)
        {
            Some((_, roles)) if roles.contains(&role) => {}
            Some((_, roles)) => roles.push(role),
            None => self.entries.push((arn, vec![role])),
        }
    }

    /// Overlays `later`: each of its patterns replaces the roles of the same pattern here
    /// (Python `{**self, **later}`), new patterns are appended.
    pub fn merge(&mut self, later: &RoleBindings) {
        for (arn, roles) in &later.entries {
            self.insert(arn.clone(), roles.clone());
        }
    }

    /// Effective bindings of an authenticated caller: defaults ⊕ token ⊕ database.
    pub fn effective_authenticated(
        defaults: &RoleBindings,
        token: &RoleBindings,
        database: &RoleBindings,
    ) -> Self {
        let mut bindings = defaults.clone();
        bindings.merge(token);
        bindings.merge(database);
        bindings
    }

    /// Effective bindings of an anonymous caller: defaults ⊕ token.
    pub fn effective_anonymous(defaults: &RoleBindings, token: &RoleBindings) -> Self {
        let mut bindings = defaults.clone();
        bindings.merge(token);
        bindings
    }

    /// The roles bound to exactly this pattern text.
    pub fn get(&self, arn: &str) -> Option<&[Role]> {
        self.entries
            .iter()
            .find(|(pattern, _)| pattern.as_str() == arn)
            .map(|(_, roles)| roles.as_slice())
    }

    /// The bindings in order.
    pub fn iter(&self) -> impl Iterator<Item = (&ArnPattern, &[Role])> {
        self.entries
            .iter()
            .map(|(arn, roles)| (arn, roles.as_slice()))
    }

    /// The number of bound patterns.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether a caller holding these bindings, whose own primary namespace is `own`,
    /// may have a token issued whose primary namespace is `requested`: only its own, or
    /// one it administers as a whole (every permission on namespace `requested`).
    /// The primary namespace is an identity: role mappings granted to it later (v1
    /// entities, v2 `other_namespace`) reach every token that carries it, so checking
    /// today's mappings at minting time is not enough.
    pub fn may_take_primary_namespace(&self, own: &str, requested: &str) -> bool {
        requested == own
            || permissions_of_roles(&[Role::Admin]).is_subset(&self.permissions_on(requested))
    }

    /// The permissions on a concrete ARN: the union over all bindings that match it of
    /// what each grants there ([`ArnPattern::permissions_on`]: namespace-level ARNs
    /// need bindings that cover the whole namespace).
    pub fn permissions_on(&self, arn: &str) -> BTreeSet<Permission> {
        self.entries
            .iter()
            .filter(|(pattern, _)| pattern.matches(arn))
            .flat_map(|(pattern, roles)| pattern.permissions_on(arn, roles))
            .collect()
    }

    /// Whether every `required` permission is granted on the concrete ARN.
    pub fn is_authorized(&self, arn: &str, required: &[Permission]) -> bool {
        let granted = self.permissions_on(arn);
        required
            .iter()
            .all(|permission| granted.contains(permission))
    }

    /// Whether any binding matches the concrete ARN, whatever its roles (the visibility
    /// rule of the list endpoints).
    pub fn any_matches(&self, arn: &str) -> bool {
        self.entries.iter().any(|(pattern, _)| pattern.matches(arn))
    }

    /// Each literal binding pattern with its sorted permissions, as the
    /// `entity_permissions` of `/api/v1/permission/`.
    pub fn entity_permissions(&self) -> EntityPermissions {
        EntityPermissions {
            entries: self
                .entries
                .iter()
                .map(|(arn, roles)| (arn.clone(), permissions_of_roles(roles)))
                .collect(),
        }
    }

    /// Whether these (requested) bindings only grant what `caller` has: for each pattern,
    /// its permissions must be within the union of the caller's permissions over the
    /// caller patterns that cover it (Python `is_subset_entity_permissions`).
    pub fn is_subset_of(&self, caller: &RoleBindings) -> bool {
        self.excess_over(caller).is_empty()
    }

    /// What these bindings grant beyond `caller`: each pattern whose permissions are not
    /// all within the caller's permissions over the caller patterns covering it, with
    /// the permissions missing there (empty when [`RoleBindings::is_subset_of`]).
    pub fn excess_over(&self, caller: &RoleBindings) -> Vec<(ArnPattern, BTreeSet<Permission>)> {
        self.entries
            .iter()
            .filter_map(|(arn, roles)| {
                let available: BTreeSet<Permission> = caller
                    .entries
                    .iter()
                    .filter(|(caller_arn, _)| arn.is_covered_by(caller_arn))
                    .flat_map(|(_, caller_roles)| permissions_of_roles(caller_roles))
                    .collect();
                let missing: BTreeSet<Permission> = permissions_of_roles(roles)
                    .difference(&available)
                    .copied()
                    .collect();
                (!missing.is_empty()).then(|| (arn.clone(), missing))
            })
            .collect()
    }
}

impl FromIterator<(ArnPattern, Vec<Role>)> for RoleBindings {
    fn from_iter<I: IntoIterator<Item = (ArnPattern, Vec<Role>)>>(items: I) -> Self {
        let mut bindings = RoleBindings::new();
        for (arn, roles) in items {
            bindings.insert(arn, roles);
        }
        bindings
    }
}

impl Serialize for RoleBindings {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (arn, roles) in &self.entries {
            map.serialize_entry(arn, roles)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for RoleBindings {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RoleBindingsVisitor)
    }
}

/// Reads a JSON object of ARN → role list, keeping key order (a repeated key replaces).
struct RoleBindingsVisitor;

impl<'de> Visitor<'de> for RoleBindingsVisitor {
    type Value = RoleBindings;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object mapping ARN patterns to lists of roles")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RoleBindings, A::Error> {
        let mut bindings = RoleBindings::new();
        while let Some((arn, roles)) = map.next_entry::<ArnPattern, Vec<Role>>()? {
            bindings.insert(arn, roles);
        }
        Ok(bindings)
    }
}

/// Binding pattern → sorted permissions, serialised as a JSON object of string lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityPermissions {
    entries: Vec<(ArnPattern, BTreeSet<Permission>)>,
}

impl EntityPermissions {
    /// The permissions listed for exactly this pattern text.
    pub fn get(&self, arn: &str) -> Option<&BTreeSet<Permission>> {
        self.entries
            .iter()
            .find(|(pattern, _)| pattern.as_str() == arn)
            .map(|(_, permissions)| permissions)
    }

    /// The entries in binding order.
    pub fn iter(&self) -> impl Iterator<Item = (&ArnPattern, &BTreeSet<Permission>)> {
        self.entries
            .iter()
            .map(|(arn, permissions)| (arn, permissions))
    }
}

impl Serialize for EntityPermissions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (arn, permissions) in &self.entries {
            map.serialize_entry(arn, permissions)?;
        }
        map.end()
    }
}
