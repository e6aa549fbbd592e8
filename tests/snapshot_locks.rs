//! DDL beside a running export (issue 20, item 1): TRUNCATE, a rewriting ALTER, DROP COLUMN,
//! DROP TABLE, VACUUM FULL and CLUSTER are not MVCC-safe, so the export locks every table it
//! reads before its snapshot and such DDL waits for it. Each test stops the export mid-stream
//! (SIGSTOP), runs the DDL from another session, sees it wait behind the export's backend,
//! lets the export go on, and reads the archive back: the section holds the rows it had at
//! snapshot time, and the DDL finished only after. And when the export is the one that
//! cannot get its locks, it fails within `lock_timeout` naming the session in the way.

mod support;

use std::time::{Duration, Instant};

use support::{Archive, Expect, Orgexport, TempDir, TestDb, wait_for_copy};

/// Org 1 owns a big table read first (`rows`, so the export is still streaming when the test
/// strikes) and 400 `labels` read after it, the DDL's victim.
fn db_with_labels() -> TestDb {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);
         CREATE TABLE rows (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, body text);
         CREATE TABLE labels (id int PRIMARY KEY, row_id int NOT NULL REFERENCES rows, note text);
         INSERT INTO orgs VALUES (1, 'big'), (2, 'small');
         INSERT INTO rows SELECT i, 1, repeat(md5(i::text), 12) FROM generate_series(1, 120000) i;
         INSERT INTO rows VALUES (0, 2, 'small');
         INSERT INTO labels SELECT i, i, 'label ' || i FROM generate_series(1, 400) i;
         CREATE INDEX ON rows (org_id);
         CREATE INDEX ON labels (row_id);",
    );
    db
}

/// Runs `ddl` while an export of org big streams `rows`; asserts the DDL waited for the
/// export and the archive holds all 400 labels.
fn ddl_waits_for_the_export(ddl: &'static str) {
    let db = db_with_labels();
    let store = TempDir::new();
    let child = Orgexport::export(&db, &store, "big").spawn();
    let export_pid = wait_for_copy(&db, "rows");
    child.signal("STOP");
    let mut session = db.client();
    session
        .batch_execute("SET application_name = 'ddl'")
        .unwrap();
    let ddl_thread = std::thread::spawn(move || {
        session.batch_execute(ddl).unwrap();
        Instant::now()
    });
    let waiting = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ddl' \
         AND wait_event_type = 'Lock' AND {export_pid} = ANY (pg_blocking_pids(pid))"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.scalar_i64(&waiting) == 0 {
        assert!(
            Instant::now() < deadline,
            "{ddl}: never waited for the export's locks"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let resumed = Instant::now();
    child.signal("CONT");
    let run = child.wait();
    let archive = Archive::from_run(&run);
    assert_eq!(archive.section("public.labels").len(), 400, "{ddl}");
    assert_eq!(
        archive.manifest_section("public.labels")["record_count"],
        400,
        "{ddl}"
    );
    assert_eq!(archive.section("public.rows").len(), 120000, "{ddl}");
    let ddl_done = ddl_thread
        .join()
        .expect("the DDL succeeds once the export is done");
    assert!(
        ddl_done > resumed,
        "{ddl}: finished before the export let go"
    );
    Orgexport::on(
        &db,
        &store,
        &["verify", archive.manifest["export_id"].as_str().unwrap()],
    )
    .run();
}

#[test]
fn truncate_waits_for_a_running_export() {
    ddl_waits_for_the_export("TRUNCATE labels");
}

#[test]
fn a_rewriting_alter_waits_for_a_running_export() {
    ddl_waits_for_the_export("ALTER TABLE labels ADD COLUMN z float8 DEFAULT random()");
}

#[test]
fn drop_column_waits_for_a_running_export() {
    ddl_waits_for_the_export("ALTER TABLE labels DROP COLUMN note");
}

#[test]
fn drop_table_waits_for_a_running_export() {
    ddl_waits_for_the_export("DROP TABLE labels");
}

#[test]
fn vacuum_full_waits_for_a_running_export() {
    ddl_waits_for_the_export("VACUUM FULL labels");
}

#[test]
fn cluster_waits_for_a_running_export() {
    ddl_waits_for_the_export("CLUSTER labels USING labels_pkey");
}

#[test]
fn a_table_held_by_ddl_fails_run_and_plan_within_lock_timeout_naming_the_session() {
    let db = db_with_labels();
    let store = TempDir::new();
    std::fs::write(
        store.path().join("orgexport.toml"),
        "lock_timeout = \"1s\"\n",
    )
    .unwrap();
    let mut holder = db.client();
    holder
        .batch_execute("SET application_name = 'psql'; BEGIN; TRUNCATE labels")
        .unwrap();
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    let named = format!("public.labels is locked by pid {pid} (psql, user ");
    for command in [
        vec!["run", "--org", "small"],
        vec!["plan", "--org", "small"],
    ] {
        let started = Instant::now();
        Orgexport::on(&db, &store, &command)
            .code(1)
            .stderr_has(named.clone())
            .stderr_has("idle in transaction since")
            .stderr_has("raise lock_timeout")
            .run();
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    holder.batch_execute("ROLLBACK").unwrap();
    assert_eq!(db.scalar_i64("SELECT count(*) FROM labels"), 400);
}
