//! Faults an operator will meet, each made to happen for real: the exporting backend killed
//! mid-stream, SIGINT mid-stream, an unwritable store, two runs racing to create the history
//! schema. Each asserts the exit code, the one-line message, the history row, and that no
//! archive exists at the final name.

mod support;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::{Run, TempDir, TestDb, orgexport, run_export};

/// A database whose org 1 is big enough (~120 MB of JSON) that its export is still streaming
/// when the test strikes.
fn big_db() -> TestDb {
    let db = TestDb::new();
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

/// Waits until the run's backend is streaming the big section; returns its pid.
fn wait_for_copy(db: &TestDb) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let pid: Option<i32> = db
            .client()
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'orgexport' \
                 AND query LIKE 'COPY%' AND query LIKE '%\"rows\"%' LIMIT 1",
                &[],
            )
            .unwrap()
            .map(|r| r.get(0));
        if let Some(pid) = pid {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the export never reached the COPY of the big section");
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
    let pid = wait_for_copy(&db);
    db.execute(&format!("SELECT pg_terminate_backend({pid})"));
    let run = Run::from(child.wait_with_output().unwrap());
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        run.stderr.trim().lines().count(),
        1,
        "one line: {}",
        run.stderr
    );
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

#[test]
fn sigint_mid_export_exits_130_leaves_no_archive_and_marks_cancelled() {
    let db = big_db();
    let store = TempDir::new();
    let child = spawn_export(&db, &store, "big");
    wait_for_copy(&db);
    let sent = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let run = Run::from(child.wait_with_output().unwrap());
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "took {:?} to stop",
        sent.elapsed()
    );
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(store.files().is_empty(), "left behind: {:?}", store.files());
    assert_eq!(history(&db).0, "cancelled");
    // The lock went with it: the next run of the same org proceeds.
    let run = run_export(&db, &store, "small", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
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
    assert_eq!(run.stderr.trim().lines().count(), 1);
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
        db.scalar_i64("SELECT count(*) FROM orgexport.schema_version"),
        1
    );
}
