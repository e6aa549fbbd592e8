//! Client-side encryption of archives with age (rage's library): who an archive is encrypted
//! to ([`Recipients`], from `--encrypt-to`, `--recipients-file` and the config's
//! `encrypt_to`), what the history and the sidecar record of them (fingerprints, never
//! keys), the upload-side encryption of the archive's byte stream ([`seal`]), the spool that
//! holds only ciphertext ([`spool`]) and the way back for `verify` and `restore` with
//! `--identity` ([`open`]). Where an object goes, and how the archive's bytes are produced,
//! are the store's and the export's.
//!
//! A recipient's fingerprint is the first 16 hex digits of the SHA-256 of its canonical text:
//! `age1…` for an X25519 recipient, `ssh-ed25519 AAAA…` / `ssh-rsa AAAA…` (without the
//! comment) for an SSH key — what `printf %s "$recipient" | sha256sum | cut -c1-16` prints.

pub mod open;
pub mod seal;
pub mod spool;

use std::path::Path;
use std::str::FromStr;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Kind, fail};

/// The suffix an encrypted archive's key gets (`<id>.json.gz.age`).
pub use crate::archive_format::ENCRYPTED_SUFFIX as SUFFIX;

/// The first bytes of every (binary) age file.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// The first bytes of an armored (`age -a`) file.
pub const ARMOR_MAGIC: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";

/// What the history row and the sidecar say about one recipient.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecipientInfo {
    /// `x25519`, `ssh-ed25519` or `ssh-rsa`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub fingerprint: String,
}

/// The parsed recipients of an export.
pub struct Recipients {
    keys: Vec<Box<dyn age::Recipient + Send + Sync>>,
    pub infos: Vec<RecipientInfo>,
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipients")
            .field("infos", &self.infos)
            .finish()
    }
}

impl Recipients {
    fn empty() -> Recipients {
        Recipients {
            keys: Vec::new(),
            infos: Vec::new(),
        }
    }

    /// The recipients named by `--encrypt-to` values (or the config's `encrypt_to`) and the
    /// lines of `--recipients-file` files; `None` when there are none (no encryption).
    pub fn parse(values: &[String], files: &[impl AsRef<Path>]) -> anyhow::Result<Option<Self>> {
        let mut out = Recipients::empty();
        for (i, value) in values.iter().enumerate() {
            out.push(value, &format!("--encrypt-to value {}", i + 1))?;
        }
        for file in files {
            let file = file.as_ref();
            let text = std::fs::read_to_string(file).map_err(|e| {
                fail(
                    Kind::Usage,
                    format!("cannot read --recipients-file {}: {e}", file.display()),
                )
            })?;
            let mut found = 0;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                out.push(line, &format!("{} line {}", file.display(), n + 1))?;
                found += 1;
            }
            if found == 0 {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "--recipients-file {} holds no recipient (one age1… or ssh-ed25519/ssh-rsa public key per line)",
                        file.display()
                    ),
                ));
            }
        }
        Ok((!out.keys.is_empty()).then_some(out))
    }

    /// Adds one recipient; `place` names it in errors, which never echo the value (a private
    /// key pasted by mistake must not reach a log).
    fn push(&mut self, text: &str, place: &str) -> anyhow::Result<()> {
        let text = text.trim();
        let (key, kind, canonical): (Box<dyn age::Recipient + Send + Sync>, _, String) = if text
            .starts_with("age1")
        {
            let r = age::x25519::Recipient::from_str(text).map_err(|_| {
                invalid(
                    place,
                    "not a valid age1… X25519 public key (see age-keygen -y)",
                )
            })?;
            let canonical = r.to_string();
            (Box::new(r), "x25519", canonical)
        } else if text.starts_with("ssh-") {
            let r = age::ssh::Recipient::from_str(text).map_err(|e| {
                let why = match e {
                    age::ssh::ParseRecipientKeyError::Unsupported(t) => {
                        format!(
                            "SSH key type {t} is not supported by age; use ssh-ed25519 or ssh-rsa"
                        )
                    }
                    age::ssh::ParseRecipientKeyError::RsaModulusTooSmall => {
                        "an ssh-rsa key under 2048 bits is too weak".to_string()
                    }
                    _ => "not a valid ssh-ed25519 or ssh-rsa public key".to_string(),
                };
                invalid(place, &why)
            })?;
            let canonical = r.to_string();
            let kind = if canonical.starts_with("ssh-rsa") {
                "ssh-rsa"
            } else {
                "ssh-ed25519"
            };
            (Box::new(r), kind, canonical)
        } else if text.starts_with("AGE-SECRET-KEY-") || text.contains("PRIVATE KEY") {
            return Err(invalid(
                place,
                "a private key, not a recipient: give its public key (age-keygen -y FILE, or the .pub file of an SSH key)",
            ));
        } else {
            return Err(invalid(
                place,
                "not a recipient: use an age1… public key (age-keygen) or an ssh-ed25519/ssh-rsa public key",
            ));
        };
        let info = RecipientInfo {
            kind,
            fingerprint: fingerprint(&canonical),
        };
        if !self.infos.contains(&info) {
            self.keys.push(key);
            self.infos.push(info);
        }
        Ok(())
    }

    /// What the history row and the sidecar record: `{"scheme": "age", "recipients": […]}`.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "scheme": "age", "recipients": self.infos })
    }

    /// `x25519 3f2a…, ssh-ed25519 9b01…`, for messages.
    pub fn summary(&self) -> String {
        self.infos
            .iter()
            .map(|i| format!("{} {}", i.kind, i.fingerprint))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The age recipients, for the encryptor.
    fn as_age(&self) -> impl Iterator<Item = &dyn age::Recipient> {
        self.keys.iter().map(|k| k.as_ref() as &dyn age::Recipient)
    }
}

fn invalid(place: &str, why: &str) -> anyhow::Error {
    fail(Kind::Usage, format!("{place}: {why}"))
}

/// The fingerprint of a recipient's canonical text (see the module's doc).
pub fn fingerprint(canonical: &str) -> String {
    hex::encode(&Sha256::digest(canonical.as_bytes())[..8])
}
