//! The direct load (issue 19 item 8): a restore into tables that are all empty, of an
//! archive that needs no matching, remapping or filling, inserts the batches straight into
//! the target's tables and checks the inserted rows. These tests prove it is taken then and
//! only then (`--json`'s `load`), that it restores the same rows as the source holds
//! (identity columns, a deferrable self reference, sequences moved on), and that a hostile
//! archive the inserts alone would take is still refused by the checks on the inserted rows:
//! exit 1, one line, the target unchanged by digest.

mod support;

use std::path::{Path, PathBuf};

use serde_json::json;
use support::{Archive, Expect, Orgexport, TempDir, TestDb, read_doc, write_doc};

/// Two orgs; events with an identity key and a deferrable self reference; notes owned by
/// events (non-deferrable foreign keys, as most schemas declare them).
const SCHEMA: &str = "
CREATE TABLE orgs (id bigserial PRIMARY KEY, slug text NOT NULL UNIQUE, name text NOT NULL);
CREATE TABLE events (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id    bigint NOT NULL REFERENCES orgs,
    parent_id bigint REFERENCES events DEFERRABLE INITIALLY IMMEDIATE,
    kind      text NOT NULL,
    payload   jsonb NOT NULL
);
CREATE TABLE event_notes (
    id       bigserial PRIMARY KEY,
    event_id bigint NOT NULL REFERENCES events,
    note     text NOT NULL,
    -- A secret (never archived), NULL in the source: `--fill` may set it.
    api_token text
);
INSERT INTO orgs (slug, name) VALUES ('acme', 'Acme'), ('globex', 'Globex');
SET CONSTRAINTS ALL DEFERRED;
INSERT INTO events (org_id, parent_id, kind, payload)
SELECT 1 + i % 2, CASE WHEN i > 2 THEN i + 2 END, 'k' || i,
       jsonb_build_object('i', i, 'marker', CASE WHEN i % 2 = 1 THEN 'GLOBEX-ONLY' END)
FROM generate_series(1, 400) i;
UPDATE events SET parent_id = NULL WHERE parent_id > 400;
INSERT INTO event_notes (event_id, note)
SELECT e.id, 'note ' || e.id || ' ' || n FROM events e, generate_series(1, 3) n;
";

fn source() -> TestDb {
    let db = TestDb::new();
    db.execute(&format!("BEGIN; {SCHEMA} COMMIT;"));
    db
}

/// acme's rows, by independent SQL, as text.
const ACME_ROWS: &str = "SELECT 'o', to_jsonb(o)::text FROM orgs o WHERE id = 1 \
    UNION ALL SELECT 'e', to_jsonb(e)::text FROM events e WHERE org_id = 1 \
    UNION ALL SELECT 'n', to_jsonb(n)::text FROM event_notes n \
        JOIN events e ON e.id = n.event_id WHERE e.org_id = 1";

fn exported(db: &TestDb) -> (TempDir, PathBuf) {
    let store = TempDir::new();
    let path = Archive::path_from_run(&Orgexport::export(db, &store, "acme").run());
    (store, path)
}

#[test]
fn an_empty_target_is_loaded_directly_with_the_sources_rows() {
    let db = source();
    let (store, archive) = exported(&db);
    let target = db.schema_copy();
    let report = Orgexport::restore(&store, &archive, &target)
        .arg("--json")
        .run()
        .json();
    assert_eq!(report["load"], "direct", "{report}");
    assert_eq!(report["inserted"], json!(1 + 200 + 600), "{report}");
    assert_eq!(target.digest_of(ACME_ROWS), db.digest_of(ACME_ROWS));
    assert_eq!(
        target.scalar_i64("SELECT count(*) FROM events WHERE payload::text LIKE '%GLOBEX-ONLY%'"),
        0
    );
    // The sequences moved past the restored keys: the application's next rows go in.
    target.execute(
        "INSERT INTO orgs (slug, name) VALUES ('next', 'Next'); \
         INSERT INTO events (org_id, kind, payload) VALUES (1, 'next', '{}'); \
         INSERT INTO event_notes (event_id, note) SELECT max(id), 'next' FROM events",
    );
    let audit = target.scalar_text(
        "SELECT details->>'direct' FROM orgexport.audit_log WHERE action = 'restore.completed'",
    );
    assert_eq!(audit.as_deref(), Some("true"));
}

#[test]
fn matching_remapping_or_a_target_holding_rows_loads_through_staging_tables() {
    let db = source();
    let (store, archive) = exported(&db);

    // Another org's rows in the target: its tables are not empty.
    let others = db.copy();
    others.execute(
        "DELETE FROM event_notes WHERE event_id IN (SELECT id FROM events WHERE org_id = 1); \
         UPDATE events SET parent_id = NULL WHERE org_id = 1; \
         DELETE FROM events WHERE org_id = 1; DELETE FROM orgs WHERE id = 1",
    );
    let before = others.digest_of("SELECT to_jsonb(e)::text FROM events e WHERE org_id = 2");
    let report = Orgexport::restore(&store, &archive, &others)
        .arg("--json")
        .run()
        .json();
    assert_eq!(report["load"], "staged", "{report}");
    assert_eq!(report["inserted"], json!(801), "{report}");
    assert_eq!(
        others.digest_of("SELECT to_jsonb(e)::text FROM events e WHERE org_id = 2"),
        before
    );

    // Fresh keys are a rewrite of every row.
    let empty = db.schema_copy();
    let report = Orgexport::restore(&store, &archive, &empty)
        .args(["--remap-keys", "--json"])
        .run()
        .json();
    assert_eq!(report["load"], "staged", "{report}");
    assert!(report["remapped"].as_u64().unwrap() > 0, "{report}");

    // So is a --fill.
    let empty = db.schema_copy();
    let report = Orgexport::restore(&store, &archive, &empty)
        .args(["--fill", "public.event_notes.api_token=md5(note)", "--json"])
        .run()
        .json();
    assert_eq!(report["load"], "staged", "{report}");
    assert_eq!(
        empty.scalar_i64("SELECT count(*) FROM event_notes WHERE api_token = md5(note)"),
        600
    );
}

/// An archive of acme that also carries globex's org row (its count raised to match) and
/// gives one event to globex: every insert and foreign key holds in an empty target; only the
/// checks on the inserted rows can see that rows of another org came along.
fn carrying_another_org(db: &TestDb, archive: &Path, dir: &TempDir) -> PathBuf {
    let mut doc = read_doc(archive);
    let globex = db.json_rows("SELECT * FROM orgs WHERE id = 2").remove(0);
    doc["sections"]["public.orgs"]
        .as_array_mut()
        .unwrap()
        .push(globex);
    for section in doc["manifest"]["sections"].as_array_mut().unwrap() {
        if section["name"] == "public.orgs" {
            section["record_count"] = json!(2);
        }
    }
    doc["sections"]["public.events"][0]["org_id"] = json!(2);
    write_doc(&doc, dir.path(), "forged.json.gz")
}

#[test]
fn rows_of_another_org_are_refused_by_the_checks_on_the_inserted_rows() {
    let db = source();
    let (store, archive) = exported(&db);
    let forged = carrying_another_org(&db, &archive, &store);
    let target = db.schema_copy();
    let before = target.digest();
    let problem = "its root section public.orgs must hold exactly the org's row with key 1, but holds 2 row(s)";
    Orgexport::restore(&store, &forged, &target)
        .code(1)
        .one_error_line()
        .stderr_has(problem)
        .stderr_has("nothing was written")
        .run();
    assert_eq!(target.digest(), before, "the target is unchanged");

    // The direct load took every row, and its check on them is what refused the archive.
    Orgexport::restore(&store, &forged, &target)
        .arg("--verbose")
        .code(1)
        .stderr_has(format!(
            "the direct load did not go through (restore failed; the target is unchanged (rolled back): the archive cannot be restored: {problem}"
        ))
        .stderr_has("LOCK TABLE \"public\".\"orgs\"")
        .run();
    assert_eq!(target.digest(), before, "the target is unchanged");
}

#[test]
fn a_direct_load_refused_by_a_foreign_key_reads_as_the_staged_refusal() {
    let db = source();
    let (store, archive) = exported(&db);
    // A note owned by globex's event: the insert's foreign key stops the direct load (no
    // such event in the empty target); the staged load names the problem.
    let globex_event = db.scalar_i64("SELECT min(id) FROM events WHERE org_id = 2");
    let mut doc = read_doc(&archive);
    doc["sections"]["public.event_notes"][0]["event_id"] = json!(globex_event);
    let forged = write_doc(&doc, store.path(), "forged.json.gz");
    let target = db.schema_copy();
    let before = target.digest();
    Orgexport::restore(&store, &forged, &target)
        .code(1)
        .one_error_line()
        .stderr_has("1 row(s) of public.event_notes are owned by no row of the archive")
        .run();
    assert_eq!(target.digest(), before, "the target is unchanged");
}

/// Every row of the typed fixture's tables, each as its columns' output text, hashed: equal
/// digests mean every value came back identical (what psql's `COPY` of the source would load).
const TYPED_ROWS: &str = "SELECT 'o', md5(o::text) FROM (SELECT * FROM orgs ORDER BY id) o \
    UNION ALL SELECT 't', md5(t::text) FROM (SELECT * FROM typed ORDER BY id) t \
    UNION ALL SELECT 'c', md5(c::text) FROM (SELECT * FROM composed ORDER BY id) c";

#[test]
fn every_type_of_the_typed_fixture_is_copied_back_identical() {
    let db = TestDb::new();
    db.execute(include_str!("fixtures/typed.sql"));
    // Beyond the fixture: a json string whose escapes json_populate_recordset would rewrite,
    // array elements COPY and array syntax would both misread unescaped, and a table with a
    // composite column (no COPY for it: it keeps json_populate_recordset).
    db.execute(
        r#"INSERT INTO typed (org_id, c_json, c_jsonb, c_text, c_text_array, c_2d_array) VALUES
           (1, '"tab\t and \u00e9 \\ \/"', '{"a\\b": "\u00e9\n"}', E'\\N', ARRAY['x\y', 'a,b', '{}', '', 'NULL', NULL, E'tab\there', ' sp ', 'q"uote'], '{{1,NULL},{3,4}}');
           CREATE TYPE pair AS (a int, b text);
           CREATE TABLE composed (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, p pair, tags text[]);
           INSERT INTO composed VALUES (1, 1, ROW(1, 'x\y"z'), '{a,b}'), (2, 1, NULL, NULL);"#,
    );
    // The one value no restore can give back: the archive writes a json/jsonb column's JSON
    // `null` as it writes SQL NULL (`to_json`), and both read back as SQL NULL.
    let expected = db.copy();
    expected.execute(
        "UPDATE typed SET c_json = NULL WHERE c_json::text = 'null'; \
         UPDATE typed SET c_jsonb = NULL WHERE c_jsonb = 'null'::jsonb",
    );
    assert_eq!(
        expected.scalar_i64("SELECT count(*) FROM typed WHERE c_json IS NULL"),
        db.scalar_i64("SELECT count(*) FROM typed WHERE c_json IS NULL") + 1
    );
    for mode in ["client", "server"] {
        let store = TempDir::new();
        let config = store.path().join("orgexport.toml");
        std::fs::write(&config, format!("render = \"{mode}\"\n")).unwrap();
        let run = Orgexport::export(&db, &store, "a")
            .args(["--config", config.to_str().unwrap()])
            .run();
        let archive = Archive::path_from_run(&run);
        let target = db.schema_copy();
        let loaded = Orgexport::restore(&store, &archive, &target)
            .args(["--json", "--verbose"])
            .run();
        assert_eq!(loaded.json()["load"], "direct", "{mode}: {}", loaded.stdout);
        assert!(
            loaded.stderr.contains("COPY \"public\".\"typed\" (")
                && loaded.stderr.contains("COPY \"public\".\"orgs\" ("),
            "{mode}: typed and orgs are copied: {}",
            loaded.stderr
        );
        assert!(
            !loaded.stderr.contains("COPY \"public\".\"composed\"")
                && !loaded.stderr.contains("did not go through"),
            "{mode}: composed keeps json_populate_recordset, and nothing fell back: {}",
            loaded.stderr
        );
        assert_eq!(target.scalar_i64("SELECT count(*) FROM typed"), 6, "{mode}");
        assert_eq!(
            target.digest_of(TYPED_ROWS),
            expected.digest_of(TYPED_ROWS),
            "{mode}: every restored row equals its source row"
        );
    }
}
