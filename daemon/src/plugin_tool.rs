//! Tools for plugin authors: `weir plugin new` scaffolds a crate, `weir plugin run`
//! runs a plugin over sample records and shows what comes out, errors included.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use crate::record::{Batch, unpack};
use crate::transform::{Chain, CompileCache, Next, Plugin, PluginSpec, in_position_order};

/// Creates `parent/NAME`: a plugin crate with a pass-through transform and a test.
/// `sdk` is the path of the `weir-plugin` crate; by default the one next to this
/// binary's sources, when present.
pub fn scaffold(name: &str, parent: &Path, sdk: Option<&Path>) -> Result<PathBuf, String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "`{name}` is not a crate name; use letters, digits, `-` and `_`"
        ));
    }
    let dir = parent.join(name);
    if dir.exists() {
        return Err(format!("`{}` already exists", dir.display()));
    }
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sdk");
    let dependency = match sdk {
        Some(path) => format!("{{ path = {:?} }}", absolute(path)?.display().to_string()),
        None if builtin.is_dir() => {
            format!(
                "{{ path = {:?} }}",
                absolute(&builtin)?.display().to_string()
            )
        }
        None => "\"0.1\"".to_string(),
    };
    let ident = name.replace('-', "_");
    let kind: String = ident
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let files = [
        (
            "Cargo.toml",
            CARGO_TOML
                .replace("{name}", name)
                .replace("{sdk}", &dependency),
        ),
        ("src/lib.rs", LIB_RS.replace("{Type}", &kind)),
        (".gitignore", "/target\n".to_string()),
        (".cargo/config.toml", CARGO_CONFIG.to_string()),
    ];
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().expect("files sit in a folder"))
            .and_then(|_| std::fs::write(&path, text))
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    Ok(dir)
}

fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::fs::canonicalize(path).map_err(|e| format!("`{}`: {e}", path.display()))
}

const CARGO_TOML: &str = r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
weir-plugin = {sdk}
serde_json = "1"

[profile.release]
opt-level = 3
lto = true
codegen-units = 1
strip = true
"#;

const CARGO_CONFIG: &str = r#"# A 128 KiB stack (Rust's default for Wasm is 1 MiB) lets Weir start fresh instances
# of this plugin about twice as fast. Heavy inlining means fewer function calls, and
# so fewer of the deadline checks Weir makes on entry to each function. `simd128`
# lets crates with a Wasm SIMD path (memchr, and so regex) scan 16 bytes per step.
[target.wasm32-wasip2]
rustflags = [
    "-C", "link-arg=-zstack-size=131072",
    "-C", "llvm-args=-inline-threshold=10000",
    "-C", "target-feature=+simd128",
]
"#;

const LIB_RS: &str = r##"//! A Weir transform plugin. Build it with
//! `cargo build --release --target wasm32-wasip2`; test it with `cargo test`.

use weir_plugin::{Config, Output, Record, Transform};

pub struct {Type} {
    field: String,
}

impl Transform for {Type} {
    fn init(config: &Config) -> Result<Self, String> {
        config.only(&["field"])?;
        Ok(Self {
            field: config.get("field").unwrap_or("id").to_string(),
        })
    }

    fn process(&mut self, record: &Record<'_>) -> Result<Output, String> {
        let doc: serde_json::Value = record.json()?;
        if doc.get(&self.field).is_none() {
            return Err(format!("field `{}` is missing", self.field));
        }
        Ok(Output::keep())
    }
}

weir_plugin::export!({Type});

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin::testing::Harness;

    #[test]
    fn keeps_records_with_the_field() {
        let mut h = Harness::<{Type}>::new(&[("field", "id")]).unwrap();
        let out = h.run(&[r#"{"id":1}"#, r#"{"name":"x"}"#]);
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.errors[0].0, 1);
    }
}
"##;

/// Runs `wasm` over the JSON lines of `input` and writes each output record, and each
/// error, with the input line it came from. Returns the number of errors.
pub fn try_plugin(
    wasm: &Path,
    input: &Path,
    config: Vec<(String, String)>,
    out: &mut impl Write,
) -> Result<usize, String> {
    let spec = PluginSpec::new(wasm, config);
    let cache = CompileCache::for_user();
    let plugin = Plugin::load(spec, "plugin-run", &cache).map_err(|e| e.to_string())?;
    let file = std::fs::File::open(input)
        .map_err(|e| format!("cannot read `{}`: {e}", input.display()))?;
    let mut batch = Batch::new("input".into());
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| format!("cannot read `{}`: {e}", input.display()))?;
        if !line.trim().is_empty() {
            batch.push(line.as_bytes(), None, 0, (n as u64 + 1).into());
        }
    }
    let inputs = batch.len();
    let chain = Chain {
        steps: vec![plugin],
    };
    let (output, failed) = chain.apply(batch);
    let write = |out: &mut dyn Write, text: String| {
        writeln!(out, "{text}").map_err(|e| format!("cannot write the output: {e}"))
    };
    for next in in_position_order(&output, Some(&failed.batch)) {
        let i = match next {
            Next::Failed(f) => {
                let (line, reason) = (failed.batch.position(f), &failed.reasons[f]);
                write(out, format!("line {line}: ERROR {reason}"))?;
                continue;
            }
            Next::Output(i) => i,
        };
        let mut text = format!(
            "line {}: {}",
            output.position(i),
            String::from_utf8_lossy(output.value(i))
        );
        let keys: Vec<String> = unpack(output.partition_keys(i))
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    String::from_utf8_lossy(k),
                    String::from_utf8_lossy(v)
                )
            })
            .collect();
        if !keys.is_empty() {
            text.push_str(&format!("  [partition {}]", keys.join(", ")));
        }
        write(out, text)?;
    }
    eprintln!(
        "{inputs} input records, {} output records, {} errors",
        output.len(),
        failed.batch.len()
    );
    Ok(failed.batch.len())
}
