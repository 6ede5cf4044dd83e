//! Dead letters: a bad record with its error type, reason and source position, written
//! as one JSON line under the error prefix. The raw record is kept as text when it is
//! UTF-8 and as base64 otherwise, so nothing accepted is ever lost.

use base64::Engine;

use crate::position::Position;
use crate::record::ErrorKind;
use serde::Serialize;

#[derive(Serialize)]
pub struct DeadLetter<'a> {
    pub error_type: &'static str,
    pub reason: &'a str,
    pub pipeline: &'a str,
    pub partition: &'a str,
    pub position: Position,
    /// Arrival time, milliseconds since the Unix epoch.
    pub arrival_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_base64: Option<String>,
}

impl<'a> DeadLetter<'a> {
    pub fn new(
        kind: ErrorKind,
        reason: &'a str,
        pipeline: &'a str,
        partition: &'a str,
        position: Position,
        arrival_ms: i64,
        raw: &'a [u8],
    ) -> Self {
        let (raw, raw_base64) = match std::str::from_utf8(raw) {
            Ok(s) => (Some(s), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(raw)),
            ),
        };
        Self {
            error_type: kind.as_str(),
            reason,
            pipeline,
            partition,
            position,
            arrival_ms,
            raw,
            raw_base64,
        }
    }

    /// Appends this dead letter as one JSON line.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(&mut *out, self).expect("a dead letter serializes");
        out.push(b'\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_raw_text_or_base64() {
        let mut out = Vec::new();
        DeadLetter::new(
            ErrorKind::InvalidJson,
            "eof",
            "p",
            "f",
            7.into(),
            1,
            b"{oops",
        )
        .write_line(&mut out);
        DeadLetter::new(
            ErrorKind::InvalidJson,
            "eof",
            "p",
            "f",
            9.into(),
            1,
            &[0xff, 0x00],
        )
        .write_line(&mut out);
        let lines: Vec<serde_json::Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines[0]["raw"], "{oops");
        assert_eq!(lines[0]["error_type"], "invalid-json");
        assert_eq!(lines[1]["raw_base64"], "/wA=");
        assert_eq!(lines[1]["position"], 9);
    }
}
