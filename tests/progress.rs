//! What an export says while it runs, where a person or a log reads it: progress against the
//! planner's row estimates (percent, ETA) in the lines cron logs, `--wait` naming the export
//! it queues behind and saying it still waits, and the summary naming the export id.
//! Terminal drawing itself is not asserted beyond `commands.rs`'s smoke test.

mod support;

use std::time::{Duration, Instant};

use support::{Archive, Expect, Orgexport, TempDir, TestDb, wait_for_copy};

fn example_db() -> TestDb {
    let db = TestDb::new();
    db.execute(include_str!("../examples/saas.sql"));
    db.execute("ANALYZE");
    db
}

#[test]
fn each_section_line_says_how_far_the_whole_export_got_and_the_summary_names_the_export() {
    let db = example_db();
    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "acme").run();
    let id = Archive::from_run(&run).manifest["export_id"]
        .as_str()
        .unwrap()
        .to_string();
    let tasks = run
        .stderr
        .lines()
        .find(|l| l.contains("orgexport: public.tasks: 300 rows, "))
        .expect(&run.stderr);
    assert!(
        tasks.contains("; export ") && tasks.contains("% of ~") && tasks.contains(" rows, ETA "),
        "{tasks}"
    );
    let last_section = run
        .stderr
        .lines()
        .rfind(|l| l.contains("; export "))
        .unwrap();
    assert!(
        last_section.contains("; export 100% of ~"),
        "{last_section}"
    );
    run.assert_stderr_has(&format!("exported org acme (public.orgs 1): export {id}, "));
}

#[test]
fn a_long_section_reports_rows_against_its_estimate_every_heartbeat() {
    let db = TestDb::one_big_org();
    let store = TempDir::new();
    // A tenth of a second: the section takes well under a second now (issue 21).
    let run = Orgexport::export(&db, &store, "big")
        .env("ORGEXPORT_HEARTBEAT_SECS", "0.1")
        .run();
    let beat = run
        .stderr
        .lines()
        .find(|l| l.contains("orgexport: … public.rows: ") && l.contains("rows so far"))
        .expect(&run.stderr);
    // The planner's estimate of the org's rows (not the table's 120,001), with the share
    // done, the whole export's share and an ETA.
    assert!(
        beat.contains(" of ~1") && beat.contains("k (") && beat.contains("%)"),
        "{beat}"
    );
    assert!(
        beat.contains("; export ") && beat.contains(", ETA "),
        "{beat}"
    );
}

/// The advisory lock key of org key `key`, in SQL (`db::lock::lock_key`).
fn lock_key_sql(key: &str) -> String {
    format!("('x' || left(encode(sha256('orgexport:{key}'), 'hex'), 16))::bit(64)::bigint")
}

#[test]
fn wait_says_whom_it_queues_behind_and_keeps_saying_it_until_it_runs() {
    let db = example_db();
    let store = TempDir::new();
    let mut holder = db.client();
    let pid: i32 = holder
        .query_one(
            &format!(
                "SELECT pg_backend_pid(), pg_advisory_lock({})::text",
                lock_key_sql("1")
            ),
            &[],
        )
        .unwrap()
        .get(0);
    let waiting = Orgexport::export(&db, &store, "acme")
        .arg("--wait=5m")
        .env("ORGEXPORT_HEARTBEAT_SECS", "1")
        .spawn();
    // It polls the lock: two heartbeats of waiting, then the lock goes.
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.scalar_i64(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'orgexport' \
         AND query LIKE '%pg_try_advisory_lock%'",
    ) == 0
    {
        assert!(Instant::now() < deadline, "the export never queued");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(2500));
    holder
        .execute("SELECT pg_advisory_unlock_all()", &[])
        .unwrap();
    let run = waiting
        .stderr_has("of org acme is queued behind database session pid ")
        .stderr_has("; waiting up to 5m")
        .stderr_has("still queued behind database session pid ")
        .stderr_has("exported org acme")
        .wait();
    run.assert_stderr_has(&format!("queued behind database session pid {pid} ("));
}

#[test]
fn wait_behind_a_running_export_names_its_process_host_and_start() {
    let db = TestDb::one_big_org();
    let store = TempDir::new();
    let first = Orgexport::export(&db, &store, "big").spawn();
    wait_for_copy(&db, "rows");
    let second = Orgexport::export(&db, &store, "big").arg("--wait=5m").run();
    let host = db
        .scalar_text("SELECT host FROM orgexport.exports ORDER BY created_at LIMIT 1")
        .unwrap();
    let first_id = db
        .scalar_text("SELECT id::text FROM orgexport.exports ORDER BY created_at LIMIT 1")
        .unwrap();
    second.assert_stderr_has(&format!(
        "is queued behind orgexport pid {} on {host}",
        first.id()
    ));
    second.assert_stderr_has(&format!("export {first_id}, running since "));
    first.wait();
}
