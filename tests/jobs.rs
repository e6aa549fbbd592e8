//! `--jobs N`: several sessions read one exported snapshot side by side, and the archive does
//! not depend on N — the same sections in the same order, the same rows in the same order,
//! byte for byte the same section JSON (so the same per-section hashes).

mod support;

use sha2::{Digest, Sha256};
use support::{Archive, Expect, Orgexport, TempDir, TestDb};

/// Sections of very different sizes (one spans several 1 MiB chunks), so that readers
/// finish them out of order.
fn many_sections_db() -> TestDb {
    let db = TestDb::new();
    let mut sql = String::from(
        "CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE);
         INSERT INTO orgs VALUES (1, 'acme'), (2, 'globex');
         CREATE TABLE big (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs, body text, doc jsonb);
         INSERT INTO big SELECT g, 1 + g % 2, repeat(md5(g::text), 8), jsonb_build_object('n', g, 'e', 'é\"\\')
           FROM generate_series(1, 40000) g;
         CREATE TABLE notes (id bigint PRIMARY KEY, big_id bigint NOT NULL REFERENCES big, body text);
         INSERT INTO notes SELECT g, 1 + g % 40000, 'note ' || g FROM generate_series(1, 20000) g;",
    );
    for n in 0..12 {
        sql.push_str(&format!(
            "CREATE TABLE t{n} (id int PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs, v text);
             INSERT INTO t{n} SELECT g, 1 + g % 2, 'v' || g FROM generate_series(1, {rows}) g;",
            rows = 10 + n * 37
        ));
    }
    db.execute(&sql);
    db
}

/// The archive's text from its sections on (the manifest holds the export's id and times).
fn sections_text(archive: &Archive) -> &str {
    let at = archive
        .text
        .find(",\"sections\":")
        .expect("the archive has sections");
    &archive.text[at..]
}

fn section_hashes(archive: &Archive) -> Vec<(String, String)> {
    archive
        .section_order
        .iter()
        .map(|name| {
            let json = serde_json::to_vec(archive.section(name)).unwrap();
            (name.clone(), hex::encode(Sha256::digest(&json)))
        })
        .collect()
}

#[test]
fn the_archive_is_the_same_for_every_number_of_jobs() {
    let db = many_sections_db();
    let archives: Vec<Archive> = ["1", "2", "5"]
        .iter()
        .map(|jobs| {
            let store = TempDir::new();
            let run = Orgexport::export(&db, &store, "acme")
                .args(["--jobs", jobs])
                .run();
            Archive::from_run(&run)
        })
        .collect();
    let one = &archives[0];
    one.assert_well_formed();
    assert_eq!(one.section("public.big").len(), 20000);
    assert_eq!(one.section_order.len(), 15);
    for other in &archives[1..] {
        other.assert_well_formed();
        assert_eq!(other.section_order, one.section_order);
        assert_eq!(section_hashes(other), section_hashes(one));
        assert!(
            sections_text(other) == sections_text(one),
            "the sections' text differs between --jobs 1 and more"
        );
        for key in ["record_count", "columns", "excluded_columns"] {
            let of = |a: &Archive| -> Vec<serde_json::Value> {
                a.manifest["sections"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s[key].clone())
                    .collect()
            };
            assert_eq!(of(other), of(one), "manifest sections' {key}");
        }
    }
}

#[test]
fn jobs_read_one_snapshot_while_rows_change() {
    // Rows inserted after the snapshot is taken appear in no section, whichever session
    // reads it: the readers joined the lead's snapshot.
    let db = many_sections_db();
    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "acme")
        .args(["--jobs", "4"])
        .run();
    let before = Archive::from_run(&run);
    db.execute("INSERT INTO t11 SELECT g, 1, 'late' FROM generate_series(100000, 100010) g");
    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "acme")
        .args(["--jobs", "4"])
        .run();
    let after = Archive::from_run(&run);
    assert_eq!(
        after.section("public.t11").len(),
        before.section("public.t11").len() + 11
    );
    for name in &before.section_order {
        let count = before.manifest_section(name)["record_count"]
            .as_u64()
            .unwrap();
        assert_eq!(count as usize, before.section(name).len(), "{name}");
    }
}

#[test]
fn jobs_zero_is_refused_with_exit_2() {
    let db = many_sections_db();
    let store = TempDir::new();
    Orgexport::export(&db, &store, "acme")
        .args(["--jobs", "0"])
        .code(2)
        .stderr_has("--jobs")
        .run();
}
