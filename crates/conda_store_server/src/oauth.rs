//! OAuth2 login (authorization-code flow), as the original's
//! `GenericOAuthAuthentication` and its GitHub and JupyterHub presets: `GET /login/`
//! redirects to the provider with a random `state` (kept in a signed cookie), and
//! `GET /oauth_callback/` checks the state, trades the code for an access token, reads
//! the user name (and, when the login settings name groups, the user's groups) from
//! the provider and sets the login cookie.

use conda_store_core::settings::Settings;
use conda_store_service::ServiceError;

/// The endpoints and credentials of an OAuth2 provider.
#[derive(Clone)]
pub struct OAuthProvider {
    /// Where the browser is sent to log in.
    pub authorize_url: String,
    /// Where the code is traded for an access token.
    pub access_token_url: String,
    /// Where the user's data is read.
    pub user_data_url: String,
    /// The field of the user's data holding the user name.
    pub user_data_key: String,
    /// The scope asked for.
    pub scope: String,
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
    /// The registered callback URL, if configured (else derived from the request).
    pub callback_url: Option<String>,
    /// Verify the provider's TLS certificate.
    pub tls_verify: bool,
    /// Where the user's groups are read, if they are needed.
    pub groups: GroupSource,
}

/// Everything but the client secret, which is never printed.
impl std::fmt::Debug for OAuthProvider {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("OAuthProvider")
            .field("authorize_url", &self.authorize_url)
            .field("access_token_url", &self.access_token_url)
            .field("user_data_url", &self.user_data_url)
            .field("user_data_key", &self.user_data_key)
            .field("scope", &self.scope)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("callback_url", &self.callback_url)
            .field("tls_verify", &self.tls_verify)
            .field("groups", &self.groups)
            .finish()
    }
}

/// Where an OAuth provider tells which groups a user belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupSource {
    /// Groups are not read (no login setting names groups).
    None,
    /// A field of the user data (JupyterHub's `groups`, or the generic class's
    /// `oauth_user_data_groups_key`): a list of strings or one string.
    UserDataField(String),
    /// GitHub organisations (`org`) and teams (`org/team`), read from
    /// `{api}/user/orgs` and `{api}/user/teams` with the access token.
    GitHub {
        /// The GitHub API address, without a trailing slash.
        api: String,
    },
}

/// Who logged in through the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthUser {
    /// The user name (becomes the primary namespace).
    pub name: String,
    /// The groups the user belongs to (empty when not read).
    pub groups: Vec<String>,
}

/// The most pages of organisations or teams read from GitHub (100 per page).
const GITHUB_MAX_PAGES: usize = 50;

/// GitHub's page size for organisations and teams.
const GITHUB_PAGE_SIZE: usize = 100;

/// How users log in.
#[derive(Debug, Clone)]
pub enum LoginMethod {
    /// A user name and the configured password (`DummyAuthentication`).
    Password,
    /// An OAuth2 provider.
    OAuth(Box<OAuthProvider>),
}

impl LoginMethod {
    /// The login method of `authentication_class`, refusing an unknown class or a
    /// missing OAuth setting with its name; `needs_groups` asks the provider for the
    /// user's groups too (GitHub: scope `read:org`; JupyterHub:
    /// `read:users:groups!user`).
    pub fn from_settings(settings: &Settings, needs_groups: bool) -> Result<Self, ServiceError> {
        let required = |name: &str, value: &Option<String>| {
            value.clone().ok_or_else(|| {
                ServiceError::Invalid(format!(
                    "setting {name} is required by authentication_class {}",
                    settings.authentication_class
                ))
            })
        };
        let credentials = || -> Result<(String, String), ServiceError> {
            Ok((
                required("client_id", &settings.client_id)?,
                required("client_secret", &settings.client_secret)?,
            ))
        };
        let provider =
            |authorize_url, access_token_url, user_data_url, user_data_key, scope, groups| {
                let (client_id, client_secret) = credentials()?;
                Ok(Self::OAuth(Box::new(OAuthProvider {
                    authorize_url,
                    access_token_url,
                    user_data_url,
                    user_data_key,
                    scope,
                    client_id,
                    client_secret,
                    callback_url: settings.oauth_callback_url.clone(),
                    tls_verify: settings.tls_verify,
                    groups: if needs_groups {
                        groups
                    } else {
                        GroupSource::None
                    },
                })))
            };
        // A preset's scope: `access_scope` when set (as the Python presets, which only
        // change its default), else the preset's, with what reading groups needs.
        let with_groups = |scope: &str, extra: &str| match &settings.access_scope {
            Some(configured) => configured.clone(),
            None if needs_groups => format!("{scope} {extra}"),
            None => scope.to_owned(),
        };
        match settings.authentication_class.as_str() {
            "DummyAuthentication" => Ok(Self::Password),
            "GenericOAuthAuthentication" => provider(
                required("authorize_url", &settings.authorize_url)?,
                required("access_token_url", &settings.access_token_url)?,
                required("user_data_url", &settings.user_data_url)?,
                required("user_data_key", &settings.user_data_key)?,
                settings.access_scope.clone().unwrap_or_default(),
                settings
                    .oauth_user_data_groups_key
                    .clone()
                    .map_or(GroupSource::None, GroupSource::UserDataField),
            ),
            "GithubOAuthAuthentication" => {
                let web = settings.github_url.trim_end_matches('/');
                let api = settings.github_api.trim_end_matches('/');
                provider(
                    format!("{web}/login/oauth/authorize"),
                    format!("{web}/login/oauth/access_token"),
                    format!("{api}/user"),
                    "login".to_owned(),
                    with_groups("user:email", "read:org"),
                    GroupSource::GitHub {
                        api: api.to_owned(),
                    },
                )
            }
            "JupyterHubOAuthAuthentication" => {
                let hub = required("jupyterhub_url", &settings.jupyterhub_url)?;
                let hub = hub.trim_end_matches('/');
                provider(
                    format!("{hub}/hub/api/oauth2/authorize"),
                    format!("{hub}/hub/api/oauth2/token"),
                    format!("{hub}/hub/api/user"),
                    "name".to_owned(),
                    with_groups("profile", "read:users:groups!user"),
                    GroupSource::UserDataField("groups".to_owned()),
                )
            }
            other => Err(ServiceError::Invalid(format!(
                "unknown authentication_class {other}: use DummyAuthentication, GenericOAuthAuthentication, GithubOAuthAuthentication or JupyterHubOAuthAuthentication"
            ))),
        }
    }
}

/// Why an OAuth exchange with the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The provider could not be reached or answered with an error.
    #[error("the OAuth provider at {url} failed: {reason}")]
    Provider {
        /// The provider URL called.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The provider's answer lacks what we need.
    #[error("the OAuth provider's answer from {url} has no {field}")]
    Missing {
        /// The provider URL called.
        url: String,
        /// The missing field.
        field: String,
    },
}

impl OAuthProvider {
    /// The provider's login page for `state`, coming back to `callback_url`.
    pub fn authorize_location(&self, callback_url: &str, state: &str) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", callback_url)
            .append_pair("response_type", "code")
            .append_pair("scope", &self.scope)
            .append_pair("state", state)
            .finish();
        let separator = if self.authorize_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{separator}{query}", self.authorize_url)
    }

    /// Trades `code` for an access token, then reads the user name and, when needed,
    /// the user's groups.
    pub async fn identify(
        &self,
        code: &str,
        callback_url: &str,
        state: &str,
    ) -> Result<OAuthUser, OAuthError> {
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(!self.tls_verify)
            .timeout(std::time::Duration::from_secs(30))
            .user_agent(concat!("conda-store/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| self.failure(&self.access_token_url, error))?;
        let access_token = self
            .access_token(&client, code, callback_url, state)
            .await?;
        let user = self
            .get_json(&client, &self.user_data_url, &access_token)
            .await?;
        let name = user[&self.user_data_key]
            .as_str()
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| OAuthError::Missing {
                url: self.user_data_url.clone(),
                field: self.user_data_key.clone(),
            })?;
        let groups = match &self.groups {
            GroupSource::None => Vec::new(),
            GroupSource::UserDataField(field) => strings_of(&user[field.as_str()]),
            GroupSource::GitHub { api } => self.github_groups(&client, api, &access_token).await?,
        };
        Ok(OAuthUser { name, groups })
    }

    /// Trades `code` for an access token at the token endpoint.
    async fn access_token(
        &self,
        client: &reqwest::Client,
        code: &str,
        callback_url: &str,
        state: &str,
    ) -> Result<String, OAuthError> {
        let answer: serde_json::Value = client
            .post(&self.access_token_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("code", code),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
                ("grant_type", "authorization_code"),
                ("redirect_uri", callback_url),
                ("state", state),
            ])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| self.failure(&self.access_token_url, error))?
            .json()
            .await
            .map_err(|error| self.failure(&self.access_token_url, error))?;
        answer["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| OAuthError::Missing {
                url: self.access_token_url.clone(),
                field: "access_token".to_owned(),
            })
    }

    /// `GET url` with the access token, as JSON.
    async fn get_json(
        &self,
        client: &reqwest::Client,
        url: &str,
        access_token: &str,
    ) -> Result<serde_json::Value, OAuthError> {
        client
            .get(url)
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| self.failure(url, error))?
            .json()
            .await
            .map_err(|error| self.failure(url, error))
    }

    /// The user's GitHub organisations (`org`) and teams (`org/team`).
    async fn github_groups(
        &self,
        client: &reqwest::Client,
        api: &str,
        access_token: &str,
    ) -> Result<Vec<String>, OAuthError> {
        let organisations = self
            .github_pages(client, &format!("{api}/user/orgs"), access_token)
            .await?;
        let teams = self
            .github_pages(client, &format!("{api}/user/teams"), access_token)
            .await?;
        let mut groups: Vec<String> = organisations
            .iter()
            .filter_map(|organisation| organisation["login"].as_str().map(str::to_owned))
            .collect();
        groups.extend(teams.iter().filter_map(|team| {
            let organisation = team["organization"]["login"].as_str()?;
            let slug = team["slug"].as_str()?;
            Some(format!("{organisation}/{slug}"))
        }));
        Ok(groups)
    }

    /// Every item of a paginated GitHub list (`?per_page=100&page=N` until a page is
    /// not full, at most [`GITHUB_MAX_PAGES`] pages).
    async fn github_pages(
        &self,
        client: &reqwest::Client,
        url: &str,
        access_token: &str,
    ) -> Result<Vec<serde_json::Value>, OAuthError> {
        let mut items = Vec::new();
        for page in 1..=GITHUB_MAX_PAGES {
            let page_url = format!("{url}?per_page={GITHUB_PAGE_SIZE}&page={page}");
            let answer = self.get_json(client, &page_url, access_token).await?;
            let serde_json::Value::Array(page_items) = answer else {
                return Err(OAuthError::Missing {
                    url: page_url,
                    field: "list".to_owned(),
                });
            };
            let full = page_items.len() >= GITHUB_PAGE_SIZE;
            items.extend(page_items);
            if !full {
                break;
            }
        }
        Ok(items)
    }

    fn failure(&self, url: &str, error: impl std::fmt::Display) -> OAuthError {
        OAuthError::Provider {
            url: url.to_owned(),
            reason: error.to_string(),
        }
    }
}

/// The strings of a JSON value that is a list of strings or one string.
fn strings_of(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::String(text) => vec![text.clone()],
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}
