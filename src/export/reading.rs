//! The pieces every archive reader shares (the JSON document's in `verify.rs`, NDJSON's and
//! the bundle's in `formats/`): what a reader hands on ([`ArchiveSink`]), the digest of the
//! bytes as they pass ([`Tap`]), and the bound on one item's size ([`Budget`], [`Limited`])
//! with what an I/O error then means ([`read_failure`]). Not here: any format's parsing.

use std::io::Read;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Counts and hashes bytes as they pass (the compressed archive; a bundle's files).
pub struct Tap<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R> Tap<R> {
    pub fn new(inner: R) -> Tap<R> {
        Tap {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The size and hex SHA-256 of what passed.
    pub fn finish(self) -> (u64, String) {
        (self.bytes, hex::encode(self.hasher.finalize()))
    }
}

impl<R: Read> Read for Tap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// What reading an archive hands on, in document order: the manifest before any row, then
/// every row's exact JSON text (what `restore` loads). An error stops the read; it becomes
/// the verdict's problem.
pub trait ArchiveSink {
    fn manifest(&mut self, _manifest: &Value) -> Result<(), String> {
        Ok(())
    }
    fn row(&mut self, section: &str, json: &str) -> Result<(), String>;
}

/// The decompressed bytes read ahead of the parser.
pub const READ_AHEAD: usize = 256 * 1024;

/// Stops the decompressed stream when one item (the manifest, or one row) grows past the
/// bound: serde would otherwise buffer a hostile 1 GiB string whole before anyone could look
/// at it. `Budget` is reset at the start of every item.
pub struct Limited<R> {
    pub inner: R,
    pub budget: std::rc::Rc<Budget>,
}

#[derive(Default)]
pub struct Budget {
    used: std::cell::Cell<u64>,
    max: u64,
    /// What is being read, for the message: "the manifest", or a section's name with the
    /// row number (set per row without allocating).
    place: std::cell::RefCell<String>,
    row: std::cell::Cell<Option<u64>>,
}

impl Budget {
    /// A budget of `max` bytes per item (what the read-ahead may hold beyond it included).
    pub fn with_max(max: u64) -> Budget {
        Budget {
            max,
            ..Budget::default()
        }
    }

    pub fn reset(&self, place: &str) {
        self.used.set(0);
        self.row.set(None);
        place.clone_into(&mut self.place.borrow_mut());
    }

    pub fn next_row(&self, n: u64) {
        self.used.set(0);
        self.row.set(Some(n));
    }

    /// Another item of the same place begins (its row number is not known yet).
    pub fn next_item(&self) {
        self.used.set(0);
    }

    pub fn describe(&self) -> String {
        match self.row.get() {
            Some(n) => format!("row {} of section {}", n + 1, self.place.borrow()),
            None => self.place.borrow().clone(),
        }
    }
}

/// The I/O error `Limited` stops with; told apart from a corrupt stream by its text.
pub const OVER_LIMIT: &str = "exceeds the size limit";

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let used = self.budget.used.get() + n as u64;
        self.budget.used.set(used);
        if used > self.budget.max {
            return Err(std::io::Error::other(OVER_LIMIT));
        }
        Ok(n)
    }
}

/// What an I/O error while reading the decompressed stream means: an item over the size
/// limit, a truncated or a corrupt gzip stream.
pub fn read_failure(e: &std::io::Error, budget: &Budget) -> String {
    if e.to_string().contains(OVER_LIMIT) {
        return format!(
            "{} is larger than {} bytes: refused unread (raise --max-value-bytes if the archive is trusted)",
            budget.describe(),
            budget.max.saturating_sub(READ_AHEAD as u64)
        );
    }
    if e.kind() == std::io::ErrorKind::UnexpectedEof {
        format!("the archive is truncated: the gzip stream ends early ({e})")
    } else {
        format!("not a valid gzip stream: {e}")
    }
}
