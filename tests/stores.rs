//! Object stores against real servers on loopback: S3 (s3s-fs, which validates SigV4 and
//! presigned URLs) and Azure (Azurite, which validates SAS). The printed link downloads the
//! exact archive with a plain HTTP GET; tampered and expired links are refused; failures
//! leave no object at the final key (and, checked with moto_server's ListMultipartUploads, no
//! parts behind). GCS has no emulator that accepts object_store's uploads:
//! its links are signed offline with a generated service-account key and checked.

mod support;

use sha2::{Digest, Sha256};
use support::{
    AZURITE_ACCOUNT, AZURITE_KEY, Archive, Azurite, Expect, MotoServer, Orgexport, Run, Running,
    S3_ACCESS_KEY, S3_BUCKET, S3_SECRET_KEY, S3Server, TempDir, TestDb, http_get, wait_for_copy,
};

fn db_with_orgs(rows: usize) -> TestDb {
    let db = TestDb::new();
    db.execute(&format!(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);
         CREATE TABLE notes (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, body text);
         CREATE INDEX ON notes (org_id);
         INSERT INTO orgs VALUES (1, 'acme'), (2, 'globex');
         INSERT INTO notes SELECT i, 1, repeat(md5(i::text), 16) FROM generate_series(1, {rows}) i;
         INSERT INTO notes VALUES (0, 2, 'MARKER-OTHER-ORG');"
    ));
    db
}

/// `orgexport run --org acme --database-url <db> --store <store>` with the store server's
/// environment.
fn run_with(db: &TestDb, store: &str, env: &[(&'static str, String)]) -> Orgexport {
    Orgexport::new()
        .args(["run", "--org", "acme"])
        .database(db)
        .store(store)
        .envs(env.iter().cloned())
}

fn history(db: &TestDb) -> (String, Option<String>, Option<i64>, Option<String>) {
    let row = db
        .client()
        .query_one(
            "SELECT status, object_url, bytes, sha256 FROM orgexport.exports ORDER BY created_at DESC LIMIT 1",
            &[],
        )
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

/// `orgexport link ID --ttl 5s`: the fresh link downloads, and is refused once expired (5 s:
/// a loaded machine must not expire it before the first download).
fn assert_fresh_link_works_then_expires(
    db: &TestDb,
    store: &str,
    id: &str,
    env: &[(&'static str, String)],
) {
    let fresh = Orgexport::new()
        .args(["link", id, "--ttl", "5s"])
        .database(db)
        .store(store)
        .envs(env.iter().cloned())
        .run();
    let short = fresh.last_stdout_line().to_string();
    assert_eq!(http_get(&short).0, 200, "a fresh link works");
    // Expiry is the observable state: poll for it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while http_get(&short).0 != 403 {
        assert!(
            std::time::Instant::now() < deadline,
            "the link never expired"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

fn tamper(link: &str) -> String {
    let start = link
        .find("Signature=")
        .map(|p| p + "Signature=".len())
        .or_else(|| link.find("sig=").map(|p| p + "sig=".len()))
        .expect("a signed link");
    // Flip a letter or digit of the signature, past any percent-escape (`%2B`): changing an
    // escape's hex digit would make the URL malformed (400), not wrongly signed (403).
    let mut bytes = link.as_bytes().to_vec();
    let (mut pos, mut seen) = (start, 0);
    while pos < bytes.len() && (seen < 8 || !bytes[pos].is_ascii_alphanumeric()) {
        pos += if bytes[pos] == b'%' { 3 } else { 1 };
        seen += 1;
    }
    assert!(pos < bytes.len(), "a signature letter to flip");
    bytes[pos] = if bytes[pos] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn s3_export_uploads_and_its_presigned_link_downloads_the_exact_archive() {
    let db = db_with_orgs(500);
    let s3 = S3Server::start();
    let out = run_with(&db, &format!("s3://{S3_BUCKET}/nightly"), &s3.env())
        .arg("--json")
        .run()
        .json();
    let export = &out["exports"][0];
    let id = export["export_id"].as_str().unwrap();
    let key = format!("nightly/acme-1/{id}.json.gz");
    assert_eq!(export["object_url"], format!("s3://{S3_BUCKET}/{key}"));
    let link = export["link"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("http://127.0.0.1:{}/", s3.port))
            && link.contains("X-Amz-Signature="),
        "{link}"
    );
    assert!(export["link_expires_at"].is_string());
    // Whole seconds, as people read them: 2026-11-23T18:00:00Z.
    let expires = export["link_expires_at"].as_str().unwrap();
    assert!(
        expires.ends_with('Z') && !expires.contains('.'),
        "{expires}"
    );

    // A plain GET without credentials fetches exactly the stored archive.
    let (status, body) = http_get(link);
    assert_eq!(status, 200);
    let stored = std::fs::read(s3.object_file(S3_BUCKET, &key)).unwrap();
    assert_eq!(body, stored);
    let (status_row, object_url, bytes, sha) = history(&db);
    assert_eq!(status_row, "completed");
    assert_eq!(
        object_url.as_deref(),
        export["object_url"].as_str(),
        "history holds the store URL, never a signed link"
    );
    assert_eq!(bytes, Some(body.len() as i64));
    assert_eq!(sha, Some(hex::encode(Sha256::digest(&body))));
    let archive_path = s3.object_file(S3_BUCKET, &key);
    let archive = Archive::read(&archive_path);
    archive.assert_well_formed();
    archive.assert_section_equals(&db, "public.notes", "SELECT * FROM notes WHERE org_id = 1");
    assert!(!archive.text.contains("MARKER-OTHER-ORG"));
    assert!(
        s3.object_file(S3_BUCKET, &format!("nightly/acme-1/{id}.manifest.json"))
            .exists()
    );

    // Unsigned, tampered and expired requests are refused.
    let unsigned = link.split('?').next().unwrap();
    assert_eq!(http_get(unsigned).0, 403);
    assert_eq!(http_get(&tamper(link)).0, 403);
    assert_fresh_link_works_then_expires(&db, &format!("s3://{S3_BUCKET}/nightly"), id, &s3.env());
    let cwd = TempDir::new();
    let audited =
        db.scalar_i64("SELECT count(*) FROM orgexport.audit_log WHERE action = 'link.issued'");
    assert_eq!(audited, 1);
    let details = db
        .scalar_text("SELECT details::text FROM orgexport.audit_log WHERE action = 'link.issued'")
        .unwrap();
    assert!(
        !details.contains("Signature"),
        "the audit never holds the signature"
    );

    // verify reads it back from the bucket.
    Orgexport::new()
        .current_dir(cwd.path())
        .args(["verify", id])
        .database(&db)
        .store(format!("s3://{S3_BUCKET}/nightly"))
        .envs(s3.env())
        .run();
}

#[test]
fn s3_archive_of_50_mb_goes_up_in_several_parts() {
    let db = db_with_orgs(110_000); // ~60 MB of JSON, stored uncompressed
    let s3 = S3Server::start();
    let cwd = TempDir::new();
    std::fs::write(
        cwd.path().join("orgexport.toml"),
        "[store]\npart_size_mib = 8\n",
    )
    .unwrap();
    let out = run_with(&db, &format!("s3://{S3_BUCKET}/big"), &s3.env())
        .current_dir(cwd.path())
        .args(["--compression-level", "0", "--json"])
        .run()
        .json();
    let bytes = out["exports"][0]["bytes"].as_u64().unwrap();
    assert!(bytes > 50 << 20, "the archive is {bytes} bytes");
    // A multipart object's ETag is the digest of its parts' digests, suffixed "-<parts>".
    let link = out["exports"][0]["link"].as_str().unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let response = agent.get(link).call().unwrap();
    let etag = response
        .headers()
        .get("etag")
        .unwrap()
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_string();
    let parts: u64 = etag.rsplit('-').next().unwrap().parse().unwrap_or(1);
    assert!(parts >= 6, "ETag {etag}: expected ≥ 6 parts of 8 MiB");
    let (_, body) = http_get(link);
    assert_eq!(body.len() as u64, bytes);
}

#[test]
fn s3_preflight_failures_exit_6_before_any_history() {
    let db = db_with_orgs(10);
    let s3 = S3Server::start();
    // Each misconfiguration: one line of at most 200 characters, the cause once, the fix.
    let short = |run: &Run| {
        let line = run.stderr.trim_end().lines().last().unwrap();
        assert!(
            line.chars().count() <= 200,
            "{} characters: {line}",
            line.chars().count()
        );
    };
    let run = run_with(&db, "s3://no-such-bucket/x", &s3.env())
        .code(6)
        .one_error_line()
        .stderr_has("no such bucket")
        .stderr_has("create it, or fix --store")
        .run();
    short(&run);

    let mut wrong = s3.env();
    wrong[1].1 = "not-the-secret".into();
    let run = run_with(&db, &format!("s3://{S3_BUCKET}/x"), &wrong)
        .code(6)
        .one_error_line()
        .stderr_has("access denied")
        .stderr_lacks("not-the-secret")
        .run();
    short(&run);

    let mut unreachable = s3.env();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    unreachable[2].1 = format!("http://127.0.0.1:{closed}");
    let run = run_with(&db, &format!("s3://{S3_BUCKET}/x"), &unreachable)
        .code(6)
        .one_error_line()
        .stderr_has("unreachable")
        .run();
    short(&run);

    // An http:// endpoint without AWS_ALLOW_HTTP: said up front, with the fix.
    let plain: Vec<(&'static str, String)> = s3
        .env()
        .into_iter()
        .filter(|(k, _)| *k != "AWS_ALLOW_HTTP")
        .collect();
    let run = run_with(&db, &format!("s3://{S3_BUCKET}/x"), &plain)
        .code(2)
        .one_error_line()
        .stderr_has("set AWS_ALLOW_HTTP=true")
        .run();
    short(&run);
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM pg_namespace WHERE nspname = 'orgexport'"),
        0,
        "no history row was left running (none was written)"
    );
}

/// A background `run` of org acme, uncompressed, to `store` with the server's environment.
fn spawn_run(db: &TestDb, store: &str, env: &[(&'static str, String)], cwd: &TempDir) -> Running {
    run_with(db, store, env)
        .current_dir(cwd.path())
        .args(["--compression-level", "0"])
        .spawn()
}

fn objects_in(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(objects_in(&path));
        } else if path.to_string_lossy().ends_with(".json.gz")
            || path.to_string_lossy().ends_with(".manifest.json")
        {
            out.push(path.display().to_string());
        }
    }
    out
}

#[test]
fn s3_server_stopped_mid_upload_leaves_no_object_and_fails_the_export() {
    let db = db_with_orgs(150_000);
    let mut s3 = S3Server::start();
    let cwd = TempDir::new();
    let child = spawn_run(&db, &format!("s3://{S3_BUCKET}/x"), &s3.env(), &cwd);
    // The run records where it writes just before the upload starts: stop the store then.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while db
        .scalar_text("SELECT to_regclass('orgexport.exports')::text")
        .is_none()
        || db.scalar_i64(
            "SELECT count(*) FROM orgexport.exports WHERE status = 'running' AND object_url IS NOT NULL",
        ) == 0
    {
        assert!(std::time::Instant::now() < deadline, "the upload never started");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    s3.stop();
    child.code(6).one_error_line().wait();
    assert!(
        objects_in(&s3.dir.path().join(S3_BUCKET)).is_empty(),
        "{:?}",
        objects_in(s3.dir.path())
    );
    assert_eq!(history(&db).0, "failed");
}

#[test]
fn s3_database_failure_mid_export_aborts_the_upload() {
    let db = db_with_orgs(150_000);
    let s3 = S3Server::start();
    let cwd = TempDir::new();
    let child = spawn_run(&db, &format!("s3://{S3_BUCKET}/x"), &s3.env(), &cwd);
    let pid = wait_for_copy(&db, "notes");
    db.execute(&format!("SELECT pg_terminate_backend({pid})"));
    child.code(1).wait();
    assert!(
        objects_in(&s3.dir.path().join(S3_BUCKET)).is_empty(),
        "{:?}",
        objects_in(s3.dir.path())
    );
    assert_eq!(history(&db).0, "failed");
}

#[test]
fn aborted_s3_upload_leaves_no_parts_behind() {
    let db = db_with_orgs(150_000);
    let moto = MotoServer::start();
    moto.create_bucket("exports");
    let cwd = TempDir::new();
    let child = spawn_run(&db, "s3://exports/x", &moto.env(), &cwd);
    // The archive is uploaded once its sections are spooled: interrupt while parts go up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !moto.multipart_uploads("exports").contains("<UploadId>") {
        assert!(
            std::time::Instant::now() < deadline,
            "no multipart upload started"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.signal("INT");
    child.code(130).wait();
    let uploads = moto.multipart_uploads("exports");
    assert!(
        !uploads.contains("<UploadId>"),
        "the upload was not aborted: {uploads}"
    );
    let objects = moto.objects("exports");
    assert!(
        !objects.contains(".json.gz") && !objects.contains(".manifest.json"),
        "{objects}"
    );
    assert_eq!(history(&db).0, "cancelled");
}

#[test]
fn azure_export_uploads_and_its_sas_link_downloads_the_exact_archive() {
    let db = db_with_orgs(500);
    let azurite = Azurite::start();
    azurite.create_container("exports");
    let out = run_with(&db, "az://exports/prod", &azurite.env())
        .args(["--json", "--compression-level", "1"])
        .run()
        .json();
    let export = &out["exports"][0];
    let link = export["link"].as_str().unwrap();
    assert!(link.contains("sig="), "{link}");
    assert!(
        export["object_url"]
            .as_str()
            .unwrap()
            .starts_with("az://exports/prod/acme-1/")
    );
    let (status, body) = http_get(link);
    assert_eq!(status, 200);
    assert_eq!(Some(hex::encode(Sha256::digest(&body))), history(&db).3);
    assert_eq!(http_get(&tamper(link)).0, 403);
    assert_eq!(
        http_get(link.split('?').next().unwrap()).0 / 100,
        4,
        "no anonymous access"
    );

    // A fresh SAS link from `link`, valid for one second, is refused once expired.
    let id = export["export_id"].as_str().unwrap();
    assert_fresh_link_works_then_expires(&db, "az://exports/prod", id, &azurite.env());

    run_with(&db, "az://no-such-container/x", &azurite.env())
        .code(6)
        .run();
}

/// GCS: no emulator here accepts object_store's uploads, so the suite checks what it can
/// offline — the link for an export in a gs:// bucket, signed with a service-account key the
/// test generates, is a GOOG4-RSA-SHA256 URL for the right host, path and expiry whose
/// signature verifies with the key's public half. GCS upload itself is not exercised.
#[test]
fn gcs_links_are_v4_signed_with_the_service_account_key() {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair as _;
    use base64::Engine;

    let db = db_with_orgs(5);
    let store = TempDir::new();
    let out = run_with(&db, store.path().to_str().unwrap(), &[])
        .arg("--json")
        .run()
        .json();
    let id = out["exports"][0]["export_id"].as_str().unwrap().to_string();
    db.execute(&format!(
        "UPDATE orgexport.exports SET object_url = 'gs://gcs-exports/acme/{id}.json.gz' WHERE id = '{id}'"
    ));

    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key).unwrap();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
    );
    let account = serde_json::json!({
        "type": "service_account",
        "private_key": pem,
        "private_key_id": "test-key",
        "client_email": "exporter@project.iam.gserviceaccount.com",
    });
    let run = Orgexport::new()
        .args(["link", &id, "--ttl", "10m"])
        .database(&db)
        .store("gs://gcs-exports")
        .env("GOOGLE_SERVICE_ACCOUNT_KEY", account.to_string())
        .run();
    let link = url::Url::parse(run.last_stdout_line()).unwrap();
    assert_eq!(link.host_str(), Some("storage.googleapis.com"));
    assert_eq!(link.path(), format!("/gcs-exports/acme/{id}.json.gz"));
    let query: std::collections::BTreeMap<String, String> =
        link.query_pairs().into_owned().collect();
    assert_eq!(query["X-Goog-Algorithm"], "GOOG4-RSA-SHA256");
    assert_eq!(query["X-Goog-Expires"], "600");
    assert!(query["X-Goog-Credential"].starts_with("exporter@project.iam.gserviceaccount.com/"));

    // Rebuild the string that was signed (GCS V4 canonical request) and verify the signature.
    let strict = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let mut pairs: Vec<(String, String)> = link
        .query_pairs()
        .filter(|(k, _)| k != "X-Goog-Signature")
        .map(|(k, v)| (strict(&k), strict(&v)))
        .collect();
    pairs.sort();
    let canonical_query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_request = format!(
        "GET\n{}\n{canonical_query}\nhost:storage.googleapis.com\n\nhost\nUNSIGNED-PAYLOAD",
        link.path()
    );
    let date = &query["X-Goog-Date"];
    let scope = format!("{}/auto/storage/goog4_request", &date[..8]);
    let string_to_sign = format!(
        "GOOG4-RSA-SHA256\n{date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    );
    let signature = hex::decode(&query["X-Goog-Signature"]).unwrap();
    let public = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        key.public_key().as_ref(),
    );
    public
        .verify(string_to_sign.as_bytes(), &signature)
        .expect("the link's signature verifies with the service account's public key");
}

#[test]
fn a_link_ttl_longer_than_a_signature_can_live_is_refused_before_exporting() {
    let db = db_with_orgs(10);
    let s3 = S3Server::start();
    run_with(&db, &format!("s3://{S3_BUCKET}/x"), &s3.env())
        .args(["--link-ttl", "30d"])
        .code(2)
        .stderr_has("at most 7d")
        .run();
    assert!(objects_in(&s3.dir.path().join(S3_BUCKET)).is_empty());
    assert_eq!(
        db.scalar_i64(
            "SELECT CASE WHEN to_regclass('orgexport.exports') IS NULL THEN 0 ELSE 1 END::int8"
        ),
        0,
        "refused before the database was touched"
    );
}

#[test]
fn an_unknown_store_scheme_is_a_usage_error_naming_the_accepted_ones() {
    let db = db_with_orgs(1);
    run_with(&db, "abfs://container/x", &[])
        .code(2)
        .one_error_line()
        .stderr_has(
            "unknown store scheme abfs://; use s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, file:///dir or a directory\n",
        )
        .run();
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM pg_namespace WHERE nspname = 'orgexport'"),
        0,
        "refused before the database was touched"
    );
}

#[test]
fn an_aws_profile_alone_configures_the_s3_store() {
    let db = db_with_orgs(20);
    let s3 = S3Server::start();
    let home = TempDir::new();
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/credentials"),
        format!(
            "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n[bench]\naws_access_key_id = {S3_ACCESS_KEY}\naws_secret_access_key = {S3_SECRET_KEY}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        format!(
            "[profile bench]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:{}\n",
            s3.port
        ),
    )
    .unwrap();
    let cwd = TempDir::new();
    let out = run_with(&db, &format!("s3://{S3_BUCKET}/profiles"), &[])
        .current_dir(cwd.path())
        .arg("--json")
        .env("HOME", home.path())
        .env("AWS_PROFILE", "bench")
        .env_remove_where(|key| key.starts_with("AWS_") && key != "AWS_PROFILE")
        .run()
        .json();
    let url = out["exports"][0]["object_url"].as_str().unwrap();
    let key = url.strip_prefix(&format!("s3://{S3_BUCKET}/")).unwrap();
    assert!(s3.object_file(S3_BUCKET, key).exists(), "{url}");

    // A profile that does not exist is named.
    run_with(&db, &format!("s3://{S3_BUCKET}/profiles"), &[])
        .current_dir(cwd.path())
        .env("HOME", home.path())
        .env("AWS_PROFILE", "nope")
        .code(2)
        .stderr_has("AWS_PROFILE=nope is not defined")
        .run();
}

#[test]
fn an_azure_connection_string_configures_the_azure_store() {
    let db = db_with_orgs(20);
    let azurite = Azurite::start();
    azurite.create_container("exports");
    let connection = format!(
        "DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{}/{AZURITE_ACCOUNT};",
        azurite.port
    );
    let out = run_with(&db, "az://exports/conn", &[])
        .arg("--json")
        .env("AZURE_STORAGE_CONNECTION_STRING", &connection)
        .env_remove_where(|key| {
            key.starts_with("AZURE") && key != "AZURE_STORAGE_CONNECTION_STRING"
        })
        .run()
        .json();
    let link = out["exports"][0]["link"].as_str().unwrap();
    let (status, body) = http_get(link);
    assert_eq!(status, 200);
    assert_eq!(
        body.len() as u64,
        out["exports"][0]["bytes"].as_u64().unwrap()
    );
}
