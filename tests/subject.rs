//! One person's data (`run --subject`, `--subject-email`, `plan --subject`, `--all-orgs
//! --subject`): the archive holds exactly what independent SQL says the person's rows are —
//! their row, the org's rows referencing it, what those own, and the rows those reference —
//! and nothing of another person in the same org, of another org, or of a secret.

mod support;

use support::{Archive, Expect, Orgexport, TestDb};

use support::people::{BOB, OTHER_ORG, SECRET, ids, people_db, sql_ids, store_with_config};

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
