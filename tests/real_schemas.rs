//! Scope on the patterns real application schemas use (DESIGN §2, §3): a Rails schema with no
//! declared foreign keys and a polymorphic pair, a Prisma schema with camelCase names and
//! secrets inside json, a "sharding keys" schema with CHECK-constraint ownership, and
//! row-level security. Every archive is read back and compared with independent SQL; other
//! orgs' rows and every secret carry markers that must appear nowhere.

mod support;

use support::{Archive, Expect, Orgexport, TempDir, TestDb};

const OTHER: &str = "MARKER-OTHER-ORG";
const SECRET: &str = "MARKER-SECRET";

fn fixture(sql: &str) -> TestDb {
    let db = TestDb::new();
    db.execute(sql);
    db
}

/// A config file in its own directory (the store directory stays archives-only).
fn config(text: &str) -> (TempDir, String) {
    let dir = TempDir::new();
    let path = dir.path().join("orgexport.toml");
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap().to_string();
    (dir, path)
}

/// `orgexport plan --org <org> --database-url <db>`, in `cwd`.
fn plan(db: &TestDb, cwd: &TempDir, org: &str) -> Orgexport {
    Orgexport::new()
        .current_dir(cwd.path())
        .args(["plan", "--org", org])
        .database(db)
}

fn assert_clean(archive: &Archive, markers: &[&str]) {
    for marker in markers {
        assert!(
            !archive.text.contains(marker),
            "{marker} leaked into the archive"
        );
    }
}

#[test]
fn rails_schema_without_foreign_keys_says_which_config_lines_to_add() {
    let db = fixture(include_str!("fixtures/rails.sql"));
    let store = TempDir::new();
    Orgexport::export(&db, &store, "acme")
        .code(2)
        .one_error_line()
        .stderr_has_all(&[
            "account_id (4 tables)",
            "tenant_columns = [\"account_id\"]",
            "root_table = \"public.accounts\"",
            "infer_references = true",
        ])
        .run();
    assert!(
        store.files().is_empty(),
        "nothing written: {:?}",
        store.files()
    );
}

#[test]
fn rails_schema_exports_with_infer_references_alone() {
    let db = fixture(include_str!("fixtures/rails.sql"));
    let store = TempDir::new();
    let (_dir, config) = config("infer_references = true\n");
    let archive = Archive::from_run(
        &Orgexport::export(&db, &store, "acme")
            .args(["--config", &config])
            .run(),
    );
    archive.assert_well_formed();
    archive.assert_sections(&[
        "public.accounts",
        "public.account_users",
        "public.projects",
        "public.issues",
        "public.comments",
        "public.attachments",
        "public.issue_events",
        "public.users",
    ]);
    archive.assert_section_equals(
        &db,
        "public.accounts",
        "SELECT * FROM accounts WHERE id = 1",
    );
    // The pair is adopted from acme's own rows: each attachment's type value names the
    // table its record id points into (not the globex-typed row with an acme issue's id).
    archive.assert_section_equals(
        &db,
        "public.attachments",
        "SELECT * FROM attachments WHERE (record_type = 'Issue' AND record_id IN \
         (SELECT id FROM issues WHERE account_id = 1)) OR (record_type = 'Project' AND \
         record_id IN (SELECT id FROM projects WHERE account_id = 1))",
    );
    for table in ["account_users", "projects", "issues", "comments"] {
        archive.assert_section_equals(
            &db,
            &format!("public.{table}"),
            &format!("SELECT * FROM {table} WHERE account_id = 1"),
        );
    }
    archive.assert_section_equals(
        &db,
        "public.issue_events",
        "SELECT * FROM issue_events WHERE issue_id IN (SELECT id FROM issues WHERE account_id = 1)",
    );
    archive.assert_section_equals(
        &db,
        "public.users",
        "SELECT id, email, sign_in_count, created_at FROM users WHERE id IN \
         (SELECT user_id FROM account_users WHERE account_id = 1 \
          UNION SELECT user_id FROM comments WHERE account_id = 1)",
    );
    let users = archive.manifest_section("public.users");
    assert_eq!(
        users["excluded_columns"],
        serde_json::json!(["encrypted_password", "otp_secret", "reset_password_token"])
    );
    assert!(
        archive.manifest_section("public.issue_events")["via"][0]
            .as_str()
            .unwrap()
            .contains("[inferred]")
    );
    assert_clean(&archive, &[OTHER, SECRET]);

    // plan shows the pairs adopted, as the config lines that pin them.
    let cwd = TempDir::new();
    plan(&db, &cwd, "acme")
        .args(["--config", &config])
        .stdout_has("# adopted by infer_references = true")
        .stdout_has("polymorphic = [")
        .stdout_has("{ column = \"public.comments.commentable_id\", type_column = \"commentable_type\", targets = { Issue = \"public.issues\", Project = \"public.projects\" } }")
        .stdout_has("column = \"public.attachments.record_id\"")
        .run();
}

#[test]
fn rails_polymorphic_config_scopes_rows_by_their_type_value() {
    let db = fixture(include_str!("fixtures/rails.sql"));
    let store = TempDir::new();
    let (_dir, config) = config(
        "infer_references = true\n\
         polymorphic = [{ column = \"public.attachments.record_id\", type_column = \"record_type\", \
           targets = { Issue = \"public.issues\", Project = \"public.projects\" } }]\n",
    );
    let archive = Archive::from_run(
        &Orgexport::export(&db, &store, "acme")
            .args(["--config", &config])
            .run(),
    );
    archive.assert_well_formed();
    archive.assert_section_equals(
        &db,
        "public.attachments",
        "SELECT * FROM attachments WHERE \
           (record_type = 'Issue' AND record_id IN (SELECT id FROM issues WHERE account_id = 1)) \
           OR (record_type = 'Project' AND record_id IN (SELECT id FROM projects WHERE account_id = 1))",
    );
    assert_clean(&archive, &[OTHER, SECRET]);
}

#[test]
fn rails_delegated_types_own_the_rows_their_pairs_name_and_never_another_orgs() {
    let db = fixture(include_str!("fixtures/delegated.sql"));
    let store = TempDir::new();
    let (_dir, config) = config("tenant_columns = [\"family_id\"]\ninfer_references = true\n");
    let export = |org: &str| {
        Archive::from_run(
            &Orgexport::export(&db, &store, org)
                .args(["--config", &config])
                .run(),
        )
    };
    let archive = export("acme");
    archive.assert_well_formed();
    // Each delegated row is the one its owner's pair names, by type and id together
    // (property 1 is globex's though acme's account names depository 1).
    let named = |pair: &str, owners: &str, class: &str| {
        format!("SELECT {pair}_id FROM {owners} AND {pair}_type = '{class}'")
    };
    let acme_accounts = "accounts WHERE family_id = 1";
    let acme_entries = "entries WHERE account_id IN (SELECT id FROM accounts WHERE family_id = 1)";
    archive.assert_section_equals(
        &db,
        "public.depositories",
        &format!(
            "SELECT * FROM depositories WHERE id IN ({})",
            named("accountable", acme_accounts, "Depository")
        ),
    );
    archive.assert_section_equals(
        &db,
        "public.properties",
        "SELECT * FROM properties WHERE id = 5",
    );
    archive.assert_section_equals(
        &db,
        "public.addresses",
        "SELECT * FROM addresses WHERE id = 1",
    );
    // Transaction 4 is named by an acme entry and a globex entry: in neither archive.
    archive.assert_section_equals(
        &db,
        "public.transactions",
        &format!(
            "SELECT * FROM transactions WHERE id IN ({}) AND id <> 4",
            named("entryable", acme_entries, "Transaction")
        ),
    );
    assert_eq!(
        archive.manifest_section("public.transactions")["cross_tenant_rows"],
        1
    );
    archive.assert_section_equals(&db, "public.trades", "SELECT * FROM trades WHERE id = 1");
    // The delegated rows' own children follow; a transfer touching another org's (or the
    // disputed) transaction is in neither archive.
    archive.assert_section_equals(
        &db,
        "public.transfers",
        "SELECT * FROM transfers WHERE id = 1",
    );
    assert_eq!(
        archive.manifest_section("public.transfers")["cross_tenant_rows"],
        2
    );
    // A global table stays shared: referenced, not owned.
    archive.assert_section_equals(
        &db,
        "public.securities",
        "SELECT * FROM securities WHERE id = 1",
    );
    assert!(
        archive.manifest_section("public.securities")["scope"]
            .as_str()
            .unwrap()
            .starts_with("referenced via"),
        "{}",
        archive.manifest_section("public.securities")
    );
    let via = archive.manifest_section("public.depositories")["via"].to_string();
    assert!(via.contains("[delegated type: owns its target]"), "{via}");
    assert_clean(&archive, &[OTHER, "MARKER-CROSS-TENANT"]);

    // Globex's archive: its own rows, none of acme's, none of the disputed ones.
    let globex = export("globex");
    globex.assert_well_formed();
    globex.assert_section_equals(
        &db,
        "public.depositories",
        "SELECT * FROM depositories WHERE id = 2",
    );
    globex.assert_section_equals(
        &db,
        "public.properties",
        "SELECT * FROM properties WHERE id = 1",
    );
    globex.assert_section_equals(
        &db,
        "public.transactions",
        "SELECT * FROM transactions WHERE id = 3",
    );
    globex.assert_section_equals(
        &db,
        "public.transfers",
        "SELECT * FROM transfers WHERE id = 3",
    );
    assert!(!globex.text.contains("MARKER-CROSS-TENANT"));
    for text in [
        "acme bank",
        "acme house",
        "acme street",
        "acme groceries",
        "acme transfer",
    ] {
        assert!(!globex.text.contains(text), "{text} in globex's archive");
    }
    // No row is in both archives but the shared security.
    for name in &archive.section_order {
        for row in archive.section(name) {
            let shared = globex
                .sections
                .get(name)
                .is_some_and(|rows| rows.contains(row));
            assert!(
                !shared || name == "public.securities",
                "{name}: {row} in both archives"
            );
        }
    }

    // plan says how the delegated rows are scoped.
    let cwd = TempDir::new();
    plan(&db, &cwd, "acme")
        .args(["--config", &config])
        .stdout_has("public.accounts(accountable_id) -> public.depositories(id) where accountable_type = 'Depository' [delegated type: owns its target]")
        .run();
}

#[test]
fn prisma_schema_exports_with_zero_config_and_no_secret() {
    let db = fixture(include_str!("fixtures/prisma.sql"));
    let store = TempDir::new();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "acme").run());
    archive.assert_well_formed();
    archive.assert_sections(&[
        "public.Organization",
        "public.ApiKey",
        "public.Membership",
        "public.Project",
        "public.Webhook",
        "public.User",
    ]);
    archive.assert_section_equals(
        &db,
        "public.Organization",
        "SELECT * FROM \"Organization\" WHERE slug = 'acme'",
    );
    archive.assert_section_equals(
        &db,
        "public.Membership",
        "SELECT * FROM \"Membership\" WHERE \"organizationId\" = 'clorg0acme'",
    );
    archive.assert_section_equals(
        &db,
        "public.ApiKey",
        "SELECT id, \"organizationId\", label, \"lastUsedAt\" FROM \"ApiKey\" WHERE \"organizationId\" = 'clorg0acme'",
    );
    // json keys that are secrets are cut out at any depth; everything else is kept.
    archive.assert_section_equals(
        &db,
        "public.Project",
        "SELECT id, \"organizationId\", name, \
                ((settings #- '{smtp,password}') - 'access_token') #- '{nested,0,apiKey}' AS settings, \
                \"personalAccessTokenId\", \"tokenExpiresAt\" \
         FROM \"Project\" WHERE \"organizationId\" = 'clorg0acme'",
    );
    archive.assert_section_equals(
        &db,
        "public.Webhook",
        "SELECT id, \"projectId\", url, '{\"events\": [\"push\"], \"retries\": 3}'::json AS config \
         FROM \"Webhook\" WHERE id = 'w1'",
    );
    archive.assert_section_equals(
        &db,
        "public.User",
        "SELECT id, email, \"tokenEnabled\", \"tokensUsed\", carbon_footprint FROM \"User\" WHERE id = 'u1'",
    );
    let user = archive.manifest_section("public.User");
    assert_eq!(
        user["excluded_columns"],
        serde_json::json!([
            "passwordHash",
            "twoFactorSecret",
            "twoFactorBackupCodes",
            "privateKey",
            "passphrase"
        ])
    );
    assert_eq!(
        archive.manifest_section("public.ApiKey")["excluded_columns"],
        serde_json::json!(["hashedKey"])
    );
    assert_eq!(
        archive.manifest_section("public.Webhook")["excluded_columns"],
        serde_json::json!(["signingSecret", "encrypted_payload"])
    );
    assert_eq!(
        archive.manifest_section("public.Project")["redacted_json_keys"],
        serde_json::json!(["access_token", "apiKey", "password"])
    );
    assert_eq!(
        archive.manifest_section("public.Webhook")["redacted_json_keys"],
        serde_json::json!(["secret"])
    );
    assert_clean(&archive, &[OTHER, SECRET]);

    // The same with the server rendering every row.
    let (_dir, config) = config("render = \"server\"\n");
    let server = Archive::from_run(
        &Orgexport::export(&db, &store, "acme")
            .args(["--config", &config])
            .run(),
    );
    for name in ["public.Project", "public.Webhook", "public.User"] {
        let mut a: Vec<String> = archive
            .section(name)
            .iter()
            .map(|v| v.to_string())
            .collect();
        let mut b: Vec<String> = server.section(name).iter().map(|v| v.to_string()).collect();
        a.sort();
        b.sort();
        assert_eq!(a, b, "{name}: both rendering paths redact alike");
    }
    assert_clean(&server, &[OTHER, SECRET]);

    let cwd = TempDir::new();
    plan(&db, &cwd, "acme")
        .stdout_has("tenant column organizationId")
        .run();
}

#[test]
fn sharding_keys_checks_and_undeclared_partitioned_children_are_scoped_exactly() {
    let db = fixture(include_str!("fixtures/sharding.sql"));
    let (_dir, config) =
        config("references = [\"public.ci_builds.project_id -> public.projects.id\"]\n");
    let store = TempDir::new();
    let archive = Archive::from_run(
        &Orgexport::export(&db, &store, "acme")
            .args(["--config", &config])
            .run(),
    );
    archive.assert_well_formed();
    archive.assert_sections(&[
        "public.organizations",
        "public.groups",
        "public.issues",
        "public.projects",
        "public.crm_organizations",
        "public.crm_contacts",
        "public.issue_notes",
        "public.ci_builds",
        "public.project_links",
    ]);
    let acme_groups = "SELECT id FROM groups WHERE organization_id = 1";
    let acme_projects = format!("SELECT id FROM projects WHERE group_id IN ({acme_groups})");
    let acme_issues = format!(
        "SELECT id FROM issues WHERE organization_id = 1 OR group_id IN ({acme_groups}) \
         OR project_id IN ({acme_projects})"
    );
    archive.assert_section_equals(
        &db,
        "public.organizations",
        "SELECT * FROM organizations WHERE path = 'acme'",
    );
    archive.assert_section_equals(
        &db,
        "public.groups",
        "SELECT * FROM groups WHERE organization_id = 1",
    );
    archive.assert_section_equals(
        &db,
        "public.projects",
        &format!("SELECT * FROM projects WHERE id IN ({acme_projects})"),
    );
    archive.assert_section_equals(
        &db,
        "public.issues",
        &format!("SELECT * FROM issues WHERE id IN ({acme_issues})"),
    );
    assert_eq!(
        archive.section("public.issues").len(),
        3,
        "org, group and project level"
    );
    archive.assert_section_equals(
        &db,
        "public.issue_notes",
        &format!("SELECT * FROM issue_notes WHERE issue_id IN ({acme_issues})"),
    );
    archive.assert_section_equals(
        &db,
        "public.crm_contacts",
        &format!(
            "SELECT * FROM crm_contacts WHERE organization_id IN \
             (SELECT id FROM crm_organizations WHERE group_id IN ({acme_groups}))"
        ),
    );
    archive.assert_section_equals(
        &db,
        "public.ci_builds",
        &format!("SELECT * FROM ci_builds WHERE project_id IN ({acme_projects})"),
    );
    archive.assert_section_equals(
        &db,
        "public.project_links",
        "SELECT * FROM project_links WHERE id = 1",
    );
    let links = archive.manifest_section("public.project_links");
    assert_eq!(links["cross_tenant_rows"], 1, "{links}");
    assert_clean(&archive, &[OTHER, "MARKER-CROSS-TENANT"]);

    // The other org's archive: the link row owned by both orgs is in neither.
    let globex = Archive::from_run(
        &Orgexport::export(&db, &store, "globex")
            .args(["--config", &config])
            .run(),
    );
    globex.assert_well_formed();
    assert_eq!(globex.section("public.project_links").len(), 0);
    assert_eq!(
        globex.manifest_section("public.project_links")["cross_tenant_rows"],
        1
    );
    assert!(!globex.text.contains("MARKER-CROSS-TENANT"));
    // Two orgs never share a row of a tenant or child table.
    for name in &archive.section_order {
        for row in archive.section(name) {
            assert!(
                !globex
                    .sections
                    .get(name)
                    .is_some_and(|rows| rows.contains(row)),
                "{name}: {row} exported for both orgs"
            );
        }
    }

    // plan warns about the cross-tenant row and says how each table is scoped.
    let cwd = TempDir::new();
    plan(&db, &cwd, "acme")
        .args(["--config", &config])
        .stdout_has("public.project_links: 1 row(s) are owned by this org and another")
        .stdout_has("public.crm_contacts.organization_id is named like a tenant column but references public.crm_organizations")
        .run();
}

#[test]
fn row_level_security_fails_the_export_by_name_until_the_role_bypasses_it() {
    let db = fixture(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);
         CREATE TABLE notes (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, body text);
         INSERT INTO orgs VALUES (1, 'acme'), (2, 'globex');
         INSERT INTO notes SELECT g, 1, CASE WHEN g % 2 = 0 THEN 'hidden ' ELSE 'shown ' END || g
           FROM generate_series(1, 40) g;
         ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
         CREATE POLICY only_shown ON notes USING (body LIKE 'shown%');",
    );
    let role = format!("reader_{}", db.name);
    db.execute(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD 'rls-pw';
         GRANT CREATE, CONNECT ON DATABASE {db} TO {role};
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};",
        db = db.name
    ));
    let url = format!("postgres://{role}:rls-pw@127.0.0.1:{}/{}", db.port, db.name);
    let store = TempDir::new();
    // As the reader role: its URL instead of the test database's.
    let as_reader = |args: &[&str]| {
        Orgexport::new()
            .current_dir(store.path())
            .args(args)
            .args(["--database-url", &url])
            .store(store.path())
    };
    as_reader(&["run", "--org", "acme"])
        .code(1)
        .one_error_line()
        .stderr_has("public.notes has row-level security")
        .stderr_has("BYPASSRLS")
        .run();
    assert!(
        store.files().is_empty(),
        "nothing in the store: {:?}",
        store.files()
    );
    assert_eq!(
        db.scalar_text("SELECT status FROM orgexport.exports")
            .as_deref(),
        Some("failed")
    );
    assert!(
        db.scalar_text("SELECT error FROM orgexport.exports")
            .unwrap()
            .contains("public.notes")
    );

    as_reader(&["check"])
        .fails()
        .stdout_has_line("✘", "row-level security hides rows of public.notes")
        .run();

    db.execute(&format!("ALTER ROLE {role} BYPASSRLS"));
    let archive = Archive::from_run(&as_reader(&["run", "--org", "acme"]).run());
    archive.assert_well_formed();
    assert_eq!(
        archive.section("public.notes").len(),
        40,
        "every row, not the policy's half"
    );
    archive.assert_section_equals(&db, "public.notes", "SELECT * FROM notes WHERE org_id = 1");
}

#[test]
fn config_entries_that_match_nothing_are_usage_errors_naming_them() {
    let db = fixture(include_str!("../examples/saas.sql"));
    for (args, toml, named) in [
        (vec!["--tables", "public.projetcs"], "", "public.projetcs"),
        (vec!["--exclude-tables", "public.nope"], "", "public.nope"),
        (
            vec![],
            "follow_nullable = [\"public.audit_events.nope\"]\n",
            "public.audit_events.nope",
        ),
        (vec![], "lookup_columns = [\"nope\"]\n", "nope"),
        (
            vec![],
            "exclude_columns = [\"public.users.nothing*\"]\n",
            "public.users.nothing*",
        ),
        (vec![], "allow_columns = [\"nope.*\"]\n", "nope.*"),
        (
            vec![],
            "references = [\"public.tasks.x -> public.users.id\"]\n",
            "public.tasks.x",
        ),
        (vec![], "tenant_columns = [\"orgid\"]\n", "orgid"),
    ] {
        let (_dir, config) = config(toml);
        let store = TempDir::new();
        let mut extra = vec!["--config", config.as_str()];
        extra.extend(args.iter().copied());
        Orgexport::export(&db, &store, "acme")
            .args(&extra)
            .code(2)
            .one_error_line()
            .stderr_has(named)
            .run();
        assert!(store.files().is_empty());
    }
}

#[test]
fn a_table_whose_every_column_is_excluded_renders_empty_objects_on_both_paths() {
    let db = fixture(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);
         CREATE TABLE notes (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, body text);
         INSERT INTO orgs VALUES (1, 'acme');
         INSERT INTO notes VALUES (1, 1, 'MARKER-SECRET-a'), (2, 1, 'MARKER-SECRET-b');",
    );
    let store = TempDir::new();
    for render in ["client", "server"] {
        let (_dir, config) = config(&format!(
            "render = \"{render}\"\nexclude_columns = [\"public.notes.*\"]\n"
        ));
        let archive = Archive::from_run(
            &Orgexport::export(&db, &store, "acme")
                .args(["--config", &config])
                .run(),
        );
        archive.assert_well_formed();
        assert_eq!(
            archive.section("public.notes"),
            &vec![serde_json::json!({}), serde_json::json!({})],
            "{render}"
        );
        assert_clean(&archive, &[SECRET]);
    }
}

/// The seeder's ledger (`ledger.owned (tbl, id, <org column>)`) against an archive: the owned
/// tables whose section holds exactly the org's rows, those that do not, and every archived
/// row that the ledger gives to another org.
struct Coverage {
    complete: Vec<String>,
    incomplete: Vec<String>,
    foreign: Vec<String>,
}

fn ledger_coverage(db: &TestDb, archive: &Archive, org: &str) -> Coverage {
    let owned = db.json_rows(&format!(
        "SELECT tbl, array_agg(id ORDER BY id) AS ids FROM ledger.owned WHERE org::text = '{org}' GROUP BY tbl ORDER BY tbl"
    ));
    let id_text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut coverage = Coverage {
        complete: Vec::new(),
        incomplete: Vec::new(),
        foreign: Vec::new(),
    };
    for row in &owned {
        let table = row["tbl"].as_str().unwrap();
        let expected: Vec<String> = row["ids"].as_array().unwrap().iter().map(id_text).collect();
        let name = format!("public.{table}");
        let mut got: Vec<String> = match archive.sections.get(&name) {
            Some(rows) => rows.iter().map(|r| id_text(&r["id"])).collect(),
            None => Vec::new(),
        };
        got.sort();
        if got == expected {
            coverage.complete.push(name);
        } else {
            coverage
                .incomplete
                .push(format!("{name}: {got:?} != {expected:?}"));
        }
    }
    let others = db.json_rows(&format!(
        "SELECT tbl, id FROM ledger.owned WHERE org::text <> '{org}'"
    ));
    for row in &others {
        let name = format!("public.{}", row["tbl"].as_str().unwrap());
        let id = row["id"].as_str().unwrap();
        if let Some(rows) = archive.sections.get(&name)
            && rows.iter().any(|r| id_text(&r["id"]) == id)
        {
            coverage.foreign.push(format!("{name} {id}"));
        }
    }
    coverage
}

fn assert_covered(coverage: &Coverage, at_least_percent: usize) {
    assert!(
        coverage.foreign.is_empty(),
        "rows of another org: {:?}",
        coverage.foreign
    );
    let owned = coverage.complete.len() + coverage.incomplete.len();
    assert!(
        coverage.complete.len() * 100 >= owned * at_least_percent,
        "{} of {owned} owned tables complete; incomplete: {:#?}",
        coverage.complete.len(),
        coverage.incomplete
    );
}

#[test]
fn chatwoot_schema_exports_with_tenant_columns_and_infer_references_alone() {
    let db = fixture(include_str!("fixtures/chatwoot.sql"));
    let store = TempDir::new();
    let (_dir, config) = config("tenant_columns = [\"account_id\"]\ninfer_references = true\n");
    let archive = Archive::from_run(
        &Orgexport::export(&db, &store, "acme")
            .args(["--config", &config])
            .run(),
    );
    archive.assert_well_formed();
    assert_clean(&archive, &[OTHER, SECRET]);
    let coverage = ledger_coverage(&db, &archive, "1");
    println!(
        "chatwoot: {} of {} owned tables complete; incomplete: {:#?}",
        coverage.complete.len(),
        coverage.complete.len() + coverage.incomplete.len(),
        coverage.incomplete
    );
    assert_covered(&coverage, 95);
}

#[test]
fn formbricks_schema_exports_with_zero_config() {
    let db = fixture(include_str!("fixtures/formbricks.sql"));
    let store = TempDir::new();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "acme").run());
    archive.assert_well_formed();
    assert_clean(&archive, &[OTHER, SECRET]);
    let coverage = ledger_coverage(&db, &archive, "clorg1");
    println!(
        "formbricks: {} of {} owned tables complete; incomplete: {:#?}",
        coverage.complete.len(),
        coverage.complete.len() + coverage.incomplete.len(),
        coverage.incomplete
    );
    assert_covered(&coverage, 95);
    // Tables without an `id` (composite keys) are checked against the seeder's data directly.
    archive.assert_section_equals(
        &db,
        "public.Membership",
        "SELECT * FROM \"Membership\" WHERE \"organizationId\" = 'clorg1'",
    );
    archive.assert_section_equals(
        &db,
        "public.TagsOnResponses",
        "SELECT * FROM \"TagsOnResponses\" WHERE \"tagId\" = 'clt1'",
    );
}

/// A fixture generated from a public application's own schema by tests/fixtures/tools/build.sh
/// (the applications' schemas stay out of this repository: they are read from
/// `$ORGEXPORT_REAL_SCHEMAS`, else `../shared/real-schemas` beside the checkout). `None`, with
/// a note on stderr, where neither has it.
fn generated_fixture(app: &str) -> Option<TestDb> {
    let dir = std::env::var_os("ORGEXPORT_REAL_SCHEMAS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/real-schemas")
        });
    let path = dir.join(format!("{app}.sql"));
    let Ok(sql) = std::fs::read_to_string(&path) else {
        eprintln!(
            "SKIPPED: no {} (tests/fixtures/tools/build.sh makes it)",
            path.display()
        );
        return None;
    };
    Some(fixture(&sql))
}

/// A row's key as the seeder's ledger writes it: `{column: value as text}`, in column order.
fn row_key(row: &serde_json::Value, columns: &[String]) -> String {
    let pairs: std::collections::BTreeMap<&str, String> = columns
        .iter()
        .map(|c| {
            let text = match &row[c] {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (c.as_str(), text)
        })
        .collect();
    format!("{pairs:?}")
}

/// [`Coverage`] against a generated fixture's ledger (`ledger.owned (tbl, key jsonb, org)`).
fn generated_coverage(db: &TestDb, archive: &Archive, org: i64) -> Coverage {
    let owned = db.json_rows(
        "SELECT tbl, org, array_agg(key::text ORDER BY key::text) AS keys, \
                (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(min(key::text)::jsonb) k) AS cols \
         FROM ledger.owned GROUP BY tbl, org ORDER BY tbl, org",
    );
    let mut coverage = Coverage {
        complete: Vec::new(),
        incomplete: Vec::new(),
        foreign: Vec::new(),
    };
    for row in &owned {
        let name = format!("public.{}", row["tbl"].as_str().unwrap());
        let cols: Vec<String> = serde_json::from_value(row["cols"].clone()).unwrap();
        let normal = |k: &serde_json::Value| {
            let v: serde_json::Value = serde_json::from_str(k.as_str().unwrap()).unwrap();
            row_key(&v, &cols)
        };
        let mut expected: Vec<String> =
            row["keys"].as_array().unwrap().iter().map(normal).collect();
        expected.sort();
        let mut got: Vec<String> = archive
            .sections
            .get(&name)
            .map(|rows| rows.iter().map(|r| row_key(r, &cols)).collect())
            .unwrap_or_default();
        got.sort();
        if row["org"].as_i64() == Some(org) {
            if got == expected {
                coverage.complete.push(name);
            } else {
                coverage.incomplete.push(format!(
                    "{name}: {} of {} rows",
                    got.len(),
                    expected.len()
                ));
            }
        } else {
            for key in expected.iter().filter(|k| got.contains(k)) {
                coverage.foreign.push(format!("{name} {key}"));
            }
        }
    }
    coverage
}

/// No marker, and no piece of any secret value the seeder planted (ciphertext has no marker).
fn assert_no_foreign_row_or_secret(db: &TestDb, archive: &Archive) {
    assert_clean(archive, &[OTHER, SECRET]);
    for row in db.json_rows("SELECT tbl, col, needle FROM ledger.secrets") {
        let needle = row["needle"].as_str().unwrap();
        assert!(
            !archive.text.contains(needle),
            "secret of {}.{} in the archive",
            row["tbl"],
            row["col"]
        );
    }
}

/// The columns excluded by their content, `table.column: reason`, for the figures.
fn excluded_by_content(archive: &Archive) -> Vec<String> {
    let mut out = Vec::new();
    for name in &archive.section_order {
        let section = archive.manifest_section(name);
        if let Some(reasons) = section["excluded_column_reasons"].as_object() {
            for (column, reason) in reasons {
                if reason.as_str().is_some_and(|r| r.starts_with("content:")) {
                    out.push(format!("{name}.{column}: {}", reason.as_str().unwrap()));
                }
            }
        }
    }
    out
}

fn report(app: &str, db: &TestDb, archive: &Archive, coverage: &Coverage) {
    let tables = db.scalar_text("SELECT count(*)::text FROM pg_tables WHERE schemaname = 'public'");
    println!(
        "{app}: {} tables, {} of {} owned tables complete; incomplete: {:#?}\nexcluded by content: {:#?}",
        tables.unwrap_or_default(),
        coverage.complete.len(),
        coverage.complete.len() + coverage.incomplete.len(),
        coverage.incomplete,
        excluded_by_content(archive)
    );
}

/// Exports acme and globex from a generated fixture (with `config`, if any) and checks each
/// archive against the seeder's ledger: no other org's row, at least `percent` of the owned
/// tables complete, and in acme's no marker and no planted secret.
fn measure_generated(app: &str, config_text: Option<&str>, percent: usize) {
    let Some(db) = generated_fixture(app) else {
        return;
    };
    let store = TempDir::new();
    let (_dir, path) = config(config_text.unwrap_or(""));
    for (org, key) in [("acme", 1), ("globex", 2)] {
        let mut export = Orgexport::export(&db, &store, org);
        if config_text.is_some() {
            export = export.args(["--config", &path]);
        }
        let archive = Archive::from_run(&export.run());
        archive.assert_well_formed();
        let coverage = generated_coverage(&db, &archive, key);
        report(app, &db, &archive, &coverage);
        if key == 1 {
            assert_no_foreign_row_or_secret(&db, &archive);
        }
        assert_covered(&coverage, percent);
    }
}

#[test]
fn maybe_finance_real_schema_exports_with_tenant_columns_and_infer_references_alone() {
    // 47 of 48: Rails delegated types (`accounts.accountable`, `entries.entryable`) own the
    // rows they name, and those rows' children follow; `rule_conditions.rule_id` is nullable
    // (NULL for nested conditions), so `plan` proposes the follow_nullable line instead.
    measure_generated(
        "maybe",
        Some("tenant_columns = [\"family_id\"]\ninfer_references = true\n"),
        95,
    );
}

#[test]
fn formbricks_real_schema_exports_with_zero_config() {
    measure_generated("formbricks", None, 95);
}

#[test]
fn documenso_real_schema_exports_with_zero_config() {
    measure_generated("documenso", None, 95);
}
