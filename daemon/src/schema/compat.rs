//! Compatibility of schema versions under Confluent's modes. BACKWARD: the new version
//! reads data written with the previous one; FORWARD: the previous version reads data
//! written with the new one; FULL: both. The TRANSITIVE forms check every earlier
//! version instead of the last; NONE checks nothing.

use serde::{Deserialize, Serialize};

use super::registry::{SchemaType, Version};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Compatibility {
    #[default]
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
    None,
}

impl Compatibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::Forward => "FORWARD",
            Self::ForwardTransitive => "FORWARD_TRANSITIVE",
            Self::Full => "FULL",
            Self::FullTransitive => "FULL_TRANSITIVE",
            Self::None => "NONE",
        }
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive
        )
    }

    /// Whether the new version must read old data, and old versions new data.
    fn directions(self) -> (bool, bool) {
        match self {
            Self::Backward | Self::BackwardTransitive => (true, false),
            Self::Forward | Self::ForwardTransitive => (false, true),
            Self::Full | Self::FullTransitive => (true, true),
            Self::None => (false, false),
        }
    }
}

impl std::fmt::Display for Compatibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Checks `new` against the earlier versions of its subject (ascending) under `mode`.
/// The error names the version it conflicts with and why.
pub fn check(mode: Compatibility, new: &Version, earlier: &[Version]) -> Result<(), String> {
    let against: &[Version] = match earlier {
        [] => return Ok(()),
        _ if mode.transitive() => earlier,
        [.., last] => std::slice::from_ref(last),
    };
    let (backward, forward) = mode.directions();
    for old in against.iter().rev() {
        if old.schema_type != new.schema_type {
            return Err(format!(
                "version {} is {} but version {} is {}; a subject keeps one schema type",
                new.version,
                new.schema_type.api_name(),
                old.version,
                old.schema_type.api_name()
            ));
        }
        if backward {
            can_read(old, new).map_err(|e| {
                format!(
                    "{mode}: version {} cannot read data written with version {}: {e}",
                    new.version, old.version
                )
            })?;
        }
        if forward {
            can_read(new, old).map_err(|e| {
                format!(
                    "{mode}: version {} cannot read data written with version {}: {e}",
                    old.version, new.version
                )
            })?;
        }
    }
    Ok(())
}

/// Checks a subject's versions in order, as a registry checks each on registration:
/// the accepted ones, and the refused ones with the reason.
pub fn sort_out(mode: Compatibility, versions: &[Version]) -> (Vec<Version>, Vec<(u32, String)>) {
    let mut accepted: Vec<Version> = Vec::new();
    let mut refused = Vec::new();
    for v in versions {
        match check(mode, v, &accepted) {
            Ok(()) => accepted.push(v.clone()),
            Err(reason) => refused.push((v.version, reason)),
        }
    }
    (accepted, refused)
}

/// Whether data written with `writer` can be read with `reader`.
pub fn can_read(writer: &Version, reader: &Version) -> Result<(), String> {
    match writer.schema_type {
        SchemaType::Avro => avro_can_read(writer, reader),
        SchemaType::Json => {
            super::json_compat::can_read(&parse_json(writer)?, &parse_json(reader)?)
        }
        SchemaType::Protobuf => super::protobuf::can_read(writer, reader),
    }
}

/// Avro's resolution rules via `apache-avro`. Its check does not compare two decimals
/// (it answers "inconclusive"), so decimals are compared here: they must keep their
/// precision and scale, and are checked as their underlying bytes or fixed otherwise.
fn avro_can_read(writer: &Version, reader: &Version) -> Result<(), String> {
    let (w, w_decimals) = parse_avro(writer)?;
    let (r, r_decimals) = parse_avro(reader)?;
    for (path, r_dec) in &r_decimals {
        if let Some(w_dec) = w_decimals.get(path).filter(|w| *w != r_dec) {
            return Err(format!(
                "`{path}`: decimal(precision, scale) changed from {w_dec:?} to {r_dec:?}"
            ));
        }
    }
    apache_avro::schema_compatibility::SchemaCompatibility::can_read(&w, &r)
        .map_err(|e| e.to_string())
}

type Decimals = std::collections::BTreeMap<String, (u64, u64)>;

fn parse_avro(v: &Version) -> Result<(apache_avro::Schema, Decimals), String> {
    let mut doc: serde_json::Value = serde_json::from_str(&v.avro_text()?)
        .map_err(|e| format!("version {} is not valid JSON: {e}", v.version))?;
    let mut decimals = Decimals::new();
    strip_decimals(&mut doc, "", &mut decimals);
    let schema = apache_avro::Schema::parse(&doc)
        .map_err(|e| format!("version {} is not a valid Avro schema: {e}", v.version))?;
    Ok((schema, decimals))
}

/// Replaces decimal logical types by their underlying type, recording each one's
/// precision and scale by field path.
fn strip_decimals(node: &mut serde_json::Value, path: &str, out: &mut Decimals) {
    use serde_json::Value;
    match node {
        Value::Object(o) => {
            if o.get("logicalType").and_then(Value::as_str) == Some("decimal") {
                let n = |k: &str| o.get(k).and_then(Value::as_u64).unwrap_or(0);
                out.insert(path.to_string(), (n("precision"), n("scale")));
                o.remove("logicalType");
            }
            let here = match o.get("name").and_then(Value::as_str) {
                Some(name) if o.contains_key("type") && !o.contains_key("fields") => {
                    format!("{path}.{name}")
                }
                _ => path.to_string(),
            };
            for (_, child) in o.iter_mut() {
                strip_decimals(child, &here, out);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| strip_decimals(i, path, out)),
        _ => {}
    }
}

fn parse_json(v: &Version) -> Result<serde_json::Value, String> {
    serde_json::from_str(&v.json_text()?)
        .map_err(|e| format!("version {} is not valid JSON: {e}", v.version))
}
