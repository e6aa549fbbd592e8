//! Which rows land in the archive: each scenario builds a schema the tool has never seen,
//! exports one org, reads the archive back and compares every section with hand-written SQL.
//! Other orgs' rows carry marker strings that must appear nowhere in the archive.

mod support;

use support::{Archive, Expect, Orgexport, TempDir, TestDb};

const OTHER_ORG_MARKER: &str = "MARKER-OTHER-ORG";

fn example_db() -> TestDb {
    let db = TestDb::new();
    db.execute(include_str!("../examples/saas.sql"));
    // Plant markers in rows that belong to other orgs only.
    db.execute(&format!(
        "UPDATE orgs SET name = name || ' {m}' WHERE id <> 1;
         UPDATE projects SET name = name || ' {m}' WHERE org_id <> 1;
         UPDATE tasks t SET title = title || ' {m}' FROM projects p WHERE p.id = t.project_id AND p.org_id <> 1;
         UPDATE comments c SET body = body || ' {m}' FROM tasks t, projects p
           WHERE t.id = c.task_id AND p.id = t.project_id AND p.org_id <> 1;
         UPDATE labels SET name = name || ' {m}' WHERE org_id <> 1;
         UPDATE api_keys SET label = label || ' {m}' WHERE org_id <> 1;
         UPDATE billing.invoices SET number = number || ' {m}' WHERE org_id <> 1;
         UPDATE billing.invoice_lines l SET item = item || ' {m}' FROM billing.invoices i
           WHERE i.id = l.invoice_id AND i.org_id <> 1;
         UPDATE audit_events SET message = message || ' {m}';",
        m = OTHER_ORG_MARKER
    ));
    db
}

#[test]
fn conventional_schema_exports_exactly_the_orgs_rows() {
    let db = example_db();
    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "acme").run();
    let archive = Archive::from_run(&run);
    archive.assert_well_formed();
    archive.assert_sections(&[
        "public.orgs",
        "public.projects",
        "public.memberships",
        "public.labels",
        "public.api_keys",
        "billing.subscriptions",
        "billing.invoices",
        "public.tasks",
        "public.comments",
        "public.task_labels",
        "billing.invoice_lines",
        "public.users",
        "ref.countries",
        "ref.plans",
    ]);
    let acme_tasks =
        "SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.org_id = 1";
    archive.assert_section_equals(&db, "public.orgs", "SELECT * FROM orgs WHERE slug = 'acme'");
    for table in ["projects", "memberships", "labels"] {
        archive.assert_section_equals(
            &db,
            &format!("public.{table}"),
            &format!("SELECT * FROM {table} WHERE org_id = 1"),
        );
    }
    archive.assert_section_equals(
        &db,
        "public.api_keys",
        "SELECT id, org_id, label, created_at FROM api_keys WHERE org_id = 1",
    );
    archive.assert_section_equals(
        &db,
        "billing.subscriptions",
        "SELECT * FROM billing.subscriptions WHERE org_id = 1",
    );
    archive.assert_section_equals(
        &db,
        "billing.invoices",
        "SELECT * FROM billing.invoices WHERE org_id = 1",
    );
    archive.assert_section_equals(
        &db,
        "public.tasks",
        &format!("SELECT * FROM tasks WHERE id IN ({acme_tasks})"),
    );
    archive.assert_section_equals(
        &db,
        "public.comments",
        &format!("SELECT * FROM comments WHERE task_id IN ({acme_tasks})"),
    );
    archive.assert_section_equals(
        &db,
        "public.task_labels",
        &format!(
            "SELECT * FROM task_labels WHERE task_id IN ({acme_tasks}) \
             OR label_id IN (SELECT id FROM labels WHERE org_id = 1)"
        ),
    );
    archive.assert_section_equals(
        &db,
        "billing.invoice_lines",
        "SELECT l.* FROM billing.invoice_lines l JOIN billing.invoices i ON i.id = l.invoice_id WHERE i.org_id = 1",
    );
    let acme_users = format!(
        "SELECT user_id FROM memberships WHERE org_id = 1 \
         UNION SELECT created_by FROM projects WHERE org_id = 1 \
         UNION SELECT assignee_id FROM tasks WHERE id IN ({acme_tasks}) \
         UNION SELECT author_id FROM comments WHERE task_id IN ({acme_tasks})"
    );
    archive.assert_section_equals(
        &db,
        "public.users",
        &format!(
            "SELECT id, email, full_name, country_code, default_org_id, created_at FROM users WHERE id IN ({acme_users})"
        ),
    );
    archive.assert_section_equals(
        &db,
        "ref.countries",
        &format!(
            "SELECT * FROM ref.countries WHERE code IN (SELECT country FROM orgs WHERE id = 1) \
             OR code IN (SELECT country_code FROM users WHERE id IN ({acme_users}))"
        ),
    );
    archive.assert_section_equals(
        &db,
        "ref.plans",
        "SELECT * FROM ref.plans WHERE id IN (SELECT plan_id FROM billing.subscriptions WHERE org_id = 1)",
    );
    assert!(
        !archive.text.contains(OTHER_ORG_MARKER),
        "another org's row leaked into the archive"
    );
}

#[test]
fn shared_user_does_not_pull_in_other_orgs_rows() {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text UNIQUE, name text);
         CREATE TABLE users (id int PRIMARY KEY, name text, default_org_id int REFERENCES orgs);
         CREATE TABLE memberships (org_id int NOT NULL REFERENCES orgs, user_id int NOT NULL REFERENCES users);
         CREATE TABLE tasks (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, title text,
                             assignee_id int REFERENCES users);
         INSERT INTO orgs VALUES (1, 'a', 'Org A'), (2, 'b', 'Org B MARKER-OTHER-ORG');
         -- user 10 belongs to both orgs and defaults to org B
         INSERT INTO users VALUES (10, 'shared', 2), (11, 'only-b MARKER-OTHER-ORG', 2);
         INSERT INTO memberships VALUES (1, 10), (2, 10), (2, 11);
         INSERT INTO tasks VALUES (1, 1, 'a task', 10), (2, 2, 'b task MARKER-OTHER-ORG', 10);",
    );
    let store = TempDir::new();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "a").run());
    archive.assert_well_formed();
    archive.assert_section_equals(&db, "public.orgs", "SELECT * FROM orgs WHERE id = 1");
    archive.assert_section_equals(&db, "public.tasks", "SELECT * FROM tasks WHERE org_id = 1");
    archive.assert_section_equals(&db, "public.users", "SELECT * FROM users WHERE id = 10");
    archive.assert_section_equals(
        &db,
        "public.memberships",
        "SELECT * FROM memberships WHERE org_id = 1",
    );
    assert!(!archive.text.contains(OTHER_ORG_MARKER));
}

#[test]
fn composite_fk_children_and_multi_hop_ownership() {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id bigint PRIMARY KEY, slug text);
         CREATE TABLE projects (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs);
         -- composite primary key, owned by projects
         CREATE TABLE steps (project_id bigint NOT NULL REFERENCES projects, no int NOT NULL, title text,
                             PRIMARY KEY (project_id, no));
         -- composite foreign key, two hops from the tenant table
         CREATE TABLE step_notes (id serial PRIMARY KEY, project_id bigint NOT NULL, step_no int NOT NULL, note text,
                                  FOREIGN KEY (project_id, step_no) REFERENCES steps);
         -- three hops
         CREATE TABLE note_reactions (note_id int NOT NULL REFERENCES step_notes, emoji text);
         INSERT INTO orgs VALUES (1, 'a'), (2, 'b');
         INSERT INTO projects VALUES (1, 1), (2, 2), (3, 1);
         INSERT INTO steps SELECT p, n, 'step ' || n || CASE WHEN p = 2 THEN ' MARKER-OTHER-ORG' ELSE '' END
           FROM generate_series(1, 3) p, generate_series(1, 4) n;
         INSERT INTO step_notes (project_id, step_no, note)
           SELECT project_id, no, 'note' || CASE WHEN project_id = 2 THEN ' MARKER-OTHER-ORG' ELSE '' END FROM steps;
         INSERT INTO note_reactions SELECT id, CASE WHEN project_id = 2 THEN 'MARKER-OTHER-ORG' ELSE ':)' END FROM step_notes;",
    );
    let store = TempDir::new();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "a").run());
    archive.assert_well_formed();
    archive.assert_section_equals(
        &db,
        "public.steps",
        "SELECT * FROM steps WHERE project_id IN (1, 3)",
    );
    archive.assert_section_equals(
        &db,
        "public.step_notes",
        "SELECT * FROM step_notes WHERE project_id IN (1, 3)",
    );
    archive.assert_section_equals(
        &db,
        "public.note_reactions",
        "SELECT r.* FROM note_reactions r JOIN step_notes n ON n.id = r.note_id WHERE n.project_id IN (1, 3)",
    );
    assert_eq!(archive.section("public.steps").len(), 8);
    assert!(!archive.text.contains(OTHER_ORG_MARKER));
}

#[test]
fn self_referencing_and_cyclic_tables_reach_their_fixpoint() {
    let db = TestDb::new();
    db.execute(include_str!("fixtures/cyclic.sql"));
    let store = TempDir::new();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "a").run());
    archive.assert_well_formed();
    archive.assert_section_equals(
        &db,
        "public.people",
        "SELECT * FROM people WHERE id IN (1, 2, 3, 4)",
    );
    archive.assert_section_equals(
        &db,
        "public.teams",
        "SELECT * FROM teams WHERE id IN (100, 300)",
    );
    archive.assert_section_equals(
        &db,
        "public.folders",
        "SELECT * FROM folders WHERE org_id = 1",
    );
    archive.assert_section_equals(&db, "public.docs", "SELECT * FROM docs WHERE id = 1");
    archive.assert_section_equals(
        &db,
        "public.revs",
        "SELECT * FROM revs WHERE id IN (10, 11)",
    );
    assert!(!archive.text.contains(OTHER_ORG_MARKER));
}

#[test]
fn partitioned_tenant_table_is_one_section() {
    let db = TestDb::new();
    db.execute(include_str!("fixtures/partitioned.sql"));
    let store = TempDir::new();
    // looked up by slug; the uuid primary key does not parse "a" and simply does not match
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "a").run());
    archive.assert_well_formed();
    archive.assert_sections(&["public.orgs", "public.events"]);
    archive.assert_section_equals(
        &db,
        "public.events",
        "SELECT * FROM events WHERE org_id = '00000000-0000-0000-0000-00000000000a'",
    );
    assert_eq!(archive.section("public.events").len(), 200);
    assert!(!archive.text.contains(OTHER_ORG_MARKER));
}

#[test]
fn quoted_reserved_mixed_case_and_non_ascii_identifiers_work() {
    let db = TestDb::new();
    db.execute(
        r#"CREATE SCHEMA "My Schema";
           CREATE TABLE "My Schema"."Org""s" ("Id" int PRIMARY KEY, "select" text);
           CREATE TABLE "My Schema"."order" (id int PRIMARY KEY, org_id int NOT NULL REFERENCES "My Schema"."Org""s",
                                             "Mixed Case" text, "naïve; col" text, "$1" text);
           CREATE TABLE "My Schema"."line items" ("order" int NOT NULL REFERENCES "My Schema"."order", "größe" int);
           INSERT INTO "My Schema"."Org""s" VALUES (1, 'first'), (2, 'MARKER-OTHER-ORG');
           INSERT INTO "My Schema"."order" VALUES (1, 1, 'x', 'y', 'z'), (2, 2, 'MARKER-OTHER-ORG', '', '');
           INSERT INTO "My Schema"."line items" VALUES (1, 5), (1, 6), (2, 666);"#,
    );
    let store = TempDir::new();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "1").run());
    archive.assert_well_formed();
    archive.assert_sections(&[
        "My Schema.Org\"s",
        "My Schema.order",
        "My Schema.line items",
    ]);
    archive.assert_section_equals(
        &db,
        "My Schema.Org\"s",
        r#"SELECT * FROM "My Schema"."Org""s" WHERE "Id" = 1"#,
    );
    archive.assert_section_equals(
        &db,
        "My Schema.order",
        r#"SELECT * FROM "My Schema"."order" WHERE org_id = 1"#,
    );
    archive.assert_section_equals(
        &db,
        "My Schema.line items",
        r#"SELECT * FROM "My Schema"."line items" WHERE "order" = 1"#,
    );
    assert!(!archive.text.contains(OTHER_ORG_MARKER));
}

#[test]
fn views_inheritance_children_and_global_tables_are_handled_apart() {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);
         CREATE TABLE notes (id int, org_id int NOT NULL REFERENCES orgs, body text);
         -- old-style inheritance: the child is a table of its own, not part of notes
         CREATE TABLE pinned_notes (pinned_at date) INHERITS (notes);
         CREATE TABLE settings (key text PRIMARY KEY, value text);
         CREATE VIEW org_notes AS SELECT * FROM notes;
         CREATE MATERIALIZED VIEW note_counts AS SELECT org_id, count(*) FROM notes GROUP BY org_id;
         INSERT INTO orgs VALUES (1, 'a'), (2, 'b');
         INSERT INTO notes VALUES (1, 1, 'plain'), (2, 2, 'MARKER-OTHER-ORG');
         INSERT INTO pinned_notes VALUES (3, 1, 'pinned', '2026-01-01'), (4, 2, 'MARKER-OTHER-ORG', '2026-01-02');
         INSERT INTO settings VALUES ('global', 'nobody references me');",
    );
    let store = TempDir::new();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "a").run());
    archive.assert_well_formed();
    archive.assert_sections(&["public.orgs", "public.notes", "public.pinned_notes"]);
    archive.assert_section_equals(
        &db,
        "public.notes",
        "SELECT * FROM ONLY notes WHERE org_id = 1",
    );
    archive.assert_section_equals(
        &db,
        "public.pinned_notes",
        "SELECT * FROM pinned_notes WHERE org_id = 1",
    );
    assert!(!archive.text.contains(OTHER_ORG_MARKER));
}

#[test]
fn a_guessed_root_is_said_in_the_not_found_error_with_the_line_that_chooses_it() {
    let db = TestDb::new();
    db.execute(
        r#"CREATE TABLE "Organization" (id text PRIMARY KEY, slug text UNIQUE);
           CREATE TABLE "Workspace" (id text PRIMARY KEY, name text,
               "organizationId" text NOT NULL REFERENCES "Organization");
           CREATE TABLE "Doc" (id text PRIMARY KEY, "workspaceId" text NOT NULL REFERENCES "Workspace", body text);
           CREATE TABLE "Tag" (id text PRIMARY KEY, "workspaceId" text NOT NULL REFERENCES "Workspace");
           INSERT INTO "Organization" VALUES ('o1', 'acme'), ('o2', 'globex');
           INSERT INTO "Workspace" VALUES ('w1', 'main', 'o1'), ('w2', 'MARKER-OTHER-ORG', 'o2');
           INSERT INTO "Doc" VALUES ('d1', 'w1', 'hello'), ('d2', 'w2', 'MARKER-OTHER-ORG');"#,
    );
    let store = TempDir::new();
    // Zero configuration: the root is Organization, the top of the hierarchy.
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "acme").run());
    archive.assert_well_formed();
    archive.assert_section_equals(&db, "public.Doc", r#"SELECT * FROM "Doc" WHERE id = 'd1'"#);
    assert!(!archive.text.contains(OTHER_ORG_MARKER));
    Orgexport::export(&db, &store, "initech")
        .code(3)
        .stderr_has_all(&[
            "not found",
            "public.Organization",
            "root guessed from 2 tables' workspaceId",
            "set root_table = \"public.Organization\"",
        ])
        .run();
}

#[test]
fn a_tenant_row_whose_tenant_columns_name_two_orgs_belongs_to_neither() {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);
         CREATE TABLE dual_tenant (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs,
             account_id int REFERENCES orgs, note text);
         CREATE TABLE other_side (id int PRIMARY KEY, account_id int NOT NULL REFERENCES orgs);
         CREATE TABLE dual_notes (id int PRIMARY KEY, dual_id int NOT NULL REFERENCES dual_tenant, body text);
         INSERT INTO orgs VALUES (1, 'acme'), (2, 'globex');
         INSERT INTO dual_tenant VALUES (1, 1, 1, 'mine'), (2, 1, NULL, 'mine too'),
             (3, 1, 2, 'MARKER-OTHER-ORG disagree'), (4, 2, 2, 'MARKER-OTHER-ORG');
         INSERT INTO dual_notes VALUES (1, 1, 'ok'), (2, 3, 'MARKER-OTHER-ORG on a disputed row');",
    );
    let store = TempDir::new();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "acme").run());
    archive.assert_well_formed();
    archive.assert_section_equals(
        &db,
        "public.dual_tenant",
        "SELECT * FROM dual_tenant WHERE id IN (1, 2)",
    );
    archive.assert_section_equals(
        &db,
        "public.dual_notes",
        "SELECT * FROM dual_notes WHERE id = 1",
    );
    assert_eq!(
        archive.manifest_section("public.dual_tenant")["cross_tenant_rows"],
        1
    );
    assert!(!archive.text.contains(OTHER_ORG_MARKER));
    Orgexport::new()
        .args(["plan", "--org", "acme"])
        .database(&db)
        .stdout_has("public.dual_tenant: 1 row(s) are owned by this org and another one at once")
        .run();
}

/// A Rails shape for polymorphic pairs: `notes` (a tenant table) and `taggings` (reached only
/// through its pair) point at conversations, bots, an API channel and an STI user; an OAuth
/// `client_type` beside `client_id` is no pair. Globex's rows carry a class name of their own
/// that must never be printed for acme.
const POLYMORPHIC: &str = "
CREATE TABLE accounts (id bigint PRIMARY KEY, name text);
CREATE TABLE conversations (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts, title text);
CREATE TABLE agent_bots (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts, name text);
CREATE TABLE channel_api (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts, url text);
CREATE TABLE users (id bigint PRIMARY KEY, type text, email text);
CREATE TABLE notes (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts,
    noteable_type text, noteable_id bigint, body text);
CREATE TABLE taggings (id bigint PRIMARY KEY, taggable_type text NOT NULL, taggable_id bigint NOT NULL, tag text);
CREATE TABLE oauth_grants (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts,
    client_type text, client_id bigint);
CREATE INDEX ON conversations (account_id); CREATE INDEX ON agent_bots (account_id);
CREATE INDEX ON channel_api (account_id); CREATE INDEX ON notes (account_id);
CREATE INDEX ON oauth_grants (account_id);
INSERT INTO accounts VALUES (1, 'acme'), (2, 'globex MARKER-OTHER-ORG');
INSERT INTO conversations VALUES (10, 1, 'hello'), (20, 2, 'MARKER-OTHER-ORG');
INSERT INTO agent_bots VALUES (11, 1, 'bot'), (21, 2, 'MARKER-OTHER-ORG');
INSERT INTO channel_api VALUES (12, 1, 'https://acme.test/hook'), (22, 2, 'MARKER-OTHER-ORG');
INSERT INTO users VALUES (1, 'AdminUser', 'ann@acme.test'), (2, NULL, 'MARKER-OTHER-ORG');
INSERT INTO notes VALUES
    (1, 1, 'Conversation', 10, 'n1'), (2, 1, 'AgentBot', 11, 'n2'), (3, 1, 'Channel::Api', 12, 'n3'),
    (4, 1, 'AdminUser', 1, 'n4'), (5, 1, 'Ghost', 5, 'n5'),
    (6, 2, 'GlobexMarkerClass', 20, 'MARKER-OTHER-ORG'), (7, 2, 'Conversation', 20, 'MARKER-OTHER-ORG');
INSERT INTO taggings VALUES
    (1, 'Conversation', 10, 'urgent'), (2, 'AgentBot', 11, 'bots'),
    (3, 'Conversation', 20, 'MARKER-OTHER-ORG'), (4, 'GlobexTagClass', 10, 'MARKER-OTHER-ORG'),
    (5, 'ChannelApi', 22, 'MARKER-OTHER-ORG');
INSERT INTO oauth_grants VALUES (1, 1, 'confidential', 7), (2, 2, 'MARKER-OTHER-ORG', 8);
";

#[test]
fn plan_never_prints_another_orgs_type_values() {
    let db = TestDb::new();
    db.execute(POLYMORPHIC);
    let cwd = TempDir::new();
    for json in [false, true] {
        let mut plan = Orgexport::new()
            .current_dir(cwd.path())
            .args(["plan", "--org", "acme"])
            .database(&db);
        if json {
            plan = plan.arg("--json");
        }
        plan.stdout_lacks("GlobexMarkerClass")
            .stdout_lacks("GlobexTagClass")
            .stdout_lacks(OTHER_ORG_MARKER)
            // acme's own values are proposed, with the tables they name
            .stdout_has(if json {
                r#"Conversation = \"public.conversations\""#
            } else {
                r#"Conversation = "public.conversations""#
            })
            .run();
    }
}

#[test]
fn rails_polymorphic_pairs_are_inferred_from_the_orgs_own_type_values() {
    let db = TestDb::new();
    db.execute(POLYMORPHIC);
    let dir = TempDir::new();
    let config = dir.path().join("orgexport.toml");
    std::fs::write(&config, "infer_references = true\n").unwrap();
    let config = config.to_str().unwrap();
    Orgexport::new()
        .args(["plan", "--org", "acme", "--config", config])
        .database(&db)
        .stdout_has("# adopted by infer_references = true")
        .stdout_has(
            "{ column = \"public.notes.noteable_id\", type_column = \"noteable_type\", targets = { AdminUser = \"public.users\", AgentBot = \"public.agent_bots\", \"Channel::Api\" = \"public.channel_api\", Conversation = \"public.conversations\" } }",
        )
        .stdout_has(
            "{ column = \"public.taggings.taggable_id\", type_column = \"taggable_type\", targets = { AgentBot = \"public.agent_bots\", Conversation = \"public.conversations\" } }",
        )
        // a value of acme's rows that names no table is reported; a pair whose values name
        // no table is not proposed
        .stdout_has("type value(s) Ghost of this org's rows name no table")
        .stdout_lacks("oauth_grants.client_id")
        .stdout_lacks("GlobexMarkerClass")
        .stdout_lacks("GlobexTagClass")
        .run();
    let store = TempDir::new();
    let archive = Archive::from_run(
        &Orgexport::export(&db, &store, "acme")
            .args(["--config", config])
            .run(),
    );
    archive.assert_well_formed();
    archive.assert_section_equals(
        &db,
        "public.taggings",
        "SELECT * FROM taggings WHERE id IN (1, 2)",
    );
    archive.assert_section_equals(
        &db,
        "public.notes",
        "SELECT * FROM notes WHERE account_id = 1",
    );
    archive.assert_section_equals(&db, "public.users", "SELECT * FROM users WHERE id = 1");
    assert!(
        !archive.text.contains(OTHER_ORG_MARKER),
        "another org's row leaked"
    );
}

#[test]
fn django_generic_foreign_keys_are_inferred_from_the_orgs_own_content_types() {
    let db = TestDb::new();
    // pretix's shape: organizers > events > orders; log entries point at their object through
    // a content type and an integer object_id.
    db.execute(
        "CREATE TABLE django_content_type (id serial PRIMARY KEY, app_label varchar(100) NOT NULL,
             model varchar(100) NOT NULL, UNIQUE (app_label, model));
         CREATE TABLE pretixbase_organizer (id bigint PRIMARY KEY, slug text NOT NULL, name text);
         CREATE TABLE pretixbase_event (id bigint PRIMARY KEY,
             organizer_id bigint NOT NULL REFERENCES pretixbase_organizer, name text);
         CREATE TABLE pretixbase_order (id bigint PRIMARY KEY,
             event_id bigint NOT NULL REFERENCES pretixbase_event, code text);
         CREATE TABLE pretixbase_logentry (id bigint PRIMARY KEY,
             content_type_id integer NOT NULL REFERENCES django_content_type,
             object_id integer NOT NULL, action_type text, data text);
         INSERT INTO django_content_type (id, app_label, model) VALUES
             (1, 'pretixbase', 'event'), (2, 'pretixbase', 'order'), (3, 'auth', 'permission');
         INSERT INTO pretixbase_organizer VALUES (1, 'acme', 'Acme'), (2, 'globex', 'MARKER-OTHER-ORG');
         INSERT INTO pretixbase_event VALUES (10, 1, 'conf'), (20, 2, 'MARKER-OTHER-ORG');
         INSERT INTO pretixbase_order VALUES (100, 10, 'A1'), (200, 20, 'MARKER-OTHER-ORG');
         INSERT INTO pretixbase_logentry VALUES
             (1, 1, 10, 'event.created', '{}'), (2, 2, 100, 'order.placed', '{}'),
             (3, 1, 20, 'MARKER-OTHER-ORG', '{}'), (4, 2, 200, 'MARKER-OTHER-ORG', '{}'),
             -- an acme order's id under another model: not acme's
             (5, 3, 100, 'MARKER-OTHER-ORG', '{}');",
    );
    let dir = TempDir::new();
    let config = dir.path().join("orgexport.toml");
    std::fs::write(
        &config,
        "root_table = \"public.pretixbase_organizer\"\ntenant_columns = [\"organizer_id\"]\ninfer_references = true\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    Orgexport::new()
        .args(["plan", "--org", "acme", "--config", config])
        .database(&db)
        .stdout_has(
            "{ column = \"public.pretixbase_logentry.object_id\", type_column = \"content_type_id\", targets = { 1 = \"public.pretixbase_event\", 2 = \"public.pretixbase_order\" } },   # pretixbase.event, pretixbase.order",
        )
        .stdout_lacks(OTHER_ORG_MARKER)
        .run();
    let store = TempDir::new();
    let archive = Archive::from_run(
        &Orgexport::export(&db, &store, "acme")
            .args(["--config", config])
            .run(),
    );
    archive.assert_well_formed();
    archive.assert_section_equals(
        &db,
        "public.pretixbase_logentry",
        "SELECT * FROM pretixbase_logentry WHERE id IN (1, 2)",
    );
    assert!(
        !archive.text.contains(OTHER_ORG_MARKER),
        "another org's row leaked"
    );
}
