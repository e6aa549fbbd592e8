//! The one function that makes a URL safe to show: the password of its userinfo and the
//! query parameters that carry a signature, a credential or a token are replaced, so that an
//! archive URL typed by the operator (a presigned link, `https://user:pw@host/…`) never
//! reaches an error, a log line, `--json` or the history with its secret. Connection strings
//! have their own redaction (`db::options`); this one is for every other URL.

/// Query parameters whose value is a secret (compared case-insensitively): S3 and GCS V4
/// signatures and credentials, S3 V2 (`Signature`, `AWSAccessKeyId`), Azure SAS (`sig`, and
/// `se`/`st` with it), and the generic token names.
const SECRET_PARAMETERS: [&str; 16] = [
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
    "x-goog-signature",
    "x-goog-credential",
    "signature",
    "awsaccesskeyid",
    "sig",
    "se",
    "st",
    "token",
    "access_token",
    "sas",
    "key",
    "password",
    "secret",
];

const HIDDEN: &str = "REDACTED";

/// `url` without its password and secret query values; text that is not a URL (a path) is
/// returned as is, except that a `user:password@` after a `://` is cut even then.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return redact_userinfo_text(url);
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some(HIDDEN));
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let secret = SECRET_PARAMETERS.iter().any(|p| k.eq_ignore_ascii_case(p));
                let v = if secret {
                    HIDDEN.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// A `scheme://user:password@host` the URL parser refused: the userinfo is cut by hand.
fn redact_userinfo_text(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{HIDDEN}@{}", &rest[at + 1..]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_signatures_are_replaced_everything_else_kept() {
        assert_eq!(
            redact_url(
                "https://user:PW@host/x.json.gz?X-Amz-Signature=abc&X-Amz-Credential=AK%2F1&X-Amz-Expires=60"
            ),
            "https://user:REDACTED@host/x.json.gz?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&X-Amz-Expires=60"
        );
        assert_eq!(
            redact_url("https://acct.blob.core.windows.net/c/x?sv=2021&se=2026&sig=SIG%3D&sp=r"),
            "https://acct.blob.core.windows.net/c/x?sv=2021&se=REDACTED&sig=REDACTED&sp=r"
        );
        assert_eq!(
            redact_url("https://h/x?signature=s&Token=t&a=b"),
            "https://h/x?signature=REDACTED&Token=REDACTED&a=b"
        );
        assert_eq!(redact_url("s3://bucket/key"), "s3://bucket/key");
        assert_eq!(redact_url("/srv/x.json.gz"), "/srv/x.json.gz");
        assert_eq!(
            redact_url("https://u:p w@h:99999/x"),
            "https://REDACTED@h:99999/x"
        );
    }
}
