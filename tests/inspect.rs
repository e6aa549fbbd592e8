//! Reading archives without a database, as an operator does on a laptop with a downloaded
//! archive: `inspect` (the manifest, from the archive's head only), `cat` (one section as
//! NDJSON or CSV), `diff` (two archives of one org, in bounded memory); and `orgs` with the
//! "did you mean" of an unknown org.

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{Archive, Expect, Orgexport, TempDir, TestDb};

fn example_db() -> TestDb {
    let db = TestDb::new();
    db.execute(include_str!("../examples/saas.sql"));
    db.execute(
        "CREATE TABLE public.notes (id int PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs, body text);
         INSERT INTO public.notes VALUES (1, 1, NULL), (2, 1, ''), (3, 1, 'a,\"b\"'), (4, 1, 'two
lines'), (5, 1, 'plain'), (6, 2, 'GLOBEX-MARKER')",
    );
    db
}

/// Exports `org` and returns the archive's path.
fn export(db: &TestDb, store: &TempDir, org: &str) -> PathBuf {
    Archive::path_from_run(&Orgexport::export(db, store, org).run())
}

/// `orgexport <args>` with no database configured at all.
fn offline(args: &[&str]) -> Orgexport {
    Orgexport::new().args(args).env("PGHOST", "/nonexistent")
}

fn gzip(text: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text).unwrap();
    e.finish().unwrap()
}

/// The archive's first gzip member (the manifest) followed by bytes that are no gzip at all:
/// readable only by something that stops after the manifest.
fn head_then_garbage(path: &Path, dir: &TempDir) -> PathBuf {
    let bytes = std::fs::read(path).unwrap();
    let mut decoder = flate2::bufread::GzDecoder::new(&bytes[..]);
    std::io::copy(&mut decoder, &mut std::io::sink()).unwrap();
    let rest = decoder.into_inner();
    let mut head = bytes[..bytes.len() - rest.len()].to_vec();
    head.extend(std::iter::repeat_n(0x55u8, 1 << 20));
    let out = dir.path().join("head.json.gz");
    std::fs::write(&out, head).unwrap();
    out
}

#[test]
fn inspect_prints_the_manifest_from_the_archive_head_without_a_database() {
    let db = example_db();
    let store = TempDir::new();
    let path = export(&db, &store, "acme");
    let archive = Archive::read(&path);
    let scratch = TempDir::new();
    let head = head_then_garbage(&path, &scratch);
    let id = archive.manifest["export_id"].as_str().unwrap().to_string();
    let run = offline(&["inspect", head.to_str().unwrap()])
        .stdout_has(format!("export     {id}"))
        .stdout_has("org        acme (key 1 in public.orgs)")
        .stdout_has_line("public.users ", "password_hash")
        .stdout_has_line("SECTION", "ROWS  CAPPED  CROSS-TENANT  COLUMNS  EXCLUDED")
        .run();
    let tasks = archive.section("public.tasks").len();
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("public.tasks "))
        .unwrap();
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[1], tasks.to_string(), "{line}");
    assert_eq!(cells[2], "no", "{line}");
    // --json is the manifest object itself.
    let json = offline(&["inspect", "--json", head.to_str().unwrap()])
        .run()
        .json();
    assert_eq!(json, archive.manifest);
    // Its file:// URL reads the same.
    let url = url::Url::from_file_path(&head).unwrap().to_string();
    let json = offline(&["inspect", "--json", &url]).run().json();
    assert_eq!(json["export_id"], archive.manifest["export_id"]);
    assert_eq!(
        archive.manifest_section("public.notes")["primary_key"],
        json!(["id"])
    );
    // By export id, the history finds it.
    Orgexport::on(&db, &store, &["inspect", &id])
        .stdout_has(format!("export     {id}"))
        .run();
}

#[test]
fn inspect_refuses_what_is_not_an_archive_in_one_line() {
    let scratch = TempDir::new();
    let zip = scratch.path().join("x.zip");
    std::fs::write(&zip, b"PK\x03\x04 not gzip").unwrap();
    offline(&["inspect", zip.to_str().unwrap()])
        .code(2)
        .stderr_has("is not an orgexport archive: not a gzip file")
        .one_error_line()
        .run();
    let truncated = scratch.path().join("t.json.gz");
    let whole = gzip(br#"{"manifest":{"format":"orgexport/1","sections":[{"name":"a.b""#);
    std::fs::write(&truncated, whole).unwrap();
    offline(&["inspect", truncated.to_str().unwrap()])
        .code(1)
        .stderr_has("the archive ends inside its manifest")
        .one_error_line()
        .run();
}

#[test]
fn cat_streams_one_section_as_ndjson_or_csv_with_null_apart_from_empty() {
    let db = example_db();
    let store = TempDir::new();
    let path = export(&db, &store, "acme");
    let archive = Archive::read(&path);
    let p = path.to_str().unwrap();
    let run = offline(&["cat", p, "--section", "public.tasks"]).run();
    let mut printed: Vec<String> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap().to_string())
        .collect();
    printed.sort();
    assert_eq!(printed, archive.row_sets()["public.tasks"]);
    // CSV as PostgreSQL's own COPY writes it: the same records, NULL unquoted, '' quoted.
    let csv = offline(&["cat", p, "--section", "public.notes", "--format", "csv"])
        .output_lacks("GLOBEX-MARKER")
        .run()
        .stdout;
    let client = &mut db.client();
    let mut expected = String::new();
    client
        .copy_out(
            "COPY (SELECT id, org_id, body FROM public.notes WHERE org_id = 1) TO STDOUT (FORMAT csv, HEADER)",
        )
        .unwrap()
        .read_to_string(&mut expected)
        .unwrap();
    let sorted = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    assert_eq!(sorted(&csv), sorted(&expected), "{csv}");
    assert!(csv.starts_with("id,org_id,body\n"), "{csv}");
    assert!(
        csv.contains("\n1,1,\n") && csv.contains("\n2,1,\"\"\n"),
        "{csv}"
    );
}

#[test]
fn cat_of_a_section_the_archive_lacks_lists_those_it_has() {
    let db = example_db();
    let store = TempDir::new();
    let path = export(&db, &store, "acme");
    offline(&["cat", path.to_str().unwrap(), "--section", "app.tasks"])
        .code(2)
        .stderr_has("the archive has no section app.tasks; it has: public.orgs")
        .stdout_is("")
        .one_error_line()
        .run();
}

#[test]
fn diff_names_rows_added_removed_and_changed_by_primary_key() {
    let db = example_db();
    let store = TempDir::new();
    let a = export(&db, &store, "acme");
    db.execute(
        "UPDATE public.notes SET body = 'edited' WHERE id = 5;
         DELETE FROM public.notes WHERE id = 4;
         INSERT INTO public.notes VALUES (7, 1, 'new');
         UPDATE public.orgs SET name = 'Acme Inc' WHERE id = 1;
         ALTER TABLE public.labels ADD COLUMN shade text",
    );
    let b = export(&db, &store, "acme");
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    let run = offline(&["diff", a, b])
        .stdout_has("org acme (key 1 in public.orgs)")
        .stdout_has_line("public.notes ", "changed")
        .stdout_has_line("public.orgs ", "changed")
        .stdout_has_line("public.labels ", "changed (columns +shade)")
        .stdout_lacks("public.tasks ")
        .stdout_has("0 sections added, 0 removed, 3 changed")
        .stdout_has("rows: 1 added, 1 removed, 2 changed")
        .run();
    let notes: Vec<&str> = run
        .stdout
        .lines()
        .find(|l| l.starts_with("public.notes "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&notes[1..8], ["changed", "5", "5", "1", "1", "1", "id"]);
    let json = offline(&["diff", "--json", a, b]).run().json();
    assert_eq!(json["identical"], false);
    let section = |name: &str| {
        json["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()
            .clone()
    };
    let notes = section("public.notes");
    assert_eq!(notes["samples"]["added"], json!(["id=7"]));
    assert_eq!(notes["samples"]["removed"], json!(["id=4"]));
    assert_eq!(notes["samples"]["changed"], json!(["id=5"]));
    assert_eq!(notes["unchanged"], 3);
    assert_eq!(section("public.tasks")["status"], "unchanged");
    // A column added is the column's change, not every row's.
    let labels = section("public.labels");
    assert_eq!(labels["columns_added"], json!(["shade"]));
    assert_eq!(
        (labels["changed"].as_u64(), labels["added"].as_u64()),
        (Some(0), Some(0))
    );
    // An archive compared with itself is identical.
    offline(&["diff", a, a]).stdout_has("identical: ").run();
}

#[test]
fn diff_of_archives_without_primary_keys_compares_whole_rows() {
    let db = example_db();
    let store = TempDir::new();
    let a = export(&db, &store, "acme");
    db.execute("UPDATE public.notes SET body = 'edited' WHERE id = 5");
    let b = export(&db, &store, "acme");
    let scratch = TempDir::new();
    // As written before the manifest recorded primary keys.
    let old = |path: &Path, name: &str| {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        let mut doc: Value = serde_json::from_str(&text).unwrap();
        for s in doc["manifest"]["sections"].as_array_mut().unwrap() {
            s.as_object_mut().unwrap().remove("primary_key");
        }
        let out = scratch.path().join(name);
        std::fs::write(&out, gzip(doc.to_string().as_bytes())).unwrap();
        out
    };
    let (a, b) = (old(&a, "a.json.gz"), old(&b, "b.json.gz"));
    let json = offline(&["diff", "--json", a.to_str().unwrap(), b.to_str().unwrap()])
        .run()
        .json();
    let notes = json["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "public.notes")
        .unwrap();
    assert_eq!(notes["key"], Value::Null);
    assert_eq!(
        (notes["added"].as_u64(), notes["removed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(notes["changed"], 0);
}

#[test]
fn diff_refuses_archives_of_two_orgs_in_one_line() {
    let db = example_db();
    let store = TempDir::new();
    let a = export(&db, &store, "acme");
    let b = export(&db, &store, "globex");
    offline(&["diff", a.to_str().unwrap(), b.to_str().unwrap()])
        .code(2)
        .stderr_has("is of org acme (public.orgs 1) and ")
        .stderr_has("of org globex (public.orgs 2): diff compares two archives of the same org")
        .one_error_line()
        .run();
}

/// A synthetic archive of `rows` rows in one section, row `i` holding `value(i)`.
fn big_archive(path: &Path, rows: u64, value: impl Fn(u64) -> String) {
    let file = std::fs::File::create(path).unwrap();
    let mut out =
        flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast());
    let manifest = json!({
        "format": "orgexport/1", "export_id": "x",
        "org": {"table": "public.orgs", "key": "1", "lookup": "acme"},
        "generated_at": "t", "snapshot_at": "t", "server_version": "15", "tool_version": "0",
        "sections": [{"name": "public.events", "scope": "tenant column org_id",
            "record_count": rows, "capped": false, "primary_key": ["id"],
            "columns": [{"name": "id", "type": "bigint"}, {"name": "v", "type": "text"}],
            "excluded_columns": []}]
    });
    write!(
        out,
        "{{\"manifest\":{manifest},\"sections\":{{\"public.events\":["
    )
    .unwrap();
    for i in 0..rows {
        let sep = if i == 0 { "" } else { "," };
        write!(out, "{sep}{{\"id\":{i},\"v\":\"{}\"}}", value(i)).unwrap();
    }
    write!(out, "]}}}}").unwrap();
    out.finish().unwrap().flush().unwrap();
}

#[test]
fn diff_of_a_million_rows_stays_in_bounded_memory() {
    let scratch = TempDir::new();
    let (a, b) = (
        scratch.path().join("a.json.gz"),
        scratch.path().join("b.json.gz"),
    );
    const ROWS: u64 = 1_200_000;
    big_archive(&a, ROWS, |i| format!("event number {i} of the big org"));
    big_archive(&b, ROWS, |i| {
        if i % 100_000 == 7 {
            "changed".to_string()
        } else {
            format!("event number {i} of the big org")
        }
    });
    let run = offline(&["diff", "--json", a.to_str().unwrap(), b.to_str().unwrap()])
        .measure_memory()
        .run();
    let json: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(json["sections"][0]["changed"], 12);
    assert_eq!(json["sections"][0]["unchanged"], ROWS - 12);
    let rss_kib = run.peak_rss_kib();
    // The records alone would take ~120 MiB held in one map.
    assert!(
        rss_kib < 64 * 1024,
        "peak RSS {rss_kib} KiB for 2 × 1.2 M rows"
    );
}

#[test]
fn orgs_lists_keys_and_lookups_and_says_when_there_are_more() {
    let db = example_db();
    let store = TempDir::new();
    Orgexport::on(&db, &store, &["orgs"])
        .stdout_has_line("ID", "SLUG")
        .stdout_has_line("1 ", "acme")
        .stdout_has_line("4 ", "Umbrella 株式会社")
        .stderr_has("5 orgs of public.orgs")
        .run();
    let json = Orgexport::on(&db, &store, &["orgs", "--limit", "2", "--json"])
        .run()
        .json();
    assert_eq!(json["more"], true);
    assert_eq!(json["orgs"].as_array().unwrap().len(), 2);
    assert_eq!(json["orgs"][1]["columns"]["slug"], "globex");
    Orgexport::on(&db, &store, &["orgs", "--limit", "2"])
        .stderr_has("2 orgs of public.orgs; more than 2 — raise --limit")
        .run();
}

#[test]
fn an_unknown_org_suggests_the_nearest_lookups_and_nothing_unrelated() {
    let db = example_db();
    let store = TempDir::new();
    Orgexport::export(&db, &store, "acmee")
        .code(3)
        .stderr_has("did you mean 'acme'?")
        .stderr_lacks("globex")
        .one_error_line()
        .run();
    Orgexport::on(&db, &store, &["plan", "--org", "Initek"])
        .code(3)
        .stderr_has("did you mean 'Initech' or 'initech'?")
        .run();
    Orgexport::export(&db, &store, "zzzzzz")
        .code(3)
        .stderr_lacks("did you mean")
        .stderr_lacks("acme")
        .run();
}
