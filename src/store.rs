//! Where archives go (DESIGN §5): an `object_store` opened from the `--store` URL, the object
//! keys, the streaming upload (multipart; for a local directory a temporary file renamed on
//! completion, so a failed export never leaves a file at the final name) and download links.
//!
//! This build knows local directories; the cloud schemes slot in here (issue: object stores).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::{Path, PathPart};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256};

use crate::error::{Failure, Kind, fail};
use crate::export::archive::ChunkSink;

/// Parts in flight at once during an upload.
const MAX_PARTS_IN_FLIGHT: usize = 4;
/// Size of an upload part.
const PART_SIZE: usize = 8 << 20;

pub struct Store {
    inner: Arc<dyn ObjectStore>,
    prefix: Path,
    location: Location,
}

enum Location {
    Local { root: PathBuf },
}

/// A download link.
#[derive(Debug, Clone)]
pub struct Link {
    pub url: String,
    /// `None` for unsigned links (local files), which do not expire.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Store {
    /// Opens the store named by `--store`: `file:///abs/dir` or a plain path.
    pub fn open(spec: &str) -> anyhow::Result<Store> {
        let scheme = spec.split_once("://").map(|(s, _)| s);
        let root = match scheme {
            None => std::path::absolute(spec)
                .with_context(|| format!("store path {spec:?}"))
                .map_err(|e| fail(Kind::Usage, format!("{e:#}")))?,
            Some("file") => url::Url::parse(spec)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| {
                    fail(
                        Kind::Usage,
                        format!("invalid store URL {spec:?}; write file:///absolute/dir"),
                    )
                })?,
            Some(other) => {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "store scheme {other}:// is not supported by this build; use a local directory or file:///dir"
                    ),
                ));
            }
        };
        Ok(Store {
            // Created lazily by `preflight`: LocalFileSystem wants an existing directory.
            inner: Arc::new(object_store::memory::InMemory::new()),
            prefix: Path::default(),
            location: Location::Local { root },
        })
    }

    /// The store and key of an object from its permanent address (a history row's
    /// `object_url`, or what the operator passed to `verify`): `file:///…` or a local path.
    /// The store's root is the directory above the org's directory, as `run` lays it out.
    pub async fn locate(url: &str) -> anyhow::Result<(Store, Path)> {
        let path = if url.contains("://") {
            url::Url::parse(url)
                .ok()
                .filter(|u| u.scheme() == "file")
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| {
                    fail(
                        Kind::Usage,
                        format!(
                            "cannot open {url:?}: this build reads file:// URLs and local paths"
                        ),
                    )
                })?
        } else {
            std::path::absolute(url).map_err(|e| fail(Kind::Usage, format!("{url}: {e}")))?
        };
        let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
            return Err(fail(Kind::Usage, format!("{url} does not name a file")));
        };
        let (root, key) = match (dir.parent(), dir.file_name()) {
            (Some(root), Some(org)) => (
                root.to_path_buf(),
                Path::default()
                    .join(PathPart::from(org.to_string_lossy().as_ref()))
                    .join(PathPart::from(file.to_string_lossy().as_ref())),
            ),
            _ => (
                dir.to_path_buf(),
                Path::default().join(PathPart::from(file.to_string_lossy().as_ref())),
            ),
        };
        let local = LocalFileSystem::new_with_prefix(&root).map_err(|e| {
            anyhow::Error::new(e).context(Failure::new(
                Kind::Store,
                format!("cannot open the store directory {}", root.display()),
            ))
        })?;
        Ok((
            Store {
                inner: Arc::new(local),
                prefix: Path::default(),
                location: Location::Local { root },
            },
            key,
        ))
    }

    /// The sidecar beside an archive key: `<id>.json.gz` → `<id>.manifest.json`.
    pub fn sidecar_of(key: &Path) -> Path {
        let text = key.as_ref();
        Path::from(format!(
            "{}.manifest.json",
            text.strip_suffix(".json.gz").unwrap_or(text)
        ))
    }

    /// Reads an object as a blocking byte stream (for `spawn_blocking` consumers such as the
    /// streaming verifier); memory stays bounded whatever the object's size.
    pub async fn open_read(&self, key: &Path) -> anyhow::Result<impl std::io::Read + Send + use<>> {
        let result = self.inner.get(key).await.map_err(|e| {
            let kind = if matches!(e, object_store::Error::NotFound { .. }) {
                Kind::ExportFailed
            } else {
                Kind::Store
            };
            anyhow::Error::new(e).context(Failure::new(
                kind,
                format!("cannot read {}", self.object_url(key)),
            ))
        })?;
        let stream =
            futures_util::TryStreamExt::map_err(result.into_stream(), std::io::Error::other);
        Ok(tokio_util::io::SyncIoBridge::new(
            tokio_util::io::StreamReader::new(stream),
        ))
    }

    /// A small object's bytes, or `None` when it does not exist.
    pub async fn read_small(&self, key: &Path) -> anyhow::Result<Option<Vec<u8>>> {
        match self.inner.get(key).await {
            Ok(result) => Ok(Some(
                result
                    .bytes()
                    .await
                    .map_err(|e| {
                        anyhow::Error::new(e).context(Failure::new(
                            Kind::Store,
                            format!("cannot read {}", self.object_url(key)),
                        ))
                    })?
                    .to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(anyhow::Error::new(e).context(Failure::new(
                Kind::Store,
                format!("cannot read {}", self.object_url(key)),
            ))),
        }
    }

    /// The store as the operator wrote it, without credentials.
    pub fn display(&self) -> String {
        match &self.location {
            Location::Local { root } => root.display().to_string(),
        }
    }

    /// Checks that the store is reachable and writable (creating a local directory if
    /// needed) by writing and deleting a probe object. Failures are `Kind::Store`.
    pub async fn preflight(&mut self) -> anyhow::Result<()> {
        let store_err = |what: String| {
            move |e: object_store::Error| {
                anyhow::Error::new(e).context(Failure::new(Kind::Store, what))
            }
        };
        match &self.location {
            Location::Local { root } => {
                std::fs::create_dir_all(root).map_err(|e| {
                    fail(
                        Kind::Store,
                        format!(
                            "cannot create the store directory {}: {e}; choose a writable --store",
                            root.display()
                        ),
                    )
                })?;
                let local = LocalFileSystem::new_with_prefix(root).map_err(store_err(format!(
                    "cannot open the store directory {}",
                    root.display()
                )))?;
                self.inner = Arc::new(local);
            }
        }
        let probe = self
            .prefix
            .clone()
            .join(format!(".orgexport-probe-{}", uuid::Uuid::now_v7()));
        let what = format!(
            "the store {} is not writable; check its permissions or choose another --store",
            self.display()
        );
        self.inner
            .put(&probe, PutPayload::from_static(b"probe"))
            .await
            .map_err(store_err(what.clone()))?;
        let read_back = self
            .inner
            .get(&probe)
            .await
            .map_err(store_err(what.clone()))?
            .bytes()
            .await
            .map_err(store_err(what.clone()))?;
        if read_back.as_ref() != b"probe" {
            return Err(fail(
                Kind::Store,
                format!("{what}: the probe object read back differently"),
            ));
        }
        self.inner.delete(&probe).await.map_err(store_err(what))?;
        Ok(())
    }

    /// `<prefix>/<org lookup>/<export_id>.json.gz`
    pub fn archive_key(&self, org_lookup: &str, export_id: &str) -> Path {
        self.prefix
            .clone()
            .join(PathPart::from(org_lookup))
            .join(format!("{export_id}.json.gz"))
    }

    /// `<prefix>/<org lookup>/<export_id>.manifest.json`
    pub fn sidecar_key(&self, org_lookup: &str, export_id: &str) -> Path {
        self.prefix
            .clone()
            .join(PathPart::from(org_lookup))
            .join(format!("{export_id}.manifest.json"))
    }

    /// The object's permanent address (what the history table records): never a signed URL.
    pub fn object_url(&self, key: &Path) -> String {
        match &self.location {
            Location::Local { root } => url::Url::from_file_path(root.join(key.as_ref()))
                .map(|u| u.to_string())
                .unwrap_or_else(|_| root.join(key.as_ref()).display().to_string()),
        }
    }

    /// A download link for an object. Local files get an unsigned `file://` URL.
    pub async fn link(&self, key: &Path, _ttl: Duration) -> anyhow::Result<Link> {
        match &self.location {
            Location::Local { .. } => Ok(Link {
                url: self.object_url(key),
                expires_at: None,
            }),
        }
    }

    /// Starts the streaming upload of an object.
    pub async fn upload(&self, key: &Path) -> anyhow::Result<Upload> {
        let upload = self.inner.put_multipart(key).await.map_err(|e| {
            anyhow::Error::new(e).context(Failure::new(
                Kind::Store,
                format!("cannot start writing {}", self.object_url(key)),
            ))
        })?;
        Ok(Upload {
            writer: WriteMultipart::new_with_chunk_size(upload, PART_SIZE),
            hasher: Sha256::new(),
            bytes: 0,
        })
    }

    /// Writes a small object in one go (the sidecar manifest).
    pub async fn put(&self, key: &Path, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.inner
            .put(key, PutPayload::from(bytes))
            .await
            .map_err(|e| {
                anyhow::Error::new(e).context(Failure::new(
                    Kind::Store,
                    format!("cannot write {}", self.object_url(key)),
                ))
            })?;
        Ok(())
    }

    /// Removes what an abandoned (killed) export left behind: for a local directory, the
    /// temporary file beside the final name.
    pub fn remove_partial(&self, org_lookup: &str, export_id: &str) {
        match &self.location {
            Location::Local { root } => {
                let key = self.archive_key(org_lookup, export_id);
                let path = root.join(key.as_ref());
                let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
                    return;
                };
                let prefix = format!("{}#", name.to_string_lossy());
                for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    if entry.file_name().to_string_lossy().starts_with(&prefix) {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        }
    }

    /// Deletes an object; a missing object is not an error.
    pub async fn delete(&self, key: &Path) -> anyhow::Result<()> {
        match self.inner.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(anyhow::Error::new(e).context(Failure::new(
                Kind::Store,
                format!("cannot delete {}", self.object_url(key)),
            ))),
        }
    }
}

/// An upload in progress: hashes and counts what passes through.
pub struct Upload {
    writer: WriteMultipart,
    hasher: Sha256,
    bytes: u64,
}

/// What a completed upload wrote.
#[derive(Debug, Clone)]
pub struct Uploaded {
    pub bytes: u64,
    pub sha256: String,
}

impl ChunkSink for Upload {
    async fn write(&mut self, chunk: Vec<u8>) -> anyhow::Result<()> {
        self.hasher.update(&chunk);
        self.bytes += chunk.len() as u64;
        self.writer
            .wait_for_capacity(MAX_PARTS_IN_FLIGHT)
            .await
            .map_err(|e| {
                anyhow::Error::new(e).context(Failure::new(Kind::Store, "uploading the archive"))
            })?;
        self.writer.put(Bytes::from(chunk));
        Ok(())
    }
}

impl Upload {
    /// Completes the upload: only now does the object appear at its final key.
    pub async fn finish(self) -> anyhow::Result<Uploaded> {
        self.writer.finish().await.map_err(|e| {
            anyhow::Error::new(e)
                .context(Failure::new(Kind::Store, "completing the archive upload"))
        })?;
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
