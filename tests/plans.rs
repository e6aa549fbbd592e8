//! The structure of every generated query (DESIGN §2, last point): EXPLAIN each section's
//! COPY, count and cross-tenant count on a fixture with the shapes that hurt — a shared
//! `users` table referenced from many comments, a 5-hop child chain, a hash-partitioned tenant
//! table, rows with two owners, cycles (a self-owning tree, a self-referencing global table),
//! polymorphic and configured references — and fail when a plan holds a per-row subplan over
//! a set that grows with the org (a non-hashed SubPlan scanning a CTE or a whole table): the
//! structural cause of v1's 164 s. Not timed.

mod support;

use orgexport::scope::catalog::Catalog;
use orgexport::scope::columns::RenderMode;
use orgexport::scope::config::ScopeConfig;
use orgexport::scope::plan::{OrgKey, Planner};
use orgexport::scope::references::PolymorphicConfig;
use orgexport::scope::rules::classify;
use serde_json::Value;
use support::{Archive, Orgexport, TempDir, TestDb};

const FIXTURE: &str = "
CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE);
CREATE TABLE users (id bigint PRIMARY KEY, email text, invited_by bigint REFERENCES users);
CREATE TABLE memberships (org_id bigint NOT NULL REFERENCES orgs, user_id bigint NOT NULL REFERENCES users);
CREATE TABLE projects (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs, name text);
CREATE TABLE epics (id bigint PRIMARY KEY, project_id bigint NOT NULL REFERENCES projects);
CREATE TABLE stories (id bigint PRIMARY KEY, epic_id bigint NOT NULL REFERENCES epics);
CREATE TABLE tasks (id bigint PRIMARY KEY, story_id bigint NOT NULL REFERENCES stories,
                    assignee_id bigint REFERENCES users);
CREATE TABLE subtasks (id bigint PRIMARY KEY, task_id bigint NOT NULL REFERENCES tasks);
CREATE TABLE comments (id bigint PRIMARY KEY, task_id bigint NOT NULL REFERENCES tasks,
                       author_id bigint NOT NULL REFERENCES users, body text);
CREATE TABLE labels (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs);
CREATE TABLE task_labels (task_id bigint NOT NULL REFERENCES tasks, label_id bigint NOT NULL REFERENCES labels);
CREATE TABLE folders (id bigint PRIMARY KEY, org_id bigint REFERENCES orgs, parent_id bigint REFERENCES folders,
                      CHECK (num_nonnulls(org_id, parent_id) = 1));
CREATE TABLE notes (id bigint PRIMARY KEY, noteable_type text NOT NULL, noteable_id bigint NOT NULL, body text);
CREATE TABLE events (org_id bigint NOT NULL REFERENCES orgs, at timestamptz NOT NULL, what text)
    PARTITION BY HASH (org_id);
DO $$ BEGIN
  FOR i IN 0..31 LOOP
    EXECUTE format('CREATE TABLE events_%s PARTITION OF events FOR VALUES WITH (MODULUS 32, REMAINDER %s)', i, i);
  END LOOP;
END $$;
CREATE INDEX ON memberships (org_id); CREATE INDEX ON memberships (user_id);
CREATE INDEX ON projects (org_id); CREATE INDEX ON epics (project_id); CREATE INDEX ON stories (epic_id);
CREATE INDEX ON tasks (story_id); CREATE INDEX ON subtasks (task_id); CREATE INDEX ON comments (task_id);
CREATE INDEX ON labels (org_id); CREATE INDEX ON task_labels (task_id); CREATE INDEX ON task_labels (label_id);
CREATE INDEX ON folders (org_id); CREATE INDEX ON folders (parent_id); CREATE INDEX ON events (org_id);
CREATE INDEX ON notes (noteable_id);
INSERT INTO orgs SELECT g, 'o' || g FROM generate_series(1, 50) g;
INSERT INTO users SELECT g, 'u' || g, CASE WHEN g > 100 THEN g % 100 + 1 END FROM generate_series(1, 20000) g;
INSERT INTO memberships SELECT g % 50 + 1, g FROM generate_series(1, 20000) g;
INSERT INTO projects SELECT g, g % 50 + 1, 'p' FROM generate_series(1, 500) g;
INSERT INTO epics SELECT g, g % 500 + 1 FROM generate_series(1, 2000) g;
INSERT INTO stories SELECT g, g % 2000 + 1 FROM generate_series(1, 8000) g;
INSERT INTO tasks SELECT g, g % 8000 + 1, g % 20000 + 1 FROM generate_series(1, 30000) g;
INSERT INTO subtasks SELECT g, g % 30000 + 1 FROM generate_series(1, 30000) g;
INSERT INTO comments SELECT g, g % 30000 + 1, g % 20000 + 1, 'c' FROM generate_series(1, 120000) g;
INSERT INTO labels SELECT g, g % 50 + 1 FROM generate_series(1, 500) g;
INSERT INTO task_labels SELECT g % 30000 + 1, g % 500 + 1 FROM generate_series(1, 30000) g;
INSERT INTO folders SELECT g, g, NULL FROM generate_series(1, 50) g;
INSERT INTO folders SELECT g, NULL, g - 50 FROM generate_series(51, 5000) g;
INSERT INTO notes SELECT g, CASE WHEN g % 2 = 0 THEN 'Task' ELSE 'Project' END, g % 500 + 1, 'n' FROM generate_series(1, 20000) g;
INSERT INTO events SELECT g % 50 + 1, now(), 'e' FROM generate_series(1, 50000) g;
ANALYZE;
";

/// Names of non-hashed SubPlans (run once per outer row) whose subtree scans a CTE, a
/// recursive work table or a whole table: sets that grow with the org or the table.
fn per_row_subplans(plan: &Value) -> Vec<String> {
    let text = plan.to_string();
    let mut found = Vec::new();
    walk(plan, &text, &mut found);
    found
}

fn walk(node: &Value, text: &str, found: &mut Vec<String>) {
    if let Some(obj) = node.as_object() {
        if obj.get("Parent Relationship").and_then(Value::as_str) == Some("SubPlan") {
            let name = obj
                .get("Subplan Name")
                .and_then(Value::as_str)
                .unwrap_or("?");
            let hashed = text.contains(&format!("hashed {name}"));
            if !hashed && scans_a_set(node) {
                found.push(format!(
                    "{name}: {}",
                    obj.get("Node Type").and_then(Value::as_str).unwrap_or("?")
                ));
            }
        }
        for value in obj.values() {
            walk(value, text, found);
        }
    } else if let Some(items) = node.as_array() {
        for item in items {
            walk(item, text, found);
        }
    }
}

fn scans_a_set(node: &Value) -> bool {
    match node {
        Value::Object(obj) => {
            matches!(
                obj.get("Node Type").and_then(Value::as_str),
                Some("CTE Scan" | "WorkTable Scan" | "Seq Scan")
            ) || obj.values().any(scans_a_set)
        }
        Value::Array(items) => items.iter().any(scans_a_set),
        _ => false,
    }
}

fn explain(client: &mut postgres::Client, query: &str) -> Value {
    let rows = client
        .simple_query(&format!("EXPLAIN (FORMAT JSON) {query}"))
        .unwrap_or_else(|e| panic!("{e}: {e:?}\n{query}"));
    let text = rows
        .iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .expect("an EXPLAIN row");
    serde_json::from_str(&text).unwrap()
}

/// The query inside `COPY (…) TO STDOUT (FORMAT binary)`.
fn copy_query(copy: &str) -> &str {
    copy.strip_prefix("COPY (")
        .and_then(|s| s.strip_suffix(") TO STDOUT (FORMAT binary)"))
        .expect("a COPY statement")
}

#[test]
fn the_detector_flags_v1s_or_exists_over_ctes() {
    let db = TestDb::new();
    db.execute(FIXTURE);
    let mut client = db.client();
    // v1's shape for a referenced table: OR'ed EXISTS over materialized CTEs.
    let v1 = "WITH s AS MATERIALIZED (SELECT author_id, task_id FROM comments WHERE task_id < 20000), \
                   m AS MATERIALIZED (SELECT user_id FROM memberships WHERE org_id = 7) \
              SELECT u.* FROM ONLY users u \
              WHERE EXISTS (SELECT 1 FROM s WHERE s.author_id = u.id) \
                 OR EXISTS (SELECT 1 FROM m WHERE m.user_id = u.id)";
    // While the set fits in work_mem the planner hashes it; an org whose set does not (600,000
    // comments in the field) gets a subplan per row: the 164 s.
    client.batch_execute("SET work_mem = '64kB'").unwrap();
    let plan = explain(&mut client, v1);
    assert!(
        !per_row_subplans(&plan).is_empty(),
        "the detector must flag v1's shape: {plan}"
    );
}

#[test]
fn no_generated_query_runs_a_per_row_subplan_over_a_growing_set() {
    let db = TestDb::new();
    db.execute(FIXTURE);
    let config = ScopeConfig {
        polymorphic: vec![PolymorphicConfig {
            column: "public.notes.noteable_id".into(),
            type_column: "noteable_type".into(),
            targets: [
                ("Task".to_string(), "public.tasks".to_string()),
                ("Project".to_string(), "public.projects".to_string()),
            ]
            .into(),
        }],
        ..ScopeConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let catalog = runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        Catalog::load(&client).await.unwrap()
    });
    let scope = classify(&catalog, &config).unwrap();
    let planner = Planner::new(&catalog, &scope);
    // And with every referenced table's keys as one `UNION` (an org whose referencing rows
    // outnumber the table's, `export::estimate::outnumbered`).
    let outnumbered = Planner::new(&catalog, &scope)
        .with_outnumbered(scope.sections.iter().map(|s| s.table).collect());
    let org = OrgKey {
        text: "7".into(),
        fits: [("bigint".to_string(), true)].into(),
    };
    let mut client = db.client();
    let mut checked = 0;
    let mut problems = Vec::new();
    // Also with a work_mem too small to hash the org's sets, as for a big org.
    for (work_mem, planner) in [("4MB", &planner), ("64kB", &planner), ("4MB", &outnumbered)] {
        client
            .batch_execute(&format!("SET work_mem = '{work_mem}'"))
            .unwrap();
        for section in &scope.sections {
            for mode in [RenderMode::Client, RenderMode::Server] {
                let sql = planner.section_sql(section, &org, Some(1000), mode);
                let mut queries = vec![copy_query(&sql.copy).to_string(), sql.count.clone()];
                queries.extend(sql.candidates.clone());
                for query in queries {
                    let plan = explain(&mut client, &query);
                    let bad = per_row_subplans(&plan);
                    if !bad.is_empty() {
                        problems.push(format!("{}: {bad:?}\n{query}", sql.name));
                    }
                    checked += 1;
                }
            }
        }
    }
    let names: Vec<String> = scope
        .sections
        .iter()
        .map(|s| catalog.table(s.table).qualified_name())
        .collect();
    for expected in [
        "public.users",
        "public.subtasks",
        "public.events",
        "public.task_labels",
        "public.folders",
        "public.notes",
    ] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} in {names:?}"
        );
    }
    assert!(checked >= 3 * 2 * 2 * names.len(), "{checked} plans");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));

    // The partitioned table's plan touches only the org's partition (plan-time pruning).
    let events = scope
        .sections
        .iter()
        .find(|s| catalog.table(s.table).qualified_name() == "public.events")
        .unwrap();
    let sql = planner.section_sql(events, &org, None, RenderMode::Client);
    let plan = explain(&mut client, copy_query(&sql.copy)).to_string();
    assert_eq!(
        plan.matches("\"events_").count(),
        1,
        "one partition: {plan}"
    );
}

/// The keys of several references into a big shared table are one `UNION` when the org's
/// referencing rows outnumber the table's rows (a scan and a merge or hash join: what the
/// hand-written SQL costs), and stay `UNION ALL` (index probes for a few keys) for an org
/// with a handful; both archives hold exactly the referenced rows.
#[test]
fn shared_keys_are_one_union_for_an_org_that_outnumbers_the_table_and_probes_for_a_small_one() {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE);
         INSERT INTO orgs VALUES (1, 'big'), (2, 'small');
         CREATE TABLE users (id bigint PRIMARY KEY, email text);
         INSERT INTO users SELECT g, 'user' || g FROM generate_series(1, 12000) g;
         CREATE TABLE tasks (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs,
                             assignee_id bigint REFERENCES users);
         INSERT INTO tasks SELECT g, CASE WHEN g <= 4000 THEN 1 ELSE 2 END, (g * 7) % 12000 + 1
           FROM generate_series(1, 4005) g;
         CREATE TABLE comments (id bigint PRIMARY KEY, task_id bigint NOT NULL REFERENCES tasks,
                                author_id bigint NOT NULL REFERENCES users);
         INSERT INTO comments SELECT g, CASE WHEN g <= 30000 THEN g % 4000 + 1 ELSE 4001 + g % 5 END,
                (g * 13) % 11000 + 1
           FROM generate_series(1, 30010) g;
         CREATE INDEX ON tasks (org_id); CREATE INDEX ON comments (task_id);
         ANALYZE;",
    );
    for (org, id, union) in [("big", 1i64, true), ("small", 2, false)] {
        let store = TempDir::new();
        let run = Orgexport::export(&db, &store, org).arg("-v").run();
        let users_copy = run
            .stderr
            .lines()
            .find(|l| l.contains("public.users: COPY"))
            .unwrap_or_else(|| panic!("{org}: no users COPY in\n{}", run.stderr));
        assert_eq!(
            !users_copy.contains(" UNION ALL ") && users_copy.contains(" UNION "),
            union,
            "{org}: {users_copy}"
        );
        let archive = Archive::from_run(&run);
        let mut got: Vec<i64> = archive
            .section("public.users")
            .iter()
            .map(|u| u["id"].as_i64().unwrap())
            .collect();
        got.sort_unstable();
        let expected: Vec<i64> = db
            .client()
            .query(
                "SELECT id FROM users WHERE id IN (SELECT assignee_id FROM tasks WHERE org_id = $1
                   UNION SELECT c.author_id FROM comments c JOIN tasks t ON t.id = c.task_id
                   WHERE t.org_id = $1) ORDER BY id",
                &[&id],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(expected.len() > 3, "{org}: the fixture references users");
        assert_eq!(got, expected, "{org}: the referenced users, each once");
    }
}
