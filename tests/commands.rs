//! The operator's commands around `run`: plan, list, link, verify, prune, check, completions,
//! configuration, caps and filters, and what stderr looks like from cron.

mod support;

use std::io::Write;

use serde_json::Value;
use support::{Archive, Expect, Orgexport, TempDir, TestDb};

fn example_db() -> TestDb {
    let db = TestDb::new();
    db.execute(include_str!("../examples/saas.sql"));
    db.execute(
        "CREATE TABLE public.notes (id int, org_id bigint NOT NULL REFERENCES orgs, body text)",
    );
    db
}

#[test]
fn plan_lists_exactly_what_run_writes() {
    let db = example_db();
    let store = TempDir::new();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "acme").run());
    let plan = Orgexport::on(&db, &store, &["plan", "--org", "acme", "--json"])
        .run()
        .json();
    let planned: Vec<(String, u64)> = plan["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["estimated_rows"].as_u64().unwrap(),
            )
        })
        .collect();
    let written: Vec<(String, u64)> = archive.manifest["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["record_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(planned, written);
    assert_eq!(plan["org"]["key"], "1");
    let users = plan["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "public.users")
        .unwrap();
    assert_eq!(
        users["excluded_columns"],
        serde_json::json!(["password_hash"])
    );
    assert!(users["via"].as_array().unwrap().iter().any(|v| {
        v.as_str()
            .unwrap()
            .starts_with("public.memberships(user_id)")
    }));
    let reason = |name: &str| -> String {
        plan["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(reason("public.active_projects").contains("view"));
    assert!(reason("public.audit_events").contains("nothing in scope references"));
    assert!(reason("orgexport.exports").contains("tool"));
    let warnings = plan["warnings"].to_string();
    assert!(
        warnings.contains("public.notes has no index on its tenant column"),
        "{warnings}"
    );
}

#[test]
fn plan_estimate_uses_catalog_statistics_and_says_so() {
    let db = example_db();
    let store = TempDir::new();
    let plan = Orgexport::on(
        &db,
        &store,
        &["plan", "--org", "acme", "--estimate", "--json"],
    )
    .run()
    .json();
    let tasks = plan["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "public.tasks")
        .unwrap();
    assert_eq!(tasks["estimated_rows"], 1500, "the whole table's reltuples");
    assert!(tasks["rows_source"].as_str().unwrap().contains("reltuples"));
    Orgexport::on(&db, &store, &["plan", "--org", "acme"])
        .stdout_has("public.tasks")
        .stdout_has("not exported:")
        .run();
}

#[test]
fn max_rows_caps_sections_and_the_manifest_says_so() {
    let db = example_db();
    let store = TempDir::new();
    let archive = Archive::from_run(
        &Orgexport::export(&db, &store, "acme")
            .args(["--max-rows-per-table", "10"])
            .run(),
    );
    archive.assert_well_formed();
    let tasks = archive.manifest_section("public.tasks");
    assert_eq!(tasks["capped"], true);
    assert_eq!(tasks["record_count"], 10);
    assert_eq!(tasks["total_count"], 300);
    assert_eq!(archive.section("public.tasks").len(), 10);
    let orgs = archive.manifest_section("public.orgs");
    assert_eq!(orgs["capped"], false);
    assert!(orgs.get("total_count").is_none());
}

#[test]
fn tables_and_exclude_tables_filter_sections() {
    let db = example_db();
    let store = TempDir::new();
    let archive = Archive::from_run(
        &Orgexport::export(&db, &store, "acme")
            .args(["--tables", "public.task*", "--tables", "public.comments"])
            .run(),
    );
    archive.assert_sections(&["public.tasks", "public.task_labels", "public.comments"]);
    archive.assert_section_equals(
        &db,
        "public.comments",
        "SELECT c.* FROM comments c JOIN tasks t ON t.id = c.task_id JOIN projects p ON p.id = t.project_id WHERE p.org_id = 1",
    );
    let archive = Archive::from_run(
        &Orgexport::export(&db, &store, "acme")
            .args(["--exclude-tables", "billing.*"])
            .run(),
    );
    assert!(
        archive
            .section_order
            .iter()
            .all(|s| !s.starts_with("billing."))
    );
    assert!(
        !archive.section_order.contains(&"ref.plans".to_string()),
        "plans were reached only through billing"
    );
}

#[test]
fn config_file_is_read_and_its_mistakes_exit_2_naming_file_and_line() {
    let db = example_db();
    let store = TempDir::new();
    std::fs::write(
        store.path().join("orgexport.toml"),
        "include_referenced = false\nexclude_columns = [\"public.orgs.name\"]\n",
    )
    .unwrap();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "acme").run());
    assert!(!archive.section_order.contains(&"public.users".to_string()));
    assert_eq!(
        archive.manifest_section("public.orgs")["excluded_columns"],
        serde_json::json!(["name"])
    );

    std::fs::write(
        store.path().join("orgexport.toml"),
        "store = \"x\"\nlink_tll = \"5m\"\n",
    )
    .unwrap();
    Orgexport::export(&db, &store, "acme")
        .code(2)
        .one_error_line()
        .stderr_has("orgexport.toml line 2")
        .stderr_has("link_tll")
        .run();
    std::fs::write(
        store.path().join("orgexport.toml"),
        "include_referenced = \"yes\"\n",
    )
    .unwrap();
    Orgexport::export(&db, &store, "acme")
        .code(2)
        .stderr_has("line 1")
        .run();
}

#[test]
fn plan_proposes_no_config_for_the_tools_own_history_schema() {
    let db = example_db();
    let store = TempDir::new();
    // A first export creates schema orgexport, whose audit_log.export_id names exports.id.
    Orgexport::export(&db, &store, "acme").run();
    let plan = Orgexport::on(&db, &store, &["plan", "--org", "acme", "--json"])
        .run()
        .json();
    let proposed = plan["proposed_config"].to_string();
    assert!(!proposed.contains("orgexport."), "{proposed}");
    Orgexport::on(&db, &store, &["plan", "--org", "acme"])
        .stdout_lacks("orgexport.audit_log.export_id")
        .stdout_lacks("orgexport.exports(")
        .run();
}

#[test]
fn list_shows_history_newest_first_with_filters() {
    let db = example_db();
    let store = TempDir::new();
    for org in ["acme", "globex", "acme"] {
        Orgexport::export(&db, &store, org).run();
    }
    Orgexport::export(&db, &store, "nope").code(3).run();
    let all = Orgexport::on(&db, &store, &["list", "--json"]).run().json();
    let orgs: Vec<&str> = all["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["org_lookup"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, vec!["acme", "globex", "acme"]);
    let acme = Orgexport::on(
        &db,
        &store,
        &["list", "--org", "acme", "--limit", "1", "--json"],
    )
    .run()
    .json();
    assert_eq!(acme["exports"].as_array().unwrap().len(), 1);
    assert_eq!(acme["exports"][0]["status"], "completed");
    assert!(acme["exports"][0]["record_count"].as_i64().unwrap() > 0);
    let failed = Orgexport::on(&db, &store, &["list", "--status", "failed", "--json"])
        .run()
        .json();
    assert_eq!(failed["exports"].as_array().unwrap().len(), 0);
    let human = Orgexport::on(&db, &store, &["list"]).run();
    assert_eq!(human.stdout.lines().count(), 4, "{}", human.stdout);
    assert!(human.stdout.lines().nth(1).unwrap().contains("acme"));
}

/// The ORG column of `list`'s table, one entry per export.
fn org_column(list: &support::Run) -> Vec<String> {
    list.stdout
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().nth(1).unwrap_or("").to_string())
        .collect()
}

fn export_ids(json: &Value, list: &str) -> Vec<String> {
    json[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["export_id"]
                .as_str()
                .or(e["id"].as_str())
                .unwrap()
                .to_string()
        })
        .collect()
}

#[test]
fn list_and_prune_find_an_org_by_any_lookup_and_show_its_current_name() {
    let db = example_db();
    let store = TempDir::new();
    // initech is id 3, acme id 1: the operator types whatever is at hand.
    for org in ["3", "1", "Acme Corporation", "acme"] {
        Orgexport::export(&db, &store, org).run();
    }
    let initech = Orgexport::on(&db, &store, &["list", "--org", "initech", "--json"])
        .run()
        .json();
    assert_eq!(initech["exports"].as_array().unwrap().len(), 1);
    assert_eq!(initech["exports"][0]["org"], "initech");
    assert_eq!(
        initech["exports"][0]["org_lookup"], "3",
        "what was typed stays recorded"
    );

    db.execute("UPDATE public.orgs SET slug = 'acme-inc' WHERE id = 1");
    let acme = Orgexport::on(&db, &store, &["list", "--org", "Acme Corporation"]).run();
    assert_eq!(org_column(&acme), vec!["acme-inc"; 3], "{}", acme.stdout);
    let dry = Orgexport::on(
        &db,
        &store,
        &[
            "prune",
            "--keep",
            "1",
            "--org",
            "acme-inc",
            "--dry-run",
            "--json",
        ],
    )
    .run()
    .json();
    assert_eq!(export_ids(&dry, "pruned").len(), 2, "{dry}");

    // An org deleted since is found by the lookup or the key its exports recorded.
    db.execute("INSERT INTO public.orgs (slug, name) VALUES ('wayne', 'Wayne Enterprises')");
    Orgexport::export(&db, &store, "wayne").run();
    db.execute("DELETE FROM public.orgs WHERE slug = 'wayne'");
    for lookup in ["wayne", "6"] {
        let gone = Orgexport::on(&db, &store, &["list", "--org", lookup]).run();
        assert_eq!(org_column(&gone), vec!["wayne"], "{}", gone.stdout);
    }
    Orgexport::on(
        &db,
        &store,
        &["prune", "--older-than", "0s", "--org", "wayne"],
    )
    .stdout_has_line("pruned ", "wayne")
    .run();
    Orgexport::on(&db, &store, &["list", "--org", "wane"])
        .code(3)
        .stdout_is("")
        .stderr_has("org \"wane\" not found")
        .stderr_has("nor does any export in the history record it")
        .run();
}

#[test]
fn prune_acts_per_store_skipping_and_not_counting_exports_in_another_store() {
    let db = example_db();
    let local = TempDir::new();
    let other = TempDir::new();
    let exported = |store: &TempDir| {
        let out = Orgexport::export(&db, store, "acme")
            .arg("--json")
            .run()
            .json();
        out["exports"][0]["export_id"].as_str().unwrap().to_string()
    };
    let elsewhere = exported(&other);
    let ids: Vec<String> = (0..3).map(|_| exported(&local)).collect();

    // --keep 3 counts the local store's three: nothing to prune, the other store's skipped.
    let keep3 = Orgexport::on(&db, &local, &["prune", "--keep", "3", "--json"])
        .run()
        .json();
    assert_eq!(export_ids(&keep3, "pruned"), Vec::<String>::new());
    assert_eq!(export_ids(&keep3, "skipped"), vec![elsewhere.clone()]);

    // The nightly cron line: prunes the local ones, says what it skipped, exits 0.
    Orgexport::on(
        &db,
        &local,
        &["prune", "--older-than", "0s", "--org", "acme"],
    )
    .stdout_has_line(&format!("pruned {}", ids[0]), "acme")
    .stdout_has_line(&format!("skipped {elsewhere}"), "is another store's")
    .stderr_has("pruned 3 export(s); 1 in other stores skipped")
    .run();
    assert!(local.files().is_empty());
    assert_eq!(
        other.files().len(),
        2,
        "the other store's archive is untouched"
    );
    assert_eq!(
        db.scalar_text(&format!(
            "SELECT status FROM orgexport.exports WHERE id = '{elsewhere}'"
        ))
        .unwrap(),
        "completed"
    );
    // From its own store it is pruned as usual.
    Orgexport::on(&db, &other, &["prune", "--keep", "0"])
        .stdout_has_line(&format!("pruned {elsewhere}"), "acme")
        .run();
    assert!(other.files().is_empty());
}

#[test]
fn link_reissues_for_completed_exports_audits_and_refuses_others() {
    let db = example_db();
    let store = TempDir::new();
    let out = Orgexport::export(&db, &store, "acme")
        .arg("--json")
        .run()
        .json();
    let id = out["exports"][0]["export_id"].as_str().unwrap().to_string();
    let link = Orgexport::on(&db, &store, &["link", &id, "--ttl", "1h", "--json"])
        .run()
        .json();
    assert_eq!(link["export_id"], id.as_str());
    assert_eq!(link["link"], out["exports"][0]["link"]);
    let details = db.scalar_text(&format!(
        "SELECT details::text FROM orgexport.audit_log WHERE action = 'link.issued' AND export_id = '{id}'"
    ));
    let details: Value = serde_json::from_str(&details.unwrap()).unwrap();
    assert_eq!(details["ttl_seconds"], 3600);
    assert!(
        !details.to_string().contains("file://"),
        "the audit never holds the link"
    );

    db.execute(&format!(
        "UPDATE orgexport.exports SET status = 'failed' WHERE id = '{id}'"
    ));
    Orgexport::on(&db, &store, &["link", &id])
        .code(2)
        .stderr_has("is failed")
        .run();
    Orgexport::on(&db, &store, &["link", "not-a-uuid"])
        .code(2)
        .run();
}

fn regzip(path: &std::path::Path, edit: impl Fn(String) -> String) {
    let mut text = String::new();
    use std::io::Read;
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    // Level 1: a different encoding of the same JSON than the tool's level 6.
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(edit(text).as_bytes()).unwrap();
    std::fs::write(path, e.finish().unwrap()).unwrap();
}

#[test]
fn verify_accepts_good_archives_and_names_the_first_problem_of_bad_ones() {
    let db = example_db();
    let store = TempDir::new();
    let out = Orgexport::export(&db, &store, "acme")
        .arg("--json")
        .run()
        .json();
    let id = out["exports"][0]["export_id"].as_str().unwrap().to_string();
    let link = out["exports"][0]["link"].as_str().unwrap().to_string();
    let path = url::Url::parse(&link).unwrap().to_file_path().unwrap();

    for target in [id.as_str(), link.as_str(), path.to_str().unwrap()] {
        let v = Orgexport::on(&db, &store, &["verify", target, "--json"])
            .run()
            .json();
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["sections"], 15);
        assert_eq!(v["records"], out["exports"][0]["record_count"]);
    }
    let good = std::fs::read(&path).unwrap();
    let copy = store.path().join("acme-1").join("copy.json.gz");
    let check_bad = |bytes: &[u8], expect: &str| {
        std::fs::write(&copy, bytes).unwrap();
        Orgexport::on(&db, &store, &["verify", copy.to_str().unwrap()])
            .code(1)
            .one_error_line()
            .stderr_has(expect)
            .run();
    };
    // The archive alone (what a customer downloads): the manifest inside is the reference.
    std::fs::write(&copy, &good).unwrap();
    Orgexport::on(&db, &store, &["verify", copy.to_str().unwrap()])
        .stdout_has("checked against the manifest inside")
        .run();
    // Not gzip at all, or empty: said plainly.
    check_bad(
        b"{\"manifest\": {}}",
        "not a gzip file (it starts with 7b226d61",
    );
    check_bad(b"", "the file is empty");
    // By export id without its sidecar: the history row's size and digest are the reference.
    let sidecar_path = path.with_file_name(format!("{id}.manifest.json"));
    let kept = std::fs::read(&sidecar_path).unwrap();
    std::fs::remove_file(&sidecar_path).unwrap();
    Orgexport::on(&db, &store, &["verify", id.as_str()])
        .stdout_has("checked against its manifest and history row")
        .run();
    std::fs::write(&path, &good[..good.len() - 1]).unwrap();
    Orgexport::on(&db, &store, &["verify", id.as_str()])
        .code(1)
        .run();
    std::fs::write(&path, &good).unwrap();
    std::fs::write(&sidecar_path, kept).unwrap();
    let sidecar = std::fs::read(path.with_file_name(format!("{id}.manifest.json"))).unwrap();
    std::fs::write(
        store.path().join("acme-1").join("copy.manifest.json"),
        &sidecar,
    )
    .unwrap();
    check_bad(&good[..good.len() / 2], "truncated");
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x10;
    check_bad(&flipped, "is not a sound archive");
    // A flip in the last member's CRC-32 leaves valid-looking JSON: gzip's check catches it.
    let mut flipped = good.clone();
    flipped[good.len() - 6] ^= 0x01;
    check_bad(&flipped, "gzip");
    // Rewritten with a wrong count: the archive itself is inconsistent.
    std::fs::write(&copy, &good).unwrap();
    regzip(&copy, |t| {
        t.replacen("\"record_count\":300", "\"record_count\":301", 1)
    });
    let bad = std::fs::read(&copy).unwrap();
    check_bad(&bad, "holds 300 rows, the manifest says 301");
    // A consistent archive that is not the one the sidecar describes.
    std::fs::write(&copy, &good).unwrap();
    regzip(&copy, |t| t);
    let other = std::fs::read(&copy).unwrap();
    check_bad(&other, "mismatch");
}

#[test]
fn prune_dry_run_deletes_nothing_and_prune_keeps_rows_marked_pruned() {
    let db = example_db();
    let store = TempDir::new();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let out = Orgexport::export(&db, &store, "acme")
            .arg("--json")
            .run()
            .json();
        ids.push(out["exports"][0]["export_id"].as_str().unwrap().to_string());
    }
    let before = store.files();
    assert_eq!(before.len(), 6);
    let dry = Orgexport::on(
        &db,
        &store,
        &["prune", "--keep", "1", "--dry-run", "--json"],
    )
    .run()
    .json();
    assert_eq!(dry["pruned"].as_array().unwrap().len(), 2);
    assert_eq!(store.files(), before, "--dry-run deletes nothing");
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM orgexport.exports WHERE status = 'pruned'"),
        0
    );

    let done = Orgexport::on(&db, &store, &["prune", "--keep", "1", "--json"])
        .run()
        .json();
    let pruned: Vec<&str> = done["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["export_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        pruned,
        vec![ids[0].as_str(), ids[1].as_str()],
        "the oldest go first"
    );
    assert_eq!(
        store.files(),
        vec![
            format!("acme-1/{}.json.gz", ids[2]),
            format!("acme-1/{}.manifest.json", ids[2])
        ]
    );
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM orgexport.exports WHERE status = 'pruned'"),
        2
    );
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM orgexport.audit_log WHERE action = 'export.pruned'"),
        2
    );
    Orgexport::on(&db, &store, &["link", &ids[0]])
        .fails()
        .stderr_has("pruned")
        .run();

    let all = Orgexport::on(&db, &store, &["prune", "--older-than", "0s", "--json"])
        .run()
        .json();
    assert_eq!(all["pruned"].as_array().unwrap().len(), 1);
    assert!(store.files().is_empty());
}

#[test]
fn check_reports_each_check_and_fails_on_an_unwritable_store() {
    let db = example_db();
    let store = TempDir::new();
    let run = Orgexport::on(&db, &store, &["check"]).run();
    assert_eq!(
        run.stdout.lines().filter(|l| l.starts_with('✔')).count(),
        7,
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "✔ encryption: archives not encrypted client-side (--encrypt-to); a local directory: no server-side encryption"
        ),
        "{}",
        run.stdout
    );
    let file = store.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let out = Orgexport::new()
        .current_dir(store.path())
        .args(["check", "--json"])
        .database(&db)
        .store(file.join("sub"))
        .code(6)
        .run()
        .json();
    assert_eq!(out["ok"], false);
    let store_check = out["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "store")
        .unwrap();
    assert_eq!(store_check["ok"], false);
}

#[test]
fn stderr_is_timestamped_log_lines_when_not_a_terminal_and_quiet_keeps_one_per_export() {
    let db = example_db();
    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "acme")
        .stderr_has("exported org acme")
        .run();
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("public.tasks: 300 rows"))
        .expect(&run.stderr);
    let stamp = line.split(' ').next().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{line}"
    );
    // -q: one line per export, which names the org and the export the link is of.
    let run = Orgexport::export(&db, &store, "acme").arg("-q").run();
    assert!(run.stdout.starts_with("file://"), "{}", run.stdout);
    let id = Archive::from_run(&run).manifest["export_id"]
        .as_str()
        .unwrap()
        .to_string();
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    let (stamp, rest) = lines[0].split_once(' ').unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{}",
        lines[0]
    );
    assert!(
        rest.starts_with(&format!(
            "orgexport: exported org acme (public.orgs 1): export {id}, "
        )),
        "{}",
        lines[0]
    );
    // -v shows the generated SQL.
    Orgexport::export(&db, &store, "acme")
        .arg("-v")
        .stderr_has("COPY (WITH")
        .run();
}

#[test]
fn completions_are_printed_for_each_shell() {
    let store = TempDir::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        Orgexport::new()
            .current_dir(store.path())
            .args(["completions", shell])
            .stdout_has("orgexport")
            .stdout_has("verify")
            .run();
    }
}

#[test]
fn a_terminal_gets_progress_bars_per_section() {
    let db = example_db();
    let store = TempDir::new();
    // What the terminal shows, stdout and stderr together, is `Run::stdout`.
    let run = Orgexport::export(&db, &store, "acme")
        .in_terminal()
        .stdout_has("public.tasks")
        .stdout_has("300 rows")
        .stdout_has("rows/s")
        // Before a section's first row (its query may take a while), its spinner says so.
        .stdout_has("waiting for the first row")
        // Bytes per second.
        .stdout_has_one_of(&["/s,", "B/s"])
        // The overall bar.
        .stdout_has("15/15 sections")
        .stdout_has("exported org acme")
        .run();
    let screen = run.stdout;
    let stamp = screen
        .lines()
        .any(|l| chrono::DateTime::parse_from_rfc3339(l.split(' ').next().unwrap_or("")).is_ok());
    assert!(!stamp, "no timestamped log lines on a terminal: {screen}");
}

#[test]
fn check_without_a_database_exits_5_and_still_checks_the_store() {
    let store = TempDir::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    Orgexport::new()
        .current_dir(store.path())
        .args([
            "check",
            "--database-url",
            &format!("postgres://app:pw@127.0.0.1:{closed}/x"),
        ])
        .store(store.path())
        .code(5)
        .stdout_has_line("✘ database", "")
        .stdout_has_line("✔ store", "")
        // No password in the output.
        .stdout_lacks("pw@")
        .run();
}

#[test]
fn argument_errors_under_json_print_the_error_object_on_stdout() {
    let cwd = TempDir::new();
    for args in [
        vec!["run", "--json", "--bogus"],
        vec!["plan", "--json"],
        vec!["--json", "list", "--status", "nope"],
    ] {
        let run = Orgexport::new()
            .current_dir(cwd.path())
            .args(&args)
            .code(2)
            .one_error_line()
            .run();
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "one JSON object on stdout: {}", run.stdout);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["error"]["code"], "usage", "{v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    // Without --json: the same one line, still exit 2, nothing on stdout.
    Orgexport::new()
        .current_dir(cwd.path())
        .args(["run", "--bogus"])
        .code(2)
        .stdout_is("")
        .one_error_line()
        .stderr_has("orgexport: error: unexpected argument '--bogus' found")
        .run();
}
