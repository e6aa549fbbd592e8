//! Settings, resolved once: flags > environment > config file > defaults (ripgrep's
//! lowargs → hiargs), the command's own overriding flags and the libpq connection options
//! (`db::options`) included. Nothing downstream reads flags, the environment or the file
//! again — except the object-store credentials and settings, which belong to the store's
//! provider (`object_store`'s builders, AWS profiles, Azure connection strings).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::archive_format::Format;
use crate::cli::{Cli, Command, GlobalArgs, ScopeArgs};
use crate::db::guards::Guards;
use crate::db::options::ConnectOptions;
use crate::encryption::Recipients;
use crate::error::{Kind, fail, kind_of, one_line};
use crate::history::Status;
use crate::hooks::{self, Hook};
use crate::output::Output;
use crate::scope::columns::RenderMode;
use crate::scope::config::ScopeConfig;
use crate::scope::filters::{ColumnChoice, RowFilter};
use crate::scope::narrowing::NarrowConfig;
use crate::scope::references::PolymorphicConfig;
use crate::scope::subject::SubjectSpec;
use crate::scope::window::Window;
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
    /// `--history-url` / `history_url`: the history database's options, resolved like
    /// `connect`; `None`: the history lives in the source database.
    pub history: Option<Result<ConnectOptions, (Kind, String)>>,
    pub history_url: Option<String>,
    pub store: StoreConfig,
    pub scope: ScopeConfig,
    pub output: Output,
    pub link_ttl: Duration,
    pub compression_level: u32,
    pub guards: Guards,
    pub render: RenderMode,
    /// `run --format` or `format` in the file: the archive's layout.
    pub format: Format,
    /// `restore`: the target's connection options (resolved like `connect`) and `--fill`.
    pub restore: Option<RestoreSettings>,
    /// `list --status`: the one status shown.
    pub status_filter: Option<Status>,
    /// `run --on-complete` (or `on_complete`): the completion hook.
    pub on_complete: Option<Hook>,
    /// `run`: the age recipients the archives are encrypted to (`--encrypt-to`,
    /// `--recipients-file`, else `encrypt_to` in the file); `None`: not encrypted.
    pub encryption: Option<std::sync::Arc<Recipients>>,
    /// `verify`, `restore`: the `--identity` files an encrypted archive is read with.
    pub identities: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct RestoreSettings {
    pub target: Result<ConnectOptions, (Kind, String)>,
    pub fills: Vec<Fill>,
    /// `--fill-secrets=random`.
    pub fill_secrets: bool,
    /// `--max-value-bytes`.
    pub max_value_bytes: u64,
}

/// `--fill schema.table.column=SQL`: a value for a column the archive does not hold. The
/// column may be a glob (`*.token`, `public.*.secret`), matched against the NOT NULL columns
/// the archive lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    pub table: String,
    pub column: String,
    pub sql: String,
}

impl Fill {
    /// Whether the target is a glob rather than one column.
    pub fn is_glob(&self) -> bool {
        format!("{}.{}", self.table, self.column).contains(['*', '?', '['])
    }

    pub fn parse(text: &str) -> Result<Fill, String> {
        let usage = || {
            format!(
                "--fill {text:?}: write schema.table.column=SQL, e.g. --fill \"public.users.password_hash='!'\""
            )
        };
        let (target, sql) = text.split_once('=').ok_or_else(usage)?;
        let (table, column) = target.trim().rsplit_once('.').ok_or_else(usage)?;
        let glob = target.contains(['*', '?', '[']);
        if !(table.contains('.') || glob) || column.is_empty() || sql.trim().is_empty() {
            return Err(usage());
        }
        Ok(Fill {
            table: table.to_string(),
            column: column.to_string(),
            sql: sql.trim().to_string(),
        })
    }
}

/// The keys of `orgexport.toml` with what each sets: the man page's CONFIGURATION section
/// (a test checks them against the README's example file and `FileConfig`'s fields).
pub const CONFIG_KEYS: &[(&str, &str)] = &[
    (
        "database_url",
        "connection URL (DATABASE_URL and --database-url win)",
    ),
    (
        "history_url",
        "the database holding history, audit and org locks, e.g. the primary when database_url is a standby (ORGEXPORT_HISTORY_URL and --history-url win)",
    ),
    (
        "store",
        "where archives go, or a [store] table with url, part_size_mib, max_parts_in_flight and the provider's options (ORGEXPORT_STORE and --store win)",
    ),
    (
        "root_table",
        "the org table (default: discovered from the tenant columns' foreign keys)",
    ),
    (
        "lookup_columns",
        "root columns --org is matched against, in order",
    ),
    ("tenant_columns", "the columns that hold the org's key"),
    (
        "tenant_schemas",
        "schema-per-tenant: a glob over tenant schema names, e.g. \"tenant_*\" (--org names the part * matches)",
    ),
    (
        "follow_nullable",
        "nullable references to treat as ownership",
    ),
    (
        "references",
        "undeclared foreign keys: \"schema.table.column -> schema.table.column\"",
    ),
    (
        "polymorphic",
        "polymorphic references: column, type_column, targets",
    ),
    (
        "infer_references",
        "adopt every <name>_id naming match plan lists",
    ),
    (
        "exclude_tables",
        "globs over schema.table left out entirely",
    ),
    ("exclude_columns", "globs over schema.table.column left out"),
    (
        "allow_columns",
        "columns never excluded (wins over every exclusion)",
    ),
    (
        "include_referenced",
        "export the rows the org's rows reference (default true)",
    ),
    ("link_ttl", "how long printed links are valid (default 15m)"),
    ("compression_level", "gzip level 0-9 (default 1)"),
    (
        "encrypt_to",
        "age recipients (age1… or ssh-ed25519/ssh-rsa public keys) every archive is encrypted to (--encrypt-to and --recipients-file win)",
    ),
    ("render", "client or server: where rows become JSON"),
    (
        "format",
        "json, ndjson, csv or parquet: the archive's layout (default json)",
    ),
    (
        "lock_timeout",
        "PostgreSQL lock_timeout for the export's sessions",
    ),
    (
        "statement_timeout",
        "PostgreSQL statement_timeout for the export's sessions",
    ),
    (
        "idle_in_transaction_timeout",
        "PostgreSQL idle_in_transaction_session_timeout",
    ),
    (
        "on_complete",
        "a command run after each export is recorded, without a shell (--on-complete wins)",
    ),
    (
        "on_complete_timeout",
        "how long the on_complete command may run (default 60s)",
    ),
    (
        "subject_table",
        "the table of people --subject-email looks in (default: the one with an e-mail column)",
    ),
    (
        "subject_email_column",
        "its e-mail column (default: email, email_address, …)",
    ),
    (
        "time_columns",
        "schema.table.column: the time column --since/--until use (default: created_at, …)",
    ),
    ("where", "row filters, as --where: \"schema.table: SQL\""),
    (
        "columns",
        "column choices, as --columns: \"schema.table: a,b\"",
    ),
];

/// The TOML file, as written. Unknown keys are errors so that a typo is never silently ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    history_url: Option<String>,
    store: Option<StoreSpec>,
    root_table: Option<String>,
    lookup_columns: Option<Vec<String>>,
    tenant_columns: Option<Vec<String>>,
    tenant_schemas: Option<String>,
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
    encrypt_to: Option<Vec<String>>,
    lock_timeout: Option<Spanned<String>>,
    statement_timeout: Option<Spanned<String>>,
    idle_in_transaction_timeout: Option<Spanned<String>>,
    render: Option<Spanned<String>>,
    on_complete: Option<Spanned<String>>,
    on_complete_timeout: Option<Spanned<String>>,
    subject_table: Option<String>,
    subject_email_column: Option<String>,
    time_columns: Option<Vec<String>>,
    r#where: Option<Vec<String>>,
    columns: Option<Vec<String>>,
    format: Option<Spanned<String>>,
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
                settings.on_complete = on_complete(settings.on_complete.take(), args)?;
                if let Some(level) = args.compression_level {
                    settings.compression_level = level;
                }
                if let Some(ttl) = args.link_ttl {
                    settings.link_ttl = ttl;
                }
                settings.scope.apply(&args.scope)?;
                if !args.encrypt_to.is_empty() || !args.recipients_file.is_empty() {
                    settings.encryption =
                        Recipients::parse(&args.encrypt_to, &args.recipients_file)?
                            .map(std::sync::Arc::new);
                }
                if let Some(format) = args.format {
                    settings.format = format;
                }
            }
            Command::Plan(args) => settings.scope.apply(&args.scope)?,
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
                    fill_secrets: args.fill_secrets.is_some(),
                    max_value_bytes: byte_size("--max-value-bytes", &args.max_value_bytes)?,
                });
                settings.identities = args.identity.identity.clone();
            }
            Command::Verify(args) => settings.identities = args.identity.identity.clone(),
            Command::List(args) => {
                settings.status_filter = args.status.as_deref().map(status_filter).transpose()?;
            }
            Command::Link(args) => {
                if let Some(ttl) = args.ttl {
                    settings.link_ttl = ttl;
                }
            }
            _ => {}
        }
        if !matches!(cli.command, Command::Run(_) | Command::Plan(_)) {
            // Narrowing shapes what an export writes; a restore checks the archive it gets.
            settings.scope.narrow = NarrowConfig::default();
        }
        check_ranges(&settings)?;
        if !matches!(cli.command, Command::Completions(_)) {
            settings.connect = ConnectOptions::resolve(settings.database_url.as_deref())
                .map_err(|e| (kind_of(&e), one_line(&e)));
            settings.history = settings.history_url.as_deref().map(|url| {
                ConnectOptions::resolve(Some(url))
                    .map_err(|e| (kind_of(&e), format!("--history-url: {}", one_line(&e))))
            });
        }
        Ok(settings)
    }

    /// The connection options, or why there are none.
    pub fn connect_options(&self) -> anyhow::Result<ConnectOptions> {
        self.connect
            .clone()
            .map_err(|(kind, message)| fail(kind, message))
    }

    /// The history database's options: `--history-url`'s, else the source database's.
    pub fn history_options(&self) -> anyhow::Result<ConnectOptions> {
        match &self.history {
            Some(history) => history
                .clone()
                .map_err(|(kind, message)| fail(kind, message)),
            None => self.connect_options(),
        }
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
        let source = Source {
            name: &file_name,
            text: &text,
        };
        let scope = source.scope(&file)?;
        let link_ttl = source.duration("link_ttl", &file.link_ttl, Duration::from_secs(15 * 60))?;
        let guards = source.guards(&file)?;
        let render = source.render(&file.render)?;
        let format = source.format(&file.format)?;
        let compression_level = source.compression_level(&file.compression_level)?;
        let (file_store_url, mut store) = source.store(file.store.as_ref())?;
        let on_complete = source.on_complete(&file)?;
        store.url = args
            .store
            .clone()
            .or(file_store_url)
            .unwrap_or_else(|| DEFAULT_STORE.to_string());
        server_side_encryption(&mut store, args)?;
        let encryption = match &file.encrypt_to {
            Some(values) if values.is_empty() => {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "{}: encrypt_to is empty; name at least one recipient or leave it out",
                        file_name.display()
                    ),
                ));
            }
            Some(values) => Recipients::parse(values, &[] as &[PathBuf])
                .map_err(|e| e.context(format!("{}: encrypt_to", file_name.display())))?
                .map(std::sync::Arc::new),
            None => None,
        };
        Ok(Settings {
            connect: Err((Kind::Usage, "no connection for this command".into())),
            database_url: args.database_url.clone().or(file.database_url.clone()),
            history: None,
            history_url: args.history_url.clone().or(file.history_url.clone()),
            store,
            scope,
            output: Output {
                json: args.json,
                quiet: args.quiet,
                verbose: args.verbose,
                heartbeat: std::env::var("ORGEXPORT_HEARTBEAT_SECS")
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .map_or(Duration::from_secs(30), Duration::from_secs_f64),
            },
            link_ttl,
            compression_level,
            guards,
            render,
            format,
            restore: None,
            status_filter: None,
            on_complete,
            encryption,
            identities: Vec::new(),
        })
    }
}

/// The config file being resolved: its name and text, to say where a value the TOML parser
/// accepted turned out invalid ("orgexport.toml line 3").
struct Source<'a> {
    name: &'a Path,
    text: &'a str,
}

/// Whether `key` is an option of one of the providers' builders (`object_store`'s own names).
fn is_provider_option(key: &str) -> bool {
    use std::str::FromStr;
    object_store::aws::AmazonS3ConfigKey::from_str(key).is_ok()
        || object_store::gcp::GoogleConfigKey::from_str(key).is_ok()
        || object_store::azure::AzureConfigKey::from_str(key).is_ok()
}

/// `--sse` / `--sse-kms-key-id` as the S3 builder's own options, which the `[store]` table
/// may also set. Only S3 stores take them: object_store 0.14 sends no customer-managed key to
/// GCS and no encryption scope to Azure, where the bucket's or container's default applies.
fn server_side_encryption(store: &mut StoreConfig, args: &GlobalArgs) -> anyhow::Result<()> {
    let Some(mode) = &args.sse else {
        return Ok(());
    };
    if !store.url.starts_with("s3://") {
        return Err(fail(
            Kind::Usage,
            "--sse applies to s3:// stores; for gs:// set the bucket's default KMS key, for az:// the container's default encryption scope (orgexport cannot request them per object), and a local directory has no server-side encryption",
        ));
    }
    if args.sse_kms_key_id.is_some() && mode == "AES256" {
        return Err(fail(
            Kind::Usage,
            "--sse-kms-key-id needs --sse aws:kms (or aws:kms:dsse), not AES256",
        ));
    }
    store
        .options
        .insert("aws_server_side_encryption".into(), mode.clone());
    if let Some(key) = &args.sse_kms_key_id {
        store
            .options
            .insert("aws_sse_kms_key_id".into(), key.clone());
    }
    Ok(())
}

/// Values that parse but make no sense, refused before anything connects (exit 2): a link
/// that expires as it is printed, a lock or idle timeout of 0 (which PostgreSQL reads as
/// "wait forever").
fn check_ranges(settings: &Settings) -> anyhow::Result<()> {
    if settings.link_ttl < Duration::from_secs(1) {
        let ttl = match settings.link_ttl {
            d if d.is_zero() => "is 0".to_string(),
            d => format!("{} is under one second", humantime::format_duration(d)),
        };
        return Err(fail(
            Kind::Usage,
            format!("the link TTL {ttl}: the link would be expired when printed; use e.g. 15m"),
        ));
    }
    for (key, value) in [
        ("lock_timeout", settings.guards.lock_timeout),
        (
            "idle_in_transaction_timeout",
            settings.guards.idle_in_transaction_timeout,
        ),
    ] {
        if value < Duration::from_millis(1) {
            return Err(fail(
                Kind::Usage,
                format!(
                    "{key} = {} would let the export wait forever (PostgreSQL reads 0 as no limit); use e.g. 10s",
                    humantime::format_duration(value)
                ),
            ));
        }
    }
    Ok(())
}

impl Source<'_> {
    fn place(&self, span: std::ops::Range<usize>) -> String {
        format!(
            "{} line {}",
            self.name.display(),
            line_of(self.text, span.start)
        )
    }

    fn duration(
        &self,
        key: &str,
        value: &Option<Spanned<String>>,
        default: Duration,
    ) -> anyhow::Result<Duration> {
        let Some(value) = value else {
            return Ok(default);
        };
        humantime::parse_duration(value.get_ref()).map_err(|e| {
            fail(
                Kind::Usage,
                format!(
                    "{}: {key} = {:?} is not a duration ({e}); write e.g. \"15m\"",
                    self.place(value.span()),
                    value.get_ref()
                ),
            )
        })
    }

    fn guards(&self, file: &FileConfig) -> anyhow::Result<Guards> {
        let defaults = Guards::default();
        Ok(Guards {
            lock_timeout: self.duration(
                "lock_timeout",
                &file.lock_timeout,
                defaults.lock_timeout,
            )?,
            statement_timeout: self.duration(
                "statement_timeout",
                &file.statement_timeout,
                defaults.statement_timeout,
            )?,
            idle_in_transaction_timeout: self.duration(
                "idle_in_transaction_timeout",
                &file.idle_in_transaction_timeout,
                defaults.idle_in_transaction_timeout,
            )?,
        })
    }

    /// `on_complete` and `on_complete_timeout`, checked wherever they are set; whether the
    /// program can be found is checked only by `run`.
    fn on_complete(&self, file: &FileConfig) -> anyhow::Result<Option<Hook>> {
        let timeout = self.duration(
            "on_complete_timeout",
            &file.on_complete_timeout,
            hooks::DEFAULT_TIMEOUT,
        )?;
        let Some(command) = &file.on_complete else {
            return Ok(None);
        };
        Hook::parse(command.get_ref(), timeout)
            .map(Some)
            .map_err(|why| {
                fail(
                    Kind::Usage,
                    format!(
                        "{}: on_complete = {:?} {why}",
                        self.place(command.span()),
                        command.get_ref()
                    ),
                )
            })
    }

    fn render(&self, value: &Option<Spanned<String>>) -> anyhow::Result<RenderMode> {
        let Some(value) = value else {
            return Ok(RenderMode::Client);
        };
        match value.get_ref().as_str() {
            "client" => Ok(RenderMode::Client),
            "server" => Ok(RenderMode::Server),
            other => Err(fail(
                Kind::Usage,
                format!(
                    "{}: render = {other:?}; use \"client\" or \"server\"",
                    self.place(value.span())
                ),
            )),
        }
    }

    fn format(&self, value: &Option<Spanned<String>>) -> anyhow::Result<Format> {
        let Some(value) = value else {
            return Ok(Format::Json);
        };
        Format::parse(value.get_ref()).ok_or_else(|| {
            fail(
                Kind::Usage,
                format!(
                    "{}: format = {:?}; use \"json\", \"ndjson\", \"csv\" or \"parquet\"",
                    self.place(value.span()),
                    value.get_ref()
                ),
            )
        })
    }

    /// Level 1 (ISA-L's igzip; libdeflate's without the `isal` feature) by default: smaller
    /// than `gzip -1` (and than zlib-rs's level 2, the default before) and fast enough not to
    /// slow the export below the database's pace on two cores; see bench/RESULTS.md.
    fn compression_level(&self, value: &Option<Spanned<u32>>) -> anyhow::Result<u32> {
        match value {
            None => Ok(1),
            Some(level) if *level.get_ref() <= 9 => Ok(*level.get_ref()),
            Some(level) => Err(fail(
                Kind::Usage,
                format!(
                    "{}: compression_level = {} is out of range; use 0-9",
                    self.place(level.span()),
                    level.get_ref()
                ),
            )),
        }
    }

    /// The file's store URL (if any) and the store's tuning and provider options.
    fn store(&self, spec: Option<&StoreSpec>) -> anyhow::Result<(Option<String>, StoreConfig)> {
        let mut store = StoreConfig::new(DEFAULT_STORE);
        let table = match spec {
            None => return Ok((None, store)),
            Some(StoreSpec::Url(url)) => return Ok((Some(url.clone()), store)),
            Some(StoreSpec::Table(table)) => table,
        };
        if let Some(mib) = table.part_size_mib {
            if !(5..=5 * 1024).contains(&mib) {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "{}: [store] part_size_mib = {mib} is out of range; use 5 to 5120",
                        self.name.display()
                    ),
                ));
            }
            store.part_size = mib << 20;
        }
        if let Some(n) = table.max_parts_in_flight {
            store.max_parts_in_flight = n.clamp(1, 64);
        }
        // Checked whatever store the flags name: a misspelled key is never silently ignored
        // (a local store ignores provider options, so it would never be told otherwise).
        if let Some(key) = table.options.keys().find(|k| !is_provider_option(k)) {
            return Err(fail(
                Kind::Usage,
                format!(
                    "{}: [store] {key} is not a store option (known: url, part_size_mib, max_parts_in_flight, and the S3, GCS and Azure options such as aws_region, aws_endpoint, google_service_account, azure_storage_account_name)",
                    self.name.display()
                ),
            ));
        }
        store.options = table.options.clone();
        Ok((table.url.clone(), store))
    }

    fn scope(&self, file: &FileConfig) -> anyhow::Result<ScopeConfig> {
        if file.tenant_columns.as_ref().is_some_and(Vec::is_empty) {
            return Err(fail(
                Kind::Usage,
                format!(
                    "{}: tenant_columns must name at least one column (or leave it out to discover it)",
                    self.name.display()
                ),
            ));
        }
        let defaults = ScopeConfig::default();
        Ok(ScopeConfig {
            root_table: file.root_table.clone(),
            lookup_columns: file
                .lookup_columns
                .clone()
                .unwrap_or(defaults.lookup_columns),
            tenant_columns: file
                .tenant_columns
                .clone()
                .unwrap_or(defaults.tenant_columns),
            follow_nullable: file.follow_nullable.clone().unwrap_or_default(),
            references: file.references.clone().unwrap_or_default(),
            polymorphic: file.polymorphic.clone().unwrap_or_default(),
            infer_references: file.infer_references.unwrap_or(false),
            exclude_tables: file.exclude_tables.clone().unwrap_or_default(),
            exclude_columns: file.exclude_columns.clone().unwrap_or_default(),
            allow_columns: file.allow_columns.clone().unwrap_or_default(),
            include_referenced: file.include_referenced.unwrap_or(true),
            only_tables: Vec::new(),
            narrow: NarrowConfig {
                subject_table: file.subject_table.clone(),
                subject_email_column: file.subject_email_column.clone(),
                time_columns: file.time_columns.clone().unwrap_or_default(),
                filters: (file.r#where.iter().flatten())
                    .map(|f| RowFilter::parse(f))
                    .collect::<anyhow::Result<_>>()?,
                columns: (file.columns.iter().flatten())
                    .map(|c| ColumnChoice::parse(c))
                    .collect::<anyhow::Result<_>>()?,
                ..NarrowConfig::default()
            },
            tenant_schemas: file.tenant_schemas.clone(),
            tenant_schema: None,
        })
    }
}

impl ScopeConfig {
    /// `--tables`, `--exclude-tables` and the narrowing flags (added to the config's).
    fn apply(&mut self, args: &ScopeArgs) -> anyhow::Result<()> {
        self.exclude_tables
            .extend(args.exclude_tables.iter().cloned());
        self.only_tables = args.tables.clone();
        let (narrow, flags) = (&mut self.narrow, &args.narrow);
        narrow.subject = match (&flags.subject, &flags.subject_email) {
            (Some(key), _) => Some(SubjectSpec::parse_key(key)?),
            (None, Some(email)) => Some(SubjectSpec::Email(email.clone())),
            (None, None) => None,
        };
        narrow.window = Window::parse(
            flags.since.as_deref(),
            flags.until.as_deref(),
            chrono::Utc::now(),
        )?;
        for f in &flags.where_ {
            narrow.filters.push(RowFilter::parse(f)?);
        }
        for c in &flags.columns {
            narrow.columns.push(ColumnChoice::parse(c)?);
        }
        Ok(())
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A size such as `256MiB`, `64 MB` or `1048576`, at least 1 KiB.
fn byte_size(flag: &str, text: &str) -> anyhow::Result<u64> {
    let size: bytesize::ByteSize = text.trim().parse().map_err(|_| {
        fail(
            Kind::Usage,
            format!("{flag} {text:?} is not a size; write e.g. 256MiB"),
        )
    })?;
    if size.as_u64() < 1024 {
        return Err(fail(
            Kind::Usage,
            format!("{flag} {text:?} is too small; use at least 1KiB"),
        ));
    }
    Ok(size.as_u64())
}

/// `run`'s completion hook: `--on-complete` and `--on-complete-timeout` over the file's, its
/// program found (exit 2 before anything is exported when it is not).
fn on_complete(
    from_file: Option<Hook>,
    args: &crate::cli::RunArgs,
) -> anyhow::Result<Option<Hook>> {
    let timeout = args
        .on_complete_timeout
        .or(from_file.as_ref().map(|h| h.timeout))
        .unwrap_or(hooks::DEFAULT_TIMEOUT);
    let hook = match &args.on_complete {
        Some(command) => Hook::parse(command, timeout)
            .map_err(|why| fail(Kind::Usage, format!("--on-complete {command:?} {why}")))?,
        None => match from_file {
            Some(hook) => Hook { timeout, ..hook },
            None if args.on_complete_timeout.is_some() => {
                return Err(fail(
                    Kind::Usage,
                    "--on-complete-timeout without a command: pass --on-complete CMD (or set on_complete in the config)",
                ));
            }
            None => return Ok(None),
        },
    };
    if hook.timeout.is_zero() {
        return Err(fail(
            Kind::Usage,
            "--on-complete-timeout is 0: give the command time to run, e.g. 60s",
        ));
    }
    hook.check_program().map_err(|why| {
        fail(
            Kind::Usage,
            format!("the --on-complete command (or on_complete): {why}"),
        )
    })?;
    Ok(Some(hook))
}

/// `--status TEXT`: one of the history's statuses.
fn status_filter(text: &str) -> anyhow::Result<Status> {
    Status::parse(text).ok_or_else(|| {
        fail(
            Kind::Usage,
            format!(
                "--status {text:?} is not a status: use one of {}",
                Status::NAMES.join(", ")
            ),
        )
    })
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
            history_url: None,
            store: None,
            config: Some(path),
            json: false,
            quiet: false,
            verbose: false,
            sse: None,
            sse_kms_key_id: None,
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
