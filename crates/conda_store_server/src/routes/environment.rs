//! `/api/v1/environment/...` and `/api/v2/environment/`: lists, get, update (current
//! build, description), delete, and the current build's lockfile.

use super::json_body;
use crate::AppState;
use crate::artifacts::redirect_to_artifact;
use crate::auth::Caller;
use crate::envelope::{Envelope, Paginated, acknowledge};
use crate::error::{ApiError, ApiResult};
use crate::params::QueryParameters;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::Utc;
use conda_store_core::authorization::{Permission, RoleBindings};
use conda_store_core::domain::BuildArtifactType;
use conda_store_service::views::EnvironmentView;
use conda_store_service::{EnvironmentCursor, EnvironmentFilter, Visibility};
use serde::Deserialize;
use std::sync::Arc;

/// The `Deprecation` and `Sunset` headers of the v1 environment list.
const DEPRECATION: [(&str, &str); 2] = [
    ("deprecation", "True"),
    ("sunset", "Mon, 17 Mar 2025 00:00:00 UTC"),
];

/// The filters shared by both environment lists.
fn filter(state: &AppState, parameters: &QueryParameters) -> EnvironmentFilter {
    EnvironmentFilter {
        search: parameters.get("search"),
        namespace: parameters.get("namespace"),
        name: parameters.get("name"),
        status: parameters.get("status"),
        packages: parameters.all("packages"),
        artifact: parameters.get("artifact"),
        also_visible_to: parameters
            .get("jwt")
            .map(|jwt| token_visibility(state, &jwt)),
    }
}

/// What the token `jwt` may see (nothing when it is invalid).
fn token_visibility(state: &AppState, jwt: &str) -> Visibility {
    let bindings = state
        .authentication
        .signer
        .decode(jwt, Utc::now())
        .map(|token| token.role_bindings)
        .unwrap_or_else(|_| RoleBindings::new());
    Caller {
        authenticated: true,
        token: conda_store_core::token::AuthenticationToken::default_at(Utc::now()),
        bindings,
    }
    .visibility()
}

/// `GET /api/v1/environment/` (deprecated by the original, still used by its clients).
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let parameters = QueryParameters::parse(query.as_deref());
    let page = parameters.page(state.service.settings().max_page_size)?;
    let listing = state
        .service
        .list_environments(&caller.visibility(), &filter(&state, &parameters), &page)
        .await?;
    Ok((DEPRECATION, Paginated::from(listing)).into_response())
}

/// A v2 cursor: where the previous page ended.
#[derive(Debug, Default, serde::Serialize, Deserialize)]
struct Cursor {
    last_id: Option<i32>,
    last_value: Option<serde_json::Map<String, serde_json::Value>>,
}

fn decode_cursor(text: &str) -> ApiResult<Cursor> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
        .map_err(|_| ApiError::bad_request("invalid cursor"))?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::bad_request("invalid cursor"))
}

fn encode_cursor(cursor: &Cursor) -> String {
    let text = serde_json::to_string(cursor).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// `GET /api/v2/environment/`: keyset pagination with a base64 JSON cursor; an empty
/// page carries the end cursor `{"last_id":null,"last_value":null}`.
pub async fn list_v2(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let parameters = QueryParameters::parse(query.as_deref());
    let limit = parameters.page_size("limit", state.service.settings().max_page_size)?;
    let descending = match parameters.get("order").as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "order must be asc or desc",
            ));
        }
    };
    let sort_by: Vec<String> = parameters
        .all("sort_by")
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(bad) = sort_by
        .iter()
        .find(|key| !["namespace", "name"].contains(&key.as_str()))
    {
        return Err(ApiError::bad_request(format!(
            "Invalid query parameter: sort_by={bad}; allowed values are namespace and name"
        )));
    }
    let after = match parameters.get("cursor") {
        Some(text) => decode_cursor(&text)?,
        None => Cursor::default(),
    };
    let position = after.last_id.map(|last_id| EnvironmentCursor {
        last_id,
        last_values: sort_by
            .iter()
            .map(|key| {
                after
                    .last_value
                    .as_ref()
                    .and_then(|values| values.get(key))
                    .and_then(|value| value.as_str())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect(),
    });
    let (items, count) = state
        .service
        .list_environments_after(
            &caller.visibility(),
            &filter(&state, &parameters),
            &sort_by,
            descending,
            position.as_ref(),
            limit,
        )
        .await?;
    let next = match items.last() {
        Some(last) => Cursor {
            last_id: Some(last.id),
            last_value: Some(
                sort_by
                    .iter()
                    .map(|key| {
                        let value = if key == "namespace" {
                            last.namespace.name.clone()
                        } else {
                            last.name.clone()
                        };
                        (key.clone(), serde_json::Value::String(value))
                    })
                    .collect(),
            ),
        },
        None => Cursor::default(),
    };
    let data: Vec<serde_json::Value> = items.into_iter().map(without_current_build).collect();
    Ok(Json(serde_json::json!({
        "data": data,
        "status": "ok",
        "message": null,
        "cursor": encode_cursor(&next),
        "count": count,
    }))
    .into_response())
}

fn without_current_build(view: EnvironmentView) -> serde_json::Value {
    let mut value = serde_json::to_value(view).unwrap_or_default();
    if let Some(object) = value.as_object_mut() {
        object.remove("current_build");
    }
    value
}

/// The environment `namespace/name`, after checking `permissions` on it.
async fn authorized_environment(
    state: &AppState,
    caller: &Caller,
    namespace: &str,
    name: &str,
    permissions: &[Permission],
) -> ApiResult<EnvironmentView> {
    caller.require(&format!("{namespace}/{name}"), permissions)?;
    state
        .service
        .environment(namespace, name)
        .await?
        .ok_or_else(|| ApiError::not_found("environment does not exist"))
}

/// `GET /api/v1/environment/{ns}/{env}/`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((namespace, name)): Path<(String, String)>,
) -> ApiResult<Envelope<EnvironmentView>> {
    let view = authorized_environment(
        &state,
        &caller,
        &namespace,
        &name,
        &[Permission::EnvironmentRead],
    )
    .await?;
    Ok(Envelope::ok(view))
}

/// The body of `PUT /api/v1/environment/{ns}/{env}/`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub(crate) struct EnvironmentUpdate {
    build_id: Option<i32>,
    description: Option<String>,
}

/// `PUT /api/v1/environment/{ns}/{env}/`: `build_id` makes that completed build
/// current; `description` replaces the description.
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((namespace, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let view = authorized_environment(
        &state,
        &caller,
        &namespace,
        &name,
        &[Permission::EnvironmentUpdate],
    )
    .await?;
    let update: EnvironmentUpdate = json_body(&body)?;
    if let Some(build_id) = update.build_id {
        state
            .service
            .set_current_build(view.id, build_id)
            .await
            .map_err(|error| match error {
                conda_store_service::ServiceError::NotFound(what) => {
                    ApiError::bad_request(format!("{what} not found"))
                }
                other => other.into(),
            })?;
    }
    if let Some(description) = update.description {
        state
            .service
            .update_environment_description(view.id, &description)
            .await?;
    }
    Ok(acknowledge(None))
}

/// `DELETE /api/v1/environment/{ns}/{env}/`.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((namespace, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let view = authorized_environment(
        &state,
        &caller,
        &namespace,
        &name,
        &[Permission::EnvironmentDelete],
    )
    .await?;
    state.service.delete_environment(view.id).await?;
    Ok(acknowledge(None))
}

/// `GET /api/v1/environment/{ns}/{env}/lockfile/` (and `conda-lock.yml|yaml`): the
/// current build's lockfile.
pub async fn lockfile(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((namespace, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let view = authorized_environment(
        &state,
        &caller,
        &namespace,
        &name,
        &[Permission::EnvironmentRead],
    )
    .await?;
    let build_id = view
        .current_build_id
        .ok_or_else(|| ApiError::not_found("environment has no current build"))?;
    redirect_to_artifact(&state, build_id, BuildArtifactType::Lockfile).await
}
