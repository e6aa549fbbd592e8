//! Faults an operator will meet, each made to happen for real: the exporting backend killed
//! mid-stream, SIGINT mid-stream, an unwritable store, two runs racing to create the history
//! schema. Each asserts the exit code, the one-line message, the history row, and that no
//! archive exists at the final name.

mod support;

use std::time::{Duration, Instant};

use support::{Cluster, Expect, Orgexport, Running, TempDir, TestDb, wait_for_copy};

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
    let child = Orgexport::export(&db, &store, "big").spawn();
    let pid = wait_for_copy(&db, "rows");
    // The client stopped, the COPY cannot finish (the server blocks once the socket is full):
    // the backend is killed mid-stream, whatever the machine's load.
    child.signal("STOP");
    let streaming = db.scalar_i64(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = {pid} AND state = 'active'"
    ));
    assert_eq!(
        streaming, 1,
        "the COPY still runs while the client is stopped"
    );
    db.execute(&format!("SELECT pg_terminate_backend({pid})"));
    child.signal("CONT");
    child
        .code(1)
        .one_error_line()
        .stderr_has("export of org big failed")
        .stdout_is("")
        .wait();
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
    let child = Orgexport::export(&db, &store, "big").spawn();
    wait_for_copy(&db, "rows");
    let sent = Instant::now();
    child.signal(signal);
    child.code(130).stderr_has("interrupted").wait();
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "took {:?} to stop",
        sent.elapsed()
    );
    assert!(store.files().is_empty(), "left behind: {:?}", store.files());
    assert_eq!(history(&db).0, "cancelled");
    // The lock went with it: the next run of the same org proceeds.
    Orgexport::export(&db, &store, "big")
        .args(["--compression-level", "1"])
        .run();
}

#[test]
fn sigint_mid_export_exits_130_leaves_no_archive_and_marks_cancelled() {
    interrupt_mid_export("INT");
}

#[test]
fn sigterm_mid_export_exits_130_leaves_no_archive_and_marks_cancelled() {
    interrupt_mid_export("TERM");
}

#[test]
fn unwritable_store_exits_6_before_touching_the_database() {
    let db = TestDb::new();
    db.execute("CREATE TABLE orgs (id int PRIMARY KEY); CREATE TABLE t (org_id int REFERENCES orgs); INSERT INTO orgs VALUES (1);");
    let store = TempDir::new();
    let file = store.path().join("not-a-directory");
    std::fs::write(&file, b"x").unwrap();
    Orgexport::new()
        .current_dir(store.path())
        .args(["run", "--org", "1"])
        .database(&db)
        .store(file.join("exports"))
        .code(6)
        .stderr_has("store")
        .one_error_line()
        .run();
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
    let children: Vec<Running> = (1..=4)
        .map(|i| Orgexport::export(&db, &store, &format!("o{i}")).spawn())
        .collect();
    for child in children {
        child.wait();
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
    let child = Orgexport::export(&db, &store, "big").spawn();
    wait_for_copy(&db, "rows");
    child.kill(); // SIGKILL: no cleanup at all
    assert_eq!(history(&db).0, "running", "nobody has looked yet");
    // Wait for the server to notice the dead client (it releases the locks).
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.scalar_i64("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'orgexport'") > 0 {
        assert!(Instant::now() < deadline, "the killed run's sessions never went away");
        std::thread::sleep(Duration::from_millis(50));
    }
    Orgexport::export(&db, &store, "small")
        .stderr_has("abandoned")
        .run();
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
    Orgexport::export(&db, &store, "small")
        .code(1)
        .stderr_has("lock timeout")
        .stderr_has("raise lock_timeout")
        .run();
    assert!(started.elapsed() < Duration::from_secs(10));
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
    // Sections are compressed into a spool under TMPDIR before the archive is written: that
    // is where the disk fills first.
    Orgexport::export(&db, &store, "big")
        .args(["--compression-level", "0"])
        .after_shell("trap '' XFSZ; ulimit -f 512")
        .code(1)
        .one_error_line()
        .stderr_has("set TMPDIR")
        .run();
    assert!(store.files().is_empty(), "left behind: {:?}", store.files());
    let (status, error) = history(&db);
    assert_eq!(status, "failed");
    assert!(error.is_some());
}

#[test]
fn several_orgs_keep_going_past_a_failure_and_exit_with_the_worst_code() {
    let db = big_db();
    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "small")
        .args(["--org", "nope", "--org", "big"])
        .code(3)
        .stderr_has("1 of 3 exports failed: nope")
        .run();
    assert_eq!(
        run.stdout.lines().count(),
        2,
        "one link per success: {}",
        run.stdout
    );
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM orgexport.exports WHERE status = 'completed'"),
        2
    );

    let out = Orgexport::new()
        .current_dir(store.path())
        .args(["run", "--all-orgs", "--json"])
        .database(&db)
        .store(store.path())
        .run()
        .json();
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
    let run = Orgexport::export(&db, &store, org).run();
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
    Orgexport::export(&db, &store, "b' OR '1'='1").code(3).run();
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
    let child = Orgexport::export(&db, &store, "small").spawn();
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
    child.signal("INT");
    child.code(130).wait();
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "took {:?}",
        sent.elapsed()
    );
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
    let child = Orgexport::export(&db, &store, "big").spawn();
    wait_for_copy(&db, "rows");
    // The cluster runs with synchronous_commit = off: make the `running` row durable before
    // the immediate stop, as it would be on a production server.
    db.execute("CHECKPOINT");
    cluster.stop_immediately();
    child.code(1).one_error_line().wait();
    assert!(store.files().is_empty(), "left behind: {:?}", store.files());
    // The failure could not be recorded (the server was gone): the next invocation does it.
    cluster.start_again();
    assert_eq!(history(&db).0, "running");
    Orgexport::export(&db, &store, "small")
        .stderr_has("abandoned")
        .run();
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
