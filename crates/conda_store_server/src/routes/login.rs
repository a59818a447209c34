//! The default login of the original (`DummyAuthentication`): any user name with the
//! configured password; the token goes into the `conda-store-auth` cookie.

use super::json_body;
use crate::AppState;
use crate::auth::COOKIE_NAME;
use crate::error::{ApiError, ApiResult};
use crate::params::QueryParameters;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use conda_store_core::authorization::{ArnPattern, Role, RoleBindings};
use conda_store_core::token::{AuthenticationToken, default_lifetime};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Debug, Deserialize)]
struct Credentials {
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

/// `GET /login/`: a form that posts the credentials as JSON, then follows `next`.
pub async fn form(State(state): State<Arc<AppState>>, RawQuery(query): RawQuery) -> Html<String> {
    let action = format!(
        "{}/login/?next={}",
        state.prefix(),
        next_url(&state, query.as_deref())
    );
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
    let mut bindings = RoleBindings::new();
    if let Ok(everything) = ArnPattern::parse("*/*") {
        bindings.insert(everything, vec![Role::Admin]);
    }
    let token = AuthenticationToken::new(
        Utc::now() + default_lifetime(),
        credentials.username,
        bindings,
    );
    let text = state
        .authentication
        .signer
        .encode(&token)
        .map_err(|error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?;
    let cookie = cookie(&state, &text, default_lifetime().num_seconds());
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
            (header::SET_COOKIE, cookie(&state, "", 0)),
        ],
    )
        .into_response()
}

fn cookie(state: &AppState, value: &str, max_age: i64) -> String {
    let mut cookie =
        format!("{COOKIE_NAME}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}");
    if let Some(domain) = &state.authentication.cookie_domain {
        cookie.push_str(&format!("; Domain={domain}"));
    }
    cookie
}
