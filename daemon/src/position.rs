//! Source positions: opaque, ordered within a partition. A position is a byte string
//! compared as bytes; a source encodes its own notion (a file offset, a Kafka offset, a
//! Kinesis sequence number with sub-sequence, a log index) so that byte order is record
//! order. Offsets (`u64`) are by far the most common shape and are held without
//! allocating; they read and write as plain JSON numbers, as every stored position did
//! before positions had a shape.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One source position. Positions of one partition all have the same shape.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Position(Repr);

#[derive(Clone, PartialEq, Eq, Hash)]
enum Repr {
    /// Eight bytes, big-endian: the bytes of an offset.
    Offset(u64),
    /// Any other length; never eight bytes (those are always `Offset`).
    Bytes(Arc<[u8]>),
}

impl Position {
    /// The position of an offset: a byte offset in a file, a Kafka offset, a sequence.
    pub const fn offset(n: u64) -> Self {
        Position(Repr::Offset(n))
    }

    /// The start of every partition whose positions are offsets.
    pub const ZERO: Position = Position::offset(0);

    /// A position from its bytes.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match <[u8; 8]>::try_from(bytes) {
            Ok(b) => Position::offset(u64::from_be_bytes(b)),
            Err(_) => Position(Repr::Bytes(bytes.into())),
        }
    }

    /// A decimal sequence number (up to 255 digits, as Kinesis gives them) followed by a
    /// sub-sequence number (0 for records that were not aggregated). Byte order is
    /// numeric order, and the hexadecimal form of the bytes reads as the digits.
    pub fn sequence(decimal: &str, sub_sequence: u64) -> Result<Self, String> {
        let digits = decimal.trim_start_matches('0');
        if decimal.is_empty() || !decimal.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("`{decimal}` is not a decimal sequence number"));
        }
        let len = u8::try_from(digits.len())
            .map_err(|_| format!("sequence number `{decimal}` has more than 255 digits"))?;
        let mut bytes = vec![len];
        let padded = if digits.len() % 2 == 1 {
            format!("0{digits}")
        } else {
            digits.to_string()
        };
        for pair in padded.as_bytes().chunks(2) {
            bytes.push(((pair[0] - b'0') << 4) | (pair[1] - b'0'));
        }
        bytes.extend_from_slice(&sub_sequence.to_be_bytes());
        Ok(Position::from_bytes(&bytes))
    }

    /// The offset this position holds, when it is one.
    pub fn as_offset(&self) -> Option<u64> {
        match &self.0 {
            Repr::Offset(n) => Some(*n),
            Repr::Bytes(_) => None,
        }
    }

    /// Calls `f` with the position's bytes.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match &self.0 {
            Repr::Offset(n) => f(&n.to_be_bytes()),
            Repr::Bytes(b) => f(b),
        }
    }

    /// The least position after this one among positions of its shape: a source whose
    /// resume point is "after record P" (Kinesis's `AFTER_SEQUENCE_NUMBER`) stores this.
    pub fn successor(&self) -> Position {
        match &self.0 {
            Repr::Offset(n) => Position::offset(n.saturating_add(1)),
            Repr::Bytes(b) => {
                let mut next = b.to_vec();
                next.push(0);
                Position::from_bytes(&next)
            }
        }
    }

    /// The position as object keys spell it: offsets as 20 zero-padded digits, other
    /// shapes as lowercase hexadecimal. Either way keys sort as positions do.
    pub fn key_text(&self) -> String {
        match &self.0 {
            Repr::Offset(n) => format!("{n:020}"),
            Repr::Bytes(b) => hex(b),
        }
    }
}

impl Default for Position {
    fn default() -> Self {
        Position::ZERO
    }
}

impl From<u64> for Position {
    fn from(n: u64) -> Self {
        Position::offset(n)
    }
}

impl Ord for Position {
    fn cmp(&self, other: &Self) -> Ordering {
        match (&self.0, &other.0) {
            (Repr::Offset(a), Repr::Offset(b)) => a.cmp(b),
            _ => self.with_bytes(|a| other.with_bytes(|b| a.cmp(b))),
        }
    }
}

impl PartialOrd for Position {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Offset(n) => write!(f, "{n}"),
            Repr::Bytes(b) => f.write_str(&hex(b)),
        }
    }
}

impl fmt::Debug for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Offsets as positions, for tests.
#[cfg(test)]
pub fn offsets(ns: &[u64]) -> Vec<Position> {
    ns.iter().copied().map(Position::offset).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Offsets as JSON numbers; every other shape as a hexadecimal string.
impl Serialize for Position {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Offset(n) => s.serialize_u64(*n),
            Repr::Bytes(b) => s.serialize_str(&hex(b)),
        }
    }
}

impl<'de> Deserialize<'de> for Position {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct PositionVisitor;
        impl Visitor<'_> for PositionVisitor {
            type Value = Position;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an offset (a number) or a position in hexadecimal (a string)")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Position, E> {
                Ok(Position::offset(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Position, E> {
                u64::try_from(n)
                    .map(Position::offset)
                    .map_err(|_| E::custom(format!("position {n} is negative")))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Position, E> {
                unhex(s)
                    .map(|b| Position::from_bytes(&b))
                    .ok_or_else(|| E::custom(format!("position `{s}` is not hexadecimal")))
            }
        }
        d.deserialize_any(PositionVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_order_and_read_as_numbers_like_the_old_form() {
        let p: Position = serde_json::from_str("42").unwrap();
        assert_eq!(p, Position::offset(42));
        assert_eq!(serde_json::to_string(&p).unwrap(), "42");
        assert!(Position::offset(9) < Position::offset(10));
        assert_eq!(Position::offset(7).key_text(), "00000000000000000007");
        assert_eq!(
            Position::from_bytes(&7u64.to_be_bytes()),
            Position::offset(7)
        );
    }

    #[test]
    fn sequence_numbers_order_numerically_with_sub_sequences() {
        let seqs = [
            ("0", 0),
            ("7", 0),
            ("7", 3),
            ("10", 0),
            (
                "49590338271490256608559692538361571095921575989136588898",
                0,
            ),
            (
                "49590338271490256608559692538361571095921575989136588898",
                1,
            ),
            (
                "49590338271490256608559692538361571095921575989136588899",
                0,
            ),
            (
                "149590338271490256608559692538361571095921575989136588898",
                0,
            ),
        ];
        let positions: Vec<_> = seqs
            .iter()
            .map(|(d, s)| Position::sequence(d, *s).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
        let keys: Vec<_> = positions.iter().map(Position::key_text).collect();
        assert!(
            keys.windows(2).all(|w| w[0] < w[1]),
            "keys sort as positions"
        );
        assert!(keys[4].starts_with("3849590338"), "{}", keys[4]);
        assert_eq!(Position::sequence("007", 0), Position::sequence("7", 0));
        assert!(Position::sequence("12a", 0).is_err());
    }

    #[test]
    fn other_shapes_round_trip_through_json_as_hex() {
        let p = Position::sequence("123", 2).unwrap();
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"0301230000000000000002\"");
        assert_eq!(serde_json::from_str::<Position>(&json).unwrap(), p);
        assert!(serde_json::from_str::<Position>("\"xyz\"").is_err());
        assert!(serde_json::from_str::<Position>("-1").is_err());
    }

    #[test]
    fn a_successor_is_the_least_greater_position_of_its_shape() {
        let p = Position::sequence("55", 0).unwrap();
        let next = Position::sequence("55", 1).unwrap();
        assert!(p < p.successor() && p.successor() < next);
        assert_eq!(Position::offset(4).successor(), Position::offset(5));
    }
}
