//! Dead letters read again after a crash land in the objects recorded for them. A dead
//! letter's prefix renders its arrival time, which is new when the record is read
//! again; so each dead-letter cut records the arrival time its prefix was rendered
//! with, and a dead letter read again inside a recorded cut renders its prefix with
//! that time — the same prefix, the same object key, the lake holds it once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::position::Position;
use crate::state::{Cut, Positions};

struct Recorded {
    prefix: String,
    first: Position,
    last: Position,
    at: i64,
}

/// The recorded dead-letter cuts still ahead of the stored positions, per partition;
/// shared by the writer (which knows the ledger) and the decode stage (which renders).
#[derive(Clone, Default)]
pub struct DeadLetterTimes(Arc<Mutex<HashMap<String, Vec<Recorded>>>>);

impl DeadLetterTimes {
    /// Takes the dead-letter cuts of `cuts` ahead of `positions`, replacing what was
    /// known of their partitions.
    pub fn set(&self, cuts: &[Cut], positions: &Positions) {
        let mut known = self.0.lock().expect("dead-letter times lock");
        for c in cuts {
            known.remove(&c.partition);
        }
        for c in cuts.iter().filter(|c| c.dead_letter) {
            let ahead = positions.0.get(&c.partition).is_none_or(|p| c.last >= *p);
            if let (true, Some(at)) = (ahead, c.rendered_at) {
                known
                    .entry(c.partition.clone())
                    .or_default()
                    .push(Recorded {
                        prefix: c.prefix.clone(),
                        first: c.first.clone(),
                        last: c.last.clone(),
                        at,
                    });
            }
        }
    }

    /// The arrival time to render the prefix of a dead letter at `position` with: that
    /// of a recorded cut covering the position whose prefix `render` gives again with
    /// it (so the cut is of this dead letter's error type).
    pub fn time_for(
        &self,
        partition: &str,
        position: &Position,
        render: impl Fn(i64) -> String,
    ) -> Option<i64> {
        let known = self.0.lock().expect("dead-letter times lock");
        known
            .get(partition)?
            .iter()
            .filter(|r| r.first <= *position && *position <= r.last)
            .find(|r| render(r.at) == r.prefix)
            .map(|r| r.at)
    }
}

/// The arrival time in the first dead letter of a buffer's lines (every dead letter of
/// one buffer renders the same prefix).
pub fn first_arrival(lines: &[u8]) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Arrival {
        arrival_ms: i64,
    }
    let end = lines
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(lines.len());
    serde_json::from_slice::<Arrival>(&lines[..end])
        .ok()
        .map(|a| a.arrival_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(prefix: &str, first: u64, last: u64, at: i64) -> Cut {
        Cut {
            prefix: prefix.into(),
            partition: "p".into(),
            dead_letter: true,
            first: first.into(),
            last: last.into(),
            routing: None,
            rendered_at: Some(at),
        }
    }

    #[test]
    fn a_dead_letter_inside_a_recorded_cut_of_its_type_takes_its_time() {
        let times = DeadLetterTimes::default();
        let cuts = [
            cut("x/1/", 10, 50, 1),
            cut("y/2/", 20, 40, 2),
            cut("x/3/", 60, 70, 3),
        ];
        times.set(&cuts, &Positions::default());
        let render_x = |t: i64| format!("x/{t}/");
        assert_eq!(times.time_for("p", &30.into(), render_x), Some(1));
        assert_eq!(
            times.time_for("p", &30.into(), |t| format!("y/{t}/")),
            Some(2)
        );
        assert_eq!(times.time_for("p", &55.into(), render_x), None);
        assert_eq!(times.time_for("q", &30.into(), render_x), None);
        let stored = Positions([("p".to_string(), Position::offset(55))].into());
        times.set(&cuts, &stored);
        assert_eq!(
            times.time_for("p", &30.into(), render_x),
            None,
            "behind the position"
        );
        assert_eq!(times.time_for("p", &65.into(), render_x), Some(3));
    }

    #[test]
    fn the_first_arrival_is_read_from_the_first_line() {
        let lines = b"{\"error_type\":\"x\",\"arrival_ms\":17}\n{\"arrival_ms\":18}\n";
        assert_eq!(first_arrival(lines), Some(17));
        assert_eq!(first_arrival(b"not json\n"), None);
    }
}
