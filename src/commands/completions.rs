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

/// `man/orgexport.1`: clap's page plus every command's options, the exit codes, the
/// environment, the config keys, the files and examples.
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
    out.extend_from_slice(extra_sections().as_bytes());
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
            // `--wait[=DURATION]`: a value that may be left out is shown as optional.
            let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
            let value = arg
                .get_value_names()
                .filter(|_| arg.get_action().takes_values())
                .map(|names| {
                    names
                        .iter()
                        .map(|n| match optional {
                            true => format!("[=\\fI{}\\fR]", roff(n)),
                            false => format!(" \\fI{}\\fR", roff(n)),
                        })
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

/// ENVIRONMENT, CONFIGURATION, FILES and EXAMPLES: every variable the tool (and the store
/// clients it uses) reads, the config keys, the files it reads, the three users' examples.
fn extra_sections() -> String {
    let roff = |text: &str| text.replace('\\', "\\\\").replace('-', "\\-");
    let mut out = String::from(ENVIRONMENT_HEAD);
    for (key, var) in crate::db::options::PG_VARIABLES {
        out.push_str(&format!(
            ".TP\n\\fB{var}\\fR\nthe connection's {}\n",
            roff(key)
        ));
    }
    out.push_str(ENVIRONMENT_TAIL);
    let unsupported: Vec<String> = crate::db::options::UNSUPPORTED_VARIABLES
        .iter()
        .map(|v| format!("\\fB{v}\\fR"))
        .collect();
    out.push_str(&format!(
        ".TP\n{}\nnot supported: refused (exit 2) when set, never ignored\n",
        unsupported.join(", ")
    ));
    out.push_str(
        ".SH CONFIGURATION\nKeys of \\fBorgexport.toml\\fR (flags > environment > file > defaults; unknown keys are errors):\n",
    );
    for (key, meaning) in crate::config::CONFIG_KEYS {
        out.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", roff(key), roff(meaning)));
    }
    out.push_str(FILES_AND_EXAMPLES);
    out
}

const ENVIRONMENT_HEAD: &str = r#".SH ENVIRONMENT
.TP
\fBDATABASE_URL\fR
connection URL, as \-\-database\-url
.TP
\fBORGEXPORT_STORE\fR
where archives go, as \-\-store
.TP
\fBORGEXPORT_TARGET_URL\fR
the database restore loads into, as \-\-target\-url
.TP
\fBORGEXPORT_HEARTBEAT_SECS\fR
seconds between the progress lines a long section writes without a terminal
"#;

const ENVIRONMENT_TAIL: &str = r#".TP
\fBPGSERVICE\fR, \fBPGSERVICEFILE\fR, \fBPGSYSCONFDIR\fR
the connection service and the files that define it (pg_service.conf)
.TP
\fBPGPASSFILE\fR
the password file (default ~/.pgpass)
.TP
\fBHOME\fR
where ~/.pgpass, ~/.pg_service.conf, ~/.postgresql/ and ~/.aws/ are found
.TP
\fBAWS_ACCESS_KEY_ID\fR, \fBAWS_SECRET_ACCESS_KEY\fR, \fBAWS_SESSION_TOKEN\fR, \fBAWS_REGION\fR, \fBAWS_DEFAULT_REGION\fR, \fBAWS_ENDPOINT_URL\fR, \fBAWS_ENDPOINT\fR, \fBAWS_ALLOW_HTTP\fR, \fBAWS_PROFILE\fR, \fBAWS_CONFIG_FILE\fR, \fBAWS_SHARED_CREDENTIALS_FILE\fR
s3:// stores: credentials, region, endpoint and profile, as the aws CLI reads them (any other \fBAWS_*\fR the S3 client knows applies too)
.TP
\fBGOOGLE_SERVICE_ACCOUNT\fR, \fBGOOGLE_SERVICE_ACCOUNT_PATH\fR, \fBGOOGLE_SERVICE_ACCOUNT_KEY\fR, \fBGOOGLE_APPLICATION_CREDENTIALS\fR
gs:// stores: the service account
.TP
\fBAZURE_STORAGE_CONNECTION_STRING\fR, \fBAZURE_STORAGE_ACCOUNT_NAME\fR, \fBAZURE_STORAGE_ACCOUNT_KEY\fR, \fBAZURE_STORAGE_SAS_KEY\fR
az:// stores: the account and its key (any other \fBAZURE_*\fR the Azure client knows applies too)
"#;

const FILES_AND_EXAMPLES: &str = r#".SH FILES
.TP
\fB./orgexport.toml\fR
configuration, when present (or \-\-config FILE)
.TP
\fB~/.pgpass\fR
passwords, as libpq reads them (mode 0600)
.TP
\fB~/.pg_service.conf\fR, \fB$PGSYSCONFDIR/pg_service.conf\fR
connection services
.TP
\fB~/.postgresql/root.crt\fR, \fB~/.postgresql/postgresql.crt\fR, \fB~/.postgresql/postgresql.key\fR
TLS root certificate and client certificate, as libpq reads them
.TP
\fB~/.aws/config\fR, \fB~/.aws/credentials\fR
AWS profiles for s3:// stores
.SH EXAMPLES
An operator, by hand:
.PP
.nf
orgexport check
orgexport plan \-\-org acme
orgexport run \-\-org acme \-\-store /srv/exports
orgexport run \-\-org acme \-\-wait=10m
orgexport list \-\-org acme
orgexport link EXPORT_ID \-\-ttl 1h
orgexport delete EXPORT_ID \-\-dry\-run
.fi
.PP
A nightly cron job (judged by its exit code; \-q: only errors, and the links on stdout):
.PP
.nf
30 2 * * *  orgexport run \-\-all\-orgs \-\-store /srv/exports \-q \-\-on\-complete '/usr/local/bin/notify\-exports'
15 4 * * *  orgexport prune \-\-older\-than 30d \-\-store /srv/exports
.fi
.PP
A CI pre\-migration snapshot:
.PP
.nf
out=$(orgexport run \-\-org acme \-\-json)
orgexport verify "$(echo "$out" | jq \-r '.exports[0].export_id')" \-\-json
.fi
"#;
