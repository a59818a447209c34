//! `/api/v1/setting/[{ns}/[{env}/]]`: the runtime settings in effect at a level, and
//! changing them.

use super::json_body;
use crate::AppState;
use crate::auth::Caller;
use crate::envelope::Envelope;
use crate::error::ApiResult;
use axum::body::Bytes;
use axum::extract::{Path, State};
use conda_store_core::authorization::Permission;
use conda_store_service::SettingsLevel;
use serde_json::{Map, Value};
use std::sync::Arc;

fn arn(level: SettingsLevel<'_>) -> String {
    match level {
        SettingsLevel::Global => String::new(),
        SettingsLevel::Namespace(namespace) => namespace.to_owned(),
        SettingsLevel::Environment(namespace, name) => format!("{namespace}/{name}"),
    }
}

async fn read(
    state: &AppState,
    caller: &Caller,
    level: SettingsLevel<'_>,
) -> ApiResult<Envelope<Map<String, Value>>> {
    caller.require(&arn(level), &[Permission::SettingRead])?;
    Ok(Envelope::ok(state.service.runtime_settings(level).await?))
}

async fn write(
    state: &AppState,
    caller: &Caller,
    level: SettingsLevel<'_>,
    body: &[u8],
) -> ApiResult<Envelope<Option<()>>> {
    caller.require(&arn(level), &[Permission::SettingUpdate])?;
    let values: Map<String, Value> = json_body(body)?;
    let message = state.service.update_settings(level, values).await?;
    Ok(Envelope::with_message(None, message))
}

/// `GET /api/v1/setting/`.
pub async fn get_global(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> ApiResult<Envelope<Map<String, Value>>> {
    read(&state, &caller, SettingsLevel::Global).await
}

/// `GET /api/v1/setting/{ns}/`.
pub async fn get_namespace(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(namespace): Path<String>,
) -> ApiResult<Envelope<Map<String, Value>>> {
    read(&state, &caller, SettingsLevel::Namespace(&namespace)).await
}

/// `GET /api/v1/setting/{ns}/{env}/`.
pub async fn get_environment(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((namespace, name)): Path<(String, String)>,
) -> ApiResult<Envelope<Map<String, Value>>> {
    read(
        &state,
        &caller,
        SettingsLevel::Environment(&namespace, &name),
    )
    .await
}

/// `PUT /api/v1/setting/`.
pub async fn put_global(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Envelope<Option<()>>> {
    write(&state, &caller, SettingsLevel::Global, &body).await
}

/// `PUT /api/v1/setting/{ns}/`.
pub async fn put_namespace(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(namespace): Path<String>,
    body: Bytes,
) -> ApiResult<Envelope<Option<()>>> {
    write(&state, &caller, SettingsLevel::Namespace(&namespace), &body).await
}

/// `PUT /api/v1/setting/{ns}/{env}/`.
pub async fn put_environment(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((namespace, name)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Envelope<Option<()>>> {
    write(
        &state,
        &caller,
        SettingsLevel::Environment(&namespace, &name),
        &body,
    )
    .await
}
