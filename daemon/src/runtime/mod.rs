//! The runtime around pipelines: each one supervised alone and restarted after a
//! transient failure; the directory watched and changed pipelines swapped in after
//! they validate, without pausing the others.

mod fleet;
mod footprint;
mod reload;
mod supervise;
mod watch;

pub use fleet::{Fleet, Report};
pub use footprint::{Footprint, footprint};
pub use reload::Reloader;
pub use supervise::supervise;
pub use watch::Watcher;
