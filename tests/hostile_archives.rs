//! An archive is untrusted input (DESIGN §9). Each test forges what a red team forged — rows
//! attached to another org, a relabelled or re-keyed root, the tool's own tables, a giant
//! value, a duplicated section, a replaced archive with a regenerated sidecar — and asserts the
//! exit code, one error line naming the problem, and a target unchanged by digest. Beside
//! them, the shapes a restore must get right for real: relocation into a shard whose users are
//! other people, the same archive restored twice, undoing a deletion, a `pg_dump -s` clone of
//! a database that holds the tool's history, and a dry run that must not run `--fill` side
//! effects.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{Archive, Expect, Orgexport, TempDir, TestDb, read_doc, write_doc};

const FILLS: &[&str] = &["--fill-secrets=random"];

fn saas() -> TestDb {
    let db = TestDb::new();
    db.execute(include_str!("../examples/saas.sql"));
    db
}

fn restore(cwd: &TempDir, archive: &Path, target: &TestDb) -> Orgexport {
    Orgexport::restore(cwd, archive, target).args(FILLS)
}

/// An archive of acme, edited by `forge`.
fn forged(archive: &Path, dir: &TempDir, forge: impl FnOnce(&mut Value)) -> PathBuf {
    let mut doc = read_doc(archive);
    forge(&mut doc);
    write_doc(&doc, dir.path(), "forged.json.gz")
}

/// The example database, acme's archive, and a target holding every other org (acme deleted:
/// the database an accidental deletion leaves).
fn acme_deleted() -> (TestDb, TempDir, PathBuf, TestDb) {
    let db = saas();
    let store = TempDir::new();
    let path = Archive::path_from_run(&Orgexport::export(&db, &store, "acme").run());
    let target = db.copy();
    target.execute(
        "DELETE FROM billing.invoice_lines WHERE invoice_id IN (SELECT id FROM billing.invoices WHERE org_id = 1); \
         DELETE FROM billing.invoices WHERE org_id = 1; \
         DELETE FROM billing.subscriptions WHERE org_id = 1; \
         DELETE FROM task_labels WHERE label_id IN (SELECT id FROM labels WHERE org_id = 1) \
            OR task_id IN (SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.org_id = 1); \
         DELETE FROM comments WHERE task_id IN (SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.org_id = 1); \
         DELETE FROM tasks WHERE project_id IN (SELECT id FROM projects WHERE org_id = 1); \
         DELETE FROM projects WHERE org_id = 1; DELETE FROM labels WHERE org_id = 1; \
         DELETE FROM api_keys WHERE org_id = 1; DELETE FROM memberships WHERE org_id = 1; \
         UPDATE users SET default_org_id = NULL WHERE default_org_id = 1; \
         DELETE FROM orgs WHERE id = 1;",
    );
    (db, store, path, target)
}

fn section<'d>(doc: &'d mut Value, name: &str) -> &'d mut Vec<Value> {
    doc["sections"][name].as_array_mut().unwrap()
}

/// Runs the restore of a forged archive and asserts it is refused: exit 1, one line holding
/// `problem`, the target unchanged.
fn assert_refused(store: &TempDir, archive: &Path, target: &TestDb, problem: &str) {
    let before = target.digest();
    restore(store, archive, target)
        .code(1)
        .one_error_line()
        .stderr_has(problem)
        .stderr_has("nothing was written")
        .run();
    assert_eq!(target.digest(), before, "the target is unchanged");
}

#[test]
fn a_row_attached_to_another_org_is_refused() {
    let (_db, store, path, target) = acme_deleted();
    let archive = forged(&path, &store, |doc| {
        section(doc, "public.projects")[0]["org_id"] = json!(2);
    });
    assert_refused(
        &store,
        &archive,
        &target,
        "1 row(s) of public.projects belong to another org (org_id = 2)",
    );
}

#[test]
fn a_child_row_owned_by_another_orgs_row_is_refused() {
    let (db, store, path, target) = acme_deleted();
    let globex_task = db.scalar_i64(
        "SELECT min(t.id) FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.org_id = 2",
    );
    let archive = forged(&path, &store, |doc| {
        section(doc, "public.comments")[0]["task_id"] = json!(globex_task);
    });
    assert_refused(
        &store,
        &archive,
        &target,
        "1 row(s) of public.comments are owned by rows of another org",
    );
}

#[test]
fn a_root_relabelled_as_shared_or_swapped_for_another_orgs_is_refused() {
    let (db, store, path, target) = acme_deleted();
    let globex = db.json_rows("SELECT * FROM orgs WHERE id = 2").remove(0);
    let archive = forged(&path, &store, |doc| {
        doc["manifest"]["sections"][0]["scope"] =
            json!("referenced via public.x(y) -> public.orgs(id)");
        section(doc, "public.orgs")[0] = globex.clone();
    });
    assert_refused(
        &store,
        &archive,
        &target,
        "its root section public.orgs must hold exactly the org's row with key 1, but holds 1 row(s) (key 2)",
    );
}

#[test]
fn a_manifest_naming_another_orgs_key_is_refused() {
    let (_db, store, path, target) = acme_deleted();
    let archive = forged(&path, &store, |doc| {
        doc["manifest"]["org"]["key"] = json!("2");
    });
    assert_refused(
        &store,
        &archive,
        &target,
        "must hold exactly the org's row with key 2, but holds 1 row(s) (key 1)",
    );
}

#[test]
fn the_tools_own_tables_are_refused() {
    let (_db, store, path, target) = acme_deleted();
    // The target keeps its history (a copy of the source's): the forged rows would land in it.
    let archive = forged(&path, &store, |doc| {
        let sections = doc["manifest"]["sections"].as_array_mut().unwrap();
        sections.push(
            json!({"name": "orgexport.audit_log", "scope": "tenant column org_key",
            "record_count": 1, "columns": [{"name": "action"}, {"name": "actor"}]}),
        );
        doc["sections"]["orgexport.audit_log"] =
            json!([{"action": "export.pruned", "actor": "forged@host"}]);
    });
    assert_refused(
        &store,
        &archive,
        &target,
        "section orgexport.audit_log is not something orgexport exports from the target (the tool's own schema)",
    );
}

#[test]
fn duplicated_sections_are_refused_by_verify_and_restore() {
    let (_db, store, path, target) = acme_deleted();
    // A JSON object with the key twice: written by hand, serde would merge it.
    let doc = read_doc(&path);
    let labels = doc["sections"]["public.labels"].to_string();
    let mut text = serde_json::to_string(&doc).unwrap();
    let at = text.find("\"public.labels\":").unwrap();
    text.insert_str(at, &format!("\"public.labels\":{labels},"));
    let twice = store.path().join("twice.json.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&twice).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(text.as_bytes()).unwrap();
    gz.finish().unwrap();
    Orgexport::new()
        .current_dir(store.path())
        .arg("verify")
        .arg(&twice)
        .code(1)
        .stderr_has("section public.labels appears twice in the archive")
        .run();
    let before = target.digest();
    restore(&store, &twice, &target)
        .code(1)
        .one_error_line()
        .stderr_has("section public.labels appears twice in the archive")
        .run();
    assert_eq!(target.digest(), before);
}

#[test]
fn a_value_over_the_limit_is_refused_without_being_read_whole() {
    let (_db, store, path, target) = acme_deleted();
    let archive = forged(&path, &store, |doc| {
        section(doc, "public.projects")[0]["name"] = json!("x".repeat(64 << 20));
    });
    let before = target.digest();
    let run = Orgexport::new()
        .current_dir(store.path())
        .measure_memory()
        .arg("restore")
        .arg(&archive)
        .args(["--target-url", &target.url, "--max-value-bytes", "1MiB"])
        .args(FILLS)
        .code(1)
        .stderr_has("row 1 of section public.projects is larger than 1048576 bytes")
        .run();
    assert_eq!(target.digest(), before);
    let rss_kib = run.peak_rss_kib();
    assert!(
        rss_kib < 64 * 1024,
        "peak RSS {rss_kib} KiB for a refused 64 MiB value"
    );
}

#[test]
fn a_replaced_archive_is_refused_by_export_id_whatever_its_sidecar_says() {
    let db = saas();
    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "acme").run();
    let path = Archive::path_from_run(&run);
    let id = path
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(".json.gz")
        .to_string();
    // The archive replaced by an edited one, and its sidecar regenerated to match.
    let edited = forged(&path, &store, |doc| {
        section(doc, "public.projects")[0]["name"] = json!("edited");
    });
    std::fs::rename(&edited, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let sidecar_path = path.with_file_name(format!("{id}.manifest.json"));
    let mut sidecar: Value =
        serde_json::from_slice(&std::fs::read(&sidecar_path).unwrap()).unwrap();
    sidecar["archive"]["bytes"] = json!(bytes.len());
    sidecar["archive"]["sha256"] = json!(sha256_hex(&bytes));
    std::fs::write(&sidecar_path, serde_json::to_vec(&sidecar).unwrap()).unwrap();
    let target = db.schema_copy();
    let before = target.digest();
    Orgexport::new()
        .current_dir(store.path())
        .args([
            "restore",
            &id,
            "--database-url",
            &db.url,
            "--target-url",
            &target.url,
        ])
        .store(store.path())
        .args(FILLS)
        .code(1)
        .one_error_line()
        .stderr_has("the archive is not the one recorded")
        .run();
    assert_eq!(target.digest(), before);
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[test]
fn undoing_a_deletion_restores_the_org_and_matches_the_shared_rows() {
    let (db, store, path, target) = acme_deleted();
    let report = restore(&store, &path, &target).arg("--json").run().json();
    assert_eq!(report["target_org_key"], "1");
    // Every shared user is already there: matched, none inserted, nothing cleared (the
    // other orgs a user's default org names exist in the target).
    let users = report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "public.users")
        .unwrap();
    assert_eq!(users["inserted"], 0);
    assert_eq!(users["matched"], users["rows"]);
    assert_eq!(report["cleared"], json!({}));
    // acme's own rows are back exactly; a matched user keeps the target's row (its default
    // org was cleared by the deletion).
    let original = Archive::read(&path);
    let again = Archive::from_run(&Orgexport::export(&target, &store, "acme").run());
    for (name, rows) in &original.sections {
        if name == "public.users" {
            continue;
        }
        let mut a: Vec<String> = rows.iter().map(Value::to_string).collect();
        let mut b: Vec<String> = again.sections[name].iter().map(Value::to_string).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{name}");
    }
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM orgs"),
        target.scalar_i64("SELECT count(*) FROM orgs")
    );
}

#[test]
fn relocation_into_a_shard_of_strangers_matches_no_stranger_and_twice_gives_two_copies() {
    let db = saas();
    let store = TempDir::new();
    let path = Archive::path_from_run(&Orgexport::export(&db, &store, "acme").run());
    // Another shard: its users 1–n are other people, its orgs other orgs with the same keys.
    let shard = db.copy();
    shard.execute(
        "DROP SCHEMA orgexport CASCADE; \
         UPDATE users SET email = 'stranger' || id || '@elsewhere.test', full_name = 'Stranger ' || id; \
         UPDATE orgs SET slug = slug || '-s2', name = name || ' (shard 2)'; \
         UPDATE billing.invoices SET number = 'S2-' || number; \
         ALTER TABLE orgs DROP CONSTRAINT orgs_slug_key; \
         ALTER TABLE billing.invoices DROP CONSTRAINT invoices_number_key;",
    );
    let strangers = shard.digest_of("SELECT * FROM users ORDER BY id");
    let acme_emails = |db: &TestDb, key: &str| -> Vec<String> {
        let mut emails: Vec<String> = db
            .json_rows(&format!(
                "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = {key}"
            ))
            .iter()
            .map(|r| r["email"].as_str().unwrap().to_string())
            .collect();
        emails.sort();
        emails
    };
    let expected = acme_emails(&db, "1");
    assert!(!expected.is_empty());

    let first = restore(&store, &path, &shard)
        .args(["--remap-keys", "--json"])
        .run()
        .json();
    let second = restore(&store, &path, &shard)
        .args(["--remap-keys", "--json"])
        .run()
        .json();
    let (k1, k2) = (
        first["target_org_key"].as_str().unwrap().to_string(),
        second["target_org_key"].as_str().unwrap().to_string(),
    );
    assert_ne!(k1, "1");
    assert_ne!(k1, k2, "two restores are two orgs");
    // Every membership of each copy points at acme's people, none at a stranger.
    assert_eq!(acme_emails(&shard, &k1), expected);
    assert_eq!(acme_emails(&shard, &k2), expected);
    // The strangers are untouched; the second copy matched the users the first inserted.
    assert_eq!(
        shard.digest_of("SELECT * FROM users WHERE email LIKE 'stranger%' ORDER BY id"),
        strangers
    );
    assert!(second["inserted"].as_u64().unwrap() > 0);
    let users = |report: &Value| -> Value {
        report["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == "public.users")
            .unwrap()
            .clone()
    };
    assert_eq!(users(&first)["matched"], 0);
    assert_eq!(users(&second)["inserted"], 0);
    assert_eq!(users(&second)["matched"], users(&second)["rows"]);
    // The two copies hold disjoint rows of the org's tables.
    let projects = |key: &str| {
        shard.scalar_i64(&format!(
            "SELECT count(*) FROM projects WHERE org_id = {key}"
        ))
    };
    assert_eq!(projects(&k1), projects(&k2));
    assert_eq!(
        projects(&k1),
        db.scalar_i64("SELECT count(*) FROM projects WHERE org_id = 1")
    );
}

#[test]
fn a_schema_only_clone_holding_the_history_tables_takes_a_restore() {
    let db = saas();
    let store = TempDir::new();
    // The export creates the history schema in the source; `pg_dump -s` copies its tables
    // but not the row that says which version they are.
    let path = Archive::path_from_run(&Orgexport::export(&db, &store, "acme").run());
    let target = db.schema_copy_with_history();
    assert_eq!(
        target.scalar_i64("SELECT count(*) FROM orgexport.schema_version"),
        0
    );
    restore(&store, &path, &target).run();
    assert_eq!(
        target.scalar_i64(
            "SELECT count(*) FROM orgexport.audit_log WHERE action = 'restore.completed'"
        ),
        1
    );
    assert_eq!(
        target.scalar_i64("SELECT max(version)::bigint FROM orgexport.schema_version"),
        4,
        "the tables' own marks: version 3 has status deleted, version 4 the encryption column"
    );
}

#[test]
fn a_dry_run_refuses_a_fill_with_side_effects_and_moves_no_sequence() {
    let db = saas();
    let store = TempDir::new();
    let path = Archive::path_from_run(&Orgexport::export(&db, &store, "acme").run());
    let target = db.schema_copy();
    target.execute("CREATE SEQUENCE fill_seq");
    let before = target.digest();
    Orgexport::new()
        .current_dir(store.path())
        .arg("restore")
        .arg(&path)
        .args(["--target-url", &target.url, "--dry-run"])
        .args([
            "--fill",
            "public.users.password_hash=nextval('fill_seq')::text",
        ])
        .args(["--fill", "public.api_keys.value=gen_random_uuid()::text"])
        .code(2)
        .one_error_line()
        .stderr_has("--fill public.users.password_hash calls nextval()")
        .run();
    // A fill that does not parse is a usage error before anything is written.
    Orgexport::new()
        .current_dir(store.path())
        .arg("restore")
        .arg(&path)
        .args(["--target-url", &target.url, "--fill-secrets=random"])
        .args(["--fill", "public.users.password_hash=no_such_function()"])
        .code(2)
        .one_error_line()
        .stderr_has("--fill public.users.password_hash: function no_such_function() does not exist")
        .run();
    // The harmless ones run in a dry run, and the dry run moves no sequence.
    Orgexport::new()
        .current_dir(store.path())
        .arg("restore")
        .arg(&path)
        .args(["--target-url", &target.url, "--dry-run", "--remap-keys"])
        .args(["--fill", "*.password_hash=gen_random_uuid()::text"])
        .args(["--fill", "public.api_keys.value=md5(random()::text)"])
        .stderr_has("dry run: would restore org acme")
        .run();
    assert_eq!(target.digest(), before);
    assert_eq!(
        target.scalar_i64("SELECT last_value FROM projects_id_seq"),
        1,
        "a dry run draws no key from the target's sequences"
    );
}

#[test]
fn cleared_values_are_counted_only_on_rows_the_restore_writes() {
    let db = saas();
    let store = TempDir::new();
    let path = Archive::path_from_run(&Orgexport::export(&db, &store, "acme").run());
    let archive = Archive::read(&path);
    let users = &archive.sections["public.users"];
    let elsewhere = users
        .iter()
        .filter(|u| !u["default_org_id"].is_null() && u["default_org_id"] != 1)
        .count();
    assert!(elsewhere > 0, "some of acme's users default to another org");
    // The target already holds acme's users (no org of theirs): they are matched, so their
    // default orgs — absent from the target — are never written, and nothing is cleared.
    let target = db.schema_copy();
    target.execute(
        "INSERT INTO ref.countries VALUES ('US', 'United States'), ('DE', 'Germany'), \
         ('FR', 'France'), ('JP', 'Japan'), ('BR', 'Brazil'), ('IN', 'India'), ('SE', 'Sweden')",
    );
    let mut client = target.client();
    for user in users {
        client
            .execute(
                "INSERT INTO users (id, email, full_name, password_hash, country_code, created_at) \
                 SELECT id, email, full_name, 'x', country_code, created_at \
                 FROM json_populate_record(NULL::users, $1::text::json)",
                &[&user.to_string()],
            )
            .unwrap();
    }
    let report = restore(&store, &path, &target).arg("--json").run().json();
    let section = report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "public.users")
        .unwrap();
    assert_eq!(section["matched"], users.len());
    assert_eq!(section["inserted"], 0);
    assert_eq!(report["cleared"], json!({}));
}
