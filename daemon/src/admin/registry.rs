//! The local registry served over Confluent's Schema Registry REST API, so producers
//! using Confluent's serializers register and look up schemas in Weir's `schemas/`
//! directory. Reads, registration with the compatibility check, lookups, compatibility
//! tests and per-subject config are served; deletes are refused, since a version is a
//! file and belongs in version control.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::schema::{
    Compatibility, IdIndex, LocalRegistry, Reference, RegisterError, SchemaError, SchemaType,
    Version,
};

mod ids;
use ids::{by_id, by_id_schema, id_subjects, id_versions};

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// The largest request body taken (a schema with its references' names): larger ones
/// are answered 413 before they are read.
const MAX_BODY: usize = 1 << 20;
/// The most versions one subject keeps.
const MAX_VERSIONS: usize = 1000;
/// The longest subject, as its folder name (file names stop at 255 bytes).
const MAX_SUBJECT_BYTES: usize = 200;

struct Shared {
    registry: LocalRegistry,
    /// One registration or config change at a time, so version numbers do not race.
    writes: std::sync::Mutex<()>,
    ids: std::sync::Mutex<IdIndex>,
}

type Api = State<Arc<Shared>>;
type Params = Query<HashMap<String, String>>;

/// The routes of Confluent's API over `registry`.
pub fn router(registry: LocalRegistry) -> Router {
    let shared = Arc::new(Shared {
        registry,
        writes: std::sync::Mutex::new(()),
        ids: std::sync::Mutex::new(IdIndex::default()),
    });
    Router::new()
        .route("/", get(|| async { reply(json!({})) }))
        .route("/subjects", get(subjects))
        .route("/subjects/{subject}", post(lookup).delete(refuse_delete))
        .route("/subjects/{subject}/versions", get(versions).post(register))
        .route(
            "/subjects/{subject}/versions/{version}",
            get(version).delete(refuse_delete),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(referenced_by),
        )
        .route(
            "/schemas/types",
            get(|| async { reply(json!(["AVRO", "JSON", "PROTOBUF"])) }),
        )
        .route("/schemas/ids/{id}", get(by_id))
        .route("/schemas/ids/{id}/schema", get(by_id_schema))
        .route("/schemas/ids/{id}/subjects", get(id_subjects))
        .route("/schemas/ids/{id}/versions", get(id_versions))
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(compatible_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compatible_one),
        )
        .route("/config", get(global_config).put(set_global_config))
        .route(
            "/config/{subject}",
            get(subject_config)
                .put(set_subject_config)
                .delete(delete_subject_config),
        )
        .route(
            "/mode",
            get(|| async { reply(json!({"mode": "READWRITE"})) }),
        )
        .route(
            "/mode/{subject}",
            get(|| async { reply(json!({"mode": "READWRITE"})) }),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// An error in Confluent's shape: HTTP status, `error_code`, `message`.
struct ApiError(StatusCode, u32, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error_code": self.1, "message": self.2});
        (
            self.0,
            [(header::CONTENT_TYPE, CONTENT_TYPE)],
            body.to_string(),
        )
            .into_response()
    }
}

impl From<SchemaError> for ApiError {
    fn from(e: SchemaError) -> Self {
        match e {
            SchemaError::NoSubject { subject, .. } => subject_not_found(&subject),
            SchemaError::NoVersion { .. } => ApiError(StatusCode::NOT_FOUND, 40402, e.to_string()),
            e => ApiError(StatusCode::INTERNAL_SERVER_ERROR, 50001, e.to_string()),
        }
    }
}

impl From<RegisterError> for ApiError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Invalid(m) => ApiError(StatusCode::UNPROCESSABLE_ENTITY, 42201, m),
            RegisterError::Incompatible(m) => ApiError(
                StatusCode::CONFLICT,
                409,
                format!("Schema being registered is incompatible with an earlier schema: {m}"),
            ),
            RegisterError::Schema(e) => e.into(),
            e @ RegisterError::Io { .. } => {
                ApiError(StatusCode::INTERNAL_SERVER_ERROR, 50001, e.to_string())
            }
        }
    }
}

fn subject_not_found(subject: &str) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        40401,
        format!("Subject '{subject}' not found."),
    )
}

fn schema_not_found(what: String) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        40403,
        format!("Schema {what} not found"),
    )
}

type Reply = Result<Response, ApiError>;

fn reply(body: Value) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body.to_string()).into_response()
}

/// Runs registry work (file reads, schema compiles) off the async workers.
async fn blocking<T: Send + 'static>(
    api: Arc<Shared>,
    work: impl FnOnce(&Shared) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || work(&api))
        .await
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, 50001, e.to_string()))?
}

/// The body of a registration, lookup or compatibility test.
#[derive(Deserialize)]
struct SchemaBody {
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<Reference>,
}

fn parse_body(body: &[u8]) -> Result<SchemaBody, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            42201,
            format!("Invalid schema request: {e}"),
        )
    })
}

fn schema_type(name: Option<&str>) -> Result<SchemaType, ApiError> {
    match name.unwrap_or("AVRO") {
        "AVRO" => Ok(SchemaType::Avro),
        "JSON" => Ok(SchemaType::Json),
        "PROTOBUF" => Ok(SchemaType::Protobuf),
        other => Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            42201,
            format!("Invalid schema type {other}; use AVRO, JSON or PROTOBUF"),
        )),
    }
}

fn candidate(shared: &Shared, subject: &str, body: &[u8]) -> Result<Version, ApiError> {
    subject_ok(subject)?;
    let body = parse_body(body)?;
    let t = schema_type(body.schema_type.as_deref())?;
    Ok(shared
        .registry
        .candidate(subject, t, &body.schema, body.references)?)
}

/// Refuses a subject no folder can hold: empty, or over [`MAX_SUBJECT_BYTES`] once
/// encoded as a folder name.
fn subject_ok(subject: &str) -> Result<(), ApiError> {
    let folder = crate::schema::subject_dir(subject);
    if subject.is_empty() || folder.len() > MAX_SUBJECT_BYTES {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            42201,
            format!(
                "a subject must be 1 to {MAX_SUBJECT_BYTES} bytes as a folder name; this one is {}",
                folder.len()
            ),
        ));
    }
    Ok(())
}

/// Refuses a registration that would give a subject more than [`MAX_VERSIONS`].
fn room_for_one_more(existing: usize) -> Result<(), ApiError> {
    if existing >= MAX_VERSIONS {
        return Err(ApiError(
            StatusCode::UNPROCESSABLE_ENTITY,
            42201,
            format!(
                "the subject has {existing} versions, the most Weir keeps; register under a new subject"
            ),
        ));
    }
    Ok(())
}

/// A version as the API describes it.
fn described(shared: &Shared, v: &Version, params: &Params) -> Result<Value, ApiError> {
    Ok(json!({
        "subject": v.subject,
        "version": v.version,
        "id": v.id,
        "schemaType": v.schema_type.api_name(),
        "schema": schema_text(shared, v, params)?,
        "references": v.references,
    }))
}

/// The schema as asked: with `format=serialized`, a Protobuf schema is its compiled
/// `FileDescriptorProto` in base64 (what Confluent's Python and Go serializers ask for
/// with `use.latest.version`); otherwise, and for Avro and JSON, the text as stored.
fn schema_text(shared: &Shared, v: &Version, params: &Params) -> Result<String, ApiError> {
    use base64::Engine;
    use prost::Message;
    let serialized = params.get("format").is_some_and(|f| f == "serialized");
    if !serialized || v.schema_type != SchemaType::Protobuf {
        return Ok(v.text.clone());
    }
    let file = crate::schema::protobuf::compile_version(v, Some(shared.registry.root()))
        .map_err(|e| ApiError(StatusCode::INTERNAL_SERVER_ERROR, 50001, e))?;
    let bytes = file.file_descriptor_proto().encode_to_vec();
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// `latest`, `-1`, or a version number.
fn find_version(shared: &Shared, subject: &str, version: &str) -> Result<Version, ApiError> {
    let wanted = match version {
        "latest" | "-1" => None,
        v if v.parse::<u32>().is_ok_and(|n| n > 0) => Some(v),
        v => {
            return Err(ApiError(
                StatusCode::UNPROCESSABLE_ENTITY,
                42202,
                format!(
                    "The specified version '{v}' is not a valid version id. Allowed values are \
                     between [1, 2^31-1] and the string \"latest\""
                ),
            ));
        }
    };
    Ok(shared.registry.version(subject, wanted)?)
}

fn all_versions(shared: &Shared) -> Result<Vec<Version>, ApiError> {
    let mut all = Vec::new();
    for subject in shared.registry.subjects() {
        all.extend(shared.registry.versions(&subject)?);
    }
    Ok(all)
}

async fn subjects(State(api): Api) -> Reply {
    blocking(api, |s| {
        let mut names = Vec::new();
        for subject in s.registry.subjects() {
            if !s.registry.versions(&subject)?.is_empty() {
                names.push(subject);
            }
        }
        Ok(reply(json!(names)))
    })
    .await
}

async fn versions(State(api): Api, Path(subject): Path<String>) -> Reply {
    blocking(api, move |s| {
        let numbers: Vec<u32> = s
            .registry
            .versions(&subject)?
            .iter()
            .map(|v| v.version)
            .collect();
        if numbers.is_empty() {
            return Err(subject_not_found(&subject));
        }
        Ok(reply(json!(numbers)))
    })
    .await
}

async fn version(
    State(api): Api,
    Path((subject, version)): Path<(String, String)>,
    params: Params,
) -> Reply {
    blocking(api, move |s| {
        let v = find_version(s, &subject, &version)?;
        Ok(reply(described(s, &v, &params)?))
    })
    .await
}

async fn version_schema(State(api): Api, Path((subject, v)): Path<(String, String)>) -> Reply {
    blocking(api, move |s| Ok(raw(&find_version(s, &subject, &v)?))).await
}

/// The schema text alone: the document for Avro and JSON, the source for Protobuf.
fn raw(v: &Version) -> Response {
    let body = match v.schema_type {
        SchemaType::Protobuf => v.text.clone(),
        _ => v.text.trim().to_string(),
    };
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response()
}

async fn referenced_by(State(api): Api, Path((subject, v)): Path<(String, String)>) -> Reply {
    blocking(api, move |s| {
        let target = find_version(s, &subject, &v)?;
        let ids: Vec<u32> = all_versions(s)?
            .iter()
            .filter(|v| {
                v.references
                    .iter()
                    .any(|r| r.subject == target.subject && r.version == target.version)
            })
            .map(|v| v.id)
            .collect();
        Ok(reply(json!(ids)))
    })
    .await
}

async fn register(State(api): Api, Path(subject): Path<String>, body: Bytes) -> Reply {
    blocking(api, move |s| {
        // The candidate takes the next version number, so it is made under the lock.
        let _one_writer = s.writes.lock().unwrap_or_else(|p| p.into_inner());
        let c = candidate(s, &subject, &body)?;
        let existing = s.registry.versions(&subject).map_or(0, |v| v.len());
        room_for_one_more(existing)?;
        let v = s.registry.register(c)?;
        tracing::info!(subject = %v.subject, version = v.version, id = v.id, "schema registered");
        Ok(reply(
            json!({"id": v.id, "subject": v.subject, "version": v.version}),
        ))
    })
    .await
}

async fn lookup(
    State(api): Api,
    Path(subject): Path<String>,
    params: Params,
    body: Bytes,
) -> Reply {
    blocking(api, move |s| {
        s.registry.versions(&subject)?;
        let c = candidate(s, &subject, &body)?;
        match s.registry.lookup(&subject, &c)? {
            Some(v) => Ok(reply(described(s, &v, &params)?)),
            None => Err(schema_not_found(format!("for subject '{subject}'"))),
        }
    })
    .await
}

async fn refuse_delete() -> ApiError {
    ApiError(
        StatusCode::METHOD_NOT_ALLOWED,
        405,
        "Weir's registry keeps each version as a file; remove the file from the registry \
         directory to delete it"
            .into(),
    )
}

fn verdict(result: Result<(), String>, params: &HashMap<String, String>) -> Response {
    let verbose = params.get("verbose").is_some_and(|v| v == "true");
    match result {
        Ok(()) => reply(json!({"is_compatible": true})),
        Err(m) if verbose => reply(json!({"is_compatible": false, "messages": [m]})),
        Err(_) => reply(json!({"is_compatible": false})),
    }
}

async fn compatible_all(
    State(api): Api,
    Path(subject): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Reply {
    blocking(api, move |s| {
        let c = candidate(s, &subject, &body)?;
        Ok(verdict(s.registry.compatible(&c, None), &params))
    })
    .await
}

async fn compatible_one(
    State(api): Api,
    Path((subject, version)): Path<(String, String)>,
    Query(params): Params,
    body: Bytes,
) -> Reply {
    blocking(api, move |s| {
        let against = find_version(s, &subject, &version)?;
        let c = candidate(s, &subject, &body)?;
        Ok(verdict(s.registry.compatible(&c, Some(&against)), &params))
    })
    .await
}

async fn global_config(State(api): Api) -> Reply {
    blocking(api, |s| {
        let mode = s.registry.configured(None)?.unwrap_or_default();
        Ok(reply(json!({"compatibilityLevel": mode.as_str()})))
    })
    .await
}

async fn subject_config(
    State(api): Api,
    Path(subject): Path<String>,
    Query(params): Params,
) -> Reply {
    blocking(api, move |s| {
        let mode = match s.registry.configured(Some(&subject))? {
            Some(mode) => mode,
            None if params.get("defaultToGlobal").is_some_and(|v| v == "true") => {
                s.registry.compatibility(&subject)?
            }
            None => {
                return Err(ApiError(
                    StatusCode::NOT_FOUND,
                    40408,
                    format!(
                        "Subject '{subject}' does not have subject-level compatibility configured"
                    ),
                ));
            }
        };
        Ok(reply(json!({"compatibilityLevel": mode.as_str()})))
    })
    .await
}

#[derive(Deserialize)]
struct ConfigBody {
    compatibility: String,
}

fn parse_mode(body: &[u8]) -> Result<Compatibility, ApiError> {
    let invalid = |m: String| ApiError(StatusCode::UNPROCESSABLE_ENTITY, 42203, m);
    let body: ConfigBody =
        serde_json::from_slice(body).map_err(|e| invalid(format!("Invalid config: {e}")))?;
    serde_json::from_value(Value::String(body.compatibility.clone())).map_err(|_| {
        invalid(format!(
            "Invalid compatibility level {}; use BACKWARD, BACKWARD_TRANSITIVE, FORWARD, \
             FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE or NONE",
            body.compatibility
        ))
    })
}

async fn set_global_config(State(api): Api, body: Bytes) -> Reply {
    blocking(api, move |s| {
        let mode = parse_mode(&body)?;
        let _one_writer = s.writes.lock().unwrap_or_else(|p| p.into_inner());
        s.registry.set_compatibility(None, Some(mode))?;
        Ok(reply(json!({"compatibility": mode.as_str()})))
    })
    .await
}

async fn set_subject_config(State(api): Api, Path(subject): Path<String>, body: Bytes) -> Reply {
    blocking(api, move |s| {
        let mode = parse_mode(&body)?;
        let _one_writer = s.writes.lock().unwrap_or_else(|p| p.into_inner());
        s.registry.set_compatibility(Some(&subject), Some(mode))?;
        Ok(reply(json!({"compatibility": mode.as_str()})))
    })
    .await
}

async fn delete_subject_config(State(api): Api, Path(subject): Path<String>) -> Reply {
    blocking(api, move |s| {
        let _one_writer = s.writes.lock().unwrap_or_else(|p| p.into_inner());
        let before = s.registry.configured(Some(&subject))?;
        s.registry.set_compatibility(Some(&subject), None)?;
        let mode = before.unwrap_or(s.registry.compatibility(&subject)?);
        Ok(reply(json!({"compatibilityLevel": mode.as_str()})))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_and_versions_are_bounded() {
        assert!(subject_ok("orders-value").is_ok());
        assert!(subject_ok("").is_err());
        assert!(subject_ok(&"x".repeat(MAX_SUBJECT_BYTES)).is_ok());
        // Each `/` is three bytes as a folder name.
        assert!(subject_ok(&"/".repeat(MAX_SUBJECT_BYTES / 3 + 1)).is_err());
        assert!(room_for_one_more(MAX_VERSIONS - 1).is_ok());
        let full = room_for_one_more(MAX_VERSIONS).unwrap_err();
        assert_eq!((full.0, full.1), (StatusCode::UNPROCESSABLE_ENTITY, 42201));
    }
}
