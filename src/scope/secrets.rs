//! The secret policy of DESIGN §3: which columns never leave the database, and which keys are
//! cut out of json/jsonb values. Names are judged by their *words* — `privateKey`,
//! `private_key` and `PRIVATE-KEY` are the same two words; `carbon_footprint` holds no "otp" —
//! and whatever their case (`pAsSwOrD` splits into odd words that join into "password"), and
//! columns by their *type* too: only text-like columns can hold a secret, so a
//! `personal_access_token_id bigint` or a `token_enabled boolean` is kept.
//!
//! Here: names. Cutting keys out of json (and xml) values is `secrets/json.rs`'s, recognising
//! credentials by their content `secrets/content.rs`'s. Pure functions; the configured globs
//! (`exclude_columns`, `allow_columns`) and the rule that a reference column is never a
//! secret by its name are applied by `rules.rs`, which knows the qualified names.

mod content;
mod json;
mod xml;

pub use content::{
    ContentVerdict, Sampled, judge_column, looks_like_credential, member_is_secret, weak_hint,
};
pub use json::{may_need_redaction, redact_json, redact_json_members};

/// Single words that make a name secret (compared after [`singular`]; also the words that
/// consecutive odd-cased pieces join into: `Pass_Word`, `pAsSwOrD`).
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
    "dsn",
    "authorization",
    "sshkey",
];

/// Two-word phrases that make a name secret (consecutive words, compared after [`singular`]).
const SECRET_PHRASES: &[(&str, &str)] = &[
    ("api", "key"),
    ("private", "key"),
    ("signing", "key"),
    ("encryption", "key"),
    ("access", "key"),
    ("session", "key"),
    ("ssh", "key"),
    ("mfa", "secret"),
    ("mfa", "seed"),
    ("backup", "code"),
    ("recovery", "code"),
];

/// Short words that are secrets only at the end of a name or before one of
/// [`SHORT_WORD_FOLLOWERS`]: `smtp_pass`, `pass_hash`, `pin`, `pin_code` — but not `pass_rate`,
/// `pass_through` or `pin_color`.
const SHORT_SECRET_WORDS: &[&str] = &["pass", "pin"];
const SHORT_WORD_FOLLOWERS: &[&str] =
    &["hash", "hashed", "word", "phrase", "code", "key", "digest"];

/// Words that make a *table* hold secrets, besides the column words (`sessions`, OAuth
/// `authorizations`).
const SECRET_TABLE_WORDS: &[&str] = &["session", "authorization"];

/// In a table whose name is secret, columns with one of these words hold the secret itself
/// (`code`: an OAuth or SSO authorization code).
const SECRET_TABLE_COLUMN_WORDS: &[&str] =
    &["value", "key", "hash", "hashed", "digest", "data", "code"];

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
    secret_words(&words)
}

/// Every run of consecutive words is joined and compared, so that odd word forms
/// (`pAsSwOrD` → p, as, sw, or, d; `Pass_Word` → pass, word) are caught, and phrases are
/// compared pair by pair.
fn secret_words(words: &[&str]) -> bool {
    let phrases = || SECRET_PHRASES.iter().map(|(a, b)| format!("{a}{b}"));
    for start in 0..words.len() {
        let mut joined = String::new();
        for end in start..words.len() {
            joined.push_str(words[end]);
            let next = words.get(end + 1).copied();
            let short = SHORT_SECRET_WORDS.contains(&joined.as_str())
                && next.is_none_or(|n| SHORT_WORD_FOLLOWERS.contains(&n));
            if short || SECRET_WORDS.contains(&joined.as_str()) || phrases().any(|p| p == joined) {
                return true;
            }
        }
    }
    false
}

/// Whether a table's own name says it holds secrets (`api_keys`, `oauth_tokens`, `sessions`,
/// `oauth_access_grants`).
pub fn is_secret_table(name: &str) -> bool {
    let words = words(name);
    let grant = words.iter().any(|w| singular(w) == "grant")
        && words
            .iter()
            .any(|w| w.starts_with("oauth") || w == "access");
    is_secret_name(name)
        || grant
        || words
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
            ("users", "pAsSwOrD"),
            ("users", "Pass_Word"),
            ("users", "pass word"),
            ("users", "PASSWORD"),
            ("users", "pass"),
            ("smtp", "smtp_pass"),
            ("users", "pass_hash"),
            ("users", "pin"),
            ("users", "pin_code"),
            ("apps", "sentry_dsn"),
            ("apps", "dsn"),
            ("deploy", "sshKey"),
            ("deploy", "ssh_key"),
            ("requests", "Authorization"),
            ("oauth_authorizations", "code"),
            ("oauth_access_grants", "code"),
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
            ("exams", "pass_rate"),
            ("routes", "pass_through"),
            ("posts", "is_pinned"),
            ("maps", "pin_color"),
            ("shipping", "shipping_address"),
            ("grants", "code"),
            ("discounts", "code"),
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
}
