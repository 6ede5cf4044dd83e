//! Protobuf schemas: `.proto` text compiled at run time (`protox`) into descriptors
//! (`prost-reflect`), the Arrow mapping of a message, and Confluent's compatibility
//! rules for Protobuf (fields matched by number; added and removed fields are fine;
//! a changed type is not unless the wire encoding is shared).

use std::path::Path;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema};
use prost_reflect::{FieldDescriptor, FileDescriptor, Kind, MessageDescriptor};
use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};

use super::registry::{Import, Version};
pub use crate::wire::proto_desc::{by_indexes, index_path, message, well_known};

/// Compiles `text` as the file `name`; imports resolve against `imports` (the texts of
/// its references), Google's well-known types, and files under `root` (the registry).
pub fn compile(
    name: &str,
    text: &str,
    imports: &[Import],
    root: Option<&Path>,
) -> Result<FileDescriptor, String> {
    struct Sources(Vec<(String, String)>);
    impl FileResolver for Sources {
        fn open_file(&self, name: &str) -> Result<File, protox::Error> {
            match self.0.iter().find(|(n, _)| n == name) {
                Some((_, text)) => File::from_source(name, text),
                None => Err(protox::Error::file_not_found(name)),
            }
        }
    }
    let mut sources = vec![(name.to_string(), text.to_string())];
    sources.extend(imports.iter().map(|i| (i.name.clone(), i.text.clone())));
    let mut chain = ChainFileResolver::new();
    chain.add(Sources(sources));
    chain.add(GoogleFileResolver::new());
    if let Some(root) = root {
        chain.add(IncludeFileResolver::new(root.to_path_buf()));
    }
    let mut compiler = protox::Compiler::with_file_resolver(chain);
    compiler.include_imports(true);
    compiler.open_file(name).map_err(|e| e.to_string())?;
    compiler
        .descriptor_pool()
        .get_file_by_name(name)
        .ok_or_else(|| format!("`{name}` did not compile to a file"))
}

/// Compiles a registry version, as the file `<subject folder>/<version>.proto`: the
/// folder name, unlike the subject, is always a plain relative path (`..`, `/x` or
/// `a//b` as a file name would not compile).
pub fn compile_version(v: &Version, root: Option<&Path>) -> Result<FileDescriptor, String> {
    let name = format!(
        "{}/{}.proto",
        super::registry::subject_dir(&v.subject),
        v.version
    );
    compile(&name, &v.text, &v.imports, root)
}

/// The columns of a message.
pub fn to_arrow(message: &MessageDescriptor) -> Result<Schema, String> {
    Ok(Schema::new(message_fields(message, &mut Vec::new())?))
}

fn message_fields(m: &MessageDescriptor, stack: &mut Vec<String>) -> Result<Fields, String> {
    if stack.iter().any(|s| s == m.full_name()) {
        return Err(format!(
            "message `{}` contains itself; recursive messages have no column type",
            m.full_name()
        ));
    }
    stack.push(m.full_name().to_string());
    let fields = m
        .fields()
        .map(|f| {
            let (t, nullable) = field_type(&f, stack)?;
            Ok(Field::new(f.name(), t, nullable))
        })
        .collect::<Result<Vec<_>, String>>();
    stack.pop();
    fields.map(Fields::from)
}

/// The Arrow type of a field and whether it is nullable.
fn field_type(f: &FieldDescriptor, stack: &mut Vec<String>) -> Result<(DataType, bool), String> {
    if f.is_map() {
        let entry = f.kind();
        let entry = entry.as_message().expect("map fields are messages");
        let (k, _) = kind_type(&entry.map_entry_key_field().kind(), stack)?;
        let (v, _) = kind_type(&entry.map_entry_value_field().kind(), stack)?;
        let entries = Fields::from(vec![
            Field::new("keys", k, false),
            Field::new("values", v, true),
        ]);
        let t = DataType::Map(
            Arc::new(Field::new("entries", DataType::Struct(entries), false)),
            false,
        );
        return Ok((t, false));
    }
    let (t, wrapper) = kind_type(&f.kind(), stack)?;
    if f.is_list() {
        return Ok((
            DataType::List(Arc::new(Field::new("item", t, wrapper))),
            false,
        ));
    }
    Ok((t, wrapper || f.supports_presence()))
}

/// The Arrow type of a kind, and whether it is a message (so may be absent).
fn kind_type(kind: &Kind, stack: &mut Vec<String>) -> Result<(DataType, bool), String> {
    let t = match kind {
        Kind::Double => DataType::Float64,
        Kind::Float => DataType::Float32,
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => DataType::Int32,
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => DataType::Int64,
        Kind::Uint32 | Kind::Fixed32 => DataType::UInt32,
        Kind::Uint64 | Kind::Fixed64 => DataType::UInt64,
        Kind::Bool => DataType::Boolean,
        Kind::String => DataType::Utf8,
        Kind::Bytes => DataType::Binary,
        Kind::Enum(_) => DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        Kind::Message(m) => match well_known(m) {
            Some(t) => t,
            None => DataType::Struct(message_fields(m, stack)?),
        },
    };
    Ok((t, matches!(kind, Kind::Message(_))))
}

/// Whether data written with `writer`'s first message reads with `reader`'s.
pub fn can_read(writer: &Version, reader: &Version) -> Result<(), String> {
    let w =
        compile_version(writer, None).map_err(|e| format!("version {}: {e}", writer.version))?;
    let r =
        compile_version(reader, None).map_err(|e| format!("version {}: {e}", reader.version))?;
    for wm in w.messages() {
        let Some(rm) = r.messages().find(|m| m.name() == wm.name()) else {
            return Err(format!("message `{}` was removed", wm.full_name()));
        };
        messages_compatible(&wm, &rm, &mut Vec::new())?;
    }
    Ok(())
}

fn messages_compatible(
    w: &MessageDescriptor,
    r: &MessageDescriptor,
    seen: &mut Vec<String>,
) -> Result<(), String> {
    if seen.iter().any(|s| s == w.full_name()) {
        return Ok(());
    }
    seen.push(w.full_name().to_string());
    for wf in w.fields() {
        let Some(rf) = r.get_field(wf.number()) else {
            continue;
        };
        let at = format!("{}.{} (field {})", r.name(), rf.name(), rf.number());
        if wf.is_list() != rf.is_list() || wf.is_map() != rf.is_map() {
            return Err(format!("{at}: changed between repeated and singular"));
        }
        let (wk, rk) = (wf.kind(), rf.kind());
        match (&wk, &rk) {
            (Kind::Message(a), Kind::Message(b)) => {
                if a.full_name() != b.full_name() && well_known(a).is_some() {
                    return Err(format!(
                        "{at}: type changed from {} to {}",
                        a.full_name(),
                        b.full_name()
                    ));
                }
                messages_compatible(a, b, seen)?;
            }
            (Kind::Enum(_), Kind::Enum(_)) => {}
            _ if wire_group(&wk) == wire_group(&rk) && wire_group(&wk).is_some() => {}
            _ => {
                return Err(format!(
                    "{at}: type changed from {} to {}",
                    kind_name(&wk),
                    kind_name(&rk)
                ));
            }
        }
        let (wo, ro) = (wf.containing_oneof(), rf.containing_oneof());
        if wo.is_none() && ro.is_some() && ro.is_some_and(|o| o.fields().len() > 1) {
            return Err(format!("{at}: moved into a oneof with other fields"));
        }
    }
    Ok(())
}

/// Kinds that share a wire encoding and read each other's values (Protobuf's
/// "compatible types"; varint integers and bool, zig-zag, 32- and 64-bit fixed,
/// string and bytes).
fn wire_group(k: &Kind) -> Option<u8> {
    Some(match k {
        Kind::Int32 | Kind::Uint32 | Kind::Int64 | Kind::Uint64 | Kind::Bool => 0,
        Kind::Sint32 | Kind::Sint64 => 1,
        Kind::Fixed32 | Kind::Sfixed32 => 2,
        Kind::Fixed64 | Kind::Sfixed64 => 3,
        Kind::String | Kind::Bytes => 4,
        Kind::Float => 5,
        Kind::Double => 6,
        _ => return None,
    })
}

fn kind_name(k: &Kind) -> String {
    match k {
        Kind::Message(m) => m.full_name().to_string(),
        Kind::Enum(e) => e.full_name().to_string(),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16 item 15: a subject that is not a plain relative path compiled under
    /// its own name and failed ("not in any include path").
    #[test]
    fn subjects_that_are_odd_paths_compile() {
        let text = "syntax = \"proto3\";\nmessage M { int64 a = 1; }\n";
        for subject in ["..", "../x", "a//b", "/abs", "a/./b", ".", "a b:c"] {
            let v = Version {
                subject: subject.into(),
                version: 1,
                schema_type: crate::schema::SchemaType::Protobuf,
                id: 1,
                text: text.into(),
                path: "x".into(),
                references: Vec::new(),
                imports: Vec::new(),
            };
            let file = compile_version(&v, None);
            assert!(file.is_ok(), "{subject:?}: {:?}", file.err());
        }
    }
}
