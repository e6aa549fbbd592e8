//! `orgexport completions SHELL`, and the generated files kept in the repository
//! (`completions/`, `man/orgexport.1`) — from the same clap definitions as the parser.

use std::io::Write;

use clap_complete::Shell;

use crate::cli::CompletionsArgs;

pub fn run(args: &CompletionsArgs) -> anyhow::Result<()> {
    std::io::stdout().write_all(&completion(args.shell))?;
    Ok(())
}

/// A completion script.
pub fn completion(shell: Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut crate::cli::command(), "orgexport", &mut out);
    out
}

/// The shells whose scripts live in `completions/`, with their file names.
pub const GENERATED_COMPLETIONS: &[(Shell, &str)] = &[
    (Shell::Bash, "orgexport.bash"),
    (Shell::Zsh, "_orgexport"),
    (Shell::Fish, "orgexport.fish"),
];

/// `man/orgexport.1`: clap's page plus the exit codes and the environment.
pub fn man_page() -> Vec<u8> {
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(crate::cli::command());
    man.render_title(&mut out).expect("writing to memory");
    man.render_name_section(&mut out)
        .expect("writing to memory");
    man.render_synopsis_section(&mut out)
        .expect("writing to memory");
    man.render_description_section(&mut out)
        .expect("writing to memory");
    man.render_options_section(&mut out)
        .expect("writing to memory");
    out.extend_from_slice(commands_section().as_bytes());
    out.extend_from_slice(exit_status_section().as_bytes());
    out.extend_from_slice(EXTRA_SECTIONS.as_bytes());
    man.render_version_section(&mut out)
        .expect("writing to memory");
    out
}

/// EXIT STATUS, from the one table.
fn exit_status_section() -> String {
    let mut out = String::from(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in crate::error::exit_codes() {
        out.push_str(&format!(
            ".TP\n\\fB{code}\\fR\n{}\n",
            meaning.replace('-', "\\-")
        ));
    }
    out
}

/// Every subcommand with its own options, in this one page (no `orgexport-run(1)` pages
/// ship, so none are referred to).
fn commands_section() -> String {
    let roff = |text: &str| text.replace('\\', "\\\\").replace('-', "\\-");
    let mut out = String::from(".SH COMMANDS\n");
    let cli = crate::cli::command();
    for sub in cli.get_subcommands() {
        out.push_str(&format!(".SS \"orgexport {}\"\n", sub.get_name()));
        if let Some(about) = sub.get_about() {
            out.push_str(&format!("{}\n", roff(&about.to_string())));
        }
        for arg in sub.get_arguments() {
            if arg.is_hide_set() || arg.is_global_set() || arg.get_id() == "help" {
                continue;
            }
            let value = arg
                .get_value_names()
                .filter(|_| arg.get_action().takes_values())
                .map(|names| {
                    names
                        .iter()
                        .map(|n| format!(" \\fI{}\\fR", roff(n)))
                        .collect::<String>()
                })
                .unwrap_or_default();
            let name = match (arg.get_long(), arg.get_short()) {
                (Some(long), _) => format!("\\fB\\-\\-{}\\fR{value}", roff(long)),
                (None, Some(short)) => format!("\\fB\\-{short}\\fR{value}"),
                (None, None) => format!("\\fI{}\\fR", roff(arg.get_id().as_str()).to_uppercase()),
            };
            out.push_str(&format!(".TP\n{name}\n"));
            if let Some(help) = arg.get_help() {
                out.push_str(&format!("{}\n", roff(&help.to_string())));
            }
        }
    }
    out
}

const EXTRA_SECTIONS: &str = r#".SH ENVIRONMENT
.TP
\fBDATABASE_URL\fR
connection URL, as \-\-database\-url
.TP
\fBPGHOST\fR, \fBPGPORT\fR, \fBPGUSER\fR, \fBPGPASSWORD\fR, \fBPGDATABASE\fR, \fBPGSSLMODE\fR, \fBPGSSLROOTCERT\fR, \fBPGCONNECT_TIMEOUT\fR, \fBPGPASSFILE\fR
libpq connection settings, used when no URL is given
.TP
\fBORGEXPORT_STORE\fR
where archives go, as \-\-store
.SH FILES
.TP
\fB./orgexport.toml\fR
configuration, when present (or \-\-config FILE)
.TP
\fB~/.pgpass\fR
passwords, as libpq reads them (mode 0600)
"#;
