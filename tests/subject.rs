//! One person's data (`run --subject`, `--subject-email`, `plan --subject`, `--all-orgs
//! --subject`): the archive holds exactly what independent SQL says the person's rows are —
//! their row, the org's rows referencing it, what those own, and the rows those reference —
//! and nothing of another person in the same org, of another org, or of a secret.

mod support;

use support::{Archive, Expect, Orgexport, TempDir, TestDb};

const SECRET: &str = "SECRET-VALUE-must-not-leak";
const BOB: &str = "BOB-MARKER";
const OTHER_ORG: &str = "OTHER-ORG-MARKER";

/// Two orgs; Ada (user 1) is a member of both, Bob (2) of acme, Carol (3) of globex. Users
/// are shared rows; comments are owned by tasks, attachments by comments; audit events name
/// their subject through a polymorphic pair.
pub fn people_db() -> TestDb {
    let db = TestDb::new();
    db.execute(&format!(
        "CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE, name text);
         CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL, name text, password_hash text,
                             invited_by bigint REFERENCES users);
         CREATE TABLE labels (id bigint PRIMARY KEY, name text);
         CREATE TABLE memberships (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs,
                                   user_id bigint NOT NULL REFERENCES users, role text);
         CREATE TABLE projects (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs, name text,
                                created_at timestamptz NOT NULL);
         CREATE TABLE tasks (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs,
                             project_id bigint NOT NULL REFERENCES projects, title text,
                             assignee_id bigint REFERENCES users, label_id bigint REFERENCES labels,
                             created_at timestamptz NOT NULL);
         CREATE TABLE comments (id bigint PRIMARY KEY, task_id bigint NOT NULL REFERENCES tasks,
                                author_id bigint REFERENCES users, body text, created_at timestamptz NOT NULL);
         CREATE TABLE attachments (id bigint PRIMARY KEY, comment_id bigint NOT NULL REFERENCES comments,
                                   filename text);
         CREATE TABLE audit_events (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs,
                                    subject_type text, subject_id bigint, action text);
         INSERT INTO orgs VALUES (1, 'acme', 'Acme'), (2, 'globex', 'Globex {OTHER_ORG}');
         INSERT INTO users VALUES (1, 'Ada@Example.com', 'Ada', '{SECRET}-1', NULL),
                                  (2, 'bob@example.com', 'Bob', '{SECRET}-2', NULL),
                                  (3, 'carol@example.com', 'Carol {OTHER_ORG}', '{SECRET}-3', NULL),
                                  (4, 'dan@example.com', 'Dan', '{SECRET}-4', 1);
         INSERT INTO labels VALUES (1, 'bug'), (2, 'chore {BOB}'), (3, 'x {OTHER_ORG}');
         INSERT INTO memberships VALUES (1, 1, 1, 'admin'), (2, 1, 2, 'member {BOB}'),
                                        (3, 2, 1, 'member {OTHER_ORG}'), (4, 2, 3, 'owner {OTHER_ORG}');
         INSERT INTO projects VALUES (1, 1, 'Apollo', '2025-01-01'), (2, 1, 'Bobs {BOB}', '2025-01-01'),
                                     (3, 1, 'Cobalt', '2026-06-01'), (4, 2, 'G {OTHER_ORG}', '2026-06-01');
         -- task 1: Bob's, Ada comments on it; task 2: Bob's alone; task 3: Ada's; 4: globex, Ada's.
         INSERT INTO tasks VALUES (1, 1, 1, 'Launch', 2, 1, '2025-02-01'),
                                  (2, 1, 2, 'Bob only {BOB}', 2, 2, '2026-06-02'),
                                  (3, 1, 3, 'Ada task', 1, NULL, '2026-06-03'),
                                  (4, 2, 4, 'Globex task {OTHER_ORG}', 1, 3, '2026-06-04');
         INSERT INTO comments VALUES (1, 1, 1, 'Ada says hi', '2025-02-02'),
                                     (2, 1, 2, 'Bob replies {BOB}', '2026-06-05'),
                                     (3, 2, 2, 'Bob alone {BOB}', '2026-06-06'),
                                     (4, 4, 1, 'Ada at globex {OTHER_ORG}', '2026-06-07'),
                                     (5, 3, 1, 'Ada again', '2026-06-08');
         INSERT INTO attachments VALUES (1, 1, 'ada.png'), (2, 2, 'bob {BOB}.png'),
                                        (3, 4, 'globex {OTHER_ORG}.png');
         INSERT INTO audit_events VALUES (1, 1, 'User', 1, 'login'), (2, 1, 'User', 2, 'login {BOB}'),
                                         (3, 2, 'User', 1, 'login {OTHER_ORG}'), (4, 1, 'Task', 3, 'created');"
    ));
    db
}

pub const CONFIG: &str = r#"polymorphic = [{ column = "public.audit_events.subject_id", type_column = "subject_type", targets = { User = "public.users", Task = "public.tasks" } }]
"#;

/// The store with the config that declares the audit events' polymorphic pair.
pub fn store_with_config() -> TempDir {
    let store = TempDir::new();
    std::fs::write(store.path().join("orgexport.toml"), CONFIG).unwrap();
    store
}

fn ids(archive: &Archive, section: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = archive
        .section(section)
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids
}

fn sql_ids(db: &TestDb, sql: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = db
        .client()
        .query(sql, &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    ids.sort();
    ids
}

/// Independent SQL for Ada's rows in acme (written from the data model, not the tool's SQL).
pub fn assert_ada_in_acme(db: &TestDb, archive: &Archive) {
    let oracle = [
        ("public.orgs", "SELECT 1::bigint"),
        (
            "public.comments",
            "SELECT c.id FROM comments c JOIN tasks t ON t.id = c.task_id WHERE t.org_id = 1 AND c.author_id = 1",
        ),
        (
            "public.attachments",
            "SELECT a.id FROM attachments a JOIN comments c ON c.id = a.comment_id JOIN tasks t ON t.id = c.task_id
             WHERE t.org_id = 1 AND c.author_id = 1",
        ),
        (
            "public.tasks",
            "SELECT id FROM tasks WHERE org_id = 1 AND (assignee_id = 1 OR id IN (
                 SELECT task_id FROM comments WHERE author_id = 1))",
        ),
        (
            "public.memberships",
            "SELECT id FROM memberships WHERE org_id = 1 AND user_id = 1",
        ),
        (
            "public.audit_events",
            "SELECT id FROM audit_events WHERE org_id = 1 AND subject_type = 'User' AND subject_id = 1",
        ),
        // Ada, and Bob as the assignee of the task Ada commented on (completeness).
        (
            "public.users",
            "SELECT id FROM users WHERE id = 1 OR id IN (SELECT assignee_id FROM tasks WHERE id IN (1, 3))",
        ),
        ("public.labels", "SELECT label_id FROM tasks WHERE id IN (1, 3) AND label_id IS NOT NULL"),
        ("public.projects", "SELECT project_id FROM tasks WHERE id IN (1, 3)"),
    ];
    for (section, sql) in oracle {
        assert_eq!(ids(archive, section), sql_ids(db, sql), "{section}");
    }
}

fn assert_no_markers(archive: &Archive, markers: &[&str]) {
    let text = serde_json::to_string(&archive.sections).unwrap();
    for marker in markers {
        assert!(!text.contains(marker), "{marker} leaked into the archive");
    }
}

#[test]
fn subject_export_holds_the_persons_rows_and_no_one_elses() {
    let db = people_db();
    let store = store_with_config();
    let run = Orgexport::export(&db, &store, "acme")
        .args(["--subject", "public.users=1"])
        .run();
    let archive = Archive::from_run(&run);
    archive.assert_well_formed();
    assert_ada_in_acme(&db, &archive);
    assert_no_markers(&archive, &[BOB, OTHER_ORG, SECRET]);
    let selection = &archive.manifest["selection"];
    assert_eq!(selection["subject"]["table"], "public.users");
    assert_eq!(selection["subject"]["key"], "1");
    let rules = &selection["rules"];
    assert!(
        rules["public.comments"]
            .as_str()
            .unwrap()
            .contains("references the subject: public.comments(author_id) -> public.users(id)"),
        "{rules}"
    );
    assert!(
        rules["public.attachments"]
            .as_str()
            .unwrap()
            .contains("owned by the subject's rows"),
        "{rules}"
    );
    assert!(
        rules["public.audit_events"]
            .as_str()
            .unwrap()
            .contains("[configured]")
            || rules["public.audit_events"]
                .as_str()
                .unwrap()
                .contains("[polymorphic]"),
        "{rules}"
    );
}

#[test]
fn subject_email_is_matched_case_insensitively_and_plan_previews_it() {
    let db = people_db();
    let store = store_with_config();
    let run = Orgexport::export(&db, &store, "acme")
        .args(["--subject-email", "ada@example.COM"])
        .run();
    let archive = Archive::from_run(&run);
    assert_ada_in_acme(&db, &archive);
    let plan = Orgexport::on(
        &db,
        &store,
        &["plan", "--org", "acme", "--subject", "users=1", "--json"],
    )
    .run();
    let plan = plan.json();
    let comments = plan["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "public.comments")
        .unwrap();
    assert_eq!(comments["estimated_rows"], 2, "{plan}");
    assert!(
        comments["rule"]
            .as_str()
            .unwrap()
            .contains("references the subject"),
        "{plan}"
    );
}

#[test]
fn all_orgs_subject_gives_one_archive_per_org_the_person_is_in() {
    let db = people_db();
    let store = store_with_config();
    let run = Orgexport::on(
        &db,
        &store,
        &["run", "--all-orgs", "--subject", "public.users=3", "--json"],
    )
    .run();
    let exports = run.json()["exports"].as_array().unwrap().clone();
    assert_eq!(exports.len(), 1, "Carol is only in globex: {exports:?}");
    assert_eq!(exports[0]["org"], "globex");
    let run = Orgexport::on(
        &db,
        &store,
        &["run", "--all-orgs", "--subject", "public.users=1", "--json"],
    )
    .run();
    let orgs: Vec<String> = run.json()["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["org"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(orgs, ["acme", "globex"]);
}

#[test]
fn a_subject_not_in_the_org_is_exit_3_and_records_nothing() {
    let db = people_db();
    let store = store_with_config();
    for subject in [
        "public.users=3",
        "public.users=999",
        "public.users=not-a-number",
    ] {
        Orgexport::export(&db, &store, "acme")
            .args(["--subject", subject])
            .code(3)
            .stderr_has("orgexport: error: ")
            .stderr_has("is not among org acme's rows")
            .run();
    }
    Orgexport::export(&db, &store, "acme")
        .args(["--subject-email", "nobody@example.com"])
        .code(3)
        .run();
    Orgexport::export(&db, &store, "acme")
        .args(["--subject", "public.nope=1"])
        .code(2)
        .stderr_has("the subject table public.nope is not a section")
        .run();
    Orgexport::export(&db, &store, "acme")
        .args(["--subject", "42"])
        .code(2)
        .stderr_has("is not TABLE=KEY")
        .run();
    assert_eq!(db.scalar_i64("SELECT count(*) FROM orgexport.exports"), 0);
    assert!(
        store.files().iter().all(|f| f == "orgexport.toml"),
        "{:?}",
        store.files()
    );
}
