//! The people fixture of the narrowing tests (`subject.rs`, `filters.rs`): two orgs sharing
//! users, an ownership chain (tasks → comments → attachments), a polymorphic audit trail,
//! time columns, and marker strings in other people's, other orgs' and secret values.

use super::{Archive, TempDir, TestDb};

pub const SECRET: &str = "SECRET-VALUE-must-not-leak";
pub const BOB: &str = "BOB-MARKER";
pub const OTHER_ORG: &str = "OTHER-ORG-MARKER";

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

/// The `id`s of a section of the archive, sorted.
pub fn ids(archive: &Archive, section: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = archive
        .section(section)
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids
}

/// The bigint first column of an independent query, sorted.
pub fn sql_ids(db: &TestDb, sql: &str) -> Vec<i64> {
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
