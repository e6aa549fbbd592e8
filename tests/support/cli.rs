//! Running the real `orgexport` binary: one builder, [`Orgexport`], in the style of `just`'s
//! test harness — arguments, environment and working directory chained, then the expected
//! exit code and output (`.code(4)`, `.stderr_has("…")`, `.stdout_is("…")`), then `.run()`,
//! which checks them all and returns the [`Run`] for further checks, or `.spawn()` for a
//! run the test interferes with while it works. A failed expectation prints the command, every
//! expectation that failed, and the whole stdout and stderr. What the output *means* (an
//! archive, a plan) is read elsewhere (`archive.rs`, the tests).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

use super::cluster::TestDb;
use super::scratch::TempDir;

/// How the binary is started.
enum Launch {
    Direct,
    /// `sh -c '<prelude>; exec binary args…'`: for limits set with `ulimit`.
    AfterShell(String),
    /// Under `script`, which gives it a pseudo-terminal as an operator's shell would.
    Terminal,
}

enum Code {
    Is(i32),
    Failure,
    Any,
}

impl Default for Code {
    fn default() -> Code {
        Code::Is(0)
    }
}

/// What the run must have done (see [`Expect`]).
#[derive(Default)]
pub struct Expected {
    code: Code,
    stdout_is: Option<String>,
    stderr_is: Option<String>,
    stdout_has: Vec<String>,
    stderr_has: Vec<String>,
    /// Each: found on stdout or stderr (`check` reports on stdout, the others on stderr).
    output_has: Vec<String>,
    /// Each: at least one of these is on stdout.
    stdout_has_one_of: Vec<Vec<String>>,
    stdout_lacks: Vec<String>,
    stderr_lacks: Vec<String>,
    /// (start, needle): a stdout line starts with `start` and contains `needle`.
    stdout_lines: Vec<(String, String)>,
    one_error_line: bool,
}

/// One invocation of the binary, with a clean environment (no DATABASE_URL, PG* or
/// ORGEXPORT_* leaking in from the developer's shell) and, unless told otherwise, a scratch
/// working directory of its own. It expects exit code 0 unless told otherwise.
#[must_use = "nothing runs until .run() or .spawn()"]
pub struct Orgexport {
    args: Vec<OsString>,
    current_dir: Option<PathBuf>,
    /// In order; `None` removes the variable.
    env: Vec<(OsString, Option<OsString>)>,
    stdout_file: Option<File>,
    launch: Launch,
    expect: Expected,
}

impl Orgexport {
    pub fn new() -> Orgexport {
        Orgexport {
            args: Vec::new(),
            current_dir: None,
            env: Vec::new(),
            stdout_file: None,
            launch: Launch::Direct,
            expect: Expected::default(),
        }
    }

    /// `orgexport <args> --database-url <db> --store <store>`, in the store directory
    /// (where an `orgexport.toml` a test writes is found).
    pub fn on(db: &TestDb, store: &TempDir, args: &[&str]) -> Orgexport {
        Orgexport::new()
            .current_dir(store.path())
            .args(args)
            .database(db)
            .store(store.path())
    }

    /// `orgexport run --org <org> --database-url <db> --store <store>`, in the store.
    pub fn export(db: &TestDb, store: &TempDir, org: &str) -> Orgexport {
        Orgexport::on(db, store, &["run", "--org", org])
    }

    /// `orgexport restore <archive> --target-url <target>`, in `cwd`.
    pub fn restore(cwd: &TempDir, archive: &Path, target: &TestDb) -> Orgexport {
        Orgexport::new()
            .current_dir(cwd.path())
            .arg("restore")
            .arg(archive)
            .args(["--target-url", &target.url])
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Orgexport {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Orgexport
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// `--database-url <the test database>`.
    pub fn database(self, db: &TestDb) -> Orgexport {
        self.args(["--database-url", &db.url])
    }

    /// `--store <path>`.
    pub fn store(self, path: impl AsRef<OsStr>) -> Orgexport {
        self.arg("--store").arg(path)
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Orgexport {
        self.current_dir = Some(dir.as_ref().to_owned());
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Orgexport {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    pub fn envs<I, K, V>(self, vars: I) -> Orgexport
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        vars.into_iter().fold(self, |cmd, (k, v)| cmd.env(k, v))
    }

    /// Removes every inherited variable whose name `remove` selects.
    pub fn env_remove_where(mut self, remove: impl Fn(&str) -> bool) -> Orgexport {
        for (key, _) in std::env::vars() {
            if remove(&key) {
                self.env.push((key.into(), None));
            }
        }
        self
    }

    /// Stdout goes to this file instead of being captured (`Run::stdout` is then empty).
    pub fn stdout_to(mut self, file: File) -> Orgexport {
        self.stdout_file = Some(file);
        self
    }

    /// Runs the binary through `sh -c '<prelude>; exec …'` (`ulimit -f 512`, `trap`).
    pub fn after_shell(mut self, prelude: &str) -> Orgexport {
        self.launch = Launch::AfterShell(prelude.to_string());
        self
    }

    /// Runs the binary under GNU time, which reports its peak RSS ([`Run::peak_rss_kib`]).
    pub fn measure_memory(self) -> Orgexport {
        self.after_shell("exec /usr/bin/time -f 'peak-rss-kib %M' \"$0\" \"$@\"")
    }

    /// Runs the binary on a pseudo-terminal (`script`); what it drew is `Run::stdout`.
    pub fn in_terminal(mut self) -> Orgexport {
        self.launch = Launch::Terminal;
        self.env("TERM", "xterm")
    }

    /// Runs to the end and checks every expectation.
    #[track_caller]
    pub fn run(self) -> Run {
        let (mut command, shown, _scratch) = self.command();
        command.stdin(Stdio::null());
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("starting `{shown}`: {e}"));
        let run = Run::new(shown, output);
        run.check(&self.expect);
        run
    }

    /// Starts the run in the background, stdout and stderr captured; `Running::wait` checks
    /// the expectations.
    pub fn spawn(self) -> Running {
        let (mut command, shown, scratch) = self.command();
        command.stdin(Stdio::null()).stderr(Stdio::piped());
        if self.stdout_file.is_none() {
            command.stdout(Stdio::piped());
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting `{shown}`: {e}"));
        Running {
            child,
            shown,
            expect: self.expect,
            _scratch: scratch,
        }
    }

    /// The process to start, how to show it in a failure report, and the scratch working
    /// directory to keep until it ends (when none was given).
    fn command(&self) -> (Command, String, Option<TempDir>) {
        let binary = env!("CARGO_BIN_EXE_orgexport");
        let mut command = match &self.launch {
            Launch::Direct => Command::new(binary),
            Launch::AfterShell(prelude) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("{prelude}; exec \"$0\" \"$@\""))
                    .arg(binary);
                c
            }
            Launch::Terminal => {
                let mut c = Command::new("script");
                let line = format!("{} {}", shell_quote(binary), self.quoted_args());
                c.args(["-qec", &line, "/dev/null"]);
                c
            }
        };
        if !matches!(self.launch, Launch::Terminal) {
            command.args(&self.args);
        }
        for (key, _) in std::env::vars() {
            if key.starts_with("PG") || key == "DATABASE_URL" || key.starts_with("ORGEXPORT_") {
                command.env_remove(key);
            }
        }
        // A test that fails to connect fails in seconds, not libpq's default of never.
        command.env("PGCONNECT_TIMEOUT", "5");
        for (key, value) in &self.env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let scratch = match &self.current_dir {
            Some(dir) => {
                command.current_dir(dir);
                None
            }
            None => {
                let scratch = TempDir::new();
                command.current_dir(scratch.path());
                Some(scratch)
            }
        };
        if let Some(file) = &self.stdout_file {
            command.stdout(file.try_clone().unwrap());
        }
        (command, self.shown(), scratch)
    }

    fn quoted_args(&self) -> String {
        let quoted: Vec<String> = self
            .args
            .iter()
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect();
        quoted.join(" ")
    }

    /// What the test ran, as a shell would show it: `PGSSLMODE=verify-full orgexport run …`.
    fn shown(&self) -> String {
        let env: String = self
            .env
            .iter()
            .filter_map(|(k, v)| {
                let v = v.as_ref()?;
                Some(format!(
                    "{}={} ",
                    k.to_string_lossy(),
                    shell_quote(&v.to_string_lossy())
                ))
            })
            .collect();
        format!("{env}orgexport {}", self.quoted_args())
    }
}

/// The checks a run must pass, declared on the builder before it runs, or on a [`Running`]
/// once the test has done what the run must react to (a signal, a killed backend). Every
/// check is made when the run has ended, and one report lists every one that failed.
pub trait Expect: Sized {
    #[doc(hidden)]
    fn expected(&mut self) -> &mut Expected;

    /// The exit code the run must end with (0 unless told).
    fn code(mut self, code: i32) -> Self {
        self.expected().code = Code::Is(code);
        self
    }

    /// Any exit code but 0.
    fn fails(mut self) -> Self {
        self.expected().code = Code::Failure;
        self
    }

    /// No check of the exit code, for a test that must clean up before it asserts one.
    fn any_code(mut self) -> Self {
        self.expected().code = Code::Any;
        self
    }

    fn stdout_is(mut self, text: &str) -> Self {
        self.expected().stdout_is = Some(text.to_string());
        self
    }

    fn stderr_is(mut self, text: &str) -> Self {
        self.expected().stderr_is = Some(text.to_string());
        self
    }

    fn stdout_has(mut self, needle: impl Into<String>) -> Self {
        self.expected().stdout_has.push(needle.into());
        self
    }

    fn stderr_has(mut self, needle: impl Into<String>) -> Self {
        self.expected().stderr_has.push(needle.into());
        self
    }

    fn stderr_has_all(self, needles: &[&str]) -> Self {
        needles.iter().fold(self, |cmd, n| cmd.stderr_has(*n))
    }

    /// On stdout or on stderr, either will do.
    fn output_has(mut self, needle: impl Into<String>) -> Self {
        self.expected().output_has.push(needle.into());
        self
    }

    fn stdout_has_one_of(mut self, needles: &[&str]) -> Self {
        self.expected()
            .stdout_has_one_of
            .push(needles.iter().map(|n| n.to_string()).collect());
        self
    }

    fn stdout_lacks(mut self, needle: impl Into<String>) -> Self {
        self.expected().stdout_lacks.push(needle.into());
        self
    }

    fn stderr_lacks(mut self, needle: impl Into<String>) -> Self {
        self.expected().stderr_lacks.push(needle.into());
        self
    }

    /// Neither stdout nor stderr holds `needle` (a password, a secret value).
    fn output_lacks(self, needle: &str) -> Self {
        self.stdout_lacks(needle).stderr_lacks(needle)
    }

    /// Some stdout line starts with `start` and contains `needle` (`check`'s ✔/✘ lines).
    fn stdout_has_line(mut self, start: &str, needle: &str) -> Self {
        self.expected()
            .stdout_lines
            .push((start.to_string(), needle.to_string()));
        self
    }

    /// The failure is reported as exactly one line, the last one on stderr.
    fn one_error_line(mut self) -> Self {
        self.expected().one_error_line = true;
        self
    }
}

impl Expect for Orgexport {
    fn expected(&mut self) -> &mut Expected {
        &mut self.expect
    }
}

impl Expect for Running {
    fn expected(&mut self) -> &mut Expected {
        &mut self.expect
    }
}

fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A run started with [`Orgexport::spawn`].
pub struct Running {
    child: Child,
    shown: String,
    expect: Expected,
    _scratch: Option<TempDir>,
}

impl Running {
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Closes our end of its stderr, as `orgexport … 2>&1 | head -1` does once `head` exits.
    pub fn close_stderr(&mut self) {
        drop(self.child.stderr.take());
    }

    /// Sends a signal by name (`INT`, `TERM`, `HUP`, `KILL`).
    pub fn signal(&self, name: &str) {
        signal(self.child.id(), name);
    }

    /// SIGKILL, and reaps it: no cleanup at all, no expectations checked.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Waits for the end and checks every expectation.
    #[track_caller]
    pub fn wait(self) -> Run {
        let output = self.child.wait_with_output().unwrap();
        let run = Run::new(self.shown, output);
        run.check(&self.expect);
        run
    }
}

/// Sends a signal by name to a process (ours, or a server's backend).
pub fn signal(pid: u32, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} {pid}");
}

/// What a finished run did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    shown: String,
}

impl Run {
    fn new(shown: String, output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            shown,
        }
    }

    /// The peak RSS GNU time reported, for a run started with
    /// [`Orgexport::measure_memory`].
    #[track_caller]
    pub fn peak_rss_kib(&self) -> u64 {
        self.stderr
            .lines()
            .find_map(|l| l.strip_prefix("peak-rss-kib "))
            .unwrap_or_else(|| self.fail(&["no report of GNU time on stderr".to_string()]))
            .trim()
            .parse()
            .unwrap()
    }

    pub fn last_stdout_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    /// Stdout as the one JSON object `--json` prints.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| self.fail(&[format!("stdout is not one JSON object: {e}")]))
    }

    /// For a check that only makes sense after looking at the run (a pid, a host name).
    #[track_caller]
    pub fn assert_stderr_has(&self, needle: &str) {
        if !self.stderr.contains(needle) {
            self.fail(&[format!("stderr lacks {needle:?}")]);
        }
    }

    /// A report of what was run, what was missed, and everything it printed.
    #[track_caller]
    pub fn fail(&self, problems: &[String]) -> ! {
        let mut report = format!("`{}`:\n", self.shown);
        for problem in problems {
            report.push_str(&format!("  ✗ {problem}\n"));
        }
        report.push_str(&format!(
            "--- exit code {}\n--- stdout:\n{}\n--- stderr:\n{}\n--- end",
            self.code, self.stdout, self.stderr
        ));
        panic!("{report}");
    }

    #[track_caller]
    fn check(&self, expect: &Expected) {
        let mut problems = Vec::new();
        match expect.code {
            Code::Is(code) if self.code != code => {
                problems.push(format!("exit code {}, expected {code}", self.code))
            }
            Code::Failure if self.code == 0 => {
                problems.push("exit code 0, expected a failure".to_string())
            }
            _ => {}
        }
        let streams = [("stdout", &self.stdout), ("stderr", &self.stderr)];
        let exact = [&expect.stdout_is, &expect.stderr_is];
        let has = [&expect.stdout_has, &expect.stderr_has];
        let lacks = [&expect.stdout_lacks, &expect.stderr_lacks];
        for (i, (name, text)) in streams.iter().enumerate() {
            if let Some(want) = exact[i]
                && want != *text
            {
                problems.push(format!("{name} is not exactly {want:?}"));
            }
            for needle in has[i].iter().filter(|n| !text.contains(n.as_str())) {
                problems.push(format!("{name} lacks {needle:?}"));
            }
            for needle in lacks[i].iter().filter(|n| text.contains(n.as_str())) {
                problems.push(format!("{name} holds {needle:?}"));
            }
        }
        for needle in &expect.output_has {
            if !self.stdout.contains(needle) && !self.stderr.contains(needle) {
                problems.push(format!("neither stdout nor stderr holds {needle:?}"));
            }
        }
        for needles in &expect.stdout_has_one_of {
            if !needles.iter().any(|n| self.stdout.contains(n.as_str())) {
                problems.push(format!("stdout holds none of {needles:?}"));
            }
        }
        for (start, needle) in &expect.stdout_lines {
            if !self
                .stdout
                .lines()
                .any(|l| l.starts_with(start.as_str()) && l.contains(needle.as_str()))
            {
                problems.push(format!(
                    "no stdout line starts with {start:?} and holds {needle:?}"
                ));
            }
        }
        if expect.one_error_line {
            problems.extend(self.one_error_line_problem());
        }
        if !problems.is_empty() {
            self.fail(&problems);
        }
    }

    fn one_error_line_problem(&self) -> Option<String> {
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.contains("orgexport: error:"))
            .collect();
        if errors.len() != 1 {
            return Some(format!(
                "{} lines hold \"orgexport: error:\", expected one",
                errors.len()
            ));
        }
        if self.stderr.trim_end().lines().last() != Some(errors[0]) {
            return Some("the error line is not the last line of stderr".to_string());
        }
        None
    }
}

/// Waits until a running export's backend streams the COPY of `table` (the unquoted table
/// name) — running now, not merely the last statement it ran; returns the backend's pid.
pub fn wait_for_copy(db: &TestDb, table: &str) -> i32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let pattern = format!("COPY%\"{table}\"%");
    loop {
        let pid: Option<i32> = db
            .client()
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'orgexport' AND state = 'active' AND query LIKE $1 LIMIT 1",
                &[&pattern],
            )
            .unwrap()
            .map(|r| r.get(0));
        if let Some(pid) = pid {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the export never reached the COPY of {table}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
