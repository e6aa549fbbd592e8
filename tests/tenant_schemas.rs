//! Schema-per-tenant on plain PostgreSQL: `--org` names a tenant schema, whose tables are
//! exported whole with the shared (public) rows they reference — never a row of another
//! tenant's schema. Two layouts (`fixtures/tenant_schemas/`): Rails `apartment` (three
//! schemas with the same tables, discovered without configuration) and `django-tenants`
//! (`tenant_<name>` schemas, configured with `tenant_schemas = "tenant_*"`). Markers are
//! planted in other tenants' rows, secrets and unreferenced shared rows.

mod support;

use support::tenant_schemas::{APARTMENT_DATA, APARTMENT_SHARED, apartment_tenants};

use support::{Archive, Expect, Orgexport, TempDir, TestDb};

const DJANGO: &str = include_str!("fixtures/tenant_schemas/django.sql");
const DJANGO_DATA: &str = include_str!("fixtures/tenant_schemas/django_data.sql");

const MARKERS: &[&str] = &["MARKER-OTHER-ORG", "MARKER-SECRET", "MARKER-UNREFERENCED"];

fn apartment() -> TestDb {
    let db = TestDb::new();
    for sql in [APARTMENT_SHARED, &apartment_tenants(), APARTMENT_DATA] {
        db.execute(sql);
    }
    db
}

fn django() -> TestDb {
    let db = TestDb::new();
    db.execute(DJANGO);
    db.execute(DJANGO_DATA);
    db
}

/// A store directory holding an `orgexport.toml` with `tenant_schemas = "tenant_*"` (the
/// tool runs in the store directory).
fn django_store() -> TempDir {
    let store = TempDir::new();
    std::fs::write(
        store.path().join("orgexport.toml"),
        "tenant_schemas = \"tenant_*\"\n",
    )
    .unwrap();
    store
}

#[test]
fn apartment_schemas_are_discovered_and_one_is_exported_whole_with_the_shared_rows_it_references() {
    let db = apartment();
    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "acme").run();
    let archive = Archive::from_run(&run);
    archive.assert_well_formed();
    archive.assert_absent(MARKERS);
    assert_eq!(archive.manifest["org"]["table"], "schema acme");
    assert_eq!(archive.manifest["org"]["key"], "acme");
    archive.assert_sections(&[
        "acme.projects",
        "acme.tasks",
        "acme.users",
        "public.countries",
        "public.currencies",
    ]);
    archive.assert_section_equals(&db, "acme.tasks", "SELECT * FROM acme.tasks");
    archive.assert_section_equals(&db, "acme.projects", "SELECT * FROM acme.projects");
    // The password digest is a secret by its name; the json key api_key is cut out.
    archive.assert_section_equals(
        &db,
        "acme.users",
        "SELECT id, email, country_code, preferences - 'api_key' AS preferences FROM acme.users",
    );
    archive.assert_section_equals(
        &db,
        "public.countries",
        "SELECT * FROM public.countries WHERE code = 'DE'",
    );
    archive.assert_section_equals(
        &db,
        "public.currencies",
        "SELECT * FROM public.currencies WHERE code = 'EUR'",
    );
    let users = archive.manifest_section("acme.users");
    assert!(
        users["scope"].as_str().unwrap().contains("every row"),
        "{users}"
    );
    assert_eq!(users["record_count"], 2);
}

#[test]
fn another_tenants_schema_is_its_own_archive_and_public_accounts_are_never_sections() {
    let db = apartment();
    let store = TempDir::new();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "globex").run());
    archive.assert_sections(&[
        "globex.projects",
        "globex.tasks",
        "globex.users",
        "public.countries",
        "public.currencies",
    ]);
    assert!(!archive.text.contains("acme.test"), "acme's rows leaked");
    assert!(!archive.text.contains("MARKER-SECRET"));
    archive.assert_section_equals(
        &db,
        "public.countries",
        "SELECT * FROM public.countries WHERE code = 'FR'",
    );
}

#[test]
fn orgs_lists_the_tenant_schemas_and_plan_names_the_tenancy() {
    let db = apartment();
    let store = TempDir::new();
    let orgs = Orgexport::on(&db, &store, &["orgs", "--json"]).run().json();
    let keys: Vec<&str> = orgs["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["acme", "globex", "initech"]);
    assert_eq!(orgs["tenancy"], "schema");

    let plan = Orgexport::on(&db, &store, &["plan", "--org", "initech", "--json"])
        .run()
        .json();
    assert_eq!(plan["tenancy"]["kind"], "schema");
    assert_eq!(plan["tenancy"]["schema"], "initech");
    assert_eq!(plan["tenancy"]["tenant_schemas"], 3);
    let skipped = plan["skipped"].to_string();
    assert!(
        skipped.contains("acme.users") && skipped.contains("another tenant's schema"),
        "{skipped}"
    );
    assert!(
        plan["warnings"]
            .to_string()
            .contains("tenant schemas discovered")
    );

    Orgexport::on(&db, &store, &["plan", "--org", "acme"])
        .stdout_has("tenancy: schema-per-tenant: schema acme of 3 tenant schemas")
        .stdout_has("every row: the tenant's schema acme")
        .stdout_has("6 tables of the 2 other tenant schemas: never read")
        .stdout_lacks("globex.users")
        .run();
}

#[test]
fn an_unknown_tenant_is_exit_3_with_a_suggestion_and_nothing_is_stored() {
    let db = apartment();
    let store = TempDir::new();
    Orgexport::export(&db, &store, "acmee")
        .code(3)
        .one_error_line()
        .stderr_has(
            "org \"acmee\" not found: no tenant schema is named by it; did you mean 'acme'?",
        )
        .run();
    // The history schema and the config are all the store directory may hold.
    let files: Vec<String> = store.files();
    assert!(files.iter().all(|f| !f.contains(".json")), "{files:?}");
}

#[test]
fn django_tenants_configured_by_glob_are_named_by_the_part_the_star_matches() {
    let db = django();
    let store = django_store();
    let run = Orgexport::export(&db, &store, "acme").run();
    let archive = Archive::from_run(&run);
    archive.assert_well_formed();
    archive.assert_absent(MARKERS);
    assert_eq!(archive.manifest["org"]["table"], "schema tenant_acme");
    archive.assert_sections(&[
        "tenant_acme.django_migrations",
        "tenant_acme.notes_note",
        "tenant_acme.notes_comment",
        "public.accounts_user",
    ]);
    archive.assert_section_equals(
        &db,
        "public.accounts_user",
        "SELECT id, username FROM public.accounts_user WHERE id = 1",
    );
    archive.assert_section_equals(
        &db,
        "tenant_acme.notes_comment",
        "SELECT * FROM tenant_acme.notes_comment",
    );
    // The whole schema name names the tenant too.
    let globex = Archive::from_run(&Orgexport::export(&db, &store, "tenant_globex").run());
    assert_eq!(globex.manifest["org"]["key"], "globex");
    assert!(!globex.text.contains("hello"), "acme's note leaked");
}

#[test]
fn a_glob_that_matches_no_schema_is_a_usage_error() {
    let db = apartment();
    let store = django_store();
    Orgexport::export(&db, &store, "acme")
        .code(2)
        .one_error_line()
        .stderr_has("tenant_schemas: \"tenant_*\" matches no schema holding a table")
        .run();
}

#[test]
fn ndjson_and_csv_archives_of_a_tenant_schema_verify() {
    let db = django();
    let store = django_store();
    for format in ["ndjson", "csv"] {
        let run = Orgexport::export(&db, &store, "acme")
            .args(["--format", format])
            .run();
        let path = support::Archive::path_from_run(&run);
        Orgexport::new()
            .args(["verify".as_ref(), path.as_os_str()])
            .run();
        let bytes = std::fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("MARKER-OTHER-ORG"), "{format}");
    }
}

/// Exports `org` of `db` and restores the archive into `target` with `extra` arguments.
fn export_then_restore(
    db: &TestDb,
    store: &TempDir,
    org: &str,
    target: &TestDb,
    extra: &[&str],
) -> Archive {
    let run = Orgexport::export(db, store, org).run();
    let path = Archive::path_from_run(&run);
    Orgexport::new()
        .current_dir(store.path())
        .args(["restore".as_ref(), path.as_os_str()])
        .args(["--target-url", &target.url])
        .args(extra)
        .run();
    Archive::from_run(&run)
}

/// An archive's rows per section, the tenant's schema renamed to `to`.
fn renamed_rows(
    archive: &Archive,
    from: &str,
    to: &str,
) -> std::collections::BTreeMap<String, Vec<String>> {
    archive
        .row_sets()
        .into_iter()
        .map(
            |(name, rows)| match name.strip_prefix(&format!("{from}.")) {
                Some(table) => (format!("{to}.{table}"), rows),
                None => (name, rows),
            },
        )
        .collect()
}

#[test]
fn a_tenant_restores_into_a_migrated_database_and_into_another_schema_name() {
    let db = django();
    let store = django_store();
    // A database as the app's migrations leave it: every schema, no rows.
    let target = TestDb::new();
    target.execute(DJANGO);
    // The shared user's password was never exported: the new database needs a value.
    let original = export_then_restore(&db, &store, "acme", &target, &["--fill-secrets=random"]);
    let again = Archive::from_run(&Orgexport::export(&target, &store, "acme").run());
    assert_eq!(again.row_sets(), original.row_sets());

    // Into another tenant's (empty) schema of the same database: shared rows match.
    db.execute("TRUNCATE tenant_initech.notes_comment, tenant_initech.notes_note");
    export_then_restore(
        &db,
        &store,
        "acme",
        &db,
        &["--target-schema", "tenant_initech", "--fill-secrets=random"],
    );
    // The target schema's sequences were advanced past the restored keys.
    db.execute("INSERT INTO tenant_initech.notes_comment (note_id, body) VALUES (1, 'after')");
    db.execute("DELETE FROM tenant_initech.notes_comment WHERE body = 'after'");
    let moved = Archive::from_run(&Orgexport::export(&db, &store, "initech").run());
    moved.assert_absent(MARKERS);
    let expected = renamed_rows(&original, "tenant_acme", "tenant_initech");
    let mut actual = moved.row_sets();
    // initech had no migrations row of its own; acme's came along.
    assert_eq!(
        actual.remove("tenant_initech.notes_note"),
        expected.get("tenant_initech.notes_note").cloned()
    );
    assert_eq!(
        actual.remove("tenant_initech.notes_comment"),
        expected.get("tenant_initech.notes_comment").cloned()
    );
    assert_eq!(
        actual.remove("public.accounts_user"),
        expected.get("public.accounts_user").cloned()
    );
}

#[test]
fn restoring_into_a_schema_that_is_no_tenants_changes_nothing() {
    let db = django();
    let store = django_store();
    let run = Orgexport::export(&db, &store, "acme").run();
    let path = Archive::path_from_run(&run);
    let target = TestDb::new();
    target.execute(DJANGO);
    let before = target.digest();
    Orgexport::new()
        .current_dir(store.path())
        .args(["restore".as_ref(), path.as_os_str()])
        .args([
            "--target-url",
            &target.url,
            "--target-schema",
            "tenant_nobody",
        ])
        .code(1)
        .one_error_line()
        .stderr_has("tenant_nobody is not one of its tenant schemas")
        .stderr_has("nothing was written")
        .run();
    assert_eq!(target.digest(), before);
}

#[test]
fn a_role_that_cannot_read_the_other_tenants_schemas_exports_its_own() {
    let db = apartment();
    let role = format!("acme_only_{}", db.name);
    db.execute(&format!(
        "CREATE ROLE {role} LOGIN PASSWORD 'acme-pw';
         GRANT USAGE ON SCHEMA public, acme TO {role};
         GRANT SELECT ON ALL TABLES IN SCHEMA public, acme TO {role};"
    ));
    let url = format!(
        "postgres://{role}:acme-pw@127.0.0.1:{}/{}",
        db.port, db.name
    );
    let store = TempDir::new();
    let as_role = |org: &str| {
        Orgexport::new()
            .current_dir(store.path())
            .args(["run", "--org", org, "--database-url", &url])
            .args(["--history-url", &db.url])
            .store(store.path())
    };
    // Any statement touching globex or initech would fail with "permission denied".
    let archive = Archive::from_run(&as_role("acme").run());
    archive.assert_absent(MARKERS);
    assert_eq!(archive.manifest_section("acme.tasks")["record_count"], 3);
    // The role is as restricted as it looks: globex's export fails for it.
    as_role("globex")
        .code(1)
        .one_error_line()
        .stderr_has("permission denied for schema globex")
        .run();
}

#[test]
fn all_orgs_writes_one_archive_per_tenant_schema() {
    let db = apartment();
    let store = TempDir::new();
    let run = Orgexport::on(&db, &store, &["run", "--all-orgs", "--json"]).run();
    let exports = run.json()["exports"].clone();
    let orgs: Vec<&str> = exports
        .as_array()
        .unwrap_or_else(|| panic!("{exports}"))
        .iter()
        .map(|e| e["org"].as_str().unwrap())
        .collect();
    assert_eq!(orgs, ["acme", "globex", "initech"]);
    for export in exports.as_array().unwrap() {
        let path = export["object_url"]
            .as_str()
            .unwrap()
            .trim_start_matches("file://");
        let archive = Archive::read(std::path::Path::new(path));
        let org = export["org"].as_str().unwrap();
        let own: Vec<&String> = archive
            .section_order
            .iter()
            .filter(|s| !s.starts_with("public."))
            .collect();
        assert!(
            own.iter().all(|s| s.starts_with(&format!("{org}."))),
            "{org}: {own:?}"
        );
    }
    // The history knows each by its key.
    let listed = Orgexport::on(&db, &store, &["list", "--org", "globex", "--json"])
        .run()
        .json();
    let listed = listed["exports"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["org_key"], "globex", "{listed:?}");
}

#[test]
fn a_subject_export_of_a_tenant_schema_is_refused_in_one_line() {
    let db = apartment();
    let store = TempDir::new();
    Orgexport::export(&db, &store, "acme")
        .args(["--subject", "acme.users=1"])
        .code(2)
        .one_error_line()
        .stderr_has("not supported for schema-per-tenant databases yet")
        .run();
}

#[test]
fn target_schema_on_a_database_without_tenant_schemas_is_a_usage_error() {
    let db = django();
    let store = django_store();
    let run = Orgexport::export(&db, &store, "acme").run();
    let target = TestDb::new();
    target.execute(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);
         CREATE TABLE tasks (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs);",
    );
    let before = target.digest();
    Orgexport::new()
        .args(["restore".as_ref(), Archive::path_from_run(&run).as_os_str()])
        .args([
            "--target-url",
            &target.url,
            "--target-schema",
            "tenant_acme",
        ])
        .code(2)
        .one_error_line()
        .stderr_has("has no tenant schemas")
        .run();
    assert_eq!(target.digest(), before);
}
