//! Which object-store failures a retry can cure, and how long to wait before the next
//! attempt: a refusal (no such bucket, access denied, bad credentials) is final at once;
//! anything else is retried with capped exponential backoff and full jitter.

use std::error::Error;
use std::time::Duration;

/// The first retry waits up to this long; each later one up to twice as long as the last.
const BASE: Duration = Duration::from_millis(250);
/// No wait is longer than this.
const CAP: Duration = Duration::from_secs(10);

/// A failed write, with whether retrying it can help.
#[derive(Debug)]
pub struct Failure {
    pub permanent: bool,
    pub reason: String,
}

impl Failure {
    /// Classifies an error by the object-store error somewhere in its chain of causes.
    pub fn of(e: &(dyn Error + 'static)) -> Self {
        let permanent = causes(e).any(|cause| {
            use object_store::Error::*;
            matches!(
                cause.downcast_ref::<object_store::Error>(),
                Some(
                    NotFound { .. }
                        | PermissionDenied { .. }
                        | Unauthenticated { .. }
                        | InvalidPath { .. }
                        | NotSupported { .. }
                        | NotImplemented { .. }
                        | UnknownConfigurationKey { .. }
                )
            )
        });
        let kind = if permanent {
            "refused by the store; retrying cannot help"
        } else {
            "transient"
        };
        Self {
            permanent,
            reason: format!("{e} ({kind})"),
        }
    }
}

/// Every error in the chain: each error's source, and the error an I/O error wraps.
fn causes<'a>(e: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(
        Some(e),
        |e: &&'a (dyn Error + 'static)| -> Option<&'a (dyn Error + 'static)> {
            let e: &'a (dyn Error + 'static) = *e;
            match e
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(inner) => Some(inner),
                None => e.source(),
            }
        },
    )
}

/// How long to wait before attempt `attempt + 1` (attempts count from 1): a random time
/// up to the capped exponential bound, so writers that failed together do not retry
/// together.
pub fn backoff(attempt: u32) -> Duration {
    bound(attempt, BASE, CAP).mul_f64(fastrand::f64())
}

/// Between half of and the whole bound `base × 2^(attempt-1)`, capped: growing waits
/// that are never all alike, and never much shorter than the bound.
pub fn jittered(attempt: u32, base: Duration, cap: Duration) -> Duration {
    bound(attempt, base, cap).mul_f64(0.5 + fastrand::f64() / 2.0)
}

fn bound(attempt: u32, base: Duration, cap: Duration) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_permanent_wherever_they_sit_in_the_chain() {
        let denied = || object_store::Error::PermissionDenied {
            path: "k".into(),
            source: "403".into(),
        };
        assert!(Failure::of(&denied()).permanent);
        let io: std::io::Error = denied().into();
        assert!(Failure::of(&io).permanent);
        let parquet = parquet::errors::ParquetError::External(Box::new(std::io::Error::from(
            object_store::Error::NotFound {
                path: "bucket".into(),
                source: "NoSuchBucket".into(),
            },
        )));
        let failure = Failure::of(&parquet);
        assert!(failure.permanent, "{}", failure.reason);
        assert!(failure.reason.contains("retrying cannot help"));
    }

    #[test]
    fn other_failures_are_transient() {
        let generic = object_store::Error::Generic {
            store: "S3",
            source: "connection reset".into(),
        };
        assert!(!Failure::of(&generic).permanent);
        assert!(!Failure::of(&std::io::Error::other("timed out")).permanent);
    }

    #[test]
    fn backoff_is_jittered_and_capped() {
        let waits: Vec<Duration> = (0..200).map(|_| backoff(3)).collect();
        assert!(waits.iter().all(|w| *w <= BASE * 4));
        let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
        assert!(distinct.len() > 100, "waits are spread, not equal");
        assert!((0..200).all(|_| backoff(40) <= CAP));
    }
}
