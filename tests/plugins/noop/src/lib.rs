//! Keeps every record: measures the cost of the plugin boundary itself.

use weir_plugin::{Config, Output, Record, Transform};

struct Noop;

impl Transform for Noop {
    fn init(_: &Config) -> Result<Self, String> {
        Ok(Noop)
    }
    fn process(&mut self, _: &Record<'_>) -> Result<Output, String> {
        Ok(Output::keep())
    }
}

weir_plugin::export!(Noop);
