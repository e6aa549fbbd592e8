//! `orgexport run` end to end: the archive, its sidecar, the printed link, the history rows,
//! exit codes, secrets, and values of every common type arriving exactly.

mod support;

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{Archive, Expect, Orgexport, TempDir, TestDb};

const SECRET: &str = "SECRET-VALUE-must-not-leak";

fn small_db() -> TestDb {
    let db = TestDb::new();
    db.execute(&format!(
        "CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE, name text);
         CREATE TABLE users (id int PRIMARY KEY, email text, password_hash text, totp_secret text);
         CREATE TABLE memberships (org_id bigint NOT NULL REFERENCES orgs, user_id int NOT NULL REFERENCES users);
         CREATE TABLE api_keys (id int PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs, label text, value text, hash text);
         CREATE TABLE webhooks (id int PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs, url text, signing_secret text,
                                \"API_Token\" text);
         INSERT INTO orgs VALUES (1, 'acme', 'Acme'), (2, 'globex', 'Globex');
         INSERT INTO users VALUES (1, 'a@x', '{s}-1', '{s}-2'), (2, 'b@x', '{s}-3', '{s}-4');
         INSERT INTO memberships VALUES (1, 1), (2, 2);
         INSERT INTO api_keys VALUES (1, 1, 'ci', '{s}-5', '{s}-6');
         INSERT INTO webhooks VALUES (1, 1, 'https://hooks.example/x', '{s}-7', '{s}-8');",
        s = SECRET
    ));
    db
}

fn history_row(db: &TestDb, id: &str) -> postgres::Row {
    db.client()
        .query_one(
            "SELECT status, org_key, org_lookup, object_url, bytes, sha256, record_count, manifest::text, error,
                    started_at IS NOT NULL, finished_at IS NOT NULL, requested_by, host
             FROM orgexport.exports WHERE id = $1::text::uuid",
            &[&id],
        )
        .unwrap()
}

fn audit_actions(db: &TestDb, id: &str) -> Vec<String> {
    db.client()
        .query(
            "SELECT action FROM orgexport.audit_log WHERE export_id = $1::text::uuid ORDER BY id",
            &[&id],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[test]
fn run_writes_archive_and_sidecar_prints_link_and_records_history() {
    let db = small_db();
    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "acme")
        .stderr_has("exported org acme")
        .run();
    let archive = Archive::from_run(&run);
    archive.assert_well_formed();
    let id = archive.manifest["export_id"].as_str().unwrap().to_string();

    // Store layout: <slug>-<key>/<id>.json.gz and the sidecar, nothing else (no temp files).
    assert_eq!(
        store.files(),
        vec![
            format!("acme-1/{id}.json.gz"),
            format!("acme-1/{id}.manifest.json")
        ]
    );
    let link = run.last_stdout_line();
    let archive_path = store.path().join(format!("acme-1/{id}.json.gz"));
    assert_eq!(
        link,
        url::Url::from_file_path(&archive_path).unwrap().as_str()
    );

    // Manifest fields.
    let m = &archive.manifest;
    assert_eq!(m["org"]["table"], "public.orgs");
    assert_eq!(m["org"]["key"], "1");
    assert_eq!(m["org"]["lookup"], "acme");
    for field in [
        "generated_at",
        "snapshot_at",
        "server_version",
        "tool_version",
    ] {
        assert!(
            m[field].as_str().is_some_and(|s| !s.is_empty()),
            "manifest.{field}"
        );
    }
    let server_version =
        db.scalar_text("SELECT split_part(current_setting('server_version'), ' ', 1)");
    assert_eq!(m["server_version"].as_str(), server_version.as_deref());
    let orgs = archive.manifest_section("public.orgs");
    assert_eq!(orgs["scope"], "root row (id = org key)");
    assert_eq!(orgs["capped"], false);
    assert_eq!(
        orgs["columns"][0],
        serde_json::json!({"name": "id", "type": "bigint"})
    );

    // Sidecar: the manifest plus the archive's byte size and SHA-256.
    let bytes = std::fs::read(&archive_path).unwrap();
    let sidecar: Value = serde_json::from_slice(
        &std::fs::read(store.path().join(format!("acme-1/{id}.manifest.json"))).unwrap(),
    )
    .unwrap();
    let sha = hex::encode(Sha256::digest(&bytes));
    assert_eq!(
        sidecar["archive"]["bytes"].as_u64(),
        Some(bytes.len() as u64)
    );
    assert_eq!(sidecar["archive"]["sha256"].as_str(), Some(sha.as_str()));
    assert_eq!(sidecar["export_id"], m["export_id"]);
    assert_eq!(sidecar["sections"], m["sections"]);

    // History: completed with counts, size, digest, URL and manifest; audit trail.
    let row = history_row(&db, &id);
    assert_eq!(row.get::<_, String>(0), "completed");
    assert_eq!(row.get::<_, String>(1), "1");
    assert_eq!(row.get::<_, String>(2), "acme");
    assert_eq!(row.get::<_, Option<String>>(3).as_deref(), Some(link));
    assert_eq!(row.get::<_, Option<i64>>(4), Some(bytes.len() as i64));
    assert_eq!(row.get::<_, Option<String>>(5), Some(sha));
    let total: usize = archive.sections.values().map(Vec::len).sum();
    assert_eq!(row.get::<_, Option<i64>>(6), Some(total as i64));
    let manifest: Value = serde_json::from_str(&row.get::<_, String>(7)).unwrap();
    assert_eq!(manifest["export_id"], m["export_id"]);
    assert!(
        row.get::<_, bool>(9) && row.get::<_, bool>(10),
        "started_at and finished_at set"
    );
    assert!(
        row.get::<_, String>(11).contains('@'),
        "requested_by is user@host"
    );
    assert_eq!(
        audit_actions(&db, &id),
        vec!["export.requested", "export.completed"]
    );
}

#[test]
fn secret_columns_are_excluded_listed_and_never_leak() {
    let db = small_db();
    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "acme")
        .arg("-v")
        .output_lacks(SECRET)
        .run();
    let archive = Archive::from_run(&run);
    let excluded = |name: &str| -> Vec<String> {
        archive.manifest_section(name)["excluded_columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        excluded("public.users"),
        vec!["password_hash", "totp_secret"]
    );
    assert_eq!(excluded("public.api_keys"), vec!["value", "hash"]);
    assert_eq!(
        excluded("public.webhooks"),
        vec!["signing_secret", "API_Token"]
    );
    assert_eq!(excluded("public.orgs"), Vec::<String>::new());
    archive.assert_section_equals(
        &db,
        "public.api_keys",
        "SELECT id, org_id, label FROM api_keys WHERE org_id = 1",
    );
    archive.assert_section_equals(
        &db,
        "public.users",
        "SELECT id, email FROM users WHERE id = 1",
    );

    assert!(
        !archive.text.contains(SECRET),
        "a secret value is in the archive"
    );
    let sidecars: String = store
        .files()
        .iter()
        .filter(|f| f.ends_with(".manifest.json"))
        .map(|f| std::fs::read_to_string(store.path().join(f)).unwrap())
        .collect();
    assert!(!sidecars.contains(SECRET));
    let history = db.scalar_text("SELECT string_agg(e::text, ' ') FROM orgexport.exports e");
    let audit = db.scalar_text("SELECT string_agg(a::text, ' ') FROM orgexport.audit_log a");
    assert!(!history.unwrap().contains(SECRET) && !audit.unwrap().contains(SECRET));
}

#[test]
fn org_is_found_by_primary_key_slug_or_name() {
    let db = small_db();
    let store = TempDir::new();
    for lookup in ["2", "globex", "Globex"] {
        let archive = Archive::from_run(&Orgexport::export(&db, &store, lookup).run());
        assert_eq!(archive.manifest["org"]["key"], "2", "lookup {lookup}");
        assert_eq!(archive.manifest["org"]["lookup"], lookup);
    }
}

#[test]
fn unknown_org_exits_3_and_writes_nothing() {
    let db = small_db();
    let store = TempDir::new();
    // "99999999999999999999" does not fit a bigint: no match, not an error
    for lookup in ["nope", "99999999999999999999", "42"] {
        Orgexport::export(&db, &store, lookup)
            .code(3)
            .stderr_has("not found")
            .one_error_line()
            .stdout_is("")
            .run();
    }
    assert!(store.files().is_empty(), "{:?}", store.files());
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM orgexport.exports WHERE status <> 'failed'"),
        0
    );
}

#[test]
fn json_output_is_one_object_on_stdout() {
    let db = small_db();
    let store = TempDir::new();
    let out = Orgexport::export(&db, &store, "acme")
        .arg("--json")
        .run()
        .json();
    let export = &out["exports"][0];
    assert_eq!(export["status"], "completed");
    assert_eq!(export["org"], "acme");
    assert_eq!(export["sections"], 5);
    assert!(export["link"].as_str().unwrap().starts_with("file://"));
    assert!(export["sha256"].as_str().unwrap().len() == 64);

    let out = Orgexport::export(&db, &store, "nope")
        .arg("--json")
        .code(3)
        .run()
        .json();
    assert_eq!(out["error"]["code"], "org_not_found");
}

#[test]
fn unreachable_database_exits_5_without_the_password() {
    let store = TempDir::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Orgexport::new()
        .current_dir(store.path())
        .args(["run", "--org", "acme"])
        .store(store.path())
        .env(
            "DATABASE_URL",
            format!("postgres://app:hunter2@127.0.0.1:{port}/saas"),
        )
        .code(5)
        .stderr_has(format!("host=127.0.0.1 port={port} user=app dbname=saas"))
        .stderr_lacks("hunter2")
        .one_error_line()
        .run();
}

#[test]
fn pg_environment_variables_are_used_when_no_url_is_given() {
    let db = small_db();
    let store = TempDir::new();
    let run = Orgexport::new()
        .current_dir(store.path())
        .args(["run", "--org", "acme"])
        .store(store.path())
        .env("PGHOST", "127.0.0.1")
        .env("PGPORT", db.port.to_string())
        .env("PGUSER", "postgres")
        .env("PGDATABASE", &db.name)
        .run();
    let archive = Archive::from_run(&run);
    assert_eq!(archive.manifest["org"]["key"], "1");
}

/// Takes org 1's advisory lock from another session, computing the key independently in SQL
/// (first 8 bytes of sha256('orgexport:' || org key)), which pins the derivation.
fn hold_org_lock(db: &TestDb, application: &str) -> (postgres::Client, i32) {
    let mut holder = db.client();
    holder
        .batch_execute(&format!("SET application_name = '{application}'"))
        .unwrap();
    holder
        .batch_execute(
            "SELECT pg_advisory_lock(('x' || substr(encode(sha256('orgexport:1'), 'hex'), 1, 16))::bit(64)::bigint)",
        )
        .unwrap();
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .unwrap()
        .get(0);
    (holder, pid)
}

#[test]
fn wait_queues_behind_the_lock_then_exports_with_application_name_orgexport() {
    let db = small_db();
    let store = TempDir::new();
    let (holder, _) = hold_org_lock(&db, "someone-else");
    let child = Orgexport::export(&db, &store, "acme")
        .arg("--wait=60s")
        .spawn();
    // While it queues, its sessions are visible under application_name orgexport and its
    // history row is pending.
    let mut waiting = false;
    for _ in 0..100 {
        let sessions = db.scalar_i64(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'orgexport'",
        );
        let pending = db.scalar_i64(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'orgexport' AND tablename = 'exports'",
        ) == 1
            && db.scalar_i64("SELECT count(*) FROM orgexport.exports WHERE status = 'pending'") == 1;
        if sessions >= 1 && pending {
            waiting = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(waiting, "the run did not queue behind the lock");
    drop(holder);
    child.wait();
    assert_eq!(
        db.scalar_text("SELECT status FROM orgexport.exports")
            .as_deref(),
        Some("completed")
    );
}

#[test]
fn wait_gives_up_after_its_limit_with_exit_4() {
    let db = small_db();
    let store = TempDir::new();
    let (_holder, pid) = hold_org_lock(&db, "long-export");
    let started = std::time::Instant::now();
    Orgexport::export(&db, &store, "acme")
        .arg("--wait=1s")
        .code(4)
        .stderr_has(format!("pid {pid}"))
        .run();
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert!(store.files().is_empty());
}

#[test]
fn lock_held_elsewhere_exits_4_naming_the_holder() {
    let db = small_db();
    let store = TempDir::new();
    let (holder, pid) = hold_org_lock(&db, "nightly-export-on-bastion");
    Orgexport::export(&db, &store, "acme")
        .code(4)
        .stderr_has(format!("pid {pid}"))
        .stderr_has("nightly-export-on-bastion")
        .run();
    assert!(store.files().is_empty());
    assert_eq!(
        db.scalar_text("SELECT status FROM orgexport.exports")
            .as_deref(),
        Some("failed")
    );
    // Another org is not blocked by this org's lock.
    Orgexport::export(&db, &store, "globex").run();
    drop(holder);
    Orgexport::export(&db, &store, "acme").run();
}

const TYPED_TABLE: &str = include_str!("fixtures/typed.sql");

#[test]
fn values_of_every_common_type_arrive_exactly_on_both_rendering_paths() {
    let db = TestDb::new();
    db.execute(TYPED_TABLE);
    let mut by_mode = Vec::new();
    for mode in ["client", "server"] {
        let store = TempDir::new();
        std::fs::write(
            store.path().join("orgexport.toml"),
            format!("render = \"{mode}\"\n"),
        )
        .unwrap();
        let archive = Archive::from_run(&Orgexport::export(&db, &store, "a").run());
        archive.assert_well_formed();
        // PostgreSQL's own rendering (to_json semantics) for every column.
        archive.assert_section_equals(&db, "public.typed", "SELECT * FROM typed");
        let mut rows: Vec<String> = archive
            .section("public.typed")
            .iter()
            .map(|v| v.to_string())
            .collect();
        rows.sort();
        by_mode.push((rows, archive));
    }
    assert_eq!(
        by_mode[0].0, by_mode[1].0,
        "client and server rendering give equal JSON"
    );
    for (_, archive) in &by_mode {
        let rows = archive.section("public.typed");
        let first = rows
            .iter()
            .find(|r| r["c_bigint"].as_i64() == Some(i64::MAX))
            .unwrap();
        assert_eq!(
            first["c_text"].as_str().unwrap(),
            "quote \" backslash \\ newline \n tab \t cr \r bell \u{7} \u{1f} é 😀 \u{2028}"
        );
        assert_eq!(
            first["c_numeric"].to_string(),
            "12345678901234567890.123456789012345678901"
        );
        assert_eq!(first["c_numeric_scaled"].to_string(), "1.1000");
        assert_eq!(first["c_bytea"], "\\x00ff10");
        assert_eq!(first["c_mood"], "it's complicated");
        assert_eq!(first["c_timestamptz"], "2026-11-22T09:00:00.123456+00:00");
        assert_eq!(
            first["c_json"].to_string(),
            r#"{"keep":"whitespace","dup":2}"#
        );
        // The raw archive text keeps json exactly as stored, duplicate keys and all.
        assert!(
            archive
                .text
                .contains(r#"{"keep":  "whitespace" , "dup": 1, "dup": 2}"#)
        );
        let second = rows
            .iter()
            .find(|r| r["c_bigint"].as_i64() == Some(i64::MIN))
            .unwrap();
        assert_eq!(second["c_numeric"], "NaN");
        assert_eq!(second["c_float8"], "Infinity");
        assert_eq!(second["c_float4"], "-Infinity");
        assert_eq!(second["c_timestamptz"], "-infinity");
        let third = rows
            .iter()
            .find(|r| r["c_bigint"].as_i64() == Some(0))
            .unwrap();
        assert_eq!(third["c_date"], "0001-01-01 BC");
    }
}

#[test]
fn values_larger_than_a_chunk_are_streamed_byte_exact_on_both_paths() {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);
         CREATE TABLE blobs (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs,
                             b bytea, t text, j json, jb jsonb, n int);
         INSERT INTO orgs VALUES (1, 'acme');
         INSERT INTO blobs SELECT 1, 1,
             (SELECT string_agg(decode(md5(g::text), 'hex'), '') FROM generate_series(1, 200000) g),
             repeat(E'quote\" back\\\\ nl\\n tab\\t é ', 150000),
             (SELECT json_agg(g) FROM generate_series(1, 300000) g),
             (SELECT jsonb_agg(g::text) FROM generate_series(1, 300000) g),
             7;
         INSERT INTO blobs VALUES (2, 1, '\\x00ff', 'small', '[1]', '{\"a\": 1}', 8);",
    );
    let store = TempDir::new();
    for render in ["client", "server"] {
        let config = store.path().join(format!("{render}.toml"));
        std::fs::write(&config, format!("render = \"{render}\"\n")).unwrap();
        let run = Orgexport::export(&db, &store, "acme")
            .arg("--config")
            .arg(&config)
            .run();
        let archive = Archive::from_run(&run);
        archive.assert_well_formed();
        archive.assert_section_equals(&db, "public.blobs", "SELECT * FROM blobs WHERE org_id = 1");
    }
}

#[test]
fn pgappname_names_the_sessions_in_pg_stat_activity() {
    let db = small_db();
    let store = TempDir::new();
    let (holder, _) = hold_org_lock(&db, "someone-else");
    let child = Orgexport::export(&db, &store, "acme")
        .arg("--wait=60s")
        .env("PGAPPNAME", "nightly-export")
        .spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while db.scalar_i64(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'nightly-export'",
    ) < 2
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no sessions named nightly-export"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(holder);
    child.wait();
}
