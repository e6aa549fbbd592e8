//! Parse, run, map the error to an exit code — nothing else.

use std::process::ExitCode;

use clap::FromArgMatches;
use orgexport::error::{kind_of, one_line};

fn main() -> ExitCode {
    orgexport::tune_allocator();
    let parsed = orgexport::cli::command()
        .try_get_matches()
        .and_then(|matches| orgexport::cli::Cli::from_arg_matches(&matches));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(err) => {
            let json = std::env::args().any(|a| a == "--json");
            return ExitCode::from(orgexport::usage::report(&err, json));
        }
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
