//! Kafka offsets follow the acknowledgements: whenever durable positions advance, the
//! owned partitions' offsets are committed (asynchronously; a later commit supersedes
//! a lost one). Runs until the pipeline's writer is gone, then makes a last commit.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;

use super::consumer::{Member, Weir};
use crate::position::Position;
use crate::state::Positions;

/// Commits at most this often.
const PERIOD: Duration = Duration::from_millis(500);
/// How often the lag behind each partition's high watermark and the group's committed
/// offsets are measured.
const LAG_PERIOD: Duration = Duration::from_secs(5);
const WATERMARK_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn follow(consumer: Arc<Weir>, mut acks: watch::Receiver<Positions>) {
    let member = consumer.context().clone();
    let mut committed = Positions::default();
    let mut lag_tick = tokio::time::interval(LAG_PERIOD);
    loop {
        tokio::select! {
            changed = acks.changed() => {
                if changed.is_err() {
                    break;
                }
                let durable = acks.borrow_and_update().clone();
                commit(&consumer, &member, &durable, &mut committed, CommitMode::Async);
                tokio::time::sleep(PERIOD).await;
            }
            _ = lag_tick.tick() => {
                let (c, durable) = (consumer.clone(), acks.borrow().clone());
                let measured = tokio::task::spawn_blocking(move || report_lag(&c, &durable)).await;
                // An asynchronous commit the broker did not take is made again: the
                // group's offset must not stay behind while no new record comes.
                if let Ok(Some(group)) = measured {
                    committed.0.retain(|id, at| group.0.get(id) == Some(at));
                    let durable = acks.borrow().clone();
                    commit(&consumer, &member, &durable, &mut committed, CommitMode::Async);
                }
            }
        }
    }
    // The pipeline is done: a last, synchronous commit of what it made durable, then
    // the consumer closes (leaving the group), both off the async workers.
    let durable = acks.borrow().clone();
    member.closing();
    let closed = tokio::task::spawn_blocking(move || {
        commit(
            &consumer,
            &member,
            &durable,
            &mut committed,
            CommitMode::Sync,
        );
        drop(consumer);
    });
    let _ = closed.await;
}

/// Commits the durable offsets of the partitions this member owns that moved.
pub fn commit(
    consumer: &Weir,
    member: &Member,
    durable: &Positions,
    committed: &mut Positions,
    mode: CommitMode,
) {
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, id) in member.owned() {
        let Some(position) = durable.0.get(&id) else {
            continue;
        };
        if committed.0.get(&id) == Some(position) {
            continue;
        }
        if let Some(offset) = position.as_offset() {
            let _ = tpl.add_partition_offset(&topic, partition, Offset::Offset(offset as i64));
            committed.0.insert(id, position.clone());
        }
    }
    if tpl.count() == 0 {
        return;
    }
    if let Err(e) = consumer.commit(&tpl, mode) {
        tracing::warn!(error = %e, "could not commit offsets to Kafka; the next commit carries them");
    }
}

/// Publishes, per owned partition, the records between the durable offset and the
/// partition's high watermark, and the offset the group has committed (as the broker
/// answers it, like consumer-lag tools read it), which it returns.
fn report_lag(consumer: &Weir, durable: &Positions) -> Option<Positions> {
    let member = consumer.context();
    let owned = member.owned();
    let mut tpl = TopicPartitionList::new();
    for (topic, partition, id) in &owned {
        tpl.add_partition(topic, *partition);
        let Ok((_, high)) = consumer.fetch_watermarks(topic, *partition, WATERMARK_TIMEOUT) else {
            continue;
        };
        let at = durable.0.get(id).and_then(|p| p.as_offset()).unwrap_or(0) as i64;
        member.metrics().source_lag(id, (high - at).max(0));
    }
    let committed = consumer.committed_offsets(tpl, WATERMARK_TIMEOUT).ok()?;
    let mut group = Positions::default();
    for e in committed.elements() {
        if let Offset::Offset(offset) = e.offset() {
            let id = super::partition_id(e.topic(), e.partition());
            member.metrics().source_committed(&id, offset);
            group.0.insert(id, Position::offset(offset as u64));
        }
    }
    Some(group)
}
