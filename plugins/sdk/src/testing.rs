//! Native unit tests for plugins: run a [`Transform`] over records through the same
//! batch loop and output encoding as in WebAssembly, with no runtime involved.
//!
//! ```ignore
//! let mut h = Harness::<Redact>::new(&[("fields", "email")]).unwrap();
//! let out = h.run(&[r#"{"email":"a@b.c"}"#]);
//! assert_eq!(out.records[0].text(), r#"{"email":"***"}"#);
//! ```

use crate::flat::{FlatBatch, process_batch, unpack};
use crate::{Config, Transform};

/// One plugin instance, initialised with a configuration.
pub struct Harness<T> {
    plugin: T,
}

/// A record the plugin emitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    /// Index of the input record it came from.
    pub parent: usize,
    pub value: Vec<u8>,
    pub partitions: Vec<(String, String)>,
}

impl Emitted {
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.value).expect("output is UTF-8")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.value).expect("output is JSON")
    }
}

/// The outcome of one batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub records: Vec<Emitted>,
    /// (input index, reason) of each record the plugin rejected.
    pub errors: Vec<(usize, String)>,
}

impl<T: Transform> Harness<T> {
    /// Calls `init` with the given settings, as the host does.
    pub fn new(config: &[(&str, &str)]) -> Result<Self, String> {
        let config: Config = config.iter().copied().collect();
        Ok(Self {
            plugin: T::init(&config)?,
        })
    }

    /// Runs one batch of record values (no key, timestamp 0, no headers).
    pub fn run(&mut self, values: &[&str]) -> Outcome {
        let mut batch = FlatBatch::new();
        for v in values {
            batch.push(v.as_bytes(), None, 0, &[]);
        }
        self.run_batch(&batch)
    }

    /// Runs one batch and decodes the output as the host would.
    pub fn run_batch(&mut self, input: &FlatBatch) -> Outcome {
        let out = process_batch(&mut self.plugin, &input.input());
        let mut changed = out.changed.iter().enumerate().peekable();
        let records = out
            .parents
            .iter()
            .enumerate()
            .map(|(j, &parent)| {
                let value = match changed.next_if(|(_, c)| **c as usize == j) {
                    Some((k, _)) => out.records.value(k).to_vec(),
                    None => input.value(parent as usize).to_vec(),
                };
                let partitions = match out.partition_offsets.get(j..j + 2) {
                    Some(&[a, b]) => unpack(&out.partitions[a as usize..b as usize])
                        .map(|(n, v)| (lossy(n), lossy(v)))
                        .collect(),
                    _ => Vec::new(),
                };
                Emitted {
                    parent: parent as usize,
                    value,
                    partitions,
                }
            })
            .collect();
        Outcome {
            records,
            errors: out
                .errors
                .into_iter()
                .map(|(i, r)| (i as usize, r))
                .collect(),
        }
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Output, Record};

    /// Drops "skip", fails "bad", doubles "two", keys everything by its first byte.
    struct Probe;

    impl Transform for Probe {
        fn init(config: &Config) -> Result<Self, String> {
            config.only(&["mode"]).map(|_| Probe)
        }
        fn process(&mut self, r: &Record<'_>) -> Result<Output, String> {
            let out = match r.text()? {
                "skip" => Output::drop(),
                "bad" => return Err("bad record".into()),
                "two" => Output::many(["2a", "2b"]),
                "same" => Output::keep(),
                other => Output::value(other.to_uppercase()),
            };
            Ok(out.partition("first", &r.text()?[..1]))
        }
    }

    #[test]
    fn filter_map_flat_map_and_errors_share_one_shape() {
        let mut h = Harness::<Probe>::new(&[]).unwrap();
        let out = h.run(&["x", "skip", "bad", "two", "same"]);
        let got: Vec<_> = out
            .records
            .iter()
            .map(|e| (e.parent, e.text(), e.partitions[0].1.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0, "X", "x"),
                (3, "2a", "t"),
                (3, "2b", "t"),
                (4, "same", "s")
            ]
        );
        assert_eq!(out.errors, vec![(2, "bad record".to_string())]);
    }

    #[test]
    fn unknown_config_keys_are_rejected() {
        let err = Harness::<Probe>::new(&[("mdoe", "x")]).err().unwrap();
        assert_eq!(err, "unknown config key `mdoe` (expected one of: mode)");
    }

    #[test]
    fn kept_records_are_not_copied_back() {
        let mut batch = FlatBatch::new();
        batch.push(b"same", Some(b"k"), 7, &[]);
        let out = process_batch(&mut Probe, &batch.input());
        assert_eq!(out.parents, vec![0]);
        assert!(out.changed.is_empty() && out.records.values.is_empty());
    }
}
