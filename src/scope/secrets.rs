//! The secret policy of DESIGN §3: which columns never leave the database, and which keys are
//! cut out of json/jsonb values. Names are judged by their *words* — `privateKey`,
//! `private_key` and `PRIVATE-KEY` are the same two words; `carbon_footprint` holds no "otp" —
//! and columns by their *type* too: only text-like columns can hold a secret, so a
//! `personal_access_token_id bigint` or a `token_enabled boolean` is kept.
//!
//! Pure functions; the configured globs (`exclude_columns`, `allow_columns`) are applied by
//! `rules.rs`, which knows the qualified names.

/// Single words that make a name secret (compared after [`singular`]).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "hmac",
    "salt",
    "otp",
    "totp",
    "credential",
    "jwt",
    "bearer",
    "cookie",
    "encrypted",
    "ciphertext",
];

/// Two-word phrases that make a name secret (consecutive words, compared after [`singular`]).
const SECRET_PHRASES: &[(&str, &str)] = &[
    ("api", "key"),
    ("private", "key"),
    ("signing", "key"),
    ("encryption", "key"),
    ("access", "key"),
    ("session", "key"),
    ("mfa", "secret"),
    ("mfa", "seed"),
    ("backup", "code"),
    ("recovery", "code"),
];

/// Words that make a *table* hold secrets, besides the column words (`sessions`).
const SECRET_TABLE_WORDS: &[&str] = &["session"];

/// In a table whose name is secret, columns with one of these words hold the secret itself.
const SECRET_TABLE_COLUMN_WORDS: &[&str] = &["value", "key", "hash", "hashed", "digest", "data"];

/// Splits a name into lowercase words at `_`, `-`, spaces, dots, case changes (`privateKey`,
/// `APIKey` → api, key) and letter/digit boundaries (`oauth2Token` → oauth, 2, token).
pub fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() {
            let prev = chars[i - 1];
            let next = chars.get(i + 1).copied();
            let boundary = (prev.is_lowercase() && c.is_uppercase())
                || (prev.is_alphabetic() && c.is_numeric())
                || (prev.is_numeric() && c.is_alphabetic())
                // "APIKey": the K starts a word when a lowercase letter follows it.
                || (prev.is_uppercase()
                    && c.is_uppercase()
                    && next.is_some_and(|n| n.is_lowercase()));
            if boundary {
                words.push(std::mem::take(&mut current));
            }
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Plural to singular, for the words we compare: `tokens`, `keys`, `codes`, `cookies`,
/// `credentials`, `passwords`. Not English in general, enough for the lists above.
fn singular(word: &str) -> &str {
    if word.len() > 3 && !word.ends_with("ss") {
        word.strip_suffix('s').unwrap_or(word)
    } else {
        word
    }
}

/// Whether a name is secret by its words alone (DESIGN §3), whatever its type.
pub fn is_secret_name(name: &str) -> bool {
    let words = words(name);
    let words: Vec<&str> = words.iter().map(|w| singular(w)).collect();
    words.iter().any(|w| SECRET_WORDS.contains(w))
        || words
            .windows(2)
            .any(|pair| SECRET_PHRASES.contains(&(pair[0], pair[1])))
}

/// Whether a table's own name says it holds secrets (`api_keys`, `oauth_tokens`, `sessions`).
pub fn is_secret_table(name: &str) -> bool {
    is_secret_name(name)
        || words(name)
            .iter()
            .any(|w| SECRET_TABLE_WORDS.contains(&singular(w)))
}

/// Whether a column is a secret by the rules of DESIGN §3 (config globs aside): a text-like
/// column whose name is secret, or, in a secret table, whose name has a value-like word.
pub fn is_secret_column(table: &str, column: &str, text_like: bool) -> bool {
    if !text_like {
        return false;
    }
    is_secret_name(column)
        || (is_secret_table(table)
            && words(column)
                .iter()
                .any(|w| SECRET_TABLE_COLUMN_WORDS.contains(&singular(w))))
}

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
];

/// One case-insensitive pass over the value for all fragments (this runs on every json value
/// exported, so it must cost next to nothing).
pub fn may_hold_secret_key(json: &[u8]) -> bool {
    static MATCHER: std::sync::LazyLock<aho_corasick::AhoCorasick> =
        std::sync::LazyLock::new(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build(FRAGMENTS)
                .expect("fixed patterns")
        });
    MATCHER.is_match(json)
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
    if !may_hold_secret_key(json) {
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
            b'"' => self.string().map(|_| ()),
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
            let secret = is_secret_name(&key);
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

/// A JSON string's contents, unescaped (lossy for invalid escapes: names only).
fn unescape(raw: &[u8]) -> String {
    let quoted = [b"\"".as_slice(), raw, b"\""].concat();
    serde_json::from_slice::<String>(&quoted)
        .unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_words_across_conventions() {
        assert_eq!(words("privateKey"), ["private", "key"]);
        assert_eq!(words("PRIVATE-KEY"), ["private", "key"]);
        assert_eq!(words("private_key"), ["private", "key"]);
        assert_eq!(words("APIKey"), ["api", "key"]);
        assert_eq!(words("oauth2Token"), ["oauth", "2", "token"]);
        assert_eq!(
            words("twoFactorBackupCodes"),
            ["two", "factor", "backup", "codes"]
        );
        assert_eq!(words("carbon_footprint"), ["carbon", "footprint"]);
    }

    #[test]
    fn secret_columns_by_words_and_type() {
        for (table, column) in [
            ("users", "password_hash"),
            ("users", "encrypted_password"),
            ("users", "TOTP_SECRET"),
            ("users", "otp_seed"),
            ("users", "twoFactorBackupCodes"),
            ("users", "recovery_codes"),
            ("User", "passphrase"),
            ("integrations", "oauth_token"),
            ("integrations", "apiKey"),
            ("integrations", "api-key"),
            ("integrations", "privateKey"),
            ("integrations", "signing_key"),
            ("integrations", "client_credentials"),
            ("integrations", "jwt"),
            ("integrations", "session_cookie"),
            ("integrations", "payload_ciphertext"),
            ("integrations", "mfaSeed"),
            ("ApiKey", "hashedKey"),
            ("api_keys", "value"),
            ("webhook_secrets", "digest"),
            ("oauth_tokens", "hash"),
            ("sessions", "data"),
        ] {
            assert!(is_secret_column(table, column, true), "{table}.{column}");
        }
        for (table, column) in [
            ("users", "email"),
            ("emissions", "carbon_footprint"),
            ("settings", "value"),
            ("api_keys", "label"),
            ("users", "keyboard_layout"),
            ("posts", "tokenizer"),
        ] {
            assert!(!is_secret_column(table, column, true), "{table}.{column}");
        }
        // Not text-like: ids, flags, counters, timestamps are kept.
        for column in [
            "personal_access_token_id",
            "token_enabled",
            "tokens_used",
            "token_expires_at",
        ] {
            assert!(!is_secret_column("users", column, false), "{column}");
        }
    }

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
