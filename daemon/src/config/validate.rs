//! Validation: turns a parsed pipeline file into a [`PipelineSpec`] the runtime accepts:
//! source checked, schema resolved and compiled, templates compiled, store location
//! parsed. Every error points at its key.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use marked_yaml::{Node, Span};

use super::error::{ConfigError, ConfigErrors};
use super::load::{load_pipeline, locate};
use super::model::{Compression, Format, OnErrorConfig, PipelineConfig, TimeSource};
use crate::schema::{LocalRegistry, Schema};
use crate::sink::SinkSpec;
use crate::sink::metadata::MetadataColumn;
use crate::sink::template::{Template, TemplateKind};
use crate::source::Source;
use crate::transform::PluginSpec;

/// A pipeline that passed validation.
pub struct PipelineSpec {
    pub name: String,
    pub file: PathBuf,
    pub source: Source,
    pub schema: Option<Arc<Schema>>,
    pub sink: Arc<SinkSpec>,
    pub on_error: OnErrorConfig,
    pub transforms: Vec<PluginSpec>,
    /// Where positions and the cut ledger live when not in the local state directory.
    pub state: Option<crate::state::RemoteState>,
    pub sites: Sites,
}

impl PipelineSpec {
    /// The same pipeline reading `source` and writing to `sink`, its state in the local
    /// state directory given at run time: what `weir replay` and `weir test` run.
    pub fn rewired(&self, source: Source, sink: Arc<SinkSpec>) -> PipelineSpec {
        PipelineSpec {
            name: self.name.clone(),
            file: self.file.clone(),
            source,
            schema: self.schema.clone(),
            sink,
            on_error: self.on_error,
            transforms: self.transforms.clone(),
            state: None,
            sites: self.sites.clone(),
        }
    }
}

const DEFAULT_ERROR_PREFIX: &str =
    "errors/!{error:type}/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/";

/// Loads and validates the pipeline file at `path`.
pub fn validate(path: &Path) -> Result<PipelineSpec, ConfigErrors> {
    let state = std::env::var_os("WEIR_STATE_DIR").unwrap_or_else(|| ".weir/state".into());
    validate_in(path, Path::new(&state))
}

/// Validates a pipeline file; remote schema registries are cached under `state_dir`.
pub fn validate_in(path: &Path, state_dir: &Path) -> Result<PipelineSpec, ConfigErrors> {
    let (config, root) = load_pipeline(path)?;
    check(path, &config, &root, state_dir)
}

/// The error for a pipeline whose `name` another file in the same directory gives too,
/// located at the `name` key.
pub fn name_taken(spec: &PipelineSpec, others: &[&Path]) -> ConfigError {
    let others: Vec<String> = others
        .iter()
        .map(|o| format!("`{}`", o.display()))
        .collect();
    let error = ConfigError::new(
        &spec.file,
        "name",
        format!(
            "pipeline `{}` is also defined in {}",
            spec.name,
            others.join(", ")
        ),
    )
    .hint("a pipeline's name keys its state and its object keys; give each file its own name");
    match &spec.sites.name {
        Some(span) => error.at(span),
        None => error,
    }
}

/// Where keys were written, for errors found after validation (a plugin that does not
/// load, a name another file takes) without reading the file again.
#[derive(Debug, Clone, Default)]
pub struct Sites {
    pub name: Option<Span>,
    /// Per transform step: its `plugin` key and its `config` key (or the step).
    pub steps: Vec<(Option<Span>, Option<Span>)>,
}

pub(super) struct Checker<'a> {
    file: &'a Path,
    root: &'a Node,
    errors: Vec<ConfigError>,
}

impl Checker<'_> {
    pub(super) fn fail(&mut self, key: &str, message: impl Into<String>, hint: impl Into<String>) {
        let mut e = ConfigError::new(self.file, key, message).hint(hint);
        if let Some(span) = self.span_of(key) {
            e = e.at(&span);
        }
        self.errors.push(e);
    }

    /// Where `key` was written; an unset key is placed at its closest written parent.
    pub(super) fn span_of(&self, key: &str) -> Option<Span> {
        let mut at = key;
        loop {
            if let Some(node) = locate(self.root, at) {
                return Some(*node.span());
            }
            at = at.rsplit_once('.')?.0;
        }
    }
}

/// The local registry a pipeline reads: its directory, or for an `http(s)://`
/// registry the cached mirror of its subject, fetched when stale.
pub fn registry_dir(
    s: &crate::config::SchemaConfig,
    base: &Path,
    state_dir: &Path,
) -> Result<std::path::PathBuf, crate::schema::SchemaError> {
    use crate::schema::remote;
    match s.registry.as_deref() {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            let remote = remote::Remote {
                url: url.to_string(),
                user: s.registry_user.clone(),
                password: s.registry_password.clone(),
                ca: s.registry_ca.as_ref().map(|ca| base.join(ca)),
                refresh: s
                    .registry_refresh
                    .map_or(std::time::Duration::from_secs(300), |d| d.0),
                timeout: std::time::Duration::from_secs(10),
            };
            let dir = remote::cache_dir(state_dir, url);
            remote::mirror(&remote, &s.subject, &dir)?;
            Ok(dir)
        }
        Some(dir) => Ok(base.join(dir)),
        None if base.join("schemas").is_dir() => Ok(base.join("schemas")),
        None => Ok(base.join("../schemas")),
    }
}

/// Validates an already-parsed pipeline; `root` locates errors in the file.
pub fn check(
    path: &Path,
    config: &PipelineConfig,
    root: &Node,
    state_dir: &Path,
) -> Result<PipelineSpec, ConfigErrors> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut c = Checker {
        file: path,
        root,
        errors: Vec::new(),
    };

    if config.api_version != "weir/v1" {
        c.fail(
            "apiVersion",
            format!("unknown apiVersion `{}`", config.api_version),
            "use `weir/v1`",
        );
    }
    if config.name.is_empty()
        || !config
            .name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    {
        c.fail(
            "name",
            format!("`{}` is not a valid pipeline name", config.name),
            "use letters, digits, `-` and `_`",
        );
    }
    let source = config
        .source
        .validate(&base)
        .map_err(|e| c.fail(&format!("source.{}", e.key), e.message, e.hint))
        .ok();
    let schema = config.schema.as_ref().and_then(|s| {
        let resolved = registry_dir(s, &base, state_dir)
            .and_then(|dir| LocalRegistry::open(&dir))
            .and_then(|r| crate::schema::resolve(&r, s));
        match resolved {
            Ok(schema) => Some(Arc::new(schema)),
            Err(e) => {
                let key = match e {
                    crate::schema::SchemaError::NoRegistry(_) => "schema.registry",
                    crate::schema::SchemaError::Remote { .. } => "schema.registry",
                    crate::schema::SchemaError::NoVersion { .. } => "schema.version",
                    _ => "schema.subject",
                };
                let key = if locate(root, key).is_some() {
                    key
                } else {
                    "schema"
                };
                let hint = match e {
                    crate::schema::SchemaError::Invalid { .. } => {
                        "fix that schema file, or the pipeline's `schema` settings"
                    }
                    crate::schema::SchemaError::Remote { .. } => {
                        "check the URL, `registry_user`/`registry_password`, `registry_ca`, and that the subject exists there"
                    }
                    _ => "add the schema file as <registry>/<subject>/<version>.json, .avsc or .proto",
                };
                c.fail(key, e.to_string(), hint);
                None
            }
        }
    });
    let transforms = super::transforms::check(&mut c, config, &base);
    let sink = sink_spec(&mut c, config, &base, schema.as_deref());
    let state = super::location::state_spec(&mut c, config, &base);
    if !c.errors.is_empty() {
        c.errors.sort_by_key(|e| (e.line, e.column));
        return Err(ConfigErrors(c.errors));
    }
    Ok(PipelineSpec {
        name: config.name.clone(),
        file: path.to_path_buf(),
        source: source.expect("no errors means the source validated"),
        schema,
        sink: Arc::new(sink.expect("no errors means the sink validated")),
        on_error: config.on_error,
        transforms,
        state: state.flatten(),
        sites: Sites {
            name: c.span_of("name"),
            steps: (0..config.transforms.len())
                .map(|i| {
                    let plugin = c.span_of(&format!("transforms[{i}].plugin"));
                    (plugin, c.span_of(&format!("transforms[{i}].config")))
                })
                .collect(),
        },
    })
}

fn sink_spec(
    c: &mut Checker<'_>,
    config: &PipelineConfig,
    base: &Path,
    schema: Option<&Schema>,
) -> Option<SinkSpec> {
    let s = &config.sink;
    let location = super::location::parse(&s.url, base, &s.s3, &s.options, "sink")
        .map_err(|msg| {
            c.fail(
                "sink.url",
                msg,
                "use a directory path, file:///absolute/dir, s3://bucket/root, gs://bucket/root or az://container/root; options take object_store's keys",
            )
        })
        .ok();
    if let (Format::Parquet, Some(reason)) = (s.format, schema.and_then(|x| x.no_columns.as_ref()))
    {
        c.fail(
            "schema.subject",
            format!("the schema cannot fix Parquet columns: {reason}"),
            "give every property one `type` (optionally with null) for Parquet, or use `sink.format: jsonl` to archive the records as they are (validated against the schema as it is)",
        );
    }
    if s.format == Format::Parquet && config.schema.is_none() {
        c.fail(
            "sink.format",
            "Parquet output needs a schema to fix its columns",
            "add `schema:` with a subject, or use `format: jsonl`",
        );
    }
    let encoding = config
        .schema
        .as_ref()
        .map(|x| x.encoding)
        .unwrap_or_default();
    if s.format == Format::Jsonl && encoding != crate::wire::Encoding::Json {
        c.fail(
            "sink.format",
            "JSON lines keep records as they arrived, and Avro or Protobuf records are binary",
            "use `format: parquet` (the default)",
        );
    }
    let compression = s.compression.unwrap_or(match s.format {
        Format::Parquet => Compression::Zstd,
        Format::Jsonl => Compression::None,
    });
    if s.format == Format::Jsonl && compression == Compression::Snappy {
        c.fail(
            "sink.compression",
            "JSON lines cannot be snappy-compressed",
            "use `none`, `gzip` or `zstd`",
        );
    }
    if s.row_group_rows == Some(0) {
        c.fail(
            "sink.row_group_rows",
            "must be at least 1",
            "remove it for the default of 122880",
        );
    }
    let prefix = Template::compile(&s.prefix, TemplateKind::Data)
        .map_err(|m| {
            c.fail(
                "sink.prefix",
                m,
                "see the prefix section of docs/pipeline-reference.md",
            )
        })
        .ok();
    // Keys come from transforms, or from the source itself (Kafka's `topic`, `partition`).
    let offered = config.source.partition_keys();
    let unset = prefix.as_ref().and_then(|p| {
        let mut keys = p.partition_keys();
        keys.find(|k| !offered.contains(k))
    });
    if let Some(key) = unset.filter(|_| config.transforms.is_empty()) {
        let offers = if offered.is_empty() {
            "this source sets none".to_string()
        } else {
            format!("this source sets {}", offered.join(", "))
        };
        c.fail(
            "sink.prefix",
            format!("`!{{partition:{key}}}` reads a key set by transforms or the source, but this pipeline has no transform and {offers}"),
            "add a transform that sets the key (e.g. the `route` plugin) or use `!{field:...}`",
        );
    }
    let error_prefix = Template::compile(
        s.error_prefix.as_deref().unwrap_or(DEFAULT_ERROR_PREFIX),
        TemplateKind::Error,
    )
    .map_err(|m| {
        c.fail(
            "sink.error_prefix",
            m,
            "e.g. errors/!{error:type}/!{timestamp:yyyy}/",
        )
    })
    .ok();
    if let (Some(p), Some(schema)) = (&prefix, schema) {
        for field in p.fields() {
            if !schema_has(schema, &field) {
                c.fail(
                    "sink.prefix",
                    format!(
                        "`!{{field:{field}}}` is not a scalar field of schema `{}` (a record, list or map cannot name a folder)",
                        schema.subject
                    ),
                    "use a field whose value is a string, number or boolean, e.g. `!{field:customer.region}`",
                );
            }
        }
    }
    let time_source = s.time.source.unwrap_or(if s.time.field.is_some() {
        TimeSource::Event
    } else {
        TimeSource::Arrival
    });
    let time_field = match (time_source, &s.time.field) {
        (TimeSource::Event, None) => {
            c.fail(
                "sink.time.source",
                "event time needs `field`",
                "add `field: <dotted path of the event-time field>` or use `source: arrival`",
            );
            None
        }
        (TimeSource::Event, Some(f)) => {
            if let Some(schema) = schema.filter(|s| !schema_has(s, f)) {
                c.fail(
                    "sink.time.field",
                    format!("`{f}` is not a scalar field of schema `{}`", schema.subject),
                    "name the event-time field of the schema",
                );
            }
            Some(f.split('.').map(str::to_string).collect())
        }
        (TimeSource::Arrival, _) => None,
    };
    let timezone = s
        .time
        .timezone
        .as_deref()
        .unwrap_or("UTC")
        .parse::<chrono_tz::Tz>()
        .map_err(|_| {
            c.fail(
                "sink.time.timezone",
                format!(
                    "unknown time zone `{}`",
                    s.time.timezone.as_deref().unwrap_or_default()
                ),
                "use an IANA name such as UTC or Europe/Paris",
            )
        })
        .ok();
    for (key, zero) in [
        ("sink.buffer.interval", s.buffer.interval.0.is_zero()),
        ("sink.buffer.idle", s.buffer.idle.0.is_zero()),
    ] {
        if zero {
            c.fail(key, "must be longer than zero", "e.g. 30s");
        }
    }
    if s.buffer.max_records == 0 {
        c.fail(
            "sink.buffer.max_records",
            "must be at least 1",
            "e.g. 100000",
        );
    }
    let metadata_columns = metadata_columns(c, config, schema);
    Some(SinkSpec {
        location: location?,
        format: s.format,
        compression,
        row_group_rows: s.row_group_rows.unwrap_or(122_880),
        dictionary: s.dictionary,
        prefix: prefix?,
        error_prefix: error_prefix?,
        time_field,
        timezone: timezone?,
        buffer: s.buffer.clone(),
        metadata_columns,
        routing: routing_digest(config, base),
    })
}

/// The digest of what routes records to objects (see `SinkSpec::routing`); buffer sizes,
/// the store's location and credentials do not count.
fn routing_digest(config: &PipelineConfig, base: &Path) -> String {
    use sha2::{Digest, Sha256};
    let s = &config.sink;
    let mut hash = Sha256::new();
    hash.update(format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
        s.prefix,
        s.error_prefix,
        s.time,
        s.format,
        s.metadata_columns,
        config.on_error,
        config.schema,
        config.transforms
    ));
    for t in &config.transforms {
        hash.update(std::fs::read(base.join(&t.plugin)).unwrap_or_default());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `sink.metadata_columns`: Parquet only, each once, and no name a schema column has.
fn metadata_columns(
    c: &mut Checker<'_>,
    config: &PipelineConfig,
    schema: Option<&Schema>,
) -> Vec<MetadataColumn> {
    let s = &config.sink;
    if !s.metadata_columns.is_empty() && s.format != Format::Parquet {
        c.fail(
            "sink.metadata_columns",
            "JSON lines keep each record exactly as it arrived; metadata columns are for Parquet",
            "remove `metadata_columns`, or use `format: parquet`",
        );
    }
    for (n, column) in s.metadata_columns.iter().enumerate() {
        let key = format!("sink.metadata_columns[{n}]");
        if s.metadata_columns[..n].contains(column) {
            c.fail(
                &key,
                format!(
                    "`{}` is listed twice",
                    column.name().trim_start_matches('_')
                ),
                "list each column once",
            );
        } else if schema.is_some_and(|x| x.arrow.field_with_name(column.name()).is_ok()) {
            c.fail(
                &key,
                format!("the schema already has a column `{}`", column.name()),
                "rename the schema's field, or leave this metadata column out",
            );
        }
    }
    s.metadata_columns.clone()
}

/// Whether `dotted` names a scalar field of the schema (what a prefix or the event time
/// can use: not a record, list or map).
fn schema_has(schema: &Schema, dotted: &str) -> bool {
    if schema.no_columns.is_some() {
        // No columns to look in: the field is read from each record, and a record
        // without it is a dead letter.
        return true;
    }
    let mut fields = schema.arrow.fields().clone();
    let parts: Vec<&str> = dotted.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let Some((_, f)) = fields.find(part) else {
            return false;
        };
        let last = i + 1 == parts.len();
        match f.data_type() {
            arrow_schema::DataType::Struct(children) if !last => fields = children.clone(),
            arrow_schema::DataType::Struct(_)
            | arrow_schema::DataType::List(_)
            | arrow_schema::DataType::LargeList(_)
            | arrow_schema::DataType::Map(..) => return false,
            _ => return last,
        }
    }
    false
}
