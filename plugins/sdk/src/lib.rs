//! `weir-plugin`: write a Weir transform as a plain Rust function over one record.
//!
//! ```ignore
//! use weir_plugin::{Config, Output, Record, Transform};
//!
//! struct Upper;
//!
//! impl Transform for Upper {
//!     fn init(_config: &Config) -> Result<Self, String> {
//!         Ok(Upper)
//!     }
//!     fn process(&mut self, record: &Record<'_>) -> Result<Output, String> {
//!         Ok(Output::value(record.text()?.to_uppercase()))
//!     }
//! }
//!
//! weir_plugin::export!(Upper);
//! ```
//!
//! The macro generates the batch loop and the WebAssembly glue. The same loop runs
//! natively under [`testing::Harness`], so a plugin is unit-tested with `cargo test`.

// The generated bindings name this crate by its public path, also from inside it.
extern crate self as weir_plugin;

mod config;
pub mod flat;
pub mod log;
mod record;
pub mod testing;

pub use config::Config;
pub use record::{Output, Record, json_path};

/// A transform: built once per instance from the step's `config`, then called for
/// every record of every batch.
pub trait Transform: Sized + 'static {
    /// Checks the configuration; an error rejects the pipeline with its message.
    fn init(config: &Config) -> Result<Self, String>;

    /// Decides what becomes of one record. An error sends the record to the
    /// pipeline's error prefix (`processing-failed`) with the message as its reason.
    fn process(&mut self, record: &Record<'_>) -> Result<Output, String>;
}

/// Exports a [`Transform`] as the plugin's implementation of the Weir interface.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::__private::bindings::weir::transform::types as wit;

            struct Glue;

            ::std::thread_local! {
                static PLUGIN: ::std::cell::RefCell<Option<$plugin>> =
                    const { ::std::cell::RefCell::new(None) };
            }

            impl $crate::__private::bindings::Guest for Glue {
                fn init(config: Vec<(String, String)>) -> Result<(), String> {
                    // A panic traps the instance; its message becomes the reason the
                    // host gives for the failed records.
                    ::std::panic::set_hook(Box::new(|info| {
                        $crate::log::error(&format!("panicked: {info}"))
                    }));
                    let plugin =
                        <$plugin as $crate::Transform>::init(&$crate::Config::new(config))?;
                    PLUGIN.with(|p| *p.borrow_mut() = Some(plugin));
                    Ok(())
                }

                fn process(input: wit::InputBatch) -> wit::Output {
                    PLUGIN.with(|p| {
                        let mut p = p.borrow_mut();
                        let plugin = p.as_mut().expect("the host calls init before process");
                        let input = $crate::__private::from_wit(&input);
                        $crate::__private::to_wit($crate::flat::process_batch(plugin, &input))
                    })
                }
            }

            $crate::__private::bindings::export_glue!(Glue with_types_in $crate::__private::bindings);
        };
    };
}

#[doc(hidden)]
pub mod __private {
    pub use wit_bindgen;

    #[allow(clippy::too_many_arguments)]
    pub mod bindings {
        wit_bindgen::generate!({
            path: "../wit",
            world: "transform",
            pub_export_macro: true,
            export_macro_name: "export_glue",
            default_bindings_module: "weir_plugin::__private::bindings",
            runtime_path: "weir_plugin::__private::wit_bindgen::rt",
        });
    }

    use crate::flat::{FlatOutput, Input};
    use bindings::weir::transform::types as wit;

    /// The call's input; its values are fetched from the host when first read.
    pub fn from_wit(b: &wit::InputBatch) -> Input<'_> {
        Input::lazy(
            bindings::weir::transform::input::values,
            &b.value_offsets,
            &b.keys,
            &b.key_offsets,
            &b.timestamps,
            &b.headers,
            &b.header_offsets,
        )
    }

    pub fn to_wit(o: FlatOutput) -> wit::Output {
        let r = o.records;
        wit::Output {
            parents: o.parents,
            changed: o.changed,
            records: wit::Batch {
                values: r.values,
                value_offsets: r.value_offsets,
                keys: r.keys,
                key_offsets: r.key_offsets,
                timestamps: r.timestamps,
                headers: r.headers,
                header_offsets: r.header_offsets,
            },
            partitions: o.partitions,
            partition_offsets: o.partition_offsets,
            errors: o
                .errors
                .into_iter()
                .map(|(index, reason)| wit::RecordError { index, reason })
                .collect(),
        }
    }
}
