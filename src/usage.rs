//! Argument errors — clap's — in the tool's own form: one line, `orgexport: error: …`, with
//! the fix (clap's tips, the flag the operator most likely wanted, or the command's `--help`),
//! the same line under `--json` with the error object on stdout; exit 2. Help and version are
//! not errors, and a bare `orgexport` or subcommand still prints clap's help. What counts as
//! an error is clap's; what it says is here.

use clap::error::ErrorKind;

/// Reports an argument error and returns the exit code (`json`: `--json` was on the command
/// line, so scripts get the error object on stdout).
pub fn report(err: &clap::Error, json: bool) -> u8 {
    let not_an_error = matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    if not_an_error {
        let _ = err.print();
        return if err.use_stderr() { 2 } else { 0 };
    }
    let message = one_line(&err.render().to_string(), &command_typed());
    if json {
        use std::io::Write;
        let body = serde_json::json!({ "error": { "code": "usage", "message": message } });
        let _ = writeln!(std::io::stdout(), "{body}");
    }
    crate::output::stderr_line(&format!(
        "orgexport: error: {}",
        crate::output::escape_controls(&message)
    ));
    crate::error::Kind::Usage.exit_code()
}

/// The command typed (`orgexport run`): the first argument naming a subcommand.
fn command_typed() -> String {
    let names: Vec<String> = crate::cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    match std::env::args().skip(1).find(|a| names.contains(a)) {
        Some(sub) => format!("orgexport {sub}"),
        None => "orgexport".into(),
    }
}

/// clap's rendered error as one line with the fix: the problem (with the arguments clap lists
/// under it), then the fix this tool knows, else clap's tips, else `command --help`.
pub fn one_line(rendered: &str, command: &str) -> String {
    let mut lines = rendered.lines();
    let mut problem = lines
        .next()
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string();
    // "…were not provided:" is followed by the arguments, one per indented line.
    let mut listed = Vec::new();
    let listing = problem.ends_with(':');
    let mut tips = Vec::new();
    for line in lines {
        let trimmed = line.trim();
        if let Some(tip) = trimmed.strip_prefix("tip: ") {
            tips.push(tip.to_string());
        } else if listing && line.starts_with("  ") && !trimmed.is_empty() {
            listed.push(trimmed.to_string());
        }
    }
    if !listed.is_empty() {
        problem = format!("{problem} {}", listed.join(", "));
    }
    let fix = known_fix(command, &problem)
        .or_else(|| (!tips.is_empty()).then(|| tips.join("; ")))
        .unwrap_or_else(|| format!("see `{command} --help`"));
    format!("{problem}; {fix}")
}

/// The fixes this tool knows better than clap: what to pass instead.
fn known_fix(command: &str, problem: &str) -> Option<String> {
    let subcommand = command.strip_prefix("orgexport ").unwrap_or("");
    let missing = problem.starts_with("the following required arguments were not provided");
    match subcommand {
        "run" if missing && problem.contains("--org") => Some(
            "pass --org KEY (its key, slug or name; repeatable) or --all-orgs to export every org"
                .into(),
        ),
        "run" if problem.contains("'--dry-run'") => Some(
            "run has no --dry-run: `orgexport plan --org KEY` shows what it would export, with row counts"
                .into(),
        ),
        "plan" if missing && problem.contains("--org") => {
            Some("pass --org KEY: the org's key, slug or name".into())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn a_missing_org_names_all_orgs() {
        let rendered = "error: the following required arguments were not provided:\n  --org <KEY>\n\nUsage: orgexport run --org <KEY>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(rendered, "orgexport run"),
            "the following required arguments were not provided: --org <KEY>; pass --org KEY (its key, slug or name; repeatable) or --all-orgs to export every org"
        );
    }

    #[test]
    fn clap_tips_are_the_fix_else_help() {
        let rendered = "error: unexpected argument '--limt' found\n\n  tip: a similar argument exists: '--limit'\n\nUsage: orgexport list --limit <N>\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(rendered, "orgexport list"),
            "unexpected argument '--limt' found; a similar argument exists: '--limit'"
        );
        let rendered = "error: invalid value 'x' for '--limit <N>': invalid digit found in string\n\nFor more information, try '--help'.\n";
        assert_eq!(
            one_line(rendered, "orgexport list"),
            "invalid value 'x' for '--limit <N>': invalid digit found in string; see `orgexport list --help`"
        );
    }
}
