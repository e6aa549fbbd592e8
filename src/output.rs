//! What the tool says: on stderr, progress bars when it is a terminal and plain timestamped
//! log lines otherwise (cron); `-q` silences all but errors, `-v` adds the generated SQL.
//! Results go to stdout; with `--json`, stdout holds exactly one JSON object.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::cell::Cell;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How much the tool says and in which form: the resolved `--json`, `-q`, `-v` and heartbeat.
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    pub verbose: bool,
    /// Without a terminal, how often a long section says how far it got (30 s;
    /// `ORGEXPORT_HEARTBEAT_SECS` changes it, for tests and impatient logs).
    pub heartbeat: Duration,
}

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

    /// Progress of one export of `sections` sections: on a terminal, an overall bar (sections
    /// done, rows, bytes of JSON) above each section's spinner; otherwise a line per finished
    /// section and a heartbeat line every `heartbeat` of a long one.
    pub fn export_progress(&self, sections: usize) -> ExportProgress {
        self.progress("export", sections)
    }

    /// [`Reporter::export_progress`] under another label (`restore`).
    pub fn progress(&self, label: &str, sections: usize) -> ExportProgress {
        let multi = (self.terminal && !self.output.quiet)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        let overall = multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new(sections as u64));
            bar.set_style(
                ProgressStyle::with_template("{prefix:<32} [{bar:30}] {pos}/{len} sections {msg}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        ExportProgress {
            multi,
            overall,
            report: *self,
            rows: Cell::new(0),
            bytes: Cell::new(0),
            started: Instant::now(),
        }
    }
}

/// See [`Reporter::export_progress`].
pub struct ExportProgress {
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    report: Reporter,
    rows: Cell<u64>,
    bytes: Cell<u64>,
    started: Instant,
}

impl ExportProgress {
    pub fn section(&self, name: &str) -> SectionProgress<'_> {
        let bar = self.multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:<30} {msg}")
                    .expect("a valid template"),
            );
            bar.set_prefix(name.to_string());
            bar.set_message("waiting for the first row");
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        SectionProgress {
            export: self,
            bar,
            name: name.to_string(),
            started: now,
            last_beat: Cell::new(now),
            bytes: Cell::new(0),
        }
    }

    fn add(&self, rows: u64, bytes: u64) {
        self.rows.set(self.rows.get() + rows);
        self.bytes.set(self.bytes.get() + bytes);
        if let Some(overall) = &self.overall {
            overall.inc(1);
            overall.set_message(format!(
                "{} rows, {} of JSON, {}",
                human_count(self.rows.get()),
                human_bytes(self.bytes.get()),
                rates(self.rows.get(), self.bytes.get(), self.started.elapsed())
            ));
        }
    }
}

impl Drop for ExportProgress {
    fn drop(&mut self) {
        if let Some(overall) = &self.overall {
            overall.finish();
        }
    }
}

pub struct SectionProgress<'e> {
    export: &'e ExportProgress,
    bar: Option<ProgressBar>,
    name: String,
    started: Instant,
    last_beat: Cell<Instant>,
    bytes: Cell<u64>,
}

impl SectionProgress<'_> {
    /// `rows` streamed and `bytes` of JSON written so far in this section.
    pub fn set(&self, rows: u64, bytes: u64) {
        self.bytes.set(bytes);
        let elapsed = self.started.elapsed();
        match &self.bar {
            Some(bar) => bar.set_message(format!(
                "{} rows, {}, {}",
                human_count(rows),
                human_bytes(bytes),
                rates(rows, bytes, elapsed)
            )),
            None => {
                let heartbeat = self.export.report.output.heartbeat;
                if self.last_beat.get().elapsed() >= heartbeat {
                    self.last_beat.set(Instant::now());
                    self.export.report.info(&format!(
                        "… {}: {} rows so far, {}",
                        self.name,
                        human_count(rows),
                        rates(rows, bytes, elapsed)
                    ));
                }
            }
        }
    }

    pub fn finish(self, rows: u64) {
        let bytes = self.bytes.get();
        let elapsed = self.started.elapsed();
        match &self.bar {
            Some(bar) => bar.finish_with_message(format!(
                "{} rows, {} in {:.1}s",
                human_count(rows),
                human_bytes(bytes),
                elapsed.as_secs_f64()
            )),
            None => self.export.report.info(&format!(
                "{}: {rows} rows, {} in {:.1}s ({})",
                self.name,
                human_bytes(bytes),
                elapsed.as_secs_f64(),
                rates(rows, bytes, elapsed)
            )),
        }
        self.export.add(rows, bytes);
    }

    /// A failed section: the bar goes away, the error is reported by the caller.
    pub fn abandon(self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}

/// `12`, `12.3k`, `1.2M`, `3.4G`: counts as people read them.
pub fn human_count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1}M", n as f64 / 1e6),
        _ => format!("{:.1}G", n as f64 / 1e9),
    }
}

/// `45.3k rows/s, 12.1 MiB/s`.
fn rates(rows: u64, bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-3);
    format!(
        "{} rows/s, {}/s",
        human_count((rows as f64 / secs) as u64),
        human_bytes((bytes as f64 / secs) as u64)
    )
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
