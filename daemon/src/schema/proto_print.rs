//! `.proto` text from a compiled `FileDescriptorProto`. Confluent's clients register
//! Protobuf schemas as base64 descriptors; the registry keeps readable `.proto` files,
//! so a descriptor is printed back to source. Everything that shapes the data is kept
//! (messages, fields and numbers, labels, maps, oneofs, enums, reserved ranges, proto2
//! defaults, `packed`, custom JSON names); other options are not.

use std::fmt::Write;

use prost::Message;
use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
use prost_reflect::prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
    ServiceDescriptorProto,
};

/// Whether `text` is a base64 descriptor rather than `.proto` source (which always has
/// spaces or semicolons).
pub fn is_base64_descriptor(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// Decodes a base64 `FileDescriptorProto` and prints it as `.proto` source.
pub fn from_base64(text: &str) -> Result<String, String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    let file = FileDescriptorProto::decode(bytes.as_slice())
        .map_err(|e| format!("not a serialized FileDescriptorProto: {e}"))?;
    print(&file)
}

/// `.proto` source for `file`.
pub fn print(file: &FileDescriptorProto) -> Result<String, String> {
    let syntax = match file.syntax() {
        "" | "proto2" => "proto2",
        "proto3" => "proto3",
        other => {
            return Err(format!(
                "syntax `{other}` is not supported; use proto2 or proto3"
            ));
        }
    };
    if !file.extension.is_empty() {
        return Err("extensions are not supported in registered schemas".into());
    }
    let mut out = format!("syntax = \"{syntax}\";\n");
    if !file.package().is_empty() {
        writeln!(out, "package {};", file.package()).expect("string write");
    }
    for (i, dep) in file.dependency.iter().enumerate() {
        let public = if file.public_dependency.contains(&(i as i32)) {
            "public "
        } else {
            ""
        };
        writeln!(out, "import {public}\"{dep}\";").expect("string write");
    }
    let p = Printer {
        proto3: syntax == "proto3",
    };
    for m in &file.message_type {
        out.push('\n');
        p.message(&mut out, m, 0)?;
    }
    for e in &file.enum_type {
        out.push('\n');
        enumeration(&mut out, e, 0);
    }
    for s in &file.service {
        out.push('\n');
        service(&mut out, s);
    }
    Ok(out)
}

struct Printer {
    proto3: bool,
}

fn indent(depth: usize) -> String {
    "  ".repeat(depth)
}

impl Printer {
    fn message(&self, out: &mut String, m: &DescriptorProto, depth: usize) -> Result<(), String> {
        let pad = indent(depth + 1);
        writeln!(out, "{}message {} {{", indent(depth), m.name()).expect("string write");
        if !m.extension.is_empty() || !m.extension_range.is_empty() {
            return Err(format!(
                "message `{}`: extensions are not supported in registered schemas",
                m.name()
            ));
        }
        // A proto3 `optional` field sits alone in a synthetic oneof, which is not printed.
        let synthetic = |index: i32| {
            m.field
                .iter()
                .any(|f| f.oneof_index == Some(index) && f.proto3_optional())
        };
        let mut printed_oneofs = Vec::new();
        for f in &m.field {
            match f.oneof_index {
                Some(i) if !synthetic(i) => {
                    if printed_oneofs.contains(&i) {
                        continue;
                    }
                    printed_oneofs.push(i);
                    let name = m
                        .oneof_decl
                        .get(i as usize)
                        .map(|o| o.name())
                        .ok_or_else(|| format!("message `{}`: oneof {i} is missing", m.name()))?;
                    writeln!(out, "{pad}oneof {name} {{").expect("string write");
                    for member in m.field.iter().filter(|g| g.oneof_index == Some(i)) {
                        out.push_str(&indent(depth + 2));
                        self.field(out, m, member, true)?;
                    }
                    writeln!(out, "{pad}}}").expect("string write");
                }
                _ => {
                    out.push_str(&pad);
                    self.field(out, m, f, false)?;
                }
            }
        }
        reserved(out, &pad, &m.reserved_range, &m.reserved_name, true);
        for nested in m.nested_type.iter().filter(|n| !is_map_entry(n)) {
            self.message(out, nested, depth + 1)?;
        }
        for e in &m.enum_type {
            enumeration(out, e, depth + 1);
        }
        writeln!(out, "{}}}", indent(depth)).expect("string write");
        Ok(())
    }

    fn field(
        &self,
        out: &mut String,
        parent: &DescriptorProto,
        f: &FieldDescriptorProto,
        in_oneof: bool,
    ) -> Result<(), String> {
        if let Some(entry) = map_entry(parent, f) {
            let kv = |n: i32| {
                entry
                    .field
                    .iter()
                    .find(|x| x.number() == n)
                    .map(type_name)
                    .ok_or_else(|| format!("map field `{}` has no key or value", f.name()))
            };
            write!(
                out,
                "map<{}, {}> {} = {}",
                kv(1)??,
                kv(2)??,
                f.name(),
                f.number()
            )
            .expect("string write");
        } else {
            let label = match (f.label(), in_oneof, self.proto3) {
                (_, true, _) => "",
                (Label::Repeated, ..) => "repeated ",
                (Label::Required, ..) => "required ",
                (Label::Optional, _, true) if f.proto3_optional() => "optional ",
                (Label::Optional, _, true) => "",
                (Label::Optional, _, false) => "optional ",
            };
            if f.r#type() == Type::Group {
                return Err(format!("field `{}`: groups are not supported", f.name()));
            }
            let ty = type_name(f)?;
            write!(out, "{label}{ty} {} = {}", f.name(), f.number()).expect("string write");
        }
        let mut options = Vec::new();
        if let Some(default) = &f.default_value {
            options.push(match f.r#type() {
                Type::String | Type::Bytes => format!("default = \"{default}\""),
                _ => format!("default = {default}"),
            });
        }
        if f.options.as_ref().and_then(|o| o.packed).is_some() {
            options.push(format!("packed = {}", f.options.as_ref().unwrap().packed()));
        }
        if f.json_name
            .as_deref()
            .is_some_and(|j| j != default_json_name(f.name()))
        {
            options.push(format!("json_name = \"{}\"", f.json_name()));
        }
        if !options.is_empty() {
            write!(out, " [{}]", options.join(", ")).expect("string write");
        }
        out.push_str(";\n");
        Ok(())
    }
}

fn is_map_entry(m: &DescriptorProto) -> bool {
    m.options.as_ref().is_some_and(|o| o.map_entry())
}

/// The entry message of a map field, declared in the field's own message.
fn map_entry<'a>(
    parent: &'a DescriptorProto,
    f: &FieldDescriptorProto,
) -> Option<&'a DescriptorProto> {
    if f.label() != Label::Repeated || f.r#type() != Type::Message {
        return None;
    }
    let short = f.type_name().rsplit('.').next()?;
    parent
        .nested_type
        .iter()
        .find(|n| n.name() == short && is_map_entry(n))
}

fn type_name(f: &FieldDescriptorProto) -> Result<String, String> {
    Ok(match f.r#type() {
        Type::Double => "double",
        Type::Float => "float",
        Type::Int64 => "int64",
        Type::Uint64 => "uint64",
        Type::Int32 => "int32",
        Type::Fixed64 => "fixed64",
        Type::Fixed32 => "fixed32",
        Type::Bool => "bool",
        Type::String => "string",
        Type::Bytes => "bytes",
        Type::Uint32 => "uint32",
        Type::Sfixed32 => "sfixed32",
        Type::Sfixed64 => "sfixed64",
        Type::Sint32 => "sint32",
        Type::Sint64 => "sint64",
        Type::Message | Type::Enum => return Ok(f.type_name().to_string()),
        Type::Group => return Err(format!("field `{}`: groups are not supported", f.name())),
    }
    .to_string())
}

/// protoc's JSON name: underscores dropped, the letter after each capitalised.
fn default_json_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `reserved` lines; message ranges end exclusive in descriptors, enum ranges inclusive.
fn reserved<R: Range>(
    out: &mut String,
    pad: &str,
    ranges: &[R],
    names: &[String],
    exclusive: bool,
) {
    if !ranges.is_empty() {
        let parts: Vec<String> = ranges
            .iter()
            .map(|r| {
                let (start, end) = (r.start(), r.end() - i32::from(exclusive));
                if start == end {
                    start.to_string()
                } else if end >= 536_870_911 || (!exclusive && end == i32::MAX) {
                    format!("{start} to max")
                } else {
                    format!("{start} to {end}")
                }
            })
            .collect();
        writeln!(out, "{pad}reserved {};", parts.join(", ")).expect("string write");
    }
    if !names.is_empty() {
        let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
        writeln!(out, "{pad}reserved {};", quoted.join(", ")).expect("string write");
    }
}

trait Range {
    fn start(&self) -> i32;
    fn end(&self) -> i32;
}

impl Range for prost_reflect::prost_types::descriptor_proto::ReservedRange {
    fn start(&self) -> i32 {
        self.start()
    }
    fn end(&self) -> i32 {
        self.end()
    }
}

impl Range for prost_reflect::prost_types::enum_descriptor_proto::EnumReservedRange {
    fn start(&self) -> i32 {
        self.start()
    }
    fn end(&self) -> i32 {
        self.end()
    }
}

fn enumeration(out: &mut String, e: &EnumDescriptorProto, depth: usize) {
    let pad = indent(depth + 1);
    writeln!(out, "{}enum {} {{", indent(depth), e.name()).expect("string write");
    if e.options.as_ref().is_some_and(|o| o.allow_alias()) {
        writeln!(out, "{pad}option allow_alias = true;").expect("string write");
    }
    for v in &e.value {
        writeln!(out, "{pad}{} = {};", v.name(), v.number()).expect("string write");
    }
    reserved(out, &pad, &e.reserved_range, &e.reserved_name, false);
    writeln!(out, "{}}}", indent(depth)).expect("string write");
}

fn service(out: &mut String, s: &ServiceDescriptorProto) {
    writeln!(out, "service {} {{", s.name()).expect("string write");
    for m in &s.method {
        let stream = |on: bool| if on { "stream " } else { "" };
        writeln!(
            out,
            "  rpc {}({}{}) returns ({}{});",
            m.name(),
            stream(m.client_streaming()),
            m.input_type(),
            stream(m.server_streaming()),
            m.output_type()
        )
        .expect("string write");
    }
    out.push_str("}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::protobuf::compile;

    /// Compiles `source`, prints its descriptor, compiles the print: the two
    /// descriptors must match except for the file name and source positions.
    fn round_trip(source: &str) -> String {
        let first = compile("a.proto", source, &[], None).expect("source compiles");
        let printed = print(first.file_descriptor_proto()).expect("prints");
        let second = compile("a.proto", &printed, &[], None)
            .unwrap_or_else(|e| panic!("printed source compiles: {e}\n{printed}"));
        let strip = |f: &FileDescriptorProto| {
            let mut f = f.clone();
            f.source_code_info = None;
            f
        };
        assert_eq!(
            strip(first.file_descriptor_proto()),
            strip(second.file_descriptor_proto()),
            "printed:\n{printed}"
        );
        printed
    }

    #[test]
    fn proto3_messages_print_back_to_the_same_descriptor() {
        let printed = round_trip(
            r#"syntax = "proto3";
            package shop.v1;
            import "google/protobuf/timestamp.proto";
            message Order {
              string id = 1;
              optional uint32 quantity = 2;
              repeated Line lines = 3;
              map<string, int64> totals = 4;
              oneof payment { string card = 5; bytes token = 6; }
              google.protobuf.Timestamp at = 7;
              Status status = 8;
              string user_name = 9 [json_name = "user"];
              reserved 10, 12 to 15;
              reserved "old";
              message Line { sint64 sku = 1; double price = 2; }
              enum Status { UNKNOWN = 0; PAID = 1; reserved 5; }
            }
            enum Kind { A = 0; B = 1; }"#,
        );
        assert!(
            printed.contains("map<string, int64> totals = 4;"),
            "{printed}"
        );
        assert!(
            printed.contains("optional uint32 quantity = 2;"),
            "{printed}"
        );
    }

    #[test]
    fn proto2_labels_and_defaults_survive() {
        round_trip(
            r#"syntax = "proto2";
            message M {
              required int32 a = 1;
              optional string b = 2 [default = "x"];
              repeated int32 c = 3 [packed = true];
              optional double d = 4 [default = 1.5];
            }"#,
        );
    }

    #[test]
    fn base64_is_told_from_source() {
        assert!(is_base64_descriptor("CgZvcmRlcnMSBHNob3A="));
        assert!(!is_base64_descriptor("syntax = \"proto3\";"));
    }
}
