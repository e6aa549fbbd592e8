//! What the tool says: on stderr, progress bars when it is a terminal and plain timestamped
//! log lines otherwise (cron); `-q` silences all but errors, `-v` adds the generated SQL.
//! Results go to stdout; with `--json`, stdout holds exactly one JSON object.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::config::Output;

#[derive(Debug, Clone, Copy)]
pub struct Reporter {
    pub output: Output,
    terminal: bool,
}

impl Reporter {
    pub fn new(output: Output) -> Self {
        Reporter {
            output,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    fn emit(&self, line: &str) {
        let line = escape_controls(line);
        if self.terminal {
            stderr_line(&format!("orgexport: {line}"));
        } else {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            stderr_line(&format!("{now} orgexport: {line}"));
        }
    }

    /// An error line, shown even with `-q` (one failure of several).
    pub fn error(&self, line: &str) {
        self.emit(&format!("error: {line}"));
    }

    /// A progress or summary line on stderr.
    pub fn info(&self, line: &str) {
        if !self.output.quiet {
            self.emit(line);
        }
    }

    pub fn warn(&self, line: &str) {
        if !self.output.quiet {
            self.emit(&format!("warning: {line}"));
        }
    }

    /// Detail shown with `-v` (generated SQL).
    pub fn verbose(&self, line: &str) {
        if self.output.verbose {
            self.emit(line);
        }
    }

    /// Progress of one section: a bar on a terminal (a spinner with rows and rate when the
    /// total is not known in advance), one log line at the end otherwise.
    pub fn section(&self, name: &str, total: Option<u64>) -> SectionProgress {
        let bar = (self.terminal && !self.output.quiet).then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let template = match total {
                Some(_) => "{prefix:<32} [{bar:30}] {pos:>9}/{len:<9} {per_sec:>12} ETA {eta}",
                None => "{spinner} {prefix:<32} {pos:>9} rows {per_sec:>12} {elapsed}",
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        SectionProgress {
            bar,
            name: name.to_string(),
            report: *self,
        }
    }
}

pub struct SectionProgress {
    bar: Option<ProgressBar>,
    name: String,
    report: Reporter,
}

impl SectionProgress {
    pub fn set(&self, rows: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(rows);
        }
    }

    pub fn finish(self, rows: u64) {
        match self.bar {
            Some(bar) => {
                bar.set_position(rows);
                bar.finish();
            }
            None => self.report.info(&format!("{}: {rows} rows", self.name)),
        }
    }

    /// A failed section: the bar goes away, the error is reported by the caller.
    pub fn abandon(self) {
        if let Some(bar) = self.bar {
            bar.abandon();
        }
    }
}

impl Reporter {
    /// A line of stdout (the link, a table row), control characters escaped.
    pub fn stdout_line(&self, line: &str) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", escape_controls(line))?;
        out.flush()
    }

    /// The one JSON object of `--json`.
    pub fn json(&self, value: &serde_json::Value) -> std::io::Result<()> {
        JSON_WRITTEN.store(true, Ordering::SeqCst);
        self.stdout_line(&value.to_string())
    }
}

/// Writes a line to stderr; a closed stderr (a log pipe that died) is ignored: logging
/// degrades, the export goes on.
pub fn stderr_line(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// Control characters (ESC, newlines, …) from data such as an org's name, written as escapes
/// so that nothing can forge or garble a log line.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
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

static JSON_WRITTEN: AtomicBool = AtomicBool::new(false);

/// Whether the command already wrote its `--json` object (then `main` must not add an error
/// object: stdout holds exactly one JSON object).
pub fn json_written() -> bool {
    JSON_WRITTEN.load(Ordering::SeqCst)
}
