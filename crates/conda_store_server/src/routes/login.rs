//! The default login of the original (`DummyAuthentication`): any user name with the
//! configured password; the token goes into the `conda-store-auth` cookie.

use super::json_body;
use crate::AppState;
use crate::auth::{COOKIE_NAME, cookie};
use crate::error::{ApiError, ApiResult};
use crate::oauth::{LoginMethod, OAuthProvider};
use crate::params::QueryParameters;
use crate::signing::{sign, verify};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use chrono::Utc;
use conda_store_core::authorization::{ArnPattern, Role, RoleBindings};
use conda_store_core::token::{AuthenticationToken, default_lifetime};
use serde::Deserialize;
use std::sync::Arc;

/// The body of `POST /login/`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct Credentials {
    username: String,
    password: String,
}

/// Where to go after logging in or out: `next`, else the server's root.
fn next_url(state: &AppState, query: Option<&str>) -> String {
    QueryParameters::parse(query)
        .get("next")
        .filter(|next| next.starts_with('/') && !next.starts_with("//"))
        .unwrap_or_else(|| format!("{}/", state.prefix()))
}

/// [`next_url`] for `GET /login/`, which also takes an absolute `next` on this server's
/// own origin as its path: the UI's login button sends `window.location.href`.
fn login_next(state: &AppState, query: Option<&str>, headers: &HeaderMap) -> String {
    let origin = request_origin(state, headers);
    QueryParameters::parse(query)
        .get("next")
        .and_then(|next| next.strip_prefix(&origin).map(str::to_owned))
        .filter(|path| path.starts_with('/') && !path.starts_with("//"))
        .unwrap_or_else(|| next_url(state, query))
}

/// `GET /login/`: with OAuth, 307 to the provider; with the password login, a form
/// that posts the credentials as JSON, then follows `next`.
pub async fn form(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let next = login_next(&state, query.as_deref(), &headers);
    match &state.authentication.login {
        LoginMethod::Password => Ok(password_form(&state, &next).into_response()),
        LoginMethod::OAuth(provider) => {
            let mut bytes = [0u8; 16];
            getrandom::fill(&mut bytes).map_err(|error| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string())
            })?;
            let oauth_state: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
            let location = provider
                .authorize_location(&callback_url(&state, provider, &headers), &oauth_state);
            let cookie = format!(
                "{STATE_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={STATE_LIFETIME}",
                state_cookie(&state, &oauth_state, &next)
            );
            Ok((
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location), (header::SET_COOKIE, cookie)],
            )
                .into_response())
        }
    }
}

/// The cookie that keeps the OAuth `state` and `next` between login and callback.
const STATE_COOKIE: &str = "conda-store-oauth-state";

/// Seconds a login through the provider may take.
const STATE_LIFETIME: i64 = 600;

/// `{state}.{expires}.{signature}.{next, base64url}`, signed over state and next.
fn state_cookie(state: &AppState, oauth_state: &str, next: &str) -> String {
    let expires = Utc::now().timestamp() + STATE_LIFETIME;
    let signed = format!("{oauth_state}\n{next}");
    let signature = sign(&state.authentication.secret, &signed, expires);
    let next = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(next);
    format!("{oauth_state}.{expires}.{signature}.{next}")
}

/// The `next` of a genuine, unexpired state cookie for `oauth_state`.
fn check_state_cookie(state: &AppState, cookie: &str, oauth_state: &str) -> Option<String> {
    let mut parts = cookie.split('.');
    let (kept, expires, signature, next) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let expires: i64 = expires.parse().ok()?;
    let next = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(next)
        .ok()?;
    let next = String::from_utf8(next).ok()?;
    let genuine = kept == oauth_state
        && expires >= Utc::now().timestamp()
        && verify(
            &state.authentication.secret,
            &format!("{kept}\n{next}"),
            expires,
            signature,
        );
    genuine.then_some(next)
}

/// The callback URL: configured, else `{scheme}://{host}{prefix}/oauth_callback/`.
fn callback_url(state: &AppState, provider: &OAuthProvider, headers: &HeaderMap) -> String {
    if let Some(url) = &provider.callback_url {
        return url.clone();
    }
    format!(
        "{}{}/oauth_callback/",
        request_origin(state, headers),
        state.prefix()
    )
}

/// `{scheme}://{host}` of a request, from its `Host` header; the scheme is `http`, or
/// `X-Forwarded-Proto` when `behind_proxy` is set.
pub(crate) fn request_origin(state: &AppState, headers: &HeaderMap) -> String {
    let header_text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let host = header_text("host").unwrap_or("localhost");
    let scheme = if state.service.settings().behind_proxy {
        header_text("x-forwarded-proto").unwrap_or("http")
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// `GET /oauth_callback/?code&state`: checks the state against the cookie (401 when
/// it differs), asks the provider who logged in, sets the login cookie and sends the
/// browser on to `next`.
pub async fn oauth_callback(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let LoginMethod::OAuth(provider) = &state.authentication.login else {
        return Err(ApiError::not_found("OAuth login is not configured"));
    };
    let parameters = QueryParameters::parse(query.as_deref());
    let unauthorized = || ApiError::new(StatusCode::UNAUTHORIZED, "OAuth state does not match");
    let oauth_state = parameters.get("state").ok_or_else(unauthorized)?;
    let next = cookie(&headers, STATE_COOKIE)
        .and_then(|value| check_state_cookie(&state, &value, &oauth_state))
        .ok_or_else(unauthorized)?;
    let code = parameters
        .get("code")
        .ok_or_else(|| ApiError::bad_request("query parameter code is required"))?;
    let user = provider
        .user_name(
            &code,
            &callback_url(&state, provider, &headers),
            &oauth_state,
        )
        .await
        .map_err(|error| ApiError::new(StatusCode::BAD_GATEWAY, error.to_string()))?;
    let set_cookie = login_cookie(&state, user)?;
    let target = serde_json::to_string(&next).unwrap_or_else(|_| "\"/\"".to_owned());
    Ok((
        [(header::SET_COOKIE, set_cookie)],
        Html(format!(
            "<!DOCTYPE html><html><head><script>window.location = {target};</script></head><body></body></html>"
        )),
    )
        .into_response())
}

/// The login cookie of a token for `user`: admin everywhere, one day, as the original.
fn login_cookie(state: &AppState, user: String) -> ApiResult<String> {
    let mut bindings = RoleBindings::new();
    if let Ok(everything) = ArnPattern::parse("*/*") {
        bindings.insert(everything, vec![Role::Admin]);
    }
    let token = AuthenticationToken::new(Utc::now() + default_lifetime(), user, bindings);
    let text = state
        .authentication
        .signer
        .encode(&token)
        .map_err(|error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?;
    Ok(cookie_header(
        state,
        &text,
        default_lifetime().num_seconds(),
    ))
}

/// The login form, posting to `/login/?next={next}`.
fn password_form(state: &AppState, next: &str) -> Html<String> {
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let action = format!("{}/login/?next={next}", state.prefix());
    Html(format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>conda-store login</title></head>
<body>
<h1>conda-store</h1>
<form id="login">
<label>Username <input name="username" autocomplete="username" required></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
<p id="message" role="alert"></p>
</form>
<script>
document.getElementById("login").addEventListener("submit", async (event) => {{
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch({action:?}, {{
    method: "POST",
    headers: {{"Content-Type": "application/json"}},
    body: JSON.stringify({{username: form.get("username"), password: form.get("password")}}),
  }});
  const body = await response.json();
  if (response.ok) {{ window.location = body.data.redirect_url; }}
  else {{ document.getElementById("message").textContent = body.message; }}
}});
</script>
</body></html>
"#
    ))
}

/// `POST /login/` with `{"username","password"}`: sets the cookie and answers
/// `{"status":"ok","data":{"redirect_url":...}}`; 403 on a wrong password.
pub async fn submit(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> ApiResult<Response> {
    if !matches!(state.authentication.login, LoginMethod::Password) {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "log in through GET /login/",
        ));
    }
    let credentials: Credentials = json_body(&body)?;
    let password = &state.authentication.password;
    if credentials.username.is_empty()
        || (!password.is_empty() && credentials.password != *password)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Invalid authentication credentials",
        ));
    }
    let cookie = login_cookie(&state, credentials.username)?;
    let body = serde_json::json!({
        "status": "ok",
        "data": {"redirect_url": next_url(&state, query.as_deref())},
    });
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// `POST /logout/`: clears the cookie and answers 303 to `next`.
pub async fn logout(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Response {
    let location = next_url(&state, query.as_deref());
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location),
            (header::SET_COOKIE, cookie_header(&state, "", 0)),
        ],
    )
        .into_response()
}

fn cookie_header(state: &AppState, value: &str, max_age: i64) -> String {
    let mut cookie =
        format!("{COOKIE_NAME}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}");
    if let Some(domain) = &state.authentication.cookie_domain {
        cookie.push_str(&format!("; Domain={domain}"));
    }
    cookie
}
