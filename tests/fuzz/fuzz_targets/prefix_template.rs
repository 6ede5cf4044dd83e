//! Any prefix template (the input up to its first newline), compiled as a data and an
//! error prefix and rendered against the record that follows (JSON, when it parses)
//! at a time taken from the input: a prefix or an error, never a panic.
#![no_main]

use chrono::TimeZone;
use libfuzzer_sys::fuzz_target;
use weir::sink::template::{RenderInput, Template, TemplateKind};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (template, rest) = text.split_once('\n').unwrap_or((text, ""));
    let record: Option<serde_json::Value> = serde_json::from_str(rest).ok();
    let seconds = data.iter().fold(0i64, |a, b| a.wrapping_mul(31).wrapping_add(*b as i64));
    let time = chrono_tz::UTC
        .timestamp_opt(seconds.rem_euclid(253_402_300_799), 0)
        .single()
        .expect("years 1970 to 9999");
    for kind in [TemplateKind::Data, TemplateKind::Error] {
        let Ok(t) = Template::compile(template, kind) else {
            continue;
        };
        let mut out = String::new();
        let _ = t.render(
            &mut out,
            &RenderInput {
                time,
                record: record.as_ref().map(|r| r as &dyn weir::sink::fields::Fields),
                partition_keys: &[],
                error_type: Some("schema-mismatch"),
            },
        );
    }
});
