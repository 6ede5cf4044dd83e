//! The pipeline lease kept in the object-store state: who may write, since which
//! epoch, renewed how recently. A standby does not trust clocks: it takes over when the
//! state object has not changed for a whole lease time as it measured it itself, or at
//! once when the holder released it or is this very process (a restarted pipeline).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use object_store::UpdateVersion;
use serde::{Deserialize, Serialize};

use super::object::Doc;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// The daemon that holds it (host, process id and a random tag), or none.
    pub holder: Option<String>,
    /// Grows by one at every change of holder.
    pub epoch: u64,
    /// When the holder last wrote, milliseconds since the Unix epoch (for people; the
    /// standby measures staleness with its own clock).
    pub renewed_at_ms: i64,
    /// How long a standby waits after the last change before taking over.
    pub ttl_ms: u64,
}

impl LeaseRecord {
    pub fn new(holder: &str, epoch: u64, ttl: Duration) -> Self {
        let mut record = LeaseRecord {
            holder: Some(holder.into()),
            epoch,
            ..Default::default()
        };
        record.renew(ttl);
        record
    }

    pub fn renew(&mut self, ttl: Duration) {
        self.renewed_at_ms = chrono::Utc::now().timestamp_millis();
        self.ttl_ms = ttl.as_millis() as u64;
    }
}

/// The state version a standby last saw change, and when it saw it.
pub struct Seen {
    e_tag: Option<String>,
    version: Option<String>,
    since: Instant,
}

pub enum Claim {
    /// Another live daemon holds the lease.
    Wait(String),
    /// Write this lease to take it.
    Take(LeaseRecord),
}

/// Whether `me` may take the lease of the state as read now.
pub fn decide(
    current: Option<&(Doc, UpdateVersion)>,
    me: &str,
    ttl: Duration,
    seen: &mut Option<Seen>,
) -> Claim {
    let Some((doc, version)) = current else {
        return Claim::Take(LeaseRecord::new(me, 1, ttl));
    };
    let next = LeaseRecord::new(me, doc.lease.epoch + 1, ttl);
    let other = match &doc.lease.holder {
        None => return Claim::Take(next),
        Some(h) if h == me => return Claim::Take(next),
        Some(h) => h.clone(),
    };
    let unchanged = seen
        .as_ref()
        .is_some_and(|s| s.e_tag == version.e_tag && s.version == version.version);
    if !unchanged {
        *seen = Some(Seen {
            e_tag: version.e_tag.clone(),
            version: version.version.clone(),
            since: Instant::now(),
        });
    }
    let stale_after = Duration::from_millis(doc.lease.ttl_ms.max(1));
    match seen {
        Some(s) if unchanged && s.since.elapsed() >= stale_after => {
            tracing::warn!(holder = %other, epoch = doc.lease.epoch, "the lease holder stopped renewing; taking over");
            Claim::Take(next)
        }
        _ => Claim::Wait(other),
    }
}

/// How often a standby looks at the lease.
pub fn poll_period(ttl: Duration) -> Duration {
    (ttl / 6).clamp(Duration::from_millis(100), Duration::from_secs(5))
}

/// This process as a lease holder: host, process id and a random tag, so two daemons
/// on one host, or one restarted with a recycled pid, never look the same.
pub fn process_holder() -> &'static str {
    static HOLDER: OnceLock<String> = OnceLock::new();
    HOLDER.get_or_init(|| {
        let host = hostname().unwrap_or_else(|| "unknown-host".into());
        format!("{host}:{}:{:08x}", std::process::id(), fastrand::u32(..))
    })
}

fn hostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it
    // or reports an error.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0)?;
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}
