//! The flat batch layout of the Weir interface and the loop that runs a
//! [`Transform`] over it. Native tests and WebAssembly use this same loop.

use std::cell::OnceCell;

use crate::record::Kind;
use crate::{Output, Record, Transform};

/// Records in flat buffers; see `plugins/wit/transform.wit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlatBatch {
    pub values: Vec<u8>,
    pub value_offsets: Vec<u32>,
    pub keys: Vec<u8>,
    pub key_offsets: Vec<u32>,
    pub timestamps: Vec<i64>,
    pub headers: Vec<u8>,
    pub header_offsets: Vec<u32>,
}

impl FlatBatch {
    pub fn new() -> Self {
        Self {
            value_offsets: vec![0],
            key_offsets: vec![0],
            header_offsets: vec![0],
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// Appends a record; `headers` are already packed.
    pub fn push(&mut self, value: &[u8], key: Option<&[u8]>, timestamp: i64, headers: &[u8]) {
        self.values.extend_from_slice(value);
        self.value_offsets.push(self.values.len() as u32);
        self.keys.extend_from_slice(key.unwrap_or_default());
        self.key_offsets.push(self.keys.len() as u32);
        self.timestamps.push(timestamp);
        self.headers.extend_from_slice(headers);
        self.header_offsets.push(self.headers.len() as u32);
    }

    /// Record `i`'s value.
    pub fn value(&self, i: usize) -> &[u8] {
        &self.values[span(&self.value_offsets, i)]
    }

    /// The batch as a plugin reads it, values included.
    pub fn input(&self) -> Input<'_> {
        Input {
            values: Values::Present(&self.values),
            ..Input::lazy(
                Vec::new,
                &self.value_offsets,
                &self.keys,
                &self.key_offsets,
                &self.timestamps,
                &self.headers,
                &self.header_offsets,
            )
        }
    }
}

fn span(offsets: &[u32], i: usize) -> std::ops::Range<usize> {
    offsets[i] as usize..offsets[i + 1] as usize
}

/// A batch as a plugin reads it. In WebAssembly its values stay with the host until
/// the first record's value is read; then they are fetched, all at once.
pub struct Input<'a> {
    values: Values<'a>,
    value_offsets: &'a [u32],
    keys: &'a [u8],
    key_offsets: &'a [u32],
    timestamps: &'a [i64],
    headers: &'a [u8],
    header_offsets: &'a [u32],
}

/// The values of an input batch: present, or fetched on first use.
pub(crate) enum Values<'a> {
    Present(&'a [u8]),
    Lazy {
        fetch: fn() -> Vec<u8>,
        fetched: OnceCell<Vec<u8>>,
    },
}

impl Values<'_> {
    pub(crate) fn get(&self) -> &[u8] {
        match self {
            Values::Present(values) => values,
            Values::Lazy { fetch, fetched } => fetched.get_or_init(*fetch),
        }
    }
}

impl<'a> Input<'a> {
    /// An input whose values `fetch` returns when first needed. The other slices
    /// are laid out as in [`FlatBatch`].
    #[doc(hidden)]
    pub fn lazy(
        fetch: fn() -> Vec<u8>,
        value_offsets: &'a [u32],
        keys: &'a [u8],
        key_offsets: &'a [u32],
        timestamps: &'a [i64],
        headers: &'a [u8],
        header_offsets: &'a [u32],
    ) -> Self {
        Self {
            values: Values::Lazy {
                fetch,
                fetched: OnceCell::new(),
            },
            value_offsets,
            keys,
            key_offsets,
            timestamps,
            headers,
            header_offsets,
        }
    }

    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    /// Record `i`, borrowed. Its value is read on demand.
    pub fn record(&self, i: usize) -> Record<'_> {
        let key = &self.keys[span(self.key_offsets, i)];
        Record {
            values: &self.values,
            value_span: (self.value_offsets[i], self.value_offsets[i + 1]),
            key: (!key.is_empty()).then_some(key),
            timestamp: self.timestamps[i],
            headers: &self.headers[span(self.header_offsets, i)],
        }
    }
}

/// What a plugin returns for one batch; see `plugins/wit/transform.wit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlatOutput {
    pub parents: Vec<u32>,
    pub changed: Vec<u32>,
    pub records: FlatBatch,
    pub partitions: Vec<u8>,
    pub partition_offsets: Vec<u32>,
    pub errors: Vec<(u32, String)>,
}

/// Runs `plugin` over every record of `input`.
pub fn process_batch<T: Transform>(plugin: &mut T, input: &Input<'_>) -> FlatOutput {
    let mut out = FlatOutput {
        records: FlatBatch::new(),
        ..Default::default()
    };
    for i in 0..input.len() {
        let record = input.record(i);
        let output = match plugin.process(&record) {
            Ok(output) => output,
            Err(reason) => {
                out.errors.push((i as u32, reason));
                continue;
            }
        };
        let Output { kind, partitions } = output;
        let first = out.parents.len();
        match kind {
            Kind::Drop => {}
            Kind::Keep => out.parents.push(i as u32),
            Kind::Value(v) => emit(&mut out, i, &record, &v),
            Kind::Many(vs) => vs.iter().for_each(|v| emit(&mut out, i, &record, v)),
        }
        if out.parents.len() > first {
            set_partitions(&mut out, first, &partitions);
        }
    }
    if !out.partition_offsets.is_empty() {
        let end = out.partitions.len() as u32;
        out.partition_offsets.resize(out.parents.len() + 1, end);
    }
    out
}

fn emit(out: &mut FlatOutput, parent: usize, record: &Record<'_>, value: &[u8]) {
    out.changed.push(out.parents.len() as u32);
    out.parents.push(parent as u32);
    out.records
        .push(value, record.key, record.timestamp, record.headers);
}

/// Gives output records `first..` the partition keys `keys`. Offsets are created on
/// the first keys seen, so a plugin that sets none returns none.
fn set_partitions(out: &mut FlatOutput, first: usize, keys: &[(String, String)]) {
    if keys.is_empty() && out.partition_offsets.is_empty() {
        return;
    }
    let end = out.partitions.len() as u32;
    out.partition_offsets.resize(first + 1, end);
    for _ in first..out.parents.len() {
        for (name, value) in keys {
            pack(&mut out.partitions, name.as_bytes(), value.as_bytes());
        }
        out.partition_offsets.push(out.partitions.len() as u32);
    }
}

/// Appends one (name, value) pair in the packed header layout.
pub fn pack(buf: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
    buf.extend_from_slice(name);
    buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
    buf.extend_from_slice(value);
}

/// Iterates packed (name, value) pairs; stops at the first malformed entry.
pub fn unpack(mut rest: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    std::iter::from_fn(move || {
        let nlen = u16::from_le_bytes(rest.get(..2)?.try_into().ok()?) as usize;
        let name = rest.get(2..2 + nlen)?;
        let at = 2 + nlen;
        let vlen = u32::from_le_bytes(rest.get(at..at + 4)?.try_into().ok()?) as usize;
        let value = rest.get(at + 4..at + 4 + vlen)?;
        rest = &rest[at + 4 + vlen..];
        Some((name, value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static FETCHES: AtomicUsize = AtomicUsize::new(0);

    fn fetch() -> Vec<u8> {
        FETCHES.fetch_add(1, Ordering::SeqCst);
        b"onetwo".to_vec()
    }

    /// Keeps records with a key; reads values only if told to.
    struct ByKey {
        read_values: bool,
    }

    impl Transform for ByKey {
        fn init(_: &Config) -> Result<Self, String> {
            Ok(ByKey { read_values: false })
        }
        fn process(&mut self, r: &Record<'_>) -> Result<Output, String> {
            if self.read_values {
                r.text()?;
            }
            Ok(if r.key.is_some() {
                Output::keep()
            } else {
                Output::drop()
            })
        }
    }

    #[test]
    fn values_are_fetched_once_and_only_when_read() {
        let (offsets, keys, key_offsets) = ([0, 3, 6], *b"k", [0, 1, 1]);
        let (timestamps, header_offsets) = ([1, 2], [0, 0, 0]);
        let input = || {
            Input::lazy(
                fetch,
                &offsets,
                &keys,
                &key_offsets,
                &timestamps,
                &[],
                &header_offsets,
            )
        };
        let mut plugin = ByKey { read_values: false };
        let out = process_batch(&mut plugin, &input());
        assert_eq!((out.parents, FETCHES.load(Ordering::SeqCst)), (vec![0], 0));

        plugin.read_values = true;
        let batch = input();
        let out = process_batch(&mut plugin, &batch);
        assert_eq!((out.parents, FETCHES.load(Ordering::SeqCst)), (vec![0], 1));
        assert_eq!(batch.record(1).value(), b"two");
        assert_eq!(FETCHES.load(Ordering::SeqCst), 1, "fetched once per batch");
    }
}
