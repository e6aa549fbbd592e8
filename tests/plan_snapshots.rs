//! `orgexport plan` on every schema fixture, as text and as `--json`, compared with golden
//! files under `tests/golden/plan/`: a change to scope (a section, its rows, its columns, why
//! a table is left out, a warning) shows up as a diff to review. `UPDATE_GENERATED=1 cargo
//! test --test plan_snapshots` rewrites them. The JSON golden file is stdout's one object,
//! pretty-printed (keys in the tool's order) so that a diff points at one field.
//!
//! What differs from one run to the next is replaced before comparing — the database's name,
//! the server's port, temporary paths, timestamps and durations — each matched exactly or by
//! its shape, so that a section name, a row count or a reason is never touched.

mod support;

use std::path::{Path, PathBuf};

use support::{Cluster, Orgexport, TempDir, TestDb, assert_golden};

/// Each fixture: its name (the golden files' stem), schema and rows, the org whose plan is
/// taken, and the `orgexport.toml` the scope needs (what `real_schemas.rs` uses for it).
macro_rules! plan_snapshots {
    ($($name:ident: $sql:literal, org $org:literal, config $config:literal;)*) => {
        $(
            #[test]
            fn $name() {
                assert_plan_snapshots(stringify!($name), include_str!($sql), $org, $config);
            }
        )*

        /// Every fixture with a snapshot test.
        const SNAPSHOTTED: &[&str] = &[$(stringify!($name)),*];
    };
}

plan_snapshots! {
    chatwoot: "fixtures/chatwoot.sql", org "acme",
        config "tenant_columns = [\"account_id\"]\ninfer_references = true\n";
    cyclic: "fixtures/cyclic.sql", org "a", config "";
    delegated: "fixtures/delegated.sql", org "acme",
        config "tenant_columns = [\"family_id\"]\ninfer_references = true\n";
    formbricks: "fixtures/formbricks.sql", org "acme", config "";
    hostile: "fixtures/hostile.sql", org "a'; DROP TABLE \"select\".\"$1 table\"; --", config "";
    partitioned: "fixtures/partitioned.sql", org "a", config "";
    prisma: "fixtures/prisma.sql", org "acme", config "";
    rails: "fixtures/rails.sql", org "acme", config "infer_references = true\n";
    sharding: "fixtures/sharding.sql", org "acme",
        config "references = [\"public.ci_builds.project_id -> public.projects.id\"]\n";
    typed: "fixtures/typed.sql", org "a", config "";
    saas: "../examples/saas.sql", org "acme", config "";
}

#[test]
fn every_fixture_has_plan_snapshots() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<String> = std::fs::read_dir(&fixtures)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".sql").map(str::to_string)
        })
        .collect();
    names.push("saas".to_string());
    names.sort();
    let mut snapshotted: Vec<&str> = SNAPSHOTTED.to_vec();
    snapshotted.sort();
    assert_eq!(
        names, snapshotted,
        "add the new fixture to plan_snapshots! in tests/plan_snapshots.rs"
    );
}

fn golden(name: &str, extension: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/plan")
        .join(format!("{name}.{extension}"))
}

fn assert_plan_snapshots(name: &str, sql: &str, org: &str, config: &str) {
    let db = TestDb::new();
    db.execute(sql);
    let cwd = TempDir::new();
    std::fs::write(cwd.path().join("orgexport.toml"), config).unwrap();
    let volatile = Volatile {
        database: db.name.clone(),
        port: db.port,
        paths: vec![
            cwd.path().display().to_string(),
            Cluster::get().dir.display().to_string(),
        ],
    };
    let plan = |json: bool| {
        let run = Orgexport::new()
            .current_dir(cwd.path())
            .args(["plan", "--org", org])
            .database(&db)
            .args(json.then_some("--json"))
            .run();
        volatile.normalise(&run.stdout)
    };
    let text = plan(false);
    let json: serde_json::Value = serde_json::from_str(&plan(true)).unwrap();
    let json = serde_json::to_string_pretty(&json).unwrap() + "\n";
    assert_golden(&golden(name, "txt"), text.as_bytes());
    assert_golden(&golden(name, "json"), json.as_bytes());
}

/// What one run's output may hold that the next run's would not.
struct Volatile {
    database: String,
    port: u16,
    /// Temporary directories the run was given (its working directory, the cluster's).
    paths: Vec<String>,
}

impl Volatile {
    fn normalise(&self, output: &str) -> String {
        let mut text = output.to_string();
        for (i, path) in self.paths.iter().enumerate() {
            text = text.replace(path.as_str(), &format!("<tmp{i}>"));
        }
        // The port only where it is one (`:5432`, `port=5432`): a row count may equal it.
        for (from, to) in [
            (format!(":{}", self.port), ":<port>".to_string()),
            (format!("port={}", self.port), "port=<port>".to_string()),
        ] {
            text = text.replace(&from, &to);
        }
        let text = replace_word(&text, &self.database, "<database>");
        let text = replace_shapes(&text, timestamp_len, "<timestamp>");
        replace_shapes(&text, duration_len, " in <duration>")
    }
}

/// `word` replaced where it stands alone (not inside a longer identifier).
fn replace_word(text: &str, word: &str, by: &str) -> String {
    let is_ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(word) {
        out.push_str(&rest[..at]);
        let before = out.chars().last();
        let after = rest[at + word.len()..].chars().next();
        out.push_str(if is_ident(before) || is_ident(after) {
            word
        } else {
            by
        });
        rest = &rest[at + word.len()..];
    }
    out + rest
}

/// Every span that `shape` measures (its length in bytes at a position, if one starts there)
/// replaced by `by`.
fn replace_shapes(text: &str, shape: fn(&[u8]) -> Option<usize>, by: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match shape(&bytes[i..]) {
            Some(len) => {
                out.push_str(&text[copied..i]);
                out.push_str(by);
                i += len;
                copied = i;
            }
            None => i += 1,
        }
    }
    out + &text[copied..]
}

/// `2026-11-23T18:00:00Z`, with fractions of a second and a UTC offset in any form.
fn timestamp_len(s: &[u8]) -> Option<usize> {
    let shape = b"dddd-dd-ddTdd:dd:dd";
    if s.len() < shape.len()
        || !shape.iter().zip(s).all(|(want, have)| match want {
            b'd' => have.is_ascii_digit(),
            _ => want == have,
        })
    {
        return None;
    }
    let mut len = shape.len();
    if s.get(len) == Some(&b'.') {
        len += 1 + s[len + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
    }
    match s.get(len) {
        Some(b'Z') => len += 1,
        Some(b'+' | b'-') => {
            len += 1 + s[len + 1..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b':')
                .count()
        }
        _ => {}
    }
    Some(len)
}

/// ` in 1.5s`, exactly as the tool reports how long something took (`{:.1}s`).
fn duration_len(s: &[u8]) -> Option<usize> {
    let digits = s.strip_prefix(b" in ")?;
    let whole = digits.iter().take_while(|b| b.is_ascii_digit()).count();
    let shaped = whole > 0
        && digits.get(whole) == Some(&b'.')
        && digits.get(whole + 1).is_some_and(u8::is_ascii_digit)
        && digits.get(whole + 2) == Some(&b's')
        && digits
            .get(whole + 3)
            .is_none_or(|b| !b.is_ascii_alphanumeric() && *b != b'_');
    shaped.then_some(" in ".len() + whole + 3)
}

#[test]
fn normalising_replaces_only_what_changes_between_runs() {
    let volatile = Volatile {
        database: "t4242_7".into(),
        port: 5433,
        paths: vec![
            "/tmp/orgexport-store-0192".into(),
            "/tmp/orgexport-test-77-0193".into(),
        ],
    };
    let output = [
        "public.t4242_7x      5433  tenant column org_id in 2s_table",
        "public.events         200  owned via public.events(id) -> x(id) [excluded: in 1s]",
        "connected to t4242_7 on 127.0.0.1:5433 (host=localhost port=5433)",
        "wrote /tmp/orgexport-store-0192/a.json and /tmp/orgexport-test-77-0193/b",
        "at 2026-11-23T18:00:00.123+01:00 in 1.5s, then 2026-11-23T18:00:01Z in 30.0s",
    ]
    .join("\n");
    let expected = [
        "public.t4242_7x      5433  tenant column org_id in 2s_table",
        "public.events         200  owned via public.events(id) -> x(id) [excluded: in 1s]",
        "connected to <database> on 127.0.0.1:<port> (host=localhost port=<port>)",
        "wrote <tmp0>/a.json and <tmp1>/b",
        "at <timestamp> in <duration>, then <timestamp> in <duration>",
    ]
    .join("\n");
    assert_eq!(volatile.normalise(&output), expected);
}
