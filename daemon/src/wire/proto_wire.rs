//! Protobuf's wire format, read in place: an iterator over a message's fields (tag and
//! raw value, groups skipped) and the scalar values a field's bytes hold. No
//! allocation; every length is checked against the buffer.

/// A field's raw value, by wire type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(&'a [u8]),
    /// A group (deprecated wire types 3/4), skipped whole.
    Group,
}

impl Wire<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Varint(_) => "varint",
            Self::Fixed64(_) => "64-bit",
            Self::Fixed32(_) => "32-bit",
            Self::Len(_) => "length-delimited",
            Self::Group => "group",
        }
    }
}

/// What is wrong with a record's bytes. Small and `Copy`, so the hot path carries no
/// strings; it becomes text only when a record is rejected.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WireError {
    TruncatedVarint,
    LongVarint,
    PastEnd(u64),
    FieldNumber(u64),
    WireType(u32, u64),
    UnstartedGroupEnd(u32),
    GroupMismatch(u32, u32),
    GroupsTooDeep,
    NotUtf8,
    WrongType(Scalar, &'static str),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TruncatedVarint => write!(f, "truncated varint"),
            Self::LongVarint => write!(f, "varint longer than 64 bits"),
            Self::PastEnd(n) => write!(f, "a field of {n} bytes runs past the end of its message"),
            Self::FieldNumber(n) => write!(f, "invalid field number {n}"),
            Self::WireType(n, t) => write!(f, "field {n}: invalid wire type {t}"),
            Self::UnstartedGroupEnd(n) => {
                write!(f, "field {n}: end of a group that was not started")
            }
            Self::GroupMismatch(open, end) => {
                write!(f, "group {open} ends with the end of group {end}")
            }
            Self::GroupsTooDeep => write!(f, "groups nest too deep"),
            Self::NotUtf8 => write!(f, "string is not UTF-8"),
            Self::WrongType(s, w) => write!(f, "a {s:?} field holds a {w} value"),
        }
    }
}

impl From<WireError> for String {
    fn from(e: WireError) -> Self {
        e.to_string()
    }
}

/// Groups nest; deeper than this is taken for garbage.
const MAX_GROUP_DEPTH: usize = 64;

#[inline]
pub fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    // Most varints (tags, small numbers, lengths) are one byte.
    if let Some(&byte) = buf.get(*pos)
        && byte < 0x80
    {
        *pos += 1;
        return Ok(u64::from(byte));
    }
    varint_slow(buf, pos)
}

fn varint_slow(buf: &[u8], pos: &mut usize) -> Result<u64, WireError> {
    let mut value = 0u64;
    for shift in (0..70).step_by(7) {
        let Some(&byte) = buf.get(*pos) else {
            return Err(WireError::TruncatedVarint);
        };
        *pos += 1;
        if shift == 63 && byte > 1 {
            return Err(WireError::LongVarint);
        }
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err(WireError::LongVarint)
}

#[inline]
fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], WireError> {
    let end = pos
        .checked_add(n)
        .filter(|e| *e <= buf.len())
        .ok_or(WireError::PastEnd(n as u64))?;
    let bytes = &buf[*pos..end];
    *pos = end;
    Ok(bytes)
}

/// The fields of one message, in the order written.
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

pub fn fields(buf: &[u8]) -> Fields<'_> {
    Fields { buf, pos: 0 }
}

impl<'a> Fields<'a> {
    #[inline]
    fn value(&mut self, number: u32, wire_type: u64) -> Result<Wire<'a>, WireError> {
        let (buf, pos) = (self.buf, &mut self.pos);
        Ok(match wire_type {
            0 => Wire::Varint(varint(buf, pos)?),
            1 => Wire::Fixed64(u64::from_le_bytes(
                take(buf, pos, 8)?.try_into().expect("8"),
            )),
            5 => Wire::Fixed32(u32::from_le_bytes(
                take(buf, pos, 4)?.try_into().expect("4"),
            )),
            2 => {
                let n = varint(buf, pos)?;
                let n = usize::try_from(n).map_err(|_| WireError::PastEnd(n))?;
                Wire::Len(take(buf, pos, n)?)
            }
            3 => {
                self.skip_group(number)?;
                Wire::Group
            }
            4 => {
                return Err(WireError::UnstartedGroupEnd(number));
            }
            t => return Err(WireError::WireType(number, t)),
        })
    }

    /// Skips to the end of group `number`, through nested groups.
    fn skip_group(&mut self, number: u32) -> Result<(), WireError> {
        let mut open = vec![number];
        while let Some(&current) = open.last() {
            if open.len() > MAX_GROUP_DEPTH {
                return Err(WireError::GroupsTooDeep);
            }
            let key = varint(self.buf, &mut self.pos)?;
            let (n, t) = ((key >> 3) as u32, key & 7);
            match t {
                3 => open.push(n),
                4 if n == current => {
                    open.pop();
                }
                4 => return Err(WireError::GroupMismatch(current, n)),
                t => {
                    self.value(n, t)?;
                }
            }
        }
        Ok(())
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Wire<'a>), WireError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let field = varint(self.buf, &mut self.pos).and_then(|key| {
            let number = u32::try_from(key >> 3)
                .ok()
                .filter(|n| (1..=536_870_911).contains(n))
                .ok_or(WireError::FieldNumber(key >> 3))?;
            Ok((number, self.value(number, key & 7)?))
        });
        if field.is_err() {
            // Nothing after a malformed tag can be trusted.
            self.pos = self.buf.len();
        }
        Some(field)
    }
}

/// A scalar type, as a field declares it (so as its bytes must be read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Bool,
    Enum,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Float,
    Double,
    String,
    Bytes,
}

/// A scalar value, borrowed from the record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lit<'a> {
    Int(i64),
    Uint(u64),
    Bool(bool),
    Enum(i32),
    F32(f32),
    F64(f64),
    Str(&'a str),
    Bytes(&'a [u8]),
}

impl Scalar {
    /// Whether values of this type may come packed in one length-delimited field.
    pub fn packable(self) -> bool {
        !matches!(self, Self::String | Self::Bytes)
    }

    /// The value of this type that an absent proto3 field stands for.
    pub fn default_lit(self) -> Lit<'static> {
        match self {
            Self::Int32
            | Self::Int64
            | Self::Sint32
            | Self::Sint64
            | Self::Sfixed32
            | Self::Sfixed64 => Lit::Int(0),
            Self::Uint32 | Self::Uint64 | Self::Fixed32 | Self::Fixed64 => Lit::Uint(0),
            Self::Bool => Lit::Bool(false),
            Self::Enum => Lit::Enum(0),
            Self::Float => Lit::F32(0.0),
            Self::Double => Lit::F64(0.0),
            Self::String => Lit::Str(""),
            Self::Bytes => Lit::Bytes(&[]),
        }
    }

    /// Reads one value; the error names the wire type found.
    #[inline]
    pub fn read<'a>(self, w: Wire<'a>) -> Result<Lit<'a>, WireError> {
        Ok(match (self, w) {
            (Self::Int32, Wire::Varint(v)) => Lit::Int(i64::from(v as i32)),
            (Self::Int64, Wire::Varint(v)) => Lit::Int(v as i64),
            (Self::Uint32, Wire::Varint(v)) => Lit::Uint(u64::from(v as u32)),
            (Self::Uint64, Wire::Varint(v)) => Lit::Uint(v),
            (Self::Sint32, Wire::Varint(v)) => Lit::Int(i64::from(zigzag(v) as i32)),
            (Self::Sint64, Wire::Varint(v)) => Lit::Int(zigzag(v)),
            (Self::Bool, Wire::Varint(v)) => Lit::Bool(v != 0),
            (Self::Enum, Wire::Varint(v)) => Lit::Enum(v as i32),
            (Self::Fixed32, Wire::Fixed32(v)) => Lit::Uint(u64::from(v)),
            (Self::Sfixed32, Wire::Fixed32(v)) => Lit::Int(i64::from(v as i32)),
            (Self::Float, Wire::Fixed32(v)) => Lit::F32(f32::from_bits(v)),
            (Self::Fixed64, Wire::Fixed64(v)) => Lit::Uint(v),
            (Self::Sfixed64, Wire::Fixed64(v)) => Lit::Int(v as i64),
            (Self::Double, Wire::Fixed64(v)) => Lit::F64(f64::from_bits(v)),
            (Self::String, Wire::Len(b)) => {
                Lit::Str(std::str::from_utf8(b).map_err(|_| WireError::NotUtf8)?)
            }
            (Self::Bytes, Wire::Len(b)) => Lit::Bytes(b),
            (s, w) => return Err(WireError::WrongType(s, w.name())),
        })
    }

    /// The values of a packed field, each read as this type.
    pub fn packed<'a>(
        self,
        mut bytes: &'a [u8],
        mut each: impl FnMut(Lit<'a>),
    ) -> Result<(), WireError> {
        while !bytes.is_empty() {
            let mut pos = 0;
            let w = match self {
                Self::Fixed32 | Self::Sfixed32 | Self::Float => Wire::Fixed32(u32::from_le_bytes(
                    take(bytes, &mut pos, 4)?.try_into().expect("4"),
                )),
                Self::Fixed64 | Self::Sfixed64 | Self::Double => Wire::Fixed64(u64::from_le_bytes(
                    take(bytes, &mut pos, 8)?.try_into().expect("8"),
                )),
                _ => Wire::Varint(varint(bytes, &mut pos)?),
            };
            each(self.read(w)?);
            bytes = &bytes[pos..];
        }
        Ok(())
    }
}

fn zigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_values_and_errors() {
        // 1: varint 150, 2: "hi", 3: fixed32 1.0f, group 4 { 5: 1 }, 6: fixed64
        let mut msg = vec![0x08, 0x96, 0x01, 0x12, 2, b'h', b'i', 0x1d];
        msg.extend(1.0f32.to_le_bytes());
        msg.extend([0x23, 0x28, 0x01, 0x24, 0x31]);
        msg.extend(7u64.to_le_bytes());
        let got: Vec<(u32, Wire)> = fields(&msg).map(Result::unwrap).collect();
        assert_eq!(
            got,
            [
                (1, Wire::Varint(150)),
                (2, Wire::Len(b"hi")),
                (3, Wire::Fixed32(1.0f32.to_bits())),
                (4, Wire::Group),
                (6, Wire::Fixed64(7)),
            ]
        );
        assert_eq!(Scalar::Sint64.read(Wire::Varint(3)).unwrap(), Lit::Int(-2));
        assert!(Scalar::String.read(Wire::Len(&[0xff])).is_err());
        assert!(Scalar::Int32.read(Wire::Len(b"")).is_err());
        for bad in [
            &[0x12, 5, 1][..],
            &[0x08, 0xff],
            &[0x0f],
            &[0x00, 1],
            &[0x24],
        ] {
            assert!(fields(bad).any(|f| f.is_err()), "{bad:?}");
        }
        let mut out = Vec::new();
        Scalar::Sint32.packed(&[1, 2, 3], |l| out.push(l)).unwrap();
        assert_eq!(out, [Lit::Int(-1), Lit::Int(1), Lit::Int(-2)]);
        assert!(Scalar::Fixed32.packed(&[1, 2], |_| {}).is_err());
    }
}
