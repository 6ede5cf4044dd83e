//! Any text as a pipeline file: parsed, interpolated and read into the model, with a
//! located error or a config — never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = |name: &str| (name == "SET").then(|| "value".to_string());
    if let Err(errors) = weir::config::parse_pipeline(std::path::Path::new("fuzz.yaml"), text, &env) {
        let _ = errors.to_string();
    }
});
