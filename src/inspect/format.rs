//! One section's rows as text for `cat`: NDJSON (the row's JSON object, one per line) or CSV
//! (RFC 4180, a header row of the manifest's columns). Pure.
//!
//! CSV cannot say NULL, so it follows PostgreSQL's `COPY … (FORMAT csv)`: a NULL is an empty
//! unquoted field, an empty string is `""`, so `\copy t FROM 'f.csv' (FORMAT csv, HEADER)`
//! reads both back as they were. Written by hand because the `csv` crate writes an empty
//! field unquoted and cannot make that distinction.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

/// A row's columns as their exact JSON text: a numeric keeps every digit (parsing it into a
/// float would not), and nothing is decoded that is not printed.
pub type RawRow<'a> = BTreeMap<String, &'a RawValue>;

/// How `cat` prints rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RowFormat {
    /// One JSON object per line, exactly as archived
    #[default]
    Ndjson,
    /// RFC 4180 with a header row; NULL is an empty unquoted field, '' is ""
    Csv,
}

/// A row as one NDJSON line (without the newline). The archive's rows are compact JSON; a
/// row holding line breaks between tokens (an archive written by something else) has them
/// turned into spaces — JSON strings cannot hold a raw line break, so no value changes.
pub fn ndjson_line(json: &str) -> String {
    json.replace(['\n', '\r'], " ")
}

/// The CSV header line of `columns`.
pub fn csv_header(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| csv_quote(c, true))
        .collect::<Vec<_>>()
        .join(",")
}

/// A row as one CSV record (without the line end), fields in `columns` order. A column the
/// row lacks is NULL; json and array values are their JSON text.
pub fn csv_line(columns: &[String], json: &str) -> anyhow::Result<String> {
    let row: RawRow = serde_json::from_str(json)?;
    let mut fields = Vec::with_capacity(columns.len());
    for column in columns {
        fields.push(match row.get(column).map(|v| v.get()) {
            None | Some("null") => String::new(),
            Some(text) if text.starts_with('"') => {
                csv_quote(&serde_json::from_str::<String>(text)?, false)
            }
            Some(text) => csv_quote(text, false),
        });
    }
    Ok(fields.join(","))
}

/// RFC 4180 quoting; `""` for an empty string, which would otherwise read as NULL.
fn csv_quote(text: &str, header: bool) -> String {
    let needs = text.is_empty() && !header
        || text.contains([',', '"', '\n', '\r'])
        || text.starts_with(' ')
        || text.ends_with(' ');
    if needs {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_tells_null_from_empty_and_quotes_what_needs_it() {
        let columns: Vec<String> = ["id", "a", "b", "c", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let row = r#"{"id":12345678901234567890.123456789,"a":null,"b":"","c":"x, \"y\"\nz","d":{"k":[1,2]},"e":true}"#;
        assert_eq!(
            csv_line(&columns, row).unwrap(),
            "12345678901234567890.123456789,,\"\",\"x, \"\"y\"\"\nz\",\"{\"\"k\"\":[1,2]}\",true"
        );
        assert_eq!(csv_header(&columns), "id,a,b,c,d,e");
    }

    #[test]
    fn ndjson_stays_on_one_line() {
        assert_eq!(ndjson_line(r#"{"a":"x\ny"}"#), r#"{"a":"x\ny"}"#);
        assert_eq!(ndjson_line("{\"a\":\n1}"), r#"{"a": 1}"#);
    }
}
