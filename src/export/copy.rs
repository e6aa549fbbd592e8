//! Incremental parser of PostgreSQL's binary COPY format. The binary format carries every
//! byte of a value as is — the text format would escape backslashes, tabs and newlines, which
//! we would have to undo — and is the cheapest output the server has.
//!
//! Layout: an 11-byte signature, a 32-bit flags word, a 32-bit header-extension length and
//! that many bytes; then per row a 16-bit field count (−1 ends the data) and, per field, a
//! 32-bit length (−1 for NULL) followed by the bytes.

use anyhow::{Context, bail};
use bytes::{Buf, Bytes, BytesMut};

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

enum Step {
    NeedMore,
    Header(usize),
    Trailer(usize),
    Row(usize),
}

#[derive(Debug, Default)]
pub struct BinaryRows {
    /// Bytes of a row split across chunks (copied).
    buf: BytesMut,
    /// The unparsed rest of the latest chunk, when `buf` is empty: rows are sliced out of it
    /// without a copy. The server sends one message per row, so a 300 MB value is held once.
    chunk: Bytes,
    header_done: bool,
    finished: bool,
}

impl BinaryRows {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next chunk of the COPY stream.
    pub fn push(&mut self, chunk: Bytes) {
        if self.buf.is_empty() && self.chunk.is_empty() {
            self.chunk = chunk;
        } else {
            if !self.chunk.is_empty() {
                self.buf.extend_from_slice(&self.chunk);
                self.chunk = Bytes::new();
            }
            self.buf.extend_from_slice(&chunk);
        }
    }

    /// The next complete row (its fields, see [`fields`]), or `None` when more input is
    /// needed (or the trailer was seen; see [`BinaryRows::finished`]).
    pub fn next_row(&mut self) -> anyhow::Result<Option<Bytes>> {
        loop {
            let from_chunk = self.buf.is_empty();
            let data: &[u8] = if from_chunk { &self.chunk } else { &self.buf };
            match step(self.header_done, self.finished, data)? {
                Step::NeedMore => {
                    if from_chunk && !self.chunk.is_empty() {
                        // An incomplete row: keep its bytes until the next chunk completes it.
                        self.buf.extend_from_slice(&self.chunk);
                        self.chunk = Bytes::new();
                    }
                    return Ok(None);
                }
                Step::Header(n) | Step::Trailer(n) => {
                    if self.header_done {
                        self.finished = true;
                    } else {
                        self.header_done = true;
                    }
                    if from_chunk {
                        self.chunk.advance(n);
                    } else {
                        self.buf.advance(n);
                    }
                }
                Step::Row(n) => {
                    return Ok(Some(if from_chunk {
                        self.chunk.split_to(n)
                    } else {
                        self.buf.split_to(n).freeze()
                    }));
                }
            }
        }
    }

    /// Whether the end-of-data trailer has been read.
    pub fn finished(&self) -> bool {
        self.finished
    }
}

/// What the front of `data` holds: the header or the trailer (`n` bytes to skip), a complete
/// row of `n` bytes, or not enough yet.
fn step(header_done: bool, finished: bool, data: &[u8]) -> anyhow::Result<Step> {
    {
        if !header_done {
            if data.len() < SIGNATURE.len() + 8 {
                return Ok(Step::NeedMore);
            }
            if &data[..SIGNATURE.len()] != SIGNATURE {
                bail!("the COPY stream is not in PostgreSQL's binary format");
            }
            let ext_len = u32::from_be_bytes(data[15..19].try_into().unwrap()) as usize;
            if data.len() < 19 + ext_len {
                return Ok(Step::NeedMore);
            }
            return Ok(Step::Header(19 + ext_len));
        }
        if finished || data.len() < 2 {
            return Ok(Step::NeedMore);
        }
        let count = i16::from_be_bytes([data[0], data[1]]);
        if count == -1 {
            return Ok(Step::Trailer(2));
        }
        let count = usize::try_from(count).context("negative field count in the COPY stream")?;
        // Walk the fields to find where the row ends.
        let mut end = 2;
        for _ in 0..count {
            if data.len() < end + 4 {
                return Ok(Step::NeedMore);
            }
            let len = i32::from_be_bytes(data[end..end + 4].try_into().unwrap());
            end += 4 + usize::try_from(len).unwrap_or(0);
            if data.len() < end {
                return Ok(Step::NeedMore);
            }
        }
        Ok(Step::Row(end))
    }
}

/// The fields of a row from [`BinaryRows::next_row`]: `None` for NULL.
pub fn fields(row: &[u8]) -> impl Iterator<Item = anyhow::Result<Option<&[u8]>>> {
    let count = i16::from_be_bytes([row[0], row[1]]).max(0) as usize;
    let mut at = 2;
    (0..count).map(move |_| {
        let len = i32::from_be_bytes(
            row.get(at..at + 4)
                .context("truncated COPY row")?
                .try_into()
                .unwrap(),
        );
        at += 4;
        if len < 0 {
            return Ok(None);
        }
        let value = row
            .get(at..at + len as usize)
            .context("truncated COPY row")?;
        at += len as usize;
        Ok(Some(value))
    })
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
                parser.push(Bytes::copy_from_slice(chunk));
                while let Some(row) = parser.next_row().unwrap() {
                    let value = fields(&row).next().unwrap().unwrap().unwrap();
                    got.push(value.to_vec());
                }
            }
            assert!(parser.finished());
            assert_eq!(got, rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn rows_of_several_fields_with_nulls() {
        let mut stream = SIGNATURE.to_vec();
        stream.extend(0u32.to_be_bytes());
        stream.extend(0u32.to_be_bytes());
        stream.extend(3i16.to_be_bytes());
        stream.extend(2i32.to_be_bytes());
        stream.extend(b"ab");
        stream.extend((-1i32).to_be_bytes());
        stream.extend(0i32.to_be_bytes());
        stream.extend((-1i16).to_be_bytes());
        let mut parser = BinaryRows::new();
        parser.push(Bytes::from(stream));
        let row = parser.next_row().unwrap().unwrap();
        let got: Vec<Option<&[u8]>> = fields(&row).map(|f| f.unwrap()).collect();
        assert_eq!(got, vec![Some(&b"ab"[..]), None, Some(&b""[..])]);
        assert!(parser.next_row().unwrap().is_none() && parser.finished());
    }

    #[test]
    fn text_format_is_rejected() {
        let mut parser = BinaryRows::new();
        parser.push(Bytes::from_static(b"{\"a\":1}\n{\"a\":2}\n\\.\n"));
        assert!(parser.next_row().is_err());
    }
}
