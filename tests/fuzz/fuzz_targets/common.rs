//! The pipelines' schemas of the format tests, and records cut from fuzz input: each
//! record's first byte picks the schema id of its Confluent header (or none, to reach
//! the framing errors), the rest is its body.

use std::path::Path;

use weir::schema::{LocalRegistry, Schema, resolve};

pub fn schema(subject: &str, encoding: &str) -> (Schema, Vec<u32>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../formats/schemas");
    let registry = LocalRegistry::open(&root).expect("the format tests' registry");
    let config = serde_json::from_value(serde_json::json!({
        "subject": subject,
        "encoding": encoding,
    }))
    .expect("a schema config");
    let schema = resolve(&registry, &config).expect("the fixture resolves");
    let ids = registry
        .versions(subject)
        .expect("versions")
        .iter()
        .map(|v| v.id)
        .collect();
    (schema, ids)
}

/// Records separated by the byte 0xFE, each framed as its first byte says.
pub fn records(data: &[u8], ids: &[u32]) -> Vec<Vec<u8>> {
    data.split(|b| *b == 0xFE)
        .map(|chunk| match chunk.split_first() {
            Some((pick, body)) if (*pick as usize) < ids.len() * 2 => {
                let mut r = vec![0];
                r.extend_from_slice(&ids[*pick as usize % ids.len()].to_be_bytes());
                r.extend_from_slice(body);
                r
            }
            _ => chunk.to_vec(),
        })
        .collect()
}

/// Pushes every record cut from `data`; returns how many were accepted.
pub fn push_all(data: &[u8], ids: &[u32], mut push: impl FnMut(usize, &[u8]) -> bool) -> usize {
    records(data, ids)
        .iter()
        .enumerate()
        .filter(|(i, r)| push(*i, r))
        .count()
}
