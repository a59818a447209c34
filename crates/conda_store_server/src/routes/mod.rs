//! The route handlers, one module per resource; the small global routes live here.

pub mod build;
pub mod environment;
pub mod login;
pub mod namespace;
pub mod package;
pub mod setting;
pub mod specification;
pub mod ui;

use crate::AppState;
use crate::auth::Caller;
use crate::envelope::Envelope;
use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use conda_store_core::authorization::RoleBindings;
use conda_store_core::token::AuthenticationToken;
use conda_store_service::views::format_timestamp;
use serde::Deserialize;
use std::sync::Arc;

/// `GET /api/v1/`: the version, also the health check.
pub async fn status(State(state): State<Arc<AppState>>) -> Envelope<serde_json::Value> {
    Envelope::ok(serde_json::json!({ "version": state.version }))
}

/// `GET /api/v1/permission/`: the caller's bindings and what they allow.
pub async fn permission(caller: Caller) -> Envelope<serde_json::Value> {
    Envelope::ok(serde_json::json!({
        "authenticated": caller.authenticated,
        "primary_namespace": caller.token.primary_namespace,
        "entity_permissions": caller.bindings.entity_permissions(),
        "entity_roles": caller.bindings,
        "expiration": caller.expiration().map(|exp| format_timestamp(&exp.naive_utc())),
    }))
}

/// `GET /api/v1/usage/`: environments, builds and storage of each visible namespace.
pub async fn usage(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Envelope<serde_json::Value>> {
    let usage = state.service.usage(&caller.visibility()).await?;
    Ok(Envelope::ok(
        serde_json::to_value(usage).unwrap_or_default(),
    ))
}

/// The body of `POST /api/v1/token/`; every field optional. The official client sends
/// `exp`, which the original ignores; so do we.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub(crate) struct TokenRequest {
    primary_namespace: Option<String>,
    #[schemars(with = "Option<String>")]
    expiration: Option<DateTime<Utc>>,
    #[schemars(with = "Option<std::collections::BTreeMap<String, Vec<String>>>")]
    role_bindings: Option<RoleBindings>,
}

/// `POST /api/v1/token/`: a token no broader and no longer-lived than the caller's.
/// Requested role bindings beyond the caller's are a 400, as in the original; a token
/// whose effective permissions (its bindings, the authenticated defaults and the role
/// mappings of its primary namespace) exceed the caller's is a 403.
pub async fn create_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Envelope<serde_json::Value>> {
    let request: TokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TokenRequest::default()
    } else {
        json_body(&body)?
    };
    let base = if caller.authenticated {
        caller.token.clone()
    } else {
        AuthenticationToken::new(
            caller.token.exp,
            state.service.settings().default_namespace.clone(),
            RoleBindings::new(),
        )
    };
    // Without requested bindings the token keeps the caller's own: not the effective
    // ones, whose role-mapping part is recomputed at each request (so that revoking a
    // share reaches tokens minted under it).
    let role_bindings = match request.role_bindings {
        Some(bindings) if !bindings.is_empty() => bindings,
        _ if caller.authenticated => caller.token.role_bindings.clone(),
        _ => caller.bindings.clone(),
    };
    if !role_bindings.is_subset_of(&caller.bindings) {
        return Err(ApiError::bad_request(
            "Requested role_bindings are not a subset of current permissions",
        ));
    }
    let exp = request.expiration.unwrap_or(base.exp);
    if exp > base.exp {
        return Err(ApiError::bad_request(
            "Requested expiration of token is greater than current permissions",
        ));
    }
    let own_namespace = base.primary_namespace;
    let primary_namespace = request
        .primary_namespace
        .unwrap_or_else(|| own_namespace.clone());
    if !conda_store_core::specification::is_valid_name(&primary_namespace) {
        return Err(conda_store_service::ServiceError::InvalidName(primary_namespace).into());
    }
    let token = AuthenticationToken::new(exp, primary_namespace, role_bindings);
    check_token_within_caller(&state, &caller, &token).await?;
    if !caller
        .bindings
        .may_take_primary_namespace(&own_namespace, &token.primary_namespace)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "a token may only have your own primary namespace {own_namespace:?}, or one \
                 you administer; not {:?}",
                token.primary_namespace
            ),
        ));
    }
    let text = state
        .authentication
        .signer
        .encode(&token)
        .map_err(|error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?;
    Ok(Envelope::ok(serde_json::json!({ "token": text })))
}

/// 403 unless what `token` would allow, computed as for any request presenting it
/// ([`crate::auth::Authentication::token_bindings`]), is within what `caller` may do.
async fn check_token_within_caller(
    state: &AppState,
    caller: &Caller,
    token: &AuthenticationToken,
) -> ApiResult<()> {
    let effective = state
        .authentication
        .token_bindings(&state.service, token)
        .await?;
    let excess = effective.excess_over(&caller.bindings);
    if excess.is_empty() {
        return Ok(());
    }
    let details: Vec<String> = excess
        .iter()
        .map(|(arn, permissions)| {
            format!(
                "{arn}: {}",
                conda_store_core::authorization::permission_list(permissions)
            )
        })
        .collect();
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "the requested token would allow more than you may do (its role bindings, the \
             authenticated defaults and the role mappings of primary namespace {:?}): {}",
            token.primary_namespace,
            details.join("; ")
        ),
    ))
}

/// `GET /metrics`: disk and build figures in the Prometheus text format, with the
/// original's metric names.
pub async fn metrics(State(state): State<Arc<AppState>>) -> ApiResult<Response> {
    let figures = state.service.metrics().await?;
    let mut text = String::new();
    for (name, help, value) in figures {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        ));
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// A JSON request body, or 422 saying what is wrong with it (as FastAPI answers).
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|error| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("invalid request body: {error}"),
        )
    })
}
