//! Prefix templates in Firehose's namespaces: `!{timestamp:yyyy}` (tokens yyyy yy MM dd
//! HH mm ss), `!{field:path.to.key}` and, in error prefixes, `!{error:type}`. Compiled once
//! when the pipeline is validated; rendered per record into a reused buffer.

use std::fmt::Write;

use chrono::DateTime;
use chrono::format::{Item, StrftimeItems};
use chrono_tz::Tz;

use super::fields::{Fields, Scalar};

/// Where a template is used; decides which namespaces are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    Data,
    Error,
}

#[derive(Debug, Clone)]
enum Part {
    Literal(String),
    Time(Vec<Item<'static>>),
    Field(Vec<String>),
    Partition(String),
    ErrorType,
}

/// A compiled prefix template.
#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// What a record offers to a template.
pub struct RenderInput<'a> {
    pub time: DateTime<Tz>,
    pub record: Option<&'a dyn Fields>,
    /// Partition keys set by transforms, packed (name, value) pairs.
    pub partition_keys: &'a [u8],
    pub error_type: Option<&'a str>,
}

impl Template {
    /// Compiles `source`; the error says what is wrong and how to write it.
    pub fn compile(source: &str, kind: TemplateKind) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("!{") {
            if start > 0 {
                parts.push(Part::Literal(rest[..start].to_string()));
            }
            let body = &rest[start + 2..];
            let end = body.find('}').ok_or_else(|| {
                format!(
                    "unterminated `!{{` at `{}`; close it with `}}`",
                    &rest[start..]
                )
            })?;
            parts.push(parse_expression(&body[..end], kind)?);
            rest = &body[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        if source.starts_with('/') {
            return Err(
                "a prefix must not start with `/`; object keys are relative to the sink URL".into(),
            );
        }
        if kind == TemplateKind::Error && !parts.iter().any(|p| matches!(p, Part::ErrorType)) {
            return Err(
                "an error prefix must contain `!{error:type}` so error kinds stay apart".into(),
            );
        }
        Ok(Self {
            source: source.to_string(),
            parts,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    /// Dotted field paths this template reads from records.
    pub fn fields(&self) -> impl Iterator<Item = String> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Field(path) => Some(path.join(".")),
            _ => None,
        })
    }

    /// Whether the template reads partition keys set by transforms.
    pub fn uses_partition_keys(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Partition(_)))
    }

    /// The text every rendering starts with: the literal before the first `!{...}`.
    pub fn literal_head(&self) -> &str {
        match self.parts.first() {
            Some(Part::Literal(s)) => s,
            _ => "",
        }
    }

    /// The partition keys the template reads (`!{partition:NAME}`).
    pub fn partition_keys(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Partition(name) => Some(name.as_str()),
            _ => None,
        })
    }

    /// Appends the rendered prefix to `out`. Fails when a field is missing or not a scalar.
    pub fn render(&self, out: &mut String, input: &RenderInput<'_>) -> Result<(), String> {
        let begin = out.len();
        self.render_parts(out, input)?;
        let len = out.len() - begin;
        if len > MAX_PREFIX_BYTES {
            return Err(format!(
                "the prefix is {len} bytes long; with the object's name it must stay under S3's 1,024-byte keys (at most {MAX_PREFIX_BYTES} bytes)"
            ));
        }
        Ok(())
    }

    fn render_parts(&self, out: &mut String, input: &RenderInput<'_>) -> Result<(), String> {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Time(items) => {
                    write!(out, "{}", input.time.format_with_items(items.iter()))
                        .expect("writing to a String cannot fail");
                }
                Part::Field(path) => {
                    let value = input
                        .record
                        .and_then(|r| r.scalar(path))
                        .ok_or_else(|| format!("field `{}` is missing", path.join(".")))?;
                    push_key_value(out, &value, path)?;
                }
                Part::Partition(name) => {
                    let value = crate::record::find_packed(input.partition_keys, name)
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| {
                            format!("partition key `{name}` was not set by a transform")
                        })?;
                    let start = out.len();
                    out.push_str(&String::from_utf8_lossy(value));
                    sanitize(out, start);
                    key_safe(&out[start..], &format!("partition key `{name}`"))?;
                }
                Part::ErrorType => out.push_str(input.error_type.unwrap_or("unknown")),
            }
        }
        Ok(())
    }
}

fn parse_expression(expr: &str, kind: TemplateKind) -> Result<Part, String> {
    let (namespace, arg) = expr.split_once(':').ok_or_else(|| {
        format!(
            "`!{{{expr}}}` needs a namespace, e.g. `!{{timestamp:yyyy}}` or `!{{field:region}}`"
        )
    })?;
    match namespace {
        "timestamp" => compile_time(arg).map(Part::Time),
        // A dead letter may have no parsed record (invalid JSON) and no partition keys
        // (a record the transforms rejected): an error prefix uses time and type only.
        "field" | "partition" if kind == TemplateKind::Error => Err(format!(
            "`!{{{expr}}}` cannot name a dead letter's prefix: a bad record may have no such field or key; use `!{{timestamp:...}}` and `!{{error:type}}`"
        )),
        "field" => {
            let path: Vec<String> = arg.split('.').map(str::to_string).collect();
            if path.iter().any(|s| s.is_empty()) {
                return Err(format!(
                    "`!{{field:{arg}}}` is not a field path; write e.g. `!{{field:customer.region}}`"
                ));
            }
            Ok(Part::Field(path))
        }
        "partition" if !arg.is_empty() => Ok(Part::Partition(arg.to_string())),
        "partition" => Err("`!{partition:}` needs a key name, e.g. `!{partition:region}`".into()),
        "error" if arg == "type" && kind == TemplateKind::Error => Ok(Part::ErrorType),
        "error" if kind == TemplateKind::Data => {
            Err("`!{error:type}` is only allowed in `error_prefix`".into())
        }
        "error" => Err(format!(
            "unknown `!{{error:{arg}}}`; the error namespace has only `type`"
        )),
        other => Err(format!(
            "unknown namespace `{other}` in `!{{{expr}}}`; use `timestamp`, `field`, `partition` or (in error_prefix) `error`"
        )),
    }
}

/// Translates Firehose's date tokens into chrono format items.
fn compile_time(pattern: &str) -> Result<Vec<Item<'static>>, String> {
    const TOKENS: [(&str, &str); 7] = [
        ("yyyy", "%Y"),
        ("yy", "%y"),
        ("MM", "%m"),
        ("dd", "%d"),
        ("HH", "%H"),
        ("mm", "%M"),
        ("ss", "%S"),
    ];
    let mut strftime = String::new();
    let mut rest = pattern;
    'outer: while !rest.is_empty() {
        for (token, spec) in TOKENS {
            if let Some(r) = rest.strip_prefix(token) {
                strftime.push_str(spec);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().expect("non-empty");
        if !matches!(c, '-' | '_' | '/' | '.' | ' ') {
            return Err(format!(
                "`{pattern}` is not a timestamp pattern; use yyyy, yy, MM, dd, HH, mm, ss and the separators - _ / ."
            ));
        }
        strftime.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if strftime.is_empty() {
        return Err("`!{timestamp:}` needs a pattern such as yyyy or MM".into());
    }
    let items = StrftimeItems::new(&strftime)
        .parse_to_owned()
        .map_err(|e| e.to_string())?;
    Ok(items)
}

/// A partition value must be a scalar; `/` is replaced so it cannot add folders.
fn push_key_value(out: &mut String, value: &Scalar<'_>, path: &[String]) -> Result<(), String> {
    let start = out.len();
    match value {
        Scalar::Str(s) if !s.is_empty() => out.push_str(s),
        Scalar::Number(n) => write!(out, "{n}").expect("writing to a String cannot fail"),
        Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        _ => {
            return Err(format!(
                "field `{}` must be a non-empty string, number or boolean to name a prefix",
                path.join(".")
            ));
        }
    }
    sanitize(out, start);
    key_safe(&out[start..], &format!("field `{}`", path.join(".")))
}

/// The longest rendered prefix: an object's name (pipeline, partition, two positions)
/// fits in the rest of S3's 1,024 bytes.
pub const MAX_PREFIX_BYTES: usize = 768;

/// The longest value a prefix takes from a record: with the rest of a key it stays
/// under a file name's 255 bytes and S3's 1,024-byte keys.
pub const MAX_VALUE_BYTES: usize = 200;

/// Refuses a value that cannot be part of an object key everywhere: too long, `.` or
/// `..` (a folder that is no folder), or holding control characters.
fn key_safe(value: &str, what: &str) -> Result<(), String> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "{what} is {} bytes long; a prefix value may be at most {MAX_VALUE_BYTES} bytes",
            value.len()
        ));
    }
    if value == "." || value == ".." {
        return Err(format!("{what} is `{value}`, which cannot name a folder"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "{what} holds control characters, which cannot be part of an object key"
        ));
    }
    Ok(())
}

/// A value names one folder: `/` and `\\` inside it become `_`.
fn sanitize(out: &mut String, start: usize) {
    if out[start..].contains(['/', '\\']) {
        let cleaned = out[start..].replace(['/', '\\'], "_");
        out.truncate(start);
        out.push_str(&cleaned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn render(t: &str, record: &serde_json::Value) -> Result<String, String> {
        let tpl = Template::compile(t, TemplateKind::Data)?;
        let time = chrono_tz::UTC
            .with_ymd_and_hms(2026, 3, 7, 9, 5, 0)
            .unwrap();
        let mut out = String::new();
        tpl.render(
            &mut out,
            &RenderInput {
                time,
                record: Some(record),
                partition_keys: &[],
                error_type: None,
            },
        )?;
        Ok(out)
    }

    #[test]
    fn partition_keys_from_transforms() {
        let tpl = Template::compile("region=!{partition:region}/", TemplateKind::Data).unwrap();
        assert!(tpl.uses_partition_keys());
        let mut keys = Vec::new();
        crate::record::pack_into(&mut keys, b"region", b"eu");
        crate::record::pack_into(&mut keys, b"region", b"us/east");
        let time = chrono_tz::UTC.timestamp_millis_opt(0).unwrap();
        let render = |keys: &[u8]| {
            let mut out = String::new();
            let input = RenderInput {
                time,
                record: None,
                partition_keys: keys,
                error_type: None,
            };
            tpl.render(&mut out, &input).map(|_| out)
        };
        assert_eq!(
            render(&keys).unwrap(),
            "region=us_east/",
            "the last key set wins"
        );
        assert_eq!(
            render(&[]).unwrap_err(),
            "partition key `region` was not set by a transform"
        );
        assert!(Template::compile("!{partition:}", TemplateKind::Data).is_err());
    }

    #[test]
    fn firehose_time_namespaces() {
        let r = serde_json::json!({});
        assert_eq!(
            render("year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/", &r).unwrap(),
            "year=2026/month=03/day=07/hour=09/"
        );
        assert_eq!(
            render("dt=!{timestamp:yyyy-MM-dd}/", &r).unwrap(),
            "dt=2026-03-07/"
        );
    }

    #[test]
    fn field_keys_hive_style() {
        let r = serde_json::json!({"customer": {"region": "eu/west"}, "n": 3});
        assert_eq!(
            render("region=!{field:customer.region}/n=!{field:n}/", &r).unwrap(),
            "region=eu_west/n=3/"
        );
        assert_eq!(
            render("!{field:missing}/", &r).unwrap_err(),
            "field `missing` is missing"
        );
    }

    #[test]
    fn rejects_bad_templates() {
        let err = |t| Template::compile(t, TemplateKind::Data).unwrap_err();
        assert!(err("!{timestamp:yyyy").contains("unterminated"));
        assert!(err("!{time:yyyy}/").contains("unknown namespace `time`"));
        assert!(err("!{timestamp:YYYY}/").contains("not a timestamp pattern"));
        assert!(err("!{error:type}/").contains("only allowed in `error_prefix`"));
        assert!(
            Template::compile("errors/", TemplateKind::Error)
                .unwrap_err()
                .contains("!{error:type}")
        );
    }
}
