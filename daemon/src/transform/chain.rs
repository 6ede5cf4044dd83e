//! The transform chain: each step's output is the next step's input. Records a step
//! fails are set aside with the step's name and reason.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::CompileCache;
use super::builder::{Builder, OwnedRecord, StepInput};
use super::convert::{from_wit, is_identity, to_wit};
use super::plugin::{Plugin, PluginError, PluginSpec};
use crate::record::Batch;

pub struct Chain {
    pub steps: Vec<Plugin>,
}

/// The linear memory every plugin instance of a chain holds now, which the writer
/// counts against the memory budget.
#[derive(Clone, Default)]
pub struct PluginMemory(Vec<Arc<AtomicU64>>);

impl PluginMemory {
    pub fn bytes(&self) -> u64 {
        self.0.iter().map(|held| held.load(Ordering::Relaxed)).sum()
    }
}

/// Records a step could not process: a batch of them, positions ascending, and the
/// reason for each.
pub struct Failed {
    pub batch: Batch,
    pub reasons: Vec<String>,
}

/// A step that could not be loaded: its index in the chain, and why.
#[derive(Debug)]
pub struct StepError {
    pub step: usize,
    pub error: PluginError,
}

impl Chain {
    /// Loads every step (compiling it, or taking it from `cache`) and runs its `init`;
    /// `None` when there are no steps. Blocking: compiling takes a while.
    pub fn load(
        specs: &[PluginSpec],
        pipeline: &str,
        cache: &CompileCache,
    ) -> Result<Option<Chain>, StepError> {
        if specs.is_empty() {
            return Ok(None);
        }
        let steps = specs
            .iter()
            .enumerate()
            .map(|(step, spec)| {
                Plugin::load(spec.clone(), pipeline, cache)
                    .map_err(|error| StepError { step, error })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Chain { steps }))
    }

    /// What the chain's plugin instances hold.
    pub fn memory(&self) -> PluginMemory {
        PluginMemory(self.steps.iter().map(Plugin::memory).collect())
    }

    /// Runs `batch` through every step.
    pub fn apply(&self, batch: Batch) -> (Batch, Failed) {
        self.apply_observed(batch, |_, _| {})
    }

    /// Runs `batch` through every step, telling `observe` how long each step took.
    pub fn apply_observed(
        &self,
        batch: Batch,
        mut observe: impl FnMut(&str, std::time::Duration),
    ) -> (Batch, Failed) {
        let (partition, next_position, mut parts) = batch.into_parts();
        let mut failed: Vec<(OwnedRecord, String)> = Vec::new();
        for step in &self.steps {
            let (wit, positions, keys, key_offsets) = to_wit(parts);
            let n = wit.len();
            let started = std::time::Instant::now();
            let outcome = step.run(&wit);
            observe(&step.spec.name, started.elapsed());
            if outcome.failed.is_empty()
                && outcome.pieces.len() == 1
                && is_identity(&outcome.pieces[0].1, n)
            {
                parts = from_wit(wit, positions, keys, key_offsets);
                continue;
            }
            let input = StepInput {
                batch: &wit,
                positions: &positions,
                keys: &keys,
                key_offsets: &key_offsets,
            };
            let mut next = Builder::new();
            for (offset, out) in &outcome.pieces {
                next.append(&input, *offset, out);
            }
            for (i, reason) in outcome.failed {
                failed.push((input.owned(i), format!("{}: {reason}", step.spec.name)));
            }
            parts = next.finish();
        }
        failed.sort_by(|(a, _), (b, _)| a.position.cmp(&b.position));
        let mut set_aside = Builder::new();
        let mut reasons = Vec::with_capacity(failed.len());
        for (record, reason) in failed {
            set_aside.push_owned(&record);
            reasons.push(reason);
        }
        (
            Batch::from_parts(partition.clone(), next_position.clone(), parts),
            Failed {
                batch: Batch::from_parts(partition, next_position, set_aside.finish()),
                reasons,
            },
        )
    }
}

/// The next record of a chain's result, in source-position order.
pub enum Next {
    /// Index in the output batch.
    Output(usize),
    /// Index in the failed batch.
    Failed(usize),
}

/// Interleaves a chain's output with its failed records by source position (a failed
/// record first on a tie), so whatever consumes them keeps positions ascending.
pub fn in_position_order<'a>(
    output: &'a Batch,
    failed: Option<&'a Batch>,
) -> impl Iterator<Item = Next> + 'a {
    let (mut i, mut f) = (0, 0);
    std::iter::from_fn(move || {
        let failed_first = failed.is_some_and(|x| {
            f < x.len() && (i == output.len() || x.position(f) <= output.position(i))
        });
        if failed_first {
            f += 1;
            Some(Next::Failed(f - 1))
        } else if i < output.len() {
            i += 1;
            Some(Next::Output(i - 1))
        } else {
            None
        }
    })
}
