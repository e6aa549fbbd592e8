//! Reading a bundle's Parquet file (`--format parquet`) back into the JSON rows `verify`,
//! `restore`, `cat` and `diff` consume — the same JSON text, value for value, as the
//! `orgexport/1` document holds (`to_json`'s renderings, floats as PostgreSQL prints them).
//!
//! A Parquet file is read from its footer, so the tar entry is first copied aside — in
//! memory when small, else into a sealed spool file (`encryption::spool`: ciphertext on disk
//! under a key held in memory only, as for the export's own spool) — and its size and
//! SHA-256 are checked against the manifest before a byte of it is parsed. Rows are then read
//! a page at a time. Not here: the tar (`bundle.rs`), the writing (`parquet.rs`).

use std::io::{BufReader, Read};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use parquet::file::reader::{ChunkReader, FileReader, Length};
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::record::Field;
use parquet::record::reader::RowIter;
use serde_json::Value;
use serde_json::value::RawValue;

use super::csv::CellKind;
use super::parquet::{DATE_INFINITY, TIMESTAMP_INFINITY};
use crate::encryption::spool::SealedFile;
use crate::export::reading::{ArchiveSink, Budget, Tap, read_failure};
use crate::export::render::{escape_json, render_value};
use crate::scope::columns::ValueKind;

/// Files up to this size are read in memory; larger ones from a sealed spool file.
const IN_MEMORY: u64 = 8 << 20;
const COPY_CHUNK: usize = 256 << 10;
const EPOCH_DAYS: i32 = 10_957;
const EPOCH_MICROS: i64 = EPOCH_DAYS as i64 * 86_400_000_000;

/// Reads one section's file (`entry`, `bytes` long as the manifest says): checks it against
/// the manifest's `file` with `check`, then hands its rows to `sink`; how many.
pub fn read(
    entry: &mut dyn Read,
    section: &Value,
    check: &dyn Fn(u64, &str) -> Result<(), String>,
    sink: &mut dyn ArchiveSink,
    budget: &Budget,
) -> Result<u64, String> {
    let mut tap = Tap::new(entry);
    let declared = section["file"]["bytes"].as_u64().unwrap_or(0);
    let mut chunk = vec![0u8; COPY_CHUNK];
    let mut next = |tap: &mut Tap<&mut dyn Read>| {
        // Copying one file is many items for the size bound: the bound is for values.
        budget.next_item();
        tap.read(&mut chunk)
            .map(|n| chunk[..n].to_vec())
            .map_err(|e| read_failure(&e, budget))
    };
    let columns = manifest_columns(section);
    if declared <= IN_MEMORY {
        let mut data = Vec::with_capacity(declared as usize);
        loop {
            let piece = next(&mut tap)?;
            if piece.is_empty() {
                break;
            }
            data.extend_from_slice(&piece);
        }
        let (bytes, sha) = tap.finish();
        check(bytes, &sha)?;
        return rows(Bytes::from(data), section, &columns, sink, budget);
    }
    let file = tempfile::tempfile()
        .and_then(SealedFile::new)
        .map_err(|e| format!("spooling a Parquet file to read it (set TMPDIR): {e}"))?;
    let mut sealed = Sealed {
        file: Arc::new(Mutex::new(file)),
        len: 0,
    };
    loop {
        let piece = next(&mut tap)?;
        if piece.is_empty() {
            break;
        }
        sealed.len += piece.len() as u64;
        sealed
            .lock()
            .write_all_blocking(&piece)
            .map_err(|e| format!("spooling a Parquet file to read it (set TMPDIR): {e}"))?;
    }
    let (bytes, sha) = tap.finish();
    check(bytes, &sha)?;
    rows(sealed, section, &columns, sink, budget)
}

/// The manifest's columns: `"name":` as the JSON row spells it, and how a string is read.
fn manifest_columns(section: &Value) -> Vec<(String, Vec<u8>, Strings)> {
    section["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            let mut key = if i == 0 { b"{".to_vec() } else { b",".to_vec() };
            escape_json(name.as_bytes(), &mut key);
            key.push(b':');
            (
                name,
                key,
                Strings::of(c["type"].as_str().unwrap_or_default()),
            )
        })
        .collect()
}

/// What a column's STRING, binary and timestamp values are (from the manifest's type name,
/// as `parquet::Leaf::of` decided from the column's type when writing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strings {
    Text,
    Numeric,
    /// `to_json`'s text.
    Json,
    Uuid,
    Bytea,
    Timestamp,
    Timestamptz,
}

impl Strings {
    fn of(type_name: &str) -> Strings {
        let array = type_name.ends_with("[]");
        let base = type_name.trim_end_matches("[]");
        match base {
            // A string in an array column is `to_json`'s text (lists are read as lists,
            // their text elements as text).
            _ if array => Strings::Json,
            _ if CellKind::of_type_name(base) == CellKind::Text => Strings::Text,
            "uuid" => Strings::Uuid,
            "bytea" => Strings::Bytea,
            _ if base == "numeric" || base.starts_with("numeric(") => Strings::Numeric,
            _ if base.starts_with("timestamp") && base.ends_with("with time zone") => {
                Strings::Timestamptz
            }
            _ if base.starts_with("timestamp") && base.ends_with("without time zone") => {
                Strings::Timestamp
            }
            _ => Strings::Json,
        }
    }
}

/// Reads the rows of a checked file.
fn rows<R: ChunkReader + 'static>(
    reader: R,
    section: &Value,
    columns: &[(String, Vec<u8>, Strings)],
    sink: &mut dyn ArchiveSink,
    budget: &Budget,
) -> Result<u64, String> {
    let name = section["name"].as_str().unwrap_or_default();
    let invalid = |e: parquet::errors::ParquetError| {
        format!("the Parquet file of section {name} is not readable: {e}")
    };
    let file = SerializedFileReader::new(reader).map_err(invalid)?;
    let schema = file.metadata().file_metadata().schema_descr().root_schema();
    let names: Vec<&str> = schema.get_fields().iter().map(|f| f.name()).collect();
    let expected: Vec<&str> = columns.iter().map(|(n, _, _)| n.as_str()).collect();
    if names != expected {
        return Err(format!(
            "the Parquet file of section {name} has the columns {names:?}, the manifest {expected:?}"
        ));
    }
    let mut count = 0;
    let mut json = Vec::new();
    budget.next_row(count);
    for row in RowIter::from_file_into(Box::new(file)) {
        let row = row.map_err(invalid)?;
        json.clear();
        for ((_, field), (column, key, strings)) in row.get_column_iter().zip(columns) {
            json.extend_from_slice(key);
            value(field, *strings, &mut json).map_err(|e| {
                format!("row {} of section {name}, column {column}: {e}", count + 1)
            })?;
        }
        if columns.is_empty() {
            json.push(b'{');
        }
        json.push(b'}');
        let text = std::str::from_utf8(&json).map_err(|e| e.to_string())?;
        sink.row(name, text)?;
        count += 1;
        budget.next_row(count);
    }
    Ok(count)
}

/// One value as the JSON document holds it.
fn value(field: &Field, strings: Strings, out: &mut Vec<u8>) -> anyhow::Result<()> {
    match field {
        Field::Null => out.extend_from_slice(b"null"),
        Field::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Field::Short(v) => out.extend_from_slice(v.to_string().as_bytes()),
        Field::Int(v) => out.extend_from_slice(v.to_string().as_bytes()),
        Field::Long(v) if matches!(strings, Strings::Timestamp | Strings::Timestamptz) => {
            timestamp(*v, strings, out)?
        }
        Field::Long(v) => out.extend_from_slice(v.to_string().as_bytes()),
        Field::Float(v) => pg_float(&format!("{v:e}"), v.is_finite(), v.is_nan(), 6, out),
        Field::Double(v) => pg_float(&format!("{v:e}"), v.is_finite(), v.is_nan(), 15, out),
        Field::Decimal(d) => decimal(d.data(), d.scale(), out)?,
        Field::Str(s) => string(s, strings, out)?,
        Field::Bytes(b) if strings == Strings::Uuid => {
            render_value(ValueKind::Uuid, b.data(), out)?
        }
        Field::Bytes(b) => render_value(ValueKind::Bytea, b.data(), out)?,
        Field::Date(days) => {
            let days = match *days {
                DATE_INFINITY => i32::MAX,
                d if d == -DATE_INFINITY => i32::MIN,
                d => d - EPOCH_DAYS,
            };
            render_value(ValueKind::Date, &days.to_be_bytes(), out)?
        }
        Field::TimestampMicros(v) => timestamp(*v, strings, out)?,
        Field::ListInternal(list) => {
            out.push(b'[');
            for (i, element) in list.elements().iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(element, Strings::Text, out)?;
            }
            out.push(b']');
        }
        other => anyhow::bail!("a Parquet value orgexport does not write: {other}"),
    }
    Ok(())
}

fn timestamp(micros: i64, strings: Strings, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let micros = match micros {
        TIMESTAMP_INFINITY => i64::MAX,
        m if m == -TIMESTAMP_INFINITY => i64::MIN,
        m => m - EPOCH_MICROS,
    };
    let kind = if strings == Strings::Timestamp {
        ValueKind::Timestamp
    } else {
        ValueKind::Timestamptz
    };
    render_value(kind, &micros.to_be_bytes(), out)
}

fn string(text: &str, strings: Strings, out: &mut Vec<u8>) -> anyhow::Result<()> {
    match strings {
        Strings::Numeric if text.parse::<f64>().is_ok_and(f64::is_finite) => {
            out.extend_from_slice(text.as_bytes())
        }
        // NaN, Infinity: `to_json` quotes them.
        Strings::Numeric | Strings::Text | Strings::Uuid | Strings::Bytea => {
            escape_json(text.as_bytes(), out)
        }
        Strings::Json | Strings::Timestamp | Strings::Timestamptz => {
            let raw: &RawValue = serde_json::from_str(text)
                .map_err(|e| anyhow::anyhow!("invalid JSON in a JSON text column: {e}"))?;
            out.extend_from_slice(raw.get().as_bytes());
        }
    }
    Ok(())
}

/// A DECIMAL's big-endian two's-complement bytes as the numeric's text with `scale` decimals.
fn decimal(bytes: &[u8], scale: i32, out: &mut Vec<u8>) -> anyhow::Result<()> {
    if bytes.is_empty() || bytes.len() > 16 {
        anyhow::bail!("a DECIMAL of {} bytes", bytes.len());
    }
    let fill = if bytes[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut wide = [fill; 16];
    wide[16 - bytes.len()..].copy_from_slice(bytes);
    let unscaled = i128::from_be_bytes(wide);
    let digits = unscaled.unsigned_abs().to_string();
    let scale = scale.max(0) as usize;
    let digits = format!("{digits:0>width$}", width = scale + 1);
    if unscaled < 0 {
        out.push(b'-');
    }
    let (whole, fraction) = digits.split_at(digits.len() - scale);
    out.extend_from_slice(whole.as_bytes());
    if scale > 0 {
        out.push(b'.');
        out.extend_from_slice(fraction.as_bytes());
    }
    Ok(())
}

/// A float as `float4out`/`float8out` print it (shortest exact digits; exponent form below
/// 1e-4 and from 10^`fixed_below`), NaN and the infinities as `to_json`'s strings.
/// `scientific`: Rust's shortest `{:e}` form of the value (`-1.5e300`, `1e-5`, `-0e0`).
fn pg_float(scientific: &str, finite: bool, nan: bool, fixed_below: i32, out: &mut Vec<u8>) {
    if !finite {
        let word: &[u8] = match (nan, scientific.starts_with('-')) {
            (true, _) => b"\"NaN\"",
            (false, true) => b"\"-Infinity\"",
            (false, false) => b"\"Infinity\"",
        };
        out.extend_from_slice(word);
        return;
    }
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mantissa = match mantissa.strip_prefix('-') {
        Some(rest) => {
            out.push(b'-');
            rest
        }
        None => mantissa,
    };
    let digits = mantissa.replace('.', "");
    let text = if !(-4..fixed_below).contains(&exponent) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{first}{dot}{rest}e{sign}{:02}", exponent.abs())
    } else if exponent < 0 {
        format!("0.{}{digits}", "0".repeat((-exponent - 1) as usize))
    } else {
        let whole = exponent as usize + 1;
        if digits.len() <= whole {
            format!("{digits:0<whole$}")
        } else {
            format!("{}.{}", &digits[..whole], &digits[whole..])
        }
    };
    out.extend_from_slice(text.as_bytes());
}

/// A spooled file, read at the offsets the Parquet reader asks for.
struct Sealed {
    file: Arc<Mutex<SealedFile>>,
    len: u64,
}

impl Sealed {
    fn lock(&self) -> std::sync::MutexGuard<'_, SealedFile> {
        // A panic while holding it ends the read anyway.
        self.file.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A reader of the spooled file from one offset on.
struct SealedAt {
    file: Arc<Mutex<SealedFile>>,
    at: u64,
}

impl Read for SealedAt {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let n = file.read_at_blocking(self.at, buf)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl Length for Sealed {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for Sealed {
    type T = BufReader<SealedAt>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        Ok(BufReader::new(SealedAt {
            file: self.file.clone(),
            at: start,
        }))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        // A damaged footer or page header must not make us allocate what the file lacks.
        if start.saturating_add(length as u64) > self.len {
            return Err(parquet::errors::ParquetError::EOF(format!(
                "{length} bytes at {start} of a file of {}",
                self.len
            )));
        }
        let mut data = vec![0u8; length];
        let mut reader = SealedAt {
            file: self.file.clone(),
            at: start,
        };
        reader.read_exact(&mut data)?;
        Ok(data.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(v: f64, fixed_below: i32) -> String {
        let mut out = Vec::new();
        pg_float(
            &format!("{v:e}"),
            v.is_finite(),
            v.is_nan(),
            fixed_below,
            &mut out,
        );
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_print_as_float8out_does() {
        assert_eq!(float(1.5e300, 15), "1.5e+300");
        assert_eq!(float(0.0, 15), "0");
        assert_eq!(float(-0.0, 15), "-0");
        assert_eq!(float(2.5, 15), "2.5");
        assert_eq!(float(1e15, 15), "1e+15");
        assert_eq!(float(123456789012345.0, 15), "123456789012345");
        assert_eq!(float(0.0001, 15), "0.0001");
        assert_eq!(float(0.00001, 15), "1e-05");
        assert_eq!(float(-1234.5678, 15), "-1234.5678");
        assert_eq!(float(100.0, 15), "100");
        assert_eq!(float(f64::NAN, 15), "\"NaN\"");
        assert_eq!(float(f64::NEG_INFINITY, 15), "\"-Infinity\"");
        assert_eq!(float(1e6, 6), "1e+06");
    }

    #[test]
    fn decimals_print_with_their_scale() {
        let text = |bytes: &[u8], scale| {
            let mut out = Vec::new();
            decimal(bytes, scale, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(text(&(-1250i32).to_be_bytes(), 2), "-12.50");
        assert_eq!(text(&[0], 2), "0.00");
        assert_eq!(text(&[0xff], 10), "-0.0000000001");
        assert_eq!(text(&7i64.to_be_bytes(), 0), "7");
    }

    #[test]
    fn strings_are_read_by_the_manifest_type() {
        assert_eq!(Strings::of("character varying(20)"), Strings::Text);
        assert_eq!(Strings::of("text[]"), Strings::Json);
        assert_eq!(Strings::of("numeric(40,2)"), Strings::Numeric);
        assert_eq!(Strings::of("numeric[]"), Strings::Json);
        assert_eq!(
            Strings::of("timestamp(3) with time zone"),
            Strings::Timestamptz
        );
        assert_eq!(
            Strings::of("timestamp without time zone"),
            Strings::Timestamp
        );
        assert_eq!(Strings::of("mood"), Strings::Json);
    }
}
