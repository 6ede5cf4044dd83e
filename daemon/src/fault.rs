//! Fault injection for Weir's own tests. `WEIR_FAULTS=POINT@PIPELINE=ACTION[,...]` makes
//! a named point of a pipeline `panic` or `abort` the process (as a SIGKILL would stop
//! it), so tests check that a panic stays inside its pipeline and that a crash at a
//! given step loses and duplicates nothing. Unset — as it always is in production — a
//! point costs one read of a once-initialised empty list.

use std::sync::OnceLock;

/// Points: `decode` (each batch, before decoding).
pub fn hit(point: &str, pipeline: &str) {
    static FAULTS: OnceLock<Vec<(String, String, String)>> = OnceLock::new();
    let faults = FAULTS.get_or_init(|| {
        std::env::var("WEIR_FAULTS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|f| {
                let (at, action) = f.split_once('=')?;
                let (point, pipeline) = at.split_once('@')?;
                Some((point.into(), pipeline.into(), action.into()))
            })
            .collect()
    });
    for (p, name, action) in faults {
        if p == point && name == pipeline {
            match action.as_str() {
                "abort" => std::process::abort(),
                _ => panic!("fault injected at `{point}` (WEIR_FAULTS)"),
            }
        }
    }
}
