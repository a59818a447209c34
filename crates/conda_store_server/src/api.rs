//! The table of every route: its OpenAPI operation and its handler. The router
//! ([`crate::router`]) registers exactly these, and the document at `openapi.json` is
//! built from exactly these, so the two cannot drift apart.

use crate::AppState;
use crate::openapi::schemas::{self, enveloped, of, paginated};
use crate::openapi::{Answer, Operation, Parameter, ParameterType};
use crate::routes::{self, build, environment, login, namespace, package, setting, specification};
use axum::Json;
use axum::extract::State;
use axum::handler::Handler;
use axum::http::Method;
use axum::response::Html;
use axum::routing::{MethodFilter, MethodRouter, on};
use conda_store_service::views::{
    BuildView, ChannelView, EnvironmentView, NamespaceUsage, NamespaceView, PackageView,
    RoleMappingV2View,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A route: what the document says about it, and the handler that serves it.
pub struct Route {
    /// The operation, with its method and path.
    pub operation: Operation,
    /// The handler, registered for the operation's method only.
    pub handler: MethodRouter<Arc<AppState>>,
    /// Whether the OpenAPI document lists it (pages such as `/admin/` are served but
    /// not documented).
    pub documented: bool,
    /// Whether it belongs to the web UI, served only when `enable_ui` is on.
    pub web_ui: bool,
}

impl Route {
    /// The same route, as part of the web UI (served only when `enable_ui` is on).
    pub fn web_ui(self) -> Self {
        Self {
            web_ui: true,
            ..self
        }
    }

    /// The same route, served but left out of the OpenAPI document.
    pub fn hidden(self) -> Self {
        Self {
            documented: false,
            ..self
        }
    }
}

/// The v1 pagination arguments.
const PAGINATION: [Parameter; 4] = [
    Parameter::query("page", ParameterType::Integer),
    Parameter::query("size", ParameterType::Integer),
    Parameter::query("order", ParameterType::String),
    Parameter::query("sort_by", ParameterType::Repeated),
];

/// The build statuses, as filters take them.
const BUILD_STATUSES: &[&str] = &["QUEUED", "BUILDING", "COMPLETED", "FAILED", "CANCELED"];

/// The artifact types, as filters take them.
const ARTIFACT_TYPES: &[&str] = &[
    "DIRECTORY",
    "LOCKFILE",
    "LOGS",
    "YAML",
    "CONDA_PACK",
    "DOCKER_MANIFEST",
    "CONSTRUCTOR_INSTALLER",
    "CONTAINER_REGISTRY",
    "DOCKER_BLOB",
];

/// The filters of both environment lists.
const ENVIRONMENT_FILTERS: [Parameter; 7] = [
    Parameter::query("artifact", ParameterType::Choice(ARTIFACT_TYPES)),
    Parameter::query("jwt", ParameterType::String),
    Parameter::query("name", ParameterType::String),
    Parameter::query("namespace", ParameterType::String),
    Parameter::query("packages", ParameterType::Repeated),
    Parameter::query("search", ParameterType::String),
    Parameter::query("status", ParameterType::Choice(BUILD_STATUSES)),
];

/// The filters of the build list.
const BUILD_FILTERS: [Parameter; 6] = [
    Parameter::query("status", ParameterType::Choice(BUILD_STATUSES)),
    Parameter::query("packages", ParameterType::Repeated),
    Parameter::query("artifact", ParameterType::Choice(ARTIFACT_TYPES)),
    Parameter::query("environment_id", ParameterType::Integer),
    Parameter::query("name", ParameterType::String),
    Parameter::query("namespace", ParameterType::String),
];

/// The filters of the package lists.
const PACKAGE_FILTERS: [Parameter; 3] = [
    Parameter::query("search", ParameterType::String),
    Parameter::query("exact", ParameterType::String),
    Parameter::query("build", ParameterType::String),
];

/// Where to go after logging in or out.
const NEXT: [Parameter; 1] = [Parameter::query("next", ParameterType::String)];

/// Every route, in the order the original declares them.
pub fn routes() -> Vec<Route> {
    [
        account_routes(),
        namespace_routes(),
        environment_routes(),
        build_routes(),
        other_routes(),
        crate::admin::routes(),
        routes::ui::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `route(operation, handler)`: the handler answers the operation's method only.
pub fn route<H, T>(operation: Operation, handler: H) -> Route
where
    H: Handler<T, Arc<AppState>>,
    T: 'static,
{
    let filter = match operation.method {
        Method::POST => MethodFilter::POST,
        Method::PUT => MethodFilter::PUT,
        Method::DELETE => MethodFilter::DELETE,
        _ => MethodFilter::GET,
    };
    Route {
        operation,
        handler: on(filter, handler),
        documented: true,
        web_ui: false,
    }
}

/// A `GET` operation.
pub fn get(
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    answer: Answer,
) -> Operation {
    Operation::new(Method::GET, path, id, summary, answer)
}

/// A `POST` operation.
pub fn post(
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    answer: Answer,
) -> Operation {
    Operation::new(Method::POST, path, id, summary, answer)
}

/// A `PUT` operation.
fn put(path: &'static str, id: &'static str, summary: &'static str, answer: Answer) -> Operation {
    Operation::new(Method::PUT, path, id, summary, answer)
}

/// A `DELETE` operation.
fn delete(
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    answer: Answer,
) -> Operation {
    Operation::new(Method::DELETE, path, id, summary, answer)
}

/// The acknowledgement answer `{"status":"ok","message":...}`.
const ACKNOWLEDGED: Answer = Answer::Json(schemas::acknowledgement);

/// Login, logout, status, permissions, usage and tokens.
fn account_routes() -> Vec<Route> {
    vec![
        route(
            get(
                "/login/",
                "get_login_method",
                "The login form",
                Answer::Html,
            )
            .query(&NEXT),
            login::form,
        ),
        route(
            post(
                "/login/",
                "post_login_method",
                "Log in; sets the login cookie",
                Answer::Json(schemas::login),
            )
            .query(&NEXT)
            .body(of::<login::Credentials>),
            login::submit,
        ),
        route(
            post(
                "/logout/",
                "post_logout_method",
                "Log out; clears the login cookie",
                Answer::SeeOther,
            )
            .query(&NEXT),
            login::logout,
        ),
        route(
            get(
                "/oauth_callback/",
                "get_oauth_callback",
                "Where the OAuth provider sends the browser back",
                Answer::SeeOther,
            )
            .query(&[
                Parameter::query("code", ParameterType::String),
                Parameter::query("state", ParameterType::String),
            ]),
            login::oauth_callback,
        ),
        route(
            get(
                "/api/v1/",
                "api_status",
                "The server's version",
                Answer::Json(schemas::status),
            ),
            routes::status,
        ),
        route(
            get(
                "/api/v1/permission/",
                "api_get_permissions",
                "The caller's role bindings and permissions",
                Answer::Json(schemas::permission),
            ),
            routes::permission,
        ),
        route(
            get(
                "/api/v1/usage/",
                "api_get_usage",
                "Environments, builds and storage of each visible namespace",
                Answer::Json(enveloped::<BTreeMap<String, NamespaceUsage>>),
            ),
            routes::usage,
        ),
        route(
            post(
                "/api/v1/token/",
                "api_post_token",
                "A new token, no broader than the caller's",
                Answer::Json(schemas::token),
            )
            .body(of::<routes::TokenRequest>),
            routes::create_token,
        ),
    ]
}

/// Namespaces and their role mappings.
fn namespace_routes() -> Vec<Route> {
    const NAMESPACE: &str = "/api/v1/namespace/{namespace}/";
    const ROLE: &str = "/api/v1/namespace/{namespace}/role";
    vec![
        route(
            get(
                "/api/v1/namespace/",
                "api_list_namespaces",
                "Visible namespaces",
                Answer::Json(schemas::namespace_list),
            )
            .query(&PAGINATION),
            namespace::list,
        ),
        route(
            get(
                NAMESPACE,
                "api_get_namespace",
                "A namespace",
                Answer::Json(enveloped::<NamespaceView>),
            ),
            namespace::get,
        ),
        route(
            post(
                NAMESPACE,
                "api_create_namespace",
                "Create a namespace",
                ACKNOWLEDGED,
            ),
            namespace::create,
        ),
        route(
            put(
                NAMESPACE,
                "api_update_namespace",
                "Replace a namespace's metadata and v1 role mappings",
                ACKNOWLEDGED,
            )
            .body(of::<namespace::NamespaceUpdate>),
            namespace::update,
        ),
        route(
            delete(
                NAMESPACE,
                "api_delete_namespace",
                "Delete a namespace",
                ACKNOWLEDGED,
            ),
            namespace::delete,
        ),
        route(
            put(
                "/api/v1/namespace/{namespace}/metadata",
                "api_update_namespace_metadata",
                "Replace a namespace's metadata",
                ACKNOWLEDGED,
            )
            .body(schemas::object),
            namespace::update_metadata,
        ),
        route(
            get(
                "/api/v1/namespace/{namespace}/roles",
                "api_get_namespace_roles",
                "Who the namespace is shared with",
                Answer::Json(enveloped::<Vec<RoleMappingV2View>>),
            ),
            namespace::list_roles,
        ),
        route(
            delete(
                "/api/v1/namespace/{namespace}/roles",
                "api_delete_namespace_roles",
                "Stop sharing the namespace",
                ACKNOWLEDGED,
            ),
            namespace::delete_roles,
        ),
        route(
            get(
                ROLE,
                "api_get_namespace_role",
                "The role shared with one namespace",
                Answer::Json(enveloped::<RoleMappingV2View>),
            )
            .query(&[Parameter::required_query(
                "other_namespace",
                ParameterType::String,
            )]),
            namespace::get_role,
        ),
        route(
            post(
                ROLE,
                "api_create_namespace_role",
                "Share the namespace",
                ACKNOWLEDGED,
            )
            .body(of::<namespace::RoleBody>),
            namespace::create_role,
        ),
        route(
            put(
                ROLE,
                "api_update_namespace_role",
                "Change the shared role",
                ACKNOWLEDGED,
            )
            .body(of::<namespace::RoleBody>),
            namespace::update_role,
        ),
        route(
            delete(
                ROLE,
                "api_delete_namespace_role",
                "Stop sharing with one namespace",
                ACKNOWLEDGED,
            )
            .body(of::<namespace::OtherNamespaceBody>),
            namespace::delete_role,
        ),
    ]
}

/// Environments, their lockfiles, and specifications.
fn environment_routes() -> Vec<Route> {
    const ENVIRONMENT: &str = "/api/v1/environment/{namespace}/{environment_name}/";
    let mut routes = vec![
        route(
            get(
                "/api/v1/environment/",
                "api_list_environments_v1",
                "Visible environments (v1 pagination)",
                Answer::Json(paginated::<EnvironmentView>),
            )
            .query(&ENVIRONMENT_FILTERS)
            .query(&PAGINATION)
            .deprecated(),
            environment::list,
        ),
        route(
            get(
                "/api/v2/environment/",
                "api_list_environments_v2",
                "Visible environments (cursor pagination)",
                Answer::Json(schemas::environment_list_v2),
            )
            .query(&ENVIRONMENT_FILTERS)
            .query(&[
                Parameter::query("order", ParameterType::Choice(&["asc", "desc"])),
                Parameter::query("limit", ParameterType::Integer),
                Parameter::query("sort_by", ParameterType::Repeated),
                Parameter::query("cursor", ParameterType::String),
            ]),
            environment::list_v2,
        ),
        route(
            get(
                ENVIRONMENT,
                "api_get_environment",
                "An environment",
                Answer::Json(enveloped::<EnvironmentView>),
            ),
            environment::get,
        ),
        route(
            put(
                ENVIRONMENT,
                "api_update_environment_build",
                "Set the current build or the description",
                ACKNOWLEDGED,
            )
            .body(of::<environment::EnvironmentUpdate>),
            environment::update,
        ),
        route(
            delete(
                ENVIRONMENT,
                "api_delete_environment",
                "Delete an environment",
                ACKNOWLEDGED,
            ),
            environment::delete,
        ),
    ];
    for (path, id) in [
        (
            "/api/v1/environment/{namespace}/{environment_name}/lockfile/",
            "api_get_environment_lockfile",
        ),
        (
            "/api/v1/environment/{namespace}/{environment_name}/conda-lock.yml",
            "api_get_environment_conda_lock_yml",
        ),
        (
            "/api/v1/environment/{namespace}/{environment_name}/conda-lock.yaml",
            "api_get_environment_conda_lock_yaml",
        ),
    ] {
        routes.push(route(
            get(path, id, "The current build's lockfile", Answer::Redirect),
            environment::lockfile,
        ));
    }
    routes.push(route(
        get(
            "/api/v1/specification/",
            "api_get_specification",
            "Solve conda dependencies for this server's platform",
            Answer::Json(schemas::solve),
        )
        .query(&[
            Parameter::query("channel", ParameterType::Repeated),
            Parameter::query("conda", ParameterType::Repeated),
            Parameter::query("pip", ParameterType::Repeated),
        ]),
        specification::solve,
    ));
    routes.push(route(
        post(
            "/api/v1/specification/",
            "api_post_specification",
            "Create or update an environment; queues a build",
            Answer::Json(schemas::build_id),
        )
        .body(of::<specification::SpecificationRequest>),
        specification::create,
    ));
    routes
}

/// Builds and their artifacts.
fn build_routes() -> Vec<Route> {
    const BUILD: &str = "/api/v1/build/{build_id}/";
    let mut routes = vec![
        route(
            get(
                "/api/v1/build/",
                "api_list_builds",
                "Builds of visible environments",
                Answer::Json(paginated::<BuildView>),
            )
            .query(&BUILD_FILTERS)
            .query(&PAGINATION),
            build::list,
        ),
        route(
            get(
                BUILD,
                "api_get_build",
                "A build",
                Answer::Json(enveloped::<BuildView>),
            ),
            build::get,
        ),
        route(
            put(
                BUILD,
                "api_put_build",
                "Rebuild: a new build of the same specification",
                Answer::Json(schemas::build_id),
            ),
            build::rebuild,
        ),
        route(
            delete(
                BUILD,
                "api_delete_build",
                "Delete a finished build",
                ACKNOWLEDGED,
            ),
            build::delete,
        ),
        route(
            put(
                "/api/v1/build/{build_id}/cancel/",
                "api_put_build_cancel",
                "Cancel a build",
                ACKNOWLEDGED,
            ),
            build::cancel,
        ),
        route(
            get(
                "/api/v1/build/{build_id}/packages/",
                "api_get_build_packages",
                "Packages of a build",
                Answer::Json(paginated::<PackageView>),
            )
            .query(&PACKAGE_FILTERS)
            .query(&PAGINATION),
            build::packages,
        ),
        route(
            get(
                "/api/v1/build/{build_id}/logs/",
                "api_get_build_logs",
                "The build log",
                Answer::Redirect,
            ),
            build::logs,
        ),
        route(
            get(
                "/api/v1/build/{build_id}/logs/stream/",
                "api_get_build_logs_stream",
                "The build log as Server-Sent Events, followed while the build runs",
                Answer::EventStream,
            )
            .query(&[Parameter::query("offset", ParameterType::Integer)]),
            build::logs_stream,
        ),
        route(
            get(
                "/api/v1/build/{build_id}/yaml/",
                "api_get_build_yaml",
                "The environment YAML export",
                Answer::Redirect,
            ),
            build::yaml,
        ),
        route(
            get(
                "/api/v1/build/{build_id}/archive/",
                "api_get_build_archive",
                "The conda-pack archive",
                Answer::Redirect,
            ),
            build::archive,
        ),
        route(
            get(
                "/api/v1/build/{build_id}/installer/",
                "api_get_build_installer",
                "The constructor installer",
                Answer::Redirect,
            ),
            build::installer,
        ),
        route(
            get(
                "/api/v1/build/{build_id}/docker/",
                "api_get_build_docker_image_url",
                "Docker images (never built here)",
                Answer::Redirect,
            )
            .deprecated(),
            build::docker,
        ),
    ];
    for (path, id) in [
        (
            "/api/v1/build/{build_id}/lockfile/",
            "api_get_build_lockfile",
        ),
        (
            "/api/v1/build/{build_id}/conda-lock.yml",
            "api_get_build_conda_lock_yml",
        ),
        (
            "/api/v1/build/{build_id}/conda-lock.yaml",
            "api_get_build_conda_lock_yaml",
        ),
    ] {
        routes.push(route(
            get(path, id, "The build's lockfile", Answer::Redirect),
            build::lockfile,
        ));
    }
    routes
}

/// Channels, packages, settings, metrics, storage links and this document.
fn other_routes() -> Vec<Route> {
    const NAMESPACE: &str = "/api/v1/setting/{namespace}/";
    const ENVIRONMENT: &str = "/api/v1/setting/{namespace}/{environment_name}/";
    let settings = Answer::Json(enveloped::<Map<String, Value>>);
    let updated = Answer::Json(enveloped::<Option<()>>);
    vec![
        route(
            get(
                "/api/v1/channel/",
                "api_list_channels",
                "Conda channels",
                Answer::Json(paginated::<ChannelView>),
            )
            .query(&PAGINATION),
            package::channels,
        ),
        route(
            get(
                "/api/v1/package/",
                "api_list_packages",
                "Conda packages",
                Answer::Json(paginated::<PackageView>),
            )
            .query(&PACKAGE_FILTERS)
            .query(&[Parameter::query("distinct_on", ParameterType::Repeated)])
            .query(&PAGINATION),
            package::packages,
        ),
        route(
            get(
                "/api/v1/setting/",
                "api_get_settings_global",
                "Global settings",
                settings,
            ),
            setting::get_global,
        ),
        route(
            put(
                "/api/v1/setting/",
                "api_put_settings_global",
                "Change global settings",
                updated,
            )
            .body(schemas::object),
            setting::put_global,
        ),
        route(
            get(
                NAMESPACE,
                "api_get_settings_namespace",
                "A namespace's settings",
                settings,
            ),
            setting::get_namespace,
        ),
        route(
            put(
                NAMESPACE,
                "api_put_settings_namespace",
                "Change a namespace's settings",
                updated,
            )
            .body(schemas::object),
            setting::put_namespace,
        ),
        route(
            get(
                ENVIRONMENT,
                "api_get_settings_environment",
                "An environment's settings",
                settings,
            ),
            setting::get_environment,
        ),
        route(
            put(
                ENVIRONMENT,
                "api_put_settings_environment",
                "Change an environment's settings",
                updated,
            )
            .body(schemas::object),
            setting::put_environment,
        ),
        route(
            get(
                "/metrics",
                "prometheus_metrics",
                "Prometheus metrics",
                Answer::Text,
            ),
            routes::metrics,
        ),
        route(
            get(
                "/storage/{*key}",
                "get_storage_object",
                "A stored artifact, through a signed link",
                Answer::File,
            )
            .query(&[
                Parameter::query("expires", ParameterType::Integer),
                Parameter::query("signature", ParameterType::String),
            ]),
            crate::artifacts::serve,
        ),
        route(
            get(
                "/openapi.json",
                "get_openapi_document",
                "This OpenAPI document",
                Answer::Json(schemas::openapi),
            ),
            openapi_document,
        ),
        route(
            get(
                "/docs",
                "get_api_docs",
                "A page listing the operations",
                Answer::Html,
            ),
            docs_page,
        ),
    ]
}

/// The document of [`routes`] under the server's prefix.
pub fn document(prefix: &str) -> Value {
    let routes = routes();
    let documented = routes.iter().filter(|route| route.documented);
    crate::openapi::document(prefix, documented.map(|route| &route.operation))
}

/// `GET /openapi.json`.
async fn openapi_document(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(document(state.prefix()))
}

/// `GET /docs`.
async fn docs_page(State(state): State<Arc<AppState>>) -> Html<String> {
    let prefix = state.prefix();
    Html(crate::openapi::docs_page(prefix, &document(prefix)))
}
