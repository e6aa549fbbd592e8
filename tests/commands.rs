//! The operator's commands around `run`: plan, list, link, verify, prune, check, completions,
//! configuration, caps and filters, and what stderr looks like from cron.

mod support;

use std::io::Write;

use serde_json::Value;
use support::{Archive, Run, TempDir, TestDb, orgexport, run_export};

fn example_db() -> TestDb {
    let db = TestDb::new();
    db.execute(include_str!("../examples/saas.sql"));
    db.execute(
        "CREATE TABLE public.notes (id int, org_id bigint NOT NULL REFERENCES orgs, body text)",
    );
    db
}

fn cmd(db: &TestDb, store: &TempDir, args: &[&str]) -> Run {
    let output = orgexport(store.path())
        .args(args)
        .args(["--database-url", &db.url, "--store"])
        .arg(store.path())
        .output()
        .unwrap();
    Run::from(output)
}

fn json(run: &Run) -> Value {
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(run.stdout.trim()).expect("stdout is one JSON object")
}

#[test]
fn plan_lists_exactly_what_run_writes() {
    let db = example_db();
    let store = TempDir::new();
    let archive = Archive::from_run(&run_export(&db, &store, "acme", &[]));
    let plan = json(&cmd(&db, &store, &["plan", "--org", "acme", "--json"]));
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
    let plan = json(&cmd(
        &db,
        &store,
        &["plan", "--org", "acme", "--estimate", "--json"],
    ));
    let tasks = plan["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "public.tasks")
        .unwrap();
    assert_eq!(tasks["estimated_rows"], 1500, "the whole table's reltuples");
    assert!(tasks["rows_source"].as_str().unwrap().contains("reltuples"));
    let human = cmd(&db, &store, &["plan", "--org", "acme"]);
    assert_eq!(human.code, 0, "{}", human.stderr);
    assert!(human.stdout.contains("public.tasks") && human.stdout.contains("not exported:"));
}

#[test]
fn max_rows_caps_sections_and_the_manifest_says_so() {
    let db = example_db();
    let store = TempDir::new();
    let archive = Archive::from_run(&run_export(
        &db,
        &store,
        "acme",
        &["--max-rows-per-table", "10"],
    ));
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
    let archive = Archive::from_run(&run_export(
        &db,
        &store,
        "acme",
        &["--tables", "public.task*", "--tables", "public.comments"],
    ));
    archive.assert_sections(&["public.tasks", "public.task_labels", "public.comments"]);
    archive.assert_section_equals(
        &db,
        "public.comments",
        "SELECT c.* FROM comments c JOIN tasks t ON t.id = c.task_id JOIN projects p ON p.id = t.project_id WHERE p.org_id = 1",
    );
    let archive = Archive::from_run(&run_export(
        &db,
        &store,
        "acme",
        &["--exclude-tables", "billing.*"],
    ));
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
    let archive = Archive::from_run(&run_export(&db, &store, "acme", &[]));
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
    let run = run_export(&db, &store, "acme", &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    run.assert_one_error_line();
    assert!(
        run.stderr.contains("orgexport.toml line 2") && run.stderr.contains("link_tll"),
        "{}",
        run.stderr
    );
    std::fs::write(
        store.path().join("orgexport.toml"),
        "include_referenced = \"yes\"\n",
    )
    .unwrap();
    let run = run_export(&db, &store, "acme", &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("line 1"), "{}", run.stderr);
}

#[test]
fn list_shows_history_newest_first_with_filters() {
    let db = example_db();
    let store = TempDir::new();
    for org in ["acme", "globex", "acme"] {
        assert_eq!(run_export(&db, &store, org, &[]).code, 0);
    }
    assert_eq!(run_export(&db, &store, "nope", &[]).code, 3);
    let all = json(&cmd(&db, &store, &["list", "--json"]));
    let orgs: Vec<&str> = all["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["org_lookup"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, vec!["acme", "globex", "acme"]);
    let acme = json(&cmd(
        &db,
        &store,
        &["list", "--org", "acme", "--limit", "1", "--json"],
    ));
    assert_eq!(acme["exports"].as_array().unwrap().len(), 1);
    assert_eq!(acme["exports"][0]["status"], "completed");
    assert!(acme["exports"][0]["record_count"].as_i64().unwrap() > 0);
    let failed = json(&cmd(&db, &store, &["list", "--status", "failed", "--json"]));
    assert_eq!(failed["exports"].as_array().unwrap().len(), 0);
    let human = cmd(&db, &store, &["list"]);
    assert_eq!(human.stdout.lines().count(), 4, "{}", human.stdout);
    assert!(human.stdout.lines().nth(1).unwrap().contains("acme"));
}

#[test]
fn link_reissues_for_completed_exports_audits_and_refuses_others() {
    let db = example_db();
    let store = TempDir::new();
    let run = run_export(&db, &store, "acme", &["--json"]);
    let out = json(&run);
    let id = out["exports"][0]["export_id"].as_str().unwrap().to_string();
    let link = json(&cmd(&db, &store, &["link", &id, "--ttl", "1h", "--json"]));
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
    let run = cmd(&db, &store, &["link", &id]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("is failed"), "{}", run.stderr);
    let run = cmd(&db, &store, &["link", "not-a-uuid"]);
    assert_eq!(run.code, 2);
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
    let out = json(&run_export(&db, &store, "acme", &["--json"]));
    let id = out["exports"][0]["export_id"].as_str().unwrap().to_string();
    let link = out["exports"][0]["link"].as_str().unwrap().to_string();
    let path = url::Url::parse(&link).unwrap().to_file_path().unwrap();

    for target in [id.as_str(), link.as_str(), path.to_str().unwrap()] {
        let v = json(&cmd(&db, &store, &["verify", target, "--json"]));
        assert_eq!(v["ok"], true, "{v}");
        assert_eq!(v["sections"], 15);
        assert_eq!(v["records"], out["exports"][0]["record_count"]);
    }
    let good = std::fs::read(&path).unwrap();
    let copy = store.path().join("acme-1").join("copy.json.gz");
    let check_bad = |bytes: &[u8], expect: &str| {
        std::fs::write(&copy, bytes).unwrap();
        let run = cmd(&db, &store, &["verify", copy.to_str().unwrap()]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        run.assert_one_error_line();
        assert!(
            run.stderr.contains(expect),
            "expected {expect:?}: {}",
            run.stderr
        );
    };
    // The archive alone (what a customer downloads): the manifest inside is the reference.
    std::fs::write(&copy, &good).unwrap();
    let alone = cmd(&db, &store, &["verify", copy.to_str().unwrap()]);
    assert_eq!(alone.code, 0, "{}", alone.stderr);
    assert!(
        alone.stdout.contains("checked against the manifest inside"),
        "{}",
        alone.stdout
    );
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
    let by_id = cmd(&db, &store, &["verify", id.as_str()]);
    assert_eq!(by_id.code, 0, "{}", by_id.stderr);
    assert!(
        by_id
            .stdout
            .contains("checked against its manifest and history row"),
        "{}",
        by_id.stdout
    );
    std::fs::write(&path, &good[..good.len() - 1]).unwrap();
    let by_id = cmd(&db, &store, &["verify", id.as_str()]);
    assert_eq!(by_id.code, 1, "{}", by_id.stderr);
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
        let out = json(&run_export(&db, &store, "acme", &["--json"]));
        ids.push(out["exports"][0]["export_id"].as_str().unwrap().to_string());
    }
    let before = store.files();
    assert_eq!(before.len(), 6);
    let dry = json(&cmd(
        &db,
        &store,
        &["prune", "--keep", "1", "--dry-run", "--json"],
    ));
    assert_eq!(dry["pruned"].as_array().unwrap().len(), 2);
    assert_eq!(store.files(), before, "--dry-run deletes nothing");
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM orgexport.exports WHERE status = 'pruned'"),
        0
    );

    let done = json(&cmd(&db, &store, &["prune", "--keep", "1", "--json"]));
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
    let run = cmd(&db, &store, &["link", &ids[0]]);
    assert!(run.stderr.contains("pruned"), "{}", run.stderr);

    let all = json(&cmd(
        &db,
        &store,
        &["prune", "--older-than", "0s", "--json"],
    ));
    assert_eq!(all["pruned"].as_array().unwrap().len(), 1);
    assert!(store.files().is_empty());
}

#[test]
fn check_reports_each_check_and_fails_on_an_unwritable_store() {
    let db = example_db();
    let store = TempDir::new();
    let run = cmd(&db, &store, &["check"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.stdout.lines().filter(|l| l.starts_with('✔')).count(),
        6,
        "{}",
        run.stdout
    );
    let file = store.path().join("file");
    std::fs::write(&file, b"").unwrap();
    let output = orgexport(store.path())
        .args(["check", "--json", "--database-url", &db.url, "--store"])
        .arg(file.join("sub"))
        .output()
        .unwrap();
    let run = Run::from(output);
    assert_eq!(run.code, 6, "{}", run.stderr);
    let out: Value = serde_json::from_str(run.stdout.trim()).unwrap();
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
fn stderr_is_timestamped_log_lines_when_not_a_terminal_and_quiet_silences_it() {
    let db = example_db();
    let store = TempDir::new();
    let run = run_export(&db, &store, "acme", &[]);
    assert_eq!(run.code, 0);
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
    assert!(run.stderr.contains("exported org acme"));
    let run = run_export(&db, &store, "acme", &["-q"]);
    assert_eq!(run.code, 0);
    assert_eq!(run.stderr, "");
    assert!(run.stdout.starts_with("file://"));
    let run = run_export(&db, &store, "acme", &["-v"]);
    assert!(
        run.stderr.contains("COPY (WITH"),
        "-v shows the generated SQL"
    );
}

#[test]
fn completions_are_printed_for_each_shell() {
    let store = TempDir::new();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = Run::from(
            orgexport(store.path())
                .args(["completions", shell])
                .output()
                .unwrap(),
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(
            run.stdout.contains("orgexport") && run.stdout.contains("verify"),
            "{shell}"
        );
    }
}

#[test]
fn a_terminal_gets_progress_bars_per_section() {
    let db = example_db();
    let store = TempDir::new();
    // `script` gives the tool a pseudo-terminal, as an operator's shell would.
    let command = format!(
        "{} run --org acme --database-url {} --store {}",
        env!("CARGO_BIN_EXE_orgexport"),
        db.url,
        store.path().display()
    );
    let run = Run::from(
        std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .current_dir(store.path())
            .env("TERM", "xterm")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let screen = run.stdout;
    assert!(
        screen.contains("public.tasks") && screen.contains("300 rows"),
        "{screen}"
    );
    assert!(screen.contains("rows/s"), "rows per second: {screen}");
    // Before a section's first row (its query may take a while), its spinner says so.
    assert!(screen.contains("waiting for the first row"), "{screen}");
    assert!(
        screen.contains("/s,") || screen.contains("B/s"),
        "bytes per second: {screen}"
    );
    assert!(
        screen.contains("15/15 sections"),
        "the overall bar: {screen}"
    );
    assert!(screen.contains("exported org acme"), "{screen}");
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
    let output = orgexport(store.path())
        .args([
            "check",
            "--database-url",
            &format!("postgres://app:pw@127.0.0.1:{closed}/x"),
            "--store",
        ])
        .arg(store.path())
        .output()
        .unwrap();
    let run = Run::from(output);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(
        run.stdout.lines().any(|l| l.starts_with("✘ database")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.lines().any(|l| l.starts_with("✔ store")),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("pw@"), "no password in the output");
}

#[test]
fn argument_errors_under_json_print_the_error_object_on_stdout() {
    let cwd = TempDir::new();
    for args in [
        vec!["run", "--json", "--bogus"],
        vec!["plan", "--json"],
        vec!["--json", "list", "--status", "nope"],
    ] {
        let run = Run::from(orgexport(cwd.path()).args(&args).output().unwrap());
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        let lines: Vec<&str> = run.stdout.lines().collect();
        assert_eq!(lines.len(), 1, "one JSON object on stdout: {}", run.stdout);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["error"]["code"], "usage", "{v}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
        run.assert_one_error_line();
    }
    // Without --json: clap's own message and usage, still exit 2, nothing on stdout.
    let run = Run::from(
        orgexport(cwd.path())
            .args(["run", "--bogus"])
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 2);
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("Usage:"), "{}", run.stderr);
}
