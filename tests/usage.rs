//! What an operator sees when something is typed or set up wrong: one `orgexport: error:`
//! line with the fix (with `--json`, the error object on stdout too), the exit code, and no
//! side effects from commands that only look.

mod support;

use serde_json::Value;
use support::{Expect, Orgexport, TempDir, TestDb};

fn example_db() -> TestDb {
    let db = TestDb::new();
    db.execute(include_str!("../examples/saas.sql"));
    db
}

/// The one stderr line and, under `--json`, the error object with code `usage`.
fn usage_error(args: &[&str], says: &str) {
    let cwd = TempDir::new();
    Orgexport::new()
        .current_dir(cwd.path())
        .args(args)
        .code(2)
        .stdout_is("")
        .stderr_is(&format!("orgexport: error: {says}\n"))
        .run();
    let json = Orgexport::new()
        .current_dir(cwd.path())
        .args(args)
        .arg("--json")
        .code(2)
        .stderr_is(&format!("orgexport: error: {says}\n"))
        .run();
    let v: Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(v["error"]["code"], "usage");
    assert_eq!(v["error"]["message"], says);
}

#[test]
fn argument_errors_are_one_line_with_the_fix() {
    usage_error(
        &["run"],
        "the following required arguments were not provided: --org <KEY>; pass --org KEY (its key, slug or name; repeatable) or --all-orgs to export every org",
    );
    usage_error(
        &["run", "--org", "acme", "--dry-run"],
        "unexpected argument '--dry-run' found; run has no --dry-run: `orgexport plan --org KEY` shows what it would export, with row counts",
    );
    usage_error(
        &["list", "--limt", "3"],
        "unexpected argument '--limt' found; a similar argument exists: '--limit'",
    );
    usage_error(
        &["list", "--limit", "x"],
        "invalid value 'x' for '--limit <N>': invalid digit found in string; see `orgexport list --help`",
    );
}

#[test]
fn a_link_ttl_of_zero_is_refused() {
    let db = example_db();
    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "acme")
        .arg("--json")
        .run()
        .json();
    let id = run["exports"][0]["export_id"].as_str().unwrap().to_string();
    Orgexport::on(&db, &store, &["link", &id, "--ttl", "0s"])
        .code(2)
        .stdout_is("")
        .stderr_is("orgexport: error: the link TTL is 0: the link would be expired when printed; use e.g. 15m\n")
        .run();
}

#[test]
fn check_creates_no_store_directory() {
    let db = example_db();
    let cwd = TempDir::new();
    let missing = cwd.path().join("exports").join("nightly");
    Orgexport::new()
        .current_dir(cwd.path())
        .args(["check", "--store", missing.to_str().unwrap()])
        .database(&db)
        .stdout_has_line("✔ store", "does not exist yet; the first run creates it")
        .run();
    assert!(
        !cwd.path().join("exports").exists(),
        "check created nothing"
    );
}

#[test]
fn a_store_path_that_is_a_file_is_named_as_such() {
    let cwd = TempDir::new();
    let file = cwd.path().join("exports");
    std::fs::write(&file, b"not a directory").unwrap();
    let store = file.to_str().unwrap();
    let db = example_db();
    Orgexport::new()
        .current_dir(cwd.path())
        .args(["run", "--org", "acme", "--store", store])
        .database(&db)
        .code(6)
        .stdout_is("")
        .stderr_is(&format!(
            "orgexport: error: the store {store} is a file, not a directory; pass a directory (or file:///abs/dir) to --store\n"
        ))
        .run();
    Orgexport::new()
        .current_dir(cwd.path())
        .args(["check", "--store", &format!("{store}/nested")])
        .database(&db)
        .code(6)
        .stdout_has_line("✘ store", "is a file; pass a directory")
        .run();
}

#[test]
fn a_failed_restore_is_restore_failed_under_json_with_exit_1() {
    let cwd = TempDir::new();
    let bogus = cwd.path().join("acme.json.gz");
    std::fs::write(&bogus, b"this is not gzip").unwrap();
    let target = example_db();
    let run = Orgexport::new()
        .current_dir(cwd.path())
        .args([
            "restore",
            bogus.to_str().unwrap(),
            "--target-url",
            &target.url,
            "--json",
        ])
        .code(1)
        .stderr_has("orgexport: error: restore failed: ")
        .run();
    let v: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(v["error"]["code"], "restore_failed", "{v}");
}
