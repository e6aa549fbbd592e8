//! Where objects are, as addresses: the permanent address of an object (what the history
//! table records and `verify` accepts: `s3://bucket/key`, `file:///…`), the store as the
//! operator wrote it, and the way back — from an address to its store and key ([`Store::locate`]),
//! to a key this store owns ([`Store::owned_key`], which `prune` relies on), or to what an
//! abandoned local upload left ([`Store::remove_partial`]). Keys are `layout.rs`'s; opening
//! a store is `mod.rs`'s.

use object_store::path::{Path, PathPart};

use super::provider::{Provider, Scheme};
use super::{Location, Store, StoreConfig, layout};
use crate::error::{Kind, fail};

impl Store {
    /// The object's permanent address (what the history table records): never a signed URL.
    pub fn object_url(&self, key: &Path) -> String {
        match &self.location {
            Location::Local { root } => url::Url::from_file_path(root.join(key.as_ref()))
                .map(|u| u.to_string())
                .unwrap_or_else(|_| root.join(key.as_ref()).display().to_string()),
            Location::Cloud { provider, bucket } => {
                format!("{}://{bucket}/{key}", provider.scheme())
            }
        }
    }

    /// The store as the operator wrote it, without credentials.
    pub fn display(&self) -> String {
        match &self.location {
            Location::Local { root } => root.display().to_string(),
            Location::Cloud { provider, bucket } if self.prefix.as_ref().is_empty() => {
                format!("{}://{bucket}", provider.scheme())
            }
            Location::Cloud { provider, bucket } => {
                format!("{}://{bucket}/{}", provider.scheme(), self.prefix)
            }
        }
    }

    /// The store and key of an object from its permanent address (a history row's
    /// `object_url`, or what the operator passed to `verify`): `s3://`, `gs://`, `az://`,
    /// `file:///…` or a local path. Cloud options come from `config` when its scheme matches.
    /// A local store's root is the directory above the org's directory, as `run` lays it out.
    pub async fn locate(url: &str, config: &StoreConfig) -> anyhow::Result<(Store, Path)> {
        let path = match Scheme::of(url)? {
            Scheme::Cloud(provider) => return Store::locate_cloud(provider, url, config),
            Scheme::File => layout::file_url_to_path(url).ok_or_else(|| {
                fail(
                    Kind::Usage,
                    format!("cannot open {url:?}: expected s3://, gs://, az://, file:// or a path"),
                )
            })?,
            Scheme::Path => {
                std::path::absolute(url).map_err(|e| fail(Kind::Usage, format!("{url}: {e}")))?
            }
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
        Ok((Store::local(root)?, key))
    }

    fn locate_cloud(
        provider: Provider,
        url: &str,
        config: &StoreConfig,
    ) -> anyhow::Result<(Store, Path)> {
        let scheme = provider.scheme();
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let mut cloud = config.clone();
        cloud.url = format!("{scheme}://{bucket}");
        if !config.url.starts_with(&format!("{scheme}://")) {
            cloud.options.clear();
        }
        let mut store = Store::open(&cloud)?;
        store.prefix = Path::default();
        // The recorded key is already encoded: parse it, never encode it again.
        let key = Path::parse(key).unwrap_or_else(|_| Path::from(key));
        Ok((store, key))
    }

    /// The key of export `export_id`'s archive from its recorded address, only if it lies
    /// under this store and prefix and names that export: `prune` deletes nothing else,
    /// whatever a history row says.
    pub fn owned_key(&self, object_url: &str, export_id: &str) -> anyhow::Result<Path> {
        let outside = || {
            fail(
                Kind::Usage,
                format!(
                    "export {export_id}'s archive {object_url} is not under the configured store {}; not deleted (prune only deletes under --store)",
                    self.display()
                ),
            )
        };
        let key = match &self.location {
            Location::Cloud { provider, bucket } => {
                let rest = object_url
                    .strip_prefix(&format!("{}://{bucket}/", provider.scheme()))
                    .ok_or_else(outside)?;
                Path::parse(rest).map_err(|_| outside())?
            }
            Location::Local { root } => {
                let path = layout::file_url_to_path(object_url).ok_or_else(outside)?;
                let relative = path.strip_prefix(root).map_err(|_| outside())?;
                if relative
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
                {
                    return Err(outside());
                }
                Path::from_iter(
                    relative
                        .components()
                        .map(|c| PathPart::from(c.as_os_str().to_string_lossy().into_owned())),
                )
            }
        };
        let under_prefix = key.prefix_matches(&self.prefix);
        if !under_prefix || !layout::names_export(&key, export_id) {
            return Err(outside());
        }
        Ok(key)
    }

    /// Removes what an abandoned (killed) export left behind at `object_url` (the address its
    /// history row recorded when the upload began): for a local directory, the temporary
    /// files beside the final name (`<id>.json.gz#<n>`). A cloud upload never completed holds
    /// no object (its parts expire by the bucket's lifecycle rules).
    pub fn remove_partial(object_url: &str) {
        let Some(path) = layout::file_url_to_path(object_url) else {
            return;
        };
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
