//! `redact`: masks configured JSON fields (e.g. email, phone) wherever they occur.
//!
//! Config: `fields` (comma-separated names, required), `mask` (default `***`),
//! `keep_last` (characters to leave visible at the end, default 0).
//!
//! The record is scanned once, not parsed into a tree: everything but the masked
//! values is copied through byte for byte, so key order, number formatting and
//! spacing stay as they were.

use jiter::{Jiter, JiterResult, JsonError, JsonErrorType, Peek};
use weir_plugin::{Config, Output, Record, Transform};

pub struct Redact {
    fields: Vec<String>,
    mask: String,
    keep_last: usize,
    /// The mask as a JSON string: what every masked value becomes without `keep_last`.
    replacement: String,
    /// Reused from record to record.
    cuts: Vec<Cut>,
}

/// Nesting deeper than this is refused rather than risking the plugin's stack.
const MAX_DEPTH: usize = 128;

/// A value to replace: its byte range in the record and the JSON text that replaces
/// it (`None`: the plain mask).
struct Cut {
    start: usize,
    end: usize,
    text: Option<String>,
}

impl Redact {
    /// The whole transform on raw bytes: the redacted record, or `None` if no field
    /// matched (the record goes on unchanged).
    pub fn apply(&mut self, value: &[u8]) -> Result<Option<Vec<u8>>, String> {
        let mut cuts = std::mem::take(&mut self.cuts);
        cuts.clear();
        let result = self
            .scan(value, &mut cuts)
            .map(|()| self.splice(value, &cuts));
        self.cuts = cuts;
        result
    }

    /// Checks that `value` is one JSON document and notes each value to mask.
    fn scan(&self, value: &[u8], cuts: &mut Vec<Cut>) -> Result<(), String> {
        let mut j = Jiter::new(value);
        j.peek()
            .and_then(|peek| self.walk(&mut j, peek, 0, cuts))
            .and_then(|()| j.finish())
            .map_err(|e| format!("value is not valid JSON: {}", e.description(&j)))
    }

    /// The record with its cuts replaced, or `None` if there are none.
    fn splice(&self, value: &[u8], cuts: &[Cut]) -> Option<Vec<u8>> {
        if cuts.is_empty() {
            return None;
        }
        let mut out = Vec::with_capacity(value.len() + 16 * cuts.len());
        let mut at = 0;
        for cut in cuts {
            out.extend_from_slice(&value[at..cut.start]);
            let text = cut.text.as_deref().unwrap_or(&self.replacement);
            out.extend_from_slice(text.as_bytes());
            at = cut.end;
        }
        out.extend_from_slice(&value[at..]);
        Some(out)
    }

    /// Scans the value that `peek` starts, noting each field to mask.
    fn walk(
        &self,
        j: &mut Jiter,
        peek: Peek,
        depth: usize,
        cuts: &mut Vec<Cut>,
    ) -> JiterResult<()> {
        if depth > MAX_DEPTH && matches!(peek, Peek::Object | Peek::Array) {
            return Err(JsonError {
                error_type: JsonErrorType::RecursionLimitExceeded,
                index: j.current_index(),
            }
            .into());
        }
        match peek {
            Peek::Object => {
                let mut hit = j.known_object()?.map(|k| self.is_field(k));
                while let Some(is_field) = hit {
                    let peek = j.peek()?;
                    if is_field && peek != Peek::Null {
                        let start = j.current_index();
                        let text = self.masked(j, peek, start)?;
                        cuts.push(Cut {
                            start,
                            end: j.current_index(),
                            text,
                        });
                    } else {
                        self.walk(j, peek, depth + 1, cuts)?;
                    }
                    hit = j.next_key()?.map(|k| self.is_field(k));
                }
            }
            Peek::Array => {
                let mut next = j.known_array()?;
                while let Some(peek) = next {
                    self.walk(j, peek, depth + 1, cuts)?;
                    next = j.array_step()?;
                }
            }
            other => j.known_skip(other)?,
        }
        Ok(())
    }

    fn is_field(&self, key: &str) -> bool {
        self.fields.iter().any(|f| f == key)
    }

    /// Consumes the value at `start` and returns its masked form as a JSON string
    /// (`None`: the plain mask): with `keep_last`, the mask and the last characters
    /// of the text (of a string's content, or of another value's JSON).
    fn masked(&self, j: &mut Jiter, peek: Peek, start: usize) -> JiterResult<Option<String>> {
        if self.keep_last == 0 {
            j.known_skip(peek)?;
            return Ok(None);
        }
        let text = if peek == Peek::String {
            j.known_str()?.to_owned()
        } else {
            j.known_skip(peek)?;
            String::from_utf8_lossy(j.slice_to_current(start)).into_owned()
        };
        let skip = text.chars().count().saturating_sub(self.keep_last);
        let tail: String = text.chars().skip(skip).collect();
        Ok(Some(json_string(&format!("{}{tail}", self.mask))))
    }
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

impl Transform for Redact {
    fn init(config: &Config) -> Result<Self, String> {
        config.only(&["fields", "mask", "keep_last"])?;
        let fields: Vec<String> = config
            .list("fields")
            .into_iter()
            .map(String::from)
            .collect();
        if fields.is_empty() {
            return Err("`fields` must name at least one field to redact".into());
        }
        let keep_last = match config.get("keep_last") {
            Some(n) => n
                .parse()
                .map_err(|_| format!("`keep_last` must be a number, got `{n}`"))?,
            None => 0,
        };
        let mask = config.get("mask").unwrap_or("***").to_string();
        Ok(Self {
            fields,
            replacement: json_string(&mask),
            mask,
            keep_last,
            cuts: Vec::new(),
        })
    }

    fn process(&mut self, record: &Record<'_>) -> Result<Output, String> {
        Ok(match self.apply(record.value())? {
            Some(v) => Output::value(v),
            None => Output::keep(),
        })
    }
}

weir_plugin::export!(Redact);
