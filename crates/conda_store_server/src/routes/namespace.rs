//! `/api/v1/namespace/...`: list, get, create, update (metadata and v1 role mappings),
//! delete, and the v2 role mappings (`roles`, `role`).

use super::json_body;
use crate::AppState;
use crate::auth::Caller;
use crate::envelope::{Envelope, acknowledge};
use crate::error::{ApiError, ApiResult};
use crate::params::QueryParameters;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use conda_store_core::authorization::Permission;
use conda_store_service::views::RoleMappingV2View;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// `GET /api/v1/namespace/`: visible namespaces as `{"id","name"}`; the envelope has
/// no `message` key, as the original's.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let parameters = QueryParameters::parse(query.as_deref());
    let page = parameters.page(state.service.settings().max_page_size)?;
    let listing = state
        .service
        .list_namespaces(&caller.visibility(), &page)
        .await?;
    Ok(Json(serde_json::json!({
        "status": "ok",
        "data": listing.items,
        "page": listing.page,
        "size": listing.size,
        "count": listing.count,
    }))
    .into_response())
}

/// `GET /api/v1/namespace/{ns}/`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(namespace): Path<String>,
) -> ApiResult<Envelope<conda_store_service::views::NamespaceView>> {
    caller.require(&namespace, &[Permission::NamespaceRead])?;
    let view = state
        .service
        .namespace(&namespace)
        .await?
        .ok_or_else(|| ApiError::not_found("namespace does not exist"))?;
    Ok(Envelope::ok(view))
}

/// `POST /api/v1/namespace/{ns}/`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(namespace): Path<String>,
) -> ApiResult<Response> {
    caller.require(&namespace, &[Permission::NamespaceCreate])?;
    state.service.create_namespace(&namespace).await?;
    Ok(acknowledge(None))
}

/// The body of `PUT /api/v1/namespace/{ns}/`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub(crate) struct NamespaceUpdate {
    metadata: Option<serde_json::Value>,
    role_mappings: Option<BTreeMap<String, Vec<String>>>,
}

/// `PUT /api/v1/namespace/{ns}/`: replaces the metadata and/or the v1 role mappings.
/// Changing role mappings needs mapping rights on every ARN granted, not only on the
/// namespace (the original's escalation is not reproduced; docs/COMPATIBILITY.md).
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(namespace): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(
        &namespace,
        &[
            Permission::NamespaceUpdate,
            Permission::NamespaceRoleMappingCreate,
            Permission::NamespaceRoleMappingDelete,
        ],
    )?;
    let update: NamespaceUpdate = if body.is_empty() {
        NamespaceUpdate::default()
    } else {
        json_body(&body)?
    };
    for entity in update.role_mappings.iter().flat_map(BTreeMap::keys) {
        caller.require_everywhere(entity, &[Permission::NamespaceRoleMappingCreate])?;
    }
    state
        .service
        .update_namespace(&namespace, update.metadata, update.role_mappings)
        .await?;
    Ok(acknowledge(None))
}

/// `PUT /api/v1/namespace/{ns}/metadata`: the body is the metadata object itself.
pub async fn update_metadata(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(namespace): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(&namespace, &[Permission::NamespaceUpdate])?;
    let metadata: serde_json::Value = json_body(&body)?;
    state
        .service
        .update_namespace(&namespace, Some(metadata), None)
        .await?;
    Ok(acknowledge(None))
}

/// `DELETE /api/v1/namespace/{ns}/`: soft delete now, files by a job.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(namespace): Path<String>,
) -> ApiResult<Response> {
    caller.require(&namespace, &[Permission::NamespaceDelete])?;
    state.service.delete_namespace(&namespace).await?;
    Ok(acknowledge(None))
}

/// `GET /api/v1/namespace/{ns}/roles`: who the namespace is shared with.
pub async fn list_roles(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(namespace): Path<String>,
) -> ApiResult<Envelope<Vec<RoleMappingV2View>>> {
    caller.require(
        &namespace,
        &[
            Permission::NamespaceRead,
            Permission::NamespaceRoleMappingRead,
        ],
    )?;
    Ok(Envelope::ok(
        state.service.namespace_role_mappings_v2(&namespace).await?,
    ))
}

/// `DELETE /api/v1/namespace/{ns}/roles`: stop sharing with anyone.
pub async fn delete_roles(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(namespace): Path<String>,
) -> ApiResult<Response> {
    caller.require(
        &namespace,
        &[
            Permission::NamespaceRead,
            Permission::NamespaceRoleMappingDelete,
        ],
    )?;
    state
        .service
        .delete_namespace_role_mappings_v2(&namespace)
        .await?;
    Ok(acknowledge(None))
}

/// `GET /api/v1/namespace/{ns}/role?other_namespace=X`.
pub async fn get_role(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(namespace): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Envelope<RoleMappingV2View>> {
    caller.require(
        &namespace,
        &[
            Permission::NamespaceRead,
            Permission::NamespaceRoleMappingRead,
        ],
    )?;
    let other = QueryParameters::parse(query.as_deref())
        .get("other_namespace")
        .ok_or_else(|| ApiError::bad_request("query parameter other_namespace is required"))?;
    Ok(Envelope::ok(
        state
            .service
            .namespace_role_mapping_v2(&namespace, &other)
            .await?,
    ))
}

/// The body of `POST` and `PUT /api/v1/namespace/{ns}/role`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct RoleBody {
    other_namespace: String,
    role: String,
}

/// The body of `DELETE /api/v1/namespace/{ns}/role`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct OtherNamespaceBody {
    other_namespace: String,
}

/// `POST /api/v1/namespace/{ns}/role`: share the namespace.
pub async fn create_role(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(namespace): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(
        &namespace,
        &[
            Permission::NamespaceRead,
            Permission::NamespaceRoleMappingCreate,
        ],
    )?;
    put_role(&state, &namespace, &body).await
}

/// `PUT /api/v1/namespace/{ns}/role`: change the shared role.
pub async fn update_role(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(namespace): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(
        &namespace,
        &[
            Permission::NamespaceRead,
            Permission::NamespaceRoleMappingUpdate,
        ],
    )?;
    put_role(&state, &namespace, &body).await
}

async fn put_role(state: &AppState, namespace: &str, body: &[u8]) -> ApiResult<Response> {
    let request: RoleBody = json_body(body)?;
    state
        .service
        .put_namespace_role_mapping_v2(namespace, &request.other_namespace, &request.role)
        .await?;
    Ok(acknowledge(None))
}

/// `DELETE /api/v1/namespace/{ns}/role`: stop sharing with one namespace.
pub async fn delete_role(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(namespace): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    caller.require(
        &namespace,
        &[
            Permission::NamespaceRead,
            Permission::NamespaceRoleMappingDelete,
        ],
    )?;
    let request: OtherNamespaceBody = json_body(&body)?;
    state
        .service
        .delete_namespace_role_mapping_v2(&namespace, &request.other_namespace)
        .await?;
    Ok(acknowledge(None))
}
