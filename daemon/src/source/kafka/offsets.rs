//! What the consumer has read of one partition: the next offset it expects, so records
//! delivered twice (after a fetch restart or a seek back) are skipped and a gap is
//! noticed. A gap is either real (a compacted topic, transaction markers) or a broker
//! that answers a fetch from inside a record batch with the next batch; with
//! `seek_back` set, the consumer fetches again from before the gap to tell: the gap is
//! real only when that fetch brings no record of it. (A fetch again can fill part of
//! a gap and be cut short inside the next record batch, when the partition is paused
//! and resumed there: it is then fetched again from the new point.)

/// What to do with a record the broker delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    /// Already read, or durable before the partition was assigned.
    Skip,
    /// Offsets were skipped: fetch again from this offset (records before the gap are
    /// then skipped as already read).
    Rewind(i64),
}

/// One owned partition's reading position.
#[derive(Debug, Clone, Copy)]
pub struct Tracked {
    /// The offset expected next; `None` until the first record of a partition that
    /// had no stored position (it starts wherever the broker starts it).
    next: Option<i64>,
    /// The gap already fetched again for (expected offset, offset got): met again
    /// unchanged, the gap is real.
    rewound_for: Option<(i64, i64)>,
}

impl Tracked {
    /// A partition read from `start` (its durable position), or from wherever the
    /// broker starts it when nothing is stored.
    pub fn new(start: Option<i64>) -> Self {
        Self {
            next: start,
            rewound_for: None,
        }
    }

    pub fn check(&mut self, offset: i64, seek_back: i64) -> Verdict {
        let Some(next) = self.next else {
            self.next = Some(offset + 1);
            return Verdict::Keep;
        };
        if offset < next {
            return Verdict::Skip;
        }
        if offset > next && seek_back > 0 && self.rewound_for != Some((next, offset)) {
            self.rewound_for = Some((next, offset));
            return Verdict::Rewind((next - seek_back).max(0));
        }
        if offset > next {
            tracing::warn!(
                expected = next,
                got = offset,
                "the broker skipped offsets: a compacted topic or transaction markers leave such gaps, and so does a broker that answers a fetch from inside a record batch with the next batch (see the kafka source's `seek_back`)"
            );
        }
        self.next = Some(offset + 1);
        Verdict::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_before_the_start_or_read_twice_are_skipped() {
        let mut t = Tracked::new(Some(10));
        assert_eq!(t.check(9, 0), Verdict::Skip);
        assert_eq!(t.check(10, 0), Verdict::Keep);
        assert_eq!(t.check(11, 0), Verdict::Keep);
        assert_eq!(t.check(10, 0), Verdict::Skip, "delivered again");
        assert_eq!(t.check(12, 0), Verdict::Keep);
    }

    #[test]
    fn a_gap_is_fetched_again_once_then_accepted() {
        let mut t = Tracked::new(Some(100));
        assert_eq!(t.check(100, 50), Verdict::Keep);
        assert_eq!(t.check(150, 50), Verdict::Rewind(51));
        // Fetched again from 51: what was read is skipped, the gap is filled.
        assert_eq!(t.check(51, 50), Verdict::Skip);
        assert_eq!(t.check(101, 50), Verdict::Keep);
        // A real gap (102..200 do not exist): fetched again once, then accepted.
        assert_eq!(t.check(200, 50), Verdict::Rewind(52));
        assert_eq!(t.check(101, 50), Verdict::Skip);
        assert_eq!(t.check(200, 50), Verdict::Keep);
        assert_eq!(t.check(201, 50), Verdict::Keep);
    }

    #[test]
    fn a_gap_partly_filled_by_the_fetch_again_is_fetched_again_from_its_new_start() {
        // A resume inside a batch skipped 16582..17185; the fetch again brought
        // 16582..16706 and was resumed inside the batch again.
        let mut t = Tracked::new(Some(16_582));
        assert_eq!(t.check(17_185, 10_000), Verdict::Rewind(6_582));
        assert_eq!(t.check(16_581, 10_000), Verdict::Skip);
        for offset in 16_582..16_707 {
            assert_eq!(t.check(offset, 10_000), Verdict::Keep);
        }
        assert_eq!(t.check(17_185, 10_000), Verdict::Rewind(6_707));
        assert_eq!(t.check(16_707, 10_000), Verdict::Keep);
        // No progress on a fetch again: the gap is real.
        assert_eq!(t.check(17_185, 10_000), Verdict::Rewind(6_708));
        assert_eq!(t.check(17_185, 10_000), Verdict::Keep);
    }

    #[test]
    fn without_seek_back_a_gap_is_accepted_at_once() {
        let mut t = Tracked::new(None);
        assert_eq!(t.check(7, 0), Verdict::Keep);
        assert_eq!(t.check(9, 0), Verdict::Keep);
        assert_eq!(t.check(9, 0), Verdict::Skip);
    }
}
