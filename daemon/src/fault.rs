//! Fault injection for Weir's own tests. `WEIR_FAULTS=POINT@PIPELINE=ACTION[,...]` makes
//! a named point of a pipeline `panic`, or `abort` the process as a SIGKILL would stop
//! it (`abort:N`: at the point's Nth hit), so tests check that a panic stays inside its
//! pipeline and that a crash at each step of the flush protocol loses and duplicates
//! nothing. Unset — as it always is in production — a point costs one read of a
//! once-initialised empty list.
//!
//! Points, in the order a flush goes through them: `decode` (each batch, before
//! decoding), `cut-recorded` (the cut is in the ledger, its object not yet written),
//! `object-written` (the object is
//! durable, the positions not yet stored), `mid-prune` (local state: positions stored,
//! the ledger not yet pruned), `committed` (positions stored and the ledger pruned).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

struct Fault {
    point: String,
    pipeline: String,
    action: String,
    /// Abort at this hit (1: the first).
    at: u64,
    hits: AtomicU64,
}

pub fn hit(point: &str, pipeline: &str) {
    static FAULTS: OnceLock<Vec<Fault>> = OnceLock::new();
    let faults = FAULTS.get_or_init(|| {
        std::env::var("WEIR_FAULTS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|f| {
                let (at, action) = f.split_once('=')?;
                let (point, pipeline) = at.split_once('@')?;
                let (action, n) = action.split_once(':').unwrap_or((action, "1"));
                Some(Fault {
                    point: point.into(),
                    pipeline: pipeline.into(),
                    action: action.into(),
                    at: n.parse().unwrap_or(1),
                    hits: AtomicU64::new(0),
                })
            })
            .collect()
    });
    for f in faults {
        if f.point != point || f.pipeline != pipeline {
            continue;
        }
        match f.action.as_str() {
            "abort" => {
                if f.hits.fetch_add(1, Ordering::SeqCst) + 1 == f.at {
                    eprintln!("fault injected at `{point}` (WEIR_FAULTS): aborting");
                    std::process::abort();
                }
            }
            _ => panic!("fault injected at `{point}` (WEIR_FAULTS)"),
        }
    }
}
