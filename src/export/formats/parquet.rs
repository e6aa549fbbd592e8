//! The Parquet encoding of the bundle (`--format parquet`): one Parquet file per section,
//! its columns typed from PostgreSQL's ([`Leaf::of`]), written while the section streams in
//! row groups bounded by [`ROW_GROUP_BYTES`] of buffered values, so that memory stays flat
//! whatever the section's size. The file's bytes go into the archive writer as they are
//! produced (a Parquet file is written front to back, its footer last); the tar around them
//! and the spool are `bundle.rs`'s and `archive.rs`'s, as for CSV.
//!
//! Pages are not compressed: the bundle is gzip as a whole, and compressing twice costs the
//! time twice for little (and no codec crate is linked). The values come from the binary COPY
//! (client rendering, whatever `render` says); json, composites and the other types come as
//! `to_json`'s text, secrets cut out as in every format. Not here: reading a file back
//! (`parquet_read.rs`).

use std::sync::Arc;

use anyhow::{Context, bail};
use parquet::basic::{LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::data_type::{
    BoolType, ByteArray, ByteArrayType, DoubleType, FixedLenByteArray, FixedLenByteArrayType,
    FloatType, Int32Type, Int64Type,
};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::export::copy::fields;
use crate::export::render::render_redacted;
use crate::scope::columns::{ExportedColumn, ValueKind};

/// Values buffered before a row group is written: with the encoded group and the page being
/// built, a few times this per reader, within the export's 64 MiB with `--jobs 4`.
pub const ROW_GROUP_BYTES: usize = 4 << 20;

/// Days from 1970-01-01 (Parquet's epoch) to 2000-01-01 (PostgreSQL's).
const EPOCH_DAYS: i32 = 10_957;
const EPOCH_MICROS: i64 = EPOCH_DAYS as i64 * 86_400_000_000;

/// `infinity` and `-infinity` dates and timestamps: the values DuckDB reads as its own
/// infinities.
pub const DATE_INFINITY: i32 = i32::MAX;
pub const TIMESTAMP_INFINITY: i64 = i64::MAX;

/// What one column's values are in the Parquet file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf {
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    /// numeric(p,s) with 1 ≤ s ≤ p ≤ 38: a DECIMAL in `width` bytes.
    Decimal {
        precision: u8,
        scale: u8,
        width: u8,
    },
    /// numeric without a usable precision: its exact text (`NaN`, `Infinity` spelled out).
    NumericText,
    Text,
    /// json, jsonb, and every type without a Parquet counterpart: `to_json`'s text.
    Json,
    Bytes,
    Uuid,
    Date,
    Timestamp {
        utc: bool,
    },
}

impl Leaf {
    /// The column's leaf, and whether its values are lists: arrays of booleans, integers,
    /// floats and text declared one-dimensional (`int[]`; PostgreSQL does not enforce it, and
    /// a value of more dimensions in such a column fails the export by name).
    pub fn of(column: &ExportedColumn) -> (Leaf, bool) {
        let leaf = match ValueKind::of(column.type_oid) {
            ValueKind::Bool => Leaf::Bool,
            ValueKind::Int2 => Leaf::Int16,
            ValueKind::Int4 => Leaf::Int32,
            ValueKind::Int8 => Leaf::Int64,
            ValueKind::Text => Leaf::Text,
            ValueKind::Json | ValueKind::Jsonb => Leaf::Json,
            ValueKind::Bytea => Leaf::Bytes,
            ValueKind::Numeric => decimal_of(&column.type_name).unwrap_or(Leaf::NumericText),
            ValueKind::Uuid => Leaf::Uuid,
            ValueKind::Date => Leaf::Date,
            ValueKind::Timestamp => Leaf::Timestamp { utc: false },
            ValueKind::Timestamptz => Leaf::Timestamp { utc: true },
            // Arrays declared with more dimensions (`int[][]`) are JSON text.
            ValueKind::ServerJson if column.dimensions > 1 => Leaf::Json,
            ValueKind::ServerJson => {
                return match column.type_oid {
                    700 => (Leaf::Float32, false),
                    701 => (Leaf::Float64, false),
                    1000 => (Leaf::Bool, true),
                    1005 => (Leaf::Int16, true),
                    1007 => (Leaf::Int32, true),
                    1016 => (Leaf::Int64, true),
                    1021 => (Leaf::Float32, true),
                    1022 => (Leaf::Float64, true),
                    1009 | 1014 | 1015 => (Leaf::Text, true),
                    _ => (Leaf::Json, false),
                };
            }
        };
        (leaf, false)
    }

    fn schema(self, name: &str, repetition: Repetition) -> parquet::errors::Result<Type> {
        let (physical, logical) = match self {
            Leaf::Bool => (Physical::BOOLEAN, None),
            Leaf::Int16 => (Physical::INT32, Some(LogicalType::integer(16, true))),
            Leaf::Int32 => (Physical::INT32, None),
            Leaf::Int64 => (Physical::INT64, None),
            Leaf::Float32 => (Physical::FLOAT, None),
            Leaf::Float64 => (Physical::DOUBLE, None),
            Leaf::Decimal {
                precision,
                scale,
                width,
            } => {
                return Type::primitive_type_builder(name, Physical::FIXED_LEN_BYTE_ARRAY)
                    .with_repetition(repetition)
                    .with_length(width as i32)
                    .with_logical_type(Some(LogicalType::decimal(scale as i32, precision as i32)))
                    .with_precision(precision as i32)
                    .with_scale(scale as i32)
                    .build();
            }
            Leaf::NumericText | Leaf::Text | Leaf::Json => {
                (Physical::BYTE_ARRAY, Some(LogicalType::String))
            }
            Leaf::Bytes => (Physical::BYTE_ARRAY, None),
            Leaf::Uuid => {
                return Type::primitive_type_builder(name, Physical::FIXED_LEN_BYTE_ARRAY)
                    .with_repetition(repetition)
                    .with_length(16)
                    .with_logical_type(Some(LogicalType::Uuid))
                    .build();
            }
            Leaf::Date => (Physical::INT32, Some(LogicalType::Date)),
            Leaf::Timestamp { utc } => (
                Physical::INT64,
                Some(LogicalType::timestamp(utc, TimeUnit::MICROS)),
            ),
        };
        Type::primitive_type_builder(name, physical)
            .with_repetition(repetition)
            .with_logical_type(logical)
            .build()
    }
}

/// numeric(p,s) as a Parquet DECIMAL when its precision and scale fit one (1 ≤ p ≤ 38,
/// 0 ≤ s ≤ p): the smallest width that holds p digits.
fn decimal_of(type_name: &str) -> Option<Leaf> {
    let args = type_name.strip_prefix("numeric(")?.strip_suffix(')')?;
    let mut parts = args.split(',').map(|p| p.trim().parse::<i32>());
    let precision = parts.next()?.ok()?;
    let scale = match parts.next() {
        Some(s) => s.ok()?,
        None => 0,
    };
    if !(1..=38).contains(&precision) || !(0..=precision).contains(&scale) {
        return None;
    }
    let width = (1..=16u8).find(|n| {
        // floor(log10(2^(8n-1) - 1)) digits fit in n bytes (the Parquet format's rule).
        ((8 * *n as i32 - 1) as f64 * 2f64.log10()).floor() as i32 >= precision
    })?;
    Some(Leaf::Decimal {
        precision: precision as u8,
        scale: scale as u8,
        width,
    })
}

/// The manifest's description of the mapping, for whoever reads the files without orgexport.
pub fn encoding() -> Value {
    serde_json::json!({
        "files": "one Parquet file per section (uncompressed pages: the bundle is gzipped as a whole), every column OPTIONAL, row groups of a few MiB",
        "types": "boolean: BOOLEAN; smallint: INT32 (INT 16); integer: INT32; bigint: INT64; real: FLOAT; double precision: DOUBLE; numeric(p,s) with s <= p <= 38: DECIMAL(p,s); other numeric: STRING of the exact value (NaN, Infinity spelled out); text, varchar, char, name: STRING; json, jsonb: STRING of the JSON text; bytea: BYTE_ARRAY; uuid: FIXED_LEN_BYTE_ARRAY(16) UUID; date: INT32 DATE; timestamp: INT64 TIMESTAMP(MICROS, not adjusted to UTC); timestamptz: INT64 TIMESTAMP(MICROS, UTC); one-dimensional arrays of booleans, integers, floats and text: LIST; every other type: STRING of its to_json text",
        "infinity": "dates infinity/-infinity are INT32 2147483647/-2147483647, timestamps INT64 9223372036854775807/-9223372036854775807 (DuckDB's infinities)",
    })
}

/// One column's buffered values, in the Parquet physical type's form.
enum Values {
    Bool(Vec<bool>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bytes(Vec<ByteArray>),
    Fixed(Vec<FixedLenByteArray>),
}

impl Values {
    fn of(leaf: Leaf) -> Values {
        match leaf {
            Leaf::Bool => Values::Bool(Vec::new()),
            Leaf::Int16 | Leaf::Int32 | Leaf::Date => Values::I32(Vec::new()),
            Leaf::Int64 | Leaf::Timestamp { .. } => Values::I64(Vec::new()),
            Leaf::Float32 => Values::F32(Vec::new()),
            Leaf::Float64 => Values::F64(Vec::new()),
            Leaf::Decimal { .. } | Leaf::Uuid => Values::Fixed(Vec::new()),
            Leaf::NumericText | Leaf::Text | Leaf::Json | Leaf::Bytes => Values::Bytes(Vec::new()),
        }
    }

    fn clear(&mut self) {
        match self {
            Values::Bool(v) => v.clear(),
            Values::I32(v) => v.clear(),
            Values::I64(v) => v.clear(),
            Values::F32(v) => v.clear(),
            Values::F64(v) => v.clear(),
            Values::Bytes(v) => *v = Vec::new(),
            Values::Fixed(v) => *v = Vec::new(),
        }
    }
}

/// One column of the section: how its values are read and what is buffered.
struct Column {
    name: String,
    kind: ValueKind,
    redact: bool,
    leaf: Leaf,
    list: bool,
    values: Values,
    def: Vec<i16>,
    rep: Vec<i16>,
}

/// One section's Parquet file, written as its rows stream.
pub struct ParquetSection {
    file: SerializedFileWriter<Vec<u8>>,
    columns: Vec<Column>,
    /// Bytes of values buffered in the row group being gathered (an estimate).
    buffered: usize,
    rows: usize,
    /// `to_json`'s text of the value being converted, reused.
    scratch: Vec<u8>,
}

impl ParquetSection {
    pub fn new(columns: &[ExportedColumn]) -> anyhow::Result<ParquetSection> {
        let mut fields = Vec::with_capacity(columns.len());
        let columns: Vec<Column> = columns
            .iter()
            .map(|c| {
                let (leaf, list) = Leaf::of(c);
                Column {
                    name: c.name.clone(),
                    kind: ValueKind::of(c.type_oid),
                    redact: c.redact_json,
                    leaf,
                    list,
                    values: Values::of(leaf),
                    def: Vec::new(),
                    rep: Vec::new(),
                }
            })
            .collect();
        for c in &columns {
            fields.push(Arc::new(column_schema(c)?));
        }
        let schema = Type::group_type_builder("schema")
            .with_fields(fields)
            .build()
            .context("building the Parquet schema")?;
        let properties = WriterProperties::builder()
            .set_created_by(format!("orgexport {}", env!("CARGO_PKG_VERSION")))
            .build();
        let file = SerializedFileWriter::new(Vec::new(), Arc::new(schema), Arc::new(properties))
            .context("starting a Parquet file")?;
        Ok(ParquetSection {
            file,
            columns,
            buffered: 0,
            rows: 0,
            scratch: Vec::new(),
        })
    }

    /// Buffers one COPY row; json keys cut out as secrets are added to `redacted`.
    pub fn push(&mut self, row: &[u8], redacted: &mut Vec<String>) -> anyhow::Result<()> {
        let mut values = fields(row);
        for column in &mut self.columns {
            let value = values.next().context("COPY row has too few fields")??;
            // A byte array is its own allocation behind a 32-byte handle.
            let overhead = match column.values {
                Values::Bytes(_) | Values::Fixed(_) => 64,
                _ => 8,
            };
            self.buffered += overhead + value.map_or(0, <[u8]>::len);
            let Some(value) = value else {
                column.def.push(0);
                if column.list {
                    column.rep.push(0);
                }
                continue;
            };
            // Lists, floats and JSON text come from `to_json`'s text, the rest from binary.
            let rendered =
                column.list || matches!(column.leaf, Leaf::Float32 | Leaf::Float64 | Leaf::Json);
            if rendered {
                let how = (column.kind, column.redact);
                render_redacted(how, value, &mut self.scratch, redacted)?;
            }
            if column.leaf == Leaf::Json {
                column.def.push(1);
                column.push_bytes(self.scratch.clone());
                Ok(())
            } else if rendered {
                column.push_json(&self.scratch)
            } else {
                column.def.push(1);
                column.push_binary(value, &mut self.scratch)
            }
            .with_context(|| format!("column {}", column.name))?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Whether the row group gathered is due to be written.
    pub fn is_full(&self) -> bool {
        self.buffered >= ROW_GROUP_BYTES
    }

    /// Writes the gathered rows as a row group; the file's bytes written since the last call.
    pub fn write_group(&mut self) -> anyhow::Result<Vec<u8>> {
        if self.rows > 0 {
            let mut group = self.file.next_row_group()?;
            for column in &mut self.columns {
                let mut writer = group.next_column()?.context("a column of the schema")?;
                let def = Some(&column.def[..]);
                let rep = column.list.then_some(&column.rep[..]);
                match &column.values {
                    Values::Bool(v) => writer.typed::<BoolType>().write_batch(v, def, rep),
                    Values::I32(v) => writer.typed::<Int32Type>().write_batch(v, def, rep),
                    Values::I64(v) => writer.typed::<Int64Type>().write_batch(v, def, rep),
                    Values::F32(v) => writer.typed::<FloatType>().write_batch(v, def, rep),
                    Values::F64(v) => writer.typed::<DoubleType>().write_batch(v, def, rep),
                    Values::Bytes(v) => writer.typed::<ByteArrayType>().write_batch(v, def, rep),
                    Values::Fixed(v) => writer
                        .typed::<FixedLenByteArrayType>()
                        .write_batch(v, def, rep),
                }
                .with_context(|| format!("writing column {} to Parquet", column.name))?;
                writer.close()?;
                column.values.clear();
                column.def.clear();
                column.rep.clear();
            }
            group.close()?;
            (self.rows, self.buffered) = (0, 0);
        }
        self.file.flush()?;
        Ok(std::mem::take(self.file.inner_mut()))
    }

    /// The last row group and the footer: the rest of the file.
    pub fn finish(mut self) -> anyhow::Result<Vec<u8>> {
        let mut rest = self.write_group()?;
        rest.extend(self.file.into_inner().context("closing the Parquet file")?);
        Ok(rest)
    }
}

fn column_schema(column: &Column) -> anyhow::Result<Type> {
    let built = if column.list {
        // The LIST layout of the Parquet format: optional group (LIST) { repeated group list
        // { optional element } }.
        let element = column.leaf.schema("element", Repetition::OPTIONAL)?;
        let list = Type::group_type_builder("list")
            .with_repetition(Repetition::REPEATED)
            .with_fields(vec![Arc::new(element)])
            .build()?;
        Type::group_type_builder(&column.name)
            .with_repetition(Repetition::OPTIONAL)
            .with_logical_type(Some(LogicalType::List))
            .with_fields(vec![Arc::new(list)])
            .build()
    } else {
        column.leaf.schema(&column.name, Repetition::OPTIONAL)
    };
    built.with_context(|| format!("the Parquet type of column {}", column.name))
}

impl Column {
    fn push_bytes(&mut self, bytes: Vec<u8>) {
        if let Values::Bytes(v) = &mut self.values {
            v.push(ByteArray::from(bytes));
        }
    }

    /// A value from its binary COPY form (`scratch`: room for its `to_json` text).
    fn push_binary(&mut self, value: &[u8], scratch: &mut Vec<u8>) -> anyhow::Result<()> {
        let be8 = || -> anyhow::Result<i64> { Ok(i64::from_be_bytes(value.try_into()?)) };
        let be4 = || -> anyhow::Result<i32> { Ok(i32::from_be_bytes(value.try_into()?)) };
        match (&mut self.values, self.leaf) {
            (Values::Bool(v), _) => v.push(value == [1]),
            (Values::I32(v), Leaf::Int16) => v.push(i16::from_be_bytes(value.try_into()?) as i32),
            (Values::I32(v), Leaf::Date) => v.push(match be4()? {
                i32::MAX => DATE_INFINITY,
                i32::MIN => -DATE_INFINITY,
                days => days + EPOCH_DAYS,
            }),
            (Values::I32(v), _) => v.push(be4()?),
            (Values::I64(v), Leaf::Timestamp { .. }) => v.push(match be8()? {
                i64::MAX => TIMESTAMP_INFINITY,
                i64::MIN => -TIMESTAMP_INFINITY,
                micros => micros
                    .checked_add(EPOCH_MICROS)
                    .filter(|m| m.abs() < TIMESTAMP_INFINITY)
                    .context("a timestamp after 294247-01-10, the last that Parquet's INT64 microseconds since 1970 hold (PostgreSQL's go to 294276); export with --format json, ndjson or csv, or leave the column out (exclude_columns)")?,
            }),
            (Values::I64(v), _) => v.push(be8()?),
            (Values::Fixed(v), Leaf::Uuid) => v.push(FixedLenByteArray::from(value.to_vec())),
            (Values::Fixed(v), Leaf::Decimal { scale, width, .. }) => {
                render_redacted((ValueKind::Numeric, false), value, scratch, &mut Vec::new())?;
                let unscaled = unscaled(scratch, scale)?;
                let bytes = unscaled.to_be_bytes()[16 - width as usize..].to_vec();
                v.push(FixedLenByteArray::from(bytes));
            }
            (Values::Bytes(v), Leaf::NumericText) => {
                render_redacted((ValueKind::Numeric, false), value, scratch, &mut Vec::new())?;
                let text = scratch.strip_prefix(b"\"").unwrap_or(scratch);
                let text = text.strip_suffix(b"\"").unwrap_or(text);
                v.push(ByteArray::from(text.to_vec()));
            }
            (Values::Bytes(v), _) => v.push(ByteArray::from(value.to_vec())),
            _ => bail!("no Parquet value for {:?}", self.leaf),
        }
        Ok(())
    }

    /// A float, or a list, from its `to_json` text.
    fn push_json(&mut self, json: &[u8]) -> anyhow::Result<()> {
        let text = std::str::from_utf8(json)?;
        if !self.list {
            self.def.push(1);
            return self.push_element(text);
        }
        let elements: Vec<&RawValue> =
            serde_json::from_str(text).context("an array value that is not a JSON array")?;
        if elements.is_empty() {
            self.def.push(1);
            self.rep.push(0);
        }
        for (i, element) in elements.iter().enumerate() {
            self.rep.push(if i == 0 { 0 } else { 1 });
            match element.get() {
                "null" => self.def.push(2),
                nested if nested.starts_with('[') => bail!(
                    "a multi-dimensional array in a column declared one-dimensional, which --format parquet writes as a list; declare the column with its dimensions (int[][]), export with --format json, ndjson or csv, or leave the column out (exclude_columns)"
                ),
                value => {
                    self.def.push(3);
                    self.push_element(value)?;
                }
            }
        }
        Ok(())
    }

    /// One JSON scalar (a value or a list element) of the column's leaf.
    fn push_element(&mut self, json: &str) -> anyhow::Result<()> {
        match &mut self.values {
            Values::Bool(v) => v.push(json == "true"),
            Values::I32(v) => v.push(json.parse()?),
            Values::I64(v) => v.push(json.parse()?),
            Values::F32(v) => v.push(float_of(json)?),
            Values::F64(v) => v.push(float_of(json)?),
            Values::Bytes(v) => v.push(ByteArray::from(
                serde_json::from_str::<String>(json)?.into_bytes(),
            )),
            Values::Fixed(_) => bail!("no list of {:?}", self.leaf),
        }
        Ok(())
    }
}

/// A float as `to_json` gives it: a number (shortest round-trip text, parsed exactly by
/// Rust), or `"NaN"`, `"Infinity"`, `"-Infinity"`.
fn float_of<F: std::str::FromStr + From<f32>>(json: &str) -> anyhow::Result<F>
where
    F::Err: std::error::Error + Send + Sync + 'static,
{
    Ok(match json {
        "\"NaN\"" => F::from(f32::NAN),
        "\"Infinity\"" => F::from(f32::INFINITY),
        "\"-Infinity\"" => F::from(f32::NEG_INFINITY),
        number => number.parse()?,
    })
}

/// The unscaled integer of a numeric's text with exactly `scale` decimals.
fn unscaled(text: &[u8], scale: u8) -> anyhow::Result<i128> {
    let text = std::str::from_utf8(text)?;
    if text.starts_with('"') {
        bail!(
            "{text} in a numeric(p,s) column, which a Parquet DECIMAL cannot hold; export with --format json, ndjson or csv, or leave the column out (exclude_columns)"
        );
    }
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > scale as usize {
        bail!("{text} has more decimals than the column's scale {scale}");
    }
    let digits = format!("{whole}{fraction:0<width$}", width = scale as usize);
    digits.parse().context("a numeric beyond 38 digits")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_take_the_smallest_width_that_holds_their_precision() {
        let width = |t: &str| match decimal_of(t) {
            Some(Leaf::Decimal { width, .. }) => Some(width),
            _ => None,
        };
        assert_eq!(width("numeric(2,1)"), Some(1));
        assert_eq!(width("numeric(9,2)"), Some(4));
        assert_eq!(width("numeric(10)"), Some(5));
        assert_eq!(width("numeric(18,0)"), Some(8));
        assert_eq!(width("numeric(38,10)"), Some(16));
        assert_eq!(width("numeric(39,10)"), None);
        assert_eq!(width("numeric(5,-2)"), None);
        assert_eq!(width("numeric(2,5)"), None);
        assert_eq!(width("numeric"), None);
    }

    #[test]
    fn numerics_become_unscaled_integers() {
        assert_eq!(unscaled(b"-12.5", 2).unwrap(), -1250);
        assert_eq!(unscaled(b"0.00", 2).unwrap(), 0);
        assert_eq!(unscaled(b"7", 0).unwrap(), 7);
        assert!(
            unscaled(b"\"NaN\"", 2)
                .unwrap_err()
                .to_string()
                .contains("NaN")
        );
    }

    #[test]
    fn floats_come_from_to_json_text() {
        assert_eq!(float_of::<f64>("1.5e+300").unwrap(), 1.5e300);
        assert_eq!(float_of::<f32>("0.1").unwrap(), 0.1f32);
        assert!(float_of::<f64>("\"NaN\"").unwrap().is_nan());
        assert_eq!(float_of::<f64>("\"-Infinity\"").unwrap(), f64::NEG_INFINITY);
    }
}
