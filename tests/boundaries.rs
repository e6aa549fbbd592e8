//! What the tool trusts outside its own code (issue 20, items 2–4), each made to happen as the
//! red team did: history rows edited to point outside the store, into another org's folder,
//! through a symlink, into another bucket; a symlinked org folder under `run`; archive URLs
//! with passwords and signatures; out-of-range numbers; special files.

mod support;

use support::{Archive, Expect, Orgexport, S3_BUCKET, S3Server, TempDir, TestDb};

fn two_orgs() -> TestDb {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);
         CREATE TABLE notes (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, body text);
         INSERT INTO orgs VALUES (1, 'acme'), (2, 'two');
         INSERT INTO notes SELECT i, 1 + i % 2, 'note ' || i FROM generate_series(1, 50) i;",
    );
    db
}

fn file_url(path: &std::path::Path) -> String {
    url::Url::from_file_path(path).unwrap().to_string()
}

fn set_object_url(db: &TestDb, id: &str, url: &str) {
    db.execute(&format!(
        "UPDATE orgexport.exports SET object_url = '{url}' WHERE id = '{id}'"
    ));
}

fn audited(db: &TestDb, action: &str) -> i64 {
    db.scalar_i64(&format!(
        "SELECT count(*) FROM orgexport.audit_log WHERE action = '{action}'"
    ))
}

/// `link`, `verify`, `restore`, `prune` and `delete` of export `id` are all refused with `code`, print
/// nothing on stdout, issue and delete nothing. Prune refuses (exit 1) a row under the
/// store that it does not own, and skips (exit 0, listed) one outside the store: retention is
/// per store.
fn every_command_refuses(
    db: &TestDb,
    store: &TempDir,
    id: &str,
    code: i32,
    victim: &std::path::Path,
    outside_the_store: bool,
) {
    let before = std::fs::read(victim).unwrap();
    let links = audited(db, "link.issued");
    Orgexport::on(db, store, &["link", id])
        .code(code)
        .stdout_is("")
        .stderr_has(format!("export {id}"))
        .run();
    Orgexport::on(db, store, &["verify", id])
        .code(code)
        .stdout_is("")
        .stderr_has(format!("export {id}"))
        .run();
    let target = TestDb::new();
    Orgexport::on(db, store, &["restore", id, "--target-url", &target.url])
        .code(code)
        .stdout_is("")
        .stderr_has(format!("export {id}"))
        .run();
    for dry_run in [true, false] {
        let mut args = vec!["prune", "--older-than", "0s"];
        if dry_run {
            args.push("--dry-run");
        }
        let prune = Orgexport::on(db, store, &args);
        if !outside_the_store {
            prune.code(code).stderr_has(format!("export {id}")).run();
        } else {
            prune
                .stdout_has_line(&format!("skipped {id}"), "another store's")
                .run();
        }
    }
    // delete refuses whatever the row says, inside the store or not: it acts on one id.
    for args in [vec!["delete", id, "--dry-run"], vec!["delete", id]] {
        Orgexport::on(db, store, &args)
            .code(code)
            .stdout_is("")
            .stderr_has(format!("export {id}"))
            .run();
    }
    assert_eq!(audited(db, "link.issued"), links, "no link issued");
    assert_eq!(audited(db, "export.deleted"), 0, "nothing deleted");
    assert_eq!(
        std::fs::read(victim).unwrap(),
        before,
        "the file is untouched"
    );
    assert_eq!(
        db.scalar_text(&format!(
            "SELECT status FROM orgexport.exports WHERE id = '{id}'"
        ))
        .unwrap(),
        "completed",
        "not marked pruned"
    );
}

#[test]
fn history_rows_pointing_outside_the_store_or_at_another_org_are_never_signed_read_or_deleted() {
    let db = two_orgs();
    let store = TempDir::new();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "acme").run());
    let id = archive.manifest["export_id"].as_str().unwrap().to_string();
    let elsewhere = TempDir::new();
    let secret = elsewhere.path().join("shadow");
    std::fs::write(&secret, b"root:SECRET-HASH:19000").unwrap();
    // The real archive, copied into the other org's folder under this export's name.
    let other_org = store.path().join("two-2");
    std::fs::create_dir_all(&other_org).unwrap();
    let copied = other_org.join(format!("{id}.json.gz"));
    std::fs::copy(store.path().join(format!("acme-1/{id}.json.gz")), &copied).unwrap();
    for (forged, victim, outside) in [
        (file_url(&secret), secret.clone(), true),
        (file_url(&copied), copied.clone(), false),
        (
            file_url(&store.path().join("acme-1").join("payroll.json.gz")),
            secret.clone(),
            false,
        ),
    ] {
        set_object_url(&db, &id, &forged);
        every_command_refuses(&db, &store, &id, 2, &victim, outside);
    }
    let verify = Orgexport::on(&db, &store, &["verify", &id]).code(2).run();
    assert!(!verify.stderr.contains("SECRET-HASH"));
}

#[test]
fn a_symlink_below_the_store_root_is_refused_by_prune_delete_link_verify_and_run() {
    let db = two_orgs();
    let store = TempDir::new();
    let archive = Archive::from_run(&Orgexport::export(&db, &store, "acme").run());
    let id = archive.manifest["export_id"].as_str().unwrap().to_string();
    // The org folder moved out of the store and linked back in: the row's text is unchanged.
    let elsewhere = TempDir::new();
    let real = elsewhere.path().join("acme-1");
    std::fs::rename(store.path().join("acme-1"), &real).unwrap();
    std::os::unix::fs::symlink(&real, store.path().join("acme-1")).unwrap();
    let victim = real.join(format!("{id}.json.gz"));
    every_command_refuses(&db, &store, &id, 6, &victim, false);
    Orgexport::on(&db, &store, &["link", &id])
        .code(6)
        .stderr_has("is a symbolic link inside the store")
        .run();
    // run writes through no symlinked org folder either.
    Orgexport::export(&db, &store, "acme")
        .code(6)
        .stderr_has("is a symbolic link inside the store")
        .run();
    assert_eq!(
        std::fs::read_dir(&real).unwrap().count(),
        2,
        "nothing written there"
    );
}

#[test]
fn verify_by_id_checks_the_history_row_whatever_the_sidecar_says() {
    let db = two_orgs();
    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "acme").run();
    let path = Archive::path_from_run(&run);
    let id = Archive::read(&path).manifest["export_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Another org's sound archive put in its place, with a sidecar to match.
    let other = Orgexport::export(&db, &store, "two").run();
    let other_path = Archive::path_from_run(&other);
    std::fs::copy(&other_path, &path).unwrap();
    let sidecar = |p: &std::path::Path| {
        p.with_file_name(
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .replace(".json.gz", ".manifest.json"),
        )
    };
    std::fs::copy(sidecar(&other_path), sidecar(&path)).unwrap();
    Orgexport::on(&db, &store, &["verify", path.to_str().unwrap()]).run();
    Orgexport::on(&db, &store, &["verify", &id])
        .code(1)
        .stderr_has("the archive is not the one recorded")
        .run();
}

#[test]
fn s3_rows_pointing_into_another_bucket_get_no_link() {
    let db = two_orgs();
    let s3 = S3Server::start();
    let store = format!("s3://{S3_BUCKET}/nightly");
    let out = Orgexport::new()
        .args(["run", "--org", "acme", "--json"])
        .database(&db)
        .store(&store)
        .envs(s3.env())
        .run()
        .json();
    let id = out["exports"][0]["export_id"].as_str().unwrap().to_string();
    for forged in [
        "s3://some-other-bucket/payroll/2026.csv".to_string(),
        format!("s3://{S3_BUCKET}/payroll/2026.csv"),
        format!("s3://{S3_BUCKET}/nightly/two-2/{id}.json.gz"),
    ] {
        set_object_url(&db, &id, &forged);
        for command in [vec!["link", id.as_str()], vec!["verify", id.as_str()]] {
            Orgexport::new()
                .args(&command)
                .database(&db)
                .store(&store)
                .envs(s3.env())
                .code(2)
                .stdout_is("")
                .stderr_has("is not under the configured store")
                .run();
        }
    }
    assert_eq!(audited(&db, "link.issued"), 0);
}

#[test]
fn presigned_links_verify_and_restore_streamed_and_are_never_echoed() {
    let db = two_orgs();
    let s3 = S3Server::start();
    let store = format!("s3://{S3_BUCKET}/nightly");
    let out = Orgexport::new()
        .args(["run", "--org", "acme", "--json"])
        .database(&db)
        .store(&store)
        .envs(s3.env())
        .run()
        .json();
    let link = out["exports"][0]["link"].as_str().unwrap().to_string();
    let signature = url::Url::parse(&link)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-Signature")
        .unwrap()
        .1
        .into_owned();
    // The link as run printed it: verified and restored, from a cwd with no store or config.
    let cwd = TempDir::new();
    Orgexport::new()
        .current_dir(cwd.path())
        .args(["verify", &link])
        .stdout_has("ok: ")
        .output_lacks(&signature)
        .run();
    let target = db.schema_copy();
    Orgexport::new()
        .current_dir(cwd.path())
        .args(["restore", &link, "--target-url", &target.url, "--json"])
        .output_lacks(&signature)
        .run();
    assert_eq!(target.scalar_i64("SELECT count(*) FROM notes"), 25);
    // An altered link is refused by the server: exit 1, the signature not repeated.
    let altered = link.replace(&signature, &"0".repeat(signature.len()));
    Orgexport::new()
        .current_dir(cwd.path())
        .args(["verify", &altered, "--json"])
        .code(1)
        .stderr_has("403")
        .output_lacks(&"0".repeat(signature.len()))
        .output_lacks("X-Amz-Credential=AK")
        .run();
}

#[test]
fn no_url_taking_command_echoes_a_password_or_a_signature() {
    let db = two_orgs();
    let store = TempDir::new();
    let archive_url = "https://user:PW-SECRET@127.0.0.1:9/x.json.gz?X-Amz-Signature=SIG-SECRET&X-Amz-Credential=CRED-SECRET&sig=AZ-SECRET&token=TOK-SECRET";
    let store_url = "s3://user:PW-SECRET@bucket/x?X-Amz-Signature=SIG-SECRET";
    let target = TestDb::new();
    let id = "01a22770-0000-7000-8000-000000000000";
    let commands: Vec<Vec<&str>> = vec![
        vec!["verify", archive_url],
        vec!["verify", archive_url, "--json"],
        vec!["restore", archive_url, "--target-url", &target.url],
        vec![
            "restore",
            archive_url,
            "--target-url",
            &target.url,
            "--json",
        ],
        vec!["run", "--org", "acme", "--store", store_url],
        vec!["run", "--org", "acme", "--store", store_url, "--json"],
        vec!["link", id, "--store", store_url],
        vec!["verify", id, "--store", store_url],
        vec!["prune", "--keep", "1", "--store", store_url],
        vec!["list", "--store", store_url],
        vec!["check", "--store", store_url],
    ];
    for args in commands {
        Orgexport::new()
            .current_dir(store.path())
            .args(&args)
            .database(&db)
            .any_code()
            .output_lacks("PW-SECRET")
            .output_lacks("SIG-SECRET")
            .output_lacks("CRED-SECRET")
            .output_lacks("AZ-SECRET")
            .output_lacks("TOK-SECRET")
            .run();
    }
}

#[test]
fn verify_of_a_device_or_special_file_says_what_it_is() {
    let cwd = TempDir::new();
    for (path, what) in [
        ("/dev/zero", "is a character device"),
        ("/tmp", "is a directory"),
    ] {
        Orgexport::new()
            .current_dir(cwd.path())
            .args(["verify", path])
            .code(2)
            .stderr_has(what)
            .run();
    }
}

#[test]
fn out_of_range_numbers_and_unknown_store_keys_exit_2_before_connecting() {
    let cwd = TempDir::new();
    // Nothing listens on port 1: getting past the settings would be exit 5.
    let nowhere = "postgres://nobody@127.0.0.1:1/x";
    let config = cwd.path().join("typo.toml");
    std::fs::write(&config, "[store]\naws_regoin = \"eu-west-1\"\n").unwrap();
    let config = config.to_str().unwrap().to_string();
    for (args, says) in [
        (
            vec![
                "run",
                "--org",
                "a",
                "--max-rows-per-table",
                "18446744073709551615",
            ],
            "--max-rows-per-table",
        ),
        (
            vec!["run", "--org", "a", "--link-ttl", "1ns"],
            "under one second",
        ),
        (
            vec![
                "link",
                "01a22770-0000-7000-8000-000000000000",
                "--ttl",
                "500ms",
            ],
            "under one second",
        ),
        (
            vec!["list", "--config", &config, "--store", "/tmp"],
            "aws_regoin is not a store option",
        ),
    ] {
        Orgexport::new()
            .current_dir(cwd.path())
            .args(&args)
            .args(["--database-url", nowhere])
            .code(2)
            .stderr_has(says)
            .run();
    }
    std::fs::write(cwd.path().join("orgexport.toml"), "lock_timeout = \"0s\"\n").unwrap();
    Orgexport::new()
        .current_dir(cwd.path())
        .args(["list", "--database-url", nowhere])
        .code(2)
        .stderr_has("lock_timeout = 0s would let the export wait forever")
        .run();
}

#[test]
fn a_store_on_proc_is_refused_at_once() {
    let db = two_orgs();
    let started = std::time::Instant::now();
    Orgexport::new()
        .args(["run", "--org", "acme"])
        .database(&db)
        .store("/proc/self")
        .code(6)
        .stderr_has("is on procfs, not a directory for archives")
        .run();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
