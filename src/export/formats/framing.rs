//! What one format writes between sections and rows ([`Framing`]) and the digest of each
//! section file of a bundle ([`FileDigest`]): what the archive writer needs of a format,
//! and nothing of the archive itself (assembling the archive is `formats::assemble`).

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::archive_format::Format;

/// What goes between sections and rows in the stream of one format.
#[derive(Debug, Clone)]
pub enum Framing {
    /// `"name":[row,row]`, sections separated by commas (`orgexport/1`).
    Document,
    /// `{"section":"name","row":row}` per line; `prefix` is the current section's.
    Lines { prefix: Vec<u8> },
    /// One CSV file per section: the renderer writes the header and the fields; rows end
    /// with CRLF (RFC 4180).
    Csv,
    /// One Parquet file per section: its bytes come whole from `parquet.rs`, nothing between.
    Parquet,
}

impl Framing {
    pub fn of(format: Format) -> Framing {
        match format {
            Format::Json => Framing::Document,
            Format::Ndjson => Framing::Lines { prefix: Vec::new() },
            Format::Csv => Framing::Csv,
            Format::Parquet => Framing::Parquet,
        }
    }

    /// One file per section, digested for the manifest.
    pub fn is_files(&self) -> bool {
        matches!(self, Framing::Csv | Framing::Parquet)
    }

    pub fn begin_section(
        &mut self,
        buf: &mut Vec<u8>,
        name: &str,
        first: bool,
    ) -> anyhow::Result<()> {
        match self {
            Framing::Document => {
                if !first {
                    buf.push(b',');
                }
                serde_json::to_writer(&mut *buf, name).context("serializing a section name")?;
                buf.extend_from_slice(b":[");
            }
            Framing::Lines { prefix } => {
                prefix.clear();
                prefix.extend_from_slice(b"{\"section\":");
                serde_json::to_writer(&mut *prefix, name).context("serializing a section name")?;
                prefix.extend_from_slice(b",\"row\":");
            }
            Framing::Csv | Framing::Parquet => {}
        }
        Ok(())
    }

    pub fn begin_row(&self, buf: &mut Vec<u8>, first_row: bool) {
        match self {
            Framing::Document if !first_row => buf.push(b','),
            Framing::Lines { prefix } => buf.extend_from_slice(prefix),
            _ => {}
        }
    }

    pub fn end_row(&self, buf: &mut Vec<u8>) {
        match self {
            Framing::Lines { .. } => buf.extend_from_slice(b"}\n"),
            Framing::Csv => buf.extend_from_slice(b"\r\n"),
            Framing::Document | Framing::Parquet => {}
        }
    }

    pub fn end_section(&self, buf: &mut Vec<u8>) {
        if let Framing::Document = self {
            buf.push(b']');
        }
    }
}

/// Size and SHA-256 of one section file, fed in order.
#[derive(Default)]
pub struct FileDigest {
    sha: Sha256,
    bytes: u64,
}

impl FileDigest {
    pub fn update(&mut self, data: &[u8]) {
        self.sha.update(data);
        self.bytes += data.len() as u64;
    }

    /// The size and hex digest so far; starts again.
    pub fn take(&mut self) -> (u64, String) {
        let done = std::mem::take(self);
        (done.bytes, hex::encode(done.sha.finalize()))
    }
}
