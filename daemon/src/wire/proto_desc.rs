//! Protobuf descriptors as the wire needs them: a message by name or by Confluent's
//! message indexes, the indexes of a message, and the well-known types that map to
//! plain columns. The schema layer builds on these; they depend on nothing above.

use arrow_schema::{DataType, TimeUnit};
use prost_reflect::{FileDescriptor, MessageDescriptor};

/// The message a pipeline reads: `name` (full or short), or the file's first message.
pub fn message(file: &FileDescriptor, name: Option<&str>) -> Result<MessageDescriptor, String> {
    let all: Vec<MessageDescriptor> = file.messages().flat_map(with_nested).collect();
    match name {
        None => file
            .messages()
            .next()
            .ok_or_else(|| "the .proto file defines no message".to_string()),
        Some(n) => all
            .iter()
            .find(|m| m.full_name() == n || m.name() == n)
            .cloned()
            .ok_or_else(|| {
                let names: Vec<&str> = all.iter().map(|m| m.full_name()).collect();
                format!("no message `{n}` (messages: {})", names.join(", "))
            }),
    }
}

fn with_nested(m: MessageDescriptor) -> Vec<MessageDescriptor> {
    let mut out = vec![m.clone()];
    out.extend(
        m.child_messages()
            .filter(|c| !c.is_map_entry())
            .flat_map(with_nested),
    );
    out
}

/// The message at Confluent's index path: top-level index, then nested indexes.
pub fn by_indexes(file: &FileDescriptor, path: &[usize]) -> Result<MessageDescriptor, String> {
    let missing = || format!("message indexes {path:?} name no message of the schema");
    let (first, rest) = path.split_first().ok_or_else(missing)?;
    let mut m = file.messages().nth(*first).ok_or_else(missing)?;
    for ix in rest {
        let child = m
            .child_messages()
            .filter(|c| !c.is_map_entry())
            .nth(*ix)
            .ok_or_else(missing)?;
        m = child;
    }
    Ok(m)
}

/// Confluent's message indexes of `target` in `file` (the inverse of `by_indexes`).
pub fn index_path(file: &FileDescriptor, target: &MessageDescriptor) -> Option<Vec<usize>> {
    fn walk(
        messages: impl Iterator<Item = MessageDescriptor>,
        target: &MessageDescriptor,
        path: &mut Vec<usize>,
    ) -> bool {
        for (i, m) in messages.filter(|m| !m.is_map_entry()).enumerate() {
            path.push(i);
            if m.full_name() == target.full_name() || walk(m.child_messages(), target, path) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = Vec::new();
    walk(file.messages(), target, &mut path).then_some(path)
}

/// Timestamps and wrapper messages map to plain columns.
pub fn well_known(m: &MessageDescriptor) -> Option<DataType> {
    Some(match m.full_name() {
        "google.protobuf.Timestamp" => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        "google.protobuf.DoubleValue" => DataType::Float64,
        "google.protobuf.FloatValue" => DataType::Float32,
        "google.protobuf.Int64Value" => DataType::Int64,
        "google.protobuf.UInt64Value" => DataType::UInt64,
        "google.protobuf.Int32Value" => DataType::Int32,
        "google.protobuf.UInt32Value" => DataType::UInt32,
        "google.protobuf.BoolValue" => DataType::Boolean,
        "google.protobuf.StringValue" => DataType::Utf8,
        "google.protobuf.BytesValue" => DataType::Binary,
        _ => return None,
    })
}
