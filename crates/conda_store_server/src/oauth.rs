//! OAuth2 login (authorization-code flow), as the original's
//! `GenericOAuthAuthentication` and its GitHub and JupyterHub presets: `GET /login/`
//! redirects to the provider with a random `state` (kept in a signed cookie), and
//! `GET /oauth_callback/` checks the state, trades the code for an access token, reads
//! the user name from the provider and sets the login cookie.

use conda_store_core::settings::Settings;
use conda_store_service::ServiceError;

/// The endpoints and credentials of an OAuth2 provider.
#[derive(Debug, Clone)]
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
}

/// How users log in.
#[derive(Debug, Clone)]
pub enum LoginMethod {
    /// A user name and the configured password (`DummyAuthentication`).
    Password,
    /// An OAuth2 provider.
    OAuth(OAuthProvider),
}

impl LoginMethod {
    /// The login method of `authentication_class`, refusing an unknown class or a
    /// missing OAuth setting with its name.
    pub fn from_settings(settings: &Settings) -> Result<Self, ServiceError> {
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
        let provider = |authorize_url, access_token_url, user_data_url, user_data_key, scope| {
            let (client_id, client_secret) = credentials()?;
            Ok(Self::OAuth(OAuthProvider {
                authorize_url,
                access_token_url,
                user_data_url,
                user_data_key,
                scope,
                client_id,
                client_secret,
                callback_url: settings.oauth_callback_url.clone(),
                tls_verify: settings.tls_verify,
            }))
        };
        match settings.authentication_class.as_str() {
            "DummyAuthentication" => Ok(Self::Password),
            "GenericOAuthAuthentication" => provider(
                required("authorize_url", &settings.authorize_url)?,
                required("access_token_url", &settings.access_token_url)?,
                required("user_data_url", &settings.user_data_url)?,
                required("user_data_key", &settings.user_data_key)?,
                settings.access_scope.clone().unwrap_or_default(),
            ),
            "GithubOAuthAuthentication" => {
                let web = settings.github_url.trim_end_matches('/');
                let api = settings.github_api.trim_end_matches('/');
                provider(
                    format!("{web}/login/oauth/authorize"),
                    format!("{web}/login/oauth/access_token"),
                    format!("{api}/user"),
                    "login".to_owned(),
                    "user:email".to_owned(),
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
                    "profile".to_owned(),
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

    /// Trades `code` for an access token, then reads the user name.
    pub async fn user_name(
        &self,
        code: &str,
        callback_url: &str,
        state: &str,
    ) -> Result<String, OAuthError> {
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(!self.tls_verify)
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|error| self.failure(&self.access_token_url, error))?;
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
        let access_token = answer["access_token"]
            .as_str()
            .ok_or_else(|| OAuthError::Missing {
                url: self.access_token_url.clone(),
                field: "access_token".to_owned(),
            })?;
        let user: serde_json::Value = client
            .get(&self.user_data_url)
            .bearer_auth(access_token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| self.failure(&self.user_data_url, error))?
            .json()
            .await
            .map_err(|error| self.failure(&self.user_data_url, error))?;
        user[&self.user_data_key]
            .as_str()
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| OAuthError::Missing {
                url: self.user_data_url.clone(),
                field: self.user_data_key.clone(),
            })
    }

    fn failure(&self, url: &str, error: impl std::fmt::Display) -> OAuthError {
        OAuthError::Provider {
            url: url.to_owned(),
            reason: error.to_string(),
        }
    }
}
