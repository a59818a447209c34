//! Who is calling, and what they may do: the token from the `conda-store-auth` cookie,
//! an `Authorization: Bearer` header, or the password of `Authorization: Basic`
//! (checked in that order, as the original does); the effective role bindings; and the
//! password login that issues the cookie.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::oauth::LoginMethod;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use chrono::{DateTime, Utc};
use conda_store_core::authorization::{
    ArnPattern, Permission, Role, RoleBindings, permissions_of_roles,
};
use conda_store_core::login::LoginPolicy;
use conda_store_core::settings::Settings;
use conda_store_core::token::{AuthenticationToken, TokenSigner};
use conda_store_service::{RoleMappingsVersion, Service, ServiceError, Visibility};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The cookie that carries the login token.
pub const COOKIE_NAME: &str = "conda-store-auth";

/// Where the generated signing secret is kept in `keyvaluestore`.
const SECRET_PREFIX: &str = "conda-store.authentication";

/// Authentication settings, resolved once at start.
pub struct Authentication {
    /// Signs and checks tokens.
    pub signer: TokenSigner,
    /// The raw signing secret (also signs artifact links).
    pub secret: Vec<u8>,
    predefined_tokens: Vec<PredefinedToken>,
    authenticated_defaults: RoleBindings,
    unauthenticated_defaults: RoleBindings,
    role_mappings_version: RoleMappingsVersion,
    /// The default login's password; empty accepts any.
    pub password: String,
    /// The login cookie's domain.
    pub cookie_domain: Option<String>,
    /// How users log in.
    pub login: LoginMethod,
    /// Who may log in and the role bindings a login gets.
    pub login_policy: LoginPolicy,
    /// The `cookie_secure` setting: `None` follows the request's scheme.
    pub cookie_secure: Option<bool>,
}

/// A predefined token: the HMAC of its text under the secret (compared in constant
/// time, so the lookup time says nothing about the text) and its claims.
struct PredefinedToken {
    digest: Vec<u8>,
    token: AuthenticationToken,
}

impl Authentication {
    /// Reads the authentication settings; the secret is the configured one, else the
    /// one kept in the database (made on first start).
    pub async fn from_settings(service: &Service) -> Result<Self, ServiceError> {
        let settings = service.settings();
        let secret = match &settings.secret {
            Some(secret) => secret.clone().into_bytes(),
            None => service
                .persistent_secret(SECRET_PREFIX, "secret")
                .await?
                .into_bytes(),
        };
        let login_policy = LoginPolicy::from_settings(settings)
            .map_err(|error| ServiceError::Invalid(error.to_string()))?;
        Ok(Self {
            signer: TokenSigner::new(&secret),
            predefined_tokens: predefined_tokens(settings, &secret)?,
            secret,
            authenticated_defaults: bindings_setting(
                "authenticated_role_bindings",
                &settings.authenticated_role_bindings,
            )?,
            unauthenticated_defaults: bindings_setting(
                "unauthenticated_role_bindings",
                &settings.unauthenticated_role_bindings,
            )?,
            role_mappings_version: match settings.role_mappings_version {
                2 => RoleMappingsVersion::V2,
                _ => RoleMappingsVersion::V1,
            },
            password: settings.password.clone(),
            cookie_domain: settings.cookie_domain.clone(),
            login: LoginMethod::from_settings(settings, login_policy.needs_groups())?,
            login_policy,
            cookie_secure: settings.cookie_secure,
        })
    }

    /// The effective role bindings of a request that presents `token`: the
    /// authenticated defaults, then the token's bindings, then the database role
    /// mappings of its primary namespace (v1 or v2, per `role_mappings_version`).
    /// The one computation behind [`Caller`] and the check of `POST /api/v1/token/`.
    pub async fn token_bindings(
        &self,
        service: &Service,
        token: &AuthenticationToken,
    ) -> Result<RoleBindings, ServiceError> {
        let rows = service
            .database_role_bindings(&token.primary_namespace, self.role_mappings_version)
            .await?;
        Ok(RoleBindings::effective_authenticated(
            &self.authenticated_defaults,
            &token.role_bindings,
            &database_bindings(rows),
        ))
    }

    /// Whether `candidate` is the configured login password, compared in constant time
    /// (HMACs of both under the secret, so neither contents nor length leak).
    pub fn password_matches(&self, candidate: &str) -> bool {
        crate::signing::same_text(&self.secret, candidate, &self.password)
    }

    /// The token a request carries, if any is valid.
    fn token(&self, headers: &HeaderMap, now: DateTime<Utc>) -> Option<AuthenticationToken> {
        let candidates = [
            cookie(headers, COOKIE_NAME),
            bearer(headers),
            basic_password(headers),
        ];
        candidates
            .into_iter()
            .flatten()
            .find_map(|text| self.check(&text, now))
    }

    /// A predefined token, else a valid signed one.
    fn check(&self, text: &str, now: DateTime<Utc>) -> Option<AuthenticationToken> {
        self.predefined(text)
            .or_else(|| self.signer.decode(text, now).ok())
    }

    /// The predefined token whose text is `text`: every entry is compared, each in
    /// constant time.
    fn predefined(&self, text: &str) -> Option<AuthenticationToken> {
        self.predefined_tokens
            .iter()
            .fold(None, |found, entry| {
                let equal = crate::signing::is_digest_of(&self.secret, text, &entry.digest);
                found.or(equal.then_some(&entry.token))
            })
            .cloned()
    }
}

/// The caller of a request: authenticated or not, its token and effective bindings.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Whether a valid token came with the request.
    pub authenticated: bool,
    /// The token (for anonymous callers, the default one of the default namespace).
    pub token: AuthenticationToken,
    /// The effective role bindings.
    pub bindings: RoleBindings,
}

impl Caller {
    /// 403 unless the caller holds every one of `permissions` on `arn`. On a whole
    /// namespace (an ARN without `/`) only bindings whose environment part is `*`
    /// count, beyond reading it ([`ArnPattern::permissions_on`]).
    pub fn require(&self, arn: &str, permissions: &[Permission]) -> ApiResult<()> {
        if self.bindings.is_authorized(arn, permissions) {
            Ok(())
        } else if !arn.contains('/') && self.environment_bindings_grant(arn, permissions) {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "request not authorized: acting on namespace {arn:?} needs a role binding \
                     for the whole namespace ({arn}/*); bindings of some of its environments \
                     do not cover it"
                ),
            ))
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// Whether the bindings matching `arn` would grant `permissions` if bindings of
    /// some environments counted on the whole namespace (to explain a refusal).
    fn environment_bindings_grant(&self, arn: &str, permissions: &[Permission]) -> bool {
        let granted: std::collections::BTreeSet<Permission> = self
            .bindings
            .iter()
            .filter(|(pattern, _)| pattern.matches(arn))
            .flat_map(|(_, roles)| permissions_of_roles(roles))
            .collect();
        permissions
            .iter()
            .all(|permission| granted.contains(permission))
    }

    /// 403 unless one binding both covers every ARN `pattern` matches and grants all of
    /// `permissions` (granting access to others needs that access oneself).
    pub fn require_everywhere(&self, pattern: &str, permissions: &[Permission]) -> ApiResult<()> {
        let pattern =
            ArnPattern::parse(pattern).map_err(|error| ApiError::bad_request(error.to_string()))?;
        let allowed = self.bindings.iter().any(|(binding, roles)| {
            let granted = permissions_of_roles(roles);
            pattern.is_covered_by(binding)
                && permissions
                    .iter()
                    .all(|permission| granted.contains(permission))
        });
        if allowed {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// 403 unless some binding of the caller grants `permission`, on whatever ARN: the
    /// remote solve, which belongs to no namespace, needs `environment::solve`
    /// somewhere.
    pub fn require_somewhere(&self, permission: Permission) -> ApiResult<()> {
        let granted = self
            .bindings
            .iter()
            .any(|(_, roles)| permissions_of_roles(roles).contains(&permission));
        if granted {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// What list routes may show this caller: whatever any binding pattern matches.
    pub fn visibility(&self) -> Visibility {
        Visibility::of_patterns(
            self.bindings
                .iter()
                .map(|(arn, _)| {
                    (
                        arn.namespace_pattern().to_owned(),
                        arn.name_pattern().to_owned(),
                    )
                })
                .collect(),
        )
    }

    /// When the caller's token expires (none for anonymous callers).
    pub fn expiration(&self) -> Option<DateTime<Utc>> {
        self.authenticated.then_some(self.token.exp)
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let now = Utc::now();
        let authentication = &state.authentication;
        let caller = match authentication.token(&parts.headers, now) {
            Some(token) => Caller {
                authenticated: true,
                bindings: authentication
                    .token_bindings(&state.service, &token)
                    .await?,
                token,
            },
            None => {
                let token = AuthenticationToken::new(
                    now + conda_store_core::token::default_lifetime(),
                    state.service.settings().default_namespace.clone(),
                    RoleBindings::new(),
                );
                Caller {
                    authenticated: false,
                    bindings: RoleBindings::effective_anonymous(
                        &authentication.unauthenticated_defaults,
                        &token.role_bindings,
                    ),
                    token,
                }
            }
        };
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

/// Database rows (ARN, role) as bindings; rows that do not parse are skipped.
fn database_bindings(rows: Vec<(String, String)>) -> RoleBindings {
    let mut bindings = RoleBindings::new();
    for (arn, role) in rows {
        if let (Ok(arn), Ok(role)) = (ArnPattern::parse(&arn), role.parse::<Role>()) {
            bindings.grant(arn, role);
        }
    }
    bindings
}

/// A role-bindings setting, refused with its name when a pattern or role is invalid.
fn bindings_setting(
    name: &str,
    value: &BTreeMap<String, Vec<String>>,
) -> Result<RoleBindings, ServiceError> {
    conda_store_core::login::bindings_setting(name, value)
        .map_err(|error| ServiceError::Invalid(error.to_string()))
}

/// The `predefined_tokens` setting, each keyed by the HMAC of its text.
fn predefined_tokens(
    settings: &Settings,
    secret: &[u8],
) -> Result<Vec<PredefinedToken>, ServiceError> {
    settings
        .predefined_tokens
        .iter()
        .map(|(text, claims)| {
            let token = serde_json::from_value(claims.clone()).map_err(|error| {
                ServiceError::Invalid(format!("setting predefined_tokens: {error}"))
            })?;
            Ok(PredefinedToken {
                digest: crate::signing::digest(secret, text),
                token,
            })
        })
        .collect()
}

/// The value of cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The credential a request presents, in the order tokens are checked: the login
/// cookie, a bearer token, a basic password (the admin pages bind CSRF tokens to it).
pub fn presented_credential(headers: &HeaderMap) -> Option<String> {
    cookie(headers, COOKIE_NAME)
        .or_else(|| bearer(headers))
        .or_else(|| basic_password(headers))
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = authorization(headers)?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

fn basic_password(headers: &HeaderMap) -> Option<String> {
    let value = authorization(headers)?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':')
        .map(|(_, password)| password.to_owned())
}
