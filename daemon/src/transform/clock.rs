//! `wasi:clocks/monotonic-clock` for plugins, in place of wasmtime-wasi's: a wait a
//! plugin subscribes to (a sleep, a timeout in `poll`) that would end after its call's
//! deadline ends the call at once as a timeout. wasmtime-wasi's waits run in real time
//! on the host, outside the epoch deadline, so a plugin sleeping in `process` or `init`
//! held its pipeline (and a shutdown) for as long as it asked. Without the `clocks` grant the clock
//! reads 0 and its resolution is a second, as the frozen wall clock does.

use std::time::{Duration, Instant};

use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

use super::state::State;

/// What the clock of one plugin instance knows.
pub struct PluginClock {
    /// Whether the plugin may read real time.
    pub real: bool,
    /// When the clock started counting, for real readings.
    pub origin: Instant,
    /// The end of the current call: no wait outlives it.
    pub deadline: Option<tokio::time::Instant>,
}

/// A wait that ends at an instant.
struct Until(tokio::time::Instant);

#[async_trait::async_trait]
impl Pollable for Until {
    async fn ready(&mut self) {
        tokio::time::sleep_until(self.0).await;
    }
}

impl monotonic_clock::Host for State {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        let c = &self.clock;
        Ok(if c.real {
            c.origin.elapsed().as_nanos() as u64
        } else {
            0
        })
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        Ok(if self.clock.real { 1 } else { 1_000_000_000 })
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let now = self.now()?;
        self.subscribe_duration(when.saturating_sub(now))
    }

    fn subscribe_duration(
        &mut self,
        duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let now = tokio::time::Instant::now();
        let wanted = now
            .checked_add(Duration::from_nanos(duration))
            .unwrap_or(now + Duration::from_secs(86_400 * 365));
        // A wait past the end of the call is a timeout now, not when it would end.
        if self.clock.deadline.is_some_and(|d| wanted > d) {
            return Err(wasmtime::Error::new(wasmtime::Trap::Interrupt));
        }
        let wait = self.table.push(Until(wanted))?;
        subscribe(&mut self.table, wait)
    }
}
