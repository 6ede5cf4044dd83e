//! Between host batches and the interface's flat records: a step's input as the
//! plugin receives it, and checking what a plugin returned (an offset out of range
//! is the plugin's error, never a crash).

use std::ops::Range;
use std::sync::Arc;

use super::bindings::{Batch, InputBatch, Output};
use crate::record::BatchParts;

/// A step's input: the records without their values, as the call passes them, and
/// the values, which cross only when the plugin asks (`input.values`). They are
/// shared with the plugin's store for the call, not copied.
pub struct HostBatch {
    pub meta: InputBatch,
    pub values: Arc<Vec<u8>>,
}

impl HostBatch {
    pub fn len(&self) -> usize {
        self.meta.timestamps.len()
    }
}

/// True if `offsets` describe `n` records over a buffer of `len` bytes.
fn offsets_ok(offsets: &[u32], n: usize, len: usize) -> bool {
    offsets.len() == n + 1
        && offsets[0] == 0
        && offsets.windows(2).all(|w| w[0] <= w[1])
        && offsets[n] as usize == len
}

fn batch_ok(b: &Batch, what: &str) -> Result<(), String> {
    let n = b.timestamps.len();
    for (name, offsets, len) in [
        ("value", &b.value_offsets, b.values.len()),
        ("key", &b.key_offsets, b.keys.len()),
        ("header", &b.header_offsets, b.headers.len()),
    ] {
        if !offsets_ok(offsets, n, len) {
            return Err(format!(
                "{what}: {name} offsets do not describe {n} records in {len} bytes"
            ));
        }
    }
    Ok(())
}

/// Checks a plugin's output for an input of `n` records.
pub fn check(o: &Output, n: usize, max_output: u64) -> Result<(), String> {
    let m = o.parents.len();
    if o.parents.windows(2).any(|w| w[0] > w[1])
        || o.parents.last().is_some_and(|p| *p as usize >= n)
    {
        return Err(format!("parents must be non-decreasing indexes below {n}"));
    }
    if o.changed.windows(2).any(|w| w[0] >= w[1])
        || o.changed.last().is_some_and(|c| *c as usize >= m)
    {
        return Err(format!("changed must be ascending indexes below {m}"));
    }
    if o.changed.len() != o.records.timestamps.len() {
        return Err(format!(
            "{} changed records but {} records returned",
            o.changed.len(),
            o.records.timestamps.len()
        ));
    }
    batch_ok(&o.records, "records")?;
    if let Some(t) = o.records.timestamps.iter().find(|t| !timestamp_ok(**t)) {
        return Err(format!(
            "timestamp {t} ms is outside years 1 to 9999; set milliseconds since the Unix epoch"
        ));
    }
    if !o.partition_offsets.is_empty() && !offsets_ok(&o.partition_offsets, m, o.partitions.len()) {
        return Err(format!(
            "partition offsets do not describe {m} records in {} bytes",
            o.partitions.len()
        ));
    }
    if o.errors.windows(2).any(|w| w[0].index >= w[1].index) {
        return Err("errors must be in ascending order of index".into());
    }
    for e in &o.errors {
        if e.index as usize >= n || o.parents.binary_search(&e.index).is_ok() {
            return Err(format!(
                "error for record {} which is out of range or also has output",
                e.index
            ));
        }
    }
    let bytes = (o.records.values.len() + o.records.keys.len() + o.records.headers.len()) as u64
        + o.partitions.len() as u64;
    if bytes > max_output {
        return Err(format!(
            "output of {bytes} bytes is over the limit of {max_output} bytes"
        ));
    }
    Ok(())
}

/// Whether a record timestamp (ms since the Unix epoch) names an instant from year 1 to
/// 9999: what prefixes, RFC 3339 and Parquet's timestamps all hold.
pub fn timestamp_ok(ms: i64) -> bool {
    const YEAR_1: i64 = -62_135_596_800_000;
    const YEAR_10000: i64 = 253_402_300_800_000;
    (YEAR_1..YEAR_10000).contains(&ms)
}

/// The records `range` of `b`, as a batch of their own (for bisection).
pub fn slice(b: &HostBatch, range: Range<usize>) -> HostBatch {
    let cut = |data: &[u8], offsets: &[u32]| {
        let (start, end) = (offsets[range.start], offsets[range.end]);
        let offsets = offsets[range.start..=range.end]
            .iter()
            .map(|o| o - start)
            .collect();
        (data[start as usize..end as usize].to_vec(), offsets)
    };
    let m = &b.meta;
    let (values, value_offsets) = cut(&b.values, &m.value_offsets);
    let (keys, key_offsets) = cut(&m.keys, &m.key_offsets);
    let (headers, header_offsets) = cut(&m.headers, &m.header_offsets);
    HostBatch {
        meta: InputBatch {
            value_offsets,
            keys,
            key_offsets,
            timestamps: m.timestamps[range].to_vec(),
            headers,
            header_offsets,
        },
        values: Arc::new(values),
    }
}

/// Moves a host batch's buffers into a step's input, keeping positions and
/// partition keys aside.
pub fn to_wit(p: BatchParts) -> (HostBatch, Vec<crate::position::Position>, Vec<u8>, Vec<u32>) {
    let b = HostBatch {
        meta: InputBatch {
            value_offsets: p.value_offsets,
            keys: p.keys,
            key_offsets: p.key_offsets,
            timestamps: p.timestamps,
            headers: p.headers,
            header_offsets: p.header_offsets,
        },
        values: Arc::new(p.values),
    };
    (b, p.positions, p.partition_keys, p.partition_key_offsets)
}

/// The inverse of `to_wit`. The values come back without a copy: no store holds
/// them once a call has returned.
pub fn from_wit(
    b: HostBatch,
    positions: Vec<crate::position::Position>,
    keys: Vec<u8>,
    key_offsets: Vec<u32>,
) -> BatchParts {
    let m = b.meta;
    BatchParts {
        values: Arc::try_unwrap(b.values).unwrap_or_else(|shared| (*shared).clone()),
        value_offsets: m.value_offsets,
        keys: m.keys,
        key_offsets: m.key_offsets,
        timestamps: m.timestamps,
        headers: m.headers,
        header_offsets: m.header_offsets,
        positions,
        partition_keys: keys,
        partition_key_offsets: key_offsets,
    }
}

/// True if the output is the input unchanged: every record kept, nothing new.
pub fn is_identity(o: &Output, n: usize) -> bool {
    o.parents.len() == n
        && o.changed.is_empty()
        && o.partition_offsets.is_empty()
        && o.parents.iter().enumerate().all(|(i, p)| *p as usize == i)
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::transform::bindings::weir::transform::types::RecordError;

    /// A step input of `values`, no keys or headers, timestamp 7.
    pub fn host_batch(values: &[&str]) -> HostBatch {
        let b = batch(values);
        HostBatch {
            meta: InputBatch {
                value_offsets: b.value_offsets,
                keys: b.keys,
                key_offsets: b.key_offsets,
                timestamps: b.timestamps,
                headers: b.headers,
                header_offsets: b.header_offsets,
            },
            values: Arc::new(b.values),
        }
    }

    pub fn batch(values: &[&str]) -> Batch {
        let mut offsets = vec![0u32];
        let mut data = Vec::new();
        for v in values {
            data.extend_from_slice(v.as_bytes());
            offsets.push(data.len() as u32);
        }
        let n = values.len();
        Batch {
            values: data,
            value_offsets: offsets,
            keys: Vec::new(),
            key_offsets: vec![0; n + 1],
            timestamps: vec![7; n],
            headers: Vec::new(),
            header_offsets: vec![0; n + 1],
        }
    }

    pub fn output(parents: &[u32], changed: &[&str]) -> Output {
        Output {
            parents: parents.to_vec(),
            changed: (0..changed.len() as u32).collect(),
            records: batch(changed),
            partitions: Vec::new(),
            partition_offsets: Vec::new(),
            errors: Vec::new(),
        }
    }

    #[test]
    fn malformed_output_is_named() {
        let ok = output(&[0, 0, 2], &["a", "b", "c"]);
        assert_eq!(check(&ok, 3, 1 << 20), Ok(()));
        let cases: [(Output, &str); 6] = [
            (
                output(&[1, 0], &["a", "b"]),
                "parents must be non-decreasing",
            ),
            (
                output(&[0, 3], &["a", "b"]),
                "parents must be non-decreasing indexes below 3",
            ),
            (
                Output {
                    changed: vec![0, 1, 2],
                    ..output(&[0, 1], &["a", "b"])
                },
                "changed must be ascending indexes below 2",
            ),
            (
                Output {
                    records: Batch {
                        value_offsets: vec![0, 1, 99],
                        ..batch(&["a", "b"])
                    },
                    ..output(&[0, 1], &["a", "b"])
                },
                "records: value offsets do not describe 2 records in 2 bytes",
            ),
            (
                Output {
                    errors: vec![RecordError {
                        index: 0,
                        reason: "x".into(),
                    }],
                    ..output(&[0], &["a"])
                },
                "error for record 0 which is out of range or also has output",
            ),
            (
                Output {
                    records: Batch {
                        timestamps: vec![7, i64::MAX],
                        ..batch(&["a", "b"])
                    },
                    ..output(&[0, 1], &["a", "b"])
                },
                "timestamp 9223372036854775807 ms is outside years 1 to 9999",
            ),
        ];
        for (o, want) in cases {
            let err = check(&o, 3, 1 << 20).unwrap_err();
            assert!(err.starts_with(want), "{err}");
        }
        assert!(check(&ok, 3, 2).unwrap_err().contains("over the limit"));
    }

    #[test]
    fn slices_rebase_offsets() {
        let b = host_batch(&["one", "two", "three"]);
        let s = slice(&b, 1..3);
        assert_eq!(s.values.as_slice(), b"twothree");
        assert_eq!(s.meta.value_offsets, vec![0, 3, 8]);
        assert_eq!(s.len(), 2);
    }
}
