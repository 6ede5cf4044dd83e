//! Record metadata kept as Parquet columns after the schema's (`sink.metadata_columns`):
//! the source's key, headers, topic, partition, offset and timestamp, so an archive of a
//! Kafka topic keeps what a consumer of it saw besides the value.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, Int32Builder, Int64Builder, ListBuilder, StringBuilder, StructBuilder,
    TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;

use crate::record::{Batch, find_packed};

/// One metadata column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataColumn {
    /// `_key`: the record key as bytes (null without one).
    Key,
    /// `_headers`: the headers in order, as a list of `{key, value}` (a name may repeat).
    Headers,
    /// `_topic`: the `topic` partition key (Kafka's topic; null where a source has none).
    Topic,
    /// `_partition`: the `partition` partition key as a number (Kafka's partition).
    Partition,
    /// `_offset`: the record's position when it is an offset (Kafka's offset).
    Offset,
    /// `_timestamp`: the record's source time (Kafka's broker timestamp; the arrival
    /// time for other sources), UTC milliseconds.
    Timestamp,
}

impl MetadataColumn {
    pub fn name(self) -> &'static str {
        match self {
            Self::Key => "_key",
            Self::Headers => "_headers",
            Self::Topic => "_topic",
            Self::Partition => "_partition",
            Self::Offset => "_offset",
            Self::Timestamp => "_timestamp",
        }
    }

    fn field(self) -> Field {
        let t = match self {
            Self::Key => DataType::Binary,
            Self::Headers => DataType::List(Arc::new(header_item())),
            Self::Topic => DataType::Utf8,
            Self::Partition => DataType::Int32,
            Self::Offset => DataType::Int64,
            Self::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        };
        let nullable = !matches!(self, Self::Headers | Self::Timestamp);
        Field::new(self.name(), t, nullable)
    }
}

fn header_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Binary, true),
    ])
}

/// One header: the list item of `_headers`.
fn header_item() -> Field {
    Field::new("item", DataType::Struct(header_fields()), false)
}

/// The written schema: the schema's columns, then the metadata columns in the order
/// given.
pub fn with_columns(base: &SchemaRef, columns: &[MetadataColumn]) -> SchemaRef {
    if columns.is_empty() {
        return base.clone();
    }
    let mut fields: Vec<Arc<Field>> = base.fields().iter().cloned().collect();
    fields.extend(columns.iter().map(|c| Arc::new(c.field())));
    Arc::new(Schema::new_with_metadata(fields, base.metadata().clone()))
}

/// Appends the metadata columns to `rows`, whose row `r` is record `indexes[r]` of
/// `batch`.
pub fn append(
    rows: RecordBatch,
    batch: &Batch,
    indexes: &[usize],
    columns: &[MetadataColumn],
) -> RecordBatch {
    if columns.is_empty() {
        return rows;
    }
    let schema = with_columns(&rows.schema(), columns);
    let mut arrays = rows.columns().to_vec();
    arrays.extend(columns.iter().map(|c| column(*c, batch, indexes)));
    RecordBatch::try_new(schema, arrays).expect("metadata columns have one value per row")
}

fn column(c: MetadataColumn, batch: &Batch, indexes: &[usize]) -> ArrayRef {
    let key = |i: usize, name: &str| find_packed(batch.partition_keys(i), name);
    match c {
        MetadataColumn::Key => {
            let mut b = BinaryBuilder::new();
            indexes.iter().for_each(|&i| b.append_option(batch.key(i)));
            Arc::new(b.finish())
        }
        MetadataColumn::Headers => headers(batch, indexes),
        MetadataColumn::Topic => {
            let mut b = StringBuilder::new();
            for &i in indexes {
                b.append_option(key(i, "topic").map(|v| String::from_utf8_lossy(v)));
            }
            Arc::new(b.finish())
        }
        MetadataColumn::Partition => {
            let mut b = Int32Builder::new();
            for &i in indexes {
                let n = key(i, "partition").and_then(|v| std::str::from_utf8(v).ok()?.parse().ok());
                b.append_option(n);
            }
            Arc::new(b.finish())
        }
        MetadataColumn::Offset => {
            let mut b = Int64Builder::new();
            for &i in indexes {
                b.append_option(batch.position(i).as_offset().map(|o| o as i64));
            }
            Arc::new(b.finish())
        }
        MetadataColumn::Timestamp => {
            let mut b = TimestampMillisecondBuilder::new().with_timezone("UTC");
            indexes
                .iter()
                .for_each(|&i| b.append_value(batch.timestamp(i)));
            Arc::new(b.finish())
        }
    }
}

fn headers(batch: &Batch, indexes: &[usize]) -> ArrayRef {
    let item = StructBuilder::from_fields(header_fields(), 0);
    let mut list = ListBuilder::new(item).with_field(Arc::new(header_item()));
    for &i in indexes {
        for (name, value) in batch.headers(i) {
            let entry = list.values();
            entry
                .field_builder::<StringBuilder>(0)
                .expect("key builder")
                .append_value(String::from_utf8_lossy(name));
            entry
                .field_builder::<BinaryBuilder>(1)
                .expect("value builder")
                .append_value(value);
            entry.append(true);
        }
        list.append(true);
    }
    Arc::new(list.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::Position;
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Int32Type, Int64Type};

    #[test]
    fn every_column_reads_its_records_metadata_by_index() {
        let mut batch = Batch::new("orders-2".into());
        for n in 0..3u64 {
            batch.push_header(b"trace", format!("t{n}").as_bytes());
            batch.push_partition_key(b"topic", b"orders");
            batch.push_partition_key(b"partition", b"2");
            let key = (n != 1).then(|| format!("k{n}").into_bytes());
            batch.push(
                b"{}",
                key.as_deref(),
                1_000 + n as i64,
                Position::offset(40 + n),
            );
        }
        let base = Arc::new(Schema::new(vec![Field::new("v", DataType::Int32, false)]));
        let rows = RecordBatch::try_new(
            base.clone(),
            vec![Arc::new(arrow_array::Int32Array::from(vec![7, 9]))],
        )
        .unwrap();
        use MetadataColumn::*;
        let all = [Key, Headers, Topic, Partition, Offset, Timestamp];
        // Record 1 was dead-lettered: rows are records 0 and 2.
        let out = append(rows, &batch, &[0, 2], &all);
        assert_eq!(out.schema(), with_columns(&base, &all));
        let key = out.column_by_name("_key").unwrap().as_binary::<i32>();
        assert_eq!(key.value(0), b"k0");
        assert_eq!(key.value(1), b"k2");
        let offsets = out
            .column_by_name("_offset")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(offsets.values().to_vec(), vec![40, 42]);
        let partitions = out
            .column_by_name("_partition")
            .unwrap()
            .as_primitive::<Int32Type>();
        assert_eq!(partitions.values().to_vec(), vec![2, 2]);
        assert_eq!(
            out.column_by_name("_topic")
                .unwrap()
                .as_string::<i32>()
                .value(1),
            "orders"
        );
        let headers = out.column_by_name("_headers").unwrap().as_list::<i32>();
        let second = headers.value(1);
        let second = second.as_struct();
        assert_eq!(second.column(0).as_string::<i32>().value(0), "trace");
        assert_eq!(second.column(1).as_binary::<i32>().value(0), b"t2");
        let times = out.column_by_name("_timestamp").unwrap();
        assert_eq!(
            times
                .as_primitive::<arrow_array::types::TimestampMillisecondType>()
                .value(1),
            1_002
        );
        assert!(!times.is_nullable() || times.null_count() == 0);
    }
}
