//! Encrypted archives: `run --encrypt-to` writes an age file that Debian's `age` command
//! decrypts to the unencrypted export's content (X25519 and SSH keys), orgexport's `verify`
//! and `restore --identity` read what `age -r`/`-R` encrypted, the history, `list` and the
//! sidecar name the recipients by fingerprint, no plaintext reaches the spool, the temporary
//! directory or the store, and bad keys are refused with one line. Server-side encryption:
//! moto_server records the `x-amz-server-side-encryption` headers of the real uploads
//! (multipart archive and single-PUT sidecar), and `check` reports what will apply.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{Archive, Expect, MotoServer, Orgexport, Run, TempDir, TestDb};

/// Planted in acme's own rows: in every archive of acme, so in the plaintext.
const MARKER: &str = "MARKER-ACME-PLAINTEXT-7f3c";
/// Planted in another org's rows: in no archive of acme.
const OTHER: &str = "MARKER-OTHER-ORG-91d2";

/// The first eight bytes of every gzip member flate2 writes: method deflate, no flags, no
/// mtime. Ciphertext holds them by chance once in 2^64 positions.
const GZIP_HEAD: [u8; 8] = [0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0];

fn db() -> TestDb {
    let db = TestDb::new();
    db.execute(&format!(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);
         CREATE TABLE notes (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, body text,
                             api_token text);
         INSERT INTO orgs VALUES (1, 'acme'), (2, 'globex');
         INSERT INTO notes SELECT i, 1, '{MARKER} ' || i || ' ünïcode \"quoted\"', 'tok-' || i
           FROM generate_series(1, 300) i;
         INSERT INTO notes VALUES (1000, 2, '{OTHER}', 'tok-other');"
    ));
    db
}

/// Runs a command (the `age` tools, ssh-keygen), which must succeed; its stdout.
fn tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/test.sh installs age)"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A new age identity file in `dir` and its recipient (`age1…`).
fn age_key(dir: &TempDir, name: &str) -> (PathBuf, String) {
    let path = dir.path().join(name);
    tool("age-keygen", &["-o", path.to_str().unwrap()]);
    let recipient = tool("age-keygen", &["-y", path.to_str().unwrap()]);
    (path, recipient.trim().to_string())
}

/// `age -d -i identity -o out input` (the age command decrypting).
fn age_decrypt(identity: &Path, input: &Path, out: &Path) {
    let path = |p: &Path| p.to_str().unwrap().to_string();
    tool(
        "age",
        &["-d", "-i", &path(identity), "-o", &path(out), &path(input)],
    );
}

/// `age <how> <whom> -o out input`: `-r RECIPIENT` or `-R FILE` (the age command encrypting).
fn age_encrypt(how: &str, whom: &str, input: &Path, out: &Path) {
    let path = |p: &Path| p.to_str().unwrap().to_string();
    tool("age", &[how, whom, "-o", &path(out), &path(input)]);
}

/// `orgexport verify FILE --identity KEY`, which must find the test database's 301 rows.
fn verify_ok(file: &Path, identity: &Path) -> Orgexport {
    Orgexport::new()
        .arg("verify")
        .arg(file)
        .arg("--identity")
        .arg(identity)
        .stdout_has("ok: 2 sections, 301 records")
}

/// `orgexport restore FILE --identity KEY` into an empty copy of `db`'s schema, then that
/// copy's archive of acme.
fn restored_with(db: &TestDb, store: &TempDir, file: &Path, identity: &Path) -> Archive {
    let target = db.schema_copy();
    Orgexport::new()
        .args([
            "restore",
            file.to_str().unwrap(),
            "--target-url",
            &target.url,
        ])
        .args(["--identity", identity.to_str().unwrap()])
        .run();
    Archive::from_run(&Orgexport::export(&target, store, "acme").run())
}

/// A new SSH key pair (`ed25519` or `rsa`) in `dir` without a passphrase, unless given one:
/// the private key's path and the public key's line.
fn ssh_key(dir: &TempDir, kind: &str, passphrase: &str) -> (PathBuf, String) {
    let path = dir.path().join(format!("id_{kind}"));
    tool(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            kind,
            "-N",
            passphrase,
            "-C",
            "ops@bastion",
            "-f",
            path.to_str().unwrap(),
        ],
    );
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    (path, public.trim().to_string())
}

fn fingerprint(recipient: &str) -> String {
    hex::encode(&Sha256::digest(recipient.as_bytes())[..8])
}

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

/// The stored file a run's `--json` names.
fn stored(run: &Run) -> (String, PathBuf) {
    let export = &run.json()["exports"][0];
    let url = export["object_url"].as_str().unwrap();
    let path = url::Url::parse(url).unwrap().to_file_path().unwrap();
    (export["export_id"].as_str().unwrap().to_string(), path)
}

/// The manifest without what differs between two exports of the same rows.
fn comparable(manifest: &Value) -> Value {
    let mut m = manifest.clone();
    for key in ["export_id", "generated_at", "snapshot_at"] {
        m.as_object_mut().unwrap().remove(key);
    }
    m
}

/// Neither the marker nor a gzip member in any file below `dir`.
fn assert_no_plaintext_below(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            assert_no_plaintext_below(&path);
        } else {
            assert_no_plaintext(&std::fs::read(&path).unwrap(), &path.display().to_string());
        }
    }
}

fn assert_no_plaintext(bytes: &[u8], what: &str) {
    assert!(
        !bytes.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
        "{what} holds the marker in plaintext"
    );
    assert!(
        !bytes.windows(GZIP_HEAD.len()).any(|w| w == GZIP_HEAD),
        "{what} holds a gzip member"
    );
}

#[test]
fn the_age_cli_decrypts_an_encrypted_export_to_the_unencrypted_exports_content() {
    let db = db();
    let keys = TempDir::new();
    let (identity, recipient) = age_key(&keys, "key.txt");
    let plain_store = TempDir::new();
    let plain = Archive::from_run(&Orgexport::export(&db, &plain_store, "acme").run());

    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "acme")
        .args(["--encrypt-to", &recipient, "--json"])
        .run();
    let (id, path) = stored(&run);
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        format!("{id}.json.gz.age")
    );
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1\n"));
    assert_no_plaintext(&bytes, "the stored archive");

    let decrypted = keys.path().join("out.json.gz");
    age_decrypt(&identity, &path, &decrypted);
    let archive = Archive::read(&decrypted);
    archive.assert_well_formed();
    assert_eq!(comparable(&archive.manifest), comparable(&plain.manifest));
    assert_eq!(archive.row_sets(), plain.row_sets());
    assert!(archive.text.contains(MARKER) && !archive.text.contains(OTHER));
    assert!(
        !archive.text.contains("tok-1"),
        "the secret column stays out"
    );

    // Who can read it: fingerprints in the run's output, the history row and the sidecar;
    // the recorded SHA-256 is the stored (encrypted) object's.
    let expected = serde_json::json!({
        "scheme": "age",
        "recipients": [{ "type": "x25519", "fingerprint": fingerprint(&recipient) }],
    });
    assert_eq!(run.json()["exports"][0]["encryption"], expected);
    let row = db
        .client()
        .query_one(
            "SELECT encryption::text, sha256, bytes FROM orgexport.exports WHERE id = $1::text::uuid",
            &[&id],
        )
        .unwrap();
    let recorded: Value = serde_json::from_str(&row.get::<_, String>(0)).unwrap();
    assert_eq!(recorded, expected);
    assert_eq!(row.get::<_, String>(1), sha256_file(&path));
    assert_eq!(row.get::<_, i64>(2), bytes.len() as i64);
    let sidecar: Value = serde_json::from_slice(
        &std::fs::read(path.with_file_name(format!("{id}.manifest.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(sidecar["archive"]["encryption"], expected);
    assert_eq!(sidecar["archive"]["sha256"], sha256_file(&path));
    let sidecar_text = sidecar.to_string();
    assert!(!sidecar_text.contains(MARKER) && !sidecar_text.contains("AGE-SECRET-KEY"));

    Orgexport::on(&db, &store, &["list"])
        .stdout_has(format!(
            "encrypted (age) to x25519 {}",
            fingerprint(&recipient)
        ))
        .run();
    Orgexport::on(
        &db,
        &store,
        &["verify", &id, "--identity", identity.to_str().unwrap()],
    )
    .stdout_has(format!("sha256 {}", sha256_file(&path)))
    .stdout_has("checked against its manifest, sidecar and history row")
    .run();
    // The link is to the encrypted object (link needs no identity); prune removes both files.
    let link = Orgexport::on(&db, &store, &["link", &id]).run();
    assert!(link.last_stdout_line().ends_with(".json.gz.age"));
    Orgexport::on(&db, &store, &["prune", "--older-than", "0s"]).run();
    assert!(store.files().is_empty(), "{:?}", store.files());
}

#[test]
fn orgexport_verifies_and_restores_what_the_age_cli_encrypted() {
    let db = db();
    let keys = TempDir::new();
    let (identity, recipient) = age_key(&keys, "key.txt");
    let store = TempDir::new();
    let plain_run = Orgexport::export(&db, &store, "acme").run();
    let plain = Archive::path_from_run(&plain_run);
    let sealed = keys.path().join("acme.json.gz.age");
    age_encrypt("-r", &recipient, &plain, &sealed);
    verify_ok(&sealed, &identity)
        .stdout_has(format!("sha256 {}", sha256_file(&sealed)))
        .run();
    let again = restored_with(&db, &store, &sealed, &identity);
    assert_eq!(again.row_sets(), Archive::read(&plain).row_sets());
}

#[test]
fn ssh_keys_encrypt_and_decrypt_both_ways() {
    let db = db();
    let keys = TempDir::new();
    let (ed_private, ed_public) = ssh_key(&keys, "ed25519", "");
    let (rsa_private, rsa_public) = ssh_key(&keys, "rsa", "");
    let store = TempDir::new();
    let run = Orgexport::export(&db, &store, "acme")
        .args([
            "--encrypt-to",
            &ed_public,
            "--encrypt-to",
            &rsa_public,
            "--json",
        ])
        .run();
    let (_, path) = stored(&run);
    let canonical = |line: &str| line.rsplit_once(' ').unwrap().0.to_string();
    assert_eq!(
        run.json()["exports"][0]["encryption"]["recipients"],
        serde_json::json!([
            { "type": "ssh-ed25519", "fingerprint": fingerprint(&canonical(&ed_public)) },
            { "type": "ssh-rsa", "fingerprint": fingerprint(&canonical(&rsa_public)) },
        ])
    );
    // Either key opens it, with the age command and with orgexport.
    for private in [&ed_private, &rsa_private] {
        let out = keys.path().join("out.json.gz");
        age_decrypt(private, &path, &out);
        assert!(Archive::read(&out).text.contains(MARKER));
        verify_ok(&path, private).run();
    }
    // age -R with an SSH public key, read back by orgexport with the private key.
    let plain = Archive::path_from_run(&Orgexport::export(&db, &store, "acme").run());
    let recipients = keys.path().join("recipients.txt");
    std::fs::write(&recipients, format!("# ops\n{ed_public}\n")).unwrap();
    let sealed = keys.path().join("by-age.age");
    age_encrypt("-R", recipients.to_str().unwrap(), &plain, &sealed);
    verify_ok(&sealed, &ed_private).run();
    // And --recipients-file takes the same file.
    let run = Orgexport::export(&db, &store, "acme")
        .args(["--recipients-file", recipients.to_str().unwrap(), "--json"])
        .run();
    let out = keys.path().join("again.json.gz");
    age_decrypt(&ed_private, &stored(&run).1, &out);
    assert!(Archive::read(&out).text.contains(MARKER));
}

#[test]
fn reading_an_encrypted_archive_needs_the_right_identity_and_says_so_in_one_line() {
    let db = db();
    let keys = TempDir::new();
    let (identity, recipient) = age_key(&keys, "key.txt");
    let (stranger, _) = age_key(&keys, "stranger.txt");
    let store = TempDir::new();
    let (id, path) = stored(
        &Orgexport::export(&db, &store, "acme")
            .args(["--encrypt-to", &recipient, "--json"])
            .run(),
    );
    let secret = std::fs::read_to_string(&stranger).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY"))
        .unwrap();
    for target in [id.as_str(), path.to_str().unwrap()] {
        Orgexport::on(&db, &store, &["verify", target])
            .code(2)
            .one_error_line()
            .stderr_has("is encrypted with age: pass --identity FILE")
            .run();
        Orgexport::on(
            &db,
            &store,
            &["verify", target, "--identity", stranger.to_str().unwrap()],
        )
        .code(2)
        .one_error_line()
        .stderr_has("is not encrypted to the --identity given")
        .stderr_lacks(secret)
        .run();
    }
    let target = db.schema_copy();
    Orgexport::on(&db, &store, &["restore", &id, "--target-url", &target.url])
        .code(2)
        .one_error_line()
        .stderr_has("pass --identity FILE")
        .run();
    assert_eq!(target.scalar_i64("SELECT count(*) FROM notes"), 0);

    // A damaged ciphertext is an unsound archive (exit 1), not a key problem.
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() - 40;
    bytes[middle] ^= 0x01;
    let damaged = keys.path().join("damaged.age");
    std::fs::write(&damaged, bytes).unwrap();
    Orgexport::new()
        .args([
            "verify",
            damaged.to_str().unwrap(),
            "--identity",
            identity.to_str().unwrap(),
        ])
        .code(1)
        .one_error_line()
        .stderr_has("damaged, truncated or was altered")
        .run();

    // Identity files that cannot be used are named, never shown.
    let (locked, _) = ssh_key(&keys, "ed25519", "correct horse");
    Orgexport::new()
        .args([
            "verify",
            path.to_str().unwrap(),
            "--identity",
            locked.to_str().unwrap(),
        ])
        .code(2)
        .one_error_line()
        .stderr_has("a passphrase-protected SSH key; orgexport does not prompt")
        .run();
    let broken = keys.path().join("broken.txt");
    std::fs::write(&broken, format!("{}x\n", &secret[..40])).unwrap();
    Orgexport::new()
        .args([
            "verify",
            path.to_str().unwrap(),
            "--identity",
            broken.to_str().unwrap(),
        ])
        .code(2)
        .one_error_line()
        .stderr_has("not an age identity file")
        .stderr_lacks(&secret[..30])
        .run();
}

#[test]
fn bad_recipients_are_refused_before_anything_is_written() {
    let db = db();
    let keys = TempDir::new();
    let (identity, _) = age_key(&keys, "key.txt");
    let secret = std::fs::read_to_string(&identity).unwrap();
    let secret = secret
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY"))
        .unwrap()
        .to_string();
    let empty = keys.path().join("empty.txt");
    std::fs::write(&empty, "# nobody yet\n\n").unwrap();
    let store = TempDir::new();
    let cases: [(&[&str], &str); 4] = [
        (
            &["--encrypt-to", &secret],
            "--encrypt-to value 1: a private key, not a recipient",
        ),
        (
            &["--encrypt-to", "age1notakey"],
            "not a valid age1… X25519 public key",
        ),
        (
            &["--encrypt-to", "ecdsa-sha2-nistp256 AAAA"],
            "not a recipient",
        ),
        (
            &["--recipients-file", empty.to_str().unwrap()],
            "holds no recipient",
        ),
    ];
    for (args, message) in cases {
        Orgexport::export(&db, &store, "acme")
            .args(args)
            .code(2)
            .one_error_line()
            .stderr_has(message)
            .stderr_lacks(&secret[16..])
            .run();
    }
    assert!(store.files().is_empty(), "{:?}", store.files());
    assert_eq!(
        db.scalar_i64("SELECT count(*) FROM pg_namespace WHERE nspname = 'orgexport'"),
        0,
        "nothing recorded either"
    );
}

/// Holds the export between its snapshot and its upload — the spool complete, the history
/// row's `UPDATE` waiting for a row lock the test holds — and reads the spool through
/// `/proc/<pid>/fd`, where the anonymous temporary file still is.
fn spool_while_held(db: &TestDb, store: &TempDir, tmp: &TempDir, extra: &[&str]) -> Vec<Vec<u8>> {
    std::fs::write(
        store.path().join("orgexport.toml"),
        "lock_timeout = \"5min\"\n",
    )
    .unwrap();
    let mut table_lock = db.client();
    table_lock
        .batch_execute("BEGIN; LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")
        .unwrap();
    let running = Orgexport::export(db, store, "acme")
        .args(extra)
        .env("TMPDIR", tmp.path())
        .spawn();
    wait_until(
        db,
        "the export waits for its table lock",
        "wait_event_type = 'Lock' AND query LIKE 'LOCK TABLE%'",
    );
    let mut row_lock = db.client();
    row_lock
        .batch_execute("BEGIN; SELECT 1 FROM orgexport.exports WHERE status = 'running' FOR UPDATE")
        .unwrap();
    table_lock.batch_execute("COMMIT").unwrap();
    wait_until(
        db,
        "the export waits to record its upload",
        "wait_event_type = 'Lock' AND query LIKE 'UPDATE orgexport.exports%'",
    );
    let mut spools = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{}/fd", running.id()))
        .unwrap()
        .flatten()
    {
        let target = std::fs::read_link(fd.path()).unwrap_or_default();
        if target.starts_with(tmp.path()) {
            spools.push(std::fs::read(fd.path()).unwrap());
        }
    }
    row_lock.batch_execute("COMMIT").unwrap();
    running.wait();
    spools
}

fn wait_until(db: &TestDb, what: &str, condition: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while db.scalar_i64(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'orgexport' AND {condition}"
    )) == 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: never happened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn no_plaintext_reaches_the_spool_the_temporary_directory_or_the_store() {
    let db = db();
    // Past one sealed chunk (64 KiB) of compressed sections, so that the spool file holds
    // some (the last chunk stays in memory until the spool is read).
    db.execute(&format!(
        "CREATE TABLE comments (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, body text);
         INSERT INTO comments SELECT i, 1, '{MARKER} ' || (SELECT string_agg(md5(i || ' ' || j), ' ')
                                                          FROM generate_series(1, 10) j)
           FROM generate_series(1, 3000) i;"
    ));
    let keys = TempDir::new();
    let (_, recipient) = age_key(&keys, "key.txt");
    for encrypted in [false, true] {
        let (store, tmp) = (TempDir::new(), TempDir::new());
        let extra: &[&str] = if encrypted {
            &["--encrypt-to", &recipient]
        } else {
            &[]
        };
        let spools = spool_while_held(&db, &store, &tmp, extra);
        // The spools (one per reader) were found, and they are sealed whether the archive is
        // encrypted or not.
        let total: usize = spools.iter().map(Vec::len).sum();
        assert!(!spools.is_empty() && total > 64 * 1024, "{total} bytes");
        // A spool whose sections are smaller than a chunk holds nothing on disk yet; on disk,
        // whole sealed chunks only (64 KiB and a 16-byte tag each), never the gzip members.
        for spool in spools.iter().filter(|s| !s.is_empty()) {
            assert_eq!(spool.len() % (64 * 1024 + 16), 0, "{} bytes", spool.len());
            assert!(!spool.starts_with(&GZIP_HEAD));
            assert_no_plaintext(spool, "the spool");
        }
        assert_no_plaintext_below(tmp.path());
        let archive = store
            .files()
            .into_iter()
            .find(|f| f.contains(".json.gz"))
            .unwrap();
        if encrypted {
            assert_no_plaintext_below(store.path());
        } else {
            // The control: the scan does find an unencrypted archive's plaintext.
            let bytes = std::fs::read(store.path().join(&archive)).unwrap();
            assert!(bytes.starts_with(&GZIP_HEAD));
            assert!(
                Archive::read(&store.path().join(&archive))
                    .text
                    .contains(MARKER)
            );
        }
    }
}

#[test]
fn s3_uploads_carry_the_requested_server_side_encryption() {
    let db = db();
    let moto = MotoServer::start();
    moto.create_bucket("sealed");
    let keys = TempDir::new();
    let (_, recipient) = age_key(&keys, "key.txt");
    let cases: [(&[&str], &str, Option<&str>); 2] = [
        (
            &[
                "--sse",
                "aws:kms",
                "--sse-kms-key-id",
                "alias/orgexport-test",
            ],
            "aws:kms",
            Some("alias/orgexport-test"),
        ),
        (
            &["--sse", "AES256", "--encrypt-to", &recipient],
            "AES256",
            None,
        ),
    ];
    for (args, mode, key_id) in cases {
        let run = Orgexport::new()
            .args([
                "run",
                "--org",
                "acme",
                "--json",
                "--store",
                "s3://sealed/nightly",
            ])
            .database(&db)
            .args(args)
            .envs(moto.env())
            .run();
        let url = run.json()["exports"][0]["object_url"]
            .as_str()
            .unwrap()
            .to_string();
        let archive = url.strip_prefix("s3://sealed/").unwrap().to_string();
        let sidecar = format!(
            "{}.manifest.json",
            archive.split(".json.gz").next().unwrap()
        );
        // The archive goes up as a multipart upload, the sidecar in one PUT: both carry it.
        for key in [&archive, &sidecar] {
            let headers = moto.head("sealed", key);
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(
                header("x-amz-server-side-encryption"),
                Some(mode),
                "{key}: {headers:?}"
            );
            assert_eq!(
                header("x-amz-server-side-encryption-aws-kms-key-id"),
                key_id,
                "{key}: {headers:?}"
            );
        }
    }
    Orgexport::new()
        .args(["check", "--store", "s3://sealed/nightly"])
        .args(["--sse", "aws:kms", "--sse-kms-key-id", "alias/orgexport-test"])
        .database(&db)
        .envs(moto.env())
        .stdout_has(
            "encryption: archives not encrypted client-side (--encrypt-to); S3 server-side encryption aws:kms with KMS key alias/orgexport-test requested on every upload",
        )
        .run();
}

#[test]
fn server_side_encryption_is_refused_where_orgexport_cannot_request_it() {
    let db = db();
    let store = TempDir::new();
    for (store_url, args) in [
        (store.path().to_str().unwrap(), &["--sse", "AES256"][..]),
        ("gs://bucket/x", &["--sse", "aws:kms"][..]),
        (
            "s3://bucket/x",
            &["--sse", "AES256", "--sse-kms-key-id", "k"][..],
        ),
    ] {
        Orgexport::new()
            .args(["run", "--org", "acme", "--store", store_url])
            .database(&db)
            .args(args)
            .code(2)
            .one_error_line()
            .stderr_has("--sse")
            .run();
    }
    assert!(store.files().is_empty());
}

#[test]
fn every_format_is_encrypted_verified_restored_and_inspected() {
    let db = db();
    let keys = TempDir::new();
    let (identity, recipient) = age_key(&keys, "key.txt");
    let store = TempDir::new();
    let plain = Archive::from_run(&Orgexport::export(&db, &store, "acme").run());
    for (format, extension) in [
        ("ndjson", ".ndjson.gz.age"),
        ("csv", ".csv.tar.gz.age"),
        ("parquet", ".parquet.tar.gz.age"),
    ] {
        let run = Orgexport::export(&db, &store, "acme")
            .args(["--format", format, "--encrypt-to", &recipient, "--json"])
            .run();
        let (_, sealed) = stored(&run);
        let name = sealed.file_name().unwrap().to_str().unwrap().to_string();
        assert!(name.ends_with(extension), "{name}");
        assert_no_plaintext(&std::fs::read(&sealed).unwrap(), &name);
        verify_ok(&sealed, &identity).run();
        let again = restored_with(&db, &store, &sealed, &identity);
        assert_eq!(again.row_sets(), plain.row_sets(), "{format}");
        // inspect names what it cannot read, and reads what age decrypted.
        Orgexport::new()
            .args(["inspect", sealed.to_str().unwrap()])
            .code(2)
            .stderr_has("encrypted with age")
            .run();
        let opened = keys.path().join(name.trim_end_matches(".age"));
        age_decrypt(&identity, &sealed, &opened);
        let manifest = Orgexport::new()
            .args(["inspect", opened.to_str().unwrap(), "--json"])
            .run()
            .json();
        assert_eq!(manifest["archive_format"], format, "{manifest}");
    }
}
