//! The spool's file, sealed: [`SealedFile`] is what the export's spool (an anonymous
//! temporary file of compressed sections, `export::archive::Spool`) writes to and reads back
//! from, and on disk it holds only ciphertext — always, whether the archive is encrypted or
//! not: AES-256-GCM in chunks of 64 KiB, under a key generated for this one file and kept in
//! memory only, so that what a crash, a full disk or a snapshot of the temporary directory
//! leaves behind can never be read. Written sequentially, then read (and sought) as plaintext
//! once the writing is over; the first seek or read seals the last chunk. What goes into the
//! spool, and how its sections are assembled, are the export's.
//!
//! Not age's format (which this file used before): nothing but this process ever reads it,
//! and AES-GCM by aws-lc (already built for the stores' TLS) with the CPU's AES and
//! carry-less multiply instructions costs a fraction of ChaCha20-Poly1305's — sealing and
//! opening the big benchmark's 140 MiB took 6 % of the export's CPU, and the opening is part
//! of the serial tail after the last section (issue 21; RustCrypto's aes-gcm measured little
//! better than ChaCha20 here: its GHASH multiplies one block at a time).
//! Chunk `i` is at byte `i × (64 KiB + 16)`, its nonce is `i`; a chunk changed, moved or cut
//! on disk fails its tag.
//!
//! The file is a local temporary file in the page cache: its reads and writes are done
//! inline in the `poll_*` methods, which costs the reactor less than handing each to a
//! blocking thread as `tokio::fs::File` does. Being always ready, each read and write spends
//! the task's cooperative budget, so that a task copying the spool still yields — and sees
//! Ctrl-C, to abort its upload in time.

use std::io::{self, SeekFrom};
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::task::{Context, Poll};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

/// Plaintext bytes per sealed chunk.
const CHUNK: usize = 64 << 10;
/// The GCM tag after each chunk.
const TAG: usize = 16;

/// An encrypted temporary file read back as plaintext.
pub struct SealedFile {
    cipher: LessSafeKey,
    file: std::fs::File,
    /// Plaintext written and not sealed yet (less than a chunk).
    pending: Vec<u8>,
    /// Chunks sealed (and written) so far.
    sealed: u64,
    /// The plaintext's length, once the writing is over.
    len: Option<u64>,
    /// The chunk read last: its index and plaintext.
    open: Option<(u64, Vec<u8>)>,
    /// Where the next read starts.
    position: u64,
}

impl SealedFile {
    /// Seals `file` (an empty temporary file) with a key of its own.
    pub fn new(file: std::fs::File) -> io::Result<SealedFile> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| io::Error::other(format!("no randomness for the spool's key: {e}")))?;
        let key =
            UnboundKey::new(&AES_256_GCM, &key).map_err(|_| io::Error::other("the spool's key"))?;
        Ok(SealedFile {
            cipher: LessSafeKey::new(key),
            file,
            pending: Vec::with_capacity(CHUNK + TAG),
            sealed: 0,
            len: None,
            open: None,
            position: 0,
        })
    }

    fn nonce(index: u64) -> Nonce {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&index.to_be_bytes());
        Nonce::assume_unique_for_key(nonce)
    }

    /// Appends plaintext, sealing and writing every whole chunk.
    fn write_plain(&mut self, mut buf: &[u8]) -> io::Result<()> {
        if self.len.is_some() {
            return Err(io::Error::other(
                "the spool is read: it takes no more writes",
            ));
        }
        while !buf.is_empty() {
            let take = (CHUNK - self.pending.len()).min(buf.len());
            self.pending.extend_from_slice(&buf[..take]);
            buf = &buf[take..];
            if self.pending.len() == CHUNK {
                self.seal_pending()?;
            }
        }
        Ok(())
    }

    fn seal_pending(&mut self) -> io::Result<()> {
        let index = self.sealed;
        let tag = self
            .cipher
            .seal_in_place_separate_tag(Self::nonce(index), Aad::empty(), &mut self.pending)
            .map_err(|_| io::Error::other("sealing the spool file"))?;
        self.pending.extend_from_slice(tag.as_ref());
        self.file
            .write_all_at(&self.pending, index * (CHUNK + TAG) as u64)?;
        self.pending.clear();
        self.sealed += 1;
        Ok(())
    }

    /// Ends the writing (sealing the last, partial chunk): the plaintext's length.
    fn finish_writing(&mut self) -> io::Result<u64> {
        if let Some(len) = self.len {
            return Ok(len);
        }
        let len = self.sealed * CHUNK as u64 + self.pending.len() as u64;
        if !self.pending.is_empty() {
            self.seal_pending()?;
        }
        self.pending = Vec::new();
        self.len = Some(len);
        Ok(len)
    }

    /// Reads plaintext from `position`: at most to the end of its chunk.
    fn read_plain(&mut self, position: u64, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.finish_writing()?;
        if position >= len || buf.is_empty() {
            return Ok(0);
        }
        let index = position / CHUNK as u64;
        if self.open.as_ref().is_none_or(|(open, _)| *open != index) {
            let plain = (len - index * CHUNK as u64).min(CHUNK as u64) as usize;
            let mut chunk = self.open.take().map(|(_, v)| v).unwrap_or_default();
            chunk.resize(plain + TAG, 0);
            self.file
                .read_exact_at(&mut chunk, index * (CHUNK + TAG) as u64)?;
            self.cipher
                .open_in_place(Self::nonce(index), Aad::empty(), &mut chunk)
                .map_err(|_| io::Error::other("the spool file was changed on disk"))?;
            chunk.truncate(plain);
            self.open = Some((index, chunk));
        }
        let (_, chunk) = self.open.as_ref().expect("opened above");
        let at = (position - index * CHUNK as u64) as usize;
        let n = buf.len().min(chunk.len() - at);
        buf[..n].copy_from_slice(&chunk[at..at + n]);
        Ok(n)
    }
}

/// Blocking access, for the readers of an archive (which run off the async reactor): a
/// bundle's Parquet file is spooled here to be read at the offsets its footer gives.
impl SealedFile {
    /// Appends `buf` (before the first read).
    pub fn write_all_blocking(&mut self, buf: &[u8]) -> io::Result<()> {
        self.write_plain(buf)
    }

    /// Reads plaintext from `position` (the first read ends the writing).
    pub fn read_at_blocking(&mut self, position: u64, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_plain(position, buf)?;
        self.position = position + n as u64;
        Ok(n)
    }
}

impl AsyncWrite for SealedFile {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let budget = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        budget.made_progress();
        Poll::Ready(self.get_mut().write_plain(buf).map(|()| buf.len()))
    }

    /// Nothing to do: what was written becomes readable at the first seek or read, which
    /// seals the last chunk (it can only be sealed once).
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for SealedFile {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let budget = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        budget.made_progress();
        let this = self.get_mut();
        let position = this.position;
        let read = this.read_plain(position, buf.initialize_unfilled());
        Poll::Ready(read.map(|n| {
            buf.advance(n);
            this.position += n as u64;
        }))
    }
}

impl AsyncSeek for SealedFile {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        let len = this.finish_writing()?;
        let target = match position {
            SeekFrom::Start(at) => Some(at),
            SeekFrom::End(delta) => len.checked_add_signed(delta),
            SeekFrom::Current(delta) => this.position.checked_add_signed(delta),
        };
        this.position =
            target.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before 0"))?;
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};
    use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

    #[tokio::test]
    async fn ciphertext_on_disk_plaintext_back_at_any_offset() {
        let file = tempfile::tempfile().unwrap();
        let mut disk = file.try_clone().unwrap();
        let mut sealed = SealedFile::new(file).unwrap();
        let plain: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("MARKER-{i};").into_bytes())
            .collect();
        for piece in plain.chunks(100_003) {
            sealed.write_all(piece).await.unwrap();
        }
        sealed.flush().await.unwrap();
        for start in [0usize, 65_536, 70_000, plain.len() - 10] {
            sealed.seek(SeekFrom::Start(start as u64)).await.unwrap();
            let mut back = vec![0; (plain.len() - start).min(150_000)];
            sealed.read_exact(&mut back).await.unwrap();
            assert_eq!(back, plain[start..start + back.len()]);
        }
        let mut on_disk = Vec::new();
        disk.seek(SeekFrom::Start(0)).unwrap();
        disk.read_to_end(&mut on_disk).unwrap();
        // Every chunk and its tag, nothing else; no plaintext.
        assert_eq!(
            on_disk.len(),
            plain.len() + plain.len().div_ceil(CHUNK) * TAG
        );
        assert!(!on_disk.windows(7).any(|w| w == b"MARKER-"));
        assert!(sealed.write_all(b"late").await.is_err());
        // A byte changed on disk: that chunk fails its tag.
        on_disk[CHUNK + TAG + 5] ^= 1;
        disk.seek(SeekFrom::Start(0)).unwrap();
        disk.write_all(&on_disk).unwrap();
        sealed
            .seek(SeekFrom::Start(CHUNK as u64 + 1))
            .await
            .unwrap();
        let mut back = vec![0; 10];
        let err = sealed.read_exact(&mut back).await.unwrap_err();
        assert!(err.to_string().contains("changed on disk"), "{err}");
    }
}
