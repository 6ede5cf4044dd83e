//! The `kafka` source: a consumer-group member (librdkafka, cooperative-sticky
//! rebalancing) reading topics into batches, one source partition per topic partition
//! (`<topic>-<n>`, positions are offsets). Where a partition resumes is Weir's own
//! durable position; Kafka's committed offsets follow it, committed only once every
//! record before them is in the lake or the error prefix. A revoked partition is
//! flushed and released before it is given up; a lost one is dropped unrecorded.

mod commit;
mod config;
mod consumer;
mod offsets;

pub use config::{KafkaConfig, SecurityConfig, Start};

use crate::source::{SourceContext, SourceError};

/// A validated Kafka source.
#[derive(Debug, Clone)]
pub struct KafkaSource {
    /// Topic names, or one `^regex`.
    pub subscription: Vec<String>,
    pub start: Start,
    /// The librdkafka configuration.
    pub client: Vec<(String, String)>,
    pub batch_size: usize,
    /// Offsets fetched before a resume point and skipped (a broker work-around).
    pub seek_back: i64,
}

/// The source partition of a topic partition.
pub fn partition_id(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

impl KafkaSource {
    /// Consumes until shutdown; the consumer runs on a thread of its own, since
    /// librdkafka's calls (and its rebalance callbacks) block.
    /// Returns once the pipeline's writer is gone and the last offsets are committed.
    pub async fn run(self, ctx: SourceContext) -> Result<(), SourceError> {
        let handle = tokio::runtime::Handle::current();
        let (consumer, committer) = consumer::connect(&self, ctx, handle)?;
        let done = tokio::task::spawn_blocking(move || consumer.run());
        let read = done
            .await
            .map_err(|e| SourceError::Kafka(format!("the consumer thread failed: {e}")))?;
        committer
            .await
            .map_err(|e| SourceError::Kafka(format!("the offset committer failed: {e}")))?;
        read
    }
}
