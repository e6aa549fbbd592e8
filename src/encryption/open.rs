//! Reading an encrypted archive back (`verify`, `restore` with `--identity`): the identity
//! files ([`Identities`]: age identity files and unencrypted SSH private keys), and
//! [`open_archive`], which tells an age file from a plain archive by its first bytes and
//! hands on the plaintext — counting and hashing the stored bytes on the way
//! ([`StoredTally`]): the size and SHA-256 that the history row and the sidecar record are
//! those of the stored (encrypted) object. An identity file's contents never reach a message:
//! errors name the file and, at most, a line number. Checking the archive is the verifier's.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::{AGE_MAGIC, ARMOR_MAGIC};
use crate::error::{Kind, fail};

/// The private keys `--identity` named.
pub struct Identities {
    keys: Vec<Box<dyn age::Identity + Send + Sync>>,
    files: Vec<PathBuf>,
}

/// The largest identity file read (age's own limit).
const MAX_IDENTITY_FILE: u64 = 16 << 20;

impl Identities {
    /// Reads every `--identity` file; `None` without any.
    pub fn load(files: &[PathBuf]) -> anyhow::Result<Option<Identities>> {
        let mut keys = Vec::new();
        for file in files {
            keys.extend(read_identity_file(file)?);
        }
        Ok((!files.is_empty()).then(|| Identities {
            keys,
            files: files.to_vec(),
        }))
    }

    fn named(&self) -> String {
        let names: Vec<String> = self.files.iter().map(|f| f.display().to_string()).collect();
        names.join(", ")
    }
}

fn read_identity_file(file: &Path) -> anyhow::Result<Vec<Box<dyn age::Identity + Send + Sync>>> {
    let cannot = |e: io::Error| {
        fail(
            Kind::Usage,
            format!("cannot read --identity {}: {}", file.display(), e.kind()),
        )
    };
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .map_err(cannot)?
        .take(MAX_IDENTITY_FILE)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    let refuse = |why: &str| fail(Kind::Usage, format!("--identity {}: {why}", file.display()));
    if bytes.starts_with(AGE_MAGIC) || bytes.starts_with(ARMOR_MAGIC) {
        return Err(refuse(
            "a passphrase-protected age identity file; orgexport does not prompt (it runs unattended): decrypt it with `age -d` into a file only you can read",
        ));
    }
    if bytes.starts_with(b"-----BEGIN") || bytes.starts_with(b"ssh-") {
        return match age::ssh::Identity::from_buffer(&bytes[..], Some(file.display().to_string())) {
            Ok(age::ssh::Identity::Unencrypted(key)) => {
                Ok(vec![Box::new(age::ssh::Identity::Unencrypted(key))])
            }
            Ok(age::ssh::Identity::Encrypted(_)) => Err(refuse(
                "a passphrase-protected SSH key; orgexport does not prompt (it runs unattended): use an age identity (age-keygen), or a copy of the key without a passphrase that only you can read (ssh-keygen -p)",
            )),
            Ok(age::ssh::Identity::Unsupported(_)) => Err(refuse(
                "an SSH key type age cannot decrypt with; use an ssh-ed25519 or ssh-rsa key, or an age identity",
            )),
            Err(_) => Err(refuse("not a readable SSH private key")),
        };
    }
    // age's parser names the line of a bad entry, never its text.
    let parsed = age::IdentityFile::from_buffer(&bytes[..])
        .map_err(|e| refuse(&format!("not an age identity file ({e})")))?;
    let keys = parsed.into_identities().map_err(|_| {
        refuse("holds an identity orgexport cannot use (plugins are not supported)")
    })?;
    if keys.is_empty() {
        return Err(refuse(
            "holds no identity (AGE-SECRET-KEY-1… lines, as age-keygen writes them)",
        ));
    }
    Ok(keys)
}

/// Size and SHA-256 of the stored bytes read so far.
#[derive(Clone, Default)]
pub struct StoredTally(Arc<Mutex<(u64, Sha256)>>);

impl StoredTally {
    /// `(bytes, sha256 hex)` of everything read.
    pub fn result(&self) -> (u64, String) {
        let tally = self.0.lock().expect("never poisoned");
        (tally.0, hex::encode(tally.1.clone().finalize()))
    }
}

struct Tap<R> {
    inner: R,
    tally: StoredTally,
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut tally = self.tally.0.lock().expect("never poisoned");
        tally.0 += n as u64;
        tally.1.update(&buf[..n]);
        Ok(n)
    }
}

/// The plaintext of an encrypted archive; a failed chunk says what it means.
struct Decrypted<R>(age::stream::StreamReader<R>);

impl<R: Read> Read for Decrypted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            io::Error::other(format!(
                "the encrypted archive is damaged, truncated or was altered (age: {e})"
            ))
        })
    }
}

/// The archive `raw` as plaintext: an age file is decrypted with `identities` (and its stored
/// size and digest are tallied), anything else is handed on as it is (`None`: the verifier's
/// own tally is the stored object's). `describe` names the archive in errors. Blocking: call
/// it where `raw` may block (`spawn_blocking`).
pub fn open_archive(
    raw: Box<dyn Read + Send>,
    identities: Option<&Identities>,
    describe: &str,
) -> anyhow::Result<(Box<dyn Read + Send>, Option<StoredTally>)> {
    let tally = StoredTally::default();
    let mut input = BufReader::new(Tap {
        inner: raw,
        tally: tally.clone(),
    });
    let head = input.fill_buf().map(<[u8]>::to_vec).unwrap_or_default();
    if head.starts_with(ARMOR_MAGIC) {
        return Err(fail(
            Kind::Usage,
            format!(
                "{describe} is an armored (age -a) file; orgexport reads binary age files: convert it with `age -d` or re-encrypt without -a"
            ),
        ));
    }
    if !head.starts_with(AGE_MAGIC) {
        return Ok((Box::new(input), None));
    }
    let Some(identities) = identities else {
        return Err(fail(
            Kind::Usage,
            format!(
                "{describe} is encrypted with age: pass --identity FILE (the age identity file or SSH private key of one of its recipients)"
            ),
        ));
    };
    let decryptor = age::Decryptor::new_buffered(input).map_err(|e| {
        fail(
            Kind::ExportFailed,
            format!("{describe} is not a readable age file: {e}"),
        )
    })?;
    if decryptor.is_scrypt() {
        return Err(fail(
            Kind::Usage,
            format!(
                "{describe} is encrypted with a passphrase (age -p); orgexport reads files encrypted to recipients: decrypt it with `age -d` first"
            ),
        ));
    }
    let reader = decryptor
        .decrypt(identities.keys.iter().map(|k| k.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => fail(
                Kind::Usage,
                format!(
                    "{describe} is not encrypted to the --identity given ({}): pass the identity of one of its recipients (`orgexport list` shows their fingerprints)",
                    identities.named()
                ),
            ),
            other => fail(
                Kind::ExportFailed,
                format!("{describe} cannot be decrypted: {other}"),
            ),
        })?;
    // The first chunk is decrypted now: a damaged one is named for what it is here, rather
    // than as an empty or non-gzip file by the reader downstream.
    let mut plain = BufReader::with_capacity(64 * 1024, Decrypted(reader));
    plain.fill_buf().map_err(|e| {
        fail(
            Kind::ExportFailed,
            format!("{describe} cannot be read: {e}"),
        )
    })?;
    Ok((Box::new(plain), Some(tally)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::kind_of;
    use std::io::Write;

    fn identity_file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.txt");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn sealed_to(recipient: &age::x25519::Recipient, plain: &[u8]) -> Vec<u8> {
        let mut w = age::Encryptor::with_recipients(std::iter::once(recipient as _))
            .unwrap()
            .wrap_output(Vec::new())
            .unwrap();
        w.write_all(plain).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn an_age_file_decrypts_and_its_stored_bytes_are_tallied() {
        let key = age::x25519::Identity::generate();
        let (_dir, path) = identity_file(&format!(
            "# created: now\n{}\n",
            age::secrecy::ExposeSecret::expose_secret(&key.to_string())
        ));
        let identities = Identities::load(&[path]).unwrap();
        let sealed = sealed_to(&key.to_public(), b"hello archive");
        let (mut reader, tally) = open_archive(
            Box::new(std::io::Cursor::new(sealed.clone())),
            identities.as_ref(),
            "x",
        )
        .unwrap();
        let mut plain = Vec::new();
        reader.read_to_end(&mut plain).unwrap();
        assert_eq!(plain, b"hello archive");
        let (bytes, sha) = tally.unwrap().result();
        assert_eq!(bytes, sealed.len() as u64);
        assert_eq!(sha, hex::encode(Sha256::digest(&sealed)));
    }

    #[test]
    fn no_identity_and_a_wrong_one_are_usage_errors_that_name_the_fix() {
        let sealed = sealed_to(&age::x25519::Identity::generate().to_public(), b"x");
        let err = open_archive(
            Box::new(std::io::Cursor::new(sealed.clone())),
            None,
            "a.age",
        )
        .err()
        .unwrap();
        assert_eq!(kind_of(&err), Kind::Usage);
        assert!(err.to_string().contains("pass --identity FILE"), "{err}");
        let other = age::x25519::Identity::generate();
        let secret = age::secrecy::ExposeSecret::expose_secret(&other.to_string()).to_string();
        let (_dir, path) = identity_file(&format!("{secret}\n"));
        let identities = Identities::load(&[path]).unwrap();
        let err = open_archive(
            Box::new(std::io::Cursor::new(sealed)),
            identities.as_ref(),
            "a",
        )
        .err()
        .unwrap();
        assert_eq!(kind_of(&err), Kind::Usage);
        assert!(
            err.to_string().contains("not encrypted to the --identity"),
            "{err}"
        );
        assert!(!err.to_string().contains(&secret[..20]));
    }

    #[test]
    fn a_bad_identity_file_is_named_without_its_contents() {
        let (_dir, path) = identity_file("AGE-SECRET-KEY-1NOTAKEYATALLBUTSECRETLOOKING\n");
        let err = Identities::load(&[path]).err().unwrap();
        assert_eq!(kind_of(&err), Kind::Usage);
        let text = err.to_string();
        assert!(text.contains("line 1"), "{text}");
        assert!(!text.contains("NOTAKEY"), "{text}");
    }

    #[test]
    fn a_plain_archive_passes_unchanged_without_a_tally() {
        let (mut reader, tally) = open_archive(Box::new(&b"\x1f\x8bplain"[..]), None, "x").unwrap();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"\x1f\x8bplain");
        assert!(tally.is_none());
    }
}
