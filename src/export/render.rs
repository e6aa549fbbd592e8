//! Rows to JSON, with PostgreSQL's own semantics (what `to_json` gives) for every type.
//!
//! Two paths. **Server**: the COPY selects `row_to_json(r)::text` and each row arrives ready
//! — simple and always right, but the backend spends ~2.5× the CPU of a binary COPY. **Client**
//! (the default): the COPY selects the columns themselves in binary, and the common types are
//! rendered here from their binary form; any other type is selected as
//! `to_json(t.col)::text`, so the server still renders exactly those values. Both paths give
//! equal JSON for every type (tested). The session runs with `TimeZone = UTC`, so
//! `timestamptz` values render with `+00:00` on both paths.

use anyhow::{Context, bail};

use crate::export::archive::ArchiveWriter;
use crate::export::copy::fields;
use crate::export::formats::csv::{self, CellKind};
use crate::scope::columns::{RenderMode, ValueKind};
use crate::scope::secrets::{may_need_redaction, redact_json, redact_json_members};
use crate::store::ChunkSink;

/// Renders the rows of one section.
#[derive(Debug, Clone)]
pub struct RowRenderer {
    mode: RenderMode,
    /// `"name":` (JSON-escaped as PostgreSQL escapes keys), how the value renders, and
    /// whether secret keys inside it are cut out (json/jsonb, DESIGN §3).
    columns: Vec<(Vec<u8>, ValueKind, bool)>,
    /// Server rendering: the columns whose values are redacted inside the row object.
    redacted_columns: Vec<String>,
    /// The columns' names, for the CSV header and for finding values in a server-rendered row.
    names: Vec<String>,
    /// `--format csv`: rows are CSV records (`formats/csv.rs`), not JSON objects.
    csv: bool,
}

impl RowRenderer {
    /// `columns`: (name, type OID, redact json keys) of the exported columns, in order.
    pub fn new(mode: RenderMode, columns: &[(&str, u32, bool)]) -> RowRenderer {
        let redacted_columns = columns
            .iter()
            .filter(|(_, _, redact)| *redact)
            .map(|(name, _, _)| name.to_string())
            .collect();
        let names = columns
            .iter()
            .map(|(name, _, _)| name.to_string())
            .collect();
        let columns = columns
            .iter()
            .enumerate()
            .map(|(i, (name, oid, redact))| {
                let mut key = Vec::with_capacity(name.len() + 4);
                if i > 0 {
                    key.push(b',');
                }
                escape_json(name.as_bytes(), &mut key);
                key.push(b':');
                (key, ValueKind::of(*oid), *redact)
            })
            .collect();
        RowRenderer {
            mode,
            columns,
            redacted_columns,
            names,
            csv: false,
        }
    }

    /// With `csv`, renders rows as CSV records (the CSV bundle), else as JSON objects.
    pub fn as_csv(mut self, csv: bool) -> RowRenderer {
        self.csv = csv;
        self
    }

    /// The CSV header row (with its line end), for the CSV bundle.
    pub fn csv_header(&self) -> Option<Vec<u8>> {
        if !self.csv {
            return None;
        }
        let mut out = Vec::new();
        for (i, name) in self.names.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            csv::write_field(name.as_bytes(), false, &mut out);
        }
        out.extend_from_slice(b"\r\n");
        Some(out)
    }

    /// Appends one row (as [`crate::export::copy::BinaryRows`] yields it) as a JSON object;
    /// json keys cut out as secrets are added to `redacted`.
    pub fn render(
        &self,
        row: &[u8],
        out: &mut Vec<u8>,
        redacted: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        if self.csv {
            return self.render_csv(row, out, redacted);
        }
        if self.mode == RenderMode::Server {
            let value = server_rendered(row)?;
            if self.redacted_columns.is_empty() {
                out.extend_from_slice(value);
            } else {
                redact_json_members(value, &self.redacted_columns, out, redacted);
            }
            return Ok(());
        }
        out.push(b'{');
        let mut values = fields(row);
        for (key, kind, redact) in &self.columns {
            out.extend_from_slice(key);
            match values.next().context("COPY row has too few fields")?? {
                None => out.extend_from_slice(b"null"),
                Some(value) if *redact => {
                    // Rendered in place; only a value that may hold a secret key is rewritten.
                    let start = out.len();
                    render_value(*kind, value, out)?;
                    if may_need_redaction(&out[start..]) {
                        let rendered = out.split_off(start);
                        redact_json(&rendered, out, redacted);
                    }
                }
                Some(value) => render_value(*kind, value, out)?,
            }
        }
        out.push(b'}');
        Ok(())
    }
}

/// Values larger than this are rendered into the archive slice by slice.
pub const LARGE_VALUE: usize = 1 << 20;

impl RowRenderer {
    /// Renders a row larger than [`LARGE_VALUE`] into the writer, large text, bytea and json
    /// values slice by slice, so that neither the value's JSON nor the compressed archive is
    /// ever held whole: memory stays near the row's own size, whatever the value.
    pub async fn render_large<S: ChunkSink>(
        &self,
        row: &[u8],
        writer: &mut ArchiveWriter<S>,
        redacted: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        if self.csv {
            return self.render_csv_large(row, writer, redacted).await;
        }
        if self.mode == RenderMode::Server {
            let value = server_rendered(row)?;
            if !self.redacted_columns.is_empty() {
                let mut out = Vec::new();
                redact_json_members(value, &self.redacted_columns, &mut out, redacted);
                return writer.append(|buf| buf.extend_from_slice(&out)).await;
            }
            for slice in value.chunks(LARGE_VALUE) {
                writer.append(|buf| buf.extend_from_slice(slice)).await?;
            }
            return Ok(());
        }
        writer.append(|buf| buf.push(b'{')).await?;
        let mut values = fields(row);
        for (key, kind, redact) in &self.columns {
            writer.append(|buf| buf.extend_from_slice(key)).await?;
            let value = values.next().context("COPY row has too few fields")??;
            match value {
                None => writer.append(|buf| buf.extend_from_slice(b"null")).await?,
                Some(value) if value.len() > LARGE_VALUE && !redact => {
                    stream_value(*kind, value, writer).await?
                }
                Some(value) => {
                    let mut out = Vec::new();
                    if *redact {
                        let mut rendered = Vec::with_capacity(value.len());
                        render_value(*kind, value, &mut rendered)?;
                        redact_json(&rendered, &mut out, redacted);
                    } else {
                        render_value(*kind, value, &mut out)?;
                    }
                    writer.append(|buf| buf.extend_from_slice(&out)).await?;
                }
            }
        }
        writer.append(|buf| buf.push(b'}')).await
    }
}

impl RowRenderer {
    /// Appends one row as a CSV record (without its line end): each value as the JSON
    /// rendering gives it, written by the CSV conventions (`formats/csv.rs`).
    fn render_csv(
        &self,
        row: &[u8],
        out: &mut Vec<u8>,
        redacted: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        if self.mode == RenderMode::Server {
            return self.render_csv_from_json(row, out, redacted);
        }
        let mut values = fields(row);
        let mut scratch = Vec::new();
        for (i, (_, kind, redact)) in self.columns.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            // NULL: an unquoted empty field.
            if let Some(value) = values.next().context("COPY row has too few fields")?? {
                csv_value((*kind, *redact), value, out, &mut scratch, redacted)?;
            }
        }
        Ok(())
    }

    /// A row over [`LARGE_VALUE`] as a CSV record: large text, bytea and json values slice
    /// by slice (as [`RowRenderer::render_large`] does for JSON), the others whole.
    async fn render_csv_large<S: ChunkSink>(
        &self,
        row: &[u8],
        writer: &mut ArchiveWriter<S>,
        redacted: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        if self.mode == RenderMode::Server {
            let mut out = Vec::new();
            self.render_csv_from_json(row, &mut out, redacted)?;
            return writer.append(|buf| buf.extend_from_slice(&out)).await;
        }
        let mut values = fields(row);
        for (i, (_, kind, redact)) in self.columns.iter().enumerate() {
            if i > 0 {
                writer.append(|buf| buf.push(b',')).await?;
            }
            let Some(value) = values.next().context("COPY row has too few fields")?? else {
                continue;
            };
            let large = (value.len() > LARGE_VALUE && !redact)
                .then(|| csv::large_field(*kind, value))
                .flatten();
            let Some((open, body, how, close)) = large else {
                let (mut out, mut scratch) = (Vec::new(), Vec::new());
                csv_value((*kind, *redact), value, &mut out, &mut scratch, redacted)?;
                writer.append(|buf| buf.extend_from_slice(&out)).await?;
                continue;
            };
            writer.append(|buf| buf.extend_from_slice(&open)).await?;
            for slice in body.chunks(LARGE_VALUE / 2) {
                writer
                    .append(|buf| match how {
                        csv::Body::Raw => buf.extend_from_slice(slice),
                        csv::Body::Quoted => csv::write_quoted(slice, buf),
                        csv::Body::Hex => hex_into(slice, buf),
                    })
                    .await?;
            }
            writer.append(|buf| buf.extend_from_slice(close)).await?;
        }
        Ok(())
    }

    /// The server rendered the row as one JSON object: its members, in column order.
    fn render_csv_from_json(
        &self,
        row: &[u8],
        out: &mut Vec<u8>,
        redacted: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        use serde_json::value::RawValue;
        let mut object = Vec::new();
        let value = server_rendered(row)?;
        let value = if self.redacted_columns.is_empty() {
            value
        } else {
            redact_json_members(value, &self.redacted_columns, &mut object, redacted);
            &object
        };
        let members: std::collections::HashMap<String, &RawValue> =
            serde_json::from_slice(value).context("parsing a server-rendered row")?;
        for (i, (name, (_, kind, _))) in self.names.iter().zip(&self.columns).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let raw = members
                .get(name)
                .with_context(|| format!("the rendered row has no column {name}"))?;
            if raw.get() != "null" {
                csv::write_json_value(CellKind::of_kind(*kind), raw.get().as_bytes(), out)?;
            }
        }
        Ok(())
    }
}

/// One client-rendered value of (kind, redact json keys) as a CSV field: text as is, the
/// others as they render to JSON (in `scratch`, reused).
fn csv_value(
    (kind, redact): (ValueKind, bool),
    value: &[u8],
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    redacted: &mut Vec<String>,
) -> anyhow::Result<()> {
    let cell = CellKind::of_kind(kind);
    if cell == CellKind::Text && !redact {
        csv::write_field(value, true, out);
        return Ok(());
    }
    render_redacted((kind, redact), value, scratch, redacted)?;
    csv::write_json_value(cell, scratch, out)
}

/// One client-rendered value of (kind, redact json keys) as `to_json` gives it, into `out`
/// (cleared), with the json keys cut out as secrets added to `redacted`.
pub fn render_redacted(
    (kind, redact): (ValueKind, bool),
    value: &[u8],
    out: &mut Vec<u8>,
    redacted: &mut Vec<String>,
) -> anyhow::Result<()> {
    out.clear();
    render_value(kind, value, out)?;
    if redact && may_need_redaction(out) {
        let rendered = std::mem::take(out);
        redact_json(&rendered, out, redacted);
    }
    Ok(())
}

/// One large value, slice by slice.
async fn stream_value<S: ChunkSink>(
    kind: ValueKind,
    value: &[u8],
    writer: &mut ArchiveWriter<S>,
) -> anyhow::Result<()> {
    let (open, body, close): (&[u8], &[u8], &[u8]) = match kind {
        ValueKind::Text => (b"\"", value, b"\""),
        ValueKind::Bytea => (b"\"\\\\x", value, b"\""),
        ValueKind::Json | ValueKind::ServerJson => (b"", value, b""),
        ValueKind::Jsonb => match value.split_first() {
            Some((1, text)) => (b"", text, b""),
            _ => bail!("unknown jsonb binary version"),
        },
        _ => {
            let mut out = Vec::new();
            render_value(kind, value, &mut out)?;
            return writer.append(|buf| buf.extend_from_slice(&out)).await;
        }
    };
    writer.append(|buf| buf.extend_from_slice(open)).await?;
    for slice in body.chunks(LARGE_VALUE / 2) {
        writer
            .append(|buf| match kind {
                ValueKind::Text => escape_json_inner(slice, buf),
                ValueKind::Bytea => hex_into(slice, buf),
                _ => buf.extend_from_slice(slice),
            })
            .await?;
    }
    writer.append(|buf| buf.extend_from_slice(close)).await
}

/// The one field of a row the server rendered (`row_to_json(r)::text`).
fn server_rendered(row: &[u8]) -> anyhow::Result<&[u8]> {
    fields(row)
        .next()
        .context("empty COPY row")??
        .context("NULL row")
}

fn be<const N: usize>(value: &[u8]) -> anyhow::Result<[u8; N]> {
    value
        .try_into()
        .map_err(|_| anyhow::anyhow!("binary value of {} bytes, expected {N}", value.len()))
}

/// One value from its binary form as `to_json` renders it.
pub fn render_value(kind: ValueKind, value: &[u8], out: &mut Vec<u8>) -> anyhow::Result<()> {
    match kind {
        ValueKind::Bool => out.extend_from_slice(if value == [1] { b"true" } else { b"false" }),
        // itoa: integers are most of many rows, and `write!` costs several times as much.
        ValueKind::Int2 => out.extend_from_slice(
            itoa::Buffer::new()
                .format(i16::from_be_bytes(be(value)?))
                .as_bytes(),
        ),
        ValueKind::Int4 => out.extend_from_slice(
            itoa::Buffer::new()
                .format(i32::from_be_bytes(be(value)?))
                .as_bytes(),
        ),
        ValueKind::Int8 => out.extend_from_slice(
            itoa::Buffer::new()
                .format(i64::from_be_bytes(be(value)?))
                .as_bytes(),
        ),
        ValueKind::Text => escape_json(value, out),
        ValueKind::Bytea => {
            out.extend_from_slice(b"\"\\\\x");
            hex_into(value, out);
            out.push(b'"');
        }
        ValueKind::Json | ValueKind::ServerJson => out.extend_from_slice(value),
        ValueKind::Jsonb => match value.split_first() {
            Some((1, text)) => out.extend_from_slice(text),
            _ => bail!("unknown jsonb binary version"),
        },
        ValueKind::Numeric => render_numeric(value, out)?,
        ValueKind::Uuid => {
            if value.len() != 16 {
                bail!("uuid of {} bytes", value.len());
            }
            out.push(b'"');
            for (i, part) in [
                &value[0..4],
                &value[4..6],
                &value[6..8],
                &value[8..10],
                &value[10..],
            ]
            .into_iter()
            .enumerate()
            {
                if i > 0 {
                    out.push(b'-');
                }
                hex_into(part, out);
            }
            out.push(b'"');
        }
        ValueKind::Date => {
            let days = i32::from_be_bytes(be(value)?);
            match days {
                i32::MAX => out.extend_from_slice(b"\"infinity\""),
                i32::MIN => out.extend_from_slice(b"\"-infinity\""),
                _ => {
                    let (y, m, d) = j2date(days as i64 + POSTGRES_EPOCH_JDATE);
                    out.push(b'"');
                    write_year(y, out);
                    write_2(b'-', m, out);
                    write_2(b'-', d, out);
                    if y <= 0 {
                        out.extend_from_slice(b" BC");
                    }
                    out.push(b'"');
                }
            }
        }
        ValueKind::Timestamp | ValueKind::Timestamptz => {
            let micros = i64::from_be_bytes(be(value)?);
            match micros {
                i64::MAX => out.extend_from_slice(b"\"infinity\""),
                i64::MIN => out.extend_from_slice(b"\"-infinity\""),
                _ => render_timestamp(micros, kind == ValueKind::Timestamptz, out)?,
            }
        }
    }
    Ok(())
}

/// The Julian day of 2000-01-01, PostgreSQL's epoch.
const POSTGRES_EPOCH_JDATE: i64 = 2_451_545;
const USECS_PER_DAY: i64 = 86_400_000_000;

/// PostgreSQL's `j2date`: Julian day to proleptic Gregorian (year ≤ 0 is BC).
fn j2date(jd: i64) -> (i64, i64, i64) {
    let mut julian = jd + 32044;
    let mut quad = julian / 146_097;
    let extra = (julian - quad * 146_097) * 4 + 3;
    julian += 60 + quad * 3 + extra / 146_097;
    quad = julian / 1461;
    julian -= quad * 1461;
    let mut y = julian * 4 / 1461;
    julian = if y != 0 {
        (julian + 305) % 365
    } else {
        (julian + 306) % 366
    } + 123;
    y += quad * 4;
    let year = y - 4800;
    quad = julian * 2141 / 65536;
    let day = julian - 7834 * quad / 256;
    let month = (quad + 10) % 12 + 1;
    (year, month, day)
}

/// Years are zero-padded to 4 digits; BC years print as their absolute value (1 BC is year 0).
fn write_year(y: i64, out: &mut Vec<u8>) {
    let shown = if y > 0 { y } else { -(y - 1) };
    if shown < 10_000 {
        write_4(shown, out);
    } else {
        out.extend_from_slice(itoa::Buffer::new().format(shown).as_bytes());
    }
}

/// `sep` and `n` (0–99) in two digits: `write!("{sep}{n:02}")` without the formatter, which
/// cost a few percent of the client's CPU on the big benchmark.
fn write_2(sep: u8, n: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(&[sep, b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]);
}

/// `n` (0–9999) in four digits.
fn write_4(n: i64, out: &mut Vec<u8>) {
    out.extend_from_slice(&[
        b'0' + (n / 1000) as u8,
        b'0' + (n / 100 % 10) as u8,
        b'0' + (n / 10 % 10) as u8,
        b'0' + (n % 10) as u8,
    ]);
}

/// `EncodeDateTime(…, USE_XSD_DATES)`: `YYYY-MM-DDTHH:MM:SS[.ffffff][+00:00][ BC]`, the
/// fraction without trailing zeros; `timestamptz` in the session's UTC.
fn render_timestamp(micros: i64, with_tz: bool, out: &mut Vec<u8>) -> anyhow::Result<()> {
    let date = micros.div_euclid(USECS_PER_DAY);
    let time = micros.rem_euclid(USECS_PER_DAY);
    let (y, m, d) = j2date(date + POSTGRES_EPOCH_JDATE);
    let hour = time / 3_600_000_000;
    let min = time / 60_000_000 % 60;
    let sec = time / 1_000_000 % 60;
    let fsec = time % 1_000_000;
    out.push(b'"');
    write_year(y, out);
    write_2(b'-', m, out);
    write_2(b'-', d, out);
    write_2(b'T', hour, out);
    write_2(b':', min, out);
    write_2(b':', sec, out);
    if fsec != 0 {
        let mut digits = [b'.', 0, 0, 0, 0, 0, 0];
        let mut rest = fsec;
        for at in (1..7).rev() {
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        let end = digits.iter().rposition(|&c| c != b'0').expect("fsec != 0") + 1;
        out.extend_from_slice(&digits[..end]);
    }
    if with_tz {
        out.extend_from_slice(b"+00:00");
    }
    if y <= 0 {
        out.extend_from_slice(b" BC");
    }
    out.push(b'"');
    Ok(())
}

/// `numeric_out`: base-10000 digits with a weight, printed with exactly `dscale` decimals;
/// NaN and the infinities are JSON strings, as `to_json` makes them.
fn render_numeric(value: &[u8], out: &mut Vec<u8>) -> anyhow::Result<()> {
    if value.len() < 8 {
        bail!("numeric of {} bytes", value.len());
    }
    let ndigits = i16::from_be_bytes([value[0], value[1]]) as i64;
    let weight = i16::from_be_bytes([value[2], value[3]]) as i64;
    let sign = u16::from_be_bytes([value[4], value[5]]);
    let dscale = u16::from_be_bytes([value[6], value[7]]) as i64;
    match sign {
        0xC000 => {
            out.extend_from_slice(b"\"NaN\"");
            return Ok(());
        }
        0xD000 => {
            out.extend_from_slice(b"\"Infinity\"");
            return Ok(());
        }
        0xF000 => {
            out.extend_from_slice(b"\"-Infinity\"");
            return Ok(());
        }
        0x0000 | 0x4000 => {}
        other => bail!("numeric with unknown sign {other:#x}"),
    }
    if value.len() != 8 + 2 * ndigits as usize {
        bail!("numeric with {ndigits} digits in {} bytes", value.len());
    }
    let digit = |i: i64| -> i64 {
        if (0..ndigits).contains(&i) {
            let at = 8 + 2 * i as usize;
            i16::from_be_bytes([value[at], value[at + 1]]) as i64
        } else {
            0
        }
    };
    if sign == 0x4000 {
        out.push(b'-');
    }
    let mut d;
    if weight < 0 {
        d = weight + 1;
        out.push(b'0');
    } else {
        d = 0;
        while d <= weight {
            if d == 0 {
                out.extend_from_slice(itoa::Buffer::new().format(digit(d)).as_bytes());
            } else {
                write_4(digit(d), out);
            }
            d += 1;
        }
    }
    if dscale > 0 {
        out.push(b'.');
        let end = out.len() + dscale as usize;
        while out.len() < end {
            write_4(digit(d), out);
            d += 1;
        }
        out.truncate(end);
    }
    Ok(())
}

/// Lowercase hex of `bytes`, appended: one two-digit entry per byte.
fn hex_into(bytes: &[u8], out: &mut Vec<u8>) {
    const PAIRS: [[u8; 2]; 256] = {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut pairs = [[0; 2]; 256];
        let mut i = 0;
        while i < 256 {
            pairs[i] = [DIGITS[i >> 4], DIGITS[i & 15]];
            i += 1;
        }
        pairs
    };
    out.reserve(bytes.len() * 2);
    let spare = &mut out.spare_capacity_mut()[..bytes.len() * 2];
    for (pair, &b) in spare.chunks_exact_mut(2).zip(bytes) {
        pair[0].write(PAIRS[b as usize][0]);
        pair[1].write(PAIRS[b as usize][1]);
    }
    // SAFETY: the loop wrote all `bytes.len() * 2` bytes after the old length.
    unsafe { out.set_len(out.len() + bytes.len() * 2) };
}

/// PostgreSQL's `escape_json`: quotes, backslash, the short escapes, other control characters
/// as `\u00XX`; everything else (non-ASCII included) as is.
pub fn escape_json(text: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    escape_json_inner(text, out);
    out.push(b'"');
}

/// [`escape_json`] without the quotes: a string's contents, escaped. Works on any slice of a
/// string (only ASCII bytes are escaped, so a UTF-8 sequence may be split anywhere).
fn escape_json_inner(text: &[u8], out: &mut Vec<u8>) {
    // Most text has nothing to escape: skip 8 bytes at a time while no byte is a control
    // character, '"' or '\\' (the classic "has a byte less than n / equal to c" word tests).
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let plain = |w: u64| {
        let below_space = w.wrapping_sub(LOW * 0x20) & !w;
        let quote = (w ^ (LOW * b'"' as u64)).wrapping_sub(LOW) & !(w ^ (LOW * b'"' as u64));
        let backslash = (w ^ (LOW * b'\\' as u64)).wrapping_sub(LOW) & !(w ^ (LOW * b'\\' as u64));
        (below_space | quote | backslash) & HIGH == 0
    };
    let mut skip = 0;
    while let Some(word) = text.get(skip..skip + 8) {
        if !plain(u64::from_le_bytes(word.try_into().expect("8 bytes"))) {
            break;
        }
        skip += 8;
    }
    if skip == text.len() {
        out.extend_from_slice(text);
        return;
    }
    let mut start = 0;
    for (i, &b) in text.iter().enumerate().skip(skip) {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&text[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&text[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(ndigits: &[i16], weight: i16, sign: u16, dscale: u16) -> String {
        let mut v = Vec::new();
        v.extend((ndigits.len() as i16).to_be_bytes());
        v.extend(weight.to_be_bytes());
        v.extend(sign.to_be_bytes());
        v.extend(dscale.to_be_bytes());
        for d in ndigits {
            v.extend(d.to_be_bytes());
        }
        let mut out = Vec::new();
        render_numeric(&v, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numerics_print_like_numeric_out() {
        assert_eq!(numeric(&[], 0, 0, 0), "0");
        assert_eq!(numeric(&[], 0, 0, 2), "0.00");
        assert_eq!(numeric(&[1, 2345], 1, 0, 0), "12345");
        assert_eq!(numeric(&[1, 1000], 0, 0, 2), "1.10");
        assert_eq!(numeric(&[5], -1, 0x4000, 4), "-0.0005");
        assert_eq!(numeric(&[12], -2, 0, 8), "0.00000012");
        assert_eq!(numeric(&[1], 2, 0, 0), "100000000");
        assert_eq!(numeric(&[], 0, 0xC000, 0), "\"NaN\"");
    }

    #[test]
    fn dates_follow_postgres_calendar() {
        assert_eq!(j2date(POSTGRES_EPOCH_JDATE), (2000, 1, 1));
        assert_eq!(j2date(POSTGRES_EPOCH_JDATE - 1), (1999, 12, 31));
        assert_eq!(j2date(POSTGRES_EPOCH_JDATE + 60), (2000, 3, 1));
        let mut out = Vec::new();
        render_timestamp(-1, true, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"1999-12-31T23:59:59.999999+00:00\""
        );
    }

    #[test]
    fn the_word_at_a_time_skip_misses_no_byte_that_needs_escaping() {
        // Every byte value at every offset of a 23-byte plain run, against one byte at a time.
        let reference = |text: &[u8]| {
            let mut out = Vec::new();
            for &b in text {
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    0x08 => out.extend_from_slice(b"\\b"),
                    0x0c => out.extend_from_slice(b"\\f"),
                    0..=0x1f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
                    _ => out.push(b),
                }
            }
            out
        };
        for byte in 0..=255u8 {
            for at in 0..23 {
                let mut text = b"abcdefgh\xc3\xa9ijklmnopqrstu".to_vec();
                text[at] = byte;
                let mut out = Vec::new();
                escape_json_inner(&text, &mut out);
                assert_eq!(out, reference(&text), "byte {byte:#x} at {at}");
            }
        }
    }

    #[test]
    fn strings_escape_like_escape_json() {
        let mut out = Vec::new();
        escape_json("a\"b\\c\nd\u{1}é\u{7f}".as_bytes(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"b\\\\c\\nd\\u0001é\u{7f}\""
        );
    }
}
