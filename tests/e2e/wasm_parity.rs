//! The `redact` example in Wasm (built with `simd128`, scanning strings with the patched
//! jiter of `plugins/vendor/jiter`) gives exactly what the same code gives natively:
//! the same output bytes and the same errors, over strings of every length around the
//! 16-byte SIMD step with quotes, escapes, control characters, multi-byte and invalid
//! UTF-8 at every position.

mod common;

use std::collections::BTreeMap;

use common::*;
use weir::record::Batch;
use weir::transform::{Chain, CompileCache, Plugin, PluginSpec};

/// The `redact` example plugin's source, compiled natively.
#[allow(dead_code)]
#[path = "../../plugins/examples/redact/src/lib.rs"]
mod redact;

const REDACT: &str = "plugins/examples/target/wasm32-wasip2/release/redact.wasm";

/// What goes inside a string at one position: plain escapes, multi-byte UTF-8, and
/// bytes that end or break the string.
const INSERTS: [&[u8]; 12] = [
    b"\\\"",
    b"\\\\",
    b"\\n",
    b"\\u00e9",
    "é".as_bytes(),
    "€".as_bytes(),
    "😀".as_bytes(),
    b"\x01",
    b"\x1f",
    b"\xff",
    b"\"",
    b"\\",
];

/// Strings of 0 to 40 bytes with each insert at each position, placed as a key, as a
/// masked value and as a value passed through, each with and without padding after it
/// (without padding the scan reaches the document's end in the last 16 bytes).
fn documents() -> Vec<Vec<u8>> {
    let mut strings: Vec<Vec<u8>> = (0..=40).map(|n| vec![b'a'; n]).collect();
    for len in 0..=40 {
        for at in 0..=len {
            for insert in INSERTS {
                let mut s = vec![b'a'; at];
                s.extend_from_slice(insert);
                s.resize(s.len() + len - at, b'b');
                strings.push(s);
            }
        }
    }
    let mut docs = Vec::new();
    for s in &strings {
        for pad in ["", r#","pad":"0123456789abcdef0123456789abcdef""#] {
            for (before, after) in [
                (&br#"{""#[..], &br#"":1,"email":"x@y.z""#[..]),
                (br#"{"email":""#, br#"""#),
                (br#"{"phone":[1,{"note":""#, br#""}]"#),
                (br#"{"note":""#, br#"""#),
            ] {
                let mut doc = before.to_vec();
                doc.extend_from_slice(s);
                doc.extend_from_slice(after);
                doc.extend_from_slice(pad.as_bytes());
                doc.push(b'}');
                docs.push(doc);
            }
        }
    }
    docs
}

fn load(config: &[(&str, &str)], cache: &CompileCache) -> Chain {
    let spec = PluginSpec::new(root().join(REDACT), config.iter().copied());
    Chain {
        steps: vec![Plugin::load(spec, "parity", cache).unwrap()],
    }
}

/// Position → the record's value after the plugin, or the reason it failed.
fn in_wasm(chain: &Chain, docs: &[Vec<u8>]) -> BTreeMap<u64, Result<Vec<u8>, String>> {
    let mut seen = BTreeMap::new();
    for (n, chunk) in docs.chunks(1000).enumerate() {
        let mut batch = Batch::new("parity".into());
        for (i, doc) in chunk.iter().enumerate() {
            batch.push(doc, None, 0, ((n * 1000 + i) as u64).into());
        }
        let (out, failed) = chain.apply(batch);
        for i in 0..out.len() {
            seen.insert(
                out.position(i).as_offset().unwrap(),
                Ok(out.value(i).to_vec()),
            );
        }
        for (i, reason) in failed.reasons.into_iter().enumerate() {
            seen.insert(failed.batch.position(i).as_offset().unwrap(), Err(reason));
        }
    }
    seen
}

/// Whether the component's code uses `i8x16.bitmask`, which the patched jiter's
/// string scan does and nothing else in `redact` would.
fn uses_simd_scan(wasm: &[u8]) -> bool {
    use wasmparser::{Operator, Parser, Payload};
    Parser::new(0).parse_all(wasm).any(|payload| {
        let Ok(Payload::CodeSectionEntry(body)) = payload else {
            return false;
        };
        let mut ops = body.get_operators_reader().unwrap();
        while !ops.eof() {
            if matches!(ops.read().unwrap(), Operator::I8x16Bitmask) {
                return true;
            }
        }
        false
    })
}

#[test]
fn redact_in_wasm_matches_redact_natively() {
    build_plugins();
    let wasm = std::fs::read(root().join(REDACT)).unwrap();
    assert!(
        uses_simd_scan(&wasm),
        "{REDACT} has no SIMD string scan: is `+simd128` still in plugins/examples/.cargo/config.toml?"
    );
    let docs = documents();
    let dir = tempfile::tempdir().unwrap();
    let cache = CompileCache::new(dir.path().to_path_buf());
    let configs: [&[(&str, &str)]; 2] = [
        &[("fields", "email,phone")],
        &[("fields", "email,phone,note"), ("keep_last", "3")],
    ];
    let mut failures = 0;
    for config in configs {
        let wasm = in_wasm(&load(config, &cache), &docs);
        let settings: weir_plugin::Config = config.iter().copied().collect();
        let mut native = <redact::Redact as weir_plugin::Transform>::init(&settings).unwrap();
        assert_eq!(wasm.len(), docs.len(), "every record comes back once");
        let mut mismatches = Vec::new();
        for (i, doc) in docs.iter().enumerate() {
            let expected = match native.apply(doc) {
                Ok(v) => Ok(v.unwrap_or_else(|| doc.clone())),
                Err(e) => Err(format!("redact: {e}")),
            };
            if wasm[&(i as u64)] != expected {
                mismatches.push(format!(
                    "{}\n  wasm:   {:?}\n  native: {:?}",
                    String::from_utf8_lossy(doc),
                    wasm[&(i as u64)]
                        .as_ref()
                        .map(|v| String::from_utf8_lossy(v)),
                    expected.as_ref().map(|v| String::from_utf8_lossy(v)),
                ));
            }
        }
        failures += mismatches.len();
        for m in mismatches.iter().take(5) {
            eprintln!("{config:?}: {m}");
        }
        // The corpus reaches every outcome: records redacted, passed through, refused.
        let refused = wasm.values().filter(|r| r.is_err()).count();
        let changed = docs
            .iter()
            .enumerate()
            .filter(|(i, d)| wasm[&(*i as u64)].as_ref().is_ok_and(|v| v != *d))
            .count();
        assert!(
            refused > 1000 && changed > 1000,
            "{refused} refused, {changed} changed"
        );
    }
    assert_eq!(
        failures, 0,
        "Wasm and native redact differ on {failures} records"
    );
}

/// Issue 16 item 14: plugin instances' memory was counted against nothing. Every live
/// instance's linear memory is counted (the writer keeps it out of the buffers'
/// share of the memory budget), and given back when the instances go.
#[test]
fn plugin_instances_count_their_linear_memory() {
    build_plugins();
    let dir = tempfile::tempdir().unwrap();
    let cache = CompileCache::new(dir.path().to_path_buf());
    let chain = load(&[("fields", "email")], &cache);
    let memory = chain.memory();
    let loaded = memory.bytes();
    assert!(
        loaded >= 64 << 10,
        "an instance holds at least a page: {loaded}"
    );
    let docs: Vec<Vec<u8>> = (0..5000)
        .map(|i| {
            format!(
                r#"{{"email":"{i}@example.com","pad":"{}"}}"#,
                "x".repeat(500)
            )
            .into_bytes()
        })
        .collect();
    in_wasm(&chain, &docs);
    assert!(memory.bytes() >= loaded, "{} < {loaded}", memory.bytes());
    drop(chain);
    assert_eq!(
        memory.bytes(),
        0,
        "dropped instances give their memory back"
    );
}
