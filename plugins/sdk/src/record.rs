//! One record as a plugin sees it, and what the plugin makes of it.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::flat::Values;

/// A record borrowed from the batch: no copy is made to call a plugin.
#[derive(Clone, Copy)]
pub struct Record<'a> {
    pub(crate) values: &'a Values<'a>,
    pub(crate) value_span: (u32, u32),
    pub key: Option<&'a [u8]>,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    pub(crate) headers: &'a [u8],
}

impl std::fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("value", &String::from_utf8_lossy(self.value()))
            .field("key", &self.key.map(String::from_utf8_lossy))
            .field("timestamp", &self.timestamp)
            .field("headers", &self.headers().count())
            .finish()
    }
}

impl<'a> Record<'a> {
    /// The value's bytes. In WebAssembly the batch's values cross from the host on
    /// the first call of any record's `value` (or `text`, `json`...): a plugin that
    /// decides on keys, headers or timestamps alone never copies them.
    pub fn value(&self) -> &'a [u8] {
        let (start, end) = self.value_span;
        &self.values.get()[start as usize..end as usize]
    }

    /// The value as UTF-8 text.
    pub fn text(&self) -> Result<&'a str, String> {
        std::str::from_utf8(self.value()).map_err(|e| format!("value is not UTF-8: {e}"))
    }

    /// The value parsed as JSON into any deserializable type.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_slice(self.value()).map_err(|e| format!("value is not valid JSON: {e}"))
    }

    /// The value parsed as a JSON document.
    pub fn json_value(&self) -> Result<serde_json::Value, String> {
        self.json()
    }

    /// The record's headers as (name, value) pairs.
    pub fn headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        crate::flat::unpack(self.headers)
    }

    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .find(|(n, _)| *n == name.as_bytes())
            .map(|(_, v)| v)
    }
}

/// What becomes of a record, with optional partition keys for the sink's prefix.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub(crate) kind: Kind,
    pub(crate) partitions: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Keep,
    Drop,
    Value(Vec<u8>),
    Many(Vec<Vec<u8>>),
}

impl Output {
    fn of(kind: Kind) -> Self {
        Self {
            kind,
            partitions: Vec::new(),
        }
    }

    /// The record goes on unchanged (and is not copied back to the host).
    pub fn keep() -> Self {
        Self::of(Kind::Keep)
    }

    /// The record is filtered out. It counts as delivered.
    pub fn drop() -> Self {
        Self::of(Kind::Drop)
    }

    /// The record goes on with a new value; key, timestamp and headers are kept.
    pub fn value(value: impl Into<Vec<u8>>) -> Self {
        Self::of(Kind::Value(value.into()))
    }

    /// The record goes on as this JSON document.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Self, String> {
        serde_json::to_vec(value)
            .map(Self::value)
            .map_err(|e| format!("cannot serialize output: {e}"))
    }

    /// The record becomes several (or zero) records, each with the record's key,
    /// timestamp and headers.
    pub fn many<I, V>(values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<Vec<u8>>,
    {
        Self::of(Kind::Many(values.into_iter().map(Into::into).collect()))
    }

    /// Sets a partition key that the sink's prefix reads as `!{partition:NAME}`.
    pub fn partition(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.partitions.push((name.into(), value.into()));
        self
    }
}

/// The value at a dotted path (`customer.address.city`) in a JSON document.
pub fn json_path<'v>(value: &'v serde_json::Value, path: &str) -> Option<&'v serde_json::Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}
