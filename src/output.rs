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

    /// A line shown even with `-q`: the one line per finished export that a cron log keeps
    /// (with its timestamp) beside the link printed on stdout.
    pub fn notice(&self, line: &str) {
        self.emit(line);
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

    /// Progress of one export, given each section's estimated rows (the planner's, where
    /// it has one): on a terminal, an overall bar of rows against their estimated total with
    /// an ETA, above each section's bar (a spinner where there is no estimate); otherwise a
    /// line per finished section and a heartbeat line every `heartbeat` of a long one, both
    /// saying how far the whole export got.
    pub fn export_progress(&self, estimates: &[Option<u64>]) -> ExportProgress {
        let expected = estimates.iter().flatten().sum();
        let mut progress = self.progress("export", estimates.len());
        progress.expected = Some(Cell::new(expected));
        if let Some(overall) = &progress.overall {
            overall.set_length(expected.max(1));
            overall.set_style(
                ProgressStyle::with_template(
                    "{prefix:<12} [{bar:30}] {percent:>3}% {msg}, ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
        }
        progress
    }

    /// Progress by sections (sections done of all), under `label` (`restore`).
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
            sections,
            done: Cell::new(0),
            rows: Cell::new(0),
            live: Cell::new(0),
            bytes: Cell::new(0),
            expected: None,
            started: Instant::now(),
        }
    }

    /// While `--wait` queues behind another export: on a terminal a spinner with the time
    /// waited; otherwise a line every heartbeat. Runs until dropped (select it against the
    /// wait).
    pub async fn waiting(&self, behind: &str) {
        let started = Instant::now();
        let spinner = (self.terminal && !self.output.quiet).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} queued behind {msg} ({elapsed})")
                    .expect("a valid template"),
            );
            bar.set_message(escape_controls(behind).into_owned());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let _clear = spinner.as_ref().map(ClearOnDrop);
        loop {
            tokio::time::sleep(self.output.heartbeat).await;
            if spinner.is_none() {
                self.info(&format!(
                    "still queued behind {behind} ({}s)",
                    started.elapsed().as_secs()
                ));
            }
        }
    }
}

/// Removes a spinner when the future drawing it is dropped.
struct ClearOnDrop<'b>(&'b ProgressBar);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// See [`Reporter::export_progress`].
pub struct ExportProgress {
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    report: Reporter,
    sections: usize,
    done: Cell<usize>,
    /// Rows of the finished sections.
    rows: Cell<u64>,
    /// Rows of the sections being read.
    live: Cell<u64>,
    bytes: Cell<u64>,
    /// The rows expected in all: the estimates, corrected by each finished section's count.
    /// `None`: progress by sections.
    expected: Option<Cell<u64>>,
    started: Instant,
}

impl ExportProgress {
    pub fn section(&self, name: &str) -> SectionProgress<'_> {
        self.section_estimated(name, None)
    }

    /// A section expected to hold about `estimate` rows.
    pub fn section_estimated(&self, name: &str, estimate: Option<u64>) -> SectionProgress<'_> {
        let bar = self.multi.as_ref().map(|multi| {
            let (bar, template) = match estimate {
                Some(n) => (
                    ProgressBar::new(n.max(1)),
                    "  {prefix:<30} [{bar:20}] {pos:>9}/~{len} rows {msg}",
                ),
                None => (ProgressBar::new_spinner(), "{spinner} {prefix:<30} {msg}"),
            };
            let bar = multi.add(bar);
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("a valid template")
                    .progress_chars("=> "),
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
            estimate,
            started: now,
            last_beat: Cell::new(now),
            rows: Cell::new(0),
            bytes: Cell::new(0),
        }
    }

    /// Rows read so far, in finished and running sections.
    fn position(&self) -> u64 {
        self.rows.get() + self.live.get()
    }

    /// `export 40% of ~12.3k rows, ETA 30s`, when the total is estimated.
    fn overall_line(&self) -> Option<String> {
        let expected = self.expected.as_ref()?.get().max(self.position());
        let done = self.position();
        let percent = (done * 100).checked_div(expected).unwrap_or(100);
        Some(format!(
            "export {percent}% of ~{} rows, ETA {}",
            human_count(expected),
            eta(done, expected, self.started.elapsed())
        ))
    }

    /// Redraws the overall bar after rows moved.
    fn redraw(&self) {
        let Some(overall) = &self.overall else {
            return;
        };
        let rows = self.position();
        let rates = rates(rows, self.bytes.get(), self.started.elapsed());
        match &self.expected {
            Some(expected) => {
                overall.set_length(expected.get().max(rows).max(1));
                overall.set_position(rows);
                overall.set_message(format!(
                    "{} of ~{} rows, {}/{} sections, {} of JSON, {rates}",
                    human_count(rows),
                    human_count(expected.get().max(rows)),
                    self.done.get(),
                    self.sections,
                    human_bytes(self.bytes.get()),
                ));
            }
            None => {
                overall.set_position(self.done.get() as u64);
                overall.set_message(format!(
                    "{} rows, {} of JSON, {rates}",
                    human_count(rows),
                    human_bytes(self.bytes.get()),
                ));
            }
        }
    }

    fn add(&self, section: &SectionProgress, rows: u64, bytes: u64) {
        self.live.set(self.live.get() - section.rows.get());
        self.rows.set(self.rows.get() + rows);
        self.bytes.set(self.bytes.get() + bytes);
        self.done.set(self.done.get() + 1);
        if let Some(expected) = &self.expected {
            // The estimate gives way to the count.
            let estimated = section.estimate.unwrap_or(0);
            expected.set((expected.get() + rows).saturating_sub(estimated));
        }
        self.redraw();
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
    estimate: Option<u64>,
    started: Instant,
    last_beat: Cell<Instant>,
    rows: Cell<u64>,
    bytes: Cell<u64>,
}

impl SectionProgress<'_> {
    /// `rows` streamed and `bytes` of JSON written so far in this section.
    pub fn set(&self, rows: u64, bytes: u64) {
        let export = self.export;
        export.live.set(export.live.get() + rows - self.rows.get());
        self.rows.set(rows);
        self.bytes.set(bytes);
        let elapsed = self.started.elapsed();
        match &self.bar {
            Some(bar) => {
                if self.estimate.is_some() {
                    bar.set_length(bar.length().unwrap_or(0).max(rows));
                    bar.set_position(rows);
                }
                bar.set_message(format!(
                    "{} rows, {}, {}",
                    human_count(rows),
                    human_bytes(bytes),
                    rates(rows, bytes, elapsed)
                ));
                export.redraw();
            }
            None => {
                let heartbeat = export.report.output.heartbeat;
                if self.last_beat.get().elapsed() >= heartbeat {
                    self.last_beat.set(Instant::now());
                    let of = match self.estimate {
                        Some(n) => format!(
                            " of ~{} ({}%)",
                            human_count(n.max(rows)),
                            (rows * 100).checked_div(n.max(rows)).unwrap_or(100)
                        ),
                        None => String::new(),
                    };
                    export.report.info(&format!(
                        "… {}: {} rows so far{of}, {}{}",
                        self.name,
                        human_count(rows),
                        rates(rows, bytes, elapsed),
                        export
                            .overall_line()
                            .map_or(String::new(), |l| format!("; {l}"))
                    ));
                }
            }
        }
    }

    pub fn finish(self, rows: u64) {
        let bytes = self.bytes.get();
        let elapsed = self.started.elapsed();
        self.export.add(&self, rows, bytes);
        match &self.bar {
            Some(bar) => {
                // The count replaces the estimate: no bar that stops short or overflows.
                bar.set_style(
                    ProgressStyle::with_template("  {prefix:<30} {msg}").expect("a valid template"),
                );
                bar.finish_with_message(format!(
                    "{} rows, {} in {:.1}s",
                    human_count(rows),
                    human_bytes(bytes),
                    elapsed.as_secs_f64()
                ))
            }
            None => self.export.report.info(&format!(
                "{}: {rows} rows, {} in {:.1}s ({}){}",
                self.name,
                human_bytes(bytes),
                elapsed.as_secs_f64(),
                rates(rows, bytes, elapsed),
                self.export
                    .overall_line()
                    .map_or(String::new(), |l| format!("; {l}"))
            )),
        }
    }

    /// A failed section: the bar goes away, the error is reported by the caller.
    pub fn abandon(self) {
        let export = self.export;
        export.live.set(export.live.get() - self.rows.get());
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}

/// The time left at the pace so far: `12s`, `3m 20s`; `unknown` before the first row.
fn eta(done: u64, expected: u64, elapsed: Duration) -> String {
    if done == 0 {
        return "unknown".to_string();
    }
    let left = expected.saturating_sub(done) as f64 * elapsed.as_secs_f64() / done as f64;
    humantime::format_duration(Duration::from_secs(left.round() as u64)).to_string()
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
