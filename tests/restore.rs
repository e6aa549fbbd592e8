//! `orgexport restore`: round trips on every scope fixture (export → restore into an empty
//! copy of the schema → export again gives the same rows), relocation into a database whose
//! other orgs' integer keys collide (`--remap-keys`), and the faults that must leave the
//! target exactly as it was.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;

use serde_json::Value;
use support::{Archive, Expect, Orgexport, Running, TempDir, TestDb};

/// The example database's NOT NULL secrets, supplied on restore.
const SAAS_FILLS: &[&str] = &[
    "--fill",
    "public.users.password_hash='!'",
    "--fill",
    "public.api_keys.value=md5(random()::text)",
];

fn saas() -> TestDb {
    let db = TestDb::new();
    db.execute(include_str!("../examples/saas.sql"));
    db
}

/// Export `org`, restore it into an empty copy of the schema, export it again from there;
/// returns both archives and the restore's `--json` report.
fn round_trip(db: &TestDb, org: &str, extra: &[&str], fills: &[&str]) -> (Archive, Archive, Value) {
    let store = TempDir::new();
    let first = Orgexport::export(db, &store, org).args(extra).run();
    let original = Archive::from_run(&first);
    let target = db.schema_copy();
    let mut args = [extra, fills].concat();
    args.push("--json");
    let report = Orgexport::restore(&store, &Archive::path_from_run(&first), &target)
        .args(&args)
        .run()
        .json();
    let again = Archive::from_run(&Orgexport::export(&target, &store, org).args(extra).run());
    again.assert_well_formed();
    assert_eq!(again.section_order, original.section_order);
    (original, again, report)
}

fn assert_same_rows(original: &Archive, again: &Archive) {
    let (a, b) = (original.row_sets(), again.row_sets());
    for (name, rows) in &a {
        assert_eq!(rows.len(), b[name].len(), "{name}: row count");
        assert_eq!(rows, &b[name], "{name}: rows differ after the round trip");
    }
}

#[test]
fn example_database_round_trips_with_shared_rows_and_secrets_filled() {
    let db = saas();
    let (mut original, again, report) = round_trip(&db, "acme", &[], SAAS_FILLS);
    // A shared user's default org that is another org points outside the archive: it is
    // cleared (the other org does not exist in the target), and counted.
    let mut cleared = 0;
    for user in original.sections.get_mut("public.users").unwrap() {
        if user["default_org_id"] != 1 {
            user["default_org_id"] = Value::Null;
            cleared += 1;
        }
    }
    assert!(cleared > 0);
    assert_same_rows(&original, &again);
    let users = report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "public.users")
        .unwrap();
    assert_eq!(users["cleared"]["public.users.default_org_id"], cleared);
    assert_eq!(report["cleared"]["public.users.default_org_id"], cleared);
    let records: usize = original.sections.values().map(Vec::len).sum();
    assert_eq!(report["inserted"], records);
    assert_eq!(report["matched"], 0);
    assert_eq!(report["target_org_key"], "1");
}

#[test]
fn cyclic_and_self_referencing_schema_round_trips() {
    let db = TestDb::new();
    db.execute(include_str!("fixtures/cyclic.sql"));
    let (original, again, _) = round_trip(&db, "a", &[], &[]);
    assert_same_rows(&original, &again);
    assert_eq!(again.section("public.revs").len(), 2);
}

#[test]
fn partitioned_schema_round_trips() {
    let db = TestDb::new();
    db.execute(include_str!("fixtures/partitioned.sql"));
    let (original, again, _) = round_trip(&db, "a", &[], &[]);
    assert_same_rows(&original, &again);
    assert_eq!(again.section("public.events").len(), 200);
}

#[test]
fn rails_delegated_types_round_trip() {
    let db = TestDb::new();
    db.execute(include_str!("fixtures/delegated.sql"));
    let dir = TempDir::new();
    let config = dir.path().join("orgexport.toml");
    std::fs::write(
        &config,
        "tenant_columns = [\"family_id\"]\ninfer_references = true\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let (original, again, _) = round_trip(&db, "acme", &["--config", config], &[]);
    assert_same_rows(&original, &again);
    assert_eq!(again.section("public.depositories").len(), 1);
    assert_eq!(again.section("public.transfers").len(), 1);
}

#[test]
fn hostile_data_and_identifiers_round_trip_byte_exact() {
    let db = TestDb::new();
    db.execute(include_str!("fixtures/hostile.sql"));
    let org = "a'; DROP TABLE \"select\".\"$1 table\"; --";
    let (original, again, _) = round_trip(&db, org, &[], &[]);
    assert_same_rows(&original, &again);
    assert_eq!(again.section("select.$1 table").len(), 2);
}

#[test]
fn every_common_type_round_trips_on_both_rendering_paths() {
    let db = TestDb::new();
    db.execute(include_str!("fixtures/typed.sql"));
    for mode in ["client", "server"] {
        let config = TempDir::new();
        let file = config.path().join("orgexport.toml");
        std::fs::write(&file, format!("render = \"{mode}\"\n")).unwrap();
        let (original, again, _) = round_trip(&db, "a", &["--config", file.to_str().unwrap()], &[]);
        assert_same_rows(&original, &again);
        assert_eq!(again.section("public.typed").len(), 5, "{mode}");
    }
}

/// A copy of the example database whose five orgs are renamed: other orgs whose integer
/// keys (and shared users) are exactly the archive's.
fn shard_with_colliding_keys(db: &TestDb) -> TestDb {
    let shard = db.copy();
    shard.execute(
        "UPDATE orgs SET slug = slug || '-shard2'; \
         UPDATE billing.invoices SET number = 'S2-' || number;",
    );
    shard
}

#[test]
fn relocation_needs_remap_keys_and_then_rewrites_every_reference() {
    let db = saas();
    let store = TempDir::new();
    let path = Archive::path_from_run(&Orgexport::export(&db, &store, "acme").run());
    let original = Archive::read(&path);
    let shard = shard_with_colliding_keys(&db);
    let before = shard.digest();

    // Without --remap-keys: refused, the conflicting keys listed, nothing written.
    Orgexport::restore(&store, &path, &shard)
        .args(SAAS_FILLS)
        .code(1)
        .one_error_line()
        .stderr_has_all(&[
            "public.orgs (id): (1)",
            "public.projects (id): (",
            "--remap-keys",
        ])
        .run();
    assert_eq!(shard.digest(), before, "the target is unchanged");

    let mut args = SAAS_FILLS.to_vec();
    args.extend(["--remap-keys", "--json"]);
    let report = Orgexport::restore(&store, &path, &shard)
        .args(&args)
        .run()
        .json();
    let new_key = report["target_org_key"].as_str().unwrap().to_string();
    assert_ne!(new_key, "1");

    // The other orgs' rows are untouched: every row that is not the restore's own (by the
    // transaction id the audit event carries) is as it was.
    let xid = shard.scalar_text(
        "SELECT xmin::text FROM orgexport.audit_log WHERE action = 'restore.completed'",
    );
    let xid = xid.unwrap();
    let mut untouched = String::new();
    let mut client = shard.client();
    for line in before.lines() {
        let table = line.split(": ").next().unwrap();
        let row = client
            .query_one(
                &format!(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) \
                     FROM {table} t WHERE t.xmin::text <> '{xid}'"
                ),
                &[],
            )
            .unwrap();
        untouched.push_str(&format!(
            "{table}: {} {}\n",
            row.get::<_, i64>(0),
            row.get::<_, String>(1)
        ));
    }
    assert_eq!(untouched, before, "rows of the other orgs are unchanged");

    // Every reference of a restored row points at a restored row or at a shared row the
    // target already had (a matched `P` row).
    let foreign_keys: Vec<(String, String, String, String)> = client
        .query(
            "SELECT c.conrelid::regclass::text, a.attname::text, c.confrelid::regclass::text, \
                    fa.attname::text \
             FROM pg_constraint c \
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
             JOIN pg_attribute fa ON fa.attrelid = c.confrelid AND fa.attnum = c.confkey[1] \
             WHERE c.contype = 'f' AND cardinality(c.conkey) = 1 \
               AND c.connamespace::regnamespace::text <> 'orgexport'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    let shared = ["users", "ref.countries", "ref.plans"];
    for (table, column, target, target_column) in &foreign_keys {
        let dangling: i64 = client
            .query_one(
                &format!(
                    "SELECT count(*) FROM {table} s WHERE s.xmin::text = '{xid}' AND s.{column} IS NOT NULL \
                     AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.{target_column} = s.{column} \
                                     AND (t.xmin::text = '{xid}' OR {is_shared}))",
                    is_shared = shared.contains(&target.as_str())
                ),
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(dangling, 0, "{table}.{column} -> {target}");
    }

    // Exporting acme from the shard gives the original's rows once the integer keys are
    // mapped: fresh keys are handed out in the order of the old ones, so each table's map
    // pairs the sorted old keys with the sorted new ones.
    let again = Archive::from_run(&Orgexport::export(&shard, &store, "acme").run());
    assert_eq!(again.manifest["org"]["key"], new_key.as_str());
    let mut maps: HashMap<String, HashMap<i64, i64>> = HashMap::new();
    for section in report["sections"].as_array().unwrap() {
        if section["remapped"].as_u64().unwrap() == 0 {
            continue;
        }
        let name = section["name"].as_str().unwrap();
        let ids = |a: &Archive| {
            let mut ids: Vec<i64> = a
                .section(name)
                .iter()
                .map(|r| r["id"].as_i64().unwrap())
                .collect();
            ids.sort();
            ids
        };
        let map: HashMap<i64, i64> = ids(&original).into_iter().zip(ids(&again)).collect();
        assert!(
            map.iter().all(|(old, new)| old != new),
            "{name}: fresh keys"
        );
        // Short names as regclass::text prints them for the public schema.
        maps.insert(name.trim_start_matches("public.").to_string(), map);
    }
    let mut mapped = Archive::read(&path);
    for (name, rows) in mapped.sections.iter_mut() {
        let short = name.trim_start_matches("public.");
        // Matched shared rows are the shard's own and keep their references.
        if shared.contains(&short) {
            continue;
        }
        for row in rows.iter_mut() {
            if let Some(map) = maps.get(short) {
                let old = row["id"].as_i64().unwrap();
                row["id"] = map[&old].into();
            }
            for (table, column, target, _) in &foreign_keys {
                let (Some(map), true) = (maps.get(target.as_str()), table == short) else {
                    continue;
                };
                if let Some(old) = row[column.as_str()].as_i64()
                    && let Some(new) = map.get(&old)
                {
                    row[column.as_str()] = (*new).into();
                }
            }
        }
    }
    // The matched users are the shard's own, whose default orgs are the shard's orgs.
    assert_same_rows(&mapped, &again);
}

/// The example database's archive of acme and an empty copy of its schema.
fn saas_archive_and_empty_target() -> (TestDb, TempDir, PathBuf, TestDb) {
    let db = saas();
    let store = TempDir::new();
    let path = Archive::path_from_run(&Orgexport::export(&db, &store, "acme").run());
    let target = db.schema_copy();
    (db, store, path, target)
}

#[test]
fn truncated_and_bit_flipped_archives_are_refused_before_anything_is_written() {
    let (_db, store, path, target) = saas_archive_and_empty_target();
    let before = target.digest();
    let bytes = std::fs::read(&path).unwrap();
    let damaged = TempDir::new();
    let truncated = damaged.path().join("truncated.json.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    Orgexport::restore(&store, &truncated, &target)
        .args(SAAS_FILLS)
        .code(1)
        .one_error_line()
        .stderr_has_all(&["truncated", "unchanged"])
        .run();
    assert_eq!(target.digest(), before);

    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x10;
    let flipped_path = damaged.path().join("flipped.json.gz");
    std::fs::write(&flipped_path, &flipped).unwrap();
    Orgexport::restore(&store, &flipped_path, &target)
        .args(SAAS_FILLS)
        .code(1)
        .one_error_line()
        .stderr_has_all(&["not a sound archive", "unchanged"])
        .run();
    assert_eq!(target.digest(), before);

    // Beside its sidecar, an archive whose bytes changed is caught by the digest too.
    let sidecar = path.with_file_name(
        path.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .replace(".json.gz", ".manifest.json"),
    );
    let sidecar_json: Value = serde_json::from_slice(&std::fs::read(&sidecar).unwrap()).unwrap();
    assert!(sidecar_json["archive"]["sha256"].is_string());
    std::fs::write(&path, &flipped).unwrap();
    Orgexport::restore(&store, &path, &target)
        .args(SAAS_FILLS)
        .code(1)
        .one_error_line()
        .stderr_has("not a sound archive")
        .run();
    assert_eq!(target.digest(), before);
}

#[test]
fn a_target_missing_a_table_or_column_is_listed_before_anything_is_written() {
    let (_db, store, path, target) = saas_archive_and_empty_target();
    target.execute(
        "DROP TABLE public.task_labels; ALTER TABLE public.projects DROP COLUMN settings CASCADE;",
    );
    let before = target.digest();
    Orgexport::restore(&store, &path, &target)
        .args(SAAS_FILLS)
        .code(1)
        .one_error_line()
        .stderr_has_all(&[
            "table public.task_labels does not exist in the target",
            "column public.projects.settings does not exist in the target",
            "nothing was written",
        ])
        .run();
    assert_eq!(target.digest(), before);
}

#[test]
fn a_not_null_secret_column_is_reported_and_fill_supplies_it() {
    let (_db, store, path, target) = saas_archive_and_empty_target();
    let before = target.digest();
    Orgexport::restore(&store, &path, &target)
        .code(1)
        .one_error_line()
        .stderr_has_all(&[
            "column public.users.password_hash is NOT NULL without a default and was left out of the archive as a secret",
            "--fill public.users.password_hash=SQL",
            "public.api_keys.value",
        ])
        .run();
    assert_eq!(target.digest(), before);
    Orgexport::restore(&store, &path, &target)
        .args(["--fill", "public.users.email='x'"])
        .code(2)
        .one_error_line()
        .stderr_has("--fill public.users.email: the archive holds this column")
        .run();

    // A dry run does everything, reports the same, and writes nothing.
    let mut args = SAAS_FILLS.to_vec();
    args.push("--dry-run");
    Orgexport::restore(&store, &path, &target)
        .args(&args)
        .stderr_has("dry run: would restore org acme")
        .stderr_has("public.tasks: 300 inserted")
        .run();
    assert_eq!(target.digest(), before);

    let done = Orgexport::restore(&store, &path, &target)
        .args(SAAS_FILLS)
        .run();
    assert_eq!(done.last_stdout_line(), "1");
    assert_eq!(
        target.scalar_i64("SELECT count(*) FROM users WHERE password_hash = '!'"),
        132
    );
    // The audit event on the target names the source export.
    let audited = target.scalar_text(
        "SELECT details->>'records' FROM orgexport.audit_log WHERE action = 'restore.completed'",
    );
    assert_eq!(audited.as_deref(), Some("1501"));
    // Sequences are past the restored values: the next project gets a fresh id.
    let max: i64 = target.scalar_i64("SELECT max(id) FROM projects");
    let next: i64 =
        target.scalar_i64("INSERT INTO projects (org_id, name) VALUES (1, 'new') RETURNING id");
    assert!(next > max, "{next} > {max}");
}

#[test]
fn a_unique_violation_halfway_rolls_everything_back() {
    let (_db, store, path, target) = saas_archive_and_empty_target();
    // Another org's invoice holds the number of one of acme's: the invoices insert fails
    // after the orgs, projects and tasks went in.
    target.execute(
        "INSERT INTO orgs (id, slug, name) VALUES (999, 'other', 'Other'); \
         INSERT INTO billing.invoices (id, org_id, number, issued_on, total) \
         VALUES (99999, 999, 'INV-1005', '2025-01-01', 0);",
    );
    let before = target.digest();
    Orgexport::restore(&store, &path, &target)
        .args(SAAS_FILLS)
        .code(1)
        .one_error_line()
        .stderr_has_all(&[
            "duplicate key value violates unique constraint",
            "INV-1005",
            "unchanged",
        ])
        .run();
    assert_eq!(target.digest(), before);
}

/// Starts a restore that blocks on inserting into public.comments (another session holds
/// a SHARE lock: reads go on, inserts wait), and returns it with the restore's backend pid
/// once it waits there: mid-load, with earlier tables already inserted.
fn restore_blocked_mid_load() -> (TestDb, TempDir, Running, postgres::Client, i32, String) {
    let (_db, store, path, target) = saas_archive_and_empty_target();
    let before = target.digest();
    let mut blocker = target.client();
    blocker
        .batch_execute("BEGIN; LOCK TABLE public.comments IN SHARE MODE;")
        .unwrap();
    let child = Orgexport::restore(&store, &path, &target)
        .args(SAAS_FILLS)
        .spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let pid = loop {
        let found = target
            .client()
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'orgexport' AND wait_event_type = 'Lock' \
                 AND query LIKE '%INSERT INTO \"public\".\"comments\"%'",
                &[],
            )
            .unwrap();
        if let Some(row) = found {
            break row.get::<_, i32>(0);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the restore never reached comments"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    (target, store, child, blocker, pid, before)
}

#[test]
fn connection_killed_mid_load_exits_1_and_leaves_the_target_unchanged() {
    let (target, _store, child, mut blocker, pid, before) = restore_blocked_mid_load();
    target
        .client()
        .execute("SELECT pg_terminate_backend($1)", &[&pid])
        .unwrap();
    child
        .code(1)
        .one_error_line()
        .stderr_has_all(&["restore failed", "unchanged"])
        .wait();
    blocker.batch_execute("ROLLBACK").unwrap();
    assert_eq!(target.digest(), before);
}

#[test]
fn sigint_mid_load_exits_130_and_leaves_the_target_unchanged() {
    let (target, _store, child, mut blocker, _pid, before) = restore_blocked_mid_load();
    let started = std::time::Instant::now();
    child.signal("INT");
    child.code(130).stderr_has("interrupted").wait();
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // The cancelled statement released its wait: the blocker can end, and nothing stayed.
    blocker.batch_execute("ROLLBACK").unwrap();
    assert_eq!(target.digest(), before);
}

#[test]
fn restores_by_export_id_and_from_an_s3_url() {
    let db = saas();
    let s3 = support::S3Server::start();
    let cwd = TempDir::new();
    let with_s3 = |args: &[&str]| {
        Orgexport::new()
            .current_dir(cwd.path())
            .args(args)
            .envs(s3.env())
            .run()
    };
    let store = format!("s3://{}/nightly", support::S3_BUCKET);
    let run = with_s3(&[
        "run",
        "--org",
        "acme",
        "--json",
        "--database-url",
        &db.url,
        "--store",
        &store,
    ]);
    let out = run.json();
    let id = out["exports"][0]["export_id"].as_str().unwrap().to_string();
    let object_url = out["exports"][0]["object_url"]
        .as_str()
        .unwrap()
        .to_string();

    // By id: the archive is found through the source's history, checked against it.
    let target = db.schema_copy();
    let mut args = vec![
        "restore",
        id.as_str(),
        "--database-url",
        &db.url,
        "--store",
        &store,
    ];
    args.extend(["--target-url", &target.url, "--json"]);
    args.extend(SAAS_FILLS);
    let report = with_s3(&args).json();
    assert_eq!(report["export_id"], id.as_str());
    assert_eq!(target.scalar_i64("SELECT count(*) FROM tasks"), 300);

    // By URL, into another empty copy.
    let target = db.schema_copy();
    let mut args = vec!["restore", object_url.as_str(), "--target-url", &target.url];
    args.extend(SAAS_FILLS);
    with_s3(&args);
    assert_eq!(target.scalar_i64("SELECT count(*) FROM comments"), 500);
}

#[test]
fn a_restore_while_the_org_is_locked_on_the_target_exits_4() {
    let (_db, store, path, target) = saas_archive_and_empty_target();
    let before = target.digest();
    // The org's lock key, derived independently: sha256('orgexport:' || key), 8 bytes.
    let mut holder = target.client();
    holder
        .batch_execute(
            "SELECT pg_advisory_lock(('x' || substr(encode(sha256('orgexport:1'), 'hex'), 1, 16))::bit(64)::bigint)",
        )
        .unwrap();
    Orgexport::restore(&store, &path, &target)
        .args(SAAS_FILLS)
        .code(4)
        .one_error_line()
        .stderr_has("org acme is being exported or restored on the target")
        .run();
    assert_eq!(target.digest(), before);
}

#[test]
fn a_capped_archive_is_refused_unless_allow_partial() {
    let db = TestDb::new();
    db.execute(include_str!("fixtures/partitioned.sql"));
    let store = TempDir::new();
    let path = Archive::path_from_run(
        &Orgexport::export(&db, &store, "a")
            .args(["--max-rows-per-table", "5"])
            .run(),
    );
    let target = db.schema_copy();
    let before = target.digest();
    Orgexport::restore(&store, &path, &target)
        .code(2)
        .one_error_line()
        .stderr_has_all(&["capped", "public.events", "--allow-partial"])
        .run();
    assert_eq!(target.digest(), before);
    Orgexport::restore(&store, &path, &target)
        .arg("--allow-partial")
        .run();
    assert_eq!(target.scalar_i64("SELECT count(*) FROM events"), 5);
}

#[test]
fn a_reference_known_only_by_inference_never_makes_a_restore_stricter_than_the_target() {
    // notes.project_id has no foreign key; `infer_references` adopts it. One note points at a
    // project that exists nowhere: the source holds it, the target takes it, the restore
    // keeps the value and reports it as unresolved.
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE accounts (id bigint PRIMARY KEY, name text NOT NULL);
         CREATE TABLE projects (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts, name text);
         CREATE TABLE notes (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts,
                             project_id bigint, body text);
         INSERT INTO accounts VALUES (1, 'acme'), (2, 'globex');
         INSERT INTO projects VALUES (10, 1, 'p');
         INSERT INTO notes VALUES (100, 1, 10, 'fine'), (101, 1, 999, 'gone'), (102, 2, 10, 'other');",
    );
    let store = TempDir::new();
    let config = store.path().join("orgexport.toml");
    std::fs::write(&config, "infer_references = true\n").unwrap();
    let config = config.to_str().unwrap().to_string();
    let path = Archive::path_from_run(
        &Orgexport::export(&db, &store, "acme")
            .args(["--config", &config])
            .run(),
    );
    let target = db.schema_copy();
    let report = Orgexport::restore(&store, &path, &target)
        .args(["--config", &config, "--json"])
        .run()
        .json();
    assert_eq!(report["unresolved"]["public.notes.project_id"], 1);
    assert_eq!(report["cleared"], serde_json::json!({}));
    assert_eq!(
        target.scalar_i64("SELECT project_id FROM notes WHERE id = 101"),
        999,
        "kept as it was"
    );
}
