//! Faults an operator will meet, each made to happen for real: the exporting backend killed
//! mid-stream, SIGINT mid-stream, an unwritable store, two runs racing to create the history
//! schema. Each asserts the exit code, the one-line message, the history row, and that no
//! archive exists at the final name.

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::{Cluster, Run, TempDir, TestDb, orgexport, run_export, wait_for_copy};

/// A database whose org 1 is big enough (~120 MB of JSON) that its export is still streaming
/// when the test strikes.
fn big_db() -> TestDb {
    big_db_on(Cluster::get())
}

fn big_db_on(cluster: &Cluster) -> TestDb {
    let db = cluster.database();
    db.execute(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);
         CREATE TABLE rows (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, body text);
         INSERT INTO orgs VALUES (1, 'big'), (2, 'small');
         INSERT INTO rows SELECT i, 1, repeat(md5(i::text), 30) FROM generate_series(1, 120000) i;
         INSERT INTO rows VALUES (0, 2, 'small');
         CREATE INDEX ON rows (org_id);",
    );
    db
}

fn spawn_export(db: &TestDb, store: &TempDir, org: &str) -> Child {
    orgexport(store.path())
        .args(["run", "--org", org, "--database-url", &db.url, "--store"])
        .arg(store.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn history(db: &TestDb) -> (String, Option<String>) {
    let row = db
        .client()
        .query_one(
            "SELECT status, error FROM orgexport.exports ORDER BY created_at DESC LIMIT 1",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1))
}

#[test]
fn backend_killed_mid_export_exits_1_leaves_no_archive_and_records_failure() {
    let db = big_db();
    let store = TempDir::new();
    let child = spawn_export(&db, &store, "big");
    let pid = wait_for_copy(&db, "rows");
    db.execute(&format!("SELECT pg_terminate_backend({pid})"));
    let run = Run::from(child.wait_with_output().unwrap());
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.assert_one_error_line();
    assert!(
        run.stderr.contains("export of org big failed"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    assert!(store.files().is_empty(), "left behind: {:?}", store.files());
    let (status, error) = history(&db);
    assert_eq!(status, "failed");
    assert!(error.unwrap().contains("reading public.rows"));
    let actions =
        db.scalar_i64("SELECT count(*) FROM orgexport.audit_log WHERE action = 'export.failed'");
    assert_eq!(actions, 1);
}

fn interrupt_mid_export(signal: &str) {
    let db = big_db();
    let store = TempDir::new();
    let child = spawn_export(&db, &store, "big");
    wait_for_copy(&db, "rows");
    let sent = Instant::now();
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let run = Run::from(child.wait_with_output().unwrap());
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "took {:?} to stop",
        sent.elapsed()
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    assert!(store.files().is_empty(), "left behind: {:?}", store.files());
    assert_eq!(history(&db).0, "cancelled");
    // The lock went with it: the next run of the same org proceeds.
    let run = run_export(&db, &store, "big", &["--compression-level", "1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn sigint_mid_export_exits_130_leaves_no_archive_and_marks_cancelled() {
    interrupt_mid_export("-INT");
}

#[test]
fn sigterm_mid_export_exits_130_leaves_no_archive_and_marks_cancelled() {
    interrupt_mid_export("-TERM");
}

#[test]
fn unwritable_store_exits_6_before_touching_the_database() {
    let db = TestDb::new();
    db.execute("CREATE TABLE orgs (id int PRIMARY KEY); CREATE TABLE t (org_id int REFERENCES orgs); INSERT INTO orgs VALUES (1);");
    let store = TempDir::new();
    let file = store.path().join("not-a-directory");
    std::fs::write(&file, b"x").unwrap();
    let output = orgexport(store.path())
        .args(["run", "--org", "1", "--database-url", &db.url, "--store"])
        .arg(file.join("exports"))
        .output()
        .unwrap();
    let run = Run::from(output);
    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(run.stderr.contains("store"), "{}", run.stderr);
    run.assert_one_error_line();
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM pg_namespace WHERE nspname = 'orgexport'"),
        0,
        "no history was written"
    );
}

#[test]
fn runs_starting_at_once_on_a_fresh_database_both_succeed() {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);
         CREATE TABLE t (id int, org_id int NOT NULL REFERENCES orgs);
         INSERT INTO orgs SELECT i, 'o' || i FROM generate_series(1, 4) i;
         INSERT INTO t SELECT i, 1 + i % 4 FROM generate_series(1, 100) i;",
    );
    let store = TempDir::new();
    let children: Vec<Child> = (1..=4)
        .map(|i| spawn_export(&db, &store, &format!("o{i}")))
        .collect();
    for child in children {
        let run = Run::from(child.wait_with_output().unwrap());
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM orgexport.exports WHERE status = 'completed'"),
        4
    );
    assert_eq!(
        // Every migration applied exactly once, though four runs raced to apply them.
        db.scalar_i64(
            "SELECT count(*) - count(DISTINCT version) + (count(*) = max(version))::int FROM orgexport.schema_version"
        ),
        1
    );
}

#[test]
fn sigkilled_run_is_reconciled_as_abandoned_by_the_next_invocation() {
    let db = big_db();
    let store = TempDir::new();
    let mut child = spawn_export(&db, &store, "big");
    wait_for_copy(&db, "rows");
    child.kill().unwrap(); // SIGKILL: no cleanup at all
    child.wait().unwrap();
    assert_eq!(history(&db).0, "running", "nobody has looked yet");
    // Wait for the server to notice the dead client (it releases the locks).
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.scalar_i64("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'orgexport'") > 0 {
        assert!(Instant::now() < deadline, "the killed run's sessions never went away");
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = run_export(&db, &store, "small", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("abandoned"), "{}", run.stderr);
    let row = db
        .client()
        .query_one("SELECT status, error FROM orgexport.exports e JOIN orgs o ON o.id::text = e.org_key WHERE o.slug = 'big'", &[])
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    assert!(row.get::<_, String>(1).contains("abandoned"));
    // Only the small org's archive and sidecar remain; the killed run's temporary file is gone.
    assert!(
        store.files().iter().all(|f| f.starts_with("small-2/")),
        "{:?}",
        store.files()
    );
}

#[test]
fn export_waiting_behind_ddl_gives_up_after_lock_timeout() {
    let db = big_db();
    let store = TempDir::new();
    std::fs::write(
        store.path().join("orgexport.toml"),
        "lock_timeout = \"1s\"\n",
    )
    .unwrap();
    let mut ddl = db.client();
    ddl.batch_execute("BEGIN; LOCK TABLE rows IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let started = Instant::now();
    let run = run_export(&db, &store, "small", &[]);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("lock timeout"), "{}", run.stderr);
    assert!(run.stderr.contains("raise lock_timeout"), "{}", run.stderr);
    assert!(
        store.files().iter().all(|f| f == "orgexport.toml"),
        "{:?}",
        store.files()
    );
    assert_eq!(history(&db).0, "failed");
    ddl.batch_execute("ROLLBACK").unwrap();
}

#[test]
fn disk_full_while_writing_fails_naming_tmpdir_and_leaves_nothing() {
    let db = big_db();
    let store = TempDir::new();
    // A file-size limit makes every write past 256 KiB fail with EFBIG, as a full disk would
    // (SIGXFSZ is ignored so the write returns an error instead of killing the process).
    let output = std::process::Command::new("sh")
        .args(["-c", "trap '' XFSZ; ulimit -f 512; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_orgexport"))
        .args([
            "run",
            "--org",
            "big",
            "--compression-level",
            "0",
            "--database-url",
            &db.url,
            "--store",
        ])
        .arg(store.path())
        .current_dir(store.path())
        .output()
        .unwrap();
    let run = Run::from(output);
    // Sections are compressed into a spool under TMPDIR before the archive is written: that
    // is where the disk fills first.
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.assert_one_error_line();
    assert!(run.stderr.contains("set TMPDIR"), "{}", run.stderr);
    assert!(store.files().is_empty(), "left behind: {:?}", store.files());
    let (status, error) = history(&db);
    assert_eq!(status, "failed");
    assert!(error.is_some());
}

#[test]
fn several_orgs_keep_going_past_a_failure_and_exit_with_the_worst_code() {
    let db = big_db();
    let store = TempDir::new();
    let output = orgexport(store.path())
        .args([
            "run",
            "--org",
            "small",
            "--org",
            "nope",
            "--org",
            "big",
            "--database-url",
            &db.url,
            "--store",
        ])
        .arg(store.path())
        .output()
        .unwrap();
    let run = Run::from(output);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(
        run.stdout.lines().count(),
        2,
        "one link per success: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains("1 of 3 exports failed: nope"),
        "{}",
        run.stderr
    );
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM orgexport.exports WHERE status = 'completed'"),
        2
    );

    let output = orgexport(store.path())
        .args([
            "run",
            "--all-orgs",
            "--json",
            "--database-url",
            &db.url,
            "--store",
        ])
        .arg(store.path())
        .output()
        .unwrap();
    let run = Run::from(output);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    let orgs: Vec<&str> = out["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["org"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, vec!["big", "small"]);
}

#[test]
fn hostile_data_and_identifiers_are_exported_exactly_and_never_injected() {
    let db = TestDb::new();
    db.execute(include_str!("fixtures/hostile.sql"));
    let store = TempDir::new();
    let org = "a'; DROP TABLE \"select\".\"$1 table\"; --";
    let run = run_export(&db, &store, org, &[]);
    let archive = support::Archive::from_run(&run);
    archive.assert_well_formed();
    archive.assert_section_equals(
        &db,
        "select.$1 table",
        r#"SELECT * FROM "select"."$1 table" WHERE org_id LIKE 'a%'"#,
    );
    archive.assert_section_equals(
        &db,
        "select.child; --",
        r#"SELECT c.* FROM "select"."child; --" c JOIN "select"."$1 table" t ON t."$1" = c."end" WHERE t.org_id LIKE 'a%'"#,
    );
    let rows = archive.section("select.$1 table");
    let big = rows
        .iter()
        .map(|r| r["from"].as_str().unwrap().len())
        .max()
        .unwrap();
    assert_eq!(big, 20 * 1024 * 1024, "the 20 MB value arrives whole");
    assert!(!archive.text.contains("MARKER-OTHER-ORG"));
    // Nothing was dropped, and injection through --org found nothing either.
    assert_eq!(
        db.scalar_i64(r#"SELECT count(*) FROM "select"."$1 table""#),
        3
    );
    let run = run_export(&db, &store, "b' OR '1'='1", &[]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(
        db.scalar_i64(r#"SELECT count(*) FROM "select"."$1 table""#),
        3
    );
}

#[test]
fn sigint_while_blocked_behind_a_lock_exits_130_promptly() {
    let db = big_db();
    let store = TempDir::new();
    let mut ddl = db.client();
    ddl.batch_execute("BEGIN; LOCK TABLE rows IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let child = spawn_export(&db, &store, "small");
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.scalar_i64(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'orgexport' AND wait_event_type = 'Lock'",
    ) == 0
    {
        assert!(
            Instant::now() < deadline,
            "the export never waited for the lock"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let run = Run::from(child.wait_with_output().unwrap());
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "took {:?}",
        sent.elapsed()
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert_eq!(history(&db).0, "cancelled");
    assert!(store.files().is_empty(), "{:?}", store.files());
    // The waiting statement was cancelled server-side, not left queued behind the lock.
    let deadline = Instant::now() + Duration::from_secs(3);
    while db.scalar_i64(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'orgexport'",
    ) > 0
    {
        assert!(
            Instant::now() < deadline,
            "the export's sessions outlived it"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ddl.batch_execute("ROLLBACK").unwrap();
}

#[test]
fn server_stopped_mid_export_fails_cleanly_and_is_reconciled_after_restart() {
    let cluster = Cluster::start_private();
    let db = big_db_on(&cluster);
    let store = TempDir::new();
    let child = spawn_export(&db, &store, "big");
    wait_for_copy(&db, "rows");
    // The cluster runs with synchronous_commit = off: make the `running` row durable before
    // the immediate stop, as it would be on a production server.
    db.execute("CHECKPOINT");
    cluster.stop_immediately();
    let run = Run::from(child.wait_with_output().unwrap());
    assert_eq!(run.code, 1, "{}", run.stderr);
    run.assert_one_error_line();
    assert!(store.files().is_empty(), "left behind: {:?}", store.files());
    // The failure could not be recorded (the server was gone): the next invocation does it.
    cluster.start_again();
    assert_eq!(history(&db).0, "running");
    let run = run_export(&db, &store, "small", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("abandoned"), "{}", run.stderr);
    let row = db
        .client()
        .query_one(
            "SELECT status, error FROM orgexport.exports WHERE org_lookup = 'big'",
            &[],
        )
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "failed");
    assert!(row.get::<_, String>(1).contains("abandoned"));
}
