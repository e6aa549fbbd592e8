//! `orgexport delete EXPORT_ID…`: archives and sidecars removed from the store by id, the
//! history rows kept and marked `deleted`, audited; `--dry-run`, `--json`; everything a
//! delete must refuse (unknown ids, exports in progress, archives outside the store) refused
//! before anything is deleted; what `list`, `link`, `verify` and `restore` say afterwards;
//! an S3 store; and a history schema of an older version upgraded in place.

mod support;

use serde_json::Value;
use support::{Expect, Orgexport, S3_BUCKET, S3Server, TempDir, TestDb};

fn two_orgs() -> TestDb {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE);
         CREATE TABLE notes (id int PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs, body text);
         INSERT INTO orgs VALUES (1, 'acme'), (2, 'globex');
         INSERT INTO notes VALUES (1, 1, 'a'), (2, 1, 'b'), (3, 2, 'c');",
    );
    db
}

fn export(db: &TestDb, store: &TempDir, org: &str) -> String {
    let out = Orgexport::export(db, store, org).arg("--json").run().json();
    out["exports"][0]["export_id"].as_str().unwrap().to_string()
}

fn status(db: &TestDb, id: &str) -> String {
    db.scalar_text(&format!(
        "SELECT status FROM orgexport.exports WHERE id = '{id}'"
    ))
    .unwrap()
}

fn audited(db: &TestDb, action: &str) -> i64 {
    db.scalar_i64(&format!(
        "SELECT count(*) FROM orgexport.audit_log WHERE action = '{action}'"
    ))
}

fn ids(json: &Value, list: &str) -> Vec<String> {
    json[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["export_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn delete_removes_archive_and_sidecar_marks_the_row_deleted_and_audits_it() {
    let db = two_orgs();
    let store = TempDir::new();
    let gone = export(&db, &store, "acme");
    let kept = export(&db, &store, "acme");
    let before = store.files();
    assert_eq!(before.len(), 4);

    let dry = Orgexport::on(&db, &store, &["delete", &gone, "--dry-run", "--json"])
        .run()
        .json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(ids(&dry, "deleted"), vec![gone.clone()]);
    assert_eq!(store.files(), before, "--dry-run deletes nothing");
    assert_eq!(status(&db, &gone), "completed");
    assert_eq!(audited(&db, "export.deleted"), 0);

    Orgexport::on(&db, &store, &["delete", &gone])
        .stdout_has_line(&format!("deleted {gone}"), "acme")
        .stderr_has("deleted 1 export(s)")
        .run();
    assert_eq!(
        store.files(),
        vec![
            format!("acme-1/{kept}.json.gz"),
            format!("acme-1/{kept}.manifest.json")
        ],
        "both objects of the deleted export are gone, the other export's stay"
    );
    assert_eq!(status(&db, &gone), "deleted");
    assert_eq!(status(&db, &kept), "completed");
    let details = db.scalar_text(&format!(
        "SELECT details::text FROM orgexport.audit_log WHERE action = 'export.deleted' AND export_id = '{gone}'"
    ));
    assert!(details.unwrap().contains(&format!("{gone}.json.gz")));

    // list shows it, and filters on it.
    Orgexport::on(&db, &store, &["list"])
        .stdout_has_line(&gone, "deleted")
        .run();
    let listed = Orgexport::on(&db, &store, &["list", "--status", "deleted", "--json"])
        .run()
        .json();
    assert_eq!(listed["exports"].as_array().unwrap().len(), 1);
    assert_eq!(listed["exports"][0]["id"], gone.as_str());

    // link, verify and restore by id say it was deleted, in one line.
    let target = TestDb::new();
    for command in [
        vec!["link", gone.as_str()],
        vec!["verify", gone.as_str()],
        vec![
            "restore",
            gone.as_str(),
            "--target-url",
            target.url.as_str(),
        ],
    ] {
        Orgexport::on(&db, &store, &command)
            .code(2)
            .stderr_has(format!("export {gone} was deleted (`orgexport delete`)"))
            .one_error_line()
            .run();
    }

    // Deleting it again: says so, changes nothing, exit 0.
    let again = Orgexport::on(&db, &store, &["delete", &gone, "--json"])
        .run()
        .json();
    assert_eq!(ids(&again, "deleted"), Vec::<String>::new());
    assert_eq!(again["unchanged"][0]["export_id"], gone.as_str());
    assert_eq!(again["unchanged"][0]["reason"], "it was already deleted");
    Orgexport::on(&db, &store, &["delete", &gone])
        .stderr_has(format!(
            "export {gone} left as it is: it was already deleted"
        ))
        .stdout_is("")
        .run();
    assert_eq!(audited(&db, "export.deleted"), 1);
}

#[test]
fn several_ids_are_all_checked_before_any_is_deleted() {
    let db = two_orgs();
    let store = TempDir::new();
    let good = export(&db, &store, "acme");
    let unknown = "0192f6c4-5b1e-7c3a-9d2f-4e8a1b2c3d4e";
    Orgexport::on(&db, &store, &["delete", &good, unknown])
        .code(2)
        .stderr_has(format!(
            "no export with id {unknown}; nothing was deleted — see `orgexport list`"
        ))
        .one_error_line()
        .run();
    Orgexport::on(&db, &store, &["delete", &good, "not-an-id", "--json"])
        .code(2)
        .stdout_has("\"code\":\"usage\"")
        .stderr_has("\"not-an-id\" is not an export id")
        .one_error_line()
        .run();
    Orgexport::on(&db, &store, &["delete"])
        .code(2)
        .one_error_line()
        .run();
    assert_eq!(store.files().len(), 2, "nothing was deleted");
    assert_eq!(status(&db, &good), "completed");

    // A failed export has no archive: nothing to delete, said so, exit 0.
    let mut holder = db.client();
    holder
        .batch_execute(
            "SELECT pg_advisory_lock(('x' || substr(encode(sha256('orgexport:2'), 'hex'), 1, 16))::bit(64)::bigint)",
        )
        .unwrap();
    Orgexport::export(&db, &store, "globex").code(4).run();
    let failed = db
        .scalar_text("SELECT id::text FROM orgexport.exports WHERE status = 'failed'")
        .unwrap();
    Orgexport::on(&db, &store, &["delete", &failed, &good])
        .stderr_has(format!(
            "export {failed} left as it is: it failed: it has no archive"
        ))
        .stdout_has_line(&format!("deleted {good}"), "acme")
        .run();
    assert_eq!(status(&db, &failed), "failed");
    assert!(store.files().is_empty());
}

#[test]
fn an_export_in_progress_cannot_be_deleted_exit_4() {
    let db = two_orgs();
    let store = TempDir::new();
    let done = export(&db, &store, "acme");
    // Another export of acme queues behind the org's lock: its row is pending.
    let mut holder = db.client();
    holder
        .batch_execute(
            "SELECT pg_advisory_lock(('x' || substr(encode(sha256('orgexport:1'), 'hex'), 1, 16))::bit(64)::bigint)",
        )
        .unwrap();
    let child = Orgexport::export(&db, &store, "acme")
        .arg("--wait=60s")
        .spawn();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let queued = loop {
        if let Some(id) = db
            .scalar_text("SELECT (SELECT id::text FROM orgexport.exports WHERE status = 'pending')")
        {
            break id;
        }
        assert!(std::time::Instant::now() < deadline, "the run never queued");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Orgexport::on(&db, &store, &["delete", &done, &queued])
        .code(4)
        .stderr_has(format!(
            "export {queued} of org acme is pending: an export in progress cannot be deleted; nothing was deleted"
        ))
        .one_error_line()
        .run();
    assert_eq!(status(&db, &done), "completed", "nothing was deleted");
    assert_eq!(store.files().len(), 2);
    drop(holder);
    child.wait();
    assert_eq!(status(&db, &queued), "completed");
    Orgexport::on(&db, &store, &["delete", &queued, &done]).run();
    assert!(store.files().is_empty());
}

#[test]
fn an_archive_outside_the_configured_store_is_refused_like_prune_does() {
    let db = two_orgs();
    let store = TempDir::new();
    let other = TempDir::new();
    let id = export(&db, &store, "acme");
    Orgexport::on(&db, &other, &["delete", &id])
        .code(2)
        .stderr_has("is not under the configured store")
        .one_error_line()
        .run();
    // A history row edited to point into another org's folder of the right store.
    let elsewhere = export(&db, &store, "globex");
    db.execute(&format!(
        "UPDATE orgexport.exports SET object_url = replace(object_url, 'acme-1', 'globex-2') WHERE id = '{id}'"
    ));
    Orgexport::on(&db, &store, &["delete", &id])
        .code(2)
        .stderr_has("in another org's folder")
        .run();
    assert_eq!(store.files().len(), 4, "nothing was deleted");
    assert_eq!(status(&db, &id), "completed");
    assert_eq!(status(&db, &elsewhere), "completed");
    assert_eq!(audited(&db, "export.deleted"), 0);
}

#[test]
fn delete_on_s3_removes_both_objects_and_a_store_that_fails_marks_nothing() {
    let db = two_orgs();
    let mut s3 = S3Server::start();
    let store = format!("s3://{S3_BUCKET}/nightly");
    let env = s3.env();
    let on_s3 = |args: &[&str]| {
        Orgexport::new()
            .args(args)
            .database(&db)
            .store(&store)
            .envs(env.clone())
    };
    let out = on_s3(&["run", "--org", "acme", "--json"]).run().json();
    let id = out["exports"][0]["export_id"].as_str().unwrap().to_string();
    let archive = s3.object_file(S3_BUCKET, &format!("nightly/acme-1/{id}.json.gz"));
    let sidecar = s3.object_file(S3_BUCKET, &format!("nightly/acme-1/{id}.manifest.json"));
    assert!(archive.exists() && sidecar.exists());
    let deleted = on_s3(&["delete", &id, "--json"]).run().json();
    assert_eq!(ids(&deleted, "deleted"), vec![id.clone()]);
    assert_eq!(
        deleted["deleted"][0]["object_url"],
        format!("s3://{S3_BUCKET}/nightly/acme-1/{id}.json.gz")
    );
    assert!(!archive.exists() && !sidecar.exists());
    assert_eq!(status(&db, &id), "deleted");
    on_s3(&["link", &id])
        .code(2)
        .stderr_has("was deleted")
        .run();

    // The store goes away: exit 6, the row stays completed, nothing audited.
    let out = on_s3(&["run", "--org", "globex", "--json"]).run().json();
    let other = out["exports"][0]["export_id"].as_str().unwrap().to_string();
    s3.stop();
    on_s3(&["delete", &other])
        .code(6)
        .stderr_has(format!(
            "cannot delete s3://{S3_BUCKET}/nightly/globex-2/{other}.json.gz"
        ))
        .one_error_line()
        .run();
    assert_eq!(status(&db, &other), "completed");
    assert_eq!(audited(&db, "export.deleted"), 1);
}

#[test]
fn a_history_schema_of_the_previous_version_is_upgraded_in_place() {
    let db = two_orgs();
    let store = TempDir::new();
    let id = export(&db, &store, "acme");
    // Back to what version 2 created: the status CHECK without `deleted`, version 2 recorded.
    db.execute(
        "ALTER TABLE orgexport.exports DROP CONSTRAINT exports_status_check;
         ALTER TABLE orgexport.exports ADD CONSTRAINT exports_status_check CHECK (status IN
             ('pending', 'running', 'completed', 'failed', 'cancelled', 'pruned'));
         DELETE FROM orgexport.schema_version WHERE version > 2;",
    );
    assert!(
        db.client()
            .execute("UPDATE orgexport.exports SET status = 'deleted'", &[])
            .is_err(),
        "version 2 refuses the new status"
    );
    Orgexport::on(&db, &store, &["delete", &id]).run();
    assert_eq!(status(&db, &id), "deleted");
    assert_eq!(
        db.scalar_i64("SELECT max(version)::bigint FROM orgexport.schema_version"),
        4,
        "upgraded through version 3 (status deleted) to the newest (4: the encryption column)"
    );
    assert_eq!(
        db.scalar_i64(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'orgexport.exports'::regclass AND contype = 'c'"
        ),
        1,
        "one status CHECK, replaced"
    );
    assert!(
        db.client()
            .execute("UPDATE orgexport.exports SET status = 'bogus'", &[])
            .is_err(),
        "the new CHECK still refuses other values"
    );
}
