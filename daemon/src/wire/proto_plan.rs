//! Protobuf records straight from wire bytes into column builders, without building a
//! message first. A plan, made once per writer message and column type, says which
//! column each field number fills and how its bytes read. A record is checked in a
//! first pass (varints, lengths, wire types, UTF-8, nested messages) and appended in a
//! second, so a corrupt record leaves no partial row.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Fields};
use prost_reflect::{FieldDescriptor, Kind as FieldKind, MessageDescriptor};

use super::columns::{Col, push_offset};
use super::proto_wire::{Lit, Scalar, Wire, WireError, fields};

/// How one writer message fills one struct column.
pub struct Plan {
    pub full_name: String,
    /// Field number → index in `fields`: a table for small numbers, a map beyond.
    dense: Vec<u32>,
    sparse: HashMap<u32, usize>,
    fields: Vec<FieldPlan>,
    /// For each column, the field that fills it; `None` when the writer lacks it.
    columns: Vec<Option<usize>>,
}

struct FieldPlan {
    number: u32,
    column: usize,
    kind: Kind,
    shape: Shape,
}

enum Shape {
    Single { presence: bool },
    Repeated,
    Map { key: Scalar, value: Kind },
}

enum Kind {
    Scalar(Scalar),
    Enum(Arc<EnumNames>),
    Message(Arc<Plan>),
    Timestamp,
    /// `google.protobuf.Int64Value` and kin: the value in field 1.
    Wrapper(Scalar),
}

/// An enum's value names by number, sorted.
struct EnumNames(Vec<(i32, String)>);

impl EnumNames {
    fn name(&self, n: i32) -> Option<&str> {
        let i = self.0.binary_search_by_key(&n, |(k, _)| *k).ok()?;
        Some(&self.0[i].1)
    }
}

const DENSE: u32 = 64;

fn scalar(kind: &FieldKind) -> Option<Scalar> {
    Some(match kind {
        FieldKind::Double => Scalar::Double,
        FieldKind::Float => Scalar::Float,
        FieldKind::Int32 => Scalar::Int32,
        FieldKind::Int64 => Scalar::Int64,
        FieldKind::Uint32 => Scalar::Uint32,
        FieldKind::Uint64 => Scalar::Uint64,
        FieldKind::Sint32 => Scalar::Sint32,
        FieldKind::Sint64 => Scalar::Sint64,
        FieldKind::Fixed32 => Scalar::Fixed32,
        FieldKind::Fixed64 => Scalar::Fixed64,
        FieldKind::Sfixed32 => Scalar::Sfixed32,
        FieldKind::Sfixed64 => Scalar::Sfixed64,
        FieldKind::Bool => Scalar::Bool,
        FieldKind::String => Scalar::String,
        FieldKind::Bytes => Scalar::Bytes,
        FieldKind::Enum(_) => Scalar::Enum,
        FieldKind::Message(_) => return None,
    })
}

/// How values of `kind` fill a column of type `t`; `None` when they cannot (a column a
/// version of another shape gave its name), and the column stays null.
fn kind_for(kind: &FieldKind, t: &DataType) -> Option<Kind> {
    let nested = matches!(
        t,
        DataType::Struct(_) | DataType::List(_) | DataType::Map(..)
    );
    match kind {
        FieldKind::Message(m) => match (m.full_name(), t) {
            ("google.protobuf.Timestamp", DataType::Timestamp(..)) => Some(Kind::Timestamp),
            (_, DataType::Struct(fields)) => Some(Kind::Message(Arc::new(Plan::new(m, fields)))),
            (_, _) if !nested && super::proto_desc::well_known(m).is_some() => {
                let value = m.get_field(1)?;
                Some(Kind::Wrapper(scalar(&value.kind())?))
            }
            _ => None,
        },
        FieldKind::Enum(e) if matches!(t, DataType::Dictionary(..)) => {
            let mut names: Vec<(i32, String)> = e
                .values()
                .map(|v| (v.number(), v.name().to_string()))
                .collect();
            names.sort();
            names.dedup_by_key(|(n, _)| *n);
            Some(Kind::Enum(Arc::new(EnumNames(names))))
        }
        k if !nested && !matches!(t, DataType::Timestamp(..)) => Some(Kind::Scalar(scalar(k)?)),
        _ => None,
    }
}

fn field_plan(fd: &FieldDescriptor, column: usize, t: &DataType) -> Option<FieldPlan> {
    let shape_kind = if fd.is_map() {
        let DataType::Map(entries, _) = t else {
            return None;
        };
        let DataType::Struct(kv) = entries.data_type() else {
            return None;
        };
        let entry = fd.kind();
        let entry = entry.as_message()?;
        let key = scalar(&entry.map_entry_key_field().kind())?;
        let value = kind_for(&entry.map_entry_value_field().kind(), kv[1].data_type())?;
        (Shape::Map { key, value }, Kind::Scalar(key))
    } else if fd.is_list() {
        let DataType::List(item) = t else {
            return None;
        };
        (Shape::Repeated, kind_for(&fd.kind(), item.data_type())?)
    } else {
        let presence = fd.supports_presence();
        (Shape::Single { presence }, kind_for(&fd.kind(), t)?)
    };
    let (shape, kind) = shape_kind;
    Some(FieldPlan {
        number: fd.number(),
        column,
        kind,
        shape,
    })
}

impl Plan {
    /// The plan of `message` for a struct column of `columns`, matched by name.
    pub fn new(message: &MessageDescriptor, columns: &Fields) -> Self {
        let mut plan = Plan {
            full_name: message.full_name().to_string(),
            dense: vec![u32::MAX; DENSE as usize],
            sparse: HashMap::new(),
            fields: Vec::new(),
            columns: vec![None; columns.len()],
        };
        for (column, c) in columns.iter().enumerate() {
            let Some(fd) = message.get_field_by_name(c.name()) else {
                continue;
            };
            let Some(f) = field_plan(&fd, column, c.data_type()) else {
                continue;
            };
            let index = plan.fields.len();
            plan.fields.push(f);
            plan.columns[column] = Some(index);
            match fd.number() {
                n if n < DENSE => plan.dense[n as usize] = index as u32,
                n => {
                    plan.sparse.insert(n, index);
                }
            }
        }
        plan
    }

    #[inline]
    fn index(&self, number: u32) -> Option<usize> {
        match number {
            n if n < DENSE => {
                Some(self.dense[n as usize] as usize).filter(|i| *i != u32::MAX as usize)
            }
            n => self.sparse.get(&n).copied(),
        }
    }

    /// Appends a message as one row of `col`, a struct column. On an error, what was
    /// appended so far stays: the caller rebuilds the column without this record.
    pub fn append(&self, buf: &[u8], col: &mut Col) -> Result<(), String> {
        let Col::Struct(_, cols, nulls) = col else {
            unreachable!("messages fill struct columns")
        };
        let mut on_stack = [Slot::EMPTY; STACK_SLOTS];
        let mut on_heap = Vec::new();
        let slots: &mut [Slot] = if self.fields.len() <= STACK_SLOTS {
            &mut on_stack[..self.fields.len()]
        } else {
            on_heap.resize(self.fields.len(), Slot::EMPTY);
            &mut on_heap
        };
        for field in fields(buf) {
            let (number, w) = field?;
            let Some(index) = self.index(number) else {
                continue;
            };
            let (f, slot) = (&self.fields[index], &mut slots[index]);
            let at = |e: String| format!("field {number}: {e}");
            match &f.shape {
                Shape::Single { .. } => {
                    slot.repeats = slot.last.is_some();
                    slot.last = Some(w);
                }
                Shape::Repeated => {
                    let Col::List(_, _, item) = &mut cols[f.column] else {
                        unreachable!("repeated fields fill list columns")
                    };
                    slot.count += append_repeated(&f.kind, w, item).map_err(at)?;
                }
                Shape::Map { .. } if matches!(w, Wire::Len(_)) => slot.count += 1,
                Shape::Map { .. } => {
                    return Err(at(format!("a map entry holds a {} value", w.name())));
                }
            }
        }
        for (column, col) in cols.iter_mut().enumerate() {
            let Some(index) = self.columns[column] else {
                col.append_null();
                continue;
            };
            let (f, slot) = (&self.fields[index], slots[index]);
            let at = |e: String| format!("field {}: {e}", f.number);
            match &f.shape {
                // Occurrences of a message field merge: parsing their concatenation is
                // Protobuf's definition of merging.
                Shape::Single { .. } if slot.repeats && matches!(f.kind, Kind::Message(_)) => {
                    let merged: Vec<u8> =
                        occurrences(buf, self, index).flatten().copied().collect();
                    append_value(&f.kind, Wire::Len(&merged), col).map_err(at)?;
                }
                Shape::Single { presence } => match slot.last {
                    Some(w) => append_value(&f.kind, w, col).map_err(at)?,
                    None if *presence => col.append_null(),
                    None => append_default(&f.kind, col),
                },
                Shape::Repeated => {
                    let Col::List(_, offsets, _) = col else {
                        unreachable!("repeated fields fill list columns")
                    };
                    push_offset(offsets, slot.count);
                }
                Shape::Map { key, value } => {
                    let entries: Vec<&[u8]> = match slot.count {
                        0 => Vec::new(),
                        _ => occurrences(buf, self, index).collect(),
                    };
                    append_map(*key, value, &entries, col).map_err(at)?
                }
            }
        }
        nulls.append_non_null();
        Ok(())
    }
}

/// Messages with up to this many planned fields keep their slots on the stack.
const STACK_SLOTS: usize = 16;

/// What one message holds for one planned field.
#[derive(Clone, Copy)]
struct Slot<'a> {
    last: Option<Wire<'a>>,
    count: usize,
    repeats: bool,
}

impl Slot<'_> {
    const EMPTY: Self = Slot {
        last: None,
        count: 0,
        repeats: false,
    };
}

/// The length-delimited values of planned field `index`, in the order written (the
/// message was read through once already, so its fields are well formed).
fn occurrences<'a>(buf: &'a [u8], plan: &'a Plan, index: usize) -> impl Iterator<Item = &'a [u8]> {
    fields(buf)
        .flatten()
        .filter_map(move |(number, w)| match w {
            Wire::Len(b) if plan.index(number) == Some(index) => Some(b),
            _ => None,
        })
}

/// Appends the elements one occurrence of a repeated field holds; returns how many.
fn append_repeated(kind: &Kind, w: Wire<'_>, item: &mut Col) -> Result<usize, String> {
    let mut n = 0;
    match (kind, w) {
        (Kind::Scalar(s), Wire::Len(b)) if s.packable() => s.packed(b, |lit| {
            append_lit(item, lit, None);
            n += 1;
        })?,
        (Kind::Enum(names), Wire::Len(b)) => Scalar::Enum.packed(b, |lit| {
            append_lit(item, lit, Some(names));
            n += 1;
        })?,
        (kind, w) => {
            append_value(kind, w, item)?;
            n = 1;
        }
    }
    Ok(n)
}

fn append_value(kind: &Kind, w: Wire<'_>, col: &mut Col) -> Result<(), String> {
    match (kind, w) {
        (Kind::Scalar(s), w) => append_lit(col, s.read(w)?, None),
        (Kind::Enum(names), w) => append_lit(col, Scalar::Enum.read(w)?, Some(names)),
        (Kind::Message(plan), Wire::Len(b)) => plan.append(b, col)?,
        (Kind::Timestamp, Wire::Len(b)) => {
            let (mut seconds, mut nanos) = (0i64, 0i64);
            for field in fields(b) {
                match field? {
                    (1, w) => seconds = read_int(Scalar::Int64, w)?,
                    (2, w) => nanos = read_int(Scalar::Int32, w)?,
                    _ => {}
                }
            }
            let Col::Ts(b, _) = col else {
                unreachable!("timestamps fill timestamp columns")
            };
            b.append_value(
                seconds
                    .saturating_mul(1_000_000)
                    .saturating_add(nanos / 1000),
            );
        }
        (Kind::Wrapper(s), Wire::Len(b)) => {
            let mut lit = s.default_lit();
            for field in fields(b) {
                if let (1, w) = field? {
                    lit = s.read(w)?;
                }
            }
            append_lit(col, lit, None);
        }
        (_, w) => return Err(format!("a message field holds a {} value", w.name())),
    }
    Ok(())
}

fn read_int(s: Scalar, w: Wire<'_>) -> Result<i64, WireError> {
    match s.read(w)? {
        Lit::Int(n) => Ok(n),
        _ => unreachable!("signed scalars read as Int"),
    }
}

fn append_default(kind: &Kind, col: &mut Col) {
    match kind {
        Kind::Scalar(s) => append_lit(col, s.default_lit(), None),
        Kind::Enum(names) => append_lit(col, Lit::Enum(0), Some(names)),
        _ => col.append_null(),
    }
}

/// A map's entries in key order, the last of equal keys winning, as Protobuf defines
/// repeated keys.
fn append_map(key: Scalar, value: &Kind, entries: &[&[u8]], col: &mut Col) -> Result<(), String> {
    let Col::Map(_, offsets, keys, values) = col else {
        unreachable!("map fields fill map columns")
    };
    let mut parsed: Vec<(Lit<'_>, Option<Wire<'_>>)> = Vec::with_capacity(entries.len());
    for entry in entries {
        let (mut k, mut v) = (key.default_lit(), None);
        for field in fields(entry) {
            match field? {
                (1, w) => k = key.read(w)?,
                (2, w) => v = Some(w),
                _ => {}
            }
        }
        parsed.push((k, v));
    }
    // Stable: among equal keys the later entry stays later, and is the one kept.
    parsed.sort_by(|a, b| compare(&a.0, &b.0));
    let mut kept = 0;
    for i in 0..parsed.len() {
        if parsed
            .get(i + 1)
            .is_some_and(|next| compare(&next.0, &parsed[i].0).is_eq())
        {
            continue;
        }
        let (k, v) = parsed[i];
        append_lit(keys, k, None);
        match v {
            Some(w) => append_value(value, w, values)?,
            None => match value {
                Kind::Message(plan) => plan.append(&[], values)?,
                other => append_default(other, values),
            },
        }
        kept += 1;
    }
    push_offset(offsets, kept);
    Ok(())
}

fn compare(a: &Lit<'_>, b: &Lit<'_>) -> std::cmp::Ordering {
    match (a, b) {
        (Lit::Int(x), Lit::Int(y)) => x.cmp(y),
        (Lit::Uint(x), Lit::Uint(y)) => x.cmp(y),
        (Lit::Bool(x), Lit::Bool(y)) => x.cmp(y),
        (Lit::Str(x), Lit::Str(y)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    }
}

/// Appends a scalar, cast to the column's type as Protobuf itself casts integers whose
/// type changed within a wire-compatible group.
fn append_lit(col: &mut Col, lit: Lit<'_>, names: Option<&EnumNames>) {
    let int = match lit {
        Lit::Int(n) => Some(i128::from(n)),
        Lit::Uint(n) => Some(i128::from(n)),
        Lit::Bool(b) => Some(i128::from(b)),
        Lit::Enum(n) => Some(i128::from(n)),
        _ => None,
    };
    match col {
        Col::Bool(b) => b.append_option(int.map(|n| n != 0)),
        Col::I32(b) => b.append_option(int.map(|n| n as i32)),
        Col::I64(b) => b.append_option(int.map(|n| n as i64)),
        Col::U32(b) => b.append_option(int.map(|n| n as u32)),
        Col::U64(b) => b.append_option(int.map(|n| n as u64)),
        Col::F32(b) => b.append_option(match lit {
            Lit::F32(x) => Some(x),
            Lit::F64(x) => Some(x as f32),
            _ => None,
        }),
        Col::F64(b) => b.append_option(match lit {
            Lit::F64(x) => Some(x),
            Lit::F32(x) => Some(f64::from(x)),
            _ => None,
        }),
        Col::Str(b) => match lit {
            Lit::Str(s) => b.append_value(s),
            Lit::Bytes(bytes) => b.append_value(String::from_utf8_lossy(bytes)),
            _ => b.append_null(),
        },
        Col::Bin(b) => match lit {
            Lit::Bytes(bytes) => b.append_value(bytes),
            Lit::Str(s) => b.append_value(s.as_bytes()),
            _ => b.append_null(),
        },
        Col::Enum(b) => match (
            lit,
            names.and_then(|e| match lit {
                Lit::Enum(n) => e.name(n),
                _ => None,
            }),
        ) {
            (_, Some(name)) => b.append_value(name),
            (Lit::Enum(n), None) => b.append_value(n.to_string()),
            _ => b.append_null(),
        },
        other => other.append_null(),
    }
}
