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
                  store it, record it in a history table and print a download link.",
    after_help = "Exit codes: 0 success, 1 export failed, 2 invalid usage or configuration, \
                  3 org not found, 4 another export of this org is in progress, 5 cannot connect \
                  to the database, 6 object store unreachable, 130 interrupted."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Where archives go: a directory, file:///abs/dir (default ./orgexports)
    #[arg(long, global = true, env = "ORGEXPORT_STORE")]
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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Export one or more orgs
    #[command(after_help = "Example:\n  orgexport run --org acme --store ./exports")]
    Run(RunArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The org to export: its primary key, slug or name (repeatable)
    #[arg(long, value_name = "KEY", required_unless_present = "all_orgs")]
    pub org: Vec<String>,

    /// gzip level, 0 (store only) to 9 (smallest); default 6 or compression_level in the config
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=9))]
    pub compression_level: Option<u32>,

    /// Export every org of the root table, one after another
    #[arg(long, conflicts_with = "org")]
    pub all_orgs: bool,

    /// When another export of the org holds its lock, wait up to DURATION (default 1h) for it
    /// instead of exiting with code 4
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true,
          default_missing_value = "1h", value_parser = parse_duration)]
    pub wait: Option<std::time::Duration>,
}

/// humantime durations: `30s`, `15m`, `1h 30m`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (write e.g. 30s, 15m or 2h)"))
}
