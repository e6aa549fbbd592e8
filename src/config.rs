//! Settings, resolved once: flags > environment > config file > defaults (ripgrep's
//! lowargs → hiargs), the command's own overriding flags and the libpq connection options
//! (`db::options`) included. Nothing downstream reads flags, the environment or the file
//! again — except the object-store credentials and settings, which belong to the store's
//! provider (`object_store`'s builders, AWS profiles, Azure connection strings).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::cli::{Cli, Command, GlobalArgs, ScopeArgs};
use crate::db::options::ConnectOptions;
use crate::error::{Kind, fail, kind_of, one_line};
use crate::restore::plan::Fill;
use crate::scope::columns::RenderMode;
use crate::scope::config::ScopeConfig;
use crate::scope::references::PolymorphicConfig;
use crate::store::StoreConfig;

/// The default store when neither `--store`, `ORGEXPORT_STORE` nor the file names one.
pub const DEFAULT_STORE: &str = "./orgexports";
const DEFAULT_CONFIG_FILE: &str = "orgexport.toml";

/// What the rest of the program uses.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: Option<String>,
    /// The connection options, resolved once from the URL, the service file and the `PG*`
    /// variables; a resolution error is kept for the commands that connect.
    pub connect: Result<ConnectOptions, (Kind, String)>,
    pub store: StoreConfig,
    pub scope: ScopeConfig,
    pub output: Output,
    pub link_ttl: Duration,
    pub compression_level: u32,
    pub guards: Guards,
    pub render: RenderMode,
    /// `restore`: the target's connection options (resolved like `connect`) and `--fill`.
    pub restore: Option<RestoreSettings>,
}

#[derive(Debug, Clone)]
pub struct RestoreSettings {
    pub target: Result<ConnectOptions, (Kind, String)>,
    pub fills: Vec<Fill>,
}

/// Server-side limits on the export's sessions, so that an export never waits forever behind
/// DDL, nor holds its snapshot (and the locks DDL would wait for) forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guards {
    /// `lock_timeout`: how long a statement may wait for a table lock (e.g. behind DDL).
    pub lock_timeout: Duration,
    /// `statement_timeout`: the longest one statement (one section's COPY) may run; 0 = none.
    pub statement_timeout: Duration,
    /// `idle_in_transaction_session_timeout`: the server ends the snapshot if the tool stalls.
    pub idle_in_transaction_timeout: Duration,
}

impl Default for Guards {
    fn default() -> Self {
        Guards {
            lock_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(6 * 3600),
            idle_in_transaction_timeout: Duration::from_secs(10 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
    /// Without a terminal, how often a long section says how far it got (30 s;
    /// `ORGEXPORT_HEARTBEAT_SECS` changes it, for tests and impatient logs).
    pub heartbeat: Duration,
}

/// The TOML file, as written. Unknown keys are errors so that a typo is never silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    store: Option<StoreSpec>,
    root_table: Option<String>,
    lookup_columns: Option<Vec<String>>,
    tenant_columns: Option<Vec<String>>,
    follow_nullable: Option<Vec<String>>,
    references: Option<Vec<String>>,
    polymorphic: Option<Vec<PolymorphicConfig>>,
    infer_references: Option<bool>,
    exclude_tables: Option<Vec<String>>,
    exclude_columns: Option<Vec<String>>,
    allow_columns: Option<Vec<String>>,
    include_referenced: Option<bool>,
    link_ttl: Option<Spanned<String>>,
    compression_level: Option<Spanned<u32>>,
    lock_timeout: Option<Spanned<String>>,
    statement_timeout: Option<Spanned<String>>,
    idle_in_transaction_timeout: Option<Spanned<String>>,
    render: Option<Spanned<String>>,
}

/// `store = "s3://bucket/prefix"`, or a `[store]` table with the URL, upload tuning and the
/// provider's options (`aws_endpoint = "…"`, `google_service_account = "…"`, …).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StoreSpec {
    Url(String),
    Table(StoreTable),
}

#[derive(Debug, Deserialize)]
struct StoreTable {
    url: Option<String>,
    /// Upload part size in MiB (at least 5, S3's minimum).
    part_size_mib: Option<usize>,
    max_parts_in_flight: Option<usize>,
    #[serde(flatten)]
    options: std::collections::BTreeMap<String, String>,
}

impl Settings {
    /// Everything the command line, the environment and the file say, with the command's own
    /// overriding flags (`--link-ttl`/`--ttl`, `--compression-level`, `--tables`,
    /// `--exclude-tables`) applied: nothing downstream reads flags or the environment again.
    pub fn resolve(cli: &Cli) -> anyhow::Result<Settings> {
        let mut settings = Settings::resolve_global(&cli.global)?;
        match &cli.command {
            Command::Run(args) => {
                if let Some(level) = args.compression_level {
                    settings.compression_level = level;
                }
                if let Some(ttl) = args.link_ttl {
                    settings.link_ttl = ttl;
                }
                settings.scope.apply(&args.scope);
            }
            Command::Plan(args) => settings.scope.apply(&args.scope),
            Command::Restore(args) => {
                let fills = args
                    .fill
                    .iter()
                    .map(|f| Fill::parse(f).map_err(|e| fail(Kind::Usage, e)))
                    .collect::<anyhow::Result<Vec<Fill>>>()?;
                settings.restore = Some(RestoreSettings {
                    target: ConnectOptions::resolve(Some(&args.target_url))
                        .map_err(|e| (kind_of(&e), one_line(&e))),
                    fills,
                });
            }
            Command::Link(args) => {
                if let Some(ttl) = args.ttl {
                    settings.link_ttl = ttl;
                }
            }
            _ => {}
        }
        if !matches!(cli.command, Command::Completions(_)) {
            settings.connect = ConnectOptions::resolve(settings.database_url.as_deref())
                .map_err(|e| (kind_of(&e), one_line(&e)));
        }
        Ok(settings)
    }

    /// The connection options, or why there are none.
    pub fn connect_options(&self) -> anyhow::Result<ConnectOptions> {
        self.connect
            .clone()
            .map_err(|(kind, message)| fail(kind, message))
    }

    fn resolve_global(args: &GlobalArgs) -> anyhow::Result<Settings> {
        let (file, text) = match &args.config {
            Some(path) => read_file(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).exists() => {
                read_file(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => (FileConfig::default(), String::new()),
        };
        let file_name = args
            .config
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
        // "orgexport.toml line 3": where a value the TOML parser accepted turned out invalid.
        let place = |span: std::ops::Range<usize>| {
            format!(
                "{} line {}",
                file_name.display(),
                line_of(&text, span.start)
            )
        };

        let defaults = ScopeConfig::default();
        let file_named_no_tenant_columns = file.tenant_columns.as_ref().is_some_and(Vec::is_empty);
        let scope = ScopeConfig {
            root_table: file.root_table,
            lookup_columns: file.lookup_columns.unwrap_or(defaults.lookup_columns),
            tenant_columns: file.tenant_columns.unwrap_or(defaults.tenant_columns),
            follow_nullable: file.follow_nullable.unwrap_or_default(),
            references: file.references.unwrap_or_default(),
            polymorphic: file.polymorphic.unwrap_or_default(),
            infer_references: file.infer_references.unwrap_or(false),
            exclude_tables: file.exclude_tables.unwrap_or_default(),
            exclude_columns: file.exclude_columns.unwrap_or_default(),
            allow_columns: file.allow_columns.unwrap_or_default(),
            include_referenced: file.include_referenced.unwrap_or(true),
            only_tables: Vec::new(),
        };
        if file_named_no_tenant_columns {
            return Err(fail(
                Kind::Usage,
                format!(
                    "{}: tenant_columns must name at least one column (or leave it out to discover it)",
                    file_name.display()
                ),
            ));
        }
        let duration = |key: &str, value: Option<Spanned<String>>, default: Duration| match value {
            Some(value) => humantime::parse_duration(value.get_ref()).map_err(|e| {
                fail(
                    Kind::Usage,
                    format!(
                        "{}: {key} = {:?} is not a duration ({e}); write e.g. \"15m\"",
                        place(value.span()),
                        value.get_ref()
                    ),
                )
            }),
            None => Ok(default),
        };
        let link_ttl = duration("link_ttl", file.link_ttl, Duration::from_secs(15 * 60))?;
        let defaults = Guards::default();
        let guards = Guards {
            lock_timeout: duration("lock_timeout", file.lock_timeout, defaults.lock_timeout)?,
            statement_timeout: duration(
                "statement_timeout",
                file.statement_timeout,
                defaults.statement_timeout,
            )?,
            idle_in_transaction_timeout: duration(
                "idle_in_transaction_timeout",
                file.idle_in_transaction_timeout,
                defaults.idle_in_transaction_timeout,
            )?,
        };
        let render = match &file.render {
            None => RenderMode::Client,
            Some(value) => match value.get_ref().as_str() {
                "client" => RenderMode::Client,
                "server" => RenderMode::Server,
                other => {
                    return Err(fail(
                        Kind::Usage,
                        format!(
                            "{}: render = {other:?}; use \"client\" or \"server\"",
                            place(value.span())
                        ),
                    ));
                }
            },
        };
        // Level 2 (zlib-rs): smaller than `gzip -1` and fast enough not to slow the export
        // below the database's pace on two cores; see bench/RESULTS.md.
        let compression_level = match &file.compression_level {
            None => 2,
            Some(level) if *level.get_ref() <= 9 => *level.get_ref(),
            Some(level) => {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "{}: compression_level = {} is out of range; use 0-9",
                        place(level.span()),
                        level.get_ref()
                    ),
                ));
            }
        };
        let (file_store_url, mut store) = match file.store {
            None => (None, StoreConfig::new(DEFAULT_STORE)),
            Some(StoreSpec::Url(url)) => (Some(url), StoreConfig::new(DEFAULT_STORE)),
            Some(StoreSpec::Table(table)) => {
                let mut store = StoreConfig::new(DEFAULT_STORE);
                if let Some(mib) = table.part_size_mib {
                    if !(5..=5 * 1024).contains(&mib) {
                        return Err(fail(
                            Kind::Usage,
                            format!(
                                "{}: [store] part_size_mib = {mib} is out of range; use 5 to 5120",
                                file_name.display()
                            ),
                        ));
                    }
                    store.part_size = mib << 20;
                }
                if let Some(n) = table.max_parts_in_flight {
                    store.max_parts_in_flight = n.clamp(1, 64);
                }
                store.options = table.options;
                (table.url, store)
            }
        };
        store.url = args
            .store
            .clone()
            .or(file_store_url)
            .unwrap_or_else(|| DEFAULT_STORE.to_string());
        Ok(Settings {
            connect: Err((Kind::Usage, "no connection for this command".into())),
            database_url: args.database_url.clone().or(file.database_url),
            store,
            scope,
            output: Output {
                json: args.json,
                quiet: args.quiet,
                verbose: args.verbose,
                heartbeat: std::env::var("ORGEXPORT_HEARTBEAT_SECS")
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .filter(|s| *s > 0)
                    .map_or(Duration::from_secs(30), Duration::from_secs),
            },
            link_ttl,
            compression_level,
            guards,
            render,
            restore: None,
        })
    }
}

impl ScopeConfig {
    /// `--tables` and `--exclude-tables`.
    fn apply(&mut self, args: &ScopeArgs) {
        self.exclude_tables
            .extend(args.exclude_tables.iter().cloned());
        self.only_tables = args.tables.clone();
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn read_file(path: &Path) -> anyhow::Result<(FileConfig, String)> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        fail(
            Kind::Usage,
            format!("cannot read config file {}: {e}", path.display()),
        )
    })?;
    let config = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|span| line_of(&text, span.start));
        let place = match line {
            Some(line) => format!("{} line {line}", path.display()),
            None => path.display().to_string(),
        };
        fail(
            Kind::Usage,
            format!("invalid config file {place}: {}", e.message().trim()),
        )
    })?;
    Ok((config, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_with_config(text: &str) -> (GlobalArgs, tempdir::Dir) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("orgexport.toml");
        std::fs::write(&path, text).unwrap();
        let args = GlobalArgs {
            database_url: None,
            store: None,
            config: Some(path),
            json: false,
            quiet: false,
            verbose: false,
        };
        (args, dir)
    }

    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                let path = std::env::temp_dir().join(format!(
                    "orgexport-config-{}-{}",
                    std::process::id(),
                    uuid::Uuid::now_v7()
                ));
                std::fs::create_dir_all(&path).unwrap();
                Dir(path)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn unknown_key_names_the_key_file_and_line() {
        let (args, _dir) = args_with_config("store = \"/tmp/x\"\ntenant_colums = [\"org_id\"]\n");
        let err = Settings::resolve_global(&args).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("line 2"), "{text}");
        assert!(text.contains("tenant_colums"), "{text}");
        assert_eq!(crate::error::kind_of(&err), Kind::Usage);
    }

    #[test]
    fn bad_values_name_the_key_file_and_line() {
        let (args, _dir) = args_with_config("store = \"/x\"\n\nlink_ttl = \"soon\"\n");
        let text = Settings::resolve_global(&args).unwrap_err().to_string();
        assert!(
            text.contains("orgexport.toml line 3: link_ttl = \"soon\""),
            "{text}"
        );
        let (args, _dir) = args_with_config("compression_level = 12\n");
        let text = Settings::resolve_global(&args).unwrap_err().to_string();
        assert!(
            text.contains("line 1: compression_level = 12 is out of range"),
            "{text}"
        );
        let (args, _dir) = args_with_config("\nrender = \"gpu\"\n");
        let text = Settings::resolve_global(&args).unwrap_err().to_string();
        assert!(text.contains("line 2: render = \"gpu\""), "{text}");
    }

    #[test]
    fn flags_override_file_and_file_overrides_defaults() {
        let (mut args, _dir) = args_with_config(
            "store = \"/from/file\"\ntenant_columns = [\"tenant_id\"]\nlink_ttl = \"5m\"\n",
        );
        let settings = Settings::resolve_global(&args).unwrap();
        assert_eq!(settings.store.url, "/from/file");
        assert_eq!(settings.scope.tenant_columns, vec!["tenant_id"]);
        assert_eq!(settings.link_ttl, Duration::from_secs(300));
        args.store = Some("/from/flag".into());
        assert_eq!(
            Settings::resolve_global(&args).unwrap().store.url,
            "/from/flag"
        );
    }
}
