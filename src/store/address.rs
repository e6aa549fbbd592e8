//! Where objects are, as addresses: the permanent address of an object (what the history
//! table records and `verify` accepts: `s3://bucket/key`, `file:///…`), the store as the
//! operator wrote it, and the way back — from an address to its store and key ([`Store::locate`]),
//! to a key this store owns ([`Store::owned_key`]: the one boundary `link`, `verify`,
//! `restore` and `prune` cross), or to what an
//! abandoned local upload left ([`Store::remove_partial`]). Keys are `layout.rs`'s; opening
//! a store is `mod.rs`'s.

use object_store::path::{Path, PathPart};

use super::provider::{Provider, Scheme};
use super::{Location, Store, StoreConfig, layout};
use crate::error::{Kind, fail};
use crate::redact::redact_url;

/// What a history row says about an export's archive: the input of the boundary check.
pub struct RecordedArchive<'a> {
    pub export_id: &'a str,
    pub org_key: &'a str,
    pub org_lookup: &'a str,
    pub object_url: &'a str,
}

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
        let shown = redact_url(url);
        let path = match Scheme::of(url)? {
            Scheme::Cloud(provider) => return Store::locate_cloud(provider, url, config),
            Scheme::File => layout::file_url_to_path(url).ok_or_else(|| {
                fail(
                    Kind::Usage,
                    format!(
                        "cannot open {shown:?}: expected s3://, gs://, az://, https://, file:// or a path"
                    ),
                )
            })?,
            Scheme::Path => {
                std::path::absolute(url).map_err(|e| fail(Kind::Usage, format!("{shown}: {e}")))?
            }
        };
        let (Some(dir), Some(file)) = (path.parent(), path.file_name()) else {
            return Err(fail(Kind::Usage, format!("{shown} does not name a file")));
        };
        refuse_special_file(&path)?;
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

    /// The key of a history row's archive, only when the row describes an archive of this
    /// store: its address lies under the store and prefix (no `..`), in the folder the row's
    /// org key gives ([`layout::is_org_dir`]), named by the row's export id, and — for a local
    /// store — no symbolic link on the resolved path below the store's root. The one boundary
    /// `link`, `verify`, `restore` and `prune` cross before they sign, read or delete anything,
    /// whatever a history row says. Refusals name the row: exit 2, or 6 for a symlink.
    pub fn owned_key(&self, row: &RecordedArchive) -> anyhow::Result<Path> {
        let refuse = |why: &str| {
            fail(
                Kind::Usage,
                format!(
                    "export {}'s history row is refused: its archive {} is not under the configured store {} as export {} of org key {} ({why}); nothing was signed, read or deleted — pass the --store it was exported to",
                    row.export_id,
                    redact_url(row.object_url),
                    self.display(),
                    row.export_id,
                    row.org_key,
                ),
            )
        };
        let key = self.key_under(row.object_url).map_err(refuse)?;
        let parts: Vec<PathPart> = key
            .prefix_match(&self.prefix)
            .into_iter()
            .flatten()
            .collect();
        let [folder, _file] = parts.as_slice() else {
            return Err(refuse("not <org folder>/<export id>.json.gz"));
        };
        if !layout::names_export(&key, row.export_id) {
            return Err(refuse("named for another export"));
        }
        if !layout::is_org_dir(folder.as_ref(), row.org_key, row.org_lookup) {
            return Err(refuse("in another org's folder"));
        }
        self.check_inside(&key).map_err(|e| {
            e.context(format!(
                "export {}'s history row is refused; nothing was signed, read or deleted",
                row.export_id
            ))
        })?;
        Ok(key)
    }

    /// Why an address does not lie under this store and its prefix (`None`: it does) — what
    /// `prune` skips as another store's. Lying under it is not owning it: [`Store::owned_key`]
    /// checks the rest.
    pub fn outside(&self, object_url: &str) -> Option<&'static str> {
        self.key_under(object_url).err()
    }

    /// The key of an address under this store and prefix, or why it is not under them.
    fn key_under(&self, object_url: &str) -> Result<Path, &'static str> {
        let key = match &self.location {
            Location::Cloud { provider, bucket } => {
                let rest = object_url
                    .strip_prefix(&format!("{}://{bucket}/", provider.scheme()))
                    .ok_or("another store or bucket")?;
                Path::parse(rest).map_err(|_| "not a valid key")?
            }
            Location::Local { root } => {
                let path = layout::file_url_to_path(object_url).ok_or("not a file:// URL")?;
                let relative = path
                    .strip_prefix(root)
                    .map_err(|_| "outside the store's directory")?;
                if relative
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
                {
                    return Err("the path climbs with `..`");
                }
                Path::from_iter(
                    relative
                        .components()
                        .map(|c| PathPart::from(c.as_os_str().to_string_lossy().into_owned())),
                )
            }
        };
        if !key.prefix_matches(&self.prefix) {
            return Err("outside the store's prefix");
        }
        Ok(key)
    }

    /// For a local store: no symbolic link on the way from the root to `key` (checked on the
    /// file system, not the text), so nothing is read, written or deleted outside the root
    /// through a link planted in the store. `run` checks the key it writes; `owned_key` the
    /// keys it hands out. A cloud store has no links.
    pub fn check_inside(&self, key: &Path) -> anyhow::Result<()> {
        let Location::Local { root } = &self.location else {
            return Ok(());
        };
        let mut path = root.clone();
        for part in key.as_ref().split('/') {
            path.push(part);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(fail(
                        Kind::Store,
                        format!(
                            "{} is a symbolic link inside the store {}: the store is only read and written through real directories; remove the link",
                            path.display(),
                            self.display()
                        ),
                    ));
                }
                Ok(_) => {}
                // Not there (yet): nothing below it can be a link.
                Err(_) => break,
            }
        }
        Ok(())
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

/// An archive path the operator typed must be a regular file (or not exist yet, which reading
/// reports): a device, FIFO, socket or directory is named for what it is, before anything
/// reads from it (`verify /dev/zero` would otherwise read forever or report an empty file).
fn refuse_special_file(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let t = meta.file_type();
    let what = if t.is_file() {
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(fail(
        Kind::Usage,
        format!(
            "{} is {what}, not an archive; name an archive file (<id>.json.gz), a store URL or an export id",
            path.display()
        ),
    ))
}
