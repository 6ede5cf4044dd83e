//! Watches the pipeline directory and every file pipelines load (plugins, registry
//! folders) with `notify`, and turns bursts of events into one "something changed"
//! after a quiet moment (an editor's save or a compiler's output is several events).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use super::footprint::Watched;

/// A change is acted on once no event came for this long...
const QUIET: Duration = Duration::from_millis(100);
/// ...or this long after its first event, whichever comes first.
const LONGEST_WAIT: Duration = Duration::from_secs(1);

pub struct Watcher {
    inner: notify::RecommendedWatcher,
    watched: BTreeSet<Watched>,
    events: mpsc::UnboundedReceiver<()>,
}

impl Watcher {
    pub fn new() -> notify::Result<Self> {
        let (tx, events) = mpsc::unbounded_channel();
        let inner = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            // Reads (ours included, when a reload reads the files) are no change.
            let relevant = match event {
                Ok(e) => !matches!(e.kind, EventKind::Access(_)),
                // A lost event (queue overflow) may hide a change: look again.
                Err(_) => true,
            };
            if relevant {
                let _ = tx.send(());
            }
        })?;
        Ok(Self {
            inner,
            watched: BTreeSet::new(),
            events,
        })
    }

    /// Watches exactly `wanted` from now on. A path that does not exist yet is skipped
    /// (its parent, the pipeline directory or a plugin's folder, is watched).
    pub fn watch_only(&mut self, wanted: BTreeSet<Watched>) {
        for gone in self.watched.difference(&wanted) {
            let _ = self.inner.unwatch(&gone.path);
        }
        let mut now = BTreeSet::new();
        for w in wanted {
            let mode = if w.recursive {
                RecursiveMode::Recursive
            } else {
                RecursiveMode::NonRecursive
            };
            if self.watched.contains(&w) || self.inner.watch(&w.path, mode).is_ok() {
                now.insert(w);
            } else {
                tracing::debug!(path = %w.path.display(), "not watched (missing)");
            }
        }
        self.watched = now;
    }

    /// Waits for a change, then for the burst it belongs to to end.
    pub async fn changed(&mut self) {
        if self.events.recv().await.is_none() {
            return std::future::pending().await;
        }
        let deadline = tokio::time::Instant::now() + LONGEST_WAIT;
        loop {
            let quiet = tokio::time::sleep(QUIET);
            tokio::select! {
                _ = quiet => return,
                _ = tokio::time::sleep_until(deadline) => return,
                more = self.events.recv() => if more.is_none() { return },
            }
        }
    }
}

/// The directory itself, not recursively: pipeline files are its direct children.
pub fn directory(dir: &std::path::Path) -> Watched {
    Watched {
        path: PathBuf::from(dir),
        recursive: false,
    }
}
