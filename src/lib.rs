//! orgexport: export everything one organization owns in a multi-tenant PostgreSQL database.
//! The pipeline of DESIGN §1, one module per stage; `commands/` wires them per subcommand.

pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod scope;

/// The OS user running the tool (for libpq's default user and the audit trail).
pub fn os_user() -> String {
    whoami::username().unwrap_or_else(|_| "unknown".to_string())
}

/// This host's name (for the history table and the audit trail).
pub fn host_name() -> String {
    whoami::hostname().unwrap_or_else(|_| "unknown".to_string())
}

pub mod commands;
pub mod export;
pub mod history;
pub mod org;
pub mod output;
pub mod store;

use tokio_util::sync::CancellationToken;

use crate::cli::{Cli, Command};
use crate::config::Settings;
use crate::output::Reporter;

/// Keeps memory flat on glibc. Archive chunks (1 MiB) are allocated and freed on several
/// threads; glibc's dynamic mmap threshold would move such buffers into per-thread arenas that
/// keep the freed memory (peak RSS 30 MiB instead of 16 MiB in bench/RESULTS.md). A fixed
/// threshold keeps them mmapped and returned to the system when freed.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only adjusts allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Runs a parsed command line. `main` maps the error to an exit code.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let settings = Settings::resolve(&cli.global)?;
    let report = Reporter::new(settings.output);
    let cancel = CancellationToken::new();
    watch_signals(cancel.clone());
    match &cli.command {
        Command::Run(args) => commands::run::run(&settings, args, cancel, report).await,
        Command::Plan(args) => commands::plan::run(&settings, args, cancel, report).await,
        Command::List(args) => commands::list::run(&settings, args, report).await,
        Command::Link(args) => commands::link::run(&settings, args, report).await,
        Command::Verify(args) => commands::verify::run(&settings, args, report).await,
        Command::Prune(args) => commands::prune::run(&settings, args, report).await,
        Command::Check => commands::check::run(&settings, report).await,
        Command::Completions(args) => commands::completions::run(args),
    }
}

/// SIGINT/SIGTERM cancel the token: each stage checks it, cleans up (aborts the upload, marks
/// the history row) and returns `Kind::Interrupted`. A second signal exits at once.
fn watch_signals(cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        let mut seen = 0;
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            seen += 1;
            if seen > 1 {
                eprintln!("orgexport: interrupted again; exiting now");
                std::process::exit(130);
            }
            eprintln!("orgexport: interrupted; cleaning up (press Ctrl-C again to exit at once)");
            cancel.cancel();
        }
    });
}
