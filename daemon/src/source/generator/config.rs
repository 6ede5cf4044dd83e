//! `source: {type: generator}` settings.

use serde::Deserialize;

use super::Generator;
use crate::config::Duration;
use crate::source::SourceConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorConfig {
    /// `orders` (default) or `clickstream`.
    #[serde(default)]
    pub kind: GeneratorKind,
    /// How many records to produce; unset runs forever.
    #[serde(default)]
    pub count: Option<u64>,
    /// Records per second; unset is as fast as possible.
    #[serde(default)]
    pub rate_per_sec: Option<f64>,
    /// Records per batch. Default 1000.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Seed of the pseudo-random stream. Default 1.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Event times fall in `[start, start + spread)`. Default `6h`.
    #[serde(default = "default_spread")]
    pub spread: Duration,
    /// RFC 3339 start of event times. Default: midnight UTC of the current day.
    #[serde(default)]
    pub start: Option<String>,
    /// Fraction (0 to 1) of records made invalid on purpose, to see the error prefix at work.
    #[serde(default)]
    pub invalid_ratio: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GeneratorKind {
    #[default]
    Orders,
    Clickstream,
}

fn default_batch() -> usize {
    1000
}
fn default_seed() -> u64 {
    1
}
fn default_spread() -> Duration {
    Duration(std::time::Duration::from_secs(6 * 3600))
}

impl GeneratorConfig {
    pub fn validate(&self) -> Result<Generator, SourceConfigError> {
        let err = |key, message: String, hint: &str| SourceConfigError {
            key,
            message,
            hint: hint.into(),
        };
        if self.batch_size == 0 || self.batch_size > 100_000 {
            return Err(err(
                "batch_size",
                format!("{} is out of range", self.batch_size),
                "use 1 to 100000",
            ));
        }
        if let Some(r) = self.rate_per_sec
            && !(r > 0.0 && r.is_finite())
        {
            return Err(err(
                "rate_per_sec",
                format!("{r} is not a positive rate"),
                "remove it to run as fast as possible",
            ));
        }
        if !(0.0..=1.0).contains(&self.invalid_ratio) {
            return Err(err(
                "invalid_ratio",
                format!("{} is not between 0 and 1", self.invalid_ratio),
                "e.g. 0.01 for one record in a hundred",
            ));
        }
        if self.spread.0.as_millis() == 0 {
            return Err(err("spread", "must be longer than zero".into(), "e.g. 6h"));
        }
        // Event times must stay calendar dates (years 1 to 9999) from any start.
        const MAX_SPREAD_MS: u128 = 1000 * 365 * 86_400_000;
        if self.spread.0.as_millis() > MAX_SPREAD_MS {
            return Err(err(
                "spread",
                format!(
                    "{} is longer than 1000 years",
                    humantime::format_duration(self.spread.0)
                ),
                "e.g. 6h, 30d",
            ));
        }
        let start_ms = match &self.start {
            Some(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|_| {
                    err(
                        "start",
                        format!("`{s}` is not an RFC 3339 time"),
                        "e.g. 2026-01-01T00:00:00Z",
                    )
                })?
                .timestamp_millis(),
            None => {
                let day = 86_400_000;
                chrono::Utc::now().timestamp_millis() / day * day
            }
        };
        // 9000-01-01: with a spread of up to 1000 years, event times stay before 10000.
        if start_ms >= 221_845_392_000_000 {
            return Err(err(
                "start",
                "must be before the year 9000".into(),
                "e.g. 2026-01-01T00:00:00Z",
            ));
        }
        Ok(Generator {
            kind: self.kind,
            count: self.count,
            rate_per_sec: self.rate_per_sec,
            batch_size: self.batch_size,
            seed: self.seed,
            spread_ms: self.spread.0.as_millis() as u64,
            start_ms,
            invalid_ratio: self.invalid_ratio,
        })
    }
}
