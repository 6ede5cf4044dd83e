//! Building the next host batch from a step's output: kept records come from the
//! input, changed ones from the plugin, each with its source position and partition
//! keys.

use super::bindings::{Batch, Output};
use super::convert::HostBatch;
use crate::position::Position;
use crate::record::BatchParts;

fn span<'a>(data: &'a [u8], offsets: &[u32], i: usize) -> &'a [u8] {
    &data[offsets[i] as usize..offsets[i + 1] as usize]
}

/// One record's fields, borrowed from whichever batch holds it.
struct Fields<'a> {
    value: &'a [u8],
    key: &'a [u8],
    timestamp: i64,
    headers: &'a [u8],
}

fn of_input(b: &HostBatch, i: usize) -> Fields<'_> {
    let m = &b.meta;
    Fields {
        value: span(&b.values, &m.value_offsets, i),
        key: span(&m.keys, &m.key_offsets, i),
        timestamp: m.timestamps[i],
        headers: span(&m.headers, &m.header_offsets, i),
    }
}

fn of_output(b: &Batch, i: usize) -> Fields<'_> {
    Fields {
        value: span(&b.values, &b.value_offsets, i),
        key: span(&b.keys, &b.key_offsets, i),
        timestamp: b.timestamps[i],
        headers: span(&b.headers, &b.header_offsets, i),
    }
}

/// The input a step received: its records, their positions and partition keys.
pub struct StepInput<'a> {
    pub batch: &'a HostBatch,
    pub positions: &'a [Position],
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
        let r = of_input(self.batch, i);
        OwnedRecord {
            value: r.value.to_vec(),
            key: r.key.to_vec(),
            timestamp: r.timestamp,
            headers: r.headers.to_vec(),
            position: self.positions[i].clone(),
        }
    }
}

/// One record taken out of a batch.
pub struct OwnedRecord {
    pub value: Vec<u8>,
    pub key: Vec<u8>,
    pub timestamp: i64,
    pub headers: Vec<u8>,
    pub position: Position,
}

impl Builder {
    pub fn push_owned(&mut self, r: &OwnedRecord) {
        self.push(
            &r.value,
            &r.key,
            r.timestamp,
            &r.headers,
            r.position.clone(),
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
        position: Position,
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
            let r = match changed.next_if(|(_, c)| **c as usize == j) {
                Some((k, _)) => of_output(&o.records, k),
                None => of_input(input.batch, p),
            };
            self.push(
                r.value,
                r.key,
                r.timestamp,
                r.headers,
                input.positions[p].clone(),
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
    use crate::transform::convert::tests::{host_batch, output};

    #[test]
    fn builder_mixes_kept_and_changed_records_and_keys() {
        let input = host_batch(&["a", "b", "c"]);
        let positions = crate::position::offsets(&[10, 20, 30]);
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
        let out = crate::record::Batch::from_parts("p".into(), 31.into(), b.finish());
        let rows: Vec<_> = (0..out.len())
            .map(|i| {
                let zone = crate::record::find_packed(out.partition_keys(i), "zone");
                (
                    out.value(i).to_vec(),
                    out.position(i).clone(),
                    zone.map(<[u8]>::to_vec),
                )
            })
            .collect();
        assert_eq!(
            rows,
            vec![
                (b"a".to_vec(), 10.into(), Some(b"z1".to_vec())),
                (b"C1".to_vec(), 30.into(), Some(b"z2".to_vec())),
                (b"c".to_vec(), 30.into(), None),
            ]
        );
    }
}
