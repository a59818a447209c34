//! Who may log in, and with which role bindings (issue 9, "authorization users can
//! configure"): the pure rule applied to every login, password or OAuth, after the
//! provider has said who the user is and which groups they belong to.
//!
//! With the default settings every user who logs in gets `*/*: admin`, as the Python
//! conda-store's `authenticate()`; deployments narrow it with the `login_*` settings
//! (docs/CONFIGURATION.md).

use crate::authorization::{ArnPattern, Role, RoleBindings};
use crate::settings::Settings;
use crate::specification::is_valid_name;
use std::collections::{BTreeMap, BTreeSet};

/// Why a setting holding role bindings is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("setting {setting}: {reason}")]
pub struct BindingsSettingError {
    /// The setting's name (with the user or group key, when nested).
    pub setting: String,
    /// What is wrong.
    pub reason: String,
}

/// Why a login is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefusal {
    /// The user name cannot be a namespace name, so it cannot be the token's primary
    /// namespace.
    #[error(
        "the user name {user:?} cannot log in: it becomes the primary namespace, and it is \
         not a valid namespace name (use only ASCII letters, digits and -+_@$&?^~.=, not \
         starting with '.')"
    )]
    InvalidUserName {
        /// The refused user name.
        user: String,
    },
    /// The login bindings name the user's own namespace (`{username}`), and the user
    /// name is one of the deployment's shared namespaces (`default_namespace`,
    /// `filesystem_namespace`): the user would administer what everyone uses.
    #[error(
        "the user name {user:?} cannot log in: it is the name of a shared namespace, and \
         the login settings give each user their own namespace ({{username}})"
    )]
    ReservedUserName {
        /// The refused user name.
        user: String,
    },
    /// Neither the user nor any of their groups is on the allow-lists.
    #[error(
        "the user {user:?} is not allowed to use this conda-store: neither the user nor \
         any of their groups is in login_allowed_users or login_allowed_groups"
    )]
    NotAllowed {
        /// The refused user name.
        user: String,
    },
}

/// What stands for the name of the user logging in, in the ARN patterns of the login
/// settings: `{username}/*: admin` makes every user the admin of their own namespace.
pub const USER_PLACEHOLDER: &str = "{username}";

/// Role bindings whose patterns may name the user logging in as [`USER_PLACEHOLDER`],
/// checked when the settings are read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct BindingsTemplate(Vec<(String, Vec<Role>)>);

impl BindingsTemplate {
    /// The bindings of `user`, the placeholder filled with the name. A valid user name
    /// only holds characters a pattern allows, so a pattern checked with a sample name
    /// parses with every user's.
    fn fill(&self, user: &str) -> impl Iterator<Item = (ArnPattern, &[Role])> {
        self.0.iter().filter_map(move |(pattern, roles)| {
            ArnPattern::parse(&pattern.replace(USER_PLACEHOLDER, user))
                .ok()
                .map(|arn| (arn, roles.as_slice()))
        })
    }
}

/// The configured login rules, read once from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginPolicy {
    role_bindings: BindingsTemplate,
    user_role_bindings: BTreeMap<String, BindingsTemplate>,
    group_role_bindings: BTreeMap<String, BindingsTemplate>,
    allowed_users: BTreeSet<String>,
    allowed_groups: BTreeSet<String>,
    reserved_users: BTreeSet<String>,
}

impl LoginPolicy {
    /// The policy of `login_role_bindings`, `login_user_role_bindings`,
    /// `login_group_role_bindings`, `login_allowed_users` and `login_allowed_groups`;
    /// an invalid pattern or role is refused with the setting's name.
    pub fn from_settings(settings: &Settings) -> Result<Self, BindingsSettingError> {
        let nested = |name: &str, table: &BTreeMap<String, BTreeMap<String, Vec<String>>>| {
            table
                .iter()
                .map(|(key, bindings)| {
                    template_setting(&format!("{name}.{key}"), bindings)
                        .map(|bindings| (key.clone(), bindings))
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
        };
        let mut policy = Self {
            role_bindings: template_setting("login_role_bindings", &settings.login_role_bindings)?,
            user_role_bindings: nested(
                "login_user_role_bindings",
                &settings.login_user_role_bindings,
            )?,
            group_role_bindings: nested(
                "login_group_role_bindings",
                &settings.login_group_role_bindings,
            )?,
            allowed_users: settings.login_allowed_users.iter().cloned().collect(),
            allowed_groups: settings.login_allowed_groups.iter().cloned().collect(),
            reserved_users: BTreeSet::new(),
        };
        if policy.names_the_user() {
            policy.reserved_users = [&settings.default_namespace, &settings.filesystem_namespace]
                .into_iter()
                .cloned()
                .collect();
        }
        Ok(policy)
    }

    /// Whether some binding pattern holds [`USER_PLACEHOLDER`].
    fn names_the_user(&self) -> bool {
        std::iter::once(&self.role_bindings)
            .chain(self.user_role_bindings.values())
            .chain(self.group_role_bindings.values())
            .any(|template| {
                template
                    .0
                    .iter()
                    .any(|(pattern, _)| pattern.contains(USER_PLACEHOLDER))
            })
    }

    /// Whether the provider must be asked for the user's groups (some setting names
    /// groups).
    pub fn needs_groups(&self) -> bool {
        !self.allowed_groups.is_empty() || !self.group_role_bindings.is_empty()
    }

    /// The role bindings of a login by `user`, member of `groups`: refused when the
    /// user name is not a valid namespace name, or names a shared namespace while the
    /// bindings give users their own, or when allow-lists are configured and
    /// neither the user nor one of the groups is on them. The bindings are
    /// `login_role_bindings`, plus those of each of the user's groups in
    /// `login_group_role_bindings`, plus the user's own in `login_user_role_bindings`;
    /// roles of the same pattern add up.
    pub fn decide(&self, user: &str, groups: &[String]) -> Result<RoleBindings, LoginRefusal> {
        if !is_valid_name(user) {
            return Err(LoginRefusal::InvalidUserName {
                user: user.to_owned(),
            });
        }
        if self.reserved_users.contains(user) {
            return Err(LoginRefusal::ReservedUserName {
                user: user.to_owned(),
            });
        }
        if !self.is_allowed(user, groups) {
            return Err(LoginRefusal::NotAllowed {
                user: user.to_owned(),
            });
        }
        let mut bindings = RoleBindings::new();
        let member_of: BTreeSet<&str> = groups.iter().map(String::as_str).collect();
        let group_bindings = self
            .group_role_bindings
            .iter()
            .filter(|(group, _)| member_of.contains(group.as_str()))
            .map(|(_, bindings)| bindings);
        for extra in std::iter::once(&self.role_bindings)
            .chain(group_bindings)
            .chain(self.user_role_bindings.get(user))
        {
            for (arn, roles) in extra.fill(user) {
                for role in roles {
                    bindings.grant(arn.clone(), *role);
                }
            }
        }
        Ok(bindings)
    }

    /// Whether `user` may log in: no allow-list configured, or the user or one of the
    /// groups is on one.
    fn is_allowed(&self, user: &str, groups: &[String]) -> bool {
        if self.allowed_users.is_empty() && self.allowed_groups.is_empty() {
            return true;
        }
        self.allowed_users.contains(user)
            || groups
                .iter()
                .any(|group| self.allowed_groups.contains(group))
    }
}

/// A login bindings setting whose patterns may hold [`USER_PLACEHOLDER`], refused
/// with the setting's name when a pattern (filled with a sample name) or a role is
/// invalid.
fn template_setting(
    setting: &str,
    value: &BTreeMap<String, Vec<String>>,
) -> Result<BindingsTemplate, BindingsSettingError> {
    let sample: BTreeMap<String, Vec<String>> = value
        .iter()
        .map(|(pattern, roles)| (pattern.replace(USER_PLACEHOLDER, "user"), roles.clone()))
        .collect();
    bindings_setting(setting, &sample)?;
    let mut template = Vec::new();
    for (pattern, roles) in value {
        let roles = roles
            .iter()
            .filter_map(|role| role.parse::<Role>().ok())
            .collect();
        template.push((pattern.clone(), roles));
    }
    Ok(BindingsTemplate(template))
}

/// A role-bindings setting (ARN pattern → role names) as bindings, refused with the
/// setting's name when a pattern or a role is invalid.
pub fn bindings_setting(
    setting: &str,
    value: &BTreeMap<String, Vec<String>>,
) -> Result<RoleBindings, BindingsSettingError> {
    let invalid = |reason: String| BindingsSettingError {
        setting: setting.to_owned(),
        reason,
    };
    let mut bindings = RoleBindings::new();
    for (arn, roles) in value {
        let arn = ArnPattern::parse(arn).map_err(|error| invalid(error.to_string()))?;
        let roles = roles
            .iter()
            .map(|role| role.parse::<Role>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| invalid(error.to_string()))?;
        bindings.insert(arn, roles);
    }
    Ok(bindings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(configure: impl FnOnce(&mut Settings)) -> LoginPolicy {
        let mut settings = Settings::default();
        configure(&mut settings);
        LoginPolicy::from_settings(&settings).unwrap_or_else(|error| panic!("{error}"))
    }

    #[test]
    fn the_default_makes_every_login_admin_everywhere() {
        let bindings = policy(|_| {}).decide("alice", &[]);
        assert_eq!(
            bindings.map(|bindings| serde_json::to_string(&bindings).unwrap_or_default()),
            Ok(r#"{"*/*":["admin"]}"#.to_owned())
        );
    }

    #[test]
    fn allow_lists_groups_and_users_add_up() {
        let policy = policy(|settings| {
            settings.login_role_bindings =
                BTreeMap::from([("shared/*".to_owned(), vec!["viewer".to_owned()])]);
            settings.login_allowed_users = vec!["alice".to_owned()];
            settings.login_allowed_groups = vec!["org/team".to_owned()];
            settings.login_group_role_bindings = BTreeMap::from([(
                "org/team".to_owned(),
                BTreeMap::from([("shared/*".to_owned(), vec!["developer".to_owned()])]),
            )]);
            settings.login_user_role_bindings = BTreeMap::from([(
                "alice".to_owned(),
                BTreeMap::from([("alice/*".to_owned(), vec!["admin".to_owned()])]),
            )]);
        });
        let text = |result: Result<RoleBindings, LoginRefusal>| {
            result.map(|bindings| serde_json::to_string(&bindings).unwrap_or_default())
        };
        assert_eq!(
            text(policy.decide("alice", &[])),
            Ok(r#"{"shared/*":["viewer"],"alice/*":["admin"]}"#.to_owned())
        );
        assert_eq!(
            text(policy.decide("bob", &["org/team".to_owned()])),
            Ok(r#"{"shared/*":["viewer","developer"]}"#.to_owned())
        );
        assert!(matches!(
            policy.decide("bob", &["org".to_owned()]),
            Err(LoginRefusal::NotAllowed { .. })
        ));
        assert!(matches!(
            policy.decide("a/b", &[]),
            Err(LoginRefusal::InvalidUserName { .. })
        ));
    }

    #[test]
    fn invalid_bindings_name_the_setting() {
        let settings = Settings {
            login_user_role_bindings: BTreeMap::from([(
                "alice".to_owned(),
                BTreeMap::from([("bad".to_owned(), vec!["admin".to_owned()])]),
            )]),
            ..Settings::default()
        };
        let error = LoginPolicy::from_settings(&settings).unwrap_err();
        assert!(error.to_string().contains("login_user_role_bindings.alice"));
    }

    #[test]
    fn the_user_placeholder_names_the_user_logging_in() {
        let policy = policy(|settings| {
            settings.login_role_bindings = BTreeMap::from([
                ("{username}/*".to_owned(), vec!["admin".to_owned()]),
                ("shared/*".to_owned(), vec!["viewer".to_owned()]),
            ]);
        });
        let text = |user: &str| {
            policy
                .decide(user, &[])
                .map(|bindings| serde_json::to_string(&bindings).unwrap_or_default())
        };
        assert_eq!(
            text("alice"),
            Ok(r#"{"shared/*":["viewer"],"alice/*":["admin"]}"#.to_owned())
        );
        assert_eq!(
            text("bob"),
            Ok(r#"{"shared/*":["viewer"],"bob/*":["admin"]}"#.to_owned())
        );
        let invalid = Settings {
            login_role_bindings: BTreeMap::from([(
                "{username}".to_owned(),
                vec!["admin".to_owned()],
            )]),
            ..Settings::default()
        };
        assert!(LoginPolicy::from_settings(&invalid).is_err());
    }
}
