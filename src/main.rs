//! Parse, run, map the error to an exit code — nothing else.

use std::process::ExitCode;

use clap::FromArgMatches;
use clap::error::ErrorKind;
use orgexport::error::{kind_of, one_line};

fn main() -> ExitCode {
    orgexport::tune_allocator();
    let parsed = orgexport::cli::command()
        .try_get_matches()
        .and_then(|matches| orgexport::cli::Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => return argument_error(err),
    };
    let json = cli.global.json;
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            orgexport::output::stderr_line(&format!(
                "orgexport: error: cannot start the async runtime: {err}"
            ));
            return ExitCode::from(1);
        }
    };
    let Err(err) = runtime.block_on(orgexport::run(cli)) else {
        return ExitCode::SUCCESS;
    };
    // `orgexport list | head`: a closed stdout is not an error (as in ripgrep).
    if err
        .chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    {
        return ExitCode::SUCCESS;
    }
    let kind = kind_of(&err);
    let message = one_line(&err);
    if json && !orgexport::output::json_written() {
        use std::io::Write;
        let body = serde_json::json!({ "error": { "code": kind.name(), "message": message } });
        let _ = writeln!(std::io::stdout(), "{body}");
    }
    orgexport::output::stderr_line(&format!(
        "orgexport: error: {}",
        orgexport::output::escape_controls(&message)
    ));
    ExitCode::from(kind.exit_code())
}

/// An argument error: clap's message and usage, exit 2 — and with `--json` anywhere on the
/// command line, the error object on stdout too (scripts parse stdout). Help and version are
/// not errors.
fn argument_error(err: clap::Error) -> ExitCode {
    let json = std::env::args().any(|a| a == "--json");
    if json
        && !matches!(
            err.kind(),
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
        )
    {
        use std::io::Write;
        let text = err.render().to_string();
        let message = text
            .lines()
            .next()
            .unwrap_or("invalid arguments")
            .trim_start_matches("error: ")
            .to_string();
        let body = serde_json::json!({ "error": { "code": "usage", "message": message } });
        let _ = writeln!(std::io::stdout(), "{body}");
        orgexport::output::stderr_line(&format!("orgexport: error: {message}"));
        return ExitCode::from(orgexport::error::Kind::Usage.exit_code());
    }
    let _ = err.print();
    ExitCode::from(if err.use_stderr() { 2 } else { 0 })
}
