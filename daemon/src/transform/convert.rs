//! Between host batches and the interface's flat records: checking what a plugin
//! returned (an offset out of range is the plugin's error, never a crash), and
//! building the next host batch from it.

use std::ops::Range;

use super::bindings::{Batch, Output};
use crate::record::BatchParts;

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

/// The records `range` of `b`, as a batch of their own (for bisection).
pub fn slice(b: &Batch, range: Range<usize>) -> Batch {
    let cut = |data: &[u8], offsets: &[u32]| {
        let (start, end) = (offsets[range.start], offsets[range.end]);
        let offsets = offsets[range.start..=range.end]
            .iter()
            .map(|o| o - start)
            .collect();
        (data[start as usize..end as usize].to_vec(), offsets)
    };
    let (values, value_offsets) = cut(&b.values, &b.value_offsets);
    let (keys, key_offsets) = cut(&b.keys, &b.key_offsets);
    let (headers, header_offsets) = cut(&b.headers, &b.header_offsets);
    Batch {
        values,
        value_offsets,
        keys,
        key_offsets,
        timestamps: b.timestamps[range].to_vec(),
        headers,
        header_offsets,
    }
}

/// Moves a host batch's buffers into the interface's record, keeping positions and
/// partition keys aside.
pub fn to_wit(p: BatchParts) -> (Batch, Vec<u64>, Vec<u8>, Vec<u32>) {
    let b = Batch {
        values: p.values,
        value_offsets: p.value_offsets,
        keys: p.keys,
        key_offsets: p.key_offsets,
        timestamps: p.timestamps,
        headers: p.headers,
        header_offsets: p.header_offsets,
    };
    (b, p.positions, p.partition_keys, p.partition_key_offsets)
}

/// The inverse of `to_wit`.
pub fn from_wit(b: Batch, positions: Vec<u64>, keys: Vec<u8>, key_offsets: Vec<u32>) -> BatchParts {
    BatchParts {
        values: b.values,
        value_offsets: b.value_offsets,
        keys: b.keys,
        key_offsets: b.key_offsets,
        timestamps: b.timestamps,
        headers: b.headers,
        header_offsets: b.header_offsets,
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

fn span<'a>(data: &'a [u8], offsets: &[u32], i: usize) -> &'a [u8] {
    &data[offsets[i] as usize..offsets[i + 1] as usize]
}

/// The input a step received: its records, their positions and partition keys.
pub struct StepInput<'a> {
    pub batch: &'a Batch,
    pub positions: &'a [u64],
    pub keys: &'a [u8],
    pub key_offsets: &'a [u32],
}

impl StepInput<'_> {
    fn partition_keys(&self, i: usize) -> &[u8] {
        if self.key_offsets.is_empty() {
            &[]
        } else {
            span(self.keys, self.key_offsets, i)
        }
    }

    /// An owned copy of record `i` (for a record that failed).
    pub fn owned(&self, i: usize) -> OwnedRecord {
        let b = self.batch;
        OwnedRecord {
            value: span(&b.values, &b.value_offsets, i).to_vec(),
            key: span(&b.keys, &b.key_offsets, i).to_vec(),
            timestamp: b.timestamps[i],
            headers: span(&b.headers, &b.header_offsets, i).to_vec(),
            position: self.positions[i],
        }
    }
}

/// One record taken out of a batch.
pub struct OwnedRecord {
    pub value: Vec<u8>,
    pub key: Vec<u8>,
    pub timestamp: i64,
    pub headers: Vec<u8>,
    pub position: u64,
}

impl Builder {
    pub fn push_owned(&mut self, r: &OwnedRecord) {
        self.push(
            &r.value,
            &r.key,
            r.timestamp,
            &r.headers,
            r.position,
            &[],
            &[],
        );
    }
}

/// Builds a host batch record by record.
pub struct Builder {
    parts: BatchParts,
    keyed: bool,
}

impl Builder {
    pub fn new() -> Self {
        Self {
            parts: BatchParts {
                value_offsets: vec![0],
                key_offsets: vec![0],
                header_offsets: vec![0],
                ..Default::default()
            },
            keyed: false,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        value: &[u8],
        key: &[u8],
        timestamp: i64,
        headers: &[u8],
        position: u64,
        inherited: &[u8],
        added: &[u8],
    ) {
        let p = &mut self.parts;
        p.values.extend_from_slice(value);
        p.value_offsets.push(p.values.len() as u32);
        p.keys.extend_from_slice(key);
        p.key_offsets.push(p.keys.len() as u32);
        p.timestamps.push(timestamp);
        p.headers.extend_from_slice(headers);
        p.header_offsets.push(p.headers.len() as u32);
        p.positions.push(position);
        if !inherited.is_empty() || !added.is_empty() {
            if !self.keyed {
                self.keyed = true;
                p.partition_key_offsets = vec![0; p.positions.len()];
            }
            p.partition_keys.extend_from_slice(inherited);
            p.partition_keys.extend_from_slice(added);
        }
        if self.keyed {
            p.partition_key_offsets.push(p.partition_keys.len() as u32);
        }
    }

    /// Appends the output of one call whose first input record is `offset`.
    pub fn append(&mut self, input: &StepInput<'_>, offset: usize, o: &Output) {
        let mut changed = o.changed.iter().enumerate().peekable();
        for (j, &parent) in o.parents.iter().enumerate() {
            let p = offset + parent as usize;
            let added = if o.partition_offsets.is_empty() {
                &[][..]
            } else {
                span(&o.partitions, &o.partition_offsets, j)
            };
            // A changed record comes from the plugin's records, the others from the input.
            let (src, k) = match changed.next_if(|(_, c)| **c as usize == j) {
                Some((k, _)) => (&o.records, k),
                None => (input.batch, p),
            };
            self.push(
                span(&src.values, &src.value_offsets, k),
                span(&src.keys, &src.key_offsets, k),
                src.timestamps[k],
                span(&src.headers, &src.header_offsets, k),
                input.positions[p],
                input.partition_keys(p),
                added,
            );
        }
    }

    pub fn finish(self) -> BatchParts {
        self.parts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::bindings::weir::transform::types::RecordError;

    fn batch(values: &[&str]) -> Batch {
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

    fn output(parents: &[u32], changed: &[&str]) -> Output {
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
        let cases: [(Output, &str); 5] = [
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
        ];
        for (o, want) in cases {
            let err = check(&o, 3, 1 << 20).unwrap_err();
            assert!(err.starts_with(want), "{err}");
        }
        assert!(check(&ok, 3, 2).unwrap_err().contains("over the limit"));
    }

    #[test]
    fn slices_rebase_offsets() {
        let b = batch(&["one", "two", "three"]);
        let s = slice(&b, 1..3);
        assert_eq!(s.values, b"twothree");
        assert_eq!(s.value_offsets, vec![0, 3, 8]);
        assert_eq!(s.timestamps.len(), 2);
    }

    #[test]
    fn builder_mixes_kept_and_changed_records_and_keys() {
        let input = batch(&["a", "b", "c"]);
        let positions = [10, 20, 30];
        let mut inherited = Vec::new();
        crate::record::pack_into(&mut inherited, b"zone", b"z1");
        let key_offsets = [
            0,
            inherited.len() as u32,
            inherited.len() as u32,
            inherited.len() as u32,
        ];
        let step = StepInput {
            batch: &input,
            positions: &positions,
            keys: &inherited,
            key_offsets: &key_offsets,
        };
        let mut o = output(&[0, 2, 2], &["C1"]);
        o.changed = vec![1];
        let mut added = Vec::new();
        crate::record::pack_into(&mut added, b"zone", b"z2");
        o.partition_offsets = vec![0, 0, added.len() as u32, added.len() as u32];
        o.partitions = added;
        let mut b = Builder::new();
        b.append(&step, 0, &o);
        let out = crate::record::Batch::from_parts("p".into(), 31, b.finish());
        let rows: Vec<_> = (0..out.len())
            .map(|i| {
                let zone = crate::record::find_packed(out.partition_keys(i), "zone");
                (
                    out.value(i).to_vec(),
                    out.position(i),
                    zone.map(<[u8]>::to_vec),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (b"a".to_vec(), 10, Some(b"z1".to_vec())),
                (b"C1".to_vec(), 30, Some(b"z2".to_vec())),
                (b"c".to_vec(), 30, None),
            ]
        );
    }
}
