//! `/admin/setting/[{ns}/[{env}/]]`: the runtime settings in effect at a level, and a
//! JSON editor that saves the keys changed through `PUT /api/v1/setting/...`.

use super::html::{escape, hidden, link, segment};
use super::{Admin, form, page};
use crate::api::Route;
use crate::error::{ApiError, ApiResult};
use crate::routes::setting;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use conda_store_service::RUNTIME_SETTINGS;
use serde_json::{Map, Value};

/// The settings routes: a page and a form per level.
pub(super) fn routes() -> Vec<Route> {
    const GLOBAL: &str = "/admin/setting/";
    const NAMESPACE: &str = "/admin/setting/{namespace}/";
    const ENVIRONMENT: &str = "/admin/setting/{namespace}/{environment_name}/";
    vec![
        page(
            GLOBAL,
            "admin_settings_global",
            "Global settings",
            show_global,
        ),
        form(
            GLOBAL,
            "admin_settings_global_save",
            "Save global settings",
            save_global,
        ),
        page(
            NAMESPACE,
            "admin_settings_namespace",
            "A namespace's settings",
            show_namespace,
        ),
        form(
            NAMESPACE,
            "admin_settings_namespace_save",
            "Save a namespace's settings",
            save_namespace,
        ),
        page(
            ENVIRONMENT,
            "admin_settings_environment",
            "An environment's settings",
            show_environment,
        ),
        form(
            ENVIRONMENT,
            "admin_settings_environment_save",
            "Save an environment's settings",
            save_environment,
        ),
    ]
}

/// A settings level as the path names it.
#[derive(Debug, Clone, Default)]
struct Level {
    namespace: Option<String>,
    environment: Option<String>,
}

impl Level {
    /// `/admin/setting/...` of this level.
    fn path(&self) -> String {
        let mut path = "/admin/setting/".to_owned();
        for part in [&self.namespace, &self.environment].into_iter().flatten() {
            path.push_str(&segment(part));
            path.push('/');
        }
        path
    }

    /// How the page names the level.
    fn title(&self) -> String {
        match (&self.namespace, &self.environment) {
            (Some(namespace), Some(environment)) => {
                format!("Settings of {namespace}/{environment}")
            }
            (Some(namespace), None) => format!("Settings of namespace {namespace}"),
            _ => "Global settings".to_owned(),
        }
    }

    /// Whether `key` can be set at this level (global-only keys only at the top).
    fn accepts(&self, key: &str) -> bool {
        self.namespace.is_none()
            || RUNTIME_SETTINGS
                .iter()
                .any(|(name, global)| *name == key && !global)
    }

    /// The settings in effect, through the API's handler (`setting::read`).
    async fn read(&self, admin: &Admin) -> ApiResult<Map<String, Value>> {
        let state = State(admin.state.clone());
        let caller = admin.caller.clone();
        let envelope = match (&self.namespace, &self.environment) {
            (Some(namespace), Some(environment)) => {
                setting::get_environment(
                    state,
                    caller,
                    Path((namespace.clone(), environment.clone())),
                )
                .await?
            }
            (Some(namespace), None) => {
                setting::get_namespace(state, caller, Path(namespace.clone())).await?
            }
            _ => setting::get_global(state, caller).await?,
        };
        Ok(envelope.data)
    }

    /// Stores `values` through the API's handler (`setting::update`); its message.
    async fn write(&self, admin: &Admin, values: &Map<String, Value>) -> ApiResult<String> {
        let state = State(admin.state.clone());
        let caller = admin.caller.clone();
        let body = Bytes::from(Value::Object(values.clone()).to_string());
        let envelope = match (&self.namespace, &self.environment) {
            (Some(namespace), Some(environment)) => {
                setting::put_environment(
                    state,
                    caller,
                    Path((namespace.clone(), environment.clone())),
                    body,
                )
                .await?
            }
            (Some(namespace), None) => {
                setting::put_namespace(state, caller, Path(namespace.clone()), body).await?
            }
            _ => setting::put_global(state, caller, body).await?,
        };
        Ok(envelope.message.unwrap_or_default())
    }
}

/// `GET /admin/setting/`.
async fn show_global(admin: Admin) -> Response {
    show(admin, Level::default()).await
}

/// `GET /admin/setting/{ns}/`.
async fn show_namespace(admin: Admin, Path(namespace): Path<String>) -> Response {
    let level = Level {
        namespace: Some(namespace),
        environment: None,
    };
    show(admin, level).await
}

/// `GET /admin/setting/{ns}/{env}/`.
async fn show_environment(
    admin: Admin,
    Path((namespace, environment)): Path<(String, String)>,
) -> Response {
    let level = Level {
        namespace: Some(namespace),
        environment: Some(environment),
    };
    show(admin, level).await
}

async fn show(admin: Admin, level: Level) -> Response {
    let result = async {
        let settings = level.read(&admin).await?;
        let editable: Map<String, Value> = settings
            .iter()
            .filter(|(key, _)| level.accepts(key))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        let text = serde_json::to_string_pretty(&editable).unwrap_or_default();
        settings_page(&admin, &level, &settings, &text, None, StatusCode::OK)
    }
    .await;
    admin.respond(result)
}

/// The page: the editable keys in a textarea, the rest read-only.
fn settings_page(
    admin: &Admin,
    level: &Level,
    settings: &Map<String, Value>,
    text: &str,
    message: Option<(&str, bool)>,
    status: StatusCode,
) -> ApiResult<Response> {
    let fixed: Map<String, Value> = settings
        .iter()
        .filter(|(key, _)| !level.accepts(key))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    let fixed = if fixed.is_empty() {
        String::new()
    } else {
        format!(
            "<h2>Set globally only</h2><pre>{}</pre>",
            escape(&serde_json::to_string_pretty(&fixed).unwrap_or_default())
        )
    };
    let message = message
        .map(|(text, failed)| {
            let class = if failed { "error" } else { "note" };
            format!(r#"<p class="{class}">{}</p>"#, escape(text))
        })
        .unwrap_or_default();
    let levels = [
        link(&admin.url("/admin/setting/"), "global"),
        level
            .namespace
            .as_ref()
            .map(|namespace| {
                link(
                    &admin.url(&format!("/admin/setting/{}/", segment(namespace))),
                    namespace,
                )
            })
            .unwrap_or_default(),
    ]
    .join(" ");
    let body = format!(
        r#"<p>Levels: {levels}</p>{message}
<p class="note">The settings in effect here. Keys whose value you change are stored at this level; the others keep following the level above.</p>
<form method="post" action="{action}">{csrf}
<textarea name="settings" rows="28">{text}</textarea>
<p><button type="submit">Save</button></p></form>{fixed}"#,
        action = escape(&admin.url(&level.path())),
        csrf = hidden("csrf", &admin.csrf()),
        text = escape(text),
    );
    Ok(admin.page_with_status(status, &level.title(), &body))
}

/// `POST /admin/setting/`.
async fn save_global(admin: Admin, body: Bytes) -> Response {
    save(admin, Level::default(), body).await
}

/// `POST /admin/setting/{ns}/`.
async fn save_namespace(admin: Admin, Path(namespace): Path<String>, body: Bytes) -> Response {
    let level = Level {
        namespace: Some(namespace),
        environment: None,
    };
    save(admin, level, body).await
}

/// `POST /admin/setting/{ns}/{env}/`.
async fn save_environment(
    admin: Admin,
    Path((namespace, environment)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let level = Level {
        namespace: Some(namespace),
        environment: Some(environment),
    };
    save(admin, level, body).await
}

/// Stores the keys whose value differs from the one in effect; on success back to
/// the page, on a refused value the page again with the text entered and why.
async fn save(admin: Admin, level: Level, body: Bytes) -> Response {
    let result = async {
        let text = admin.fields(&body)?.value("settings");
        let current = level.read(&admin).await.unwrap_or_default();
        let outcome = async {
            let submitted: Map<String, Value> = serde_json::from_str(&text).map_err(|error| {
                ApiError::bad_request(format!("settings must be a JSON object: {error}"))
            })?;
            let changed: Map<String, Value> = submitted
                .into_iter()
                .filter(|(key, value)| current.get(key) != Some(value))
                .collect();
            if changed.is_empty() {
                return Ok("nothing changed".to_owned());
            }
            level.write(&admin, &changed).await
        }
        .await;
        match outcome {
            Ok(_) => Ok(admin.redirect(&level.path())),
            Err(error) if error.status == StatusCode::FORBIDDEN => Err(error),
            Err(error) => settings_page(
                &admin,
                &level,
                &current,
                &text,
                Some((&error.message, true)),
                error.status,
            ),
        }
    }
    .await;
    admin.respond(result)
}
