//! The cloud providers behind `s3://`, `gs://` and `az://`: which scheme names which (any
//! other is a usage error), the builder options each takes from its own conventions (AWS
//! profiles, Azure connection strings) on top of `[store]`, the up-front refusal of a plain
//! `http://` S3 endpoint, and the built client. The one place in the store that reads the
//! environment (the builders' `from_env` included); the option building takes the environment
//! as a parameter so that it is tested with a map. Addresses, keys, uploads and what errors
//! mean are not here.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, AwsCredentialProvider};
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::signer::Signer;
use object_store::{ObjectStore, RetryConfig};

use super::errors::store_failure;
use crate::error::{Kind, fail};

/// A cloud provider, named by its URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    S3,
    Gcs,
    Azure,
}

impl Provider {
    /// The scheme of its URLs, without `://`.
    pub fn scheme(self) -> &'static str {
        match self {
            Provider::S3 => "s3",
            Provider::Gcs => "gs",
            Provider::Azure => "az",
        }
    }
}

/// What a `--store` URL or an archive's address names, by its scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// No scheme: a local path.
    Path,
    /// `file://`.
    File,
    Cloud(Provider),
}

impl Scheme {
    /// The scheme of `url`; one that names no store is a usage error rather than a guess.
    pub fn of(url: &str) -> anyhow::Result<Scheme> {
        let Some((scheme, _)) = url.split_once("://") else {
            return Ok(Scheme::Path);
        };
        Ok(match scheme {
            "file" => Scheme::File,
            "s3" => Scheme::Cloud(Provider::S3),
            "gs" => Scheme::Cloud(Provider::Gcs),
            "az" => Scheme::Cloud(Provider::Azure),
            other => {
                // Only a word that can be a scheme is echoed: what precedes `://` in a
                // mistyped value may be anything, a secret included.
                let named = if !other.is_empty()
                    && other
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                {
                    format!(" {other}://")
                } else {
                    String::new()
                };
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "unknown store scheme{named}; use s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, file:///dir or a directory"
                    ),
                ));
            }
        })
    }
}

/// How option building sees the environment: a variable's value, if set.
pub(super) type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

fn var(env: Env, name: &str) -> Option<String> {
    env(name).and_then(|v| v.into_string().ok())
}

/// A cloud store as its provider's builder made it.
pub(super) struct Cloud {
    pub inner: Arc<dyn ObjectStore>,
    pub signer: Arc<dyn Signer>,
    /// S3's credential chain (keys, profile, web identity, container, then instance
    /// metadata), for preflight to try on its own: a failure there is "no credentials",
    /// told by which call failed. `None` where requests go unsigned or elsewhere.
    pub credentials: Option<AwsCredentialProvider>,
}

/// The client for bucket `bucket_url` (`s3://bucket`): the provider's environment, then its
/// conventions and the `[store]` options. `store_url` is what messages name.
pub(super) fn connect(
    provider: Provider,
    bucket_url: &str,
    options: &BTreeMap<String, String>,
    store_url: &str,
) -> anyhow::Result<Cloud> {
    let env = |name: &str| std::env::var_os(name);
    // The provider's own conventions (AWS profiles, Azure connection strings) become
    // builder options; explicit `[store]` options and the environment still win.
    let options = provider_options(provider, options, &env)?;
    if provider == Provider::S3 {
        check_plain_http(&options, &env)?;
    }
    build(provider, bucket_url, &options, store_url)
}

fn build(
    provider: Provider,
    bucket_url: &str,
    options: &BTreeMap<String, String>,
    store_url: &str,
) -> anyhow::Result<Cloud> {
    let option_error = |key: &str, e: object_store::Error| {
        fail(
            Kind::Usage,
            format!(
                "[store] option {key:?} is not a {} store option ({e})",
                provider.scheme()
            ),
        )
    };
    // Failures surface in one or two attempts rather than after minutes of back-off; an
    // operator would rather rerun than wait.
    let retry = || RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(20),
        ..RetryConfig::default()
    };
    let store_url = crate::redact::redact_url(store_url);
    let build_error = |e| store_failure(e, format!("cannot open the store {store_url}"));
    // The three builders share no trait, so one macro applies the environment, the URL, the
    // retry policy and the `[store]` options to whichever the provider names.
    macro_rules! configured {
        ($builder:ty) => {{
            let mut builder = <$builder>::from_env()
                .with_url(bucket_url)
                .with_retry(retry());
            for (key, value) in options {
                builder =
                    builder.with_config(key.parse().map_err(|e| option_error(key, e))?, value);
            }
            builder
        }};
    }
    Ok(match provider {
        Provider::S3 => {
            let builder = configured!(AmazonS3Builder);
            let unsigned = builder
                .get_config_value(&AmazonS3ConfigKey::SkipSignature)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let s3 = Arc::new(builder.build().map_err(build_error)?);
            Cloud {
                credentials: (!unsigned).then(|| s3.credentials().clone()),
                inner: s3.clone(),
                signer: s3,
            }
        }
        Provider::Gcs => {
            let gcs = Arc::new(
                configured!(GoogleCloudStorageBuilder)
                    .build()
                    .map_err(build_error)?,
            );
            Cloud {
                inner: gcs.clone(),
                signer: gcs,
                credentials: None,
            }
        }
        Provider::Azure => {
            let azure = Arc::new(
                configured!(MicrosoftAzureBuilder)
                    .build()
                    .map_err(build_error)?,
            );
            Cloud {
                inner: azure.clone(),
                signer: azure,
                credentials: None,
            }
        }
    })
}

/// What the provider applies at rest to the objects orgexport writes, in words (`check`).
/// S3: the server-side encryption the builder will request on every upload (`--sse`, the
/// `[store]` options, `AWS_SERVER_SIDE_ENCRYPTION`…), read back from the builder itself.
/// object_store 0.14 sends no per-object KMS key to GCS and no encryption scope to Azure.
pub(super) fn at_rest(
    provider: Provider,
    options: &BTreeMap<String, String>,
) -> anyhow::Result<String> {
    match provider {
        Provider::S3 => {
            let env = |name: &str| std::env::var_os(name);
            let mut builder = AmazonS3Builder::from_env();
            for (key, value) in provider_options(provider, options, &env)? {
                if let Ok(key) = key.parse::<AmazonS3ConfigKey>() {
                    builder = builder.with_config(key, value);
                }
            }
            let get = |name: &str| {
                name.parse::<AmazonS3ConfigKey>()
                    .ok()
                    .and_then(|key| builder.get_config_value(&key))
            };
            Ok(
                match (get("aws_server_side_encryption"), get("aws_sse_kms_key_id")) {
                    (Some(mode), Some(key)) => format!(
                        "S3 server-side encryption {mode} with KMS key {key} requested on every upload"
                    ),
                    (Some(mode), None) if mode.starts_with("aws:kms") => format!(
                        "S3 server-side encryption {mode} with the account's default aws/s3 key requested on every upload"
                    ),
                    (Some(mode), None) => {
                        format!("S3 server-side encryption {mode} requested on every upload")
                    }
                    (None, _) => "no server-side encryption requested (--sse): the bucket's default encryption applies".into(),
                },
            )
        }
        Provider::Gcs => Ok("the bucket's default encryption applies (a customer-managed KMS key is set as the bucket's default; orgexport cannot request one per object)".into()),
        Provider::Azure => Ok("the container's default encryption scope applies (orgexport cannot request a scope per blob)".into()),
    }
}

/// `[store]` options plus what the provider's usual configuration files and variables say:
/// for S3, the `AWS_PROFILE` (default `default`) section of `~/.aws/credentials` and
/// `~/.aws/config` (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`) — keys, session token,
/// `region`, `endpoint_url` — where neither the environment nor `[store]` sets them, as the aws
/// CLI does; for Azure, `AZURE_STORAGE_CONNECTION_STRING`.
pub(super) fn provider_options(
    provider: Provider,
    options: &BTreeMap<String, String>,
    env: Env,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = options.clone();
    match provider {
        Provider::S3 => aws_profile_options(&mut out, env)?,
        Provider::Azure => {
            if let Some(text) = var(env, "AZURE_STORAGE_CONNECTION_STRING") {
                azure_connection_string_options(&mut out, &text)?;
            }
        }
        Provider::Gcs => {}
    }
    Ok(out)
}

fn aws_profile_options(out: &mut BTreeMap<String, String>, env: Env) -> anyhow::Result<()> {
    let profile = var(env, "AWS_PROFILE").unwrap_or_else(|| "default".into());
    let home = env("HOME").map(PathBuf::from).unwrap_or_default();
    let file = |variable: &str, name: &str| {
        env(variable)
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".aws").join(name))
    };
    let credentials = ini_section(
        &file("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
        &profile,
    )?;
    // In ~/.aws/config every section but `default` is `[profile NAME]`.
    let config_section = if profile == "default" {
        profile.clone()
    } else {
        format!("profile {profile}")
    };
    let settings = ini_section(&file("AWS_CONFIG_FILE", "config"), &config_section)?;
    if env("AWS_PROFILE").is_some() && credentials.is_empty() && settings.is_empty() {
        return Err(fail(
            Kind::Usage,
            format!(
                "AWS_PROFILE={profile} is not defined in ~/.aws/credentials or ~/.aws/config (or AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE)"
            ),
        ));
    }
    for (option, file, key, variables) in FROM_PROFILE {
        let section = match file {
            ProfileFile::Credentials => &credentials,
            ProfileFile::Config => &settings,
        };
        if let Some(value) = section.get(key)
            && !out.contains_key(option)
            && variables.iter().all(|v| env(v).is_none())
        {
            // An http:// endpoint written in the profile is the operator's choice.
            if option == "aws_endpoint" && value.starts_with("http://") {
                out.entry("aws_allow_http".into())
                    .or_insert_with(|| "true".into());
            }
            out.insert(option.to_string(), value.clone());
        }
    }
    Ok(())
}

/// The two files of an AWS profile.
enum ProfileFile {
    /// `~/.aws/credentials`
    Credentials,
    /// `~/.aws/config`
    Config,
}

/// A builder option, where the profile holds it, and the variables that override it.
const FROM_PROFILE: [(&str, ProfileFile, &str, &[&str]); 5] = [
    (
        "aws_access_key_id",
        ProfileFile::Credentials,
        "aws_access_key_id",
        &["AWS_ACCESS_KEY_ID"],
    ),
    (
        "aws_secret_access_key",
        ProfileFile::Credentials,
        "aws_secret_access_key",
        &["AWS_SECRET_ACCESS_KEY"],
    ),
    (
        "aws_session_token",
        ProfileFile::Credentials,
        "aws_session_token",
        &["AWS_SESSION_TOKEN"],
    ),
    (
        "aws_region",
        ProfileFile::Config,
        "region",
        &["AWS_REGION", "AWS_DEFAULT_REGION"],
    ),
    (
        "aws_endpoint",
        ProfileFile::Config,
        "endpoint_url",
        &["AWS_ENDPOINT_URL", "AWS_ENDPOINT"],
    ),
];

/// One section of an ini file, empty when the file does not exist.
fn ini_section(path: &FsPath, section: &str) -> anyhow::Result<BTreeMap<String, String>> {
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    let ini = ini::Ini::load_from_file(path)
        .map_err(|e| fail(Kind::Usage, format!("cannot read {}: {e}", path.display())))?;
    Ok(ini
        .section(Some(section))
        .map(|s| {
            s.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default())
}

/// `AccountName=…;AccountKey=…;BlobEndpoint=…` as builder options, where `[store]` does not
/// set them.
fn azure_connection_string_options(
    out: &mut BTreeMap<String, String>,
    text: &str,
) -> anyhow::Result<()> {
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
            // Protocol, suffixes and the other services' endpoints say nothing the blob
            // endpoint does not.
            _ => continue,
        };
        if value.starts_with("http://") {
            out.entry("allow_http".into())
                .or_insert_with(|| "true".into());
        }
        out.entry(option.to_string())
            .or_insert_with(|| value.trim().to_string());
    }
    Ok(())
}

/// An `http://` S3 endpoint is refused by the HTTP client unless allowed: say so up front,
/// with the fix, instead of "builder error: URL scheme is not allowed" at the first request.
pub(super) fn check_plain_http(options: &BTreeMap<String, String>, env: Env) -> anyhow::Result<()> {
    let setting =
        |variable: &str, option: &str| options.get(option).cloned().or_else(|| var(env, variable));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::kind_of;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> + use<> {
        let map: BTreeMap<String, OsString> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn schemes_name_providers_and_any_other_is_a_usage_error() {
        assert_eq!(Scheme::of("exports/dir").unwrap(), Scheme::Path);
        assert_eq!(Scheme::of("file:///srv/x").unwrap(), Scheme::File);
        assert_eq!(Scheme::of("s3://b/p").unwrap(), Scheme::Cloud(Provider::S3));
        assert_eq!(
            Scheme::of("gs://b/p").unwrap(),
            Scheme::Cloud(Provider::Gcs)
        );
        assert_eq!(
            Scheme::of("az://c/p").unwrap(),
            Scheme::Cloud(Provider::Azure)
        );
        let err = Scheme::of("ftp://host/dir").unwrap_err();
        assert_eq!(kind_of(&err), Kind::Usage);
        assert_eq!(
            err.to_string(),
            "unknown store scheme ftp://; use s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, file:///dir or a directory"
        );
        let err = Scheme::of("key:secret@host://x").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }

    #[test]
    fn an_aws_profile_fills_what_neither_options_nor_environment_set() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(
            home.path().join(".aws/credentials"),
            "[default]\naws_access_key_id = AK\naws_secret_access_key = SK\n\n[bench]\naws_access_key_id = BENCH\n",
        )
        .unwrap();
        std::fs::write(
            home.path().join(".aws/config"),
            "[default]\nregion = eu-west-1\n\n[profile bench]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:9000\n",
        )
        .unwrap();
        let home = home.path().to_str().unwrap();

        let env = env_of(&[("HOME", home), ("AWS_SECRET_ACCESS_KEY", "from-env")]);
        let out =
            provider_options(Provider::S3, &options(&[("aws_region", "ap-1")]), &env).unwrap();
        assert_eq!(
            out,
            options(&[("aws_access_key_id", "AK"), ("aws_region", "ap-1")])
        );

        let env = env_of(&[("HOME", home), ("AWS_PROFILE", "bench")]);
        let out = provider_options(Provider::S3, &BTreeMap::new(), &env).unwrap();
        assert_eq!(
            out,
            options(&[
                ("aws_access_key_id", "BENCH"),
                ("aws_region", "us-east-1"),
                ("aws_endpoint", "http://127.0.0.1:9000"),
                ("aws_allow_http", "true"),
            ])
        );

        let env = env_of(&[("HOME", home), ("AWS_PROFILE", "nope")]);
        let err = provider_options(Provider::S3, &BTreeMap::new(), &env).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Usage);
        assert!(
            err.to_string().contains("AWS_PROFILE=nope is not defined"),
            "{err}"
        );
    }

    #[test]
    fn no_aws_files_add_nothing() {
        let home = tempfile::tempdir().unwrap();
        let env = env_of(&[("HOME", home.path().to_str().unwrap())]);
        let given = options(&[("aws_region", "x")]);
        assert_eq!(provider_options(Provider::S3, &given, &env).unwrap(), given);
        assert_eq!(
            provider_options(Provider::Gcs, &given, &env).unwrap(),
            given
        );
    }

    #[test]
    fn an_azure_connection_string_becomes_options_under_explicit_ones() {
        let env = env_of(&[(
            "AZURE_STORAGE_CONNECTION_STRING",
            "DefaultEndpointsProtocol=http;AccountName=dev;AccountKey=k==;BlobEndpoint=http://127.0.0.1:10000/dev;",
        )]);
        let out = provider_options(
            Provider::Azure,
            &options(&[("azure_storage_account_name", "mine")]),
            &env,
        )
        .unwrap();
        assert_eq!(
            out,
            options(&[
                ("azure_storage_account_name", "mine"),
                ("azure_storage_account_key", "k=="),
                ("azure_storage_endpoint", "http://127.0.0.1:10000/dev"),
                ("allow_http", "true"),
            ])
        );
        let env = env_of(&[("AZURE_STORAGE_CONNECTION_STRING", "garbage")]);
        let err = provider_options(Provider::Azure, &BTreeMap::new(), &env).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Usage);
    }

    #[test]
    fn a_plain_http_s3_endpoint_needs_allow_http() {
        let none = BTreeMap::new();
        let err =
            check_plain_http(&none, &env_of(&[("AWS_ENDPOINT_URL", "http://h:9000")])).unwrap_err();
        assert_eq!(kind_of(&err), Kind::Usage);
        assert!(err.to_string().contains("set AWS_ALLOW_HTTP=true"), "{err}");
        let allowed = env_of(&[("AWS_ENDPOINT_URL", "http://h"), ("AWS_ALLOW_HTTP", "TRUE")]);
        assert!(check_plain_http(&none, &allowed).is_ok());
        let by_option = options(&[("endpoint", "http://h"), ("allow_http", "true")]);
        assert!(check_plain_http(&by_option, &env_of(&[])).is_ok());
        let option_wins = options(&[("aws_endpoint", "http://h")]);
        assert!(
            check_plain_http(&option_wins, &env_of(&[("AWS_ENDPOINT_URL", "https://h")])).is_err()
        );
        assert!(check_plain_http(&none, &env_of(&[("AWS_ENDPOINT_URL", "https://h")])).is_ok());
        assert!(check_plain_http(&none, &env_of(&[])).is_ok());
    }
}
