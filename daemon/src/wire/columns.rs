//! Column builders for Protobuf records, shaped by the pipeline's Arrow schema rather
//! than by each record's descriptor (`proto_plan` matches fields to them by name), so
//! messages of any compatible version fill one set of columns.

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

pub(super) fn push_offset(offsets: &mut Vec<i32>, len: usize) {
    let last = offsets.last().copied().unwrap_or(0);
    offsets.push(last + i32::try_from(len).expect("a record holds fewer than 2^31 items"));
}
