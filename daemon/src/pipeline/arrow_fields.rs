//! Reads the record fields a prefix template or the event time names out of decoded
//! Arrow rows, as small JSON values, so binary records render prefixes exactly as JSON
//! records do. Timestamps become epoch milliseconds; other types their display form.

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, TimeUnit};
use serde_json::{Map, Value};

/// One field path resolved to its column, with the struct columns above it.
pub struct FieldReader {
    path: Vec<String>,
    /// Every column from the top level down to the field.
    chain: Vec<ArrayRef>,
}

impl FieldReader {
    pub fn new(batch: &RecordBatch, path: &[String]) -> Option<Self> {
        let (first, rest) = path.split_first()?;
        let mut chain = vec![batch.column_by_name(first)?.clone()];
        for name in rest {
            let parent = chain.last().expect("one column at least");
            let child = parent.as_struct_opt()?.column_by_name(name)?.clone();
            chain.push(child);
        }
        let leaf = chain.pop().expect("one column at least");
        let leaf = match leaf.data_type() {
            DataType::Timestamp(unit, _) if *unit != TimeUnit::Millisecond => {
                arrow_cast::cast(&leaf, &DataType::Timestamp(TimeUnit::Millisecond, None)).ok()?
            }
            _ => leaf,
        };
        chain.push(leaf);
        Some(Self {
            path: path.to_vec(),
            chain,
        })
    }

    /// The field's value in `row`, or `None` when it or a struct above it is null.
    fn value(&self, row: usize) -> Option<Value> {
        if self.chain.iter().any(|c| c.is_null(row)) {
            return None;
        }
        let leaf = self.chain.last().expect("one column at least");
        let v = match leaf.data_type() {
            DataType::Timestamp(..) => {
                Value::from(leaf.as_primitive::<TimestampMillisecondType>().value(row))
            }
            DataType::Boolean => Value::Bool(leaf.as_boolean().value(row)),
            t if t.is_integer() || t.is_floating() => {
                let text = display(leaf, row)?;
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            }
            _ => Value::String(display(leaf, row)?),
        };
        Some(v)
    }
}

fn display(array: &ArrayRef, row: usize) -> Option<String> {
    let f = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default()).ok()?;
    Some(f.value(row).to_string())
}

/// A record of just the named fields of `row`, nested as in the schema.
pub fn record_of(readers: &[FieldReader], row: usize) -> Value {
    let mut root = Map::new();
    for r in readers {
        let Some(v) = r.value(row) else { continue };
        let (last, parents) = r.path.split_last().expect("paths are not empty");
        let mut node = Some(&mut root);
        for p in parents {
            // A parent another reader filled with a value is no record: skip (validation
            // refuses records as prefix values, so this is only a safeguard).
            node = node.and_then(|n| {
                n.entry(p.clone())
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
            });
        }
        if let Some(node) = node {
            node.insert(last.clone(), v);
        }
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StructArray};
    use arrow_schema::{Field, Fields};
    use std::sync::Arc;

    /// A record and one of its fields both named: no panic (it used to, depending on
    /// the readers' order); the field is kept under the record's display form.
    #[test]
    fn a_record_and_its_field_named_together_do_not_panic() {
        let x = Arc::new(Int64Array::from(vec![7])) as ArrayRef;
        let s = StructArray::new(
            Fields::from(vec![Field::new("x", DataType::Int64, false)]),
            vec![x],
            None,
        );
        let batch = RecordBatch::try_from_iter(vec![("s", Arc::new(s) as ArrayRef)]).unwrap();
        let path = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let readers = vec![
            FieldReader::new(&batch, &path(&["s"])).unwrap(),
            FieldReader::new(&batch, &path(&["s", "x"])).unwrap(),
        ];
        let record = record_of(&readers, 0);
        assert!(record["s"].is_string(), "{record}");
    }
}
