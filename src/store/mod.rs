//! Where archives go (DESIGN §5): an `object_store` opened from the `--store` URL — a local
//! directory, `s3://`, `gs://` or `az://` — the object keys, the streaming upload (multipart:
//! parts go up while the archive is produced, a bounded number at once; for a local
//! directory a temporary file renamed on completion), and download links (presigned by the
//! provider; unsigned `file://` for a local directory). A failed upload is aborted, so nothing
//! ever appears at the final key.
//!
//! Credentials, region and endpoint come from each provider's usual environment variables
//! (`AWS_*`, `GOOGLE_*`, `AZURE_*`, read by `object_store`'s builders), then from the
//! `[store]` table of the config file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::{Path, PathPart};
use object_store::signer::Signer;
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions,
    PutPayload, RetryConfig, WriteMultipart,
};
use sha2::{Digest, Sha256};

use crate::error::{Failure, Kind, fail};
use crate::export::archive::ChunkSink;

pub mod layout;

/// The longest a presigned link may live (S3 and GCS V4 signatures: 7 days).
const MAX_LINK_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

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
    prefix: Path,
    location: Location,
    part_size: usize,
    max_parts_in_flight: usize,
}

enum Location {
    Local { root: PathBuf },
    Cloud { scheme: String, bucket: String },
}

/// `[store]` options plus what the provider's usual configuration files and variables say:
/// for S3, the `AWS_PROFILE` (default `default`) section of `~/.aws/credentials` and
/// `~/.aws/config` (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`) — keys, session token,
/// `region`, `endpoint_url` — where neither the environment nor `[store]` sets them, as the aws
/// CLI does; for Azure, `AZURE_STORAGE_CONNECTION_STRING`.
fn provider_options(
    scheme: &str,
    options: &BTreeMap<String, String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = options.clone();
    let unset = |out: &BTreeMap<String, String>, option: &str, envs: &[&str]| {
        !out.contains_key(option) && envs.iter().all(|e| std::env::var_os(e).is_none())
    };
    match scheme {
        "s3" => {
            let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            let file = |env: &str, name: &str| {
                std::env::var_os(env)
                    .map(PathBuf::from)
                    .unwrap_or_else(|| home.join(".aws").join(name))
            };
            let read = |path: PathBuf, section: &str| -> anyhow::Result<BTreeMap<String, String>> {
                if !path.exists() {
                    return Ok(BTreeMap::new());
                }
                let ini = ini::Ini::load_from_file(&path).map_err(|e| {
                    fail(Kind::Usage, format!("cannot read {}: {e}", path.display()))
                })?;
                Ok(ini
                    .section(Some(section))
                    .map(|s| {
                        s.iter()
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .collect()
                    })
                    .unwrap_or_default())
            };
            let credentials = read(file("AWS_SHARED_CREDENTIALS_FILE", "credentials"), &profile)?;
            // In ~/.aws/config every section but `default` is `[profile NAME]`.
            let config_section = if profile == "default" {
                profile.clone()
            } else {
                format!("profile {profile}")
            };
            let settings = read(file("AWS_CONFIG_FILE", "config"), &config_section)?;
            if std::env::var_os("AWS_PROFILE").is_some()
                && credentials.is_empty()
                && settings.is_empty()
            {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "AWS_PROFILE={profile} is not defined in ~/.aws/credentials or ~/.aws/config (or AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE)"
                    ),
                ));
            }
            let from_profile = [
                (
                    "aws_access_key_id",
                    &credentials,
                    "aws_access_key_id",
                    &["AWS_ACCESS_KEY_ID"][..],
                ),
                (
                    "aws_secret_access_key",
                    &credentials,
                    "aws_secret_access_key",
                    &["AWS_SECRET_ACCESS_KEY"][..],
                ),
                (
                    "aws_session_token",
                    &credentials,
                    "aws_session_token",
                    &["AWS_SESSION_TOKEN"][..],
                ),
                (
                    "aws_region",
                    &settings,
                    "region",
                    &["AWS_REGION", "AWS_DEFAULT_REGION"][..],
                ),
                (
                    "aws_endpoint",
                    &settings,
                    "endpoint_url",
                    &["AWS_ENDPOINT_URL", "AWS_ENDPOINT"][..],
                ),
            ];
            for (option, source, key, envs) in from_profile {
                if let Some(value) = source.get(key)
                    && unset(&out, option, envs)
                {
                    // An http:// endpoint written in the profile is the operator's choice.
                    if option == "aws_endpoint" && value.starts_with("http://") {
                        out.entry("aws_allow_http".into())
                            .or_insert_with(|| "true".into());
                    }
                    out.insert(option.to_string(), value.clone());
                }
            }
        }
        "az" => {
            let Ok(text) = std::env::var("AZURE_STORAGE_CONNECTION_STRING") else {
                return Ok(out);
            };
            for part in text.split(';').filter(|p| !p.trim().is_empty()) {
                let Some((key, value)) = part.split_once('=') else {
                    return Err(fail(
                        Kind::Usage,
                        "AZURE_STORAGE_CONNECTION_STRING is not Key=Value;… pairs",
                    ));
                };
                let option = match key.trim() {
                    "AccountName" => "azure_storage_account_name",
                    "AccountKey" => "azure_storage_account_key",
                    "BlobEndpoint" => "azure_storage_endpoint",
                    "UseDevelopmentStorage" => "azure_storage_use_emulator",
                    // Protocol, suffixes and the other services' endpoints say nothing the
                    // blob endpoint does not.
                    _ => continue,
                };
                if value.starts_with("http://") {
                    out.entry("allow_http".into())
                        .or_insert_with(|| "true".into());
                }
                out.entry(option.to_string())
                    .or_insert_with(|| value.trim().to_string());
            }
        }
        _ => {}
    }
    Ok(out)
}

/// An `http://` S3 endpoint is refused by the HTTP client unless allowed: say so up front,
/// with the fix, instead of "builder error: URL scheme is not allowed" at the first request.
fn check_plain_http(config: &StoreConfig) -> anyhow::Result<()> {
    let setting = |env: &str, option: &str| {
        config
            .options
            .get(option)
            .cloned()
            .or_else(|| std::env::var(env).ok())
    };
    let endpoint = setting("AWS_ENDPOINT_URL", "aws_endpoint")
        .or_else(|| setting("AWS_ENDPOINT", "endpoint"))
        .unwrap_or_default();
    let allowed = setting("AWS_ALLOW_HTTP", "aws_allow_http")
        .or_else(|| setting("AWS_ALLOW_HTTP", "allow_http"))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if endpoint.starts_with("http://") && !allowed {
        return Err(fail(
            Kind::Usage,
            format!(
                "the S3 endpoint {endpoint} is plain http://: set AWS_ALLOW_HTTP=true to allow it, or use https://"
            ),
        ));
    }
    Ok(())
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
    /// `az://container/prefix`, `file:///abs/dir` or a plain path (created when missing). The
    /// store is ready to use; a cloud store is not contacted yet ([`Store::preflight`] does).
    pub fn open(config: &StoreConfig) -> anyhow::Result<Store> {
        let spec = config.url.as_str();
        let scheme = spec.split_once("://").map(|(s, _)| s);
        let root = match scheme {
            None if spec.trim().is_empty() => {
                return Err(fail(
                    Kind::Usage,
                    "the store is an empty path; pass --store DIR or s3://bucket/prefix",
                ));
            }
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
            Some(scheme @ ("s3" | "gs" | "az")) => return Store::open_cloud(scheme, config),
            Some(other) => {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "unknown store scheme {other}://; use s3://bucket/prefix, gs://bucket/prefix, az://container/prefix or a directory"
                    ),
                ));
            }
        };
        if root.parent().is_none() {
            return Err(fail(
                Kind::Usage,
                format!(
                    "the store {spec:?} is the file system's root; write file:///absolute/dir or a directory"
                ),
            ));
        }
        std::fs::create_dir_all(&root).map_err(|e| {
            fail(
                Kind::Store,
                format!(
                    "cannot create the store directory {}: {e}; choose a writable --store",
                    root.display()
                ),
            )
        })?;
        Store::local(root)
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
            prefix: Path::default(),
            location: Location::Local { root },
            // A local file has no minimum part size and gains nothing from parallel parts:
            // small parts keep memory flat.
            part_size: LOCAL_PART_SIZE,
            max_parts_in_flight: 2,
        })
    }

    fn open_cloud(scheme: &str, config: &StoreConfig) -> anyhow::Result<Store> {
        let url = url::Url::parse(&config.url).map_err(|e| {
            fail(
                Kind::Usage,
                format!("invalid store URL {:?}: {e}", config.url),
            )
        })?;
        let bucket = url.host_str().unwrap_or_default().to_string();
        if bucket.is_empty() {
            return Err(fail(
                Kind::Usage,
                format!(
                    "store URL {:?} names no bucket; write {scheme}://bucket/prefix",
                    config.url
                ),
            ));
        }
        // The provider's own conventions (AWS profiles, Azure connection strings) become
        // builder options; explicit `[store]` options and the environment still win.
        let mut config = config.clone();
        config.options = provider_options(scheme, &config.options)?;
        let config = &config;
        if scheme == "s3" {
            check_plain_http(config)?;
        }
        let prefix = Path::from(url.path().trim_matches('/'));
        let bucket_url = format!("{scheme}://{bucket}");
        let option_error = |key: &str, e: object_store::Error| {
            fail(
                Kind::Usage,
                format!("[store] option {key:?} is not a {scheme} store option ({e})"),
            )
        };
        // Failures surface in one or two attempts rather than after minutes of back-off; an
        // operator would rather rerun than wait.
        let retry = RetryConfig {
            max_retries: 2,
            retry_timeout: Duration::from_secs(20),
            ..RetryConfig::default()
        };
        let build_error = |e: object_store::Error| {
            store_failure(e, format!("cannot open the store {}", config.url))
        };
        // The three builders share no trait, so one macro applies the environment, the URL,
        // the retry policy and the `[store]` options to whichever the scheme names.
        macro_rules! build {
            ($builder:ty) => {{
                let mut builder = <$builder>::from_env()
                    .with_url(&bucket_url)
                    .with_retry(retry);
                for (key, value) in &config.options {
                    builder =
                        builder.with_config(key.parse().map_err(|e| option_error(key, e))?, value);
                }
                let store = Arc::new(builder.build().map_err(build_error)?);
                (store.clone(), store)
            }};
        }
        let (inner, signer): (Arc<dyn ObjectStore>, Arc<dyn Signer>) = match scheme {
            "s3" => build!(AmazonS3Builder),
            "gs" => build!(GoogleCloudStorageBuilder),
            _ => build!(MicrosoftAzureBuilder),
        };
        Ok(Store {
            inner,
            signer: Some(signer),
            prefix,
            location: Location::Cloud {
                scheme: scheme.to_string(),
                bucket,
            },
            part_size: config.part_size,
            max_parts_in_flight: config.max_parts_in_flight,
        })
    }

    /// The store and key of an object from its permanent address (a history row's
    /// `object_url`, or what the operator passed to `verify`): `s3://`, `gs://`, `az://`,
    /// `file:///…` or a local path. Cloud options come from `config` when its scheme matches.
    /// A local store's root is the directory above the org's directory, as `run` lays it out.
    pub async fn locate(url: &str, config: &StoreConfig) -> anyhow::Result<(Store, Path)> {
        if let Some((scheme @ ("s3" | "gs" | "az"), rest)) = url.split_once("://") {
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
            return Ok((store, key));
        }
        let path = if url.contains("://") {
            url::Url::parse(url)
                .ok()
                .filter(|u| u.scheme() == "file")
                .and_then(|u| u.to_file_path().ok())
                .ok_or_else(|| {
                    fail(
                        Kind::Usage,
                        format!(
                            "cannot open {url:?}: expected s3://, gs://, az://, file:// or a path"
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
        Ok((Store::local(root)?, key))
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

    /// The store as the operator wrote it, without credentials.
    pub fn display(&self) -> String {
        match &self.location {
            Location::Local { root } => root.display().to_string(),
            Location::Cloud { scheme, bucket } if self.prefix.as_ref().is_empty() => {
                format!("{scheme}://{bucket}")
            }
            Location::Cloud { scheme, bucket } => format!("{scheme}://{bucket}/{}", self.prefix),
        }
    }

    /// Checks that the store is reachable and writable (creating a local directory if
    /// needed) by writing and deleting a probe object. Failures are `Kind::Store`.
    pub async fn preflight(&self) -> anyhow::Result<()> {
        let store_err = |what: String| move |e| store_failure_explained(e, &what);
        if matches!(self.location, Location::Cloud { .. }) {
            // Listing tells a missing bucket apart (some servers create one on write). A role
            // allowed to write but not to list is fine: only "no such bucket" is conclusive.
            if let Err(e) = self.inner.list_with_delimiter(Some(&self.prefix)).await {
                let reason = store_error_reason(&e);
                if reason.starts_with("no such") || reason == "endpoint unreachable" {
                    return Err(store_failure_explained(
                        e,
                        &format!("cannot use the store {}", self.display()),
                    ));
                }
            }
        }
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

    /// Where export `export_id` of the org in `org_dir` ([`layout::org_dir`]) goes.
    pub fn archive_key(&self, org_dir: &str, export_id: &str) -> Path {
        layout::archive_key(&self.prefix, org_dir, export_id)
    }

    /// The sidecar beside it.
    pub fn sidecar_key(&self, org_dir: &str, export_id: &str) -> Path {
        layout::sidecar_of(&self.archive_key(org_dir, export_id))
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
            Location::Cloud { scheme, bucket } => {
                let rest = object_url
                    .strip_prefix(&format!("{scheme}://{bucket}/"))
                    .ok_or_else(outside)?;
                Path::parse(rest).map_err(|_| outside())?
            }
            Location::Local { root } => {
                let path = url::Url::parse(object_url)
                    .ok()
                    .filter(|u| u.scheme() == "file")
                    .and_then(|u| u.to_file_path().ok())
                    .ok_or_else(outside)?;
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

    /// The object's permanent address (what the history table records): never a signed URL.
    pub fn object_url(&self, key: &Path) -> String {
        match &self.location {
            Location::Local { root } => url::Url::from_file_path(root.join(key.as_ref()))
                .map(|u| u.to_string())
                .unwrap_or_else(|_| root.join(key.as_ref()).display().to_string()),
            Location::Cloud { scheme, bucket } => format!("{scheme}://{bucket}/{key}"),
        }
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

    /// Content type and disposition of archives and sidecars (cloud stores; the local file
    /// system keeps no attributes).
    fn attributes(&self, key: &Path) -> Attributes {
        let mut attributes = Attributes::new();
        if matches!(self.location, Location::Cloud { .. }) {
            let name = key.filename().unwrap_or("export");
            if name.ends_with(".json.gz") {
                // The bytes are a .json.gz file, not JSON sent compressed: no Content-Encoding,
                // so that a browser saves exactly the archive.
                attributes.insert(Attribute::ContentType, "application/gzip".into());
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

    /// Removes what an abandoned (killed) export left behind at `object_url` (the address its
    /// history row recorded when the upload began): for a local directory, the temporary
    /// files beside the final name (`<id>.json.gz#<n>`). A cloud upload never completed holds
    /// no object (its parts expire by the bucket's lifecycle rules).
    pub fn remove_partial(object_url: &str) {
        let Some(path) = url::Url::parse(object_url)
            .ok()
            .filter(|u| u.scheme() == "file")
            .and_then(|u| u.to_file_path().ok())
        else {
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

/// An object-store error as a `Kind::Store` failure saying what was being done.
/// One line, the cause once: object_store's errors repeat their cause at every layer of the
/// chain ("… HTTP error: builder error: HTTP error: builder error: …"), so only the innermost
/// cause is kept, shortened.
fn store_failure(e: object_store::Error, what: impl Into<String>) -> anyhow::Error {
    fail(
        Kind::Store,
        format!("{}: {}", what.into(), innermost_cause(&e)),
    )
}

fn innermost_cause(e: &object_store::Error) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(120) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

/// The same, with what the error means and its fix instead of the raw cause when it is known:
/// "cannot use the store s3://b/p: no such bucket or container: create it, or fix --store".
fn store_failure_explained(e: object_store::Error, what: &str) -> anyhow::Error {
    match store_error_reason(&e) {
        "store error" => store_failure(e, what),
        reason => fail(Kind::Store, format!("{what}: {reason}")),
    }
}

const NO_SUCH_BUCKET: &str = "no such bucket or container: create it, or fix --store";
const ACCESS_DENIED: &str = "access denied: check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, …) and the bucket's policy";
const NO_CREDENTIALS: &str = "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (instance metadata is not reachable here)";
const PLAIN_HTTP: &str =
    "the endpoint is plain http://: set AWS_ALLOW_HTTP=true to allow it, or use https://";

/// What an object-store error means for the operator, in a few words — decided by the
/// error's type (object_store maps HTTP 404/403/401 to variants; transport failures carry an
/// `HttpError` of kind connect or timeout; local writes an `io::Error`), never by its text.
pub fn store_error_reason(e: &object_store::Error) -> &'static str {
    use object_store::client::{HttpError, HttpErrorKind};
    match e {
        object_store::Error::NotFound { .. } => {
            return "no such bucket, container or object: create it, or fix --store";
        }
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            return ACCESS_DENIED;
        }
        _ => {}
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cause {
        if let Some(http) = err.downcast_ref::<HttpError>()
            && matches!(
                http.kind(),
                HttpErrorKind::Connect | HttpErrorKind::Timeout | HttpErrorKind::Interrupted
            )
        {
            return "endpoint unreachable: check the endpoint (AWS_ENDPOINT_URL, …) and the network";
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::StorageFull
                | std::io::ErrorKind::FileTooLarge
                | std::io::ErrorKind::QuotaExceeded => return "out of space",
                std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                    return "access denied: check the directory's permissions";
                }
                _ => {}
            }
        }
        cause = err.source();
    }
    // Some requests (listings) reach us as a generic error whose HTTP status object_store
    // keeps private; the providers' documented error codes in the response say what it was.
    let text = e.to_string();
    for (code, reason) in [
        ("NoSuchBucket", NO_SUCH_BUCKET),
        ("ContainerNotFound", NO_SUCH_BUCKET),
        ("AccessDenied", ACCESS_DENIED),
        ("InvalidAccessKeyId", ACCESS_DENIED),
        ("SignatureDoesNotMatch", ACCESS_DENIED),
        ("AuthenticationFailed", ACCESS_DENIED),
        ("AuthorizationFailure", ACCESS_DENIED),
        // The instance-metadata endpoint: no credentials were configured at all.
        ("169.254.169.254", NO_CREDENTIALS),
        ("URL scheme is not allowed", PLAIN_HTTP),
    ] {
        if text.contains(code) {
            return reason;
        }
    }
    "store error"
}
