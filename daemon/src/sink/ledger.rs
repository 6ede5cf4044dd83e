//! The cut ledger's replay plan. Before an object is uploaded, its cut (prefix, source
//! partition, first and last position) is recorded in the pipeline's state. After a
//! crash the records after the stored positions are read again; the writer replays the
//! recorded cuts so they land in the same objects under the same keys, and the lake
//! holds each record once even though the first cuts were made by wall-clock triggers.

use std::collections::{HashMap, VecDeque};

use crate::position::Position;
use crate::state::{Cut, Positions};

/// A recorded cut seen from the stored positions: `written` when it starts before them,
/// which proves its object was complete (positions never pass an open buffer).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Planned {
    pub first: Position,
    pub last: Position,
    pub written: bool,
}

/// Cuts to replay, per (prefix, partition, dead letter), in position order.
pub type Plan = HashMap<(String, String, bool), VecDeque<Planned>>;

/// The replay plan of the cuts still ahead of `positions` (cuts entirely before them
/// are skipped: their records are not read again).
/// Refuses to replay cuts recorded under another routing than `routing` (see
/// `SinkSpec::routing`): their records would no longer reach the recorded prefixes.
pub fn check_routing(
    cuts: &[Cut],
    positions: &Positions,
    routing: &str,
) -> Result<(), super::SinkError> {
    let stale: Vec<String> = cuts
        .iter()
        .filter(|c| positions.0.get(&c.partition).is_none_or(|p| c.last >= *p))
        .filter(|c| c.routing.as_deref().is_some_and(|r| r != routing))
        .map(|c| {
            format!(
                "partition {} positions {}..={} under `{}`",
                c.partition, c.first, c.last, c.prefix
            )
        })
        .collect();
    if stale.is_empty() {
        return Ok(());
    }
    Err(super::SinkError::Rerouted {
        cuts: stale.join(", "),
    })
}

pub fn plan(cuts: &[Cut], positions: &Positions) -> Plan {
    let mut plan = Plan::new();
    for c in cuts {
        let stored = positions.0.get(&c.partition);
        if stored.is_some_and(|p| c.last < *p) {
            continue;
        }
        let planned = Planned {
            first: c.first.clone(),
            last: c.last.clone(),
            written: stored.is_some_and(|p| c.first < *p),
        };
        plan.entry((c.prefix.clone(), c.partition.clone(), c.dead_letter))
            .or_default()
            .push_back(planned);
    }
    for cuts in plan.values_mut() {
        cuts.make_contiguous().sort();
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(prefix: &str, first: u64, last: u64) -> Cut {
        Cut {
            prefix: prefix.into(),
            partition: "f".into(),
            dead_letter: false,
            first: first.into(),
            last: last.into(),
            routing: None,
            rendered_at: None,
        }
    }

    #[test]
    fn cuts_made_under_another_routing_are_refused_unless_already_stored() {
        let positions = Positions([("f".to_string(), Position::offset(11))].into());
        let with = |r: &str, first, last| Cut {
            routing: Some(r.into()),
            rendered_at: None,
            ..cut("a/", first, last)
        };
        assert!(check_routing(&[with("x", 0, 10), with("y", 12, 30)], &positions, "y").is_ok());
        assert!(check_routing(&[cut("a/", 12, 30)], &positions, "y").is_ok());
        let e = check_routing(&[with("x", 12, 30)], &positions, "y").unwrap_err();
        assert!(
            e.to_string()
                .contains("partition f positions 12..=30 under `a/`"),
            "{e}"
        );
    }

    #[test]
    fn plans_the_cuts_ahead_of_the_positions() {
        let cuts = [cut("a/", 0, 10), cut("b/", 5, 20), cut("a/", 12, 30)];
        let positions = Positions([("f".to_string(), Position::offset(11))].into());
        let plan = plan(&cuts, &positions);
        let planned = |first: u64, last: u64, written| Planned {
            first: first.into(),
            last: last.into(),
            written,
        };
        assert_eq!(
            plan[&("a/".into(), "f".into(), false)],
            VecDeque::from([planned(12, 30, false)])
        );
        assert_eq!(
            plan[&("b/".into(), "f".into(), false)],
            VecDeque::from([planned(5, 20, true)])
        );
    }
}
