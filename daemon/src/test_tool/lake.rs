//! Reads back what a test case's pipeline wrote into its directory: the rows of each
//! data object (Parquet decoded to JSON, JSON lines as they are) and the dead letters.

use std::path::Path;

use serde_json::Value;

use super::compare::Written;

/// Every object under `lake`; those under `error_head` (when it is not empty) hold
/// dead letters.
pub fn read(lake: &Path, error_head: &str) -> Result<Written, String> {
    let mut written = Written::default();
    let mut files = Vec::new();
    walk(lake, &mut files).map_err(|e| e.to_string())?;
    files.sort();
    for file in files {
        let key = file
            .strip_prefix(lake)
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = std::fs::read(&file).map_err(|e| e.to_string())?;
        let rows = if key.ends_with(".parquet") {
            parquet_rows(bytes)?
        } else {
            json_lines(&key, &bytes)?
        };
        if !error_head.is_empty() && key.starts_with(error_head) {
            written.errors.extend(rows);
        } else {
            written.objects.insert(key, rows);
        }
    }
    Ok(written)
}

fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    if !dir.exists() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn parquet_rows(bytes: Vec<u8>) -> Result<Vec<Value>, String> {
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(bytes),
    )
    .and_then(|b| b.build())
    .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    {
        let mut writer = arrow_json::LineDelimitedWriter::new(&mut out);
        for batch in reader {
            writer
                .write(&batch.map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
        }
        writer.finish().map_err(|e| e.to_string())?;
    }
    lines(&out)
}

fn json_lines(key: &str, bytes: &[u8]) -> Result<Vec<Value>, String> {
    if key.ends_with(".gz") {
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut text)
            .map_err(|e| e.to_string())?;
        lines(&text)
    } else if key.ends_with(".zst") {
        lines(&zstd::decode_all(bytes).map_err(|e| e.to_string())?)
    } else {
        lines(bytes)
    }
}

fn lines(bytes: &[u8]) -> Result<Vec<Value>, String> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).map_err(|e| e.to_string()))
        .collect()
}
