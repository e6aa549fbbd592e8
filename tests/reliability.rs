//! Operator faults made to happen for real (issue "operator-grade reliability"): a server that
//! never answers, a stopped backend, a dead log pipe, SIGHUP, hostile org names in store
//! paths, an edited `object_url`, malformed URLs holding a password, settings that would make
//! a wrong success, a read-only database, and log lines an org name could forge.

mod support;

use std::time::{Duration, Instant};

use support::{Archive, Expect, Orgexport, TempDir, TestDb, signal, wait_for_copy};

/// A database whose org 1 ("big", ~120 MB of JSON) streams for a while.
fn big_db() -> TestDb {
    TestDb::one_big_org()
}

fn latest_status(db: &TestDb) -> String {
    db.scalar_text("SELECT status FROM orgexport.exports ORDER BY created_at DESC LIMIT 1")
        .unwrap()
}

/// A TCP server that accepts connections and never answers (holding its socket: no other
/// test can take the port).
fn silent_server() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepting = listener.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in accepting.incoming().flatten() {
            held.push(stream);
        }
    });
    (listener, port)
}

#[test]
fn a_server_that_never_answers_fails_within_connect_timeout() {
    let (_listener, port) = silent_server();
    let cwd = TempDir::new();
    for (command, url, env) in [
        (
            vec!["list"],
            format!("postgres://u:pw-Never-Shown@127.0.0.1:{port}/db?connect_timeout=2"),
            None,
        ),
        (
            vec!["run", "--org", "acme"],
            format!("postgres://u:pw-Never-Shown@127.0.0.1:{port}/db"),
            Some("2"),
        ),
        (
            vec!["check"],
            format!("postgres://u:pw-Never-Shown@127.0.0.1:{port}/db"),
            Some("2"),
        ),
    ] {
        let mut cmd = Orgexport::new()
            .current_dir(cwd.path())
            .args(&command)
            .args(["--database-url", &url])
            .store(cwd.path())
            .code(5)
            // `check` reports each check on stdout; the others fail with the reason on stderr.
            .output_has("no answer within 2 s")
            .output_lacks("pw-Never-Shown");
        if let Some(timeout) = env {
            cmd = cmd.env("PGCONNECT_TIMEOUT", timeout);
        }
        let started = Instant::now();
        cmd.run();
        let took = started.elapsed();
        assert!(took < Duration::from_secs(4), "{command:?} took {took:?}");
    }
}

#[test]
fn sigterm_with_a_stopped_backend_exits_130_within_5_seconds() {
    let db = big_db();
    let store = TempDir::new();
    let child = Orgexport::export(&db, &store, "big").spawn();
    let backend = wait_for_copy(&db, "rows");
    // The backend stops answering mid-COPY (as a hung server or network would).
    signal(backend as u32, "STOP");
    let sent = Instant::now();
    child.signal("TERM");
    // The backend is continued before anything is asserted.
    let run = child.any_code().wait();
    let took = sent.elapsed();
    signal(backend as u32, "CONT");
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(store.files().is_empty(), "{:?}", store.files());
    assert_eq!(latest_status(&db), "cancelled");
}

#[test]
fn sighup_cleans_up_like_sigint() {
    let db = big_db();
    let store = TempDir::new();
    let child = Orgexport::export(&db, &store, "big").spawn();
    wait_for_copy(&db, "rows");
    let sent = Instant::now();
    child.signal("HUP");
    child.code(130).wait();
    assert!(sent.elapsed() < Duration::from_secs(5));
    assert!(store.files().is_empty(), "{:?}", store.files());
    assert_eq!(latest_status(&db), "cancelled");
    let audit = db
        .scalar_text(
            "SELECT details->>'status' FROM orgexport.audit_log WHERE action = 'export.failed'",
        )
        .unwrap();
    assert_eq!(audit, "cancelled");
}

#[test]
fn a_dead_log_pipe_never_stops_the_export() {
    let db = big_db();
    let store = TempDir::new();
    // `orgexport run … 2>&1 | head -1`: the reader of stderr goes away at once.
    let mut child = Orgexport::export(&db, &store, "small").arg("-v").spawn();
    child.close_stderr();
    let run = child.wait();
    assert_eq!(latest_status(&db), "completed");
    Archive::from_run(&run).assert_well_formed();
}

#[test]
fn a_full_stdout_after_a_completed_export_is_a_warning_not_a_failure() {
    let db = big_db();
    let store = TempDir::new();
    Orgexport::export(&db, &store, "small")
        .stdout_to(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .stderr_has("could not write the link")
        .stderr_has("orgexport link")
        .run();
    assert_eq!(latest_status(&db), "completed");
}

fn hostile_orgs() -> TestDb {
    let db = TestDb::new();
    db.execute(&format!(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text, name text);
         CREATE TABLE notes (id serial PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, body text);
         INSERT INTO orgs VALUES (1, 'acme', 'Acme Corporation'), (2, 'two', 'Two'), (5, '2', 'Slug Two'),
           (6, '', 'Empty'), (7, 'Umbrella 株式会社', 'Umbrella'), (8, 'a/b%#', 'Slashes'),
           (9, '{long}', 'Long');
         INSERT INTO notes (org_id, body) SELECT id, 'note of ' || id FROM orgs;",
        long = "x".repeat(300)
    ));
    db
}

#[test]
fn store_folders_come_from_the_canonical_key_and_hostile_names_work_end_to_end() {
    let db = hostile_orgs();
    let store = TempDir::new();
    let mut ids = Vec::new();
    for org in [
        "1",
        "01",
        "acme",
        "Acme Corporation",
        "2",
        "5",
        "6",
        "7",
        "8",
        "9",
    ] {
        let archive = Archive::from_run(&Orgexport::export(&db, &store, org).run());
        ids.push(archive.manifest["export_id"].as_str().unwrap().to_string());
    }
    let mut dirs: Vec<String> = store
        .files()
        .iter()
        .map(|f| f.split('/').next().unwrap().to_string())
        .collect();
    dirs.dedup();
    assert_eq!(
        dirs,
        vec![
            "2-5".to_string(),
            "a-b-8".into(),
            "acme-1".into(),
            "org-6".into(),
            "two-2".into(),
            "umbrella-7".into(),
            format!("{}-9", "x".repeat(40)),
        ]
    );
    assert_eq!(
        store
            .files()
            .iter()
            .filter(|f| f.starts_with("acme-1/"))
            .count(),
        8,
        "1, 01, acme and Acme Corporation are one org, one folder"
    );
    // verify and link work on every archive; prune removes every one of them.
    for id in &ids {
        // By id, only inside the store it was exported to (issue 20): --store is given.
        Orgexport::on(&db, &store, &["verify", id]).run();
        let link = Orgexport::on(&db, &store, &["link", id]).run();
        let path = url::Url::parse(link.last_stdout_line())
            .unwrap()
            .to_file_path()
            .unwrap();
        assert!(path.exists(), "{}", path.display());
    }
    Orgexport::on(&db, &store, &["prune", "--older-than", "0s"]).run();
    assert!(store.files().is_empty(), "{:?}", store.files());
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM orgexport.exports WHERE status = 'pruned'"),
        ids.len() as i64
    );
}

#[test]
fn prune_never_deletes_what_an_edited_object_url_points_outside_the_store() {
    let db = hostile_orgs();
    let store = TempDir::new();
    let elsewhere = TempDir::new();
    let victim = elsewhere.path().join("precious.json.gz");
    std::fs::write(&victim, b"keep me").unwrap();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "acme").run());
    let id = archive.manifest["export_id"].as_str().unwrap().to_string();
    let victim_url = url::Url::from_file_path(&victim).unwrap().to_string();
    for (target, inside) in [
        // outside the store: another store's, skipped
        (victim_url.clone(), false),
        // inside the store, but another name than the export's own: refused
        (
            url::Url::from_file_path(store.path().join("two-2").join("precious.json.gz"))
                .unwrap()
                .to_string(),
            true,
        ),
    ] {
        db.execute(&format!(
            "UPDATE orgexport.exports SET object_url = '{target}' WHERE id = '{id}'"
        ));
        let prune = Orgexport::on(&db, &store, &["prune", "--older-than", "0s"]);
        if inside {
            prune
                .code(2)
                .stderr_has("not under the configured store")
                .run();
        } else {
            prune
                .stdout_has_line(&format!("skipped {id}"), "another store's")
                .run();
        }
        assert!(victim.exists(), "the file outside the store is still there");
        assert_eq!(
            db.scalar_text(&format!(
                "SELECT status FROM orgexport.exports WHERE id = '{id}'"
            ))
            .unwrap(),
            "completed",
            "not marked pruned"
        );
        assert!(
            db.scalar_i64(
                "SELECT count(*) FROM orgexport.audit_log WHERE action = 'export.pruned'"
            ) == 0,
            "no deletion audited"
        );
    }
}

#[test]
fn malformed_database_urls_never_echo_the_password() {
    let cwd = TempDir::new();
    for (url, code) in [
        ("postgress://u:pw-Never-Shown@127.0.0.1:1/db", 2),
        ("mysql://u:pw-Never-Shown@127.0.0.1:1/db", 2),
        (" postgres://u:pw-Never-Shown@127.0.0.1:1/db", 5),
        ("u:pw-Never-Shown@127.0.0.1", 2),
        (
            "postgres://u:pw-Never-Shown@127.0.0.1:1/db?nonsense=pw-Never-Shown",
            2,
        ),
        ("postgres://u:pw-Never-Shown@[::1/db", 2),
    ] {
        for json in [false, true] {
            let mut cmd = Orgexport::new()
                .current_dir(cwd.path())
                .args(["list", "--database-url", url])
                .code(code)
                .one_error_line()
                .output_lacks("pw-Never-Shown");
            if json {
                cmd = cmd.arg("--json");
            }
            cmd.run();
        }
    }
}

#[test]
fn settings_that_would_make_a_wrong_success_are_refused_up_front() {
    let db = hostile_orgs();
    let store = TempDir::new();
    for (args, expected) in [
        (vec!["--link-ttl", "0s"], "the link TTL is 0"),
        (
            vec!["--tables", "public.nothing_like_this"],
            "public.nothing_like_this",
        ),
    ] {
        Orgexport::export(&db, &store, "acme")
            .args(&args)
            .code(2)
            .stderr_has(expected)
            .run();
    }
    Orgexport::new()
        .current_dir(store.path())
        .args(["run", "--org", "acme"])
        .database(&db)
        .store("file://")
        .code(2)
        .stderr_has("root")
        .run();
    assert!(store.files().is_empty());
    assert_eq!(
        db.scalar_i64(
            "SELECT CASE WHEN to_regclass('orgexport.exports') IS NULL THEN 0 \
                    ELSE (SELECT count(*) FROM orgexport.exports) END"
        ),
        0,
        "no export was recorded, let alone completed"
    );
}

#[test]
fn a_read_only_database_is_listed_never_written_and_refused_for_runs() {
    let db = hostile_orgs();
    let store = TempDir::new();
    // A replica of a database that never ran an export.
    db.execute(&format!(
        "ALTER DATABASE {} SET default_transaction_read_only = on",
        db.name
    ));
    Orgexport::new()
        .current_dir(store.path())
        .arg("list")
        .database(&db)
        .run();
    Orgexport::on(&db, &store, &["check"])
        .fails()
        .stdout_has_line("✘", "read-only (a hot standby?)")
        .run();
    Orgexport::export(&db, &store, "acme")
        .code(5)
        .stderr_has("the history database is read-only (a hot standby?)")
        .stderr_has("--history-url")
        .run();
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM pg_namespace WHERE nspname = 'orgexport'"),
        0,
        "list and check never create schema orgexport"
    );
    assert!(store.files().is_empty());

    // With history (and an abandoned row that cannot be reconciled here), list still works.
    // One statement at a time: a multi-statement batch is one transaction, read-only here.
    let mut admin = db.client();
    admin
        .batch_execute("SET default_transaction_read_only = off")
        .unwrap();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} SET default_transaction_read_only = off",
            db.name
        ))
        .unwrap();
    Orgexport::export(&db, &store, "acme").run();
    db.execute(&format!(
        "UPDATE orgexport.exports SET status = 'running';
         ALTER DATABASE {} SET default_transaction_read_only = on",
        db.name
    ));
    Orgexport::new()
        .current_dir(store.path())
        .args(["list", "--json"])
        .database(&db)
        .stdout_has("\"status\":\"running\"")
        .run();
}

#[test]
fn quiet_runs_keep_each_failure_reason_and_org_names_cannot_forge_log_lines() {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id int PRIMARY KEY, name text);
         CREATE TABLE notes (id serial PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, body text);
         INSERT INTO orgs VALUES (1, E'evil\\x1b[31m\\n2026-01-01T00:00:00Z orgexport: FORGED');
         INSERT INTO notes (org_id, body) VALUES (1, 'n');",
    );
    let store = TempDir::new();
    // The reason is kept under -q.
    Orgexport::export(&db, &store, "1")
        .args(["--org", "nope", "-q"])
        .code(3)
        .stderr_has("org \"nope\" not found")
        .run();
    // No raw ESC from the org's name, in the log or in the listing.
    let run = Orgexport::on(&db, &store, &["run", "--all-orgs"])
        .stderr_lacks("\u{1b}")
        .run();
    let list = Orgexport::new()
        .current_dir(store.path())
        .arg("list")
        .database(&db)
        .stdout_lacks("\u{1b}")
        .run();
    for text in [&run.stderr, &list.stdout] {
        assert!(
            !text
                .lines()
                .any(|l| l.contains("FORGED") && l.starts_with("2026-01-01")),
            "a forged log line: {text}"
        );
    }
}

#[test]
fn archives_in_the_old_lookup_layout_stay_usable_by_verify_link_and_prune() {
    let db = hostile_orgs();
    let store = TempDir::new();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "Acme Corporation").run());
    let id = archive.manifest["export_id"].as_str().unwrap().to_string();
    // Move it where the earlier layout put it: <org lookup>/<id>.json.gz, lookup as typed.
    let old_dir = store.path().join("Acme Corporation");
    std::fs::rename(store.path().join("acme-1"), &old_dir).unwrap();
    let old_url = url::Url::from_file_path(old_dir.join(format!("{id}.json.gz")))
        .unwrap()
        .to_string();
    assert!(old_url.contains("Acme%20Corporation"), "{old_url}");
    db.execute(&format!(
        "UPDATE orgexport.exports SET object_url = '{old_url}' WHERE id = '{id}'"
    ));
    for command in [vec!["verify", id.as_str()], vec!["link", id.as_str()]] {
        Orgexport::on(&db, &store, &command).run();
    }
    Orgexport::on(&db, &store, &["prune", "--keep", "0"]).run();
    assert!(store.files().is_empty(), "{:?}", store.files());
    assert_eq!(
        db.scalar_text(&format!(
            "SELECT status FROM orgexport.exports WHERE id = '{id}'"
        ))
        .unwrap(),
        "pruned"
    );
}

#[test]
fn a_killed_runs_partial_file_is_removed_by_the_next_run_and_archives_are_private() {
    let db = hostile_orgs();
    let store = TempDir::new();
    // A first export creates the history; then the state a run killed mid-upload leaves:
    // a `running` row whose process (and liveness lock) is gone, and a temporary file.
    Orgexport::export(&db, &store, "two").run();
    let dead = uuid::Uuid::now_v7();
    let partial = store
        .path()
        .join("acme-1")
        .join(format!("{dead}.json.gz#7"));
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, b"half an archive").unwrap();
    let url = url::Url::from_file_path(store.path().join("acme-1").join(format!("{dead}.json.gz")))
        .unwrap();
    db.execute(&format!(
        "INSERT INTO orgexport.exports (id, org_key, org_lookup, org_table, status, requested_by, host, object_url) \
         VALUES ('{dead}', '1', 'acme', 'public.orgs', 'running', 'x@y', 'y', '{url}')"
    ));
    Orgexport::export(&db, &store, "acme")
        .stderr_has("abandoned")
        .run();
    assert!(!partial.exists(), "the partial file is removed");
    assert_eq!(
        db.scalar_text(&format!(
            "SELECT status FROM orgexport.exports WHERE id = '{dead}'"
        ))
        .unwrap(),
        "failed"
    );
    use std::os::unix::fs::PermissionsExt;
    for file in store.files() {
        let mode = std::fs::metadata(store.path().join(&file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
}

#[test]
fn a_busy_lock_names_the_orgexport_process_and_host_that_hold_it() {
    let db = big_db();
    let store = TempDir::new();
    let first = Orgexport::export(&db, &store, "big").spawn();
    wait_for_copy(&db, "rows");
    let second = Orgexport::export(&db, &store, "big")
        .code(4)
        .one_error_line()
        .run();
    let host = db
        .scalar_text("SELECT host FROM orgexport.exports ORDER BY created_at LIMIT 1")
        .unwrap();
    second.assert_stderr_has(&format!("orgexport pid {} on {host}", first.id()));
    first.wait();
}

#[test]
fn ctrl_c_during_plan_cancels_its_query_server_side_and_exits_130() {
    let db = big_db();
    let store = TempDir::new();
    let mut ddl = db.client();
    ddl.batch_execute("BEGIN; LOCK TABLE rows IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let waiting = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                   AND application_name = 'orgexport' AND wait_event_type = 'Lock'";
    let child = Orgexport::on(&db, &store, &["plan", "--org", "small"]).spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.scalar_i64(waiting) == 0 {
        assert!(Instant::now() < deadline, "plan never waited for the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = Instant::now();
    child.signal("INT");
    child.code(130).wait();
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "{:?}",
        sent.elapsed()
    );
    // Its count was cancelled, not left queued behind the lock.
    let deadline = Instant::now() + Duration::from_secs(3);
    while db.scalar_i64(waiting) != 0 {
        assert!(
            Instant::now() < deadline,
            "the count still waits server-side"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    ddl.batch_execute("ROLLBACK").unwrap();
}

#[test]
fn without_a_terminal_a_long_section_says_how_far_it_got() {
    let db = big_db();
    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "big")
        // A tenth of a second: the section takes well under a second now (issue 21).
        .env("ORGEXPORT_HEARTBEAT_SECS", "0.1")
        // The section's own line.
        .stderr_has("public.rows: 120000 rows, ")
        .run();
    let beats: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("orgexport: … public.rows: ") && l.contains("rows so far"))
        .collect();
    assert!(!beats.is_empty(), "no heartbeat: {}", run.stderr);
    assert!(
        beats[0].contains("rows/s") && beats[0].contains("B/s"),
        "{}",
        beats[0]
    );
}
