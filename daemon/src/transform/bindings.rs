//! Host bindings generated from the same WIT files the SDK uses.

wasmtime::component::bindgen!({
    path: "../plugins/wit",
    world: "transform",
});

pub use weir::transform::types::{Batch, Level};
