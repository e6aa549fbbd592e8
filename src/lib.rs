//! orgexport: export everything one organization owns in a multi-tenant PostgreSQL database.
//! The pipeline of DESIGN §1, one module per stage; `commands/` wires them per subcommand.

pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod graph;
pub mod host;
pub mod scope;

pub mod commands;
pub mod export;
pub mod history;
pub mod hooks;
pub mod org;
pub mod output;
pub mod redact;
pub mod restore;
pub mod retention;
pub mod store;
pub mod usage;

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
    let settings = Settings::resolve(&cli)?;
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
        Command::Delete(args) => commands::delete::run(&settings, args, report).await,
        Command::Restore(args) => commands::restore::run(&settings, args, cancel, report)
            .await
            .map_err(error::as_restore_failure),
        // check's queries are short: on Ctrl-C it stops at once, and exits 130.
        Command::Check => tokio::select! {
            checked = commands::check::run(&settings, report) => checked,
            _ = cancel.cancelled() => Err(error::fail(error::Kind::Interrupted, "interrupted")),
        },
        Command::Completions(args) => commands::completions::run(args),
    }
}

/// How long cleanup may take after the first signal before the process exits anyway: a
/// server or store that does not answer must not keep a cron job (or `timeout 1h`) waiting.
/// What cleanup could not finish is left to the next run's reconciliation.
const CLEANUP_GRACE: std::time::Duration = std::time::Duration::from_secs(4);

/// SIGINT, SIGTERM and SIGHUP (a dropped SSH session) cancel the token: each stage checks it,
/// cleans up (cancels the statement server-side, aborts the upload, marks the history row)
/// and returns `Kind::Interrupted` (exit 130). A second signal, or [`CLEANUP_GRACE`] without
/// an exit, ends the process at once with 130.
fn watch_signals(cancel: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        let mut seen = 0;
        loop {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            seen += 1;
            if seen > 1 {
                output::stderr_line("orgexport: interrupted again; exiting now");
                std::process::exit(130);
            }
            output::stderr_line(
                "orgexport: interrupted; cleaning up (press Ctrl-C again to exit at once)",
            );
            cancel.cancel();
            // A plain thread: it fires even if every async task is stuck.
            std::thread::spawn(|| {
                std::thread::sleep(CLEANUP_GRACE);
                output::stderr_line(
                    "orgexport: error: interrupted; cleanup did not finish in time (the next run reconciles it)",
                );
                std::process::exit(130);
            });
        }
    });
}
