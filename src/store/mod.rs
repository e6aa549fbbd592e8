//! Where archives go (DESIGN §5): a [`Store`] opened from the `--store` URL — a local
//! directory, `s3://`, `gs://` or `az://` — and what it does with objects: their keys under
//! the store's prefix ([`layout`]), the preflight probe, reads, deletes and download links
//! (presigned by the provider; unsigned `file://` for a local directory). Writing is
//! `upload.rs`'s (a failed upload is aborted, so nothing ever appears at the final key);
//! addresses and the way back from them `address.rs`'s; the providers, their options and the
//! environment `provider.rs`'s; what a failure means `errors.rs`'s.
//!
//! Credentials, region and endpoint come from each provider's usual environment variables
//! (`AWS_*`, `GOOGLE_*`, `AZURE_*`, read by `object_store`'s builders), then from the
//! `[store]` table of the config file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use object_store::aws::AwsCredentialProvider;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::signer::Signer;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::archive_format::Format;

use crate::error::{Failure, Kind, fail};
use crate::redact::redact_url;
use errors::{store_failure, store_failure_because, store_failure_explained};
use provider::{Provider, Scheme};

mod address;
mod download;
mod errors;
pub mod layout;
mod provider;
mod source;
mod upload;

pub use address::RecordedArchive;
pub use errors::StoreErrorReason;
pub use source::ArchiveSource;
pub use upload::{ChunkSink, Upload, Uploaded};

/// The longest a presigned link may live (S3 and GCS V4 signatures: 7 days).
const MAX_LINK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest the store probe may take (credentials, bucket, a write and a read).
const PREFLIGHT_TIMEOUT: Duration = Duration::from_secs(120);

/// Upload part size for a local directory.
const LOCAL_PART_SIZE: usize = 1 << 20;

/// Where archives go and how they are uploaded (`--store` and the `[store]` config table).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub url: String,
    /// Provider options (`aws_endpoint`, `aws_region`, `google_service_account`,
    /// `azure_storage_account_name`, …), passed to the provider's builder.
    pub options: BTreeMap<String, String>,
    /// Size of an upload part.
    pub part_size: usize,
    /// Parts uploading at once.
    pub max_parts_in_flight: usize,
}

impl StoreConfig {
    pub fn new(url: impl Into<String>) -> StoreConfig {
        StoreConfig {
            url: url.into(),
            options: BTreeMap::new(),
            part_size: 8 << 20,
            max_parts_in_flight: 4,
        }
    }
}

pub struct Store {
    inner: Arc<dyn ObjectStore>,
    signer: Option<Arc<dyn Signer>>,
    /// S3's credential chain, tried on its own by [`Store::preflight`].
    credentials: Option<AwsCredentialProvider>,
    prefix: Path,
    location: Location,
    part_size: usize,
    max_parts_in_flight: usize,
}

enum Location {
    Local { root: PathBuf },
    Cloud { provider: Provider, bucket: String },
}

/// A download link.
#[derive(Debug, Clone)]
pub struct Link {
    pub url: String,
    /// `None` for unsigned links (local files), which do not expire.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Store {
    /// Opens the store named by `--store`: `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix`, `file:///abs/dir` or a plain path (created when missing); any
    /// other scheme is a usage error. The store is ready to use; a cloud store is not
    /// contacted yet ([`Store::preflight`] does).
    pub fn open(config: &StoreConfig) -> anyhow::Result<Store> {
        let Some(root) = Store::local_root(config)? else {
            let Scheme::Cloud(provider) = Scheme::of(&config.url)? else {
                unreachable!("a store that is not local is a cloud store")
            };
            return Store::open_cloud(provider, config);
        };
        Store::not_a_file(&root)?;
        std::fs::create_dir_all(&root).map_err(|e| {
            fail(
                Kind::Store,
                format!(
                    "cannot create the store directory {}: {e}; choose a writable --store",
                    root.display()
                ),
            )
        })?;
        refuse_pseudo_file_system(&root)?;
        Store::local(root)
    }

    /// What the store applies at rest to the archives it is given (`check`): S3's
    /// server-side encryption as `--sse` or the `[store]` options request it, or the
    /// bucket's, container's or file system's own.
    pub fn at_rest(config: &StoreConfig) -> anyhow::Result<String> {
        match Scheme::of(&config.url)? {
            Scheme::Cloud(provider) => provider::at_rest(provider, &config.options),
            _ => Ok(
                "a local directory: no server-side encryption (use --encrypt-to, or an encrypted file system)"
                    .into(),
            ),
        }
    }

    /// A local store's directory from `--store` (`None`: a cloud store); nothing is created.
    pub fn local_root(config: &StoreConfig) -> anyhow::Result<Option<PathBuf>> {
        let spec = config.url.as_str();
        let shown = redact_url(spec);
        let root = match Scheme::of(spec)? {
            Scheme::Cloud(_) => return Ok(None),
            Scheme::Path if spec.trim().is_empty() => {
                return Err(fail(
                    Kind::Usage,
                    "the store is an empty path; pass --store DIR or s3://bucket/prefix",
                ));
            }
            Scheme::Path => std::path::absolute(spec)
                .with_context(|| format!("store path {shown:?}"))
                .map_err(|e| fail(Kind::Usage, format!("{e:#}")))?,
            Scheme::File => layout::file_url_to_path(spec).ok_or_else(|| {
                fail(
                    Kind::Usage,
                    format!("invalid store URL {shown:?}; write file:///absolute/dir"),
                )
            })?,
        };
        if root.parent().is_none() {
            return Err(fail(
                Kind::Usage,
                format!(
                    "the store {shown:?} is the file system's root; write file:///absolute/dir or a directory"
                ),
            ));
        }
        Ok(Some(root))
    }

    /// Refuses, in a sentence, a local store whose path (or a folder on the way to it) is a
    /// file: `mkdir` would only say "File exists (os error 17)".
    fn not_a_file(root: &std::path::Path) -> anyhow::Result<()> {
        let Some(existing) = root.ancestors().find(|a| a.exists()) else {
            return Ok(());
        };
        if existing.is_dir() {
            return Ok(());
        }
        let what = if existing == root {
            format!("the store {} is a file, not a directory", root.display())
        } else {
            format!(
                "the store {} cannot be a directory: {} is a file",
                root.display(),
                existing.display()
            )
        };
        Err(fail(
            Kind::Store,
            format!("{what}; pass a directory (or file:///abs/dir) to --store"),
        ))
    }

    /// For `check`, which creates nothing: a local store directory that does not exist yet,
    /// with the existing directory the first `run` creates it in — refused when that is not
    /// writable. `None`: the directory exists (or the store is a cloud store).
    pub fn local_dir_to_create(config: &StoreConfig) -> anyhow::Result<Option<PathBuf>> {
        let Some(root) = Store::local_root(config)? else {
            return Ok(None);
        };
        Store::not_a_file(&root)?;
        if root.exists() {
            return Ok(None);
        }
        let parent = root
            .ancestors()
            .find(|a| a.exists())
            .unwrap_or(std::path::Path::new("/"))
            .to_path_buf();
        let c_path = std::ffi::CString::new(parent.as_os_str().as_encoded_bytes())
            .map_err(|_| fail(Kind::Usage, "the store path holds a NUL byte"))?;
        // SAFETY: access reads a NUL-terminated path and retains nothing.
        if unsafe { libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
            return Err(fail(
                Kind::Store,
                format!(
                    "the store directory {} does not exist and cannot be created: {} is not writable; choose a writable --store",
                    root.display(),
                    parent.display()
                ),
            ));
        }
        Ok(Some(parent))
    }

    /// A ready store over an existing local directory.
    fn local(root: PathBuf) -> anyhow::Result<Store> {
        let local = LocalFileSystem::new_with_prefix(&root).map_err(|e| {
            store_failure_explained(
                e,
                &format!("cannot open the store directory {}", root.display()),
            )
        })?;
        Ok(Store {
            inner: Arc::new(local),
            signer: None,
            credentials: None,
            prefix: Path::default(),
            location: Location::Local { root },
            // A local file has no minimum part size and gains nothing from parallel parts:
            // small parts keep memory flat.
            part_size: LOCAL_PART_SIZE,
            max_parts_in_flight: 2,
        })
    }

    fn open_cloud(provider: Provider, config: &StoreConfig) -> anyhow::Result<Store> {
        let shown = redact_url(&config.url);
        let url = url::Url::parse(&config.url)
            .map_err(|e| fail(Kind::Usage, format!("invalid store URL {shown:?}: {e}")))?;
        let bucket = url.host_str().unwrap_or_default().to_string();
        if bucket.is_empty() {
            return Err(fail(
                Kind::Usage,
                format!(
                    "store URL {shown:?} names no bucket; write {}://bucket/prefix",
                    provider.scheme()
                ),
            ));
        }
        let bucket_url = format!("{}://{bucket}", provider.scheme());
        let cloud = provider::connect(provider, &bucket_url, &config.options, &config.url)?;
        Ok(Store {
            inner: cloud.inner,
            signer: Some(cloud.signer),
            credentials: cloud.credentials,
            prefix: Path::from(url.path().trim_matches('/')),
            location: Location::Cloud { provider, bucket },
            part_size: config.part_size,
            max_parts_in_flight: config.max_parts_in_flight,
        })
    }

    /// The sidecar beside an archive key.
    pub fn sidecar_of(key: &Path) -> Path {
        layout::sidecar_of(key)
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
                    .map_err(|e| store_failure(e, format!("cannot read {}", self.object_url(key))))?
                    .to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_failure(
                e,
                format!("cannot read {}", self.object_url(key)),
            )),
        }
    }

    /// Checks that the store is reachable and writable (creating a local directory if
    /// needed) by writing and deleting a probe object. Failures are `Kind::Store`.
    pub async fn preflight(&self) -> anyhow::Result<()> {
        // Bounded: a store that neither answers nor fails must not hold the run forever.
        tokio::time::timeout(PREFLIGHT_TIMEOUT, self.probe())
            .await
            .unwrap_or_else(|_| {
                Err(fail(
                    Kind::Store,
                    format!(
                        "the store {} did not answer the probe within {}s; check it, or choose another --store",
                        self.display(),
                        PREFLIGHT_TIMEOUT.as_secs()
                    ),
                ))
            })
    }

    async fn probe(&self) -> anyhow::Result<()> {
        if matches!(self.location, Location::Cloud { .. }) {
            self.check_bucket().await?;
        }
        let store_err = |what: String| move |e| store_failure_explained(e, &what);
        let probe = self
            .prefix
            .clone()
            .join(format!(".orgexport-probe-{}", uuid::Uuid::now_v7()));
        let what = match self.location {
            Location::Local { .. } => format!(
                "the store {} is not writable; check its permissions or choose another --store",
                self.display()
            ),
            Location::Cloud { .. } => format!(
                "cannot write a probe object to the store {}",
                self.display()
            ),
        };
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

    /// A cloud store's credentials and bucket, before anything is written.
    async fn check_bucket(&self) -> anyhow::Result<()> {
        let what = || format!("cannot use the store {}", self.display());
        // Asked on its own, the credential chain's failure is told by which call failed: no
        // request to the bucket was made.
        if let Some(credentials) = &self.credentials
            && credentials.get_credential().await.is_err()
        {
            return Err(store_failure_because(
                StoreErrorReason::NoCredentials,
                &what(),
            ));
        }
        // Listing tells a missing bucket apart (some servers create one on write). A role
        // allowed to write but not to list is fine: only a missing bucket or an unreachable
        // endpoint is conclusive.
        if let Err(e) = self.inner.list_with_delimiter(Some(&self.prefix)).await
            && let Some(
                reason @ (StoreErrorReason::NotFound
                | StoreErrorReason::NoSuchBucket
                | StoreErrorReason::Unreachable),
            ) = StoreErrorReason::of_listing(&e)
        {
            return Err(store_failure_because(reason, &what()));
        }
        Ok(())
    }

    /// Where export `export_id` of the org in `org_dir` ([`layout::org_dir`]) goes.
    pub fn archive_key(&self, org_dir: &str, export_id: &str) -> Path {
        self.archive_key_as(org_dir, export_id, Format::Json)
    }

    /// Where export `export_id` in `format` goes (the format names the extension).
    pub fn archive_key_as(&self, org_dir: &str, export_id: &str, format: Format) -> Path {
        layout::archive_key(&self.prefix, org_dir, export_id, format)
    }

    /// The sidecar beside it.
    pub fn sidecar_key(&self, org_dir: &str, export_id: &str) -> Path {
        layout::sidecar_of(&self.archive_key(org_dir, export_id))
    }

    /// Archives and sidecars in a local directory are readable by their owner only (0600):
    /// they hold an org's whole data.
    pub fn restrict(&self, key: &Path) -> anyhow::Result<()> {
        if let Location::Local { root } = &self.location {
            use std::os::unix::fs::PermissionsExt;
            let path = root.join(key.as_ref());
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("restricting {} to its owner", path.display()))?;
        }
        Ok(())
    }

    /// Whether an object exists.
    pub async fn exists(&self, key: &Path) -> anyhow::Result<bool> {
        match self.inner.head(key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_failure(
                e,
                format!("cannot look up {}", self.object_url(key)),
            )),
        }
    }

    /// A link TTL this store can honour: positive, and at most 7 days when links are signed.
    pub fn check_link_ttl(&self, ttl: Duration) -> anyhow::Result<()> {
        if ttl.is_zero() {
            return Err(fail(
                Kind::Usage,
                "the link TTL is 0: the link would be expired when printed; use e.g. 15m",
            ));
        }
        if self.signer.is_some() && ttl > MAX_LINK_TTL {
            return Err(fail(
                Kind::Usage,
                format!(
                    "the link TTL {} is longer than the 7 days a signed link can live; use at most 7d",
                    humantime::format_duration(ttl)
                ),
            ));
        }
        Ok(())
    }

    /// A download link for an object, presigned for `ttl` (at most 7 days); local files get
    /// an unsigned `file://` URL.
    pub async fn link(&self, key: &Path, ttl: Duration) -> anyhow::Result<Link> {
        let Some(signer) = &self.signer else {
            return Ok(Link {
                url: self.object_url(key),
                expires_at: None,
            });
        };
        self.check_link_ttl(ttl)?;
        let url = signer
            .signed_url(object_store::signer::Method::GET, key, ttl)
            .await
            .map_err(|e| {
                anyhow::Error::new(e).context(Failure::new(
                    Kind::Store,
                    format!(
                        "cannot sign a link to {} (signing needs the provider's secret credentials)",
                        self.object_url(key)
                    ),
                ))
            })?;
        Ok(Link {
            url: url.to_string(),
            // Whole seconds: what people read, and what the signature itself counts in.
            expires_at: Some(
                chrono::DurationRound::duration_trunc(
                    chrono::Utc::now() + chrono::Duration::from_std(ttl).expect("at most 7 days"),
                    chrono::Duration::seconds(1),
                )
                .expect("a second divides any instant"),
            ),
        })
    }

    /// Deletes an object; a missing object is not an error.
    pub async fn delete(&self, key: &Path) -> anyhow::Result<()> {
        match self.inner.delete(key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(store_failure(
                e,
                format!("cannot delete {}", self.object_url(key)),
            )),
        }
    }
}

/// A local store must be a directory on a real file system: `/proc`, `/sys` and `/dev` hold
/// special files whose writes and reads do not behave like files' (`--store /proc/self` made
/// the probe spin), so they are refused before anything is written.
fn refuse_pseudo_file_system(root: &std::path::Path) -> anyhow::Result<()> {
    let not_a_store = |what: &str| {
        fail(
            Kind::Store,
            format!(
                "the store {} is {what}, not a directory for archives; choose another --store",
                root.display()
            ),
        )
    };
    if !std::fs::metadata(root).is_ok_and(|m| m.is_dir()) {
        return Err(not_a_store("not a directory"));
    }
    const PSEUDO: [(i64, &str); 5] = [
        (0x9fa0, "on procfs"),
        (0x6265_6572, "on sysfs"),
        (0x1373, "on devtmpfs"),
        (0x1cd1, "on devpts"),
        (0x2738_6d81, "on cgroup2fs"),
    ];
    let Ok(c_path) = std::ffi::CString::new(root.as_os_str().as_encoded_bytes()) else {
        return Ok(());
    };
    // SAFETY: statfs fills the zeroed struct from a NUL-terminated path; nothing is retained.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut fs) } == 0
        && let Some((_, what)) = PSEUDO.iter().find(|(magic, _)| fs.f_type as i64 == *magic)
    {
        return Err(not_a_store(what));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::kind_of;

    #[tokio::test]
    async fn an_unknown_scheme_is_a_usage_error_not_a_guessed_provider() {
        let config = StoreConfig::new("abfs://container/prefix");
        let err = Store::open(&config).err().expect("refused");
        assert_eq!(kind_of(&err), Kind::Usage);
        assert_eq!(
            err.to_string(),
            "unknown store scheme abfs://; use s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, file:///dir or a directory"
        );
        let err = Store::locate("ftp://host/acme-1/x.json.gz", &config)
            .await
            .err()
            .expect("refused");
        assert_eq!(kind_of(&err), Kind::Usage);
        assert!(
            err.to_string().contains("unknown store scheme ftp://"),
            "{err}"
        );
    }
}
