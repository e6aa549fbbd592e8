//! What the tool says: log lines on stderr (`-q` silences them, `-v` adds detail), results on
//! stdout. With `--json`, stdout holds exactly one JSON object.

use std::io::Write;

use crate::config::Output;

#[derive(Debug, Clone, Copy)]
pub struct Reporter {
    pub output: Output,
}

impl Reporter {
    pub fn new(output: Output) -> Self {
        Reporter { output }
    }

    /// A progress or summary line on stderr.
    pub fn info(&self, line: &str) {
        if !self.output.quiet {
            eprintln!("orgexport: {line}");
        }
    }

    pub fn warn(&self, line: &str) {
        if !self.output.quiet {
            eprintln!("orgexport: warning: {line}");
        }
    }

    /// Detail shown with `-v` (generated SQL).
    pub fn verbose(&self, line: &str) {
        if self.output.verbose {
            eprintln!("orgexport: {line}");
        }
    }

    /// A line of stdout (the link, a table row).
    pub fn stdout_line(&self, line: &str) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()
    }

    /// The one JSON object of `--json`.
    pub fn json(&self, value: &serde_json::Value) -> std::io::Result<()> {
        self.stdout_line(&value.to_string())
    }
}

/// `1.5 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}
