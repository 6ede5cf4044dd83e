//! Replaying recorded cuts after a restart. Records that sit in an object known to be
//! complete are dropped; the others are gathered into the same cut as before and flushed
//! exactly at its last position, so the object gets the same key and content. Until its
//! cut is reached, such a buffer is exempt from every other flush trigger.

use super::buffers::{BufferKey, Group};
use super::ledger::Plan;
use crate::position::Position;
use crate::state::Cut;

pub enum Step {
    Append(Group),
    /// Flush the buffer of this prefix now: its replayed cut is complete. The object
    /// spans the recorded cut's positions, so it gets the recorded key even when the
    /// records at its ends were not output again (a transform that is not
    /// deterministic).
    Flush {
        prefix: String,
        first: Position,
        last: Position,
    },
}

#[derive(Default)]
pub struct Replay {
    plan: Plan,
}

impl Replay {
    pub fn new(plan: Plan) -> Self {
        Self { plan }
    }

    /// The cuts still to replay for one partition.
    pub fn cuts_of(&self, partition: &str) -> Vec<Cut> {
        let planned = self.plan.iter().filter(|((_, p, _), _)| p == partition);
        planned
            .flat_map(|((prefix, p, dead_letter), cuts)| {
                cuts.iter().map(|c| Cut {
                    prefix: prefix.clone(),
                    partition: p.clone(),
                    dead_letter: *dead_letter,
                    first: c.first.clone(),
                    last: c.last.clone(),
                    routing: None,
                    rendered_at: None,
                })
            })
            .collect()
    }

    /// Replaces one partition's cuts with `plan`'s (a partition taken on mid-run).
    pub fn restart(&mut self, partition: &str, plan: Plan) {
        self.plan.retain(|(_, p, _), _| p != partition);
        self.plan.extend(plan);
    }

    /// Whether a buffer waits for its replayed cut and must not be flushed otherwise.
    pub fn holds(&self, key: &BufferKey) -> bool {
        !self.plan.is_empty()
            && self
                .plan
                .get(&(
                    key.prefix.clone(),
                    key.partition.to_string(),
                    key.dead_letter,
                ))
                .and_then(|cuts| cuts.front())
                .is_some_and(|c| !c.written)
    }

    /// Splits a group along the recorded cuts of its buffer.
    pub fn route(&mut self, partition: &str, dead_letter: bool, group: Group) -> Vec<Step> {
        if self.plan.is_empty() {
            return vec![Step::Append(group)];
        }
        let id = (group.prefix.clone(), partition.to_string(), dead_letter);
        let Some(cuts) = self.plan.get_mut(&id) else {
            return vec![Step::Append(group)];
        };
        let mut steps = Vec::new();
        let mut rest = Some(group);
        while let Some(mut head) = rest.take() {
            let Some(cut) = cuts.front().cloned() else {
                steps.push(Step::Append(head));
                break;
            };
            rest = head.split_after(&cut.last);
            let reached = rest.is_some() || head.positions.last() == Some(&cut.last);
            if !cut.written && !head.positions.is_empty() {
                steps.push(Step::Append(head));
            }
            if reached {
                cuts.pop_front();
                if !cut.written {
                    steps.push(Step::Flush {
                        prefix: id.0.clone(),
                        first: cut.first,
                        last: cut.last,
                    });
                }
            }
        }
        if cuts.is_empty() {
            self.plan.remove(&id);
        }
        steps
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;
    use crate::sink::GroupData;
    use crate::sink::ledger::Planned;

    fn group(positions: &[u64]) -> Group {
        let lines = positions
            .iter()
            .map(|p| format!("{p}\n"))
            .collect::<String>()
            .into_bytes();
        Group {
            prefix: "a/".into(),
            data: GroupData::Lines(lines),
            positions: crate::position::offsets(positions),
        }
    }

    fn describe(steps: Vec<Step>) -> Vec<String> {
        steps
            .into_iter()
            .map(|s| match s {
                Step::Append(g) => format!("append {:?}", g.positions),
                Step::Flush { prefix, .. } => format!("flush {prefix}"),
            })
            .collect()
    }

    #[test]
    fn drops_written_records_and_recuts_the_rest() {
        let planned = |first: u64, last: u64, written| Planned {
            first: first.into(),
            last: last.into(),
            written,
        };
        let plan = Plan::from([(
            ("a/".to_string(), "f".to_string(), false),
            VecDeque::from([planned(0, 4, true), planned(6, 9, false)]),
        )]);
        let mut replay = Replay::new(plan);
        let key = BufferKey {
            prefix: "a/".into(),
            partition: "f".into(),
            dead_letter: false,
        };
        assert_eq!(
            describe(replay.route("f", false, group(&[3, 4, 6]))),
            vec!["append [6]"]
        );
        assert!(replay.holds(&key), "the buffer waits for position 9");
        assert_eq!(
            describe(replay.route("f", false, group(&[8, 9, 11]))),
            vec!["append [8, 9]", "flush a/", "append [11]"]
        );
        assert!(!replay.holds(&key));
        assert_eq!(
            describe(replay.route("f", false, group(&[12]))),
            vec!["append [12]"]
        );
    }
}
