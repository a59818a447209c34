//! The OpenAPI 3.1 document of this server, built from the same route table the router
//! is built from ([`crate::api::routes`]), so it cannot drift from the routes served:
//! path parameters come from the route paths, JSON answers and request bodies from
//! the Rust types the handlers serialise and read (`schemars`), and the few answers the
//! handlers write as ad-hoc JSON from the schemas in [`schemas`]. Served at
//! `{prefix}/openapi.json`, with a self-contained page listing it at `{prefix}/docs`.

use crate::admin::html::escape;
use axum::http::Method;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemas::SchemaFunction;
use serde_json::{Map, Value, json};

pub mod schemas;

/// Where a parameter is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A segment of the path.
    Path,
    /// A key of the query string.
    Query,
}

/// The type of a parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterType {
    /// Any text.
    String,
    /// A whole number.
    Integer,
    /// A key that may be repeated (`?packages=a&packages=b`), each value text.
    Repeated,
    /// One of a fixed set of words.
    Choice(&'static [&'static str]),
}

/// One path or query parameter of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parameter {
    /// Its name, as the original names it.
    pub name: &'static str,
    /// Path or query.
    pub location: Location,
    /// The type of its value.
    pub kind: ParameterType,
    /// Whether it must be given (path parameters always must).
    pub required: bool,
}

impl Parameter {
    /// An optional query parameter.
    pub const fn query(name: &'static str, kind: ParameterType) -> Self {
        Self {
            name,
            location: Location::Query,
            kind,
            required: false,
        }
    }

    /// A query parameter that must be given.
    pub const fn required_query(name: &'static str, kind: ParameterType) -> Self {
        Self {
            name,
            location: Location::Query,
            kind,
            required: true,
        }
    }

    /// The parameter object of the document.
    fn to_json(self) -> Value {
        let schema = match self.kind {
            ParameterType::String => json!({"type": "string"}),
            ParameterType::Integer => json!({"type": "integer"}),
            ParameterType::Repeated => json!({"type": "array", "items": {"type": "string"}}),
            ParameterType::Choice(words) => json!({"type": "string", "enum": words}),
        };
        let location = match self.location {
            Location::Path => "path",
            Location::Query => "query",
        };
        let mut parameter = json!({
            "name": self.name,
            "in": location,
            "required": self.required,
            "schema": schema,
        });
        if self.kind == ParameterType::Repeated {
            parameter["style"] = json!("form");
            parameter["explode"] = json!(true);
        }
        parameter
    }
}

/// What a successful call answers.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    /// 200 with a JSON body of this schema.
    Json(SchemaFunction),
    /// 307 to a signed storage link (the artifact downloads).
    Redirect,
    /// 200 with a stored file of any type.
    File,
    /// 200 with text (the Prometheus metrics).
    Text,
    /// 200 with an HTML page.
    Html,
    /// 200 with a stream of Server-Sent Events (`text/event-stream`).
    EventStream,
    /// 303 to the next page (logout).
    SeeOther,
}

/// One operation: a method on a path, with what it reads and answers.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The HTTP method.
    pub method: Method,
    /// The path as the router declares it, below the URL prefix (`{*key}` for a
    /// wildcard).
    pub path: &'static str,
    /// The `operationId`.
    pub id: &'static str,
    /// One line saying what it does.
    pub summary: &'static str,
    /// Query parameters (path parameters come from `path`).
    pub query: Vec<Parameter>,
    /// The schema of the JSON request body, if it takes one.
    pub body: Option<SchemaFunction>,
    /// What it answers on success.
    pub answer: Answer,
    /// Whether the original marks it deprecated.
    pub deprecated: bool,
}

impl Operation {
    /// An operation answering `answer`, with no query parameters and no body.
    pub fn new(
        method: Method,
        path: &'static str,
        id: &'static str,
        summary: &'static str,
        answer: Answer,
    ) -> Self {
        Self {
            method,
            path,
            id,
            summary,
            query: Vec::new(),
            body: None,
            answer,
            deprecated: false,
        }
    }

    /// Adds query parameters.
    pub fn query(mut self, parameters: &[Parameter]) -> Self {
        self.query.extend_from_slice(parameters);
        self
    }

    /// Sets the JSON request body's schema.
    pub fn body(mut self, schema: SchemaFunction) -> Self {
        self.body = Some(schema);
        self
    }

    /// Marks the operation deprecated.
    pub fn deprecated(mut self) -> Self {
        self.deprecated = true;
        self
    }

    /// The path as the document writes it: `{*key}` becomes `{key}`.
    pub fn document_path(&self) -> String {
        self.path.replace("{*", "{")
    }

    /// The path parameters, in order; `build_id` is an integer, the rest text.
    pub fn path_parameters(&self) -> Vec<Parameter> {
        self.path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| {
                let name = name.trim_start_matches('*');
                Parameter {
                    name,
                    location: Location::Path,
                    kind: if name == "build_id" {
                        ParameterType::Integer
                    } else {
                        ParameterType::String
                    },
                    required: true,
                }
            })
            .collect()
    }
}

/// The statuses of the error envelope every API operation may answer.
const ERROR_STATUSES: [(&str, &str); 6] = [
    ("400", "Bad request"),
    ("401", "Not authenticated"),
    ("403", "Not authorized"),
    ("404", "Not found"),
    ("409", "Conflict"),
    ("422", "Unprocessable request"),
];

/// The OpenAPI document of `operations`, served under `prefix` (`""` for the root).
pub fn document<'a>(prefix: &str, operations: impl IntoIterator<Item = &'a Operation>) -> Value {
    let mut responses = generator(SchemaSettings::draft2020_12().for_serialize());
    let mut requests = generator(SchemaSettings::draft2020_12().for_deserialize());
    let mut paths = Map::new();
    for operation in operations {
        let entry = paths
            .entry(operation.document_path())
            .or_insert_with(|| json!({}));
        entry[operation.method.as_str().to_ascii_lowercase()] =
            operation_json(operation, &mut responses, &mut requests);
    }
    let mut components = requests.take_definitions(true);
    components.extend(responses.take_definitions(true));
    components.insert("APIErrorResponse".to_owned(), schemas::error_json());
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "conda-store",
            "description": "The REST API of conda-store-server (Rust), wire-compatible with conda-store 2025.2.2.",
            "license": {"name": "BSD 3-Clause", "url": "https://opensource.org/licenses/BSD-3-Clause"},
            "version": conda_store_core::VERSION,
        },
        "servers": [{"url": if prefix.is_empty() { "/" } else { prefix }}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": crate::auth::COOKIE_NAME},
            },
        },
    })
}

/// A schema generator whose references point into `#/components/schemas`.
fn generator(settings: SchemaSettings) -> SchemaGenerator {
    settings
        .with(|settings| {
            settings.definitions_path = "/components/schemas".into();
            settings.meta_schema = None;
        })
        .into_generator()
}

/// The operation object of `operation`.
fn operation_json(
    operation: &Operation,
    responses: &mut SchemaGenerator,
    requests: &mut SchemaGenerator,
) -> Value {
    let parameters: Vec<Value> = operation
        .path_parameters()
        .into_iter()
        .chain(operation.query.iter().copied())
        .map(Parameter::to_json)
        .collect();
    let mut object = json!({
        "operationId": operation.id,
        "summary": operation.summary,
        "parameters": parameters,
        "responses": responses_json(operation, responses),
    });
    if let Some(body) = operation.body {
        object["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": body(requests)}},
        });
    }
    if operation.deprecated {
        object["deprecated"] = json!(true);
    }
    object
}

/// The responses object: the success answer and the error envelope.
fn responses_json(operation: &Operation, generator: &mut SchemaGenerator) -> Value {
    let mut responses = Map::new();
    let (status, success) = match operation.answer {
        Answer::Json(schema) => (
            "200",
            json!({"description": "Successful answer",
                   "content": {"application/json": {"schema": schema(generator)}}}),
        ),
        Answer::Redirect => (
            "307",
            json!({"description": "Redirect to a signed link to the file",
                   "headers": {"Location": {"schema": {"type": "string"}}}}),
        ),
        Answer::File => (
            "200",
            json!({"description": "The stored file", "content": {"*/*": {}}}),
        ),
        Answer::Text => (
            "200",
            json!({"description": "Prometheus text", "content": {"text/plain": {"schema": {"type": "string"}}}}),
        ),
        Answer::Html => (
            "200",
            json!({"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}),
        ),
        Answer::EventStream => (
            "200",
            json!({"description": "Server-Sent Events: `log` events carry the text appended to the log, one `end` event carries the build's final status",
                   "content": {"text/event-stream": {"schema": {"type": "string"}}}}),
        ),
        Answer::SeeOther => (
            "303",
            json!({"description": "Redirect to the next page",
                   "headers": {"Location": {"schema": {"type": "string"}}}}),
        ),
    };
    responses.insert(status.to_owned(), success);
    let body_statuses = operation
        .body
        .is_some()
        .then_some(("415", "The body is not sent as application/json"));
    for (status, description) in ERROR_STATUSES.into_iter().chain(body_statuses) {
        responses.insert(
            status.to_owned(),
            json!({
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/APIErrorResponse"}}},
            }),
        );
    }
    Value::Object(responses)
}

/// A self-contained HTML page listing the operations of `document` (no scripts, no
/// external assets), linking to the document itself.
pub fn docs_page(prefix: &str, document: &Value) -> String {
    let mut rows = String::new();
    if let Some(paths) = document["paths"].as_object() {
        for (path, methods) in paths {
            for (method, operation) in methods.as_object().into_iter().flatten() {
                rows.push_str(&operation_row(prefix, path, method, operation));
            }
        }
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>conda-store API</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; text-align: left; vertical-align: top; }}
code {{ font-size: 0.95em; }}
.deprecated {{ text-decoration: line-through; }}
</style></head>
<body>
<h1>conda-store API</h1>
<p>The machine-readable OpenAPI 3.1 document: <a href="{prefix}/openapi.json"><code>{prefix}/openapi.json</code></a>.
Authenticate with <code>Authorization: Bearer TOKEN</code>, basic authentication, or the login cookie.</p>
<table>
<tr><th>Method</th><th>Path</th><th>Summary</th><th>Parameters</th><th>Answers</th></tr>
{rows}</table>
</body></html>
"#,
        prefix = escape(prefix),
    )
}

/// One row of the docs page.
fn operation_row(prefix: &str, path: &str, method: &str, operation: &Value) -> String {
    let parameters: Vec<String> = operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|parameter| {
            let name = parameter["name"].as_str().unwrap_or_default();
            let location = parameter["in"].as_str().unwrap_or_default();
            format!("<code>{}</code> ({location})", escape(name))
        })
        .collect();
    let answers: Vec<&str> = operation["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(status, _)| status.as_str())
        .collect();
    let class = if operation["deprecated"] == json!(true) {
        " class=\"deprecated\""
    } else {
        ""
    };
    format!(
        "<tr{class}><td>{}</td><td><code>{}{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        method.to_ascii_uppercase(),
        escape(prefix),
        escape(path),
        escape(operation["summary"].as_str().unwrap_or_default()),
        parameters.join(", "),
        answers.join(" "),
    )
}
