//! Per-prefix buffers and the delivery watermark. A buffer holds the records of one
//! (prefix, source partition) pair; the watermark of a partition is the lowest position
//! not yet durably written, so a position is acknowledged only once every record before
//! it is in an object (or was dead-lettered or dropped).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use arrow_array::RecordBatch;

use crate::position::Position;
use crate::record::PartitionId;

/// Records bound for one prefix, produced by the decode stage from one batch.
pub struct Group {
    pub prefix: String,
    pub data: GroupData,
    /// Source position of each record, ascending.
    pub positions: Vec<Position>,
}

impl Group {
    /// Splits off the records after `position`; `self` keeps those up to it.
    pub fn split_after(&mut self, position: &Position) -> Option<Group> {
        let keep = self.positions.partition_point(|p| p <= position);
        if keep == self.positions.len() {
            return None;
        }
        let positions = self.positions.split_off(keep);
        let data = match &mut self.data {
            GroupData::Arrow(b) => {
                let tail = b.slice(keep, b.num_rows() - keep);
                *b = b.slice(0, keep);
                GroupData::Arrow(tail)
            }
            GroupData::Lines(lines) => {
                let at = if keep == 0 {
                    0
                } else {
                    lines
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| **c == b'\n')
                        .nth(keep - 1)
                        .map_or(lines.len(), |(i, _)| i + 1)
                };
                GroupData::Lines(lines.split_off(at))
            }
        };
        Some(Group {
            prefix: self.prefix.clone(),
            data,
            positions,
        })
    }
}

pub enum GroupData {
    /// Parquet rows.
    Arrow(RecordBatch),
    /// Newline-terminated lines: JSON-lines data or dead letters.
    Lines(Vec<u8>),
}

impl GroupData {
    pub fn memory_size(&self) -> usize {
        match self {
            GroupData::Arrow(b) => arrow_bytes(b),
            GroupData::Lines(l) => l.capacity(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferKey {
    pub prefix: String,
    pub partition: PartitionId,
    pub dead_letter: bool,
}

pub struct Buffer {
    pub batches: Vec<RecordBatch>,
    pub lines: Vec<u8>,
    pub bytes: usize,
    pub records: usize,
    pub first_position: Position,
    pub last_position: Position,
    /// A replayed cut's recorded positions, which name the object instead of the
    /// buffer's first and last (those still hold the partition's position back).
    pub span: Option<(Position, Position)>,
    pub opened: Instant,
    pub last_write: Instant,
}

/// A buffer whose object is being written: until the write completes it holds its
/// partition's watermark and its bytes count against the memory budget.
struct Writing {
    partition: PartitionId,
    first_position: Position,
    bytes: usize,
    opened: Instant,
}

/// All open buffers and those being written, their byte total, and what each partition
/// has been read up to.
#[derive(Default)]
pub struct Buffers {
    open: HashMap<BufferKey, Buffer>,
    writing: HashMap<u64, Writing>,
    next_write: u64,
    /// Bytes of open buffers and of buffers being written.
    total_bytes: usize,
    /// Per partition: everything before this position has reached a buffer (or was
    /// dropped or dead-lettered into one).
    processed: BTreeMap<PartitionId, Position>,
    /// Partitions released or dropped: no watermark until they are read again.
    forgotten: std::collections::HashSet<PartitionId>,
}

impl Buffers {
    pub fn total_bytes(&self) -> usize {
        self.total_bytes
    }

    pub fn get(&self, key: &BufferKey) -> Option<&Buffer> {
        self.open.get(key)
    }

    /// Gives a buffer the span `first..=last` of a replayed cut, so its object gets the
    /// cut's key even when the records at its ends were not output again.
    pub fn span(&mut self, key: &BufferKey, first: Position, last: Position) {
        if let Some(buffer) = self.open.get_mut(key) {
            buffer.span = Some((first, last));
        }
    }

    /// Adds a group; returns the key of the buffer it went to.
    pub fn append(
        &mut self,
        partition: &PartitionId,
        group: Group,
        dead_letter: bool,
    ) -> BufferKey {
        self.forgotten.remove(partition);
        let key = BufferKey {
            prefix: group.prefix,
            partition: partition.clone(),
            dead_letter,
        };
        let now = Instant::now();
        let size = group.data.memory_size() as isize;
        let buffer = self.open.entry(key.clone()).or_insert_with(|| Buffer {
            batches: Vec::new(),
            lines: Vec::new(),
            bytes: 0,
            records: 0,
            first_position: group.positions[0].clone(),
            last_position: group.positions[group.positions.len() - 1].clone(),
            span: None,
            opened: now,
            last_write: now,
        });
        let mut size = size;
        match group.data {
            GroupData::Arrow(b) => {
                buffer.batches.push(b);
                size = compact_tail(&mut buffer.batches, size);
            }
            GroupData::Lines(l) => {
                // What the buffer holds is its capacity, which grows by doubling.
                let before = buffer.lines.capacity();
                buffer.lines.extend_from_slice(&l);
                size = (buffer.lines.capacity() - before) as isize;
            }
        }
        buffer.bytes = buffer.bytes.saturating_add_signed(size);
        buffer.records += group.positions.len();
        let (first, last) = (
            &group.positions[0],
            &group.positions[group.positions.len() - 1],
        );
        if *first < buffer.first_position {
            buffer.first_position = first.clone();
        }
        if *last > buffer.last_position {
            buffer.last_position = last.clone();
        }
        buffer.last_write = now;
        self.total_bytes = self.total_bytes.saturating_add_signed(size);
        key
    }

    /// Records that a partition has been processed up to `next_position`.
    pub fn advance(&mut self, partition: &PartitionId, next_position: Position) {
        self.forgotten.remove(partition);
        self.processed.insert(partition.clone(), next_position);
    }

    /// Discards an open buffer unwritten. The partition's processed position falls back
    /// to the buffer's first record, so the watermark never passes what it held.
    pub fn discard(&mut self, key: &BufferKey) {
        let Some(buffer) = self.open.remove(key) else {
            return;
        };
        self.total_bytes -= buffer.bytes;
        if let Some(p) = self.processed.get_mut(&key.partition)
            && buffer.first_position < *p
        {
            *p = buffer.first_position;
        }
    }

    /// Forgets a partition: it has no watermark until it is read again, so nothing
    /// more is recorded for it (writes already under way still finish).
    pub fn forget(&mut self, partition: &PartitionId) {
        self.processed.remove(partition);
        self.forgotten.insert(partition.clone());
    }

    /// Removes a buffer for writing; returns it with the id that `written` takes once
    /// its object is durable. Until then the buffer holds the watermark: a write that
    /// never completes leaves its records uncommitted, to be replayed after a restart.
    pub fn begin_write(&mut self, key: &BufferKey) -> Option<(u64, Buffer)> {
        let buffer = self.open.remove(key)?;
        let id = self.next_write;
        self.next_write += 1;
        self.writing.insert(
            id,
            Writing {
                partition: key.partition.clone(),
                first_position: buffer.first_position.clone(),
                bytes: buffer.bytes,
                opened: buffer.opened,
            },
        );
        Some((id, buffer))
    }

    /// The write `id` completed: its records no longer hold the watermark.
    pub fn written(&mut self, id: u64) {
        if let Some(w) = self.writing.remove(&id) {
            self.total_bytes -= w.bytes;
        }
    }

    pub fn largest(&self, eligible: impl Fn(&BufferKey) -> bool) -> Option<BufferKey> {
        self.open
            .iter()
            .filter(|(k, _)| eligible(k))
            .max_by_key(|(_, b)| b.bytes)
            .map(|(k, _)| k.clone())
    }

    /// Buffers matching `due`.
    pub fn due(&self, due: impl Fn(&Buffer) -> bool) -> Vec<BufferKey> {
        let mut keys: Vec<BufferKey> = self
            .open
            .iter()
            .filter(|(_, b)| due(b))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    pub fn keys(&self) -> Vec<BufferKey> {
        self.due(|_| true)
    }

    /// Buffers open (not counting those being written).
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Per partition with records not yet durable: how long, in seconds, the oldest of
    /// its open or writing buffers has held records.
    pub fn lags(&self) -> BTreeMap<String, f64> {
        let mut lags: BTreeMap<String, f64> = BTreeMap::new();
        let open = self.open.iter().map(|(k, b)| (&k.partition, b.opened));
        let writing = self.writing.values().map(|w| (&w.partition, w.opened));
        for (partition, opened) in open.chain(writing) {
            let age = opened.elapsed().as_secs_f64();
            let lag = lags.entry(partition.to_string()).or_insert(age);
            *lag = lag.max(age);
        }
        lags
    }

    /// The contiguous watermark per partition: the lowest position still in a buffer or
    /// being written, or the processed position when there is none.
    pub fn watermarks(&self) -> BTreeMap<String, Position> {
        let mut marks: BTreeMap<String, Position> = self
            .processed
            .iter()
            .map(|(p, n)| (p.to_string(), n.clone()))
            .collect();
        let open = self
            .open
            .iter()
            .map(|(k, b)| (&k.partition, &b.first_position));
        let writing = self
            .writing
            .values()
            .map(|w| (&w.partition, &w.first_position));
        for (partition, first) in open.chain(writing) {
            if self.forgotten.contains(partition) {
                continue;
            }
            let mark = marks
                .entry(partition.to_string())
                .or_insert_with(|| first.clone());
            if first < mark {
                *mark = first.clone();
            }
        }
        marks
    }
}

/// Rows below which a batch counts as small. A merged run of 8 small batches is small
/// again only while they average under 16 rows, so a row is copied a few times at most.
const SMALL_BATCH_ROWS: usize = 128;
/// Small batches at the end of a buffer that are merged into one.
const SMALL_RUN: usize = 8;

/// Heap bytes of an array beyond its buffers (Arc'd array data, buffer headers, the
/// allocator's rounding), which `get_array_memory_size` does not include.
const ARRAY_OVERHEAD: usize = 320;

/// What a batch really costs in memory: its buffers plus a fixed cost per array.
pub fn arrow_bytes(batch: &RecordBatch) -> usize {
    fn arrays(t: &arrow_schema::DataType) -> usize {
        use arrow_schema::DataType::*;
        1 + match t {
            Struct(fields) => fields.iter().map(|f| arrays(f.data_type())).sum(),
            List(f) | LargeList(f) | FixedSizeList(f, _) | Map(f, _) => arrays(f.data_type()),
            _ => 0,
        }
    }
    let count: usize = batch
        .schema()
        .fields()
        .iter()
        .map(|f| arrays(f.data_type()))
        .sum();
    batch.get_array_memory_size() + count * ARRAY_OVERHEAD
}

/// Merges a trailing run of small batches into one. With many open prefixes each batch
/// from the source contributes a few rows to every prefix; merging keeps per-array
/// overhead (which the byte count does not see) from growing with the number of
/// prefixes. Returns `added` corrected by the change in buffered bytes.
fn compact_tail(batches: &mut Vec<RecordBatch>, added: isize) -> isize {
    let run = batches
        .iter()
        .rev()
        .take_while(|b| b.num_rows() < SMALL_BATCH_ROWS)
        .count();
    if run < SMALL_RUN {
        return added;
    }
    let tail = batches.split_off(batches.len() - run);
    let before: usize = tail.iter().map(arrow_bytes).sum();
    let merged = arrow_select::concat::concat_batches(&tail[0].schema(), &tail)
        .expect("batches of one buffer share a schema");
    let after = arrow_bytes(&merged);
    batches.push(merged);
    added + after as isize - before as isize
}

/// What the decode stage hands the writer for one source batch.
pub struct Routed {
    pub partition: PartitionId,
    /// Resume point once everything in this batch is delivered.
    pub next_position: Position,
    /// Parquet-bound rows, split per prefix by the writer.
    pub rows: Option<super::rows::PrefixedRows>,
    /// JSON-lines groups, one per prefix.
    pub data: Vec<Group>,
    pub dead_letters: Vec<Group>,
}

impl Routed {
    /// The memory its records take.
    pub fn memory_size(&self) -> usize {
        let rows = self.rows.as_ref().map_or(0, |r| arrow_bytes(&r.batch));
        let groups = self.data.iter().chain(&self.dead_letters);
        rows + groups.map(|g| g.data.memory_size()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::offsets;

    fn lines(prefix: &str, first: u64, last: u64) -> Group {
        Group {
            prefix: prefix.into(),
            data: GroupData::Lines(b"x\nx\n".to_vec()),
            positions: offsets(&[first, last]),
        }
    }

    /// A JSON-lines buffer counts the capacity it holds, which grows by doubling, not
    /// only the bytes in it: the budget bounds what the process really holds.
    #[test]
    fn json_lines_buffers_count_their_capacity() {
        let mut b = Buffers::default();
        let p: PartitionId = "f".into();
        for i in 0..100u64 {
            b.append(&p, lines("a/", 2 * i, 2 * i + 1), false);
        }
        let key = BufferKey {
            prefix: "a/".into(),
            partition: p,
            dead_letter: false,
        };
        let held = b.get(&key).unwrap().lines.capacity();
        assert!(held > 400, "{held}");
        assert_eq!(b.total_bytes(), held);
    }

    #[test]
    fn groups_split_at_a_position() {
        let mut g = Group {
            prefix: "p/".into(),
            data: GroupData::Lines(b"a\nb\nc\n".to_vec()),
            positions: offsets(&[3, 7, 9]),
        };
        let tail = g.split_after(&7.into()).unwrap();
        assert_eq!(g.positions, offsets(&[3, 7]));
        assert_eq!(tail.positions, offsets(&[9]));
        let (GroupData::Lines(head), GroupData::Lines(rest)) = (&g.data, &tail.data) else {
            panic!()
        };
        assert_eq!(
            (head.as_slice(), rest.as_slice()),
            (&b"a\nb\n"[..], &b"c\n"[..])
        );
        assert!(g.split_after(&7.into()).is_none());
    }

    #[test]
    fn a_discarded_buffer_holds_the_watermark_at_its_first_record() {
        let p: PartitionId = "f".into();
        let mut b = Buffers::default();
        b.append(&p, lines("a/", 0, 4), false);
        let held = b.append(&p, lines("b/", 5, 9), false);
        b.advance(&p, 10.into());
        let (first, _) = b
            .begin_write(&BufferKey {
                prefix: "a/".into(),
                ..held.clone()
            })
            .unwrap();
        b.written(first);
        b.discard(&held);
        assert_eq!(
            b.watermarks()["f"],
            5.into(),
            "never past the discarded records"
        );
        assert_eq!(b.total_bytes(), 0);
        b.forget(&p);
        assert!(
            b.watermarks().is_empty(),
            "a forgotten partition records nothing"
        );
    }

    #[test]
    fn watermark_waits_for_the_earliest_open_buffer() {
        let p: PartitionId = "f".into();
        let mut b = Buffers::default();
        let a = b.append(&p, lines("a/", 0, 10), false);
        let c = b.append(&p, lines("b/", 5, 20), false);
        b.advance(&p, 30.into());
        assert_eq!(b.watermarks()["f"], 0.into());
        let bytes = b.total_bytes();
        let (early, _) = b.begin_write(&a).unwrap();
        let (late, _) = b.begin_write(&c).unwrap();
        assert_eq!(b.total_bytes(), bytes, "a write in flight still counts");
        b.written(late);
        assert_eq!(
            b.watermarks()["f"],
            0.into(),
            "a later write never skips an earlier one still in flight"
        );
        b.written(early);
        assert_eq!(b.watermarks()["f"], 30.into());
        assert_eq!(b.total_bytes(), 0);
    }
}
