//! JSON records in Confluent's framing (magic byte 0, a 4-byte schema id, then the JSON
//! text), as Confluent's JSON Schema serializer writes them. A JSON text never starts
//! with byte 0, so `auto` framing tells framed records from plain ones.

use std::collections::HashMap;

use super::Rejection;
use super::framing::{Frame, Framing, split};
use crate::record::ErrorKind;

/// The schema ids a pipeline's JSON records may name, and what each means.
pub struct JsonFrames {
    framing: Framing,
    /// Ids of the subject's versions: readable, or refused with the reason.
    writers: HashMap<u32, Result<(), String>>,
    /// Ids of other subjects, for a clearer error than "unknown".
    foreign: HashMap<u32, String>,
}

impl JsonFrames {
    pub fn new(
        framing: Framing,
        writers: HashMap<u32, Result<(), String>>,
        foreign: HashMap<u32, String>,
    ) -> Result<Self, String> {
        if framing == Framing::SingleObject {
            return Err(
                "single-object framing is Avro's; JSON records use `framing: confluent`, \
                 `raw` or `auto`"
                    .into(),
            );
        }
        Ok(Self {
            framing,
            writers,
            foreign,
        })
    }

    /// The JSON text of a record, after its framing is checked.
    pub fn body<'a>(&self, bytes: &'a [u8]) -> Result<&'a [u8], Rejection> {
        let framed = match self.framing {
            Framing::Raw => false,
            Framing::Auto => bytes.first() == Some(&0),
            _ => true,
        };
        if !framed {
            return Ok(bytes);
        }
        match split(Framing::Confluent, bytes).map_err(|e| (ErrorKind::BadFraming, e))? {
            Frame::Confluent { id, body } => match self.writers.get(&id) {
                Some(Ok(())) => Ok(body),
                Some(Err(reason)) => Err((ErrorKind::SchemaIncompatible, reason.clone())),
                None => Err(super::unknown_id(id, &self.foreign)),
            },
            _ => unreachable!("Confluent framing splits into a Confluent frame"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(framing: Framing) -> JsonFrames {
        let writers = HashMap::from([(7, Ok(())), (8, Err("refused".to_string()))]);
        JsonFrames::new(framing, writers, HashMap::from([(9, "other".to_string())])).unwrap()
    }

    #[test]
    fn framed_and_plain_records() {
        let auto = frames(Framing::Auto);
        assert_eq!(auto.body(b"{\"a\":1}").unwrap(), b"{\"a\":1}");
        assert_eq!(auto.body(b"\0\0\0\0\x07{}").unwrap(), b"{}");
        let kind = |r: Result<&[u8], Rejection>| r.unwrap_err().0;
        assert_eq!(
            kind(auto.body(b"\0\0\0\0\x08{}")),
            ErrorKind::SchemaIncompatible
        );
        assert_eq!(
            kind(auto.body(b"\0\0\0\0\x09{}")),
            ErrorKind::SchemaIncompatible
        );
        assert_eq!(
            kind(auto.body(b"\0\0\0\x01\x00{}")),
            ErrorKind::UnknownSchemaId
        );
        assert_eq!(kind(auto.body(b"\0\0")), ErrorKind::BadFraming);
        let confluent = frames(Framing::Confluent);
        assert_eq!(kind(confluent.body(b"{}")), ErrorKind::BadFraming);
        assert_eq!(
            frames(Framing::Raw).body(b"\0\0\0\0\x07{}").unwrap(),
            b"\0\0\0\0\x07{}"
        );
        assert!(JsonFrames::new(Framing::SingleObject, HashMap::new(), HashMap::new()).is_err());
    }
}
