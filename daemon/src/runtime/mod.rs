//! The runtime around pipelines: each one supervised alone, restarted after a
//! transient failure, its state reported to the metrics hub.

mod supervise;

pub use supervise::supervise;
