//! The process allocator: mimalloc, tuned to hand freed memory back to the OS promptly.
//!
//! Buffers for many open prefixes live long while decode temporaries come and go on
//! other threads. With mimalloc's defaults (eagerly committed arenas, a one-second
//! purge delay) pages freed by flushes stay resident, and peak RSS grows to about twice
//! the memory budget. Purging at once into lazily committed arenas keeps RSS close to
//! what the pipeline really holds, at no measurable cost in throughput (see
//! BENCHMARKS.md).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use libmimalloc_sys::{mi_option_set, mi_option_t};

/// The global allocator for the `weir` binary and the benchmarks.
pub type Allocator = mimalloc::MiMalloc;

// Indexes into mimalloc's `mi_option_e` (v3); pinned by the test below.
const ARENA_EAGER_COMMIT: mi_option_t = 4;
const PURGE_DELAY: mi_option_t = 15;

/// Applies the options. It must run before the first allocation reserves an arena,
/// which happens before `main`: call it from a constructor (`#[ctor::ctor]`). It does
/// not allocate itself. `MIMALLOC_*` environment variables still take precedence.
pub fn tune() {
    for (option, env, value) in [
        (ARENA_EAGER_COMMIT, c"MIMALLOC_ARENA_EAGER_COMMIT", 0),
        (PURGE_DELAY, c"MIMALLOC_PURGE_DELAY", 100),
    ] {
        // SAFETY: `getenv` reads the environment without allocating; nothing else
        // writes it this early. Setting an option is a store into mimalloc's table.
        unsafe {
            if libc::getenv(env.as_ptr()).is_null() {
                mi_option_set(option, value);
            }
        }
    }
}

/// Bumped each time a sink flushes to stay within its memory budget.
static PRESSURE: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The pressure this thread last answered.
    static ANSWERED: Cell<u64> = const { Cell::new(0) };
}

/// Hands memory freed since the last purge back to the OS now, and asks the other
/// working threads to do the same at their next `answer_pressure`. The sink calls it
/// after flushing to stay within its memory budget.
pub fn release_freed() {
    PRESSURE.fetch_add(1, Ordering::Relaxed);
    answer_pressure();
}

/// Called by worker threads between units of work: if a sink has been at its budget
/// since this thread last looked, return this thread's free pages to the OS.
pub fn answer_pressure() {
    let pressure = PRESSURE.load(Ordering::Relaxed);
    if ANSWERED.with(|a| a.replace(pressure)) != pressure {
        // SAFETY: a forced collection of this thread's heap and of every arena's
        // delayed purges; safe from any thread at any time.
        unsafe { libmimalloc_sys::mi_collect(true) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libmimalloc_sys::mi_option_get;

    fn option(option: mi_option_t) -> i64 {
        // SAFETY: reads mimalloc's option table.
        unsafe { mi_option_get(option) as i64 }
    }

    #[test]
    fn option_indexes_match_the_linked_mimalloc() {
        // The documented defaults identify the options: an upgrade that renumbers the
        // enum fails here instead of silently tuning the wrong knob.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(option(PURGE_DELAY), 1000);
        }
        if std::env::var_os("MIMALLOC_ARENA_EAGER_COMMIT").is_none() {
            assert_eq!(option(ARENA_EAGER_COMMIT), 2);
        }
    }
}
