//! The archive's JSON rows as `COPY … FROM STDIN` text (issue 19 item 8): a batch (a JSON
//! array of row objects, as the reader hands it over) becomes one line per row with the
//! section's columns in order, written in one walk over the JSON text — no value tree, no map
//! per row, buffers reused. Each value is written as the text `json_populate_recordset` would
//! hand the column's input function (PostgreSQL's documented rules): a string's contents, any
//! other value's JSON text, a JSON array of an array column as an array literal, json/jsonb
//! as the value's JSON text, null or a missing key as `\N`; when a key appears twice the last
//! one counts. So the server's own input functions still judge every value: nothing here
//! trusts the archive. Which columns may be written so (their types) is decided by
//! `direct.rs` from the target's catalog; this file only writes the text, and refuses
//! (rather than guesses) anything it does not read plainly — the caller then falls back to
//! `json_populate_recordset`.

use std::collections::HashMap;

/// How one column's JSON value becomes COPY text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// json/jsonb: the value's JSON text as the archive holds it.
    Json,
    /// Any type read by its input function from a string's contents or a value's text.
    Scalar,
    /// An array of scalars (delimiter `,`): a JSON array becomes `{…}`, anything else reads as
    /// a scalar would.
    Array,
}

/// A section's columns, in the order of its `COPY (…)` list, and how each is written.
#[derive(Debug, Clone)]
pub struct Layout {
    fields: Vec<Field>,
    index: HashMap<String, usize>,
}

/// PostgreSQL truncates longer object keys to NAMEDATALEN - 1 when it matches them to
/// columns: such a key is refused rather than matched differently.
const MAX_KEY_BYTES: usize = 63;

impl Layout {
    /// `None` when there is no column (COPY cannot name none).
    pub fn new(columns: &[String], fields: Vec<Field>) -> Option<Layout> {
        if columns.is_empty() || columns.len() != fields.len() {
            return None;
        }
        let index = columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i))
            .collect();
        Some(Layout { fields, index })
    }
}

/// Reusable buffers for [`convert`]: one per loader, kept across batches.
#[derive(Debug, Default)]
pub struct Scratch {
    slots: Vec<Option<(usize, usize)>>,
    key: Vec<u8>,
    array: Vec<u8>,
}

/// Appends the COPY text of `batch` (`[{…},{…}]`) to `out`.
pub fn convert(
    batch: &str,
    layout: &Layout,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let mut walk = Walk {
        s: batch.as_bytes(),
        at: 0,
    };
    walk.expect(b'[')?;
    if walk.peek() == Some(b']') {
        return Ok(());
    }
    loop {
        row(&mut walk, layout, scratch, out)?;
        match walk.next_byte()? {
            b',' => continue,
            b']' => return Ok(()),
            other => return Err(unexpected(other)),
        }
    }
}

/// One row object: the span of each column's value, then the line.
fn row(
    walk: &mut Walk,
    layout: &Layout,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    scratch.slots.clear();
    scratch.slots.resize(layout.fields.len(), None);
    walk.expect(b'{')?;
    if walk.peek() != Some(b'}') {
        loop {
            let (start, end, escaped) = walk.string()?;
            let name = if escaped {
                scratch.key.clear();
                unescape(&walk.s[start..end], &mut scratch.key, Plain)?;
                &scratch.key[..]
            } else {
                &walk.s[start..end]
            };
            if name.len() > MAX_KEY_BYTES {
                return Err("a row has a key longer than any column name".into());
            }
            let column = std::str::from_utf8(name)
                .ok()
                .and_then(|n| layout.index.get(n).copied());
            walk.expect(b':')?;
            let value = walk.value()?;
            if let Some(i) = column {
                scratch.slots[i] = Some(value);
            }
            match walk.next_byte()? {
                b',' => continue,
                b'}' => break,
                other => return Err(unexpected(other)),
            }
        }
    } else {
        walk.at += 1;
    }
    for (i, field) in layout.fields.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        let Some((start, end)) = scratch.slots[i] else {
            out.extend_from_slice(b"\\N");
            continue;
        };
        let raw = &walk.s[start..end];
        match (raw[0], field) {
            (b'n', _) => out.extend_from_slice(b"\\N"),
            (b'"', Field::Scalar | Field::Array) => {
                unescape(&raw[1..raw.len() - 1], out, CopyText)?;
            }
            (b'[', Field::Array) => {
                scratch.array.clear();
                array_literal(raw, &mut scratch.array)?;
                escape_copy(&scratch.array, out);
            }
            _ => escape_copy(raw, out),
        }
    }
    out.push(b'\n');
    Ok(())
}

/// A JSON array of scalars (or of such arrays) as a PostgreSQL array literal: every element
/// quoted, null as `NULL`. An empty inner array is refused: the two readers disagree on it.
fn array_literal(raw: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    let mut walk = Walk { s: raw, at: 0 };
    array_into(&mut walk, out)
}

fn array_into(walk: &mut Walk, out: &mut Vec<u8>) -> Result<(), String> {
    walk.expect(b'[')?;
    out.push(b'{');
    if walk.peek() == Some(b']') {
        walk.at += 1;
        out.push(b'}');
        return Ok(());
    }
    let mut first = true;
    loop {
        if !first {
            out.push(b',');
        }
        first = false;
        match walk.peek() {
            Some(b'[') => {
                let mark = out.len();
                array_into(walk, out)?;
                if out.len() == mark + 2 {
                    return Err("an array holds an empty array".into());
                }
            }
            Some(b'"') => {
                let (start, end, _) = walk.string()?;
                out.push(b'"');
                unescape(&walk.s[start..end], out, Quoted)?;
                out.push(b'"');
            }
            Some(b'n') => {
                walk.value()?;
                out.extend_from_slice(b"NULL");
            }
            Some(b'{') => return Err("an array holds an object".into()),
            _ => {
                let (start, end) = walk.value()?;
                out.push(b'"');
                out.extend_from_slice(&walk.s[start..end]);
                out.push(b'"');
            }
        }
        match walk.next_byte()? {
            b',' => continue,
            b']' => break,
            other => return Err(unexpected(other)),
        }
    }
    out.push(b'}');
    Ok(())
}

/// COPY text escapes: backslash and the row and column delimiters.
fn escape_copy(text: &[u8], out: &mut Vec<u8>) {
    for &b in text {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// Where a JSON string's contents go: as they are, as COPY text, or inside a double-quoted
/// array element.
#[derive(Clone, Copy)]
enum Target {
    Plain,
    CopyText,
    Quoted,
}
use Target::{CopyText, Plain, Quoted};

/// Decodes a JSON string's contents (between the quotes) into `out`, escaped for `target`.
/// COPY text and JSON share `\\ \b \f \n \r \t`, so those are written through as they are.
fn unescape(content: &[u8], out: &mut Vec<u8>, target: Target) -> Result<(), String> {
    let mut i = 0;
    while i < content.len() {
        let run = content[i..]
            .iter()
            .position(|&b| b == b'\\' || b < 0x20 || (b == b'"' && matches!(target, Quoted)))
            .unwrap_or(content.len() - i);
        out.extend_from_slice(&content[i..i + run]);
        i += run;
        let Some(&b) = content.get(i) else { break };
        if b == b'"' {
            out.extend_from_slice(b"\\\"");
            i += 1;
            continue;
        }
        if b < 0x20 {
            return Err("a string holds a raw control character".into());
        }
        let Some(&e) = content.get(i + 1) else {
            return Err("a string ends in a lone backslash".into());
        };
        i += 2;
        let c = match e {
            b'"' => '"',
            b'/' => '/',
            b'\\' => '\\',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let (c, used) = unicode_escape(&content[i..])?;
                i += used;
                c
            }
            _ => return Err("a string holds an unknown escape".into()),
        };
        push_char(c, out, target);
    }
    Ok(())
}

fn push_char(c: char, out: &mut Vec<u8>, target: Target) {
    match (target, c) {
        (CopyText, '\\') => out.extend_from_slice(b"\\\\"),
        (CopyText, '\u{8}') => out.extend_from_slice(b"\\b"),
        (CopyText, '\u{c}') => out.extend_from_slice(b"\\f"),
        (CopyText, '\n') => out.extend_from_slice(b"\\n"),
        (CopyText, '\r') => out.extend_from_slice(b"\\r"),
        (CopyText, '\t') => out.extend_from_slice(b"\\t"),
        (Quoted, '\\' | '"') => {
            out.push(b'\\');
            out.push(c as u8);
        }
        _ => {
            let mut utf8 = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
        }
    }
}

/// `XXXX` after `\u` (and a low surrogate's `\uXXXX` after a high one): the character and the
/// bytes used. U+0000 and lone surrogates are refused, as PostgreSQL refuses them in text.
fn unicode_escape(s: &[u8]) -> Result<(char, usize), String> {
    let hex = |at: usize| -> Result<u32, String> {
        let digits = s.get(at..at + 4).ok_or("a short \\u escape")?;
        let text = std::str::from_utf8(digits).map_err(|_| "a bad \\u escape")?;
        u32::from_str_radix(text, 16).map_err(|_| "a bad \\u escape".to_string())
    };
    let high = hex(0)?;
    let (code, used) = match high {
        0xD800..=0xDBFF if s.get(4..6) == Some(b"\\u") => {
            let low = hex(6)?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return Err("a lone surrogate in a \\u escape".into());
            }
            (0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00), 10)
        }
        _ => (high, 4),
    };
    match char::from_u32(code) {
        Some(c) if code != 0 => Ok((c, used)),
        _ => Err("a \\u escape PostgreSQL does not take in text".into()),
    }
}

fn unexpected(b: u8) -> String {
    format!("unexpected {:?} in a row", b as char)
}

/// A cursor over JSON text the reader has already checked; still refuses, never panics,
/// on text that is not what it expects.
struct Walk<'a> {
    s: &'a [u8],
    at: usize,
}

impl Walk<'_> {
    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_space();
        self.s.get(self.at).copied()
    }

    fn next_byte(&mut self) -> Result<u8, String> {
        let b = self.peek().ok_or("a row ends early")?;
        self.at += 1;
        Ok(b)
    }

    fn expect(&mut self, want: u8) -> Result<(), String> {
        match self.next_byte()? {
            b if b == want => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// A string at the cursor: its contents' span and whether it holds escapes.
    fn string(&mut self) -> Result<(usize, usize, bool), String> {
        self.expect(b'"')?;
        let start = self.at;
        let mut escaped = false;
        loop {
            let run = self.s[self.at..]
                .iter()
                .position(|&b| b == b'"' || b == b'\\')
                .ok_or("a string does not end")?;
            self.at += run;
            if self.s[self.at] == b'"' {
                self.at += 1;
                return Ok((start, self.at - 1, escaped));
            }
            if self.at + 1 >= self.s.len() {
                return Err("a string ends in a lone backslash".into());
            }
            escaped = true;
            self.at += 2;
        }
    }

    /// Any value at the cursor: its span.
    fn value(&mut self) -> Result<(usize, usize), String> {
        let first = self.peek().ok_or("a row ends early")?;
        let start = self.at;
        match first {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.s.get(self.at).ok_or("a value does not end")? {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth -= 1;
                            if depth == 0 {
                                self.at += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    self.at += 1;
                }
            }
            _ => {
                let run = self.s[self.at..]
                    .iter()
                    .position(|b| matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                    .unwrap_or(self.s.len() - self.at);
                if run == 0 {
                    return Err(unexpected(first));
                }
                self.at += run;
            }
        }
        Ok((start, self.at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(columns: &[&str], fields: &[Field]) -> Layout {
        let names: Vec<String> = columns.iter().map(|s| s.to_string()).collect();
        Layout::new(&names, fields.to_vec()).unwrap()
    }

    fn text(batch: &str, layout: &Layout) -> Result<String, String> {
        let mut out = Vec::new();
        convert(batch, layout, &mut Scratch::default(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn values_become_escaped_copy_text() {
        use Field::*;
        let l = layout(
            &["id", "note", "doc", "s", "gone", "flag"],
            &[Scalar, Scalar, Json, Json, Scalar, Scalar],
        );
        let batch = r#"[{"id":1,"note":"a\tb\nc\\d\"e\/\u00e9\ud83d\ude00\u0007","doc":{"k":"v\n", "a" : [1,2]},"s":"x","gone":null,"flag":true},
                        {"id":2, "other": {"x": "}"}},{}]"#;
        assert_eq!(
            text(batch, &l).unwrap(),
            "1\ta\\tb\\nc\\\\d\"e/é😀\u{7}\t{\"k\":\"v\\\\n\", \"a\" : [1,2]}\t\"x\"\t\\N\ttrue\n\
             2\t\\N\t\\N\t\\N\t\\N\t\\N\n\
             \\N\t\\N\t\\N\t\\N\t\\N\t\\N\n"
        );
    }

    #[test]
    fn the_last_of_twice_named_keys_counts_and_escaped_keys_match() {
        let l = layout(&["id", "a\"b"], &[Field::Scalar, Field::Scalar]);
        let batch = r#"[{"id":1,"id":2,"a\"b":"x","a\u0022b":"y"}]"#;
        assert_eq!(text(batch, &l).unwrap(), "2\ty\n");
    }

    #[test]
    fn arrays_become_array_literals() {
        let l = layout(&["a"], &[Field::Array]);
        let cases = [
            (r#"[1,null,3]"#, r#"{"1",NULL,"3"}"#),
            (
                r#"["a b","c\"d","e\\f",null,"NULL"]"#,
                r#"{"a b","c\\"d","e\\\\f",NULL,"NULL"}"#,
            ),
            (r#"[[1,2],[3,4]]"#, r#"{{"1","2"},{"3","4"}}"#),
            (r#"[]"#, r#"{}"#),
            (r#""{1,2}""#, r#"{1,2}"#),
        ];
        for (json, want) in cases {
            let got = text(&format!(r#"[{{"a":{json}}}]"#), &l).unwrap();
            assert_eq!(got, format!("{want}\n"), "{json}");
        }
        for refused in [r#"[[]]"#, r#"[{"x":1}]"#] {
            assert!(
                text(&format!(r#"[{{"a":{refused}}}]"#), &l).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn text_postgresql_would_refuse_is_refused_not_written() {
        let l = layout(&["a"], &[Field::Scalar]);
        for bad in [
            r#"[{"a":"\u0000"}]"#,
            r#"[{"a":"\ud800"}]"#,
            r#"[{"a":"\ud800\u0041"}]"#,
            "[{\"a\":\"raw\ttab\"}]",
            r#"[{"a":"x"]"#,
            r#"[1]"#,
            r#"[{"a" 1}]"#,
            r#"[{"a":1"#,
        ] {
            assert!(text(bad, &l).is_err(), "{bad}");
        }
        let long = format!(r#"[{{"{}":1}}]"#, "k".repeat(64));
        assert!(text(&long, &l).is_err());
    }
}
