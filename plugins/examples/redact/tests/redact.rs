//! `redact`'s tests, natively through the SDK's harness. They live here rather than in
//! `src/lib.rs` because the daemon's parity test and benchmark compile that file into
//! their own binaries, which would run these a second time.

use redact::Redact;
use weir_plugin::testing::Harness;

#[test]
fn masks_fields_at_any_depth() {
    let mut h = Harness::<Redact>::new(&[("fields", "email, phone"), ("keep_last", "2")]).unwrap();
    let out = h.run(&[
        r#"{"id":1,"customer":{"email":"ann@example.com","phone":"555-0100"},"items":[{"email":"x@y.z"}]}"#,
        r#"{"id":2,"note":"nothing to hide"}"#,
    ]);
    assert_eq!(
        out.records[0].text(),
        r#"{"id":1,"customer":{"email":"***om","phone":"***00"},"items":[{"email":"***.z"}]}"#
    );
    assert_eq!(
        out.records[1].text(),
        r#"{"id":2,"note":"nothing to hide"}"#
    );
    assert!(out.errors.is_empty());
}

#[test]
fn everything_else_is_copied_byte_for_byte() {
    let mut h = Harness::<Redact>::new(&[("fields", "email,ssn"), ("mask", "X")]).unwrap();
    let out = h.run(&[
        r#"{ "zeta": 1.50, "email" : "a\"b@c.d", "alpha": [1e3, {"ssn": 123456789}], "email2": null, "n": {"email": null} }"#,
    ]);
    assert_eq!(
        out.records[0].text(),
        r#"{ "zeta": 1.50, "email" : "X", "alpha": [1e3, {"ssn": "X"}], "email2": null, "n": {"email": null} }"#
    );
}

#[test]
fn keep_last_reads_escaped_text_and_other_values() {
    let mut h = Harness::<Redact>::new(&[("fields", "email,pin"), ("keep_last", "3")]).unwrap();
    let out = h.run(&[r#"{"email":"\u00e9t\u00e9@x","pin":[1,2]}"#]);
    assert_eq!(
        out.records[0].text(),
        r#"{"email":"***é@x","pin":"***,2]"}"#
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let mut h = Harness::<Redact>::new(&[("fields", "email")]).unwrap();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let out = h.run(&[&deep]);
    assert!(out.records.is_empty());
    assert!(
        out.errors[0].1.starts_with("value is not valid JSON"),
        "{:?}",
        out.errors
    );
}

#[test]
fn invalid_json_is_a_record_error() {
    let mut h = Harness::<Redact>::new(&[("fields", "email")]).unwrap();
    let out = h.run(&["not json", r#"{"email":"a"}"#, r#"{"email":"a"} x"#]);
    assert_eq!(out.records.len(), 1);
    assert_eq!(out.errors[0].0, 0);
    assert!(out.errors[0].1.starts_with("value is not valid JSON"));
    assert_eq!(out.errors[1].0, 2, "trailing text after the document");
}

#[test]
fn config_is_checked() {
    assert!(Harness::<Redact>::new(&[]).is_err());
    let err = Harness::<Redact>::new(&[("fields", "a"), ("keep_last", "x")])
        .err()
        .unwrap();
    assert_eq!(err, "`keep_last` must be a number, got `x`");
}
