//! The default login of the original (`DummyAuthentication`): any user name with the
//! configured password; the OAuth logins; logout. The token goes into the
//! `conda-store-auth` cookie, with the role bindings the login settings give the user
//! ([`conda_store_core::login::LoginPolicy`]); every `next` goes through
//! [`redirect_target`].

use super::json_body;
use crate::AppState;
use crate::admin::html;
use crate::auth::{COOKIE_NAME, cookie};
use crate::error::{ApiError, ApiResult};
use crate::oauth::{LoginMethod, OAuthProvider};
use crate::params::QueryParameters;
use crate::redirect::redirect_target;
use crate::signing::{Purpose, sign, verify};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use chrono::Utc;
use conda_store_core::authorization::RoleBindings;
use conda_store_core::login::LoginRefusal;
use conda_store_core::token::{AuthenticationToken, default_lifetime};
use serde::Deserialize;
use std::sync::Arc;

/// The body of `POST /login/` (no `Debug`: it holds a password).
#[derive(Deserialize, schemars::JsonSchema)]
pub(crate) struct Credentials {
    username: String,
    password: String,
}

/// Where to go after logging in or out: the request's `next` when it stays on this
/// server's origin under the prefix (a path, or an absolute URL of this origin, which
/// the UI's login button sends), else the server's root.
fn next_url(state: &AppState, query: Option<&str>, headers: &HeaderMap) -> String {
    let next = QueryParameters::parse(query).get("next");
    redirect_target(
        &request_origin(state, headers),
        state.prefix(),
        next.as_deref(),
    )
}

/// `GET /login/`: with OAuth, 307 to the provider; with the password login, a form
/// that posts the credentials as JSON, then follows `next`.
pub async fn form(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let next = next_url(&state, query.as_deref(), &headers);
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
                "{STATE_COOKIE}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={STATE_LIFETIME}{}",
                state_cookie(&state, &oauth_state, &next),
                secure_attribute(&state, &headers),
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
    let signature = sign(
        &state.authentication.secret,
        Purpose::OAuthState,
        &signed,
        expires,
    );
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
            Purpose::OAuthState,
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

/// `{scheme}://{host}` of a request, from its `Host` header and [`request_scheme`].
pub(crate) fn request_origin(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("localhost");
    format!("{}://{host}", request_scheme(state, headers))
}

/// The scheme a request came with: `http`, or `https` when `behind_proxy` is set and
/// the first `X-Forwarded-Proto` says so.
fn request_scheme(state: &AppState, headers: &HeaderMap) -> &'static str {
    let forwarded_https = state.service.settings().behind_proxy
        && headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .is_some_and(|scheme| scheme.trim().eq_ignore_ascii_case("https"));
    if forwarded_https { "https" } else { "http" }
}

/// `; Secure` when cookies must be: `cookie_secure` when set, else when the request
/// came over https.
fn secure_attribute(state: &AppState, headers: &HeaderMap) -> &'static str {
    let secure = state
        .authentication
        .cookie_secure
        .unwrap_or_else(|| request_scheme(state, headers) == "https");
    if secure { "; Secure" } else { "" }
}

/// `GET /oauth_callback/?code&state`: checks the state against the cookie (401 when
/// it differs), asks the provider who logged in, applies the login settings (403 page,
/// no cookie, for a user not allowed), sets the login cookie and answers 303 to `next`.
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
        .identify(
            &code,
            &callback_url(&state, provider, &headers),
            &oauth_state,
        )
        .await
        .map_err(|error| ApiError::new(StatusCode::BAD_GATEWAY, error.to_string()))?;
    let bindings = match state
        .authentication
        .login_policy
        .decide(&user.name, &user.groups)
    {
        Ok(bindings) => bindings,
        Err(refusal) => return Ok(refusal_page(&state, &refusal)),
    };
    let set_cookie = login_cookie(&state, &headers, user.name, bindings)?;
    let location = redirect_target(
        &request_origin(&state, &headers),
        state.prefix(),
        Some(&next),
    );
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location),
            (header::SET_COOKIE, set_cookie),
        ],
    )
        .into_response())
}

/// The 403 page of a login the settings refuse.
fn refusal_page(state: &AppState, refusal: &LoginRefusal) -> Response {
    let page = format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>conda-store: access denied</title></head>
<body><h1>Access denied</h1><p>{}</p><p><a href="{}">conda-store</a></p></body></html>
"#,
        html::escape(&refusal.to_string()),
        html::escape(&format!("{}/", state.prefix())),
    );
    (StatusCode::FORBIDDEN, Html(page)).into_response()
}

/// The login cookie of a token for `user` with `bindings`, valid one day.
fn login_cookie(
    state: &AppState,
    headers: &HeaderMap,
    user: String,
    bindings: RoleBindings,
) -> ApiResult<String> {
    let token = AuthenticationToken::new(Utc::now() + default_lifetime(), user, bindings);
    let text = state
        .authentication
        .signer
        .encode(&token)
        .map_err(|error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?;
    Ok(cookie_header(
        state,
        headers,
        &text,
        default_lifetime().num_seconds(),
    ))
}

/// The login form, posting to `/login/?next={next}`; `next` is already a checked
/// path, and is encoded as a query value and then as a script string.
fn password_form(state: &AppState, next: &str) -> Html<String> {
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let action = html::script_string(&format!("{}/login/?next={next}", state.prefix()));
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
  const response = await fetch({action}, {{
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
/// `{"status":"ok","data":{"redirect_url":...}}`; 403 on a wrong password or a user
/// the login settings do not allow, 400 on a user name that cannot be a namespace.
pub async fn submit(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    if !matches!(state.authentication.login, LoginMethod::Password) {
        return Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "log in through GET /login/",
        ));
    }
    let credentials: Credentials = json_body(&body)?;
    let authentication = &state.authentication;
    let password_ok = authentication.password.is_empty()
        || authentication.password_matches(&credentials.password);
    if credentials.username.is_empty() || !password_ok {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Invalid authentication credentials",
        ));
    }
    let bindings = authentication
        .login_policy
        .decide(&credentials.username, &[])
        .map_err(|refusal| {
            let status = match refusal {
                LoginRefusal::InvalidUserName { .. } => StatusCode::BAD_REQUEST,
                LoginRefusal::NotAllowed { .. } | LoginRefusal::ReservedUserName { .. } => {
                    StatusCode::FORBIDDEN
                }
            };
            ApiError::new(status, refusal.to_string())
        })?;
    let cookie = login_cookie(&state, &headers, credentials.username, bindings)?;
    let body = serde_json::json!({
        "status": "ok",
        "data": {"redirect_url": next_url(&state, query.as_deref(), &headers)},
    });
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// `POST /logout/`: clears the cookie and answers 303 to `next`.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let location = next_url(&state, query.as_deref(), &headers);
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, location),
            (header::SET_COOKIE, cookie_header(&state, &headers, "", 0)),
        ],
    )
        .into_response()
}

/// The `Set-Cookie` value of the login cookie. `SameSite=Lax`: sent on a top-level
/// navigation from another site (the page the OAuth provider's 303 chain lands on
/// must see the login; `Strict` would hide it there), never on another site's
/// subrequests or POSTs. Cross-site writes are refused anyway: forms carry CSRF tokens
/// and JSON routes take only `application/json`, which needs a CORS preflight.
fn cookie_header(state: &AppState, headers: &HeaderMap, value: &str, max_age: i64) -> String {
    let mut cookie = format!(
        "{COOKIE_NAME}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{}",
        secure_attribute(state, headers)
    );
    if let Some(domain) = &state.authentication.cookie_domain {
        cookie.push_str(&format!("; Domain={domain}"));
    }
    cookie
}
