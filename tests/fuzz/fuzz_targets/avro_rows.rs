//! Arbitrary Avro records, framed with the ids of the test subject's versions, decoded
//! into Arrow rows: each is a row or a rejection, never a panic.
#![no_main]

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use weir::schema::Schema;
use weir::wire::WireSpec;

static SCHEMA: LazyLock<(Schema, Vec<u32>)> = LazyLock::new(|| common::schema("events", "avro"));

fuzz_target!(|data: &[u8]| {
    let (schema, ids) = &*SCHEMA;
    let Some(WireSpec::Avro(spec)) = &schema.wire else {
        unreachable!("an Avro pipeline has an Avro decoder")
    };
    let mut rows = spec.rows();
    let accepted = common::push_all(data, ids, |i, r| rows.push(i, r).is_ok());
    let rows = rows.finish().map_or(0, |(batch, _)| batch.num_rows());
    assert_eq!(rows, accepted, "every accepted record is one row");
});
