//! The admin pages at `{prefix}/admin/`: server-rendered HTML for what the React UI
//! lacks (environment list and creation, builds with set-current / rebuild / cancel /
//! delete, the live build log, namespaces and their role mappings, the user's
//! permissions and tokens, the settings editor).
//!
//! Pages hold no rules of their own: reads call the same use-cases the REST routes
//! call with the same permission checks, and every form calls the REST handler of the
//! same action, so permissions and validation are the API's. Forms are POSTs carrying a
//! CSRF token ([`csrf`]). Anonymous callers who are refused a page are sent to the login
//! page, as the original does.

mod builds;
pub mod csrf;
mod environments;
pub mod html;
mod namespaces;
mod settings;
mod user;

use crate::AppState;
use crate::api::{Route, get, post, route};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::openapi::Answer;
use axum::extract::{FromRequestParts, OriginalUri};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::Utc;
use std::sync::Arc;

/// The admin routes: part of the web UI (served when `enable_ui` is on, as in the
/// original), not in the OpenAPI document.
pub fn routes() -> Vec<Route> {
    [
        environments::routes(),
        builds::routes(),
        namespaces::routes(),
        user::routes(),
        settings::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A hidden `GET` page route.
fn page<H, T>(path: &'static str, id: &'static str, summary: &'static str, handler: H) -> Route
where
    H: Handler<T, Arc<AppState>>,
    T: 'static,
{
    route(get(path, id, summary, Answer::Html), handler)
        .hidden()
        .web_ui()
}

/// A hidden `POST` form route (answers 303 to the page showing the outcome).
fn form<H, T>(path: &'static str, id: &'static str, summary: &'static str, handler: H) -> Route
where
    H: Handler<T, Arc<AppState>>,
    T: 'static,
{
    route(post(path, id, summary, Answer::SeeOther), handler)
        .hidden()
        .web_ui()
}

/// An admin request: the state, the caller, and what the pages need of the request.
pub struct Admin {
    /// What every handler can reach.
    pub state: Arc<AppState>,
    /// Who is calling.
    pub caller: Caller,
    /// The request's path and query, prefix included (the login page's `next`).
    location: String,
    method: Method,
    headers: HeaderMap,
}

impl FromRequestParts<Arc<AppState>> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state)
            .await
            .map_err(|error| error_page(state.prefix(), None, &error))?;
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |original| original.0.clone());
        let location = uri
            .path_and_query()
            .map_or_else(|| uri.path().to_owned(), |path| path.as_str().to_owned());
        Ok(Self {
            state: state.clone(),
            caller,
            location,
            method: parts.method.clone(),
            headers: parts.headers.clone(),
        })
    }
}

/// The decoded fields of a submitted form.
#[derive(Debug, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The last value of `name`, empty when absent.
    pub fn value(&self, name: &str) -> String {
        self.0
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
            .unwrap_or_default()
    }
}

impl Admin {
    /// The URL prefix without a trailing slash.
    pub fn prefix(&self) -> &str {
        self.state.prefix()
    }

    /// `{prefix}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.prefix())
    }

    /// A CSRF token for the forms of the page being rendered.
    pub fn csrf(&self) -> String {
        csrf::token(
            &self.state.authentication.secret,
            &self.headers,
            &self.caller,
            Utc::now().timestamp(),
        )
    }

    /// The fields of a form POST after checking where it comes from and its CSRF
    /// token; 403 otherwise.
    pub fn fields(&self, body: &[u8]) -> ApiResult<Fields> {
        let behind_proxy = self.state.service.settings().behind_proxy;
        if !csrf::is_same_origin(&self.headers, behind_proxy) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "cross-site form submission refused",
            ));
        }
        let fields = Fields(
            form_urlencoded::parse(body)
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
        );
        let valid = csrf::is_valid(
            &self.state.authentication.secret,
            &self.headers,
            &self.caller,
            &fields.value("csrf"),
            Utc::now().timestamp(),
        );
        if valid {
            Ok(fields)
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "the form's CSRF token is missing, invalid or expired; reload the page",
            ))
        }
    }

    /// A page titled `title` around `body` (HTML).
    pub fn page(&self, title: &str, body: &str) -> Response {
        self.page_with_status(StatusCode::OK, title, body)
    }

    /// A page answered with `status`.
    pub fn page_with_status(&self, status: StatusCode, title: &str, body: &str) -> Response {
        let user = self
            .caller
            .authenticated
            .then_some(self.caller.token.primary_namespace.as_str());
        (status, Html(html::layout(self.prefix(), title, user, body))).into_response()
    }

    /// 303 to `{prefix}{path}`.
    pub fn redirect(&self, path: &str) -> Response {
        Redirect::to(&self.url(path)).into_response()
    }

    /// 303 to the login page, coming back here afterwards.
    pub fn login_redirect(&self) -> Response {
        let next = html::segment(&self.location);
        Redirect::to(&self.url(&format!("/login/?next={next}"))).into_response()
    }

    /// The answer of a handler: its page, or the error as a page; an anonymous caller
    /// refused a page goes to the login page instead.
    pub fn respond(&self, result: ApiResult<Response>) -> Response {
        match result {
            Ok(response) => response,
            Err(error)
                if error.status == StatusCode::FORBIDDEN
                    && !self.caller.authenticated
                    && self.method == Method::GET =>
            {
                self.login_redirect()
            }
            Err(error) => {
                let user = self
                    .caller
                    .authenticated
                    .then_some(self.caller.token.primary_namespace.as_str());
                error_page(self.prefix(), user, &error)
            }
        }
    }

    /// 303 to the login page when the caller is not logged in.
    pub fn login_required(&self) -> Option<Response> {
        (!self.caller.authenticated).then(|| self.login_redirect())
    }
}

/// An error as a page with its status code.
fn error_page(prefix: &str, user: Option<&str>, error: &ApiError) -> Response {
    let title = error
        .status
        .canonical_reason()
        .unwrap_or("Error")
        .to_owned();
    let body = format!(
        r#"<p class="error">{} {}</p><p>{}</p>"#,
        error.status.as_u16(),
        html::escape(&error.message),
        html::link(&format!("{prefix}/admin/"), "Back to the environments")
    );
    (
        error.status,
        Html(html::layout(prefix, &title, user, &body)),
    )
        .into_response()
}

/// The JSON `data` of an API answer (a REST handler's response), for forms that need
/// what the action created (a build id, a token).
async fn answer_data(response: Response) -> ApiResult<serde_json::Value> {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map_err(|error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?;
    Ok(value.get("data").cloned().unwrap_or_default())
}
