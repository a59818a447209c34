//! `/api/v1/specification/`: register a specification (create or update an
//! environment, which queues a build), and the remote solve.

use super::json_body;
use crate::AppState;
use crate::auth::Caller;
use crate::envelope::Envelope;
use crate::error::{ApiError, ApiResult};
use crate::params::QueryParameters;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use conda_store_build::SolveRequest;
use conda_store_core::authorization::Permission;
use conda_store_core::lockfile_specification::{LockfileSpecification, Specification};
use conda_store_core::settings::current_platform;
use conda_store_core::specification::{CondaSpecification, SpecificationError, normalize_channel};
use serde::Deserialize;
use std::sync::Arc;

/// The body of `POST /api/v1/specification/`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct SpecificationRequest {
    #[serde(default)]
    specification: String,
    namespace: Option<String>,
    #[serde(default)]
    is_lockfile: bool,
    #[serde(default)]
    environment_name: String,
    #[serde(default)]
    environment_description: String,
}

/// The specification of a request: `environment.yaml` text, or a lockfile (YAML or
/// JSON text) named by `environment_name`.
fn parse(request: &SpecificationRequest) -> Result<Specification, SpecificationError> {
    if !request.is_lockfile {
        return CondaSpecification::from_yaml(&request.specification).map(Specification::Conda);
    }
    let lockfile: serde_json::Value =
        serde_yaml::from_str(&request.specification).map_err(|error| SpecificationError::Yaml {
            reason: error.to_string(),
        })?;
    let value = serde_json::json!({
        "name": request.environment_name,
        "description": request.environment_description,
        "lockfile": lockfile,
    });
    LockfileSpecification::from_value(&value).map(Specification::Lockfile)
}

/// `POST /api/v1/specification/`: `{"build_id": N}` of the queued build. The namespace
/// defaults to the caller's primary namespace (the default namespace when anonymous)
/// and is created when missing, which needs `namespace::create` too.
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    body: Bytes,
) -> ApiResult<Envelope<serde_json::Value>> {
    let request: SpecificationRequest = json_body(&body)?;
    let namespace = request.namespace.clone().unwrap_or_else(|| {
        if caller.authenticated {
            caller.token.primary_namespace.clone()
        } else {
            state.service.settings().default_namespace.clone()
        }
    });
    if !conda_store_core::specification::is_valid_name(&namespace) {
        return Err(conda_store_service::ServiceError::InvalidName(namespace).into());
    }
    let specification =
        parse(&request).map_err(|error| ApiError::bad_request(error.to_string()))?;
    if state.service.namespace(&namespace).await?.is_none() {
        caller.require(&namespace, &[Permission::NamespaceCreate])?;
    }
    caller.require(
        &format!("{namespace}/{}", specification.name()),
        &[Permission::EnvironmentCreate],
    )?;
    let created = state
        .service
        .create_build(&namespace, specification)
        .await?;
    Ok(Envelope::ok(
        serde_json::json!({ "build_id": created.build_id }),
    ))
}

/// `GET /api/v1/specification/?channel=..&conda=..&pip=..`: solves the conda
/// dependencies for this server's platform and answers `{"solve": [...]}` (no envelope,
/// as the original). Pip dependencies are not solved here.
pub async fn solve(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let parameters = QueryParameters::parse(query.as_deref());
    let settings = state.service.settings();
    let mut channels = parameters.all("channel");
    if channels.is_empty() {
        channels.clone_from(&settings.conda_default_channels);
    }
    let request = SolveRequest {
        channels: channels
            .iter()
            .map(|channel| normalize_channel(channel, &settings.conda_channel_alias))
            .collect(),
        specs: parameters.all("conda"),
        platforms: vec![current_platform().to_owned()],
        cuda_override: None,
        timeout: settings.solve_time_limit(),
    };
    let lock = state
        .engine
        .lock(&request)
        .await
        .map_err(|error| ApiError::bad_request(error.to_string()))?;
    let packages: Vec<serde_json::Value> = lock
        .records(current_platform())
        .unwrap_or_default()
        .iter()
        .map(|record| {
            let package = &record.package_record;
            serde_json::json!({
                "name": package.name.as_normalized(),
                "version": package.version.to_string(),
                "build": package.build,
                "channel": record.channel,
                "size": package.size,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "solve": packages })).into_response())
}
