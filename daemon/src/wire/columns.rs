//! Column builders for decoded Protobuf messages, shaped by the pipeline's Arrow schema
//! rather than by each record's descriptor: fields are matched by name, so messages of
//! any compatible version fill one set of columns; a field a version lacks is null.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float32Builder, Float64Builder, Int32Builder, Int64Builder,
    StringBuilder, StringDictionaryBuilder, TimestampMicrosecondBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, ListArray, MapArray, StructArray};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer};
use arrow_schema::{DataType, FieldRef, Fields, TimeUnit};
use prost_reflect::{DynamicMessage, FieldDescriptor, MapKey, ReflectMessage, Value};

pub enum Col {
    Bool(BooleanBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    U32(UInt32Builder),
    U64(UInt64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Str(StringBuilder),
    Bin(BinaryBuilder),
    Enum(StringDictionaryBuilder<Int32Type>),
    Ts(TimestampMicrosecondBuilder, Option<Arc<str>>),
    Struct(Fields, Vec<Col>, NullBufferBuilder),
    List(FieldRef, Vec<i32>, Box<Col>),
    Map(FieldRef, Vec<i32>, Box<Col>, Box<Col>),
}

impl Col {
    pub fn new(t: &DataType) -> Self {
        match t {
            DataType::Boolean => Self::Bool(BooleanBuilder::new()),
            DataType::Int32 => Self::I32(Int32Builder::new()),
            DataType::Int64 => Self::I64(Int64Builder::new()),
            DataType::UInt32 => Self::U32(UInt32Builder::new()),
            DataType::UInt64 => Self::U64(UInt64Builder::new()),
            DataType::Float32 => Self::F32(Float32Builder::new()),
            DataType::Float64 => Self::F64(Float64Builder::new()),
            DataType::Utf8 => Self::Str(StringBuilder::new()),
            DataType::Binary => Self::Bin(BinaryBuilder::new()),
            DataType::Dictionary(..) => Self::Enum(StringDictionaryBuilder::new()),
            DataType::Timestamp(TimeUnit::Microsecond, tz) => {
                Self::Ts(TimestampMicrosecondBuilder::new(), tz.clone())
            }
            DataType::Struct(fields) => Self::Struct(
                fields.clone(),
                fields.iter().map(|f| Col::new(f.data_type())).collect(),
                NullBufferBuilder::new(0),
            ),
            DataType::List(item) => {
                Self::List(item.clone(), vec![0], Box::new(Col::new(item.data_type())))
            }
            DataType::Map(entries, _) => {
                let DataType::Struct(kv) = entries.data_type() else {
                    unreachable!("map entries are structs")
                };
                Self::Map(
                    entries.clone(),
                    vec![0],
                    Box::new(Col::new(kv[0].data_type())),
                    Box::new(Col::new(kv[1].data_type())),
                )
            }
            other => unreachable!("Protobuf columns never have type {other}"),
        }
    }

    /// Appends the fields of `m`, matched by name, as one row of a struct column.
    pub fn append_message(&mut self, m: &DynamicMessage) {
        let Self::Struct(fields, cols, nulls) = self else {
            unreachable!("messages fill struct columns")
        };
        let descriptor = m.descriptor();
        for (field, col) in fields.iter().zip(cols.iter_mut()) {
            match descriptor.get_field_by_name(field.name()) {
                Some(fd) if !fd.supports_presence() || m.has_field(&fd) => {
                    col.append(&m.get_field(&fd), &fd)
                }
                _ => col.append_null(),
            }
        }
        nulls.append_non_null();
    }

    fn append(&mut self, v: &Value, fd: &FieldDescriptor) {
        if let (Self::Struct(..), Value::Message(m)) = (&*self, v) {
            return self.append_message(m);
        }
        match (self, v) {
            (Self::List(_, offsets, item), Value::List(items)) => {
                for i in items {
                    item.append(i, fd);
                }
                push_offset(offsets, items.len());
            }
            (Self::Map(_, offsets, keys, values), Value::Map(entries)) => {
                let entry = fd.kind();
                let entry = entry.as_message().expect("map fields are messages");
                let value_fd = entry.map_entry_value_field();
                let mut sorted: Vec<(&MapKey, &Value)> = entries.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(b.0));
                for (k, v) in &sorted {
                    keys.append_key(k);
                    values.append(v, &value_fd);
                }
                push_offset(offsets, sorted.len());
            }
            (Self::Ts(b, _), Value::Message(m)) => {
                let seconds = m
                    .get_field_by_name("seconds")
                    .and_then(|v| v.as_i64())
                    .unwrap_or(0);
                let nanos = m
                    .get_field_by_name("nanos")
                    .and_then(|v| v.as_i32())
                    .unwrap_or(0);
                b.append_value(seconds.saturating_mul(1_000_000) + i64::from(nanos) / 1000);
            }
            // Wrapper messages (google.protobuf.Int64Value, ...) hold their value in `value`.
            (this, Value::Message(m)) => match m.get_field_by_name("value") {
                Some(inner) => this.append_scalar(&inner, fd),
                None => this.append_null(),
            },
            (this, v) => this.append_scalar(v, fd),
        }
    }

    fn append_key(&mut self, k: &MapKey) {
        let v = match k {
            MapKey::Bool(b) => Value::Bool(*b),
            MapKey::I32(n) => Value::I32(*n),
            MapKey::I64(n) => Value::I64(*n),
            MapKey::U32(n) => Value::U32(*n),
            MapKey::U64(n) => Value::U64(*n),
            MapKey::String(s) => Value::String(s.clone()),
        };
        self.append_scalar_value(&v, None);
    }

    fn append_scalar(&mut self, v: &Value, fd: &FieldDescriptor) {
        self.append_scalar_value(v, Some(fd));
    }

    /// Integers are cast to the column's width, as Protobuf itself does when a field's
    /// integer type changes within a wire-compatible group.
    fn append_scalar_value(&mut self, v: &Value, fd: Option<&FieldDescriptor>) {
        let int = || match v {
            Value::I32(n) => Some(i128::from(*n)),
            Value::I64(n) => Some(i128::from(*n)),
            Value::U32(n) => Some(i128::from(*n)),
            Value::U64(n) => Some(i128::from(*n)),
            Value::Bool(b) => Some(i128::from(*b)),
            Value::EnumNumber(n) => Some(i128::from(*n)),
            _ => None,
        };
        match self {
            Self::Bool(b) => b.append_option(int().map(|n| n != 0)),
            Self::I32(b) => b.append_option(int().map(|n| n as i32)),
            Self::I64(b) => b.append_option(int().map(|n| n as i64)),
            Self::U32(b) => b.append_option(int().map(|n| n as u32)),
            Self::U64(b) => b.append_option(int().map(|n| n as u64)),
            Self::F32(b) => b.append_option(v.as_f32().or(v.as_f64().map(|x| x as f32))),
            Self::F64(b) => b.append_option(v.as_f64().or(v.as_f32().map(f64::from))),
            Self::Str(b) => match v {
                Value::String(s) => b.append_value(s),
                Value::Bytes(bytes) => b.append_value(String::from_utf8_lossy(bytes)),
                _ => b.append_null(),
            },
            Self::Bin(b) => match v {
                Value::Bytes(bytes) => b.append_value(bytes),
                Value::String(s) => b.append_value(s.as_bytes()),
                _ => b.append_null(),
            },
            Self::Enum(b) => match v {
                Value::EnumNumber(n) => {
                    let kind = fd.map(FieldDescriptor::kind);
                    let name = kind
                        .as_ref()
                        .and_then(|k| k.as_enum())
                        .and_then(|e| e.get_value(*n))
                        .map(|ev| ev.name().to_string())
                        .unwrap_or_else(|| n.to_string());
                    b.append_value(name);
                }
                _ => b.append_null(),
            },
            _ => self.append_null(),
        }
    }

    pub fn append_null(&mut self) {
        match self {
            Self::Bool(b) => b.append_null(),
            Self::I32(b) => b.append_null(),
            Self::I64(b) => b.append_null(),
            Self::U32(b) => b.append_null(),
            Self::U64(b) => b.append_null(),
            Self::F32(b) => b.append_null(),
            Self::F64(b) => b.append_null(),
            Self::Str(b) => b.append_null(),
            Self::Bin(b) => b.append_null(),
            Self::Enum(b) => b.append_null(),
            Self::Ts(b, _) => b.append_null(),
            Self::Struct(_, cols, nulls) => {
                cols.iter_mut().for_each(Col::append_null);
                nulls.append_null();
            }
            // Repeated fields and maps are never absent, only empty.
            Self::List(_, offsets, _) | Self::Map(_, offsets, _, _) => push_offset(offsets, 0),
        }
    }

    /// The column so far; the builder starts over empty.
    pub fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Bool(b) => Arc::new(b.finish()),
            Self::I32(b) => Arc::new(b.finish()),
            Self::I64(b) => Arc::new(b.finish()),
            Self::U32(b) => Arc::new(b.finish()),
            Self::U64(b) => Arc::new(b.finish()),
            Self::F32(b) => Arc::new(b.finish()),
            Self::F64(b) => Arc::new(b.finish()),
            Self::Str(b) => Arc::new(b.finish()),
            Self::Bin(b) => Arc::new(b.finish()),
            Self::Enum(b) => Arc::new(b.finish()),
            Self::Ts(b, tz) => Arc::new(b.finish().with_timezone_opt(tz.clone())),
            Self::Struct(fields, cols, nulls) => {
                let arrays: Vec<ArrayRef> = cols.iter_mut().map(Col::finish).collect();
                Arc::new(StructArray::new(fields.clone(), arrays, nulls.finish()))
            }
            Self::List(item, offsets, child) => {
                let offsets = OffsetBuffer::new(std::mem::replace(offsets, vec![0]).into());
                Arc::new(ListArray::new(item.clone(), offsets, child.finish(), None))
            }
            Self::Map(entries, offsets, keys, values) => {
                let DataType::Struct(kv) = entries.data_type() else {
                    unreachable!("map entries are structs")
                };
                let entries_array =
                    StructArray::new(kv.clone(), vec![keys.finish(), values.finish()], None);
                let offsets = OffsetBuffer::new(std::mem::replace(offsets, vec![0]).into());
                Arc::new(MapArray::new(
                    entries.clone(),
                    offsets,
                    entries_array,
                    None,
                    false,
                ))
            }
        }
    }
}

fn push_offset(offsets: &mut Vec<i32>, len: usize) {
    let last = offsets.last().copied().unwrap_or(0);
    offsets.push(last + i32::try_from(len).expect("a record holds fewer than 2^31 items"));
}
