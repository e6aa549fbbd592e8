//! Incremental parser of PostgreSQL's binary COPY format for a one-column result
//! (`row_to_json(r)::text`). The binary format carries every byte of the value as is — the
//! text format would escape backslashes, tabs and newlines, which we would have to undo.
//!
//! Layout: an 11-byte signature, a 32-bit flags word, a 32-bit header-extension length and
//! that many bytes; then per row a 16-bit field count (−1 ends the data) and, per field, a
//! 32-bit length (−1 for NULL) followed by the bytes.

use anyhow::{Context, bail};
use bytes::{Buf, Bytes, BytesMut};

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

#[derive(Debug, Default)]
pub struct BinaryRows {
    buf: BytesMut,
    header_done: bool,
    finished: bool,
}

impl BinaryRows {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next chunk of the COPY stream.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete row's single field, or `None` when more input is needed (or the
    /// trailer was seen; see [`BinaryRows::finished`]).
    pub fn next_row(&mut self) -> anyhow::Result<Option<Bytes>> {
        if !self.header_done {
            if self.buf.len() < SIGNATURE.len() + 8 {
                return Ok(None);
            }
            if &self.buf[..SIGNATURE.len()] != SIGNATURE {
                bail!("the COPY stream is not in PostgreSQL's binary format");
            }
            let ext_len = u32::from_be_bytes(self.buf[15..19].try_into().unwrap()) as usize;
            if self.buf.len() < 19 + ext_len {
                return Ok(None);
            }
            self.buf.advance(19 + ext_len);
            self.header_done = true;
        }
        if self.finished || self.buf.len() < 2 {
            return Ok(None);
        }
        let fields = i16::from_be_bytes([self.buf[0], self.buf[1]]);
        if fields == -1 {
            self.finished = true;
            self.buf.advance(2);
            return Ok(None);
        }
        if fields != 1 {
            bail!("expected one column per COPY row, got {fields}");
        }
        if self.buf.len() < 6 {
            return Ok(None);
        }
        let len = i32::from_be_bytes(self.buf[2..6].try_into().unwrap());
        let len = usize::try_from(len).context("unexpected NULL row in the COPY stream")?;
        if self.buf.len() < 6 + len {
            return Ok(None);
        }
        self.buf.advance(6);
        Ok(Some(self.buf.split_to(len).freeze()))
    }

    /// Whether the end-of-data trailer has been read.
    pub fn finished(&self) -> bool {
        self.finished
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(rows: &[&[u8]]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        out.extend(0u32.to_be_bytes());
        out.extend(0u32.to_be_bytes());
        for row in rows {
            out.extend(1i16.to_be_bytes());
            out.extend((row.len() as i32).to_be_bytes());
            out.extend(*row);
        }
        out.extend((-1i16).to_be_bytes());
        out
    }

    #[test]
    fn rows_survive_any_chunking_byte_exact() {
        let rows: Vec<&[u8]> = vec![
            b"{\"a\":\"x\\\\y\\n\\t\"}",
            b"",
            "{\"é\":\"😀\"}".as_bytes(),
        ];
        let stream = encode(&rows);
        for chunk_size in [1, 2, 3, 7, stream.len()] {
            let mut parser = BinaryRows::new();
            let mut got = Vec::new();
            for chunk in stream.chunks(chunk_size) {
                parser.push(chunk);
                while let Some(row) = parser.next_row().unwrap() {
                    got.push(row.to_vec());
                }
            }
            assert!(parser.finished());
            assert_eq!(got, rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn text_format_is_rejected() {
        let mut parser = BinaryRows::new();
        parser.push(b"{\"a\":1}\n{\"a\":2}\n\\.\n");
        assert!(parser.next_row().is_err());
    }
}
