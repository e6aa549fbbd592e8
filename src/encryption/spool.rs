//! The spool's file, sealed: [`SealedFile`] is what the export's spool (an anonymous
//! temporary file of compressed sections, `export::archive::Spool`) writes to and reads back
//! from, and on disk it holds only ciphertext — always, whether the archive is encrypted or
//! not: an age file encrypted to an X25519 identity generated for this one file and kept in
//! memory only, so that what a crash, a full disk or a snapshot of the temporary directory
//! leaves behind can never be read. Written sequentially, then read (and sought) as plaintext
//! once the writing is over; the first seek or read closes the age stream. What goes into
//! the spool, and how its sections are assembled, are the export's.
//!
//! The file is a local temporary file in the page cache: its reads and writes are done
//! inline in the `poll_*` methods (64 KiB age chunks), which costs the reactor less than
//! handing each to a blocking thread as `tokio::fs::File` does. Being always ready, each
//! read and write spends the task's cooperative budget, so that a task copying the spool
//! still yields — and sees Ctrl-C, to abort its upload in time.

use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

/// An encrypted temporary file read back as plaintext.
pub struct SealedFile {
    identity: age::x25519::Identity,
    state: State,
    /// Where the last seek went (`poll_complete` reports it).
    position: u64,
}

enum State {
    Writing(age::stream::StreamWriter<BufWriter<std::fs::File>>),
    Reading(age::stream::StreamReader<BufReader<std::fs::File>>),
    /// Closing the writer failed: the error was reported once; nothing more can be read.
    Broken,
}

impl SealedFile {
    /// Seals `file` (an empty temporary file) with a key of its own.
    pub fn new(file: std::fs::File) -> io::Result<SealedFile> {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public();
        let writer = age::Encryptor::with_recipients(std::iter::once(&recipient as _))
            .map_err(io::Error::other)?
            .wrap_output(BufWriter::new(file))?;
        Ok(SealedFile {
            identity,
            state: State::Writing(writer),
            position: 0,
        })
    }

    /// The plaintext reader, closing the writer first if it is still open.
    fn reader(&mut self) -> io::Result<&mut age::stream::StreamReader<BufReader<std::fs::File>>> {
        if matches!(self.state, State::Writing(_)) {
            let State::Writing(writer) = std::mem::replace(&mut self.state, State::Broken) else {
                unreachable!("matched above");
            };
            let mut file = writer.finish()?.into_inner().map_err(|e| e.into_error())?;
            file.seek(SeekFrom::Start(0))?;
            let reader = age::Decryptor::new_buffered(BufReader::new(file))
                .map_err(io::Error::other)?
                .decrypt(std::iter::once(&self.identity as &dyn age::Identity))
                .map_err(io::Error::other)?;
            self.state = State::Reading(reader);
        }
        match &mut self.state {
            State::Reading(reader) => Ok(reader),
            _ => Err(io::Error::other("the spool file could not be closed")),
        }
    }
}

/// Blocking access, for the readers of an archive (which run off the async reactor): a
/// bundle's Parquet file is spooled here to be read at the offsets its footer gives.
impl SealedFile {
    /// Appends `buf` (before the first read).
    pub fn write_all_blocking(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.state {
            State::Writing(writer) => writer.write_all(buf),
            _ => Err(io::Error::other(
                "the spool is read: it takes no more writes",
            )),
        }
    }

    /// Reads plaintext from `position` (the first read closes the writer).
    pub fn read_at_blocking(&mut self, position: u64, buf: &mut [u8]) -> io::Result<usize> {
        let moved = position != self.position || matches!(self.state, State::Writing(_));
        let reader = self.reader()?;
        if moved {
            reader.seek(SeekFrom::Start(position))?;
        }
        let n = reader.read(buf)?;
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
        Poll::Ready(match &mut self.get_mut().state {
            State::Writing(writer) => writer.write(buf),
            _ => Err(io::Error::other(
                "the spool is read: it takes no more writes",
            )),
        })
    }

    /// Nothing to do: what was written becomes readable at the first seek or read, which
    /// closes the age stream (its last chunk can only be written once).
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
        let read = this
            .reader()
            .and_then(|reader| reader.read(buf.initialize_unfilled()));
        Poll::Ready(read.map(|n| {
            buf.advance(n);
            this.position += n as u64;
        }))
    }
}

impl AsyncSeek for SealedFile {
    fn start_seek(self: Pin<&mut Self>, position: SeekFrom) -> io::Result<()> {
        let this = self.get_mut();
        this.position = this.reader()?.seek(position)?;
        Ok(())
    }

    fn poll_complete(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<u64>> {
        Poll::Ready(Ok(self.position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert!(on_disk.starts_with(super::super::AGE_MAGIC));
        assert!(!on_disk.windows(7).any(|w| w == b"MARKER-"));
        assert!(sealed.write_all(b"late").await.is_err());
    }
}
