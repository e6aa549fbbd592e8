//! Credentials recognised by their content (DESIGN §3, "by content, too"): names miss secrets
//! (`telegram_bots.auth_key`, an encrypted config under `config`), so sampled values are
//! judged too. Two kinds of evidence:
//!
//! - **Known formats**, under any name: PEM/OpenSSH/PGP private keys, age secret keys, JWTs,
//!   cloud and SaaS tokens (AWS, GitHub, GitLab, Slack, Stripe, Twilio, Telegram), password
//!   hashes (bcrypt, argon2, scrypt, PBKDF2, SHA-crypt), connection strings with a password,
//!   bearer credentials, and ciphertext envelopes (Fernet, Laravel, Vault, Rails).
//! - **Opaque values** — base64, base64url or hex of a length and entropy that prose, slugs,
//!   URLs and e-mail addresses never reach — when the name gives a weak hint (`key`, `auth`,
//!   `config`, `cipher`, `blob`, `data`, `value`, `serialized`, …). Never under names that say
//!   the value is a digest or an identifier (`sha`, `checksum`, `digest`, `etag`, `uuid`, …)
//!   or a picture (`avatar`, `image`, …), and never uuids or images by their own shape.
//!
//! Pure functions over strings; what is sampled, and from which rows, is the caller's.

use super::words;

/// Byte fragments (lowercase) one of which every known format contains: values without any
/// are not parsed for credentials (the json prefilter).
pub(super) const MARKERS: &[&str] = &[
    "-----begin",
    "age-secret-key",
    "eyj",
    "akia",
    "asia",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xox",
    "xapp-",
    "sk_live",
    "sk_test",
    "rk_live",
    "rk_test",
    "whsec_",
    "$2a$",
    "$2b$",
    "$2y$",
    "$argon2",
    "$scrypt$",
    "$7$",
    "pbkdf2",
    "$5$",
    "$6$",
    "://",
    "password=",
    "pwd=",
    "bearer ",
    "basic ",
    "gaaaaa",
    "vault:v",
    "--",
    ":aa",
];

/// Whether a value may hold a credential of a known format (one case-insensitive pass).
pub fn may_hold_credential(bytes: &[u8]) -> bool {
    static MATCHER: std::sync::LazyLock<aho_corasick::AhoCorasick> =
        std::sync::LazyLock::new(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .kind(Some(aho_corasick::AhoCorasickKind::DFA))
                .build(MARKERS)
                .expect("fixed patterns")
        });
    MATCHER.is_match(bytes)
}

/// The known credential format a value is in, by name (`"bcrypt hash"`), if any.
pub fn looks_like_credential(value: &str) -> Option<&'static str> {
    let v = value.trim();
    // Long values are only looked at when a marker says they may hold a format; short ones
    // (Twilio and Telegram tokens have no marker) always.
    if v.len() < 8 {
        return None;
    }
    // No marker fragment to look for: the shape is checked directly (cheap, no allocation).
    if hex_envelope(v) {
        return Some("AES-GCM ciphertext (iv:data:tag)");
    }
    if v.len() > 64 && !may_hold_credential(v.as_bytes()) {
        return None;
    }
    if v.contains("-----BEGIN") && (v.contains("PRIVATE KEY") || v.contains("PRIVATE KEY BLOCK")) {
        return Some("PEM private key");
    }
    if v.starts_with("-----BEGIN AGE ENCRYPTED FILE") || v.starts_with("AGE-SECRET-KEY-1") {
        return Some("age secret");
    }
    if let Some(kind) = token_format(v) {
        return Some(kind);
    }
    if let Some(kind) = password_hash(v) {
        return Some(kind);
    }
    if let Some(kind) = ciphertext_envelope(v) {
        return Some(kind);
    }
    if connection_string_with_password(v) {
        return Some("connection string with a password");
    }
    let lower = v.get(..7).unwrap_or("").to_ascii_lowercase();
    if (lower == "bearer " || lower.starts_with("basic ")) && v.len() >= 20 {
        return Some("authorization header");
    }
    None
}

/// `[prefix][charset]{n,}` tokens of well-known services, and JWTs.
fn token_format(v: &str) -> Option<&'static str> {
    let alnum = |s: &str, min: usize| {
        s.len() >= min
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let parts: Vec<&str> = v.split('.').collect();
    if parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts[1].starts_with("eyJ")
        && parts.iter().all(|p| alnum(p, 2))
    {
        return Some("JWT");
    }
    let upper = |s: &str| {
        s.len() == 16
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    };
    for prefix in ["AKIA", "ASIA"] {
        if v.len() == 20 && v.strip_prefix(prefix).is_some_and(upper) {
            return Some("AWS access key id");
        }
    }
    const PREFIXED: &[(&str, usize, &str)] = &[
        ("ghp_", 30, "GitHub token"),
        ("gho_", 30, "GitHub token"),
        ("ghu_", 30, "GitHub token"),
        ("ghs_", 30, "GitHub token"),
        ("ghr_", 30, "GitHub token"),
        ("github_pat_", 30, "GitHub token"),
        ("glpat-", 20, "GitLab token"),
        ("xoxb-", 20, "Slack token"),
        ("xoxp-", 20, "Slack token"),
        ("xoxa-", 20, "Slack token"),
        ("xoxr-", 20, "Slack token"),
        ("xoxs-", 20, "Slack token"),
        ("xapp-", 20, "Slack token"),
        ("sk_live_", 16, "Stripe secret key"),
        ("sk_test_", 16, "Stripe secret key"),
        ("rk_live_", 16, "Stripe secret key"),
        ("rk_test_", 16, "Stripe secret key"),
        ("whsec_", 16, "Stripe webhook secret"),
    ];
    for (prefix, min, kind) in PREFIXED {
        if v.strip_prefix(prefix).is_some_and(|rest| alnum(rest, *min)) {
            return Some(kind);
        }
    }
    if v.len() == 34 && v.starts_with("SK") && v[2..].bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some("Twilio API key");
    }
    if let Some((bot, secret)) = v.split_once(':')
        && (8..=12).contains(&bot.len())
        && bot.bytes().all(|b| b.is_ascii_digit())
        && secret.len() == 35
        && alnum(secret, 35)
    {
        return Some("Telegram bot token");
    }
    None
}

/// Modular-crypt and framework password hash formats.
fn password_hash(v: &str) -> Option<&'static str> {
    if ["$2a$", "$2b$", "$2y$"].iter().any(|p| v.starts_with(p)) && v.len() == 60 {
        return Some("bcrypt hash");
    }
    if v.starts_with("$argon2") {
        return Some("argon2 hash");
    }
    if v.starts_with("$scrypt$") || (v.starts_with("$7$") && v.len() > 40) {
        return Some("scrypt hash");
    }
    if v.starts_with("pbkdf2_sha") || v.starts_with("$pbkdf2") || v.starts_with("pbkdf2:sha") {
        return Some("PBKDF2 hash");
    }
    if (v.starts_with("$5$") || v.starts_with("$6$")) && v.matches('$').count() >= 3 {
        return Some("SHA-crypt hash");
    }
    None
}

/// Encrypted payloads whose envelope says so, under any name.
fn ciphertext_envelope(v: &str) -> Option<&'static str> {
    let b64 = |s: &str, min: usize| {
        s.len() >= min
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'))
    };
    // Fernet: version byte 0x80 → "gAAAAA" in base64url.
    if v.starts_with("gAAAAA") && b64(v, 80) {
        return Some("Fernet ciphertext");
    }
    // Laravel: base64 of {"iv":…,"value":…,"mac":…}.
    if v.starts_with("eyJpdiI6") && b64(v, 40) {
        return Some("Laravel ciphertext");
    }
    if v.starts_with("vault:v") && v.matches(':').count() == 2 {
        return Some("Vault ciphertext");
    }
    // Rails MessageEncryptor: base64(data)--base64(iv)[--base64(tag)].
    let parts: Vec<&str> = v.split("--").collect();
    if (2..=3).contains(&parts.len()) && parts.iter().all(|p| b64(p, 16)) && v.len() >= 40 {
        return Some("Rails encrypted message");
    }
    None
}

/// Node's usual AES-GCM/CBC envelope, `hex(iv):hex(ciphertext)[:hex(tag)]` (Formbricks'
/// `symmetricEncrypt` and many others): a 12- or 16-byte iv and at least 64 hex digits in all.
fn hex_envelope(v: &str) -> bool {
    let mut parts = v.split(':');
    let iv = parts.next().unwrap_or("");
    let rest: Vec<&str> = parts.collect();
    let hex = |p: &str| p.len() >= 16 && p.bytes().all(|b| b.is_ascii_hexdigit());
    matches!(iv.len(), 24 | 32)
        && (1..=2).contains(&rest.len())
        && hex(iv)
        && rest.iter().all(|p| hex(p))
        && v.len() >= 64
}

/// `scheme://user:password@host…`, or a key=value conninfo with `password=`.
fn connection_string_with_password(v: &str) -> bool {
    if let Some((scheme, rest)) = v.split_once("://")
        && !scheme.is_empty()
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
    {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
        {
            return !password.is_empty();
        }
        return false;
    }
    let lower = v.to_ascii_lowercase();
    ["password=", "pwd="].iter().any(|key| {
        lower.split([' ', ';']).any(|pair| {
            pair.strip_prefix(key)
                .is_some_and(|value| !value.trim_matches(['\'', '"']).is_empty())
        })
    })
}

/// Words of a name that hint it may hold an opaque secret (weak: only with opaque values).
const WEAK_HINTS: &[&str] = &[
    "key",
    "auth",
    "config",
    "configuration",
    "cipher",
    "blob",
    "data",
    "value",
    "serialized",
    "credential",
    "payload",
    "setting",
    "settings",
    "private",
    "secure",
    "sealed",
    "vault",
    "encryption",
    "nonce",
    "iv",
    "material",
    "p256dh",
    "uid",
];

/// Words of a name that say its values are digests, identifiers or pictures: opaque values
/// there are what they say, not secrets.
const INNOCENT_WORDS: &[&str] = &[
    "sha",
    "sha1",
    "sha256",
    "sha512",
    "md5",
    "checksum",
    "digest",
    "etag",
    "hash",
    "fingerprint",
    "uuid",
    "guid",
    "id",
    "slug",
    "commit",
    "revision",
    "rev",
    "avatar",
    "image",
    "picture",
    "photo",
    "icon",
    "logo",
    "thumbnail",
    "url",
    "uri",
    "email",
    "public",
    "nonce_public",
];

/// Whether a name gives a weak hint of a secret (and nothing says it is innocent).
pub fn weak_hint(name: &str) -> bool {
    let words = words(name);
    !words.iter().any(|w| INNOCENT_WORDS.contains(&w.as_str()))
        && words.iter().any(|w| WEAK_HINTS.contains(&w.as_str()))
}

/// Whether a name says its opaque values are digests, identifiers or pictures.
fn innocent_name(name: &str) -> bool {
    words(name)
        .iter()
        .any(|w| INNOCENT_WORDS.contains(&w.as_str()))
}

/// Whether a text value is opaque: one run of base64/base64url/hex characters of a length
/// and entropy that prose, slugs, URLs and e-mail addresses never reach; never a uuid, an
/// image (`data:image/…`, PNG/JPEG/GIF in base64) or something much longer than a key.
pub fn opaque(value: &str) -> bool {
    let v = value.trim();
    if !(16..=4096).contains(&v.len()) || is_uuid(v) || is_image(v) {
        return false;
    }
    let charset = v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_'));
    if !charset {
        return false;
    }
    let digits = v.bytes().filter(u8::is_ascii_digit).count();
    let letters = v.bytes().filter(u8::is_ascii_alphabetic).count();
    if digits == 0 || letters == 0 {
        return false;
    }
    // Slugs: lowercase words joined by dashes have long letter runs and little entropy.
    let hex = v.bytes().all(|b| b.is_ascii_hexdigit());
    let min_entropy = if hex { 3.0 } else { 4.0 };
    (!hex || v.len() >= 32) && entropy(v.as_bytes()) >= min_entropy
}

/// Whether raw bytes look like key material: short, near-uniform, not a known file type.
pub fn opaque_bytes(bytes: &[u8]) -> bool {
    const MAGIC: &[&[u8]] = &[
        b"\x89PNG",
        b"\xff\xd8\xff",
        b"GIF8",
        b"%PDF",
        b"PK\x03\x04",
        b"RIFF",
    ];
    if !(16..=1024).contains(&bytes.len()) || MAGIC.iter().any(|m| bytes.starts_with(m)) {
        return false;
    }
    let max = (bytes.len().min(256) as f64).log2();
    entropy(bytes) >= 0.8 * max
}

fn is_uuid(v: &str) -> bool {
    v.len() == 36
        && v.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

fn is_image(v: &str) -> bool {
    v.starts_with("data:")
        || ["iVBORw0KGgo", "/9j/", "R0lGOD", "UklGR", "PHN2Zy"]
            .iter()
            .any(|p| v.starts_with(p))
}

/// Shannon entropy in bits per symbol.
fn entropy(bytes: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Whether a json member is a secret by its value: a known credential format under any key,
/// an opaque value under a key with a weak hint.
pub fn member_is_secret(key: &str, value: &str) -> bool {
    looks_like_credential(value).is_some() || (weak_hint(key) && opaque(value))
}

/// A sampled value of a column: text, or raw bytes (bytea).
pub enum Sampled<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
}

/// Why a column is a secret by its sampled content, if it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentVerdict {
    /// `content: bcrypt hash in 100% of 200 sampled values`.
    pub reason: String,
}

/// Judges a column by its sampled values: a known format in half of them or more (in any of
/// them under a weak-hint name), or opaque values in four out of five under a weak-hint name.
/// Names that say digest, identifier or picture only lose to known formats.
pub fn judge_column(name: &str, values: &[Sampled<'_>]) -> Option<ContentVerdict> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mut formats: Vec<(&'static str, usize)> = Vec::new();
    let mut opaque_count = 0;
    for value in values {
        let kind = match value {
            Sampled::Text(text) => looks_like_credential(text),
            Sampled::Bytes(bytes) => std::str::from_utf8(bytes)
                .ok()
                .and_then(looks_like_credential),
        };
        match kind {
            Some(kind) => match formats.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, count)) => *count += 1,
                None => formats.push((kind, 1)),
            },
            None => {
                let is_opaque = match value {
                    Sampled::Text(text) => opaque(text),
                    Sampled::Bytes(bytes) => opaque_bytes(bytes),
                };
                opaque_count += usize::from(is_opaque);
            }
        }
    }
    let hinted = weak_hint(name);
    let percent = |k: usize| (k * 100).div_ceil(n);
    let found: usize = formats.iter().map(|(_, k)| k).sum();
    if found * 2 >= n || (hinted && found > 0) {
        let (kind, _) = formats.iter().max_by_key(|(_, k)| *k).expect("found > 0");
        return Some(ContentVerdict {
            reason: format!(
                "content: {kind} in {}% of {n} sampled values",
                percent(found)
            ),
        });
    }
    if hinted && !innocent_name(name) && opaque_count * 5 >= n * 4 {
        return Some(ContentVerdict {
            reason: format!(
                "content: opaque high-entropy values in {}% of {n} sampled values under a name that hints at a secret",
                percent(opaque_count)
            ),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'a>(values: &'a [&'a str]) -> Vec<Sampled<'a>> {
        values.iter().map(|v| Sampled::Text(v)).collect()
    }

    #[test]
    fn known_formats_are_recognised() {
        for (value, kind) in [
            (
                "9f2c1e0b7a6d5c4b3a291807:5e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071:0a1b2c3d4e5f60718293a4b5c6d7e8f9",
                "AES-GCM ciphertext (iv:data:tag)",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
                "PEM private key",
            ),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl",
                "PEM private key",
            ),
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "JWT",
            ),
            ("AKIAIOSFODNN7EXAMPLE", "AWS access key id"),
            ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "GitHub token"),
            ("glpat-abcdefghij0123456789", "GitLab token"),
            (
                "xoxb-123456789012-123456789012-abcdefghijklmnopqrstuvwx",
                "Slack token",
            ),
            ("sk_live_51HabcdefghijKLMNOP", "Stripe secret key"),
            ("SK0123456789abcdef0123456789abcdef", "Twilio API key"),
            (
                "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1",
                "Telegram bot token",
            ),
            (
                "$2b$12$KIXQJQm7x1bq5Zk6QfWZ9eY7Q0m1yJ8aQG5uXb3QZ4nq6Qm1yJ8aQ",
                "bcrypt hash",
            ),
            (
                "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
                "argon2 hash",
            ),
            ("pbkdf2_sha256$260000$salt$hash=", "PBKDF2 hash"),
            ("$6$rounds=5000$salt$hash", "SHA-crypt hash"),
            (
                "postgres://app:s3cret@db.internal:5432/app",
                "connection string with a password",
            ),
            (
                "host=db user=app password=s3cret dbname=app",
                "connection string with a password",
            ),
            ("Bearer abcdef0123456789abcdef", "authorization header"),
            (
                "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
                "age secret",
            ),
            (
                "vault:v1:8SDd3WHDOjf7mq69CyCqYjBXAiQQAVZRkFM13ok481zoCmHnSeDX9vyf7w==",
                "Vault ciphertext",
            ),
            (
                "eyJpdiI6IjEyMzQ1Njc4OTAxMjM0NTYiLCJ2YWx1ZSI6ImFiYyJ9",
                "Laravel ciphertext",
            ),
        ] {
            assert_eq!(looks_like_credential(value), Some(kind), "{value}");
        }
    }

    #[test]
    fn innocent_values_are_not_credentials() {
        for value in [
            "https://example.com/path?q=1",
            "https://user@example.com/",
            "alice@example.com",
            "my-first-project-2024",
            "550e8400-e29b-41d4-a716-446655440000",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "The quick brown fox -- jumps over the lazy dog",
            "pk_live_51Habcdefghij",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709:d41d8cd98f00b204e9800998ecf8427e",
        ] {
            assert_eq!(looks_like_credential(value), None, "{value}");
        }
    }

    #[test]
    fn opaque_values_only_under_hinting_names_and_never_digests_uuids_slugs_or_images() {
        let keys = [
            "kx8Q2mZr7VbN4pLs9TcW1yHd6FgJ3aEo",
            "Zp4Lq9Rt2Vw7Xy1Bc5Nm8Kj3Hg6Fd0Sa",
        ];
        assert!(judge_column("auth_key", &texts(&keys)).is_some());
        assert!(judge_column("config", &texts(&keys)).is_some());
        assert!(judge_column("title", &texts(&keys)).is_none(), "no hint");
        let shas = [
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
        ];
        for name in [
            "sha",
            "commit_sha",
            "checksum",
            "digest_of_content",
            "etag",
            "data_hash",
        ] {
            assert!(judge_column(name, &texts(&shas)).is_none(), "{name}");
        }
        let uuids = [
            "550e8400-e29b-41d4-a716-446655440000",
            "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
        ];
        assert!(judge_column("key", &texts(&uuids)).is_none());
        let slugs = ["my-first-project-2024", "quarterly-report-q3-2023-final"];
        assert!(judge_column("data", &texts(&slugs)).is_none());
        let urls = [
            "https://example.com/a/b?c=1",
            "https://cdn.example.org/x.png",
        ];
        assert!(judge_column("value", &texts(&urls)).is_none());
        let emails = ["alice.smith@example.com", "bob.jones42@example.org"];
        assert!(judge_column("data", &texts(&emails)).is_none());
        let image = format!(
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk{}",
            "A".repeat(40)
        );
        assert!(judge_column("avatar_data", &texts(&[&image])).is_none());
        assert!(judge_column("data", &texts(&[&image])).is_none());
    }

    #[test]
    fn reasons_name_the_format_and_share() {
        let hashes = ["$2b$12$KIXQJQm7x1bq5Zk6QfWZ9eY7Q0m1yJ8aQG5uXb3QZ4nq6Qm1yJ8aQ"; 4];
        let verdict = judge_column("digest", &texts(&hashes)).unwrap();
        assert_eq!(
            verdict.reason,
            "content: bcrypt hash in 100% of 4 sampled values"
        );
        let bytes: Vec<u8> = (0u8..32)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        let sampled = [Sampled::Bytes(&bytes)];
        assert!(judge_column("uid_key", &sampled).is_some());
        assert!(judge_column("diversification_key", &sampled).is_some());
        assert!(judge_column("thumbnail", &sampled).is_none());
    }
}
