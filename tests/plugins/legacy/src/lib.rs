//! A pass-through plugin built against `weir:transform@0.1.0`, an interface this
//! Weir no longer speaks: loading it must say so and what to do.

mod bindings {
    #![allow(clippy::too_many_arguments)]
    wit_bindgen::generate!({ path: "wit", world: "transform" });
}
use bindings::*;

struct Legacy;

impl Guest for Legacy {
    fn init(_: Vec<(String, String)>) -> Result<(), String> {
        Ok(())
    }

    fn process(input: Batch) -> Output {
        Output {
            parents: (0..input.timestamps.len() as u32).collect(),
            changed: Vec::new(),
            records: Batch {
                values: Vec::new(),
                value_offsets: vec![0],
                keys: Vec::new(),
                key_offsets: vec![0],
                timestamps: Vec::new(),
                headers: Vec::new(),
                header_offsets: vec![0],
            },
            partitions: Vec::new(),
            partition_offsets: Vec::new(),
            errors: Vec::new(),
        }
    }
}

export!(Legacy);
