//! Runs the generator: batches of events, paced to `rate_per_sec` when set.

use std::time::Instant;

use super::{GeneratorKind, write_event};
use crate::position::Position;
use crate::record::{Batch, PartitionId};
use crate::source::SourceContext;

/// The single partition a generator writes.
pub const PARTITION: &str = "generator";

#[derive(Debug, Clone)]
pub struct Generator {
    pub kind: GeneratorKind,
    pub count: Option<u64>,
    pub rate_per_sec: Option<f64>,
    pub batch_size: usize,
    pub seed: u64,
    pub spread_ms: u64,
    pub start_ms: i64,
    pub invalid_ratio: f64,
}

impl Generator {
    pub async fn run(self, ctx: SourceContext) {
        let (tx, shutdown) = (&ctx, &ctx.shutdown);
        let partition: PartitionId = PARTITION.into();
        let mut next = ctx.start().offset_of(PARTITION).unwrap_or(0);
        let began = Instant::now();
        let first = next;
        // At a set rate, batches stay around a tenth of a second of events.
        let batch_size = self.rate_per_sec.map_or(self.batch_size, |r| {
            self.batch_size.min((r / 10.0).ceil() as usize).max(1)
        }) as u64;
        let invalid_every =
            (self.invalid_ratio > 0.0).then(|| (1.0 / self.invalid_ratio).round().max(1.0) as u64);
        while !shutdown.is_cancelled() && self.count.is_none_or(|c| next < c) {
            let end = self
                .count
                .map_or(next + batch_size, |c| c.min(next + batch_size));
            let mut batch = Batch::new(partition.clone());
            let arrival = chrono::Utc::now().timestamp_millis();
            for i in next..end {
                let mut rng = fastrand::Rng::with_seed(self.seed ^ i.rotate_left(17));
                let time = self.start_ms + rng.u64(..self.spread_ms) as i64;
                let invalid = invalid_every.is_some_and(|n| i % n == n - 1);
                write_event(self.kind, self.seed, i, time, invalid, batch.values_mut());
                batch.commit_value(None, arrival, Position::offset(i));
            }
            batch.next_position = Position::offset(end);
            next = end;
            if tx.send(batch).await.is_err() {
                return;
            }
            if let Some(rate) = self.rate_per_sec {
                let due = began + std::time::Duration::from_secs_f64((next - first) as f64 / rate);
                tokio::select! {
                    _ = tokio::time::sleep_until(due.into()) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        }
    }
}
