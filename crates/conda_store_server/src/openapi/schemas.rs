//! Schemas of the answers the handlers write as ad-hoc JSON (`serde_json::json!`), and
//! the function that turns a Rust type into a schema. Each names the handler whose
//! output it describes; the schemathesis run checks the answers against them.

use conda_store_service::views::{NamespaceSummary, NamespaceView};
use schemars::generate::SchemaGenerator;
use schemars::{JsonSchema, Schema, json_schema};
use serde_json::{Value, json};

/// Makes the schema of a request body or an answer, registering the components it
/// refers to with the generator.
pub type SchemaFunction = fn(&mut SchemaGenerator) -> Schema;

/// The schema of the Rust type `T` (a reference to a component for named types).
pub fn of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// The envelope around the Rust type `T` (`envelope::Envelope<T>`).
pub fn enveloped<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    envelope(generator.subschema_for::<T>())
}

/// A page of a v1 list of `T` (`envelope::Paginated<T>`).
pub fn paginated<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<T>();
    json_schema!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok"]},
            "data": {"type": "array", "items": item},
            "message": {"type": ["string", "null"]},
            "page": {"type": "integer"},
            "size": {"type": "integer"},
            "count": {"type": "integer"},
        },
        "required": ["status", "data", "message", "page", "size", "count"],
    })
}

/// `{"status":"error","message":...}`, the answer of every failure (`ApiError`).
pub fn error_json() -> Value {
    json!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["error"]},
            "message": {"type": "string"},
        },
        "required": ["status", "message"],
    })
}

/// The envelope `{"status","data","message"}` around `data`.
fn envelope(data: Schema) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok"]},
            "data": data,
            "message": {"type": ["string", "null"]},
        },
        "required": ["status", "data", "message"],
    })
}

/// `{"status":"ok","message":...}` (`envelope::acknowledge`).
pub fn acknowledgement(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok"]},
            "message": {"type": ["string", "null"]},
        },
        "required": ["status", "message"],
    })
}

/// `GET /api/v1/`: `{"version"}` in the envelope.
pub fn status(_: &mut SchemaGenerator) -> Schema {
    envelope(json_schema!({
        "type": "object",
        "properties": {"version": {"type": "string"}},
        "required": ["version"],
    }))
}

/// `GET /api/v1/permission/`: the caller's bindings and permissions.
pub fn permission(_: &mut SchemaGenerator) -> Schema {
    let lists = json!({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}});
    envelope(json_schema!({
        "type": "object",
        "properties": {
            "authenticated": {"type": "boolean"},
            "primary_namespace": {"type": "string"},
            "entity_permissions": lists,
            "entity_roles": lists,
            "expiration": {"type": ["string", "null"]},
        },
        "required": ["authenticated", "primary_namespace", "entity_permissions", "entity_roles", "expiration"],
    }))
}

/// `POST /api/v1/token/`: `{"token"}` in the envelope.
pub fn token(_: &mut SchemaGenerator) -> Schema {
    envelope(json_schema!({
        "type": "object",
        "properties": {"token": {"type": "string"}},
        "required": ["token"],
    }))
}

/// `POST /api/v1/specification/` and `PUT /api/v1/build/{id}/`: `{"build_id"}` in
/// the envelope.
pub fn build_id(_: &mut SchemaGenerator) -> Schema {
    envelope(json_schema!({
        "type": "object",
        "properties": {"build_id": {"type": "integer"}},
        "required": ["build_id"],
    }))
}

/// `GET /api/v1/namespace/`: the paginated envelope without `message`.
pub fn namespace_list(generator: &mut SchemaGenerator) -> Schema {
    let item = generator.subschema_for::<NamespaceSummary>();
    json_schema!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok"]},
            "data": {"type": "array", "items": item},
            "page": {"type": "integer"},
            "size": {"type": "integer"},
            "count": {"type": "integer"},
        },
        "required": ["status", "data", "page", "size", "count"],
    })
}

/// `GET /api/v2/environment/`: environments without `current_build`, a cursor and
/// the count.
pub fn environment_list_v2(generator: &mut SchemaGenerator) -> Schema {
    let namespace = generator.subschema_for::<NamespaceView>();
    json_schema!({
        "type": "object",
        "properties": {
            "data": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "namespace": namespace,
                    "name": {"type": "string"},
                    "current_build_id": {"type": ["integer", "null"]},
                    "description": {"type": ["string", "null"]},
                },
                "required": ["id", "namespace", "name", "current_build_id", "description"],
            }},
            "status": {"type": "string", "enum": ["ok"]},
            "message": {"type": "null"},
            "cursor": {"type": "string"},
            "count": {"type": "integer"},
        },
        "required": ["data", "status", "message", "cursor", "count"],
    })
}

/// `GET /api/v1/specification/`: `{"solve": [...]}` without an envelope.
pub fn solve(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {"solve": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "build": {"type": "string"},
                "channel": {"type": ["string", "null"]},
                "size": {"type": ["integer", "null"]},
            },
            "required": ["name", "version", "build", "channel", "size"],
        }}},
        "required": ["solve"],
    })
}

/// `POST /login/`: `{"status","data":{"redirect_url"}}`.
pub fn login(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": ["ok"]},
            "data": {
                "type": "object",
                "properties": {"redirect_url": {"type": "string"}},
                "required": ["redirect_url"],
            },
        },
        "required": ["status", "data"],
    })
}

/// `GET /openapi.json`: an OpenAPI document.
pub fn openapi(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "properties": {"openapi": {"type": "string"}, "paths": {"type": "object"}},
        "required": ["openapi", "paths"],
    })
}

/// A JSON object of any keys (settings, metadata).
pub fn object(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "object"})
}
