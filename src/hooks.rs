//! The completion hook (`--on-complete CMD`, config `on_complete`): a command run after each
//! org's export is recorded in the history, completed or failed, and told the outcome in
//! `ORGEXPORT_*` environment variables and, on its stdin, the export's `run --json` entry
//! (`export::outcome`). This module owns the command's words (split as a POSIX shell would,
//! by `shlex`, and run without a shell, so nothing from the data ever becomes part of a
//! command line), the hook's environment (a short allowlist: never the database URL, `PG*`
//! or store credentials), its timeout (its whole process group is killed), and reporting and
//! auditing how it went. When to run it is `run`'s; a hook never changes an export's status
//! nor the exit code.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::history;
use crate::output::Reporter;

/// `--on-complete-timeout` by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The variables the hook inherits from orgexport's own environment. Everything else is
/// withheld: `DATABASE_URL`, `PGPASSWORD`, `AWS_SECRET_ACCESS_KEY`… may hold a secret, and a
/// hook is often a notifier that forwards what it is given.
const INHERITED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "TZ",
    "TMPDIR",
    "SHELL",
];

/// The hook's variables and the `--json` entry member each is read from (empty when the
/// entry has none: a failed export has no link, a completed one no error).
const OUTCOME: &[(&str, &str)] = &[
    ("ORGEXPORT_EXPORT_ID", "export_id"),
    ("ORGEXPORT_ORG", "org"),
    ("ORGEXPORT_ORG_KEY", "org_key"),
    ("ORGEXPORT_STATUS", "status"),
    ("ORGEXPORT_LINK", "link"),
    ("ORGEXPORT_OBJECT_URL", "object_url"),
    ("ORGEXPORT_BYTES", "bytes"),
    ("ORGEXPORT_SHA256", "sha256"),
    ("ORGEXPORT_RECORD_COUNT", "record_count"),
];

/// How long a hook has after SIGTERM before its process group gets SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// A completion hook: the program and its arguments, and how long it may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub argv: Vec<String>,
    pub timeout: Duration,
}

impl Hook {
    /// `command` split into words as a POSIX shell would (quotes, backslashes; no expansion,
    /// no variables, no globs). The error says what is wrong, for the caller to place.
    pub fn parse(command: &str, timeout: Duration) -> Result<Hook, String> {
        let argv = shlex::split(command)
            .ok_or("has an unbalanced quote or a trailing backslash; quote as in a shell")?;
        if argv.is_empty() {
            return Err("is empty: name the program to run".into());
        }
        if timeout.is_zero() {
            return Err("has a timeout of 0: give it time to run, e.g. 60s".into());
        }
        Ok(Hook { argv, timeout })
    }

    /// That the program exists and may be executed (a path, or a name found on `PATH`):
    /// checked before anything is exported, so that a typo is exit 2 and not a nightly
    /// export whose notification never comes.
    pub fn check_program(&self) -> Result<(), String> {
        use std::os::unix::fs::PermissionsExt;
        let program = &self.argv[0];
        let runnable = |path: &std::path::Path| {
            std::fs::metadata(path)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        };
        let found = if program.contains('/') {
            runnable(std::path::Path::new(program))
        } else {
            std::env::var_os("PATH").is_some_and(|path| {
                std::env::split_paths(&path).any(|dir| runnable(&dir.join(program)))
            })
        };
        if found {
            Ok(())
        } else {
            Err(format!(
                "program {program:?} is not found or not executable (a name is looked up on PATH)"
            ))
        }
    }

    /// Runs the hook for one export's `--json` entry and records how it went: a failure (a
    /// non-zero exit, killed at its timeout, not startable) is an error line on stderr (shown
    /// with -q too) and a `hook.failed` audit event, a success a `hook.completed` one. The
    /// export's own status and the exit code do not depend on it.
    pub async fn run_after(
        &self,
        entry: &Value,
        history_db: &tokio_postgres::Client,
        report: &Reporter,
        cancel: &CancellationToken,
    ) {
        let (exit_code, problem) = self.judge(self.execute(entry, cancel).await);
        let export = entry["export_id"].as_str().unwrap_or("");
        let org = entry["org"].as_str().unwrap_or("");
        if let Some(problem) = &problem {
            report.error(&format!(
                "the --on-complete command {:?} for export {export} (org {org}) {problem}; the export itself is {} and the exit code does not change",
                self.argv[0],
                entry["status"].as_str().unwrap_or("")
            ));
        } else {
            report.verbose(&format!(
                "the --on-complete command for export {export} succeeded"
            ));
        }
        let action = if problem.is_some() {
            "hook.failed"
        } else {
            "hook.completed"
        };
        // The program only: its arguments may carry a webhook token.
        let details = json!({
            "program": self.argv[0],
            "export_status": entry["status"],
            "exit_code": exit_code,
            "error": problem,
        });
        let id = uuid::Uuid::parse_str(export).ok();
        let audited = history::audit(history_db, action, id, entry["org_key"].as_str(), details);
        if let Err(err) = audited.await {
            report.warn(&format!(
                "could not record {action} in orgexport.audit_log: {}",
                crate::error::one_line(&err)
            ));
        }
    }

    /// The exit code (when it exited) and, unless it succeeded, what went wrong.
    fn judge(&self, ran: std::io::Result<Ran>) -> (Option<i32>, Option<String>) {
        match ran {
            Ok(Ran::Exited(status)) if status.success() => (Some(0), None),
            Ok(Ran::Exited(status)) => match status.code() {
                Some(code) => (Some(code), Some(format!("exited with status {code}"))),
                None => (
                    None,
                    Some(format!(
                        "was killed by signal {}",
                        status.signal().unwrap_or(0)
                    )),
                ),
            },
            Ok(Ran::TimedOut) => (
                None,
                Some(format!(
                    "did not exit within {}: its process group was killed (raise --on-complete-timeout)",
                    humantime::format_duration(self.timeout)
                )),
            ),
            Ok(Ran::Interrupted) => (
                None,
                Some("interrupted: its process group was killed".into()),
            ),
            Err(err) => (None, Some(format!("could not be started: {err}"))),
        }
    }

    /// Runs the program in a process group of its own (so a timeout ends everything it
    /// started), its stdout sent to orgexport's stderr: stdout holds only the link, or the
    /// one `--json` object.
    async fn execute(&self, entry: &Value, cancel: &CancellationToken) -> std::io::Result<Ran> {
        use std::os::fd::AsFd;
        let to_stderr = std::io::stderr().as_fd().try_clone_to_owned()?;
        let inherited = INHERITED
            .iter()
            .filter_map(|name| std::env::var_os(name).map(|value| (*name, value)));
        let mut child = tokio::process::Command::new(&self.argv[0])
            .args(&self.argv[1..])
            .env_clear()
            .envs(inherited)
            .envs(environment(entry))
            .stdin(Stdio::piped())
            .stdout(Stdio::from(to_stderr))
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let group = child.id();
        let stdin = child.stdin.take();
        let body = format!("{entry}\n");
        // Fed on the side: a hook that never reads its stdin must not hold the run up.
        let feed = tokio::spawn(async move {
            if let Some(mut stdin) = stdin {
                let _ = stdin.write_all(body.as_bytes()).await;
            }
        });
        let ran = tokio::select! {
            status = child.wait() => Ran::Exited(status?),
            _ = tokio::time::sleep(self.timeout) => Ran::TimedOut,
            _ = cancel.cancelled() => Ran::Interrupted,
        };
        if !matches!(ran, Ran::Exited(_)) {
            signal_group(group, libc::SIGTERM);
            let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
            // Whatever it started and left behind goes too.
            signal_group(group, libc::SIGKILL);
            let _ = child.wait().await;
        }
        feed.abort();
        Ok(ran)
    }
}

/// How one run of the hook ended.
enum Ran {
    Exited(std::process::ExitStatus),
    TimedOut,
    Interrupted,
}

/// The `ORGEXPORT_*` variables for an export's `--json` entry: every one always set (empty
/// when it does not apply), so that a `set -u` script can read them all.
pub fn environment(entry: &Value) -> Vec<(&'static str, String)> {
    let text = |value: &Value| match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut vars: Vec<(&'static str, String)> = OUTCOME
        .iter()
        .map(|(name, member)| (*name, text(&entry[*member])))
        .collect();
    vars.push(("ORGEXPORT_ERROR", text(&entry["error"]["message"])));
    vars
}

fn signal_group(group: Option<u32>, signal: libc::c_int) {
    if let Some(group) = group.and_then(|g| libc::pid_t::try_from(g).ok()) {
        // SAFETY: killpg only sends a signal; the group is the hook's own (process_group(0)).
        unsafe {
            libc::killpg(group, signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_split_as_a_shell_would_and_nothing_is_expanded() {
        let hook = Hook::parse(
            r#"notify --to "ops team" 'a;b' $HOME x\ y"#,
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        assert_eq!(
            hook.argv,
            ["notify", "--to", "ops team", "a;b", "$HOME", "x y"]
        );
        // The README's example: the shell the operator wrote gets the variables unexpanded.
        let hook = Hook::parse(
            r#"sh -c "echo \"$ORGEXPORT_ORG $ORGEXPORT_STATUS\" >> /var/log/exports""#,
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        assert_eq!(
            hook.argv,
            [
                "sh",
                "-c",
                r#"echo "$ORGEXPORT_ORG $ORGEXPORT_STATUS" >> /var/log/exports"#
            ]
        );
        assert!(Hook::parse("notify 'unbalanced", DEFAULT_TIMEOUT).is_err());
        assert!(Hook::parse("   ", DEFAULT_TIMEOUT).is_err());
        assert!(Hook::parse("notify", Duration::ZERO).is_err());
    }

    #[test]
    fn the_environment_is_every_variable_with_empty_ones_for_what_does_not_apply() {
        let failed = json!({
            "export_id": "0192f6c4-5b1e-7c3a-9d2f-4e8a1b2c3d4e", "org": "acme; rm -rf /",
            "org_key": "1", "status": "failed",
            "error": { "code": "export_failed", "message": "boom" },
        });
        let vars: std::collections::HashMap<_, _> = environment(&failed).into_iter().collect();
        assert_eq!(vars.len(), OUTCOME.len() + 1);
        assert_eq!(vars["ORGEXPORT_ORG"], "acme; rm -rf /");
        assert_eq!(vars["ORGEXPORT_ERROR"], "boom");
        assert_eq!(vars["ORGEXPORT_LINK"], "");
        let done = json!({ "status": "completed", "bytes": 1234 });
        let vars: std::collections::HashMap<_, _> = environment(&done).into_iter().collect();
        assert_eq!(vars["ORGEXPORT_BYTES"], "1234");
        assert_eq!(vars["ORGEXPORT_ERROR"], "");
    }
}
