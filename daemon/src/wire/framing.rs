//! Record framing: Confluent's wire format (magic byte 0, a 4-byte big-endian schema id,
//! and for Protobuf the message indexes), Avro single-object encoding (`C3 01` and an
//! 8-byte little-endian schema fingerprint), or bare datums. Pure functions over bytes.

use serde::Deserialize;

const CONFLUENT_MAGIC: u8 = 0;
const SINGLE_OBJECT_MAGIC: [u8; 2] = [0xC3, 0x01];

/// How records carry (or do not carry) their writer schema.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// Recognise Confluent and single-object framing from the first bytes; anything
    /// else is an error, since a bare datum cannot be told apart from garbage.
    #[default]
    Auto,
    Confluent,
    SingleObject,
    /// Bare datums written with the pipeline's schema.
    Raw,
}

/// The writer schema named by a record's framing, and the datum after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    Confluent { id: u32, body: &'a [u8] },
    SingleObject { fingerprint: u64, body: &'a [u8] },
    Raw(&'a [u8]),
}

/// Splits a record into its framing and body. The error says what was found.
pub fn split(framing: Framing, bytes: &[u8]) -> Result<Frame<'_>, String> {
    fn confluent(bytes: &[u8]) -> Result<Frame<'_>, String> {
        match bytes {
            [CONFLUENT_MAGIC, a, b, c, d, body @ ..] => Ok(Frame::Confluent {
                id: u32::from_be_bytes([*a, *b, *c, *d]),
                body,
            }),
            [CONFLUENT_MAGIC, ..] => Err(format!(
                "truncated Confluent header: {} bytes, needs at least 5",
                bytes.len()
            )),
            [first, ..] => Err(format!(
                "first byte is 0x{first:02x}, not Confluent's magic byte 0x00"
            )),
            [] => Err("empty record".into()),
        }
    }
    fn single(bytes: &[u8]) -> Result<Frame<'_>, String> {
        match bytes {
            [0xC3, 0x01, fp @ ..] if fp.len() >= 8 => Ok(Frame::SingleObject {
                fingerprint: u64::from_le_bytes(fp[..8].try_into().expect("8 bytes")),
                body: &fp[8..],
            }),
            [0xC3, 0x01, ..] => Err(format!(
                "truncated single-object header: {} bytes, needs at least 10",
                bytes.len()
            )),
            _ => Err(format!(
                "starts with {}, not the single-object marker C3 01",
                hex_start(bytes)
            )),
        }
    }
    match framing {
        Framing::Raw => Ok(Frame::Raw(bytes)),
        Framing::Confluent => confluent(bytes),
        Framing::SingleObject => single(bytes),
        Framing::Auto => match bytes {
            [CONFLUENT_MAGIC, ..] => confluent(bytes),
            [a, b, ..] if [*a, *b] == SINGLE_OBJECT_MAGIC => single(bytes),
            [] => Err("empty record".into()),
            _ => Err(format!(
                "starts with {}: neither Confluent framing (0x00) nor Avro single-object \
                 encoding (C3 01); set `schema.framing: raw` if records are bare datums",
                hex_start(bytes)
            )),
        },
    }
}

fn hex_start(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing (empty record)".into();
    }
    let shown: Vec<String> = bytes.iter().take(2).map(|b| format!("{b:02X}")).collect();
    shown.join(" ")
}

/// Reads Confluent's Protobuf message indexes (zig-zag varints: a count, then the path
/// of the message type in the file; a lone 0 means the first message) and returns them
/// with the message bytes after them.
pub fn message_indexes(body: &[u8]) -> Result<(Vec<usize>, &[u8]), String> {
    let mut rest = body;
    let count = read_zigzag(&mut rest)?;
    if count == 0 {
        return Ok((vec![0], rest));
    }
    if count < 0 || count as usize > rest.len() {
        return Err(format!(
            "message index count {count} does not fit the record"
        ));
    }
    let mut path = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let ix = read_zigzag(&mut rest)?;
        let ix = usize::try_from(ix).map_err(|_| format!("negative message index {ix}"))?;
        path.push(ix);
    }
    Ok((path, rest))
}

/// The rest of `body` if its message indexes are `expected`; no allocation.
pub fn indexes_match<'a>(body: &'a [u8], expected: &[usize]) -> Option<&'a [u8]> {
    let mut rest = body;
    let count = read_zigzag(&mut rest).ok()?;
    if count == 0 {
        return (expected == [0]).then_some(rest);
    }
    if usize::try_from(count).ok()? != expected.len() {
        return None;
    }
    for want in expected {
        let ix = read_zigzag(&mut rest).ok()?;
        if usize::try_from(ix).ok()? != *want {
            return None;
        }
    }
    Some(rest)
}

fn read_zigzag(rest: &mut &[u8]) -> Result<i64, String> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, tail) = rest.split_first().ok_or("truncated message indexes")?;
        *rest = tail;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    Err("message index varint is longer than 10 bytes".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_framing() {
        let confluent = [0, 0, 0, 1, 2, 9, 9];
        assert_eq!(
            split(Framing::Auto, &confluent).unwrap(),
            Frame::Confluent {
                id: 258,
                body: &[9, 9]
            }
        );
        let mut single = vec![0xC3, 0x01];
        single.extend_from_slice(&7u64.to_le_bytes());
        single.push(4);
        assert_eq!(
            split(Framing::Auto, &single).unwrap(),
            Frame::SingleObject {
                fingerprint: 7,
                body: &[4]
            }
        );
        assert_eq!(split(Framing::Raw, &[0, 1]).unwrap(), Frame::Raw(&[0, 1]));
    }

    #[test]
    fn explains_what_is_wrong() {
        assert_eq!(
            split(Framing::Confluent, &[1, 0, 0, 0, 0]).unwrap_err(),
            "first byte is 0x01, not Confluent's magic byte 0x00"
        );
        assert_eq!(
            split(Framing::Auto, &[0, 0, 1]).unwrap_err(),
            "truncated Confluent header: 3 bytes, needs at least 5"
        );
        assert!(
            split(Framing::Auto, b"{\"a\":1}")
                .unwrap_err()
                .starts_with("starts with 7B 22")
        );
        assert_eq!(split(Framing::Auto, &[]).unwrap_err(), "empty record");
    }

    #[test]
    fn reads_message_indexes() {
        assert_eq!(message_indexes(&[0, 8]).unwrap(), (vec![0], &[8u8][..]));
        // Count 2 (zig-zag 4), then 1 (2) and 0 (0).
        assert_eq!(
            message_indexes(&[4, 2, 0, 8]).unwrap(),
            (vec![1, 0], &[8u8][..])
        );
        assert!(message_indexes(&[4, 2]).is_err());
        assert!(message_indexes(&[0xff; 12]).is_err());
        assert!(message_indexes(&[3]).is_err(), "negative count");
    }
}
