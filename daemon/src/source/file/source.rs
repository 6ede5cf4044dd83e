//! Reads lines into batches, file by file in name order. A line is a record once its
//! newline is seen; in `once` mode a last line without newline is a record too. Blank
//! lines are skipped. Offsets in a batch are line starts; `next_position` is the resume
//! point.

use std::collections::BTreeMap;
use std::io::SeekFrom;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncSeekExt, BufReader};

use super::FileMode;
use super::config::LineEncoding;
use super::identity::Bindings;
use super::tracker::{Tracker, Turn, Unread};
use crate::position::Position;
use crate::record::{Batch, PartitionId};
use crate::source::SourceContext;
use crate::source::SourceError;

/// A batch is sent early once it holds this many value bytes.
const MAX_BATCH_BYTES: usize = 1 << 20;

/// Bytes read from one file before the next file gets its turn, so a busy file does
/// not starve the others.
pub const TURN_BYTES: u64 = 16 << 20;

#[derive(Debug, Clone)]
pub struct FileSource {
    pub pattern: String,
    pub mode: FileMode,
    pub batch_size: usize,
    pub poll_interval: Duration,
    /// Base64 lines are decoded by the decode stage, so a bad line is dead-lettered
    /// as written.
    pub encoding: LineEncoding,
    /// Partition keys set on every record, as another source would set them (`weir
    /// test` standing in for a Kafka topic); none from a pipeline file.
    pub partition_keys: Vec<(String, String)>,
    /// Bytes of one file read per turn ([`TURN_BYTES`]).
    pub turn_bytes: u64,
    /// The longest line read whole; a longer one becomes a `record-too-large` batch.
    pub max_record_bytes: usize,
}

/// Bytes of an oversized record kept for its dead letter.
const PREVIEW_BYTES: usize = 1024;

/// One line as read: bytes consumed from the file, and whether it ended in a newline.
struct Line {
    consumed: usize,
    complete: bool,
}

/// Reads one line, appending at most `keep` of its bytes to `out` (the rest is read
/// and dropped, so a huge line never sits in memory).
async fn read_line(
    reader: &mut BufReader<tokio::fs::File>,
    out: &mut Vec<u8>,
    keep: usize,
) -> std::io::Result<Line> {
    let (mut consumed, mut kept) = (0, 0);
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Line {
                consumed,
                complete: false,
            });
        }
        let (take, complete) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = keep.saturating_sub(kept).min(take);
        out.extend_from_slice(&buf[..room]);
        kept += room;
        consumed += take;
        reader.consume(take);
        if complete {
            return Ok(Line { consumed, complete });
        }
    }
}

impl FileSource {
    fn matches(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = glob::glob(&self.pattern)
            .map(|paths| {
                paths
                    .filter_map(Result::ok)
                    .filter(|p| p.is_file())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    pub async fn run(self, ctx: SourceContext) -> Result<(), SourceError> {
        let from = ctx.start();
        let offsets: BTreeMap<String, u64> = from
            .0
            .keys()
            .filter_map(|p| Some((p.clone(), from.offset_of(p)?)))
            .collect();
        let bindings = Bindings::from_notes(ctx.notes().await?).map_err(SourceError::Notes)?;
        let mut files = Tracker::new(offsets, bindings, self.mode == FileMode::Follow);
        loop {
            let listed = self.matches();
            if listed.is_empty() && self.mode == FileMode::Once {
                tracing::warn!(pattern = %self.pattern, "no file matches the source path");
            }
            let (turns, changed, unread) = files.poll(listed);
            for Unread { path, error } in unread {
                self.unread(&path, error)?;
            }
            if changed {
                ctx.save_notes(files.bindings.to_notes()).await?;
            }
            let mut more = false;
            for turn in turns {
                let (partition, path) = (turn.partition.clone(), turn.path.clone());
                let start = files.offsets.get(&partition).copied().unwrap_or(0);
                let read = self.read_file(turn, start, &ctx).await;
                let end = match read {
                    Ok((end, rest, len)) => {
                        more |= rest;
                        match (rest, len) {
                            (false, Some(len)) => files.lengths.insert(partition.clone(), len),
                            _ => files.lengths.remove(&partition),
                        };
                        end
                    }
                    Err(e) => self.unread(&path, e).map(|()| start)?,
                };
                files.offsets.insert(partition, end);
                if ctx.shutdown.is_cancelled() || ctx.is_closed() {
                    return Ok(());
                }
            }
            if more {
                continue;
            }
            if self.mode == FileMode::Once {
                return Ok(());
            }
            tokio::select! {
                _ = tokio::time::sleep(self.poll_interval) => {}
                _ = ctx.shutdown.cancelled() => return Ok(()),
            }
        }
    }

    /// What a file that could not be read means: gone since the listing (rotated away,
    /// deleted) is nothing to read; in follow mode an unreadable file (permissions,
    /// replaced by a folder) waits for the next poll while the others go on; reading
    /// once, it fails the pipeline (finishing would leave its records unread).
    fn unread(&self, path: &std::path::Path, e: SourceError) -> Result<(), SourceError> {
        match &e {
            SourceError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                tracing::info!(file = %path.display(), "file gone before it was read; skipped");
                Ok(())
            }
            _ if self.mode == FileMode::Follow => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read the file; trying again at the next poll");
                Ok(())
            }
            _ => Err(e),
        }
    }

    /// The batch of one record longer than the limit: its first bytes and its length.
    fn oversized(
        &self,
        preview: Vec<u8>,
        (partition, offset, consumed): (PartitionId, u64, usize),
        length: usize,
        path: &std::path::Path,
    ) -> Batch {
        tracing::warn!(file = %path.display(), offset, length, limit = self.max_record_bytes, "record over max_record_bytes; sent to the error prefix");
        let mut batch = Batch::new(partition);
        batch.values_mut().extend_from_slice(&preview);
        batch.commit_value(
            None,
            chrono::Utc::now().timestamp_millis(),
            Position::offset(offset),
        );
        batch.next_position = Position::offset(offset + consumed as u64);
        batch.oversized = Some(length as u64);
        batch
    }

    /// Sends the complete lines of a turn's file from `start` (and an unterminated last
    /// line when the file is whole), at most about `turn_bytes` of them; returns the
    /// offset after the last one sent, whether the file has more, and its length.
    async fn read_file(
        &self,
        turn: Turn,
        start: u64,
        tx: &SourceContext,
    ) -> Result<(u64, bool, Option<u64>), SourceError> {
        let (path, shutdown) = (turn.path.as_path(), &tx.shutdown);
        let partition: PartitionId = turn.partition.as_str().into();
        let io = |source| SourceError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = tokio::fs::File::from_std(turn.file);
        let len = file.metadata().await.map_err(io)?.len();
        let mut offset = start;
        file.seek(SeekFrom::Start(offset)).await.map_err(io)?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut batch = Batch::new(partition.clone());
        let now = || chrono::Utc::now().timestamp_millis();
        let mut arrival = now();
        let mut more = false;
        // A line of the limit plus `\r\n` is still whole.
        let keep = self.max_record_bytes + 2;
        loop {
            let before = batch.values_mut().len();
            let line = read_line(&mut reader, batch.values_mut(), keep)
                .await
                .map_err(io)?;
            let (n, complete) = (line.consumed, line.complete);
            if n == 0 || (!complete && !turn.whole) {
                batch.discard_uncommitted();
                break;
            }
            let values = batch.values_mut();
            if complete && values.last() == Some(&b'\n') {
                values.pop();
                if values.last() == Some(&b'\r') {
                    values.pop();
                }
            }
            let length = n - usize::from(complete);
            if length > self.max_record_bytes {
                // Whatever was read before goes first; the oversized record goes alone.
                let preview: Vec<u8> = batch.values_mut()[before..]
                    .iter()
                    .take(PREVIEW_BYTES)
                    .copied()
                    .collect();
                batch.discard_uncommitted();
                if !batch.is_empty() {
                    batch.next_position = Position::offset(offset);
                    let full = std::mem::replace(&mut batch, Batch::new(partition.clone()));
                    if tx.send(full).await.is_err() {
                        return Ok((offset, false, None));
                    }
                }
                let oversized =
                    self.oversized(preview, (partition.clone(), offset, n), length, path);
                if tx.send(oversized).await.is_err() {
                    return Ok((offset + n as u64, false, None));
                }
                offset += n as u64;
                batch.next_position = Position::offset(offset);
                continue;
            }
            if values.len() > before {
                for (name, value) in &self.partition_keys {
                    batch.push_partition_key(name.as_bytes(), value.as_bytes());
                }
                batch.commit_value(None, arrival, Position::offset(offset));
            }
            offset += n as u64;
            batch.next_position = Position::offset(offset);
            if batch.len() >= self.batch_size || batch.value_bytes() >= MAX_BATCH_BYTES {
                let full = std::mem::replace(&mut batch, Batch::new(partition.clone()));
                if tx.send(full).await.is_err() || shutdown.is_cancelled() {
                    return Ok((offset, false, None));
                }
                arrival = now();
            }
            if offset - start >= self.turn_bytes {
                more = true;
                break;
            }
        }
        if offset != start {
            batch.next_position = Position::offset(offset);
            let _ = tx.send(batch).await;
        }
        Ok((offset, more, Some(len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_util::sync::CancellationToken;

    fn source(mode: FileMode) -> FileSource {
        FileSource {
            pattern: "*.ndjson".into(),
            mode,
            batch_size: 10,
            poll_interval: Duration::from_millis(10),
            encoding: LineEncoding::Text,
            partition_keys: Vec::new(),
            turn_bytes: TURN_BYTES,
            max_record_bytes: 1 << 20,
        }
    }

    fn io(kind: std::io::ErrorKind) -> SourceError {
        SourceError::Io {
            path: "a.ndjson".into(),
            source: kind.into(),
        }
    }

    /// A file deleted between the listing and the open is skipped in both modes; one
    /// that cannot be read waits in follow mode and fails a run that reads once.
    #[test]
    fn a_file_gone_or_unreadable_is_skipped_or_retried() {
        use std::io::ErrorKind::{NotFound, PermissionDenied};
        let path = std::path::Path::new("a.ndjson");
        for mode in [FileMode::Once, FileMode::Follow] {
            assert!(source(mode).unread(path, io(NotFound)).is_ok());
        }
        assert!(
            source(FileMode::Follow)
                .unread(path, io(PermissionDenied))
                .is_ok()
        );
        assert!(
            source(FileMode::Once)
                .unread(path, io(PermissionDenied))
                .is_err()
        );
    }

    /// A big file is read in turns with the others: the small file's records do not
    /// wait for the big one's end.
    #[tokio::test]
    async fn a_busy_file_does_not_starve_the_others() {
        use crate::source::SourceEvent;
        let dir = tempfile::tempdir().unwrap();
        let big: String = (0..50).map(|i| format!("{{\"n\": {i:012}}}\n")).collect();
        std::fs::write(dir.path().join("a.ndjson"), &big).unwrap();
        std::fs::write(dir.path().join("b.ndjson"), "{\"n\": 1}\n").unwrap();
        let mut file = source(FileMode::Once);
        file.pattern = dir.path().join("*.ndjson").display().to_string();
        file.turn_bytes = 100;
        let (events, mut rx) = tokio::sync::mpsc::channel::<SourceEvent>(1000);
        let ctx = SourceContext::new(
            Default::default(),
            events,
            tokio::sync::watch::channel(Default::default()).1,
            (
                CancellationToken::new(),
                crate::metrics::PipelineMetrics::default(),
            ),
        );
        file.run(ctx).await.unwrap();
        let mut order = Vec::new();
        while let Ok(SourceEvent::Batch(b)) = rx.try_recv() {
            order.push((b.partition.to_string(), b.len()));
        }
        let b_at = order.iter().position(|(p, _)| p == "b_ndjson").unwrap();
        assert!(b_at < 3, "b waited for a: {order:?}");
        let a_records: usize = order
            .iter()
            .filter(|(p, _)| p == "a_ndjson")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(a_records, 50, "every record of a, once: {order:?}");
    }

    /// A line far over the limit is read through without being held: at most `keep`
    /// of its bytes are kept, and the next line is read whole after it.
    #[tokio::test]
    async fn a_huge_line_is_read_through_keeping_only_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ndjson");
        let mut text = vec![b'x'; 10 << 20];
        text.extend_from_slice(b"\n{}\n");
        std::fs::write(&path, &text).unwrap();
        let file = tokio::fs::File::open(&path).await.unwrap();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut out = Vec::new();
        let line = read_line(&mut reader, &mut out, 1000).await.unwrap();
        assert_eq!(
            (line.consumed, line.complete, out.len()),
            ((10 << 20) + 1, true, 1000)
        );
        out.clear();
        let next = read_line(&mut reader, &mut out, 1000).await.unwrap();
        assert_eq!((next.consumed, out.as_slice()), (3, &b"{}\n"[..]));
    }
}
