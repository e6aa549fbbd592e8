//! Staging by `COPY … FROM STDIN` (text format): a batch of the archive's JSON rows turned
//! into COPY text on the client, for sections whose every column has a type whose input
//! function reads what `to_json` wrote. COPY skips the server's JSON parse and
//! `json_populate_recordset`, about half of the staging time on the benchmark. Sections with
//! any other type (arrays, composites, domains, enums, ranges…) stay on
//! `json_populate_recordset`: this module only answers whether a section can be copied and
//! writes the text. The values are still the archive's, untrusted: the server's input
//! functions refuse a bad one exactly as before, and the checks that follow are the same.

use std::collections::HashMap;

use serde_json::value::RawValue;

/// How one column's JSON value becomes COPY text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// json/jsonb: the value's JSON text, whatever it is (a JSON string stays quoted).
    Json,
    /// Every other copyable type: a string's contents, a number's or boolean's text.
    Scalar,
}

/// The copy layout of a section from its columns' types (`format_type` text), or `None`
/// when a type is not known to take `to_json`'s text as input (or there is no column:
/// COPY cannot name none).
pub fn layout(types: &[String]) -> Option<Vec<Field>> {
    if types.is_empty() {
        return None;
    }
    types.iter().map(|t| field(t)).collect()
}

fn field(type_name: &str) -> Option<Field> {
    // `numeric(14,4)`, `character varying(40)`, `timestamp(3) with time zone`: the base name.
    let base = match type_name.split_once('(') {
        Some((head, tail)) => format!("{head}{}", tail.split_once(')')?.1),
        None => type_name.to_string(),
    };
    match base.as_str() {
        "json" | "jsonb" => Some(Field::Json),
        "text"
        | "character varying"
        | "character"
        | "bigint"
        | "integer"
        | "smallint"
        | "numeric"
        | "real"
        | "double precision"
        | "boolean"
        | "uuid"
        | "bytea"
        | "date"
        | "timestamp with time zone"
        | "timestamp without time zone"
        | "time without time zone"
        | "time with time zone"
        | "interval"
        | "inet"
        | "cidr" => Some(Field::Scalar),
        _ => None,
    }
}

/// COPY text of a batch (a JSON array of row objects): one line per row, `columns` in
/// order, a key the row lacks or a JSON null as `\N` (as `json_populate_recordset` reads
/// them).
pub fn copy_text(batch: &str, columns: &[String], fields: &[Field]) -> Result<Vec<u8>, String> {
    let rows: Vec<HashMap<String, &RawValue>> = serde_json::from_str(batch)
        .map_err(|e| format!("a row is not a JSON object of values: {e}"))?;
    let mut out = Vec::with_capacity(batch.len() + batch.len() / 8);
    for row in &rows {
        for (n, (column, field)) in columns.iter().zip(fields).enumerate() {
            if n > 0 {
                out.push(b'\t');
            }
            match row.get(column).map(|v| v.get()) {
                None | Some("null") => out.extend_from_slice(b"\\N"),
                Some(raw) if *field == Field::Scalar && raw.starts_with('"') => {
                    let text: String =
                        serde_json::from_str(raw).map_err(|e| format!("column {column}: {e}"))?;
                    escape(&text, &mut out);
                }
                Some(raw) => escape(raw, &mut out),
            }
        }
        out.push(b'\n');
    }
    Ok(out)
}

/// COPY text escapes: backslash and the row and column delimiters.
fn escape(text: &str, out: &mut Vec<u8>) {
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_types_that_read_to_json_text_are_copied() {
        let ok = names(&[
            "bigint",
            "numeric(14,4)",
            "timestamp(3) with time zone",
            "jsonb",
        ]);
        assert_eq!(
            layout(&ok),
            Some(vec![
                Field::Scalar,
                Field::Scalar,
                Field::Scalar,
                Field::Json
            ])
        );
        for other in [
            "integer[]",
            "mood",
            "int4range",
            "public.address",
            "tsvector",
        ] {
            assert_eq!(layout(&names(&["bigint", other])), None, "{other}");
        }
    }

    #[test]
    fn values_become_escaped_copy_text() {
        let batch = r#"[{"id":1,"note":"a\tb\nc\\d","doc":{"k":"v\n"},"s":"x","gone":null},
                        {"id":2}]"#;
        let text = copy_text(
            batch,
            &names(&["id", "note", "doc", "s", "gone"]),
            &[
                Field::Scalar,
                Field::Scalar,
                Field::Json,
                Field::Json,
                Field::Scalar,
            ],
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "1\ta\\tb\\nc\\\\d\t{\"k\":\"v\\\\n\"}\t\"x\"\t\\N\n2\t\\N\t\\N\t\\N\t\\N\n"
        );
    }

    #[test]
    fn a_row_that_is_not_an_object_is_refused() {
        assert!(copy_text("[1]", &names(&["id"]), &[Field::Scalar]).is_err());
    }
}
