//! The CSV encoding of the bundle (`--format csv`): one RFC 4180 file per section (comma,
//! double quotes doubled, CRLF, UTF-8, a header row of the column names), and reading such a
//! file back into the JSON rows `restore` loads.
//!
//! The conventions, also written into the manifest (`encoding`) for readers without
//! orgexport:
//! - NULL is an unquoted empty field; an empty string is `""` (PostgreSQL's own `COPY … CSV`
//!   convention; DuckDB's `allow_quoted_nulls = false`).
//! - json/jsonb values are their JSON text. Other values are what `to_json` gives, strings
//!   without their JSON quotes: timestamps ISO 8601 with offset, bytea `\x` hex, numerics
//!   exact; arrays and composites as JSON text.
//! - Formula injection: a text/varchar/char/name value starting with `=`, `+`, `-`, `@`, tab,
//!   CR or `'` gets a `'` in front — spreadsheets show the value as text, without the `'`;
//!   reading strips one leading `'` from such a column's values, so the round trip is exact.
//!
//! The cells' values come from the renderer (`render.rs`); the tar around the files is
//! `bundle.rs`'s.

use std::io::BufRead;

use serde_json::Value;
use serde_json::value::RawValue;

use crate::scope::columns::ValueKind;

/// How a column's values are written in CSV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellKind {
    /// text, varchar, char, name: written as is, formula-guarded.
    Text,
    /// json, jsonb: their JSON text.
    Json,
    /// Everything else: `to_json`'s string without quotes, or its JSON text.
    Other,
}

impl CellKind {
    /// On writing: from the column's value kind.
    pub fn of_kind(kind: ValueKind) -> CellKind {
        match kind {
            ValueKind::Text => CellKind::Text,
            ValueKind::Json | ValueKind::Jsonb => CellKind::Json,
            _ => CellKind::Other,
        }
    }

    /// On reading: from the manifest's type name (`format_type`), as [`CellKind::of_kind`]
    /// decides for the same columns.
    pub fn of_type_name(name: &str) -> CellKind {
        match name {
            "json" | "jsonb" => CellKind::Json,
            "text" | "name" | "bpchar" | "character" | "character varying" => CellKind::Text,
            _ if (name.starts_with("character(") || name.starts_with("character varying("))
                && name.ends_with(')') =>
            {
                CellKind::Text
            }
            _ => CellKind::Other,
        }
    }
}

/// The manifest's description of the conventions.
pub fn encoding() -> Value {
    serde_json::json!({
        "files": "one RFC 4180 CSV file per section: comma-separated, double quotes (doubled inside), CRLF line ends, UTF-8 without BOM, a header row of the column names",
        "null": "an unquoted empty field is NULL; an empty string is written as \"\"",
        "formula_guard": "text, varchar, char and name values starting with = + - @ tab, CR or ' are written with a ' in front; strip one leading ' from such a column's values to get the value",
        "values": "json and jsonb values, arrays and composites as JSON text; other values as PostgreSQL's to_json renders them, strings without quotes: timestamps ISO 8601 with offset, bytea as \\x hex, numerics exact",
    })
}

/// Characters a spreadsheet reads as the start of a formula (and `'`, so that the guard can
/// be undone).
fn needs_guard(text: &[u8]) -> bool {
    matches!(
        text.first(),
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r' | b'\'')
    )
}

/// Whether `text` must be quoted: it holds a comma, quote or line break, or is empty (an
/// unquoted empty field is NULL).
fn needs_quotes(text: &[u8]) -> bool {
    text.is_empty()
        || text
            .iter()
            .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
}

/// Appends `text` as one field, quoted when it must be; with `guard`, formula-guarded.
pub fn write_field(text: &[u8], guard: bool, out: &mut Vec<u8>) {
    let quote = needs_quotes(text);
    out.extend_from_slice(&field_open(quote, guard && needs_guard(text)));
    if quote {
        write_quoted(text, out);
        out.push(b'"');
    } else {
        out.extend_from_slice(text);
    }
}

fn field_open(quote: bool, guard: bool) -> Vec<u8> {
    let mut open = Vec::with_capacity(2);
    if quote {
        open.push(b'"');
    }
    if guard {
        open.push(b'\'');
    }
    open
}

/// Appends a piece of a quoted field, its quotes doubled.
pub fn write_quoted(text: &[u8], out: &mut Vec<u8>) {
    for &b in text {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
}

/// How the body of a large value is written, slice by slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    Raw,
    Quoted,
    /// bytea: lowercase hex after `\x`.
    Hex,
}

/// What opens a large field, its body and how that is written, and what closes the field.
pub type LargeField<'a> = (Vec<u8>, &'a [u8], Body, &'static [u8]);

/// A value over the large-value size, written slice by slice so that it is never held
/// twice. `None` for the kinds that are small whatever their value (rendered whole).
pub fn large_field(kind: ValueKind, value: &[u8]) -> Option<LargeField<'_>> {
    let body = match kind {
        ValueKind::Bytea => return Some((b"\\x".to_vec(), value, Body::Hex, b"")),
        ValueKind::Text | ValueKind::Json => value,
        ValueKind::Jsonb => value.strip_prefix(&[1])?,
        _ => return None,
    };
    let guard = kind == ValueKind::Text && needs_guard(body);
    Some(if needs_quotes(body) {
        (field_open(true, guard), body, Body::Quoted, b"\"")
    } else {
        (field_open(false, guard), body, Body::Raw, b"")
    })
}

/// Appends a value rendered as JSON text (`to_json`'s) as one field of `kind`.
pub fn write_json_value(kind: CellKind, json: &[u8], out: &mut Vec<u8>) -> anyhow::Result<()> {
    if kind == CellKind::Json || !json.starts_with(b"\"") {
        write_field(json, false, out);
        return Ok(());
    }
    let inner = &json[1..json.len().saturating_sub(1).max(1)];
    if !inner.contains(&b'\\') {
        write_field(inner, kind == CellKind::Text, out);
        return Ok(());
    }
    let text: String = serde_json::from_slice(json)?;
    write_field(text.as_bytes(), kind == CellKind::Text, out);
    Ok(())
}

/// One CSV record: its fields' bytes, end offsets and whether each was quoted.
#[derive(Default)]
pub struct Record {
    bytes: Vec<u8>,
    fields: Vec<(usize, bool)>,
}

impl Record {
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Field `i`: its text and whether it was quoted.
    pub fn field(&self, i: usize) -> (&[u8], bool) {
        let start = if i == 0 { 0 } else { self.fields[i - 1].0 };
        let (end, quoted) = self.fields[i];
        (&self.bytes[start..end], quoted)
    }
}

#[derive(Clone, Copy, PartialEq)]
enum State {
    Start,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// Reads the next record into `record`; `false` at the end of the input. The csv crate does
/// not say whether a field was quoted, which tells NULL from an empty string here.
pub fn read_record(input: &mut dyn BufRead, record: &mut Record) -> Result<bool, ReadError> {
    record.bytes.clear();
    record.fields.clear();
    let mut state = State::Start;
    let mut quoted = false;
    let mut any = false;
    loop {
        let buf = input.fill_buf().map_err(ReadError::Io)?;
        if buf.is_empty() {
            return match state {
                _ if !any => Ok(false),
                State::Quoted => Err(ReadError::Csv("a quoted field is not closed".into())),
                _ => {
                    record.fields.push((record.bytes.len(), quoted));
                    Ok(true)
                }
            };
        }
        any = true;
        let mut used = 0;
        let mut done = false;
        for &b in buf {
            used += 1;
            match (state, b) {
                (State::Quoted, b'"') => state = State::QuoteInQuoted,
                (State::Quoted, _) => record.bytes.push(b),
                (State::QuoteInQuoted, b'"') => {
                    record.bytes.push(b'"');
                    state = State::Quoted;
                }
                (State::Start, b'"') => {
                    state = State::Quoted;
                    quoted = true;
                }
                (_, b',') => {
                    record.fields.push((record.bytes.len(), quoted));
                    (state, quoted) = (State::Start, false);
                }
                (_, b'\r') => {}
                (_, b'\n') => {
                    record.fields.push((record.bytes.len(), quoted));
                    done = true;
                    break;
                }
                (State::QuoteInQuoted, _) | (State::Unquoted, b'"') => {
                    return Err(ReadError::Csv("a stray double quote in a field".into()));
                }
                (_, _) => {
                    record.bytes.push(b);
                    state = State::Unquoted;
                }
            }
        }
        input.consume(used);
        if done {
            return Ok(true);
        }
    }
}

/// Why a CSV file could not be read.
pub enum ReadError {
    Io(std::io::Error),
    Csv(String),
}

/// A section's columns as a CSV file's records become JSON rows: `"name":` and how each
/// column's fields are read.
pub struct RowBuilder {
    columns: Vec<(String, CellKind)>,
}

impl RowBuilder {
    /// `columns`: (name, manifest type name).
    pub fn new(columns: &[(String, String)]) -> RowBuilder {
        let columns = columns
            .iter()
            .enumerate()
            .map(|(i, (name, type_name))| {
                let mut key = if i == 0 { "{" } else { "," }.to_string();
                key.push_str(&Value::from(name.as_str()).to_string());
                key.push(':');
                (key, CellKind::of_type_name(type_name))
            })
            .collect();
        RowBuilder { columns }
    }

    /// Whether `record` (the header row) names the columns, in order.
    pub fn is_header(&self, record: &Record, names: &[(String, String)]) -> bool {
        record.len() == names.len()
            && names
                .iter()
                .enumerate()
                .all(|(i, (name, _))| record.field(i).0 == name.as_bytes())
    }

    /// The JSON row of `record`, into `out` (cleared).
    pub fn json(&self, record: &Record, out: &mut String) -> Result<(), String> {
        out.clear();
        if record.len() != self.columns.len() {
            return Err(format!(
                "has {} fields, the header {}",
                record.len(),
                self.columns.len()
            ));
        }
        for (i, (key, kind)) in self.columns.iter().enumerate() {
            out.push_str(key);
            let (bytes, quoted) = record.field(i);
            let text = std::str::from_utf8(bytes).map_err(|_| "is not UTF-8".to_string())?;
            match kind {
                _ if text.is_empty() && !quoted => out.push_str("null"),
                CellKind::Json => {
                    let raw: &RawValue = serde_json::from_str(text)
                        .map_err(|e| format!("holds invalid JSON in a json column: {e}"))?;
                    out.push_str(raw.get());
                }
                CellKind::Text => {
                    let text = text.strip_prefix('\'').unwrap_or(text);
                    push_string(text, out);
                }
                CellKind::Other => {
                    let structured = (text.starts_with('[') || text.starts_with('{'))
                        && serde_json::from_str::<&RawValue>(text).is_ok();
                    if structured {
                        out.push_str(text);
                    } else {
                        push_string(text, out);
                    }
                }
            }
        }
        out.push('}');
        Ok(())
    }
}

fn push_string(text: &str, out: &mut String) {
    // Serializing a str into a String cannot fail.
    out.push_str(&Value::from(text).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Vec<Vec<(String, bool)>> {
        let mut input = text.as_bytes();
        let mut record = Record::default();
        let mut out = Vec::new();
        while read_record(&mut input, &mut record).ok().unwrap() {
            out.push(
                (0..record.len())
                    .map(|i| {
                        let (b, q) = record.field(i);
                        (String::from_utf8(b.to_vec()).unwrap(), q)
                    })
                    .collect(),
            );
        }
        out
    }

    #[test]
    fn fields_round_trip_with_quotes_line_breaks_and_empties() {
        let values: [&[u8]; 6] = [b"plain", b"a,b", b"say \"hi\"\r\nbye", b"", b"=1+1", b"'x"];
        let mut line = Vec::new();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                line.push(b',');
            }
            write_field(v, true, &mut line);
        }
        line.extend_from_slice(b",\r\n");
        let text = String::from_utf8(line).unwrap();
        assert_eq!(
            text,
            "plain,\"a,b\",\"say \"\"hi\"\"\r\nbye\",\"\",'=1+1,''x,\r\n"
        );
        let got = records(&text);
        let fields: Vec<(&str, bool)> = got[0].iter().map(|(s, q)| (s.as_str(), *q)).collect();
        assert_eq!(
            fields,
            [
                ("plain", false),
                ("a,b", true),
                ("say \"hi\"\r\nbye", true),
                ("", true),
                ("'=1+1", false),
                ("''x", false),
                ("", false)
            ]
        );
    }

    #[test]
    fn records_become_the_json_rows_the_document_holds() {
        let columns: Vec<(String, String)> = [
            ("t", "text"),
            ("j", "jsonb"),
            ("a", "integer[]"),
            ("n", "numeric"),
            ("r", "numrange"),
            ("e", "character varying(5)"),
        ]
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
        let builder = RowBuilder::new(&columns);
        let text = "'-5,\"\"\"s\"\"\",\"[1,2]\",1.50,\"[1,3)\",\"\"\r\n,,,,,\r\n";
        let mut input = text.as_bytes();
        let mut record = Record::default();
        let mut json = String::new();
        assert!(read_record(&mut input, &mut record).ok().unwrap());
        builder.json(&record, &mut json).unwrap();
        assert_eq!(
            json,
            r#"{"t":"-5","j":"s","a":[1,2],"n":"1.50","r":"[1,3)","e":""}"#
        );
        assert!(read_record(&mut input, &mut record).ok().unwrap());
        builder.json(&record, &mut json).unwrap();
        assert_eq!(
            json,
            r#"{"t":null,"j":null,"a":null,"n":null,"r":null,"e":null}"#
        );
    }

    #[test]
    fn json_values_become_fields() {
        let cell = |kind, json: &str| {
            let mut out = Vec::new();
            write_json_value(kind, json.as_bytes(), &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            cell(CellKind::Other, "\"2024-01-02T03:04:05+00:00\""),
            "2024-01-02T03:04:05+00:00"
        );
        assert_eq!(cell(CellKind::Other, "\"\\\\xdead\""), "\\xdead");
        assert_eq!(cell(CellKind::Other, "[1,2]"), "\"[1,2]\"");
        assert_eq!(cell(CellKind::Json, "\"s\""), "\"\"\"s\"\"\"");
        assert_eq!(cell(CellKind::Text, "\"-x\\n\""), "\"'-x\n\"");
        assert_eq!(cell(CellKind::Other, "\"-infinity\""), "-infinity");
        assert_eq!(cell(CellKind::Other, "\"\""), "\"\"");
    }
}
