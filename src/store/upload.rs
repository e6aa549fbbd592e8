//! Writing objects: the streaming archive upload ([`Upload`]: multipart, parts go up while the
//! archive is produced, a bounded number at once; hashed and counted as it passes; only
//! [`Upload::finish`] makes the object appear, and an aborted one leaves nothing at the final
//! key), the one-go write of a small object ([`Store::put`]), and the content type and
//! disposition both carry. Where objects go and how the store is opened are `mod.rs`'s.

use bytes::Bytes;
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, PutMultipartOptions, PutOptions, PutPayload, WriteMultipart,
};
use sha2::{Digest, Sha256};

use super::errors::{store_failure, store_failure_explained};
use super::{Location, Store};

/// Where an archive's compressed bytes go, in order: an upload, or the local spool the
/// sections are written to first. Defined here, below the archive writer that uses it.
pub trait ChunkSink: Send {
    fn write(&mut self, chunk: Vec<u8>) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// An upload in progress: hashes and counts what passes through.
pub struct Upload {
    writer: WriteMultipart,
    hasher: Sha256,
    bytes: u64,
    max_parts_in_flight: usize,
}

/// What a completed upload wrote.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub bytes: u64,
    pub sha256: String,
}

impl Store {
    /// Starts the streaming upload of an object.
    pub async fn upload(&self, key: &Path) -> anyhow::Result<Upload> {
        let options = PutMultipartOptions {
            attributes: self.attributes(key),
            ..PutMultipartOptions::default()
        };
        let upload = self
            .inner
            .put_multipart_opts(key, options)
            .await
            .map_err(|e| {
                store_failure_explained(
                    e,
                    &format!("cannot start writing {}", self.object_url(key)),
                )
            })?;
        Ok(Upload {
            writer: WriteMultipart::new_with_chunk_size(upload, self.part_size),
            hasher: Sha256::new(),
            bytes: 0,
            max_parts_in_flight: self.max_parts_in_flight,
        })
    }

    /// Writes a small object in one go (the sidecar manifest).
    pub async fn put(&self, key: &Path, bytes: Vec<u8>) -> anyhow::Result<()> {
        let options = PutOptions {
            attributes: self.attributes(key),
            ..PutOptions::default()
        };
        self.inner
            .put_opts(key, PutPayload::from(bytes), options)
            .await
            .map_err(|e| store_failure(e, format!("cannot write {}", self.object_url(key))))?;
        Ok(())
    }

    /// Content type and disposition of archives and sidecars (cloud stores; the local file
    /// system keeps no attributes).
    fn attributes(&self, key: &Path) -> Attributes {
        let mut attributes = Attributes::new();
        if matches!(self.location, Location::Cloud { .. }) {
            let name = key.filename().unwrap_or("export");
            if crate::archive_format::Format::of_file_name(name).is_some() {
                // The bytes are a .json.gz (.ndjson.gz, .tar.gz) file, not JSON sent compressed: no Content-Encoding,
                // so that a browser saves exactly the archive.
                attributes.insert(Attribute::ContentType, "application/gzip".into());
                attributes.insert(
                    Attribute::ContentDisposition,
                    format!("attachment; filename=\"{name}\"").into(),
                );
            } else if name.ends_with(crate::archive_format::ENCRYPTED_SUFFIX) {
                // An age file: opaque bytes, saved as they are.
                attributes.insert(Attribute::ContentType, "application/octet-stream".into());
                attributes.insert(
                    Attribute::ContentDisposition,
                    format!("attachment; filename=\"{name}\"").into(),
                );
            } else {
                attributes.insert(Attribute::ContentType, "application/json".into());
            }
        }
        attributes
    }
}

impl ChunkSink for Upload {
    async fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        self.hasher.update(&chunk);
        self.bytes += chunk.len() as u64;
        self.writer
            .wait_for_capacity(self.max_parts_in_flight)
            .await
            .map_err(|e| store_failure_explained(e, "uploading the archive"))?;
        self.writer.put(Bytes::from(chunk));
        Ok(())
    }
}

impl Upload {
    /// Waits until every part handed over so far is uploaded, so that completing the upload
    /// is quick: the caller waits here where an interrupt can still abort it (a run
    /// interrupted while its last parts went up completed them before).
    pub async fn settle(&mut self) -> anyhow::Result<()> {
        self.writer
            .wait_for_capacity(0)
            .await
            .map_err(|e| store_failure_explained(e, "uploading the archive"))
    }

    /// Completes the upload: only now does the object appear at its final key.
    pub async fn finish(self) -> anyhow::Result<Uploaded> {
        self.writer
            .finish()
            .await
            .map_err(|e| store_failure(e, "completing the archive upload"))?;
        Ok(Uploaded {
            bytes: self.bytes,
            sha256: hex::encode(self.hasher.finalize()),
        })
    }

    /// Abandons the upload: nothing appears at the final key.
    pub async fn abort(self) {
        let _ = self.writer.abort().await;
    }
}
