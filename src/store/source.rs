//! An archive to read (`verify`, `restore`): an object of a store — found by export id inside
//! the configured store, or by the address the operator typed — or a download link. Both read
//! as one blocking byte stream; only a store's object has a sidecar beside it.

use std::io::Read;

use object_store::path::Path;

use super::{Store, download};
use crate::redact::redact_url;

pub enum ArchiveSource {
    Object { store: Store, key: Path },
    Link { url: String },
}

impl ArchiveSource {
    /// What the operator typed, as an archive: a download link, or a store address or path
    /// ([`Store::locate`]).
    pub async fn typed(source: &str, config: &super::StoreConfig) -> anyhow::Result<ArchiveSource> {
        if download::is_link(source) {
            return Ok(ArchiveSource::Link {
                url: source.to_string(),
            });
        }
        let (store, key) = Store::locate(source, config).await?;
        Ok(ArchiveSource::Object { store, key })
    }

    /// The archive's address for messages: a link without its signature or password.
    pub fn describe(&self) -> String {
        match self {
            ArchiveSource::Object { store, key } => store.object_url(key),
            ArchiveSource::Link { url } => redact_url(url),
        }
    }

    /// The archive as a blocking byte stream (for `spawn_blocking` readers).
    pub async fn open_read(&self) -> anyhow::Result<Box<dyn Read + Send>> {
        Ok(match self {
            ArchiveSource::Object { store, key } => Box::new(store.open_read(key).await?),
            ArchiveSource::Link { url } => Box::new(download::open_link(url).await?),
        })
    }

    /// The sidecar beside a store's archive; a link names one object only.
    pub async fn sidecar(&self) -> anyhow::Result<Option<Vec<u8>>> {
        match self {
            ArchiveSource::Object { store, key } => store.read_small(&Store::sidecar_of(key)).await,
            ArchiveSource::Link { .. } => Ok(None),
        }
    }
}
