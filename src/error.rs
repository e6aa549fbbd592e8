//! The failure kinds an operator (or cron, or CI) can tell apart by exit code, and the one
//! place that maps them. Errors travel as `anyhow::Error`; a [`Failure`] is attached at the
//! edge where the kind becomes known (connecting, looking up the org, taking the lock…) and
//! `main` finds it again with `downcast_ref`. Anything without a `Failure` is an export failure.

use std::fmt;

/// What went wrong, as far as the exit code is concerned (DESIGN §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The export itself failed (database error mid-stream, archive could not be written…).
    ExportFailed,
    /// A restore failed (the archive or the load); exit code 1, as for an export, but its own
    /// `--json` code.
    RestoreFailed,
    /// Invalid usage or configuration.
    Usage,
    /// No row of the root table matches `--org`.
    OrgNotFound,
    /// Another export of this org holds the advisory lock.
    LockBusy,
    /// Cannot connect or authenticate to the database.
    Connect,
    /// The object store is unreachable or refuses access.
    Store,
    /// Interrupted by SIGINT/SIGTERM.
    Interrupted,
}

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::ExportFailed | Kind::RestoreFailed => 1,
            Kind::Usage => 2,
            Kind::OrgNotFound => 3,
            Kind::LockBusy => 4,
            Kind::Connect => 5,
            Kind::Store => 6,
            Kind::Interrupted => 130,
        }
    }

    /// Every exit code's kind, in exit-code order (`RestoreFailed` shares 1 with
    /// `ExportFailed`, whose meaning covers both).
    pub const ALL: [Kind; 7] = [
        Kind::ExportFailed,
        Kind::Usage,
        Kind::OrgNotFound,
        Kind::LockBusy,
        Kind::Connect,
        Kind::Store,
        Kind::Interrupted,
    ];

    /// What the exit code means, in the words `--help`, the man page and the README use.
    pub fn meaning(self) -> &'static str {
        match self {
            Kind::ExportFailed => {
                "the export or restore failed (details in the message and the history row; a failed restore leaves the target unchanged)"
            }
            Kind::RestoreFailed => Kind::ExportFailed.meaning(),
            Kind::Usage => "invalid usage or configuration",
            Kind::OrgNotFound => {
                "org not found (or, with --subject, the person is not among the org's rows)"
            }
            Kind::LockBusy => "another export of this org is in progress",
            Kind::Connect => "cannot connect or authenticate to the database",
            Kind::Store => "store unreachable or not writable",
            Kind::Interrupted => {
                "interrupted (SIGINT, SIGTERM or SIGHUP): upload aborted, history row cancelled"
            }
        }
    }

    /// The stable name used in `--json` error objects.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ExportFailed => "export_failed",
            Kind::RestoreFailed => "restore_failed",
            Kind::Usage => "usage",
            Kind::OrgNotFound => "org_not_found",
            Kind::LockBusy => "lock_busy",
            Kind::Connect => "connect",
            Kind::Store => "store",
            Kind::Interrupted => "interrupted",
        }
    }
}

/// The exit-code table (DESIGN §7): `(code, meaning)`, success first. The one source of the
/// table in `--help`, the man page and (checked by a test) the README.
pub fn exit_codes() -> Vec<(u8, &'static str)> {
    std::iter::once((0, "success"))
        .chain(Kind::ALL.iter().map(|k| (k.exit_code(), k.meaning())))
        .collect()
}

/// A message tagged with its [`Kind`]; used as an error or as `anyhow` context.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Shorthand: `Err(fail(Kind::Usage, "…"))?`.
pub fn fail(kind: Kind, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure::new(kind, message))
}

/// The kind of an error: the outermost [`Failure`] in its chain, else `ExportFailed`.
pub fn kind_of(err: &anyhow::Error) -> Kind {
    err.downcast_ref::<Failure>()
        .map(|f| f.kind)
        .unwrap_or(Kind::ExportFailed)
}

/// A failed restore as such: an error that is an export failure by default (untagged, or
/// tagged `ExportFailed` by a stage shared with `run`) becomes `RestoreFailed` — exit code 1
/// still, `--json` code `restore_failed`; other kinds (usage, connect, store…) stay.
pub fn as_restore_failure(err: anyhow::Error) -> anyhow::Error {
    if kind_of(&err) == Kind::ExportFailed {
        err.context(Failure::new(Kind::RestoreFailed, "restore failed"))
    } else {
        err
    }
}

/// The error as one line: the context chain joined by ": ", newlines folded, so that a cron
/// log gets exactly one line per failure.
pub fn one_line(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn kind_is_found_through_context_layers() {
        let root: anyhow::Result<()> = Err(anyhow::anyhow!("connection refused"));
        let err = root
            .context(Failure::new(Kind::Connect, "cannot connect to host=db"))
            .context("export of org acme failed")
            .unwrap_err();
        assert_eq!(kind_of(&err), Kind::Connect);
        assert_eq!(
            one_line(&err),
            "export of org acme failed: cannot connect to host=db: connection refused"
        );
    }

    #[test]
    fn root_failure_keeps_its_kind() {
        let err = fail(Kind::OrgNotFound, "org 'x' not found").context("run");
        assert_eq!(kind_of(&err), Kind::OrgNotFound);
    }

    #[test]
    fn a_failed_restore_keeps_exit_code_1_under_its_own_name() {
        let err = as_restore_failure(fail(Kind::ExportFailed, "the target cannot take it"));
        assert_eq!(kind_of(&err), Kind::RestoreFailed);
        assert_eq!(kind_of(&err).exit_code(), 1);
        assert_eq!(one_line(&err), "restore failed: the target cannot take it");
        let usage = as_restore_failure(fail(Kind::Usage, "bad --fill"));
        assert_eq!(kind_of(&usage), Kind::Usage);
    }

    #[test]
    fn untagged_errors_are_export_failures() {
        assert_eq!(kind_of(&anyhow::anyhow!("boom")), Kind::ExportFailed);
    }
}
