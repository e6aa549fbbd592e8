//! Cutting secrets out of JSON values (DESIGN §3): object members whose key is a secret name
//! are removed at any depth, byte-exact otherwise. Strings that themselves hold JSON (or
//! xml) are opened and redacted the same way. Names are judged by the parent module.

use super::{content, is_secret_name, xml};

/// Lowercase fragments that every secret name contains one of: a value whose text holds none
/// of them has no secret key, and is copied without parsing.
const FRAGMENTS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "hmac",
    "salt",
    "otp",
    "credential",
    "jwt",
    "bearer",
    "cookie",
    "encrypted",
    "ciphertext",
    "code",
    "seed",
    "pin",
    "dsn",
    "auth",
    "ssh",
];

/// One case-insensitive pass over the value for all fragments and all credential markers
/// (this runs on every json value exported, so it must cost next to nothing: a DFA, one
/// table lookup per byte; the default automaton, an NFA without a prefilter for
/// case-insensitive patterns, took a fifth of the client's CPU on the big benchmark).
pub fn may_hold_secret_key(json: &[u8]) -> bool {
    static MATCHER: std::sync::LazyLock<aho_corasick::AhoCorasick> =
        std::sync::LazyLock::new(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build(FRAGMENTS.iter().chain(content::MARKERS))
                .expect("fixed patterns")
        });
    MATCHER.is_match(json)
}

/// Whether [`redact_json`] could change this rendered value: a JSON string (a text column's
/// value) is only opened when it holds JSON or xml (see `redact_nested`), so most text is
/// passed without the scan for fragments.
pub fn may_need_redaction(rendered: &[u8]) -> bool {
    if let Some(inner) = rendered.strip_prefix(b"\"") {
        let first = inner.iter().find(|b| !b.is_ascii_whitespace());
        if !matches!(first, Some(b'{' | b'[' | b'<')) {
            return false;
        }
    }
    may_hold_secret_key(rendered)
}

/// Copies a JSON text to `out`, leaving out every object member whose key is a secret name, at
/// any depth. Everything else is copied byte for byte, so PostgreSQL's rendering (jsonb's
/// normalized text, json's original spacing) is kept. Removed keys are added to `removed`
/// (deduplicated). Input that is not valid JSON is copied as is.
pub fn redact_json(json: &[u8], out: &mut Vec<u8>, removed: &mut Vec<String>) {
    rewrite(json, out, removed, |scanner| scanner.value());
}

/// Like [`redact_json`] for a whole row rendered by the server (`row_to_json`): only the
/// values of the top-level members named in `columns` are redacted; the row's own keys are
/// column names and stay.
pub fn redact_json_members(
    row: &[u8],
    columns: &[String],
    out: &mut Vec<u8>,
    removed: &mut Vec<String>,
) {
    rewrite(row, out, removed, |scanner| scanner.members(columns));
}

/// Runs `scan` over `json` into `out` unless the prefilter says nothing can be redacted;
/// input the scanner does not understand is copied as is.
fn rewrite(
    json: &[u8],
    out: &mut Vec<u8>,
    removed: &mut Vec<String>,
    scan: impl FnOnce(&mut Scanner<'_>) -> Option<()>,
) {
    if !may_need_redaction(json) {
        out.extend_from_slice(json);
        return;
    }
    let start = out.len();
    let mut scanner = Scanner {
        input: json,
        at: 0,
        out,
        removed,
    };
    let end = scan(&mut scanner).map(|()| scanner.at);
    match end {
        Some(end) => out.extend_from_slice(&json[end..]),
        None => {
            out.truncate(start);
            out.extend_from_slice(json);
        }
    }
}

struct Scanner<'a> {
    input: &'a [u8],
    at: usize,
    out: &'a mut Vec<u8>,
    removed: &'a mut Vec<String>,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.at).copied()
    }

    /// Copies whitespace.
    fn ws(&mut self) {
        while let Some(b) = self.peek().filter(u8::is_ascii_whitespace) {
            self.out.push(b);
            self.at += 1;
        }
    }

    /// Skips whitespace without copying it.
    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    /// The extent of the value starting at `at` (after whitespace), without copying it.
    fn skip_value(&mut self) -> Option<()> {
        let mut sink = Vec::new();
        let mut removed = Vec::new();
        let mut inner = Scanner {
            input: self.input,
            at: self.at,
            out: &mut sink,
            removed: &mut removed,
        };
        inner.value()?;
        self.at = inner.at;
        Some(())
    }

    fn value(&mut self) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string_value(),
            _ => {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
                {
                    self.at += 1;
                }
                if self.at == start {
                    return None;
                }
                self.out.extend_from_slice(&self.input[start..self.at]);
                Some(())
            }
        }
    }

    /// Copies a string value; one that itself holds JSON (or xml) is redacted inside and
    /// written again, re-escaped, when anything was cut out of it.
    fn string_value(&mut self) -> Option<()> {
        let start = self.at;
        let raw = self.skip_string()?;
        let input = self.input;
        match redact_nested(raw, self.removed) {
            Some(rewritten) => self.out.extend_from_slice(&rewritten),
            None => self.out.extend_from_slice(&input[start..self.at]),
        }
        Some(())
    }

    /// Whether the value after `: ` (not consumed) is a string holding a credential by its
    /// content (`"database_url": "postgres://u:pw@h/db"`, `"value": "Bearer eyJ…"`).
    fn member_value_is_credential(&self, key: &str) -> bool {
        let mut at = self.at;
        let skip = |at: &mut usize| {
            while self.input.get(*at).is_some_and(|b| b.is_ascii_whitespace()) {
                *at += 1;
            }
        };
        skip(&mut at);
        if self.input.get(at) != Some(&b':') {
            return false;
        }
        at += 1;
        skip(&mut at);
        if self.input.get(at) != Some(&b'"') {
            return false;
        }
        let mut end = at + 1;
        while let Some(&b) = self.input.get(end) {
            match b {
                b'"' => break,
                b'\\' => end += 2,
                _ => end += 1,
            }
        }
        let Some(raw) = self.input.get(at + 1..end) else {
            return false;
        };
        content::member_is_secret(key, &unescape(raw))
    }

    /// Copies a string; returns its raw (still escaped) contents.
    fn string(&mut self) -> Option<&[u8]> {
        let start = self.at;
        let raw = self.skip_string()?;
        let input = self.input;
        self.out.extend_from_slice(&input[start..self.at]);
        Some(raw)
    }

    /// Moves past a string without copying it; returns its raw (still escaped) contents.
    fn skip_string(&mut self) -> Option<&'a [u8]> {
        let start = self.at;
        self.at += 1;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => self.at += 2,
                _ => self.at += 1,
            }
        }
        self.at += 1;
        let input = self.input;
        Some(&input[start + 1..self.at - 1])
    }

    fn array(&mut self) -> Option<()> {
        self.out.push(b'[');
        self.at += 1;
        self.ws();
        if self.peek()? == b']' {
            self.out.push(b']');
            self.at += 1;
            return Some(());
        }
        loop {
            self.value()?;
            self.ws();
            match self.peek()? {
                b',' => {
                    self.out.push(b',');
                    self.at += 1;
                }
                b']' => {
                    self.out.push(b']');
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A top-level object whose members named in `columns` are redacted, the rest copied.
    fn members(&mut self, columns: &[String]) -> Option<()> {
        self.ws();
        if self.peek()? != b'{' {
            return None;
        }
        self.out.push(b'{');
        self.at += 1;
        loop {
            self.ws();
            match self.peek()? {
                b'}' => {
                    self.out.push(b'}');
                    self.at += 1;
                    return Some(());
                }
                b'"' => {}
                _ => return None,
            }
            let key = unescape(self.string()?);
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.out.push(b':');
            self.at += 1;
            if columns.contains(&key) {
                self.value()?;
            } else {
                self.ws();
                let start = self.at;
                self.skip_value()?;
                self.out.extend_from_slice(&self.input[start..self.at]);
            }
            self.ws();
            match self.peek()? {
                b',' => {
                    self.out.push(b',');
                    self.at += 1;
                }
                b'}' => {}
                _ => return None,
            }
        }
    }

    fn object(&mut self) -> Option<()> {
        self.out.push(b'{');
        self.at += 1;
        let mut kept = 0usize;
        let mut skipped_any = false;
        loop {
            // Whitespace before a member is copied only with a kept member.
            let ws_start = self.at;
            self.skip_ws();
            match self.peek()? {
                b'}' => {
                    self.out.extend_from_slice(&self.input[ws_start..self.at]);
                    self.out.push(b'}');
                    self.at += 1;
                    return Some(());
                }
                b'"' => {}
                _ => return None,
            }
            // Read the key without copying it yet.
            let key_start = self.at;
            let key = unescape(self.skip_string()?);
            // `: value`
            let secret = is_secret_name(&key) || self.member_value_is_credential(&key);
            if secret {
                self.skip_ws();
                if self.peek()? != b':' {
                    return None;
                }
                self.at += 1;
                self.skip_value()?;
                self.skip_ws();
                if !self.removed.contains(&key) {
                    self.removed.push(key);
                }
                skipped_any = true;
                match self.peek()? {
                    b',' => self.at += 1,
                    b'}' => {}
                    _ => return None,
                }
                continue;
            }
            if kept > 0 {
                self.out.push(b',');
            }
            // `{"token": 1, "k": 2}` → `{"k": 2}`, not `{ "k": 2}`.
            if kept > 0 || !skipped_any {
                self.out.extend_from_slice(&self.input[ws_start..key_start]);
            }
            kept += 1;
            self.out.extend_from_slice(&self.input[key_start..self.at]);
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.out.push(b':');
            self.at += 1;
            self.value()?;
            self.ws();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {}
                _ => return None,
            }
        }
    }
}

/// A string holding JSON (`"{\\"password\\": …}"`) or xml, redacted: the new JSON string, or
/// `None` when nothing was cut out (the original bytes are kept).
fn redact_nested(raw: &[u8], removed: &mut Vec<String>) -> Option<Vec<u8>> {
    let first = *raw.iter().find(|b| !b.is_ascii_whitespace())?;
    if !matches!(first, b'{' | b'[' | b'<') || !may_hold_secret_key(raw) {
        return None;
    }
    let text = unescape(raw);
    let redacted = if first == b'<' {
        xml::redact_xml(&text, removed)?
    } else {
        let mut out = Vec::with_capacity(text.len());
        redact_json(text.as_bytes(), &mut out, removed);
        let out = String::from_utf8(out).ok()?;
        if out == text {
            return None;
        }
        out
    };
    serde_json::to_vec(&redacted).ok()
}

/// A JSON string's contents, unescaped (lossy for invalid escapes: names only).
fn unescape(raw: &[u8]) -> String {
    let quoted = [b"\"".as_slice(), raw, b"\""].concat();
    serde_json::from_slice::<String>(&quoted)
        .unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacted(json: &str) -> (String, Vec<String>) {
        let mut out = Vec::new();
        let mut removed = Vec::new();
        redact_json(json.as_bytes(), &mut out, &mut removed);
        (String::from_utf8(out).unwrap(), removed)
    }

    #[test]
    fn json_keys_are_removed_at_any_depth_and_the_rest_is_byte_exact() {
        let (out, removed) = redacted(
            r#"{"a": 1, "smtp": {"host": "h", "password": "p\"w"}, "access_token": [1, {"x": 2}], "list": [{"apiKey": "k"}, 3]}"#,
        );
        assert_eq!(out, r#"{"a": 1, "smtp": {"host": "h"}, "list": [{}, 3]}"#);
        assert_eq!(removed, ["password", "access_token", "apiKey"]);
        let (out, _) = redacted(r#"{"token":"t","b":2}"#);
        assert_eq!(out, r#"{"b":2}"#);
        let (out, _) = redacted(r#"{"b":2,"secret":{"x":[1,2]}}"#);
        assert_eq!(out, r#"{"b":2}"#);
        let (out, removed) = redacted(r#"{"keyboard": "qwerty", "n": 1.50e3}"#);
        assert_eq!(out, r#"{"keyboard": "qwerty", "n": 1.50e3}"#);
        assert!(removed.is_empty());
        let (out, _) = redacted(r#"["password", "token"]"#);
        assert_eq!(out, r#"["password", "token"]"#, "values are not keys");
        let (out, _) = redacted("{\"pass\\u0077ord\": 1, \"k\": null}");
        assert_eq!(
            out, r#"{"k": null}"#,
            "escaped key names are unescaped first"
        );
    }

    #[test]
    fn new_words_odd_cases_and_credentials_by_value_are_removed() {
        let (out, removed) = redacted(
            r#"{"pAsSwOrD": 1, "Pass_Word": 2, "pass word": 3, "pass": 4, "sshKey": 5, "dsn": 6, "Authorization": "Bearer x", "pin": 7, "pass_rate": 0.5, "keep": "k"}"#,
        );
        assert_eq!(out, r#"{"pass_rate": 0.5, "keep": "k"}"#);
        assert_eq!(removed.len(), 8, "{removed:?}");
        let (out, removed) = redacted(
            r#"{"database_url": "postgres://u:pw@h/db", "home": "https://example.com", "note": "sk_live_51Habcdefghijklmnop", "auth": "kx8Q2mZr7VbN4pLs9TcW1yHd6FgJ3aEo"}"#,
        );
        assert_eq!(out, r#"{"home": "https://example.com"}"#);
        assert_eq!(removed, ["database_url", "note", "auth"]);
    }

    #[test]
    fn strings_holding_json_or_xml_are_redacted_inside() {
        let (out, removed) =
            redacted(r#"{"config": "{\"host\":\"h\",\"password\":\"p\"}", "n": 1}"#);
        assert_eq!(out, r#"{"config": "{\"host\":\"h\"}", "n": 1}"#);
        assert_eq!(removed, ["password"]);
        let (out, removed) = redacted(r#""{\"token\": \"t\", \"a\": 1}""#);
        assert_eq!(out, r#""{\"a\": 1}""#, "a top-level string (a text column)");
        assert_eq!(removed, ["token"]);
        let (out, removed) = redacted(r#""<cfg><user>u</user><password>p</password></cfg>""#);
        assert_eq!(out, r#""<cfg><user>u</user></cfg>""#);
        assert_eq!(removed, ["password"]);
        let (out, removed) = redacted(r#""[draft] a title with a password in prose""#);
        assert_eq!(out, r#""[draft] a title with a password in prose""#);
        assert!(removed.is_empty());
    }

    #[test]
    fn server_rows_are_redacted_only_inside_the_named_columns() {
        let row =
            r#"{"id":1,"token_count":5,"settings":{"apiKey":"k","x":[1]},"other":{"token":"t"}}"#;
        let mut out = Vec::new();
        let mut removed = Vec::new();
        redact_json_members(
            row.as_bytes(),
            &["settings".to_string()],
            &mut out,
            &mut removed,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":1,"token_count":5,"settings":{"x":[1]},"other":{"token":"t"}}"#
        );
        assert_eq!(removed, ["apiKey"]);
    }
}
