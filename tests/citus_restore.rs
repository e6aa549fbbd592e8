//! Restore into a real Citus cluster and out of it (issue 25 item 6): an archive from a single
//! node restores into distributed and reference tables, and an archive from Citus into a single
//! node; each round trip (export → restore → export again) gives the same rows, section by
//! section. The restore's checks hold on Citus as they do on one node — an archive is
//! untrusted input — so forged archives are refused there too, with nothing written. The
//! cluster (a coordinator and two workers) is started once for this binary; the fixture is the
//! Citus tutorial's ad platform (`fixtures/citus/`).

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::citus_fixture::{
    DATA, DISTRIBUTE, KEYS, TABLES, company_config, on_citus, on_single_node,
};
use support::{
    Archive, CitusCluster, CitusDb, Expect, Orgexport, TempDir, TestDb, read_doc, write_doc,
};

const MARKERS: &[&str] = &["MARKER-OTHER-ORG", "MARKER-SECRET", "MARKER-UNREFERENCED"];

/// acme's archive from a single node holding the whole fixture.
fn single_node_archive(store: &TempDir) -> PathBuf {
    let single = on_single_node(true);
    let run = Orgexport::export(&single, store, "acme")
        .current_dir(company_config().path())
        .run();
    Archive::path_from_run(&run)
}

/// `orgexport restore ARCHIVE --target-url TARGET` run in `cwd`.
fn restore(archive: &Path, target: &TestDb, cwd: &TempDir) -> Orgexport {
    Orgexport::restore(cwd, archive, target)
}

/// acme exported from the cluster with nothing configured (Citus's metadata decides).
fn export_from_citus(db: &CitusDb, store: &TempDir, extra: &[&str]) -> Archive {
    let run = Orgexport::export(&db.coordinator, store, "acme")
        .args(extra)
        .run();
    let archive = Archive::from_run(&run);
    archive.assert_well_formed();
    archive
}

/// Every section's rows equal as multisets, in the same order of sections.
fn assert_same_rows(again: &Archive, original: &Archive) {
    assert_eq!(again.section_order, original.section_order);
    assert_eq!(again.row_sets(), original.row_sets());
    again.assert_absent(MARKERS);
}

/// The rows of every company but `company`, and every shared row, as the cluster holds them
/// (sorted here: Citus gathers a subquery's rows from the shards in no particular order).
fn digest_without(db: &TestDb, company: i64) -> String {
    [
        ("companies", "id"),
        ("campaigns", "company_id"),
        ("ads", "company_id"),
        ("clicks", "company_id"),
        ("users", "NULL"),
        ("countries", "NULL"),
    ]
    .iter()
    .map(|(table, column)| {
        db.scalar_text(&format!(
            "SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) \
             FROM {table} t WHERE {column} IS DISTINCT FROM {company}"
        ))
        .unwrap()
    })
    .collect::<Vec<_>>()
    .join(" ")
}

/// The cluster's database after acme was deleted from it: the others' rows and every shared
/// row stay.
fn cluster_without_acme() -> CitusDb {
    let db = on_citus(true);
    db.coordinator.execute(
        "DELETE FROM clicks WHERE company_id = 1; DELETE FROM ads WHERE company_id = 1; \
         DELETE FROM campaigns WHERE company_id = 1; DELETE FROM companies WHERE id = 1;",
    );
    db
}

#[test]
fn a_single_node_archive_restores_into_an_empty_cluster_round_trip_equal() {
    let store = TempDir::new();
    let path = single_node_archive(&store);
    let original = Archive::read(&path);
    let cluster = on_citus(false);
    let run = restore(&path, &cluster.coordinator, &company_config())
        .args(["--json"])
        .run();
    let summary = run.json();
    assert_eq!(summary["inserted"], json!(64), "{summary}");
    assert_eq!(summary["cleared"], json!({}), "{summary}");
    // Never a direct load on Citus: the checks read mirrors, not the filled tables.
    assert_eq!(summary["load"], json!("staged"), "{summary}");
    // The audit row is in the coordinator's own history tables, committed with the rows.
    assert_eq!(
        cluster.coordinator.scalar_i64(
            "SELECT count(*) FROM orgexport.audit_log \
             WHERE action = 'restore.completed' AND org_key = '1' \
               AND (details->>'records')::int = 64"
        ),
        1
    );
    // The rows are where Citus puts acme's: the export that reads only the org's worker
    // (`--direct`, its local shards and its replica of the reference tables) finds them all.
    assert_same_rows(&export_from_citus(&cluster, &store, &[]), &original);
    assert_same_rows(
        &export_from_citus(&cluster, &store, &["--direct"]),
        &original,
    );
    // Independent SQL: the worker's shard of clicks that Citus routes company 1 to holds them.
    assert_eq!(
        cluster
            .coordinator
            .scalar_i64("SELECT count(*) FROM clicks WHERE company_id = 1 AND country_code = 'FR'"),
        25
    );
}

#[test]
fn a_citus_archive_goes_through_a_single_node_and_back_into_a_cluster_round_trip_equal() {
    let store = TempDir::new();
    let source = on_citus(true);
    let run = Orgexport::export(&source.coordinator, &store, "acme").run();
    let original = Archive::from_run(&run);
    let config = company_config();

    let single = on_single_node(false);
    restore(&Archive::path_from_run(&run), &single, &config).run();
    let run = Orgexport::export(&single, &store, "acme")
        .current_dir(config.path())
        .run();
    let from_single = Archive::from_run(&run);
    assert_same_rows(&from_single, &original);

    // Into a cluster that holds the other companies and every shared row: the shared rows
    // are matched by content, the others' rows stay exactly as they were.
    let target = cluster_without_acme();
    let before = digest_without(&target.coordinator, 1);
    let summary = restore(&Archive::path_from_run(&run), &target.coordinator, &config)
        .arg("--json")
        .run()
        .json();
    assert_eq!(summary["matched"], json!(4), "{summary}");
    assert_eq!(summary["inserted"], json!(60), "{summary}");
    assert_same_rows(&export_from_citus(&target, &store, &[]), &original);
    assert_eq!(digest_without(&target.coordinator, 1), before);
}

#[test]
fn a_dry_run_into_the_cluster_checks_everything_and_writes_nothing() {
    let store = TempDir::new();
    let path = single_node_archive(&store);
    let target = cluster_without_acme();
    let before = target.coordinator.digest();
    restore(&path, &target.coordinator, &company_config())
        .arg("--dry-run")
        .stderr_has("60 rows inserted, 4 shared rows matched")
        .stderr_has("rolled back; nothing written")
        .run();
    assert_eq!(target.coordinator.digest(), before);
}

/// Runs the restore of `archive` into `target` and asserts it is refused: exit 1, one error
/// line holding `problem` and that the target is unchanged, which it is.
fn assert_refused(archive: &Path, target: &CitusDb, problem: &str) {
    let before = target.coordinator.digest();
    restore(archive, &target.coordinator, &company_config())
        .code(1)
        .one_error_line()
        .stderr_has(problem)
        .stderr_has("the target is unchanged")
        .run();
    assert_eq!(
        target.coordinator.digest(),
        before,
        "the cluster is unchanged"
    );
}

/// acme's single-node archive, edited by `forge`.
fn forged(store: &TempDir, forge: impl FnOnce(&mut Value)) -> PathBuf {
    let mut doc = read_doc(&single_node_archive(store));
    forge(&mut doc);
    write_doc(&doc, store.path(), "forged.json.gz")
}

fn rows<'d>(doc: &'d mut Value, name: &str) -> &'d mut Vec<Value> {
    doc["sections"][name].as_array_mut().unwrap()
}

#[test]
fn an_archive_already_in_the_cluster_is_refused_listing_the_keys() {
    let store = TempDir::new();
    let path = single_node_archive(&store);
    assert_refused(
        &path,
        &on_citus(true),
        "the target already holds rows with the archive's keys: public.companies (id): (1)",
    );
}

#[test]
fn a_row_of_another_company_in_a_distributed_section_is_refused() {
    let store = TempDir::new();
    let path = forged(&store, |doc| {
        let ads = rows(doc, "public.ads");
        ads[0]["company_id"] = json!(2);
        ads[0]["title"] = json!("forged into globex");
    });
    assert_refused(
        &path,
        &cluster_without_acme(),
        "row(s) of public.ads belong to another org (company_id = 2)",
    );
}

#[test]
fn an_archive_relabelled_as_another_company_of_the_cluster_is_refused() {
    // acme's rows, every tenant column and the root forged to globex's key: globex's rows in
    // the cluster must not gain a campaign, an ad or a click.
    let store = TempDir::new();
    let path = forged(&store, |doc| {
        doc["manifest"]["org"]["key"] = json!("2");
        for section in ["public.campaigns", "public.ads", "public.clicks"] {
            for row in rows(doc, section) {
                row["company_id"] = json!(2);
            }
        }
        rows(doc, "public.companies")[0]["id"] = json!(2);
    });
    assert_refused(&path, &cluster_without_acme(), "public.companies (id): (2)");
}

#[test]
fn a_shared_row_whose_key_holds_someone_else_in_the_reference_table_is_refused() {
    let store = TempDir::new();
    let path = forged(&store, |doc| {
        rows(doc, "public.users")[0]["email"] = json!("somebody-else@acme.test");
    });
    assert_refused(
        &path,
        &cluster_without_acme(),
        "the target holds other rows under the keys of these shared rows: public.users (id)",
    );
}

#[test]
fn a_reference_to_a_row_of_neither_the_archive_nor_the_cluster_is_refused() {
    // clicks → ads is the composite key (company_id, ad_id), NOT NULL: a click of an ad the
    // archive does not hold, which the cluster has only for another company.
    let store = TempDir::new();
    let path = forged(&store, |doc| {
        rows(doc, "public.clicks")[0]["ad_id"] = json!(99);
    });
    assert_refused(
        &path,
        &cluster_without_acme(),
        "row(s) of public.clicks reference rows of neither the archive nor the target through company_id, ad_id",
    );
}

#[test]
fn remap_keys_relocates_the_company_into_a_cluster_that_holds_it_as_a_disjoint_copy() {
    let store = TempDir::new();
    let path = single_node_archive(&store);
    let original = Archive::read(&path);
    // companies.id fed by a sequence, as an application's would be (Citus takes the default
    // only before the table is distributed): fresh keys come from it.
    let target = CitusCluster::get().database();
    let tables = TABLES.replace(
        "companies (id bigint PRIMARY KEY",
        "companies (id bigserial PRIMARY KEY",
    );
    assert_ne!(tables, TABLES);
    for sql in [&tables, DISTRIBUTE, KEYS, DATA] {
        target.coordinator.execute(sql);
    }
    target
        .coordinator
        .execute("SELECT setval('companies_id_seq', 99)");
    let before = digest_without(&target.coordinator, 100);
    let summary = restore(&path, &target.coordinator, &company_config())
        .args(["--remap-keys", "--json"])
        .run()
        .json();
    let key = summary["target_org_key"].as_str().unwrap().to_string();
    assert_eq!(key, "100", "{summary}");
    // The old acme, the other companies and the shared rows are untouched, row for row.
    assert_eq!(digest_without(&target.coordinator, 100), before);
    // The copy: the same rows under the new company key, on the shard Citus routes it to.
    let copy = Archive::from_run(&Orgexport::export(&target.coordinator, &store, &key).run());
    copy.assert_well_formed();
    let relabel = |archive: &Archive| {
        let mut sets = archive.row_sets();
        for rows in sets.values_mut() {
            for row in rows.iter_mut() {
                let mut value: Value = serde_json::from_str(row).unwrap();
                if value.get("company_id").is_some() {
                    value["company_id"] = json!("K");
                }
                *row = value.to_string();
            }
            rows.sort();
        }
        sets.get_mut("public.companies").unwrap()[0] = "root".to_string();
        sets
    };
    assert_eq!(relabel(&copy), relabel(&original));
    assert_eq!(copy.section("public.companies")[0]["id"], json!(100));
    // The sequence moved past the key it gave.
    assert_eq!(
        target
            .coordinator
            .scalar_i64("SELECT nextval('companies_id_seq')"),
        101
    );
    assert_eq!(
        target
            .coordinator
            .scalar_i64("SELECT count(*) FROM clicks WHERE company_id = 100"),
        50
    );
}

/// A table of notes that answer each other (`parent_id`, a composite self reference through
/// the tenant column), each company's thread in reverse order of keys: a note's parent has a
/// larger key, or none.
const NOTES: &str = "CREATE TABLE notes (company_id bigint NOT NULL, id bigint NOT NULL, \
    parent_id bigint, body text, PRIMARY KEY (company_id, id));";
const NOTES_KEYS: &str = "ALTER TABLE notes ADD FOREIGN KEY (company_id) REFERENCES companies (id); \
    ALTER TABLE notes ADD FOREIGN KEY (company_id, parent_id) REFERENCES notes (company_id, id);";
const NOTES_ROWS: &str = "INSERT INTO notes SELECT c, n, CASE WHEN n % 5 <> 0 THEN n + 1 END, \
    CASE WHEN c = 1 THEN 'note ' || n ELSE 'MARKER-OTHER-ORG' END \
    FROM generate_series(1, 4) c, generate_series(1, 40) n;";

#[test]
fn self_references_within_a_distributed_table_come_back_pointing_at_the_same_rows() {
    let store = TempDir::new();
    let config = company_config();
    let single = on_single_node(true);
    for sql in [NOTES, NOTES_KEYS, NOTES_ROWS] {
        single.execute(sql);
    }
    let run = Orgexport::export(&single, &store, "acme")
        .current_dir(config.path())
        .run();
    let original = Archive::from_run(&run);
    assert_eq!(original.section("public.notes").len(), 40);

    let cluster = on_citus(false);
    // Distributed before its foreign keys, as Citus wants (one statement each).
    for sql in [
        NOTES,
        "SELECT create_distributed_table('notes', 'company_id', colocate_with => 'companies')",
        NOTES_KEYS,
    ] {
        cluster.coordinator.execute(sql);
    }
    restore(&Archive::path_from_run(&run), &cluster.coordinator, &config).run();
    let again = export_from_citus(&cluster, &store, &[]);
    assert_same_rows(&again, &original);
    // Independent SQL: every parent reference resolves to the note it named, none cleared.
    assert_eq!(
        cluster.coordinator.scalar_i64(
            "SELECT count(*) FROM notes n JOIN notes p \
               ON p.company_id = n.company_id AND p.id = n.parent_id AND p.id = n.id + 1 \
             WHERE n.company_id = 1"
        ),
        32
    );
}

#[test]
fn a_narrowed_archive_restores_into_a_cluster_holding_the_rest_of_the_company() {
    // acme's French clicks (and, for completeness, the ads, campaigns and company they
    // reference), restored where three of them were deleted: those come back, every other
    // row the archive holds matches the cluster's and is left as it is.
    let store = TempDir::new();
    let source = on_citus(true);
    let run = Orgexport::export(&source.coordinator, &store, "acme")
        .args(["--where", "public.clicks: country_code = $$FR$$"])
        .run();
    let path = Archive::path_from_run(&run);
    assert_eq!(Archive::read(&path).section("public.clicks").len(), 25);
    let target = on_citus(true);
    target
        .coordinator
        .execute("DELETE FROM clicks WHERE company_id = 1 AND id IN (2, 4, 6)");
    let summary = restore(&path, &target.coordinator, &company_config())
        .arg("--json")
        .run()
        .json();
    assert_eq!(summary["inserted"], json!(3), "{summary}");
    let all = "SELECT company_id, id, ad_id, clicked_at, country_code FROM clicks";
    let sorted = |db: &TestDb| {
        db.scalar_text(&format!(
            "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM ({all}) t"
        ))
    };
    assert_eq!(sorted(&target.coordinator), sorted(&source.coordinator));

    // The same key with other content is still a conflict, in the distributed table.
    target
        .coordinator
        .execute("UPDATE clicks SET country_code = 'DE' WHERE company_id = 1 AND id = 8");
    assert_refused(&path, &target, "public.clicks (company_id, id): (1, 8)");
}
