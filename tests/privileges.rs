//! Least privilege: a dedicated role with only USAGE and SELECT on the application's schemas.
//! `plan` and `verify` of a path work as it with no history privilege (and create nothing);
//! `check` names each missing privilege with its GRANT, one line each, exit 5 every time;
//! `run` and `list` refuse in one line with the grants; `setup` (as the owner) creates the
//! history schema and `setup --print-grants ROLE` prints the SQL after which `run` succeeds.

mod support;

use support::{Archive, Expect, Orgexport, TempDir, TestDb};

const OTHER_ORG: &str = "GLOBEX-PRIVATE-marker";

/// Two application schemas; the role `exporter_<db>` may read them and nothing else.
fn fixture() -> (TestDb, String, String) {
    let db = TestDb::new();
    db.execute(&format!(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text UNIQUE);
         CREATE TABLE tasks (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, title text);
         CREATE SCHEMA billing;
         CREATE TABLE billing.invoices (id serial PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, total int);
         INSERT INTO orgs VALUES (1, 'acme'), (2, 'globex');
         INSERT INTO tasks SELECT g, 1, 'task ' || g FROM generate_series(1, 20) g;
         INSERT INTO tasks VALUES (100, 2, '{OTHER_ORG}');
         INSERT INTO billing.invoices (org_id, total) VALUES (1, 10), (2, 20);"
    ));
    let role = format!("exporter_{}", db.name);
    db.execute(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD 'least-pw';
         REVOKE CREATE ON DATABASE {db} FROM PUBLIC;
         GRANT USAGE ON SCHEMA public, billing TO {role};
         GRANT SELECT ON ALL TABLES IN SCHEMA public, billing TO {role};",
        db = db.name
    ));
    let url = format!(
        "postgres://{role}:least-pw@127.0.0.1:{}/{}",
        db.port, db.name
    );
    (db, role, url)
}

fn as_role(url: &str, store: &TempDir, args: &[&str]) -> Orgexport {
    Orgexport::new()
        .current_dir(store.path())
        .args(args)
        .args(["--database-url", url])
        .store(store.path())
}

fn schema_exists(db: &TestDb) -> bool {
    db.scalar_i64("SELECT count(*) FROM pg_namespace WHERE nspname = 'orgexport'") == 1
}

#[test]
fn a_read_only_role_plans_and_verifies_without_history_and_run_names_the_fix() {
    let (db, role, url) = fixture();
    let store = TempDir::new();
    // No history yet, and the role may not create it: plan works and creates nothing.
    as_role(&url, &store, &["plan", "--org", "acme"])
        .stdout_has("public.tasks")
        .stdout_has("billing.invoices")
        .run();
    assert!(!schema_exists(&db));
    as_role(&url, &store, &["run", "--org", "acme"])
        .code(5)
        .one_error_line()
        .stderr_has(format!(
            "GRANT CREATE ON DATABASE \"{}\" TO \"{role}\";",
            db.name
        ))
        .stderr_has("orgexport setup")
        .stderr_lacks("permission denied")
        .run();
    assert!(!schema_exists(&db));
    assert!(store.files().is_empty());

    // The owner creates the history and exports once (another role created the schema).
    Orgexport::on(&db, &store, &["setup"])
        .stderr_has("schema orgexport is ready")
        .run();
    assert!(schema_exists(&db));
    let owners = Archive::path_from_run(&Orgexport::export(&db, &store, "acme").run());
    let files = store.files();

    // Read-only commands need no history privilege: plan (which reconciles nothing here)
    // and verify of a path.
    as_role(&url, &store, &["plan", "--org", "acme"]).run();
    as_role(&url, &store, &["verify", owners.to_str().unwrap()])
        .stdout_has("ok: ")
        .run();
    // The history commands refuse in one line, with the grants, not a raw server error.
    for args in [vec!["run", "--org", "acme"], vec!["list"]] {
        as_role(&url, &store, &args)
            .code(5)
            .one_error_line()
            .stderr_has(format!("GRANT USAGE ON SCHEMA orgexport TO \"{role}\";"))
            .stderr_has("--print-grants")
            .stderr_lacks("permission denied")
            .run();
    }
    assert_eq!(store.files(), files, "nothing written by the refused run");
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM orgexport.exports"),
        1,
        "no history row either"
    );
}

#[test]
fn check_names_each_missing_privilege_with_its_grant_and_exits_5_every_time() {
    let (db, role, url) = fixture();
    let store = TempDir::new();
    Orgexport::on(&db, &store, &["setup"]).run();
    db.execute(&format!("REVOKE SELECT ON billing.invoices FROM {role}"));
    let expected = [
        format!("GRANT SELECT ON TABLE \"billing\".\"invoices\" TO \"{role}\";"),
        format!("GRANT USAGE ON SCHEMA orgexport TO \"{role}\";"),
        format!("GRANT SELECT ON TABLE orgexport.schema_version TO \"{role}\";"),
        format!("GRANT SELECT, INSERT, UPDATE ON TABLE orgexport.exports TO \"{role}\";"),
        format!("GRANT SELECT, INSERT ON TABLE orgexport.audit_log TO \"{role}\";"),
        format!("GRANT USAGE ON SEQUENCE orgexport.audit_log_id_seq TO \"{role}\";"),
    ];
    for _ in 0..2 {
        let mut check = as_role(&url, &store, &["check"])
            .code(5)
            .stderr_has("checks failed");
        for grant in &expected {
            check = check.stdout_has_line("✘ privilege: ", grant);
        }
        let run = check.run();
        let failed: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with('✘')).collect();
        assert_eq!(
            failed.len(),
            expected.len(),
            "one line per grant:\n{}",
            run.stdout
        );
    }
    let json = as_role(&url, &store, &["check", "--json"])
        .code(5)
        .run()
        .json();
    assert_eq!(json["ok"], false);
}

#[test]
fn after_the_printed_grants_the_role_exports_lists_and_checks() {
    let (db, role, url) = fixture();
    let store = TempDir::new();
    Orgexport::on(&db, &store, &["setup"]).run();
    let printed = Orgexport::on(&db, &store, &["setup", "--print-grants", &role]).run();
    assert!(
        printed.stdout.contains("GRANT USAGE ON SCHEMA \"billing\""),
        "{}",
        printed.stdout
    );
    assert!(!printed.stdout.contains("DELETE"));
    // What an operator does: pipe it into psql as the owner.
    db.execute(&printed.stdout);
    as_role(&url, &store, &["check"]).run();
    let run = as_role(&url, &store, &["run", "--org", "acme"]).run();
    let archive = Archive::from_run(&run);
    archive.assert_well_formed();
    archive.assert_section_equals(&db, "public.tasks", "SELECT * FROM tasks WHERE org_id = 1");
    assert!(
        !serde_json::to_string(&archive.sections)
            .unwrap()
            .contains(OTHER_ORG)
    );
    let listed = as_role(&url, &store, &["list", "--json"]).run().json();
    assert_eq!(listed["exports"][0]["status"], "completed");
    assert_eq!(
        db.scalar_text("SELECT db_role FROM orgexport.audit_log WHERE action = 'export.completed'")
            .as_deref(),
        Some(role.as_str())
    );
}
