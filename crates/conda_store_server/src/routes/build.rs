//! `/api/v1/build/...`: list, get, rebuild, cancel, delete, packages, and the artifact
//! downloads (307 to a signed storage link).

use crate::AppState;
use crate::artifacts::redirect_to_artifact;
use crate::auth::Caller;
use crate::envelope::{Envelope, Paginated, acknowledge};
use crate::error::{ApiError, ApiResult};
use crate::params::QueryParameters;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use conda_store_core::authorization::Permission;
use conda_store_core::domain::BuildArtifactType;
use conda_store_service::views::{BuildView, PackageView};
use conda_store_service::{BuildFilter, LocatedBuild, PackageFilter};
use std::sync::Arc;

/// A build id from the path; 422 as FastAPI answers a non-integer.
fn parse_build_id(text: &str) -> ApiResult<i32> {
    text.parse().map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("build_id must be an integer, not `{text}`"),
        )
    })
}

/// The id of build `build_id` after checking `permissions` on its environment; 404
/// when it does not exist.
pub async fn authorized_build_id(
    state: &AppState,
    caller: &Caller,
    build_id: &str,
    permissions: &[Permission],
) -> ApiResult<i32> {
    let build_id = parse_build_id(build_id)?;
    let arn = state
        .service
        .build_arn(build_id)
        .await?
        .ok_or_else(|| ApiError::not_found("build does not exist"))?;
    caller.require(&arn, permissions)?;
    Ok(build_id)
}

/// The build `build_id` with its specification and artifacts, after checking
/// `permissions` on its environment; 404 when it does not exist.
pub async fn authorized_build(
    state: &AppState,
    caller: &Caller,
    build_id: &str,
    permissions: &[Permission],
) -> ApiResult<LocatedBuild> {
    let build_id = authorized_build_id(state, caller, build_id, permissions).await?;
    state
        .service
        .build(build_id)
        .await?
        .ok_or_else(|| ApiError::not_found("build does not exist"))
}

/// `GET /api/v1/build/`: builds of visible environments, deleted ones included.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> ApiResult<Paginated<BuildView>> {
    let parameters = QueryParameters::parse(query.as_deref());
    let page = parameters.page(state.service.settings().max_page_size)?;
    let filter = BuildFilter {
        status: parameters.get("status"),
        artifact: parameters.get("artifact"),
        environment_id: parameters.integer("environment_id")?,
        name: parameters.get("name"),
        namespace: parameters.get("namespace"),
        packages: parameters.all("packages"),
        exclude_deleted: false,
    };
    let listing = state
        .service
        .list_builds(&caller.visibility(), &filter, &page)
        .await?;
    Ok(Paginated::from(listing))
}

/// `GET /api/v1/build/{id}/`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(build_id): Path<String>,
) -> ApiResult<Envelope<BuildView>> {
    let located =
        authorized_build(&state, &caller, &build_id, &[Permission::EnvironmentRead]).await?;
    Ok(Envelope::ok(located.build))
}

/// `PUT /api/v1/build/{id}/`: a new build of the same specification.
pub async fn rebuild(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(build_id): Path<String>,
) -> ApiResult<Response> {
    let build_id =
        authorized_build_id(&state, &caller, &build_id, &[Permission::EnvironmentUpdate]).await?;
    let new_build = state.service.rebuild(build_id).await?;
    Ok(Envelope::with_message(
        serde_json::json!({ "build_id": new_build }),
        "rebuild triggered",
    )
    .into_response())
}

/// `PUT /api/v1/build/{id}/cancel/`.
pub async fn cancel(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(build_id): Path<String>,
) -> ApiResult<Response> {
    let build_id =
        authorized_build_id(&state, &caller, &build_id, &[Permission::BuildCancel]).await?;
    state.service.cancel_build(build_id).await?;
    Ok(acknowledge(Some(format!("build {build_id} canceled"))))
}

/// `DELETE /api/v1/build/{id}/`: only finished builds.
pub async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(build_id): Path<String>,
) -> ApiResult<Response> {
    let build_id =
        authorized_build_id(&state, &caller, &build_id, &[Permission::BuildDelete]).await?;
    state.service.delete_build(build_id).await?;
    Ok(acknowledge(None))
}

/// `GET /api/v1/build/{id}/packages/`.
pub async fn packages(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(build_id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Paginated<PackageView>> {
    let build_id =
        authorized_build_id(&state, &caller, &build_id, &[Permission::EnvironmentRead]).await?;
    let parameters = QueryParameters::parse(query.as_deref());
    let page = parameters.page(state.service.settings().max_page_size)?;
    let filter = PackageFilter {
        search: parameters.get("search"),
        exact: parameters.flag("exact"),
        build: parameters.get("build"),
        distinct_on: Vec::new(),
    };
    let listing = state
        .service
        .build_packages(build_id, &filter, &page)
        .await?;
    Ok(Paginated::from(listing))
}

async fn artifact(
    state: &AppState,
    caller: &Caller,
    build_id: &str,
    artifact: BuildArtifactType,
) -> ApiResult<Response> {
    let build_id =
        authorized_build_id(state, caller, build_id, &[Permission::EnvironmentRead]).await?;
    redirect_to_artifact(state, build_id, artifact).await
}

/// `GET /api/v1/build/{id}/logs/`.
pub async fn logs(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(build_id): Path<String>,
) -> ApiResult<Response> {
    artifact(&state, &caller, &build_id, BuildArtifactType::Logs).await
}

/// `GET /api/v1/build/{id}/logs/stream/`: the log as Server-Sent Events, followed until
/// the build finishes ([`crate::log_stream`]). `offset` skips bytes already shown; a
/// reconnecting `EventSource` resumes from its `Last-Event-ID`.
pub async fn logs_stream(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(build_id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let build_id =
        authorized_build_id(&state, &caller, &build_id, &[Permission::EnvironmentRead]).await?;
    let resumed = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let offset = match resumed {
        Some(offset) => offset,
        None => QueryParameters::parse(query.as_deref())
            .integer::<u64>("offset")?
            .unwrap_or(0),
    };
    let key = crate::log_stream::log_key(&state.service, build_id).await?;
    Ok(crate::log_stream::stream(state.service.clone(), build_id, key, offset).into_response())
}

/// `GET /api/v1/build/{id}/yaml/`.
pub async fn yaml(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(build_id): Path<String>,
) -> ApiResult<Response> {
    artifact(&state, &caller, &build_id, BuildArtifactType::Yaml).await
}

/// `GET /api/v1/build/{id}/lockfile/` (and `conda-lock.yml|yaml`).
pub async fn lockfile(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(build_id): Path<String>,
) -> ApiResult<Response> {
    artifact(&state, &caller, &build_id, BuildArtifactType::Lockfile).await
}

/// `GET /api/v1/build/{id}/archive/`: the conda-pack archive.
pub async fn archive(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(build_id): Path<String>,
) -> ApiResult<Response> {
    artifact(&state, &caller, &build_id, BuildArtifactType::CondaPack).await
}

/// `GET /api/v1/build/{id}/installer/`: 400 unless the build has a constructor
/// installer (this server does not make them).
pub async fn installer(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(build_id): Path<String>,
) -> ApiResult<Response> {
    let located =
        authorized_build(&state, &caller, &build_id, &[Permission::EnvironmentRead]).await?;
    if !has_artifact(&located, BuildArtifactType::ConstructorInstaller) {
        return Err(ApiError::bad_request(format!(
            "Build {} doesn't have an installer",
            located.build.id
        )));
    }
    redirect_to_artifact(
        &state,
        located.build.id,
        BuildArtifactType::ConstructorInstaller,
    )
    .await
}

/// `GET /api/v1/build/{id}/docker/` (deprecated): docker images are not built, so
/// this is always the original's 400.
pub async fn docker(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(build_id): Path<String>,
) -> ApiResult<Response> {
    let located =
        authorized_build(&state, &caller, &build_id, &[Permission::EnvironmentRead]).await?;
    Ok((
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({
            "status": "error",
            "message": format!("Build {} doesn't have a docker manifest", located.build.id),
        })),
    )
        .into_response())
}

fn has_artifact(located: &LocatedBuild, artifact: BuildArtifactType) -> bool {
    located
        .build
        .build_artifacts
        .iter()
        .flatten()
        .any(|row| row.artifact_type == artifact.as_str())
}
