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
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use conda_store_build::{BuildError, SolveRequest};
use conda_store_core::authorization::Permission;
use conda_store_core::field_text::check_field_text;
use conda_store_core::lockfile_specification::{LockfileSpecification, Specification};
use conda_store_core::redaction::redact_credentials;
use conda_store_core::settings::current_platform;
use conda_store_core::specification::{CondaSpecification, SpecificationError};
use conda_store_core::url_policy::{UrlKind, UrlPolicy};
use conda_store_service::SettingsLevel;
use conda_store_service::url_check::check_user_urls;
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
///
/// Unlike the Python conda-store (anonymous), it needs a binding that grants
/// `environment::solve` (on any environment); the channels go through the URL policy
/// (`conda_allowed_channels`, schemes, `refuse_private_addresses`); at most
/// `remote_solve_concurrency` solves run at once (503 beyond); and a failure to read
/// user-supplied channels is one generic message, the details only in the server log,
/// so that the answer does not tell an open port from a closed one.
pub async fn solve(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    caller.require_somewhere(Permission::EnvironmentSolve)?;
    let parameters = QueryParameters::parse(query.as_deref());
    let settings = state
        .service
        .effective_settings(SettingsLevel::Global)
        .await?;
    let policy = UrlPolicy::new(state.service.settings(), &settings);
    let mut channels = parameters.all("channel");
    if channels.is_empty() {
        channels.clone_from(&settings.conda_default_channels);
    }
    let specs = parameters.all("conda");
    for (position, text) in channels.iter().chain(&specs).enumerate() {
        check_field_text(&format!("Query parameter {position}"), text)
            .map_err(ApiError::bad_request)?;
    }
    let channels: Vec<String> = channels
        .iter()
        .map(|channel| policy.normalize_channel(channel))
        .collect();
    let urls: Vec<(UrlKind, String)> = channels
        .iter()
        .map(|channel| (UrlKind::Channel, channel.clone()))
        .collect();
    check_user_urls(&policy, &urls)
        .await
        .map_err(|refusal| ApiError::bad_request(refusal.to_string()))?;
    let Some(_permit) = state.service.try_begin_remote_solve() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many remote solves are running; try again later",
        ));
    };
    let all_trusted = channels.iter().all(|channel| policy.is_trusted(channel));
    let request = SolveRequest {
        channels: channels.clone(),
        specs,
        platforms: vec![current_platform().to_owned()],
        cuda_override: None,
        timeout: settings.solve_time_limit(),
    };
    let lock = state
        .engine
        .lock(&request)
        .await
        .map_err(|error| solve_error(&error, &channels, all_trusted))?;
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
                "channel": record.channel.as_deref().map(redact_credentials),
                "size": package.size,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "solve": packages })).into_response())
}

/// The answer to a failed remote solve: the engine's own message when every channel is
/// one the operator configured, else one message that only names the channels (the
/// details, which could tell an open port from a closed one, go to the server log).
fn solve_error(error: &BuildError, channels: &[String], all_trusted: bool) -> ApiError {
    let details = redact_credentials(&error.to_string());
    if all_trusted || matches!(error, BuildError::InvalidSpec { .. }) {
        return ApiError::bad_request(details);
    }
    tracing::info!("remote solve failed: {details}");
    ApiError::bad_request(format!(
        "cannot solve from the channels {}: they could not be read, or the packages could not be resolved from them",
        redact_credentials(&channels.join(", "))
    ))
}
