//! The batch: records of one source partition in flat columnar buffers (values and keys
//! with offsets, timestamps, packed headers, positions). Appending never allocates per
//! record; buffers grow geometrically and are reused by `clear`.

mod error_kind;

use std::sync::Arc;

pub use error_kind::ErrorKind;

use crate::position::Position;

/// A stable name for a source partition (a file, a Kafka partition, a generator stream).
/// It appears in object keys and in the position checkpoint.
pub type PartitionId = Arc<str>;

#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub partition: PartitionId,
    values: Vec<u8>,
    value_offsets: Vec<u32>,
    keys: Vec<u8>,
    key_offsets: Vec<u32>,
    /// Arrival time of each record, milliseconds since the Unix epoch.
    timestamps: Vec<i64>,
    /// Headers packed as `name_len u16, name, value_len u32, value` per header.
    headers: Vec<u8>,
    header_offsets: Vec<u32>,
    /// Source position of each record.
    positions: Vec<Position>,
    /// Partition keys set by transforms, packed like headers; no offsets when none.
    partition_keys: Vec<u8>,
    partition_key_offsets: Vec<u32>,
    /// The position to resume from once every record of this batch is delivered.
    pub next_position: Position,
    /// Set by a source on a batch of one record that was too large to hold: its value
    /// is only the record's first bytes, and this is the record's full length. Such a
    /// batch goes straight to the error prefix, past transforms and decoding.
    pub oversized: Option<u64>,
}

/// The flat buffers of a batch, for handing to a plugin without copying.
#[derive(Debug, Default)]
pub struct BatchParts {
    pub values: Vec<u8>,
    pub value_offsets: Vec<u32>,
    pub keys: Vec<u8>,
    pub key_offsets: Vec<u32>,
    pub timestamps: Vec<i64>,
    pub headers: Vec<u8>,
    pub header_offsets: Vec<u32>,
    pub positions: Vec<Position>,
    pub partition_keys: Vec<u8>,
    pub partition_key_offsets: Vec<u32>,
}

impl Batch {
    pub fn new(partition: PartitionId) -> Self {
        Self {
            partition,
            value_offsets: vec![0],
            key_offsets: vec![0],
            header_offsets: vec![0],
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Bytes of record values held.
    pub fn value_bytes(&self) -> usize {
        self.values.len()
    }

    /// Appends a record whose value the caller writes into `values_mut()` first:
    /// this lets sources format or read straight into the batch.
    pub fn commit_value(&mut self, key: Option<&[u8]>, timestamp_ms: i64, position: Position) {
        self.value_offsets.push(to_offset(self.values.len()));
        if let Some(k) = key {
            self.keys.extend_from_slice(k);
        }
        self.key_offsets.push(to_offset(self.keys.len()));
        self.header_offsets.push(to_offset(self.headers.len()));
        if !self.partition_key_offsets.is_empty() {
            self.partition_key_offsets
                .push(to_offset(self.partition_keys.len()));
        }
        self.timestamps.push(timestamp_ms);
        self.positions.push(position);
    }

    /// Appends a whole record.
    pub fn push(
        &mut self,
        value: &[u8],
        key: Option<&[u8]>,
        timestamp_ms: i64,
        position: Position,
    ) {
        self.values.extend_from_slice(value);
        self.commit_value(key, timestamp_ms, position);
    }

    /// The value buffer, for writing the next record's value in place.
    pub fn values_mut(&mut self) -> &mut Vec<u8> {
        &mut self.values
    }

    /// Drops bytes written after the last committed record (e.g. a partial line).
    pub fn discard_uncommitted(&mut self) {
        let end = *self.value_offsets.last().expect("offsets start with 0") as usize;
        self.values.truncate(end);
    }

    pub fn value(&self, i: usize) -> &[u8] {
        &self.values[self.value_offsets[i] as usize..self.value_offsets[i + 1] as usize]
    }

    pub fn key(&self, i: usize) -> Option<&[u8]> {
        let k = &self.keys[self.key_offsets[i] as usize..self.key_offsets[i + 1] as usize];
        (!k.is_empty()).then_some(k)
    }

    pub fn timestamp(&self, i: usize) -> i64 {
        self.timestamps[i]
    }

    pub fn position(&self, i: usize) -> &Position {
        &self.positions[i]
    }

    /// Iterates header (name, value) pairs of record `i`.
    pub fn headers(&self, i: usize) -> impl Iterator<Item = (&[u8], &[u8])> {
        unpack(&self.headers[self.header_offsets[i] as usize..self.header_offsets[i + 1] as usize])
    }

    /// Adds a header to the record being built; call before `commit_value`/`push`.
    pub fn push_header(&mut self, name: &[u8], value: &[u8]) {
        pack_into(&mut self.headers, name, value);
    }

    /// Adds a partition key (for `!{partition:NAME}` prefixes) to the record being
    /// built, as a source knows them (a Kafka topic); call before `commit_value`/`push`.
    pub fn push_partition_key(&mut self, name: &[u8], value: &[u8]) {
        if self.partition_key_offsets.is_empty() {
            self.partition_key_offsets = vec![0; self.len() + 1];
        }
        pack_into(&mut self.partition_keys, name, value);
    }

    /// The partition keys of record `i`, packed (name, value) pairs.
    pub fn partition_keys(&self, i: usize) -> &[u8] {
        match self.partition_key_offsets.get(i..i + 2) {
            Some(&[a, b]) => &self.partition_keys[a as usize..b as usize],
            _ => &[],
        }
    }

    /// Takes the buffers apart; `from_parts` puts them back together.
    pub fn into_parts(self) -> (PartitionId, Position, BatchParts) {
        let parts = BatchParts {
            values: self.values,
            value_offsets: self.value_offsets,
            keys: self.keys,
            key_offsets: self.key_offsets,
            timestamps: self.timestamps,
            headers: self.headers,
            header_offsets: self.header_offsets,
            positions: self.positions,
            partition_keys: self.partition_keys,
            partition_key_offsets: self.partition_key_offsets,
        };
        (self.partition, self.next_position, parts)
    }

    /// Reassembles a batch. The parts must be consistent: offsets that start at 0, do
    /// not decrease and end at their buffer's length, one per record plus one.
    pub fn from_parts(partition: PartitionId, next_position: Position, p: BatchParts) -> Self {
        let n = p.positions.len();
        debug_assert!(
            p.value_offsets.len() == n + 1
                && p.key_offsets.len() == n + 1
                && p.header_offsets.len() == n + 1
                && p.timestamps.len() == n
                && (p.partition_key_offsets.is_empty() || p.partition_key_offsets.len() == n + 1)
        );
        Self {
            partition,
            values: p.values,
            value_offsets: p.value_offsets,
            keys: p.keys,
            key_offsets: p.key_offsets,
            timestamps: p.timestamps,
            headers: p.headers,
            header_offsets: p.header_offsets,
            positions: p.positions,
            partition_keys: p.partition_keys,
            partition_key_offsets: p.partition_key_offsets,
            next_position,
            oversized: None,
        }
    }

    /// Empties the batch, keeping its capacity.
    pub fn clear(&mut self) {
        self.values.clear();
        self.keys.clear();
        self.headers.clear();
        self.timestamps.clear();
        self.positions.clear();
        self.partition_keys.clear();
        self.partition_key_offsets.clear();
        for offsets in [
            &mut self.value_offsets,
            &mut self.key_offsets,
            &mut self.header_offsets,
        ] {
            offsets.clear();
            offsets.push(0);
        }
    }
}

/// Appends one (name, value) pair in the packed layout of headers and partition keys.
pub fn pack_into(buf: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    buf.extend_from_slice(&(name.len() as u16).to_le_bytes());
    buf.extend_from_slice(name);
    buf.extend_from_slice(&(value.len() as u32).to_le_bytes());
    buf.extend_from_slice(value);
}

/// Iterates packed (name, value) pairs (headers, partition keys); stops at the end or
/// at a truncated entry.
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

/// The value of `name` among packed pairs; the last one wins, so a later transform
/// step overrides an earlier one.
pub fn find_packed<'a>(packed: &'a [u8], name: &str) -> Option<&'a [u8]> {
    unpack(packed)
        .filter(|(n, _)| *n == name.as_bytes())
        .last()
        .map(|(_, v)| v)
}

fn to_offset(n: usize) -> u32 {
    u32::try_from(n).expect("a batch holds less than 4 GiB; sources cap batch bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_buffers_round_trip() {
        let mut b = Batch::new("p".into());
        b.push_header(b"h", b"v");
        b.push(b"{\"a\":1}", Some(b"k1"), 10, Position::ZERO);
        b.values_mut().extend_from_slice(b"second");
        b.commit_value(None, 11, Position::offset(8));
        b.values_mut().extend_from_slice(b"partial");
        b.discard_uncommitted();
        assert_eq!(b.len(), 2);
        assert_eq!(b.value(0), b"{\"a\":1}");
        assert_eq!(b.value(1), b"second");
        assert_eq!(b.key(0), Some(&b"k1"[..]));
        assert_eq!(b.key(1), None);
        assert_eq!(
            b.headers(0).collect::<Vec<_>>(),
            vec![(&b"h"[..], &b"v"[..])]
        );
        assert_eq!(b.headers(1).count(), 0);
        assert_eq!(b.partition_keys(0), b"");
        b.push_partition_key(b"topic", b"orders");
        b.push(b"third", None, 12, Position::offset(9));
        assert_eq!(
            find_packed(b.partition_keys(2), "topic"),
            Some(&b"orders"[..])
        );
        assert_eq!(b.partition_keys(1), b"");
        assert_eq!((b.position(1), b.timestamp(1)), (&Position::offset(8), 11));
        b.clear();
        assert!(b.is_empty());
    }
}
