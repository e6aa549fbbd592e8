//! Command-line definitions (clap derive) — what the user typed, nothing more. Resolution
//! into validated settings happens once, in `config.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "orgexport",
    version,
    about = "Export everything one organization owns in a multi-tenant PostgreSQL database",
    long_about = "Export everything one organization (tenant) owns in a multi-tenant PostgreSQL \
                  database into one gzipped JSON archive that opens with a coverage manifest, \
                  store it, record it in a history table and print a download link."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// The command line with its exit-code table as after-help ([`crate::error::exit_codes`]):
/// what `main` parses and what the man page and completions are generated from.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let codes: Vec<String> = crate::error::exit_codes()
        .iter()
        .map(|(code, meaning)| format!("  {code:>3}  {meaning}"))
        .collect();
    Cli::command().after_help(format!("Exit codes:\n{}", codes.join("\n")))
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// The database that holds the export history, the audit log and the org locks (default:
    /// the --database-url one); a primary, so that exports can read a hot standby
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "ORGEXPORT_HISTORY_URL",
        hide_env_values = true
    )]
    pub history_url: Option<String>,

    /// Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a
    /// directory or file:///abs/dir (default ./orgexports)
    #[arg(long, global = true, env = "ORGEXPORT_STORE", hide_env_values = true)]
    pub store: Option<String>,

    /// TOML configuration file (default ./orgexport.toml when present)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print one JSON object on stdout and nothing else there
    #[arg(long, global = true)]
    pub json: bool,

    /// Only errors on stderr
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// More detail on stderr (the generated SQL)
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS)
    /// or aws:kms:dsse (s3:// stores only; the bucket's default applies otherwise)
    #[arg(long, global = true, value_name = "MODE", value_parser = ["AES256", "aws:kms", "aws:kms:dsse"])]
    pub sse: Option<String>,

    /// The KMS key (id, ARN or alias) for --sse aws:kms (default: the account's aws/s3 key)
    #[arg(long, global = true, value_name = "ID", requires = "sse")]
    pub sse_kms_key_id: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export one or more orgs
    #[command(
        after_help = "Examples:\n  orgexport run --org acme --store ./exports\n  \
                            orgexport run --all-orgs --json\n  url=$(orgexport run --org acme)\n  \
                            orgexport run --org acme --subject public.users=42\n  \
                            orgexport run --all-orgs --subject-email ada@example.com\n  \
                            orgexport run --org acme --since 30d --where 'public.tasks: status <> $$done$$'\n  \
                            orgexport run --all-orgs --on-complete '/usr/local/bin/notify-exports --channel ops'"
    )]
    Run(RunArgs),

    /// Show an org's scope: sections, how each is scoped, rows, excluded columns, warnings
    #[command(
        after_help = "Examples:\n  orgexport plan --org acme\n  orgexport plan --org acme --estimate --json\n  \
                            orgexport plan --org acme --subject public.users=42"
    )]
    Plan(PlanArgs),

    /// Export history, newest first
    #[command(
        after_help = "Examples:\n  orgexport list\n  orgexport list --org acme --status failed --limit 5"
    )]
    List(ListArgs),

    /// Issue a fresh download link for a completed export (audited)
    #[command(
        after_help = "Example:\n  orgexport link 0192f6c4-5b1e-7c3a-9d2f-4e8a1b2c3d4e --ttl 1h"
    )]
    Link(LinkArgs),

    /// Re-read an archive and check it against its manifest and sidecar
    #[command(
        after_help = "Examples:\n  orgexport verify 0192f6c4-5b1e-7c3a-9d2f-4e8a1b2c3d4e\n  \
                            orgexport verify ./orgexports/acme/0192f6c4-….json.gz"
    )]
    Verify(VerifyArgs),

    /// Delete old archives from the store (their history rows are kept, marked pruned)
    #[command(
        after_help = "Examples:\n  orgexport prune --older-than 30d --dry-run\n  orgexport prune --keep 7 --org acme"
    )]
    Prune(PruneArgs),

    /// Delete exports' archives from the store now, by id (history rows kept, marked deleted;
    /// audited)
    #[command(
        after_help = "Examples:\n  orgexport delete 0192f6c4-5b1e-7c3a-9d2f-4e8a1b2c3d4e --dry-run\n  \
                            orgexport list --org acme --status completed --json | jq -r '.exports[].id' | xargs orgexport delete"
    )]
    Delete(DeleteArgs),

    /// Test the database and store connections, privileges and link signing
    #[command(after_help = "Example:\n  orgexport check --store s3://exports/prod")]
    Check,

    /// Create or upgrade the history schema (run once as its owner), or print the grants a
    /// least-privileged role needs
    #[command(
        after_help = "Examples:\n  orgexport setup\n  orgexport setup --print-grants exporter | psql \"$OWNER_URL\""
    )]
    Setup(SetupArgs),

    /// Load an archive into a database: relocate an org, undo a deletion, seed staging
    #[command(
        after_help = "Examples:\n  orgexport restore 0192f6c4-… --target-url postgres://staging/app --dry-run\n  \
                            orgexport restore s3://exports/acme-1/0192f6c4-….json.gz --target-url $SHARD2 --remap-keys\n  \
                            orgexport restore ./acme.json.gz --target-url $STAGING --fill \"public.users.password_hash='!'\""
    )]
    Restore(RestoreArgs),

    /// Print an archive's manifest: sections, rows, columns, exclusions (no database needed
    /// for a path or URL)
    #[command(
        after_help = "Examples:\n  orgexport inspect ./orgexports/acme-1/0192f6c4-….json.gz\n  \
                            orgexport inspect 0192f6c4-5b1e-7c3a-9d2f-4e8a1b2c3d4e --json | jq .sections"
    )]
    Inspect(InspectArgs),

    /// Print one section's rows of an archive as NDJSON or CSV (no database needed for a
    /// path or URL)
    #[command(
        after_help = "Examples:\n  orgexport cat ./acme.json.gz --section public.tasks | jq .title\n  \
                            orgexport cat ./acme.json.gz --section public.tasks --format csv > tasks.csv\n\n\
                      CSV: RFC 4180 with a header row; NULL is an empty unquoted field and an empty\n\
                      string is \"\", as PostgreSQL's COPY (FORMAT csv) writes and reads them."
    )]
    Cat(CatArgs),

    /// Compare two archives of the same org: sections, counts, rows added, removed and
    /// changed (by primary key)
    #[command(
        after_help = "Examples:\n  orgexport diff ./acme/0192f6c4-….json.gz ./acme/0193a0b1-….json.gz\n  \
                            orgexport diff 0192f6c4-… 0193a0b1-… --json | jq '.sections[] | select(.status != \"unchanged\")'"
    )]
    Diff(DiffArgs),

    /// List the orgs of the root table: key, lookup columns, name
    #[command(after_help = "Examples:\n  orgexport orgs\n  orgexport orgs --limit 1000 --json")]
    Orgs(OrgsArgs),

    /// Print a shell completion script
    #[command(
        after_help = "Example:\n  orgexport completions bash > /etc/bash_completion.d/orgexport"
    )]
    Completions(CompletionsArgs),
}

/// Scope options shared by `run` and `plan`.
#[derive(Debug, Args, Clone, Default)]
pub struct ScopeArgs {
    /// Only these sections (globs over schema.table; repeatable); scope still flows through
    /// every table
    #[arg(long, value_name = "GLOB")]
    pub tables: Vec<String>,

    /// Leave these tables out entirely, as exclude_tables does (globs; repeatable)
    #[arg(long, value_name = "GLOB")]
    pub exclude_tables: Vec<String>,

    #[command(flatten)]
    pub narrow: NarrowArgs,
}

/// One person's data, a date window, row filters and column choices (`run` and `plan`).
#[derive(Debug, Args, Clone, Default)]
pub struct NarrowArgs {
    /// Only one person's data: their row of TABLE (by primary key), the org's rows that
    /// reference it, what those own, and the rows they reference (e.g. public.users=42)
    #[arg(long, value_name = "TABLE=KEY", conflicts_with = "subject_email")]
    pub subject: Option<String>,

    /// As --subject, the person found by e-mail in subject_table (or the one table with an
    /// e-mail column)
    #[arg(long, value_name = "ADDR")]
    pub subject_email: Option<String>,

    /// Only rows created since then, by each table's time column (time_columns, else
    /// created_at, inserted_at, createdAt, created, …): 30d, 2026-01-01 or an RFC 3339 time;
    /// tables without one whole, rows the kept rows reference always
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,

    /// Only rows created before then (as --since)
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,

    /// Narrow a section by an SQL condition on its row t (repeatable): 'public.tasks: status
    /// <> $$done$$'; rows it drops, and the rows they own, are not exported
    #[arg(long = "where", value_name = "TABLE: SQL")]
    pub where_: Vec<String>,

    /// Keep only these columns of a section (plus its keys; repeatable): 'public.users:
    /// id,name'; a restore gives the others the target's defaults
    #[arg(long, value_name = "TABLE: COLUMNS")]
    pub columns: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The org: its primary key, slug or name
    #[arg(long, value_name = "KEY", value_hint = clap::ValueHint::Other)]
    pub org: String,

    /// Row counts from pg_class.reltuples (whole tables, instant) instead of counting the
    /// org's rows in a snapshot
    #[arg(long)]
    pub estimate: bool,

    #[command(flatten)]
    pub scope: ScopeArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this org (as recorded: its lookup or key)
    #[arg(long, value_name = "KEY", value_hint = clap::ValueHint::Other)]
    pub org: Option<String>,

    /// Only this status: pending, running, completed, failed, cancelled, pruned or deleted
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,

    /// At most N rows
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct LinkArgs {
    /// The export's id
    #[arg(value_hint = clap::ValueHint::Other)]
    pub export_id: String,

    /// How long the link is valid (default 15m or link_ttl in the config)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub ttl: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// An export id, an archive path, or its URL (file://…)
    pub target: String,

    #[command(flatten)]
    pub identity: IdentityArgs,
}

/// Reading an age-encrypted archive (`verify`, `restore`).
#[derive(Debug, Args, Clone, Default)]
pub struct IdentityArgs {
    /// Decrypt an encrypted archive (<id>.json.gz.age) with this age identity file
    /// (age-keygen) or SSH private key (repeatable)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub identity: Vec<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("rule").required(true).args(["older_than", "keep"])))]
pub struct PruneArgs {
    /// Delete completed exports older than this (e.g. 30d)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub older_than: Option<std::time::Duration>,

    /// Keep the newest N completed exports of each org, delete the rest
    #[arg(long, value_name = "N")]
    pub keep: Option<u32>,

    /// Only this org
    #[arg(long, value_name = "KEY", value_hint = clap::ValueHint::Other)]
    pub org: Option<String>,

    /// List what would be deleted; delete nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The exports' ids, as `orgexport list` shows them
    #[arg(value_name = "EXPORT_ID", required = true, value_hint = clap::ValueHint::Other)]
    pub export_ids: Vec<String>,

    /// Check and list what would be deleted; delete nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// An export id (its archive is found through the history of --database-url), an
    /// archive path, or its URL (s3://…, gs://…, az://…, file://…)
    #[arg(value_hint = clap::ValueHint::AnyPath)]
    pub source: String,

    /// The database to load into: a postgres:// URL or key=value conninfo (PG* variables
    /// fill what it leaves out, as for --database-url)
    #[arg(
        long,
        value_name = "URL",
        env = "ORGEXPORT_TARGET_URL",
        hide_env_values = true
    )]
    pub target_url: String,

    /// Do everything, report what would happen, then roll back
    #[arg(long)]
    pub dry_run: bool,

    /// Give the org's integer keys (serial, identity, sequence defaults) fresh values from
    /// the target's sequences and rewrite every reference to them, so that the org can join
    /// a database that holds other orgs
    #[arg(long)]
    pub remap_keys: bool,

    /// Restore an archive capped by --max-rows-per-table
    #[arg(long)]
    pub allow_partial: bool,

    /// Schema-per-tenant: restore the tenant's schema into this tenant schema of the target
    /// (its tables must exist, e.g. created by the app's migrations) instead of the one it
    /// was exported from
    #[arg(long, value_name = "SCHEMA")]
    pub target_schema: Option<String>,

    /// A value for a column the archive does not hold (a NOT NULL secret):
    /// schema.table.column=SQL, evaluated per row; the column may be a glob
    /// ('*.token=gen_random_uuid()::text') (repeatable)
    #[arg(long, value_name = "COLUMN=SQL")]
    pub fill: Vec<String>,

    /// Fill every NOT NULL secret column the archive lacks (and no --fill names) with a
    /// random value of its type
    #[arg(long, value_name = "MODE", value_parser = ["random"])]
    pub fill_secrets: Option<String>,

    /// The largest manifest or row the archive may hold (e.g. 64MiB); a larger one is
    /// refused as it is read, never held in memory
    #[arg(long, value_name = "SIZE", default_value = "256MiB")]
    pub max_value_bytes: String,

    #[command(flatten)]
    pub identity: IdentityArgs,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Print the GRANT statements that let ROLE run every command (USAGE and SELECT on the
    /// application's schemas, the history's tables and sequence); change nothing
    #[arg(long, value_name = "ROLE", value_hint = clap::ValueHint::Other)]
    pub print_grants: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// An archive path, its URL (s3://…, file://…, a download link), or an export id (found
    /// through the history)
    #[arg(value_hint = clap::ValueHint::AnyPath)]
    pub archive: String,
}

#[derive(Debug, Args)]
pub struct CatArgs {
    /// An archive path, its URL, or an export id
    #[arg(value_hint = clap::ValueHint::AnyPath)]
    pub archive: String,

    /// The section to print (schema.table, as `orgexport inspect` lists them)
    #[arg(long, value_name = "SCHEMA.TABLE")]
    pub section: String,

    /// ndjson (one JSON object per line) or csv (header row; NULL is an empty unquoted
    /// field, an empty string is "")
    #[arg(long, value_enum, default_value_t)]
    pub format: crate::inspect::format::RowFormat,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The older archive: a path, URL or export id
    #[arg(value_hint = clap::ValueHint::AnyPath)]
    pub a: String,

    /// The newer archive: a path, URL or export id
    #[arg(value_hint = clap::ValueHint::AnyPath)]
    pub b: String,
}

#[derive(Debug, Args)]
pub struct OrgsArgs {
    /// At most N orgs, in key order
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, powershell or elvish
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The org to export: its primary key, slug or name (repeatable)
    #[arg(long, value_name = "KEY", required_unless_present = "all_orgs", value_hint = clap::ValueHint::Other)]
    pub org: Vec<String>,

    /// How long the printed download link is valid (default 15m or link_ttl in the config;
    /// at most 7d for presigned links)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub link_ttl: Option<std::time::Duration>,

    /// gzip level, 0 (store only) to 9 (smallest); default 1 (ISA-L's igzip: smaller than
    /// gzip -1's output at the speed the database delivers rows) or compression_level in the
    /// config
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=9))]
    pub compression_level: Option<u32>,

    /// The archive's layout: json (one gzipped orgexport/1 document), ndjson (gzipped JSON
    /// lines), csv or parquet (a tar.gz of manifest.json and one CSV or Parquet file per
    /// section); default json or format in the config
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub format: Option<crate::archive_format::Format>,

    /// Write at most N rows per section (the manifest says capped and gives total_count)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=i64::MAX as u64))]
    pub max_rows_per_table: Option<u64>,

    /// Database sessions reading the export's one snapshot side by side, a section each at a
    /// time (default: the number of cores, at most 4); the archive is the same for every N
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub jobs: Option<u32>,

    #[command(flatten)]
    pub scope: ScopeArgs,

    /// Encrypt the archive with age to this recipient: an age1… public key (age-keygen) or an
    /// ssh-ed25519 / ssh-rsa public key (repeatable; replaces encrypt_to in the config). The
    /// archive becomes <id>.json.gz.age
    #[arg(long, value_name = "RECIPIENT", value_hint = clap::ValueHint::Other)]
    pub encrypt_to: Vec<String>,

    /// Encrypt to every recipient in FILE, one per line (# comments), as age -R reads it
    /// (repeatable)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub recipients_file: Vec<PathBuf>,

    /// Export every org of the root table, one after another
    #[arg(long, conflicts_with = "org")]
    pub all_orgs: bool,

    /// When another export of the org holds its lock, wait up to DURATION (default 1h) for it
    /// instead of exiting with code 4
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true,
          default_missing_value = "1h", value_parser = parse_duration)]
    pub wait: Option<std::time::Duration>,

    /// After each org's export is recorded (completed or failed), run CMD: split into words
    /// as a shell would, run without a shell (write `sh -c '…'` for one), the outcome in
    /// ORGEXPORT_* variables and the --json entry on stdin; its failure never changes the
    /// export's status or exit code (or on_complete in the config)
    #[arg(long, value_name = "CMD", value_hint = clap::ValueHint::CommandString)]
    pub on_complete: Option<String>,

    /// Kill the --on-complete command (its whole process group) after DURATION (default 60s
    /// or on_complete_timeout in the config)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub on_complete_timeout: Option<std::time::Duration>,

    /// On Citus: read the org's shards on the worker that holds them (found in the
    /// coordinator's metadata; same credentials), keeping the coordinator out of the data path
    #[arg(long)]
    pub direct: bool,
}

/// humantime durations: `30s`, `15m`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (write e.g. 30s, 15m or 2h)"))
}
