//! The compatibility matrix: schema pairs with the verdict Confluent's documentation
//! gives per mode (Avro resolution rules; Protobuf field-number rules; JSON Schema
//! content models).

use std::path::PathBuf;

use super::compat::{Compatibility, check};
use super::registry::{SchemaType, Version, schema_id};

use Compatibility::*;

fn version(n: u32, t: SchemaType, text: &str) -> Version {
    Version {
        subject: "s".into(),
        version: n,
        schema_type: t,
        text: text.into(),
        id: schema_id(t, text),
        path: PathBuf::from(format!("s/{n}")),
        references: Vec::new(),
        imports: Vec::new(),
    }
}

fn avro(fields: &str) -> String {
    format!(r#"{{"type": "record", "name": "R", "fields": [{fields}]}}"#)
}

const A: &str = r#"{"name": "a", "type": "string"}"#;

/// (case, old, new, verdict under BACKWARD, FORWARD, FULL)
fn avro_cases() -> Vec<(&'static str, String, String, [bool; 3])> {
    vec![
        (
            "add field with default",
            avro(A),
            avro(&format!(
                r#"{A}, {{"name": "b", "type": "int", "default": 0}}"#
            )),
            [true, true, true],
        ),
        (
            "add field without default",
            avro(A),
            avro(&format!(r#"{A}, {{"name": "b", "type": "int"}}"#)),
            [false, true, false],
        ),
        (
            "delete field with default",
            avro(&format!(
                r#"{A}, {{"name": "b", "type": "int", "default": 0}}"#
            )),
            avro(A),
            [true, true, true],
        ),
        (
            "delete field without default",
            avro(&format!(r#"{A}, {{"name": "b", "type": "int"}}"#)),
            avro(A),
            [true, false, false],
        ),
        (
            "promote int to long",
            avro(r#"{"name": "n", "type": "int"}"#),
            avro(r#"{"name": "n", "type": "long"}"#),
            [true, false, false],
        ),
        (
            "change string to int",
            avro(A),
            avro(r#"{"name": "a", "type": "int"}"#),
            [false, false, false],
        ),
        (
            "make a field optional",
            avro(A),
            avro(r#"{"name": "a", "type": ["null", "string"], "default": null}"#),
            [true, false, false],
        ),
        (
            "change decimal scale",
            avro(
                r#"{"name": "d", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}}"#,
            ),
            avro(
                r#"{"name": "d", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 3}}"#,
            ),
            [false, false, false],
        ),
        (
            "same decimal",
            avro(
                r#"{"name": "d", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}}"#,
            ),
            avro(
                r#"{"name": "d", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}}"#,
            ),
            [true, true, true],
        ),
        (
            "add an enum symbol",
            avro(r#"{"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X"]}}"#),
            avro(r#"{"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"]}}"#),
            [true, false, false],
        ),
    ]
}

fn assert_matrix(t: SchemaType, cases: Vec<(&str, String, String, [bool; 3])>) {
    for (case, old, new, verdicts) in cases {
        let (old, new) = (version(1, t, &old), version(2, t, &new));
        for (mode, want) in [Backward, Forward, Full].into_iter().zip(verdicts) {
            let got = check(mode, &new, std::slice::from_ref(&old));
            assert_eq!(got.is_ok(), want, "{case} under {mode}: {got:?}");
        }
        assert!(
            check(None, &new, std::slice::from_ref(&old)).is_ok(),
            "{case} under NONE"
        );
    }
}

#[test]
fn avro_matrix() {
    assert_matrix(SchemaType::Avro, avro_cases());
}

#[test]
fn transitive_modes_check_every_earlier_version() {
    let v1 = version(1, SchemaType::Avro, &avro(A));
    let v2 = version(
        2,
        SchemaType::Avro,
        &avro(&format!(
            r#"{A}, {{"name": "b", "type": "int", "default": 0}}"#
        )),
    );
    let v3 = version(
        3,
        SchemaType::Avro,
        &avro(&format!(r#"{A}, {{"name": "b", "type": "int"}}"#)),
    );
    let earlier = [v1, v2];
    assert!(check(Backward, &v3, &earlier).is_ok(), "v3 reads v2's data");
    let err = check(BackwardTransitive, &v3, &earlier).unwrap_err();
    assert!(
        err.contains("version 3 cannot read data written with version 1"),
        "{err}"
    );
}

fn proto(fields: &str) -> String {
    format!("syntax = \"proto3\";\npackage t;\nmessage M {{\n{fields}\n}}\n")
}

#[test]
fn protobuf_matrix() {
    let base = proto("string a = 1;");
    assert_matrix(
        SchemaType::Protobuf,
        vec![
            (
                "add a field",
                base.clone(),
                proto("string a = 1;\nint64 b = 2;"),
                [true, true, true],
            ),
            (
                "remove a field",
                proto("string a = 1;\nint64 b = 2;"),
                base.clone(),
                [true, true, true],
            ),
            (
                "int32 to int64 (same wire type)",
                proto("int32 n = 1;"),
                proto("int64 n = 1;"),
                [true, true, true],
            ),
            (
                "string to int64",
                base.clone(),
                proto("int64 a = 1;"),
                [false, false, false],
            ),
            (
                "singular to repeated",
                base.clone(),
                proto("repeated string a = 1;"),
                [false, false, false],
            ),
            (
                "rename keeps the number",
                base.clone(),
                proto("string renamed = 1;"),
                [true, true, true],
            ),
        ],
    );
}

#[test]
fn json_schema_matrix() {
    let closed = |props: &str, required: &str| {
        format!(
            r#"{{"type": "object", "additionalProperties": false, "properties": {{{props}}}, "required": [{required}]}}"#
        )
    };
    let open = |props: &str| format!(r#"{{"type": "object", "properties": {{{props}}}}}"#);
    let a = r#""a": {"type": "string"}"#;
    let ab = r#""a": {"type": "string"}, "b": {"type": "integer"}"#;
    assert_matrix(
        SchemaType::Json,
        vec![
            (
                "closed: add optional property",
                closed(a, ""),
                closed(ab, ""),
                [true, false, false],
            ),
            (
                "closed: remove optional property",
                closed(ab, ""),
                closed(a, ""),
                [false, true, false],
            ),
            (
                "open: add property",
                open(a),
                open(ab),
                [false, true, false],
            ),
            (
                "open: remove property",
                open(ab),
                open(a),
                [true, false, false],
            ),
            (
                "integer widens to number",
                open(r#""n": {"type": "integer"}"#),
                open(r#""n": {"type": "number"}"#),
                [true, false, false],
            ),
            (
                "make a property required",
                closed(a, ""),
                closed(a, r#""a""#),
                [false, true, false],
            ),
        ],
    );
}
