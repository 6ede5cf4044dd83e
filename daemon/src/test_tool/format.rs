//! The test file `weir test` reads: which pipeline, and per case its input records and
//! the rows and dead letters expected. Records and rows are JSON lines in YAML block
//! scalars, so their types are JSON's, exactly.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// The pipeline file under test, relative to the test file.
    pub pipeline: String,
    pub cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub input: Input,
    pub expect: Expect,
}

/// What the pipeline reads instead of its source; any of these, in this order.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// Records as JSON lines (or any text lines).
    #[serde(default)]
    pub lines: Option<String>,
    /// Files of lines, relative to the test file.
    #[serde(default)]
    pub files: Vec<String>,
    /// Files each holding one binary record (Avro, Protobuf), relative to the test file.
    #[serde(default)]
    pub binary: Vec<String>,
    /// Partition keys every record carries, as the pipeline's own source would set them
    /// (Kafka: `topic`, `partition`).
    #[serde(default)]
    pub partition_keys: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Per object prefix (the key's folder, e.g. `orders/hour=10/`) or full object key:
    /// the rows written there, as JSON lines, in order. Each expected row names the
    /// fields it checks; fields it leaves out are not compared. Every prefix written to
    /// must be listed.
    #[serde(default)]
    pub objects: BTreeMap<String, String>,
    /// The dead letters expected, in order; none written unless listed.
    #[serde(default)]
    pub errors: Vec<ExpectedError>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedError {
    /// `schema-mismatch`, `invalid-json`, `processing-failed`, ...
    #[serde(rename = "type")]
    pub error_type: String,
    /// Text the reason must contain.
    #[serde(default)]
    pub reason: Option<String>,
    /// Text the raw record must contain.
    #[serde(default)]
    pub raw: Option<String>,
}
