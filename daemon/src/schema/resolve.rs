//! A pipeline's schema from the registry: the subject's versions are checked in order
//! under its compatibility mode (a version that fails is refused, as a registry would
//! have refused it), the pipeline's version is picked (pinned, or the newest accepted),
//! and for Avro and Protobuf records the widest columns over the accepted versions up to
//! it are built, with a reader for every writer version.

use std::collections::HashMap;
use std::sync::Arc;

use super::compat::sort_out;
use super::registry::{LocalRegistry, SchemaError, SchemaType, Version};
use super::widest::{widen_arrow, widest};
use super::{Schema, protobuf};
use crate::config::SchemaConfig;
use crate::wire::avro::{AvroSpec, Writer};
use crate::wire::json::JsonFrames;
use crate::wire::protobuf::{ProtoSpec, ProtoWriter};
use crate::wire::{Encoding, WireSpec};

/// Resolves and compiles the schema a pipeline names.
pub fn resolve(registry: &LocalRegistry, config: &SchemaConfig) -> Result<Schema, SchemaError> {
    let subject = &config.subject;
    let versions = registry.versions(subject)?;
    let mode = registry.compatibility(subject)?;
    let (accepted, refused) = sort_out(mode, &versions);
    // Validates the requested version and reports a missing one with the versions there.
    let wanted = registry.version(subject, config.version.as_deref())?;
    let target = match config.version.as_deref() {
        None | Some("latest") => accepted
            .last()
            .cloned()
            .ok_or_else(|| invalid(&wanted, "no version passes the compatibility check".into()))?,
        Some(_) => {
            if let Some((_, reason)) = refused.iter().find(|(n, _)| *n == wanted.version) {
                return Err(invalid(
                    &wanted,
                    format!(
                        "{reason}; fix the schema, or set another compatibility mode in \
                         {subject}/config.json"
                    ),
                ));
            }
            wanted
        }
    };
    let older: Vec<&Version> = accepted
        .iter()
        .filter(|v| v.version < target.version)
        .rev()
        .collect();
    let writers_state = |v: &Version| -> Result<(), String> {
        if let Some((_, reason)) = refused.iter().find(|(n, _)| *n == v.version) {
            return Err(format!(
                "written with version {}, which the registry refuses: {reason}",
                v.version
            ));
        }
        if v.version > target.version {
            return Err(format!(
                "written with version {}, newer than the pipeline's version {}; use \
                 `version: latest` or pin {} to keep its fields",
                v.version, target.version, v.version
            ));
        }
        Ok(())
    };
    let foreign = || -> Result<HashMap<u32, String>, SchemaError> {
        let mut ids = HashMap::new();
        for other in registry.subjects().into_iter().filter(|s| s != subject) {
            for v in registry.versions(&other)? {
                ids.insert(v.id, other.clone());
            }
        }
        Ok(ids)
    };
    let mut schema = match config.encoding {
        Encoding::Json => {
            let mut schema = Schema::compile(&target).map_err(|reason| invalid(&target, reason))?;
            // Fields only older versions have stay as nullable columns: a record written
            // with such a version keeps them.
            let mut older_arrow = Vec::new();
            for v in &older {
                let s = Schema::compile(v).map_err(|reason| invalid(v, reason))?;
                if let Some(reason) = s.no_columns {
                    schema
                        .no_columns
                        .get_or_insert(format!("version {}: {reason}", v.version));
                }
                older_arrow.push(s.arrow.as_ref().clone());
            }
            if !older_arrow.is_empty() && schema.no_columns.is_none() {
                schema.arrow = Arc::new(widen_arrow(&schema.arrow, &older_arrow));
            }
            let writers = versions.iter().map(|v| (v.id, writers_state(v))).collect();
            let frames = JsonFrames::new(config.framing, writers, foreign()?)
                .map_err(|reason| invalid(&target, reason))?;
            schema.frames = Some(frames);
            schema
        }
        Encoding::Avro => {
            expect_type(&target, SchemaType::Avro, "avro")?;
            let json = |v: &Version| {
                let text = v.avro_text().map_err(|e| invalid(v, e))?;
                serde_json::from_str::<serde_json::Value>(&text)
                    .map_err(|e| invalid(v, format!("not JSON: {e}")))
            };
            let older_json = older
                .iter()
                .map(|v| json(v))
                .collect::<Result<Vec<_>, _>>()?;
            let reader = widest(&json(&target)?, &older_json);
            let mut writers = HashMap::new();
            for v in &versions {
                let w = match writers_state(v) {
                    Ok(()) => {
                        let text = v.avro_text().map_err(|e| invalid(v, e))?;
                        Writer::Readable(arrow_avro::schema::AvroSchema::new(text.into_owned()))
                    }
                    Err(reason) => Writer::Refused(reason),
                };
                writers.insert(v.id, w);
            }
            let spec = AvroSpec::new(
                config.framing,
                &reader.to_string(),
                writers,
                target.id,
                foreign()?,
            )
            .map_err(|reason| invalid(&target, reason))?;
            Schema::binary(&target, WireSpec::Avro(spec))
        }
        Encoding::Protobuf => {
            expect_type(&target, SchemaType::Protobuf, "protobuf")?;
            let root = Some(registry.root());
            let file = |v: &Version| {
                protobuf::compile_version(v, root).map_err(|reason| invalid(v, reason))
            };
            let message = protobuf::message(&file(&target)?, config.message.as_deref())
                .map_err(|reason| invalid(&target, reason))?;
            let newest = protobuf::to_arrow(&message).map_err(|r| invalid(&target, r))?;
            let mut older_arrow = Vec::new();
            for v in &older {
                let m = protobuf::message(&file(v)?, Some(message.name()));
                // A version without the message contributes no columns.
                if let Ok(m) = m {
                    older_arrow.push(protobuf::to_arrow(&m).map_err(|r| invalid(v, r))?);
                }
            }
            let arrow = Arc::new(widen_arrow(&newest, &older_arrow));
            let mut writers = HashMap::new();
            for v in &versions {
                let w = match writers_state(v) {
                    Ok(()) => ProtoWriter::Readable(file(v)?),
                    Err(reason) => ProtoWriter::Refused(reason),
                };
                writers.insert(v.id, w);
            }
            let spec = ProtoSpec::new(config.framing, arrow, writers, message, foreign()?)
                .map_err(|reason| invalid(&target, reason))?;
            Schema::binary(&target, WireSpec::Protobuf(spec))
        }
    };
    parquet::arrow::ArrowSchemaConverter::new()
        .convert(&schema.arrow)
        .map_err(|e| {
            invalid(
                &target,
                format!("the columns cannot be stored in Parquet: {e}"),
            )
        })?;
    schema.refused = refused;
    Ok(schema)
}

fn invalid(v: &Version, reason: String) -> SchemaError {
    SchemaError::Invalid {
        path: v.path.clone(),
        reason,
    }
}

fn expect_type(v: &Version, t: SchemaType, encoding: &str) -> Result<(), SchemaError> {
    if v.schema_type == t {
        return Ok(());
    }
    Err(invalid(
        v,
        format!(
            "`schema.encoding: {encoding}` needs a .{} schema, this version is {}",
            t.extension(),
            v.schema_type.api_name()
        ),
    ))
}
