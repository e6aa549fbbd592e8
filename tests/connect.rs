//! Connecting like libpq: TLS per sslmode against the harness's own CA, password
//! authentication and the password file, and every connection failure as exit code 5 with one
//! line that names the target and never the password.

mod support;

use support::{APP_PASSWORD, CERT_USER, Cluster, Expect, Orgexport, TempDir, TestDb};

fn db_with_org() -> TestDb {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text);
         CREATE TABLE notes (org_id int NOT NULL REFERENCES orgs, body text);
         INSERT INTO orgs VALUES (1, 'acme'); INSERT INTO notes VALUES (1, 'hello');",
    );
    db
}

/// `orgexport run --org acme --store <store>` with `DATABASE_URL=<url>`, in the store.
fn run_with_url(url: &str, store: &TempDir) -> Orgexport {
    Orgexport::new()
        .current_dir(store.path())
        .args(["run", "--org", "acme"])
        .store(store.path())
        .env("DATABASE_URL", url)
}

fn url(user: &str, host: &str, db: &TestDb, params: &str) -> String {
    format!("postgres://{user}@{host}:{}/{}?{params}", db.port, db.name)
}

#[test]
fn sslmode_require_encrypts_the_connection() {
    let db = db_with_org();
    let store = TempDir::new();
    // Role tls_only is rejected by the server unless the connection is encrypted.
    run_with_url(
        &url("tls_only", "127.0.0.1", &db, "sslmode=require"),
        &store,
    )
    .run();
    run_with_url(
        &url("tls_only", "127.0.0.1", &db, "sslmode=disable"),
        &store,
    )
    .code(5)
    .run();
    // prefer tries TLS first
    run_with_url(&url("tls_only", "127.0.0.1", &db, "sslmode=prefer"), &store).run();
}

#[test]
fn verify_full_accepts_the_right_root_and_host_name() {
    let db = db_with_org();
    let store = TempDir::new();
    let ca = Cluster::get().ca_file();
    let params = format!("sslmode=verify-full&sslrootcert={}", ca.display());
    run_with_url(&url("tls_only", "localhost", &db, &params), &store).run();
    // PGSSLMODE / PGSSLROOTCERT work too
    run_with_url(
        &format!("postgres://tls_only@localhost:{}/{}", db.port, db.name),
        &store,
    )
    .env("PGSSLMODE", "verify-full")
    .env("PGSSLROOTCERT", ca.to_str().unwrap())
    .run();
}

#[test]
fn verify_full_refuses_a_wrong_root_with_exit_5() {
    let db = db_with_org();
    let store = TempDir::new();
    let wrong = Cluster::get().wrong_ca_file();
    let params = format!("sslmode=verify-full&sslrootcert={}", wrong.display());
    run_with_url(&url("tls_only", "localhost", &db, &params), &store)
        .code(5)
        .one_error_line()
        .stderr_has("sslrootcert")
        .run();
    assert!(store.files().is_empty());
}

#[test]
fn verify_full_refuses_a_wrong_host_name_but_verify_ca_accepts_it() {
    let db = db_with_org();
    let store = TempDir::new();
    let ca = Cluster::get().ca_file();
    // The certificate names localhost, not 127.0.0.1.
    let params = format!("sslmode=verify-full&sslrootcert={}", ca.display());
    run_with_url(&url("tls_only", "127.0.0.1", &db, &params), &store)
        .code(5)
        .stderr_has("host name")
        .run();
    let params = format!("sslmode=verify-ca&sslrootcert={}", ca.display());
    run_with_url(&url("tls_only", "127.0.0.1", &db, &params), &store).run();
}

#[test]
fn password_from_url_environment_or_password_file() {
    let db = db_with_org();
    let store = TempDir::new();
    let with_password = format!(
        "postgres://app:{APP_PASSWORD}@127.0.0.1:{}/{}",
        db.port, db.name
    );
    run_with_url(&with_password, &store)
        .output_lacks(APP_PASSWORD)
        .run();

    let without = url("app", "127.0.0.1", &db, "sslmode=disable");
    run_with_url(&without, &store)
        .env("PGPASSWORD", APP_PASSWORD)
        .run();

    let pgpass = store.path().join("pgpass");
    std::fs::write(
        &pgpass,
        format!(
            "# comment\nother:*:*:*:nope\n127.0.0.1:{}:*:app:{APP_PASSWORD}\n",
            db.port
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    run_with_url(&without, &store)
        .env("PGPASSFILE", pgpass.to_str().unwrap())
        .run();

    // A password file others can read is ignored, like libpq does.
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
    run_with_url(&without, &store)
        .env("PGPASSFILE", pgpass.to_str().unwrap())
        .code(5)
        .stderr_has("group or world access")
        .run();
}

#[test]
fn wrong_password_exits_5_naming_the_target_and_a_hint_never_the_password() {
    let db = db_with_org();
    let store = TempDir::new();
    let url = format!(
        "postgres://app:not-the-Pw-123@127.0.0.1:{}/{}",
        db.port, db.name
    );
    run_with_url(&url, &store)
        .code(5)
        .one_error_line()
        .stderr_has(format!(
            "host=127.0.0.1 port={} user=app dbname={}",
            db.port, db.name
        ))
        .stderr_has("password authentication failed")
        .stderr_has("PGPASSWORD")
        .stderr_lacks("not-the-Pw-123")
        .run();
}

#[test]
fn unknown_role_and_missing_password_exit_5() {
    let db = db_with_org();
    let store = TempDir::new();
    run_with_url(
        &format!("postgres://ghost:x@127.0.0.1:{}/{}", db.port, db.name),
        &store,
    )
    .code(5)
    .stderr_has("user=ghost")
    .run();
    run_with_url(&url("app", "127.0.0.1", &db, "sslmode=disable"), &store)
        .env("PGPASSFILE", "/nonexistent")
        .code(5)
        .stderr_has("PGPASSWORD")
        .run();
}

#[test]
fn unknown_database_and_unresolvable_host_exit_5() {
    let db = db_with_org();
    let store = TempDir::new();
    run_with_url(
        &format!("postgres://postgres@127.0.0.1:{}/no_such_db", db.port),
        &store,
    )
    .code(5)
    .stderr_has("does not exist")
    .run();
    run_with_url("postgres://postgres@no-such-host.invalid:5432/x", &store)
        .code(5)
        .stderr_has("host=no-such-host.invalid")
        .one_error_line()
        .run();
}

#[test]
fn connection_service_files_work_from_pgservice_and_service_parameters() {
    let db = db_with_org();
    let dir = TempDir::new();
    let file = dir.path().join("pg_service.conf");
    std::fs::write(
        &file,
        format!(
            "# the bastion's services\n[elsewhere]\nhost=203.0.113.1\n\n[exports]\nhost=127.0.0.1\nport={}\nuser=postgres\ndbname={}\n",
            db.port, db.name
        ),
    )
    .unwrap();
    let service_file = file.to_str().unwrap();
    let store = TempDir::new();
    // PGSERVICE alone, no URL.
    Orgexport::new()
        .current_dir(store.path())
        .args(["run", "--org", "acme"])
        .store(store.path())
        .env("PGSERVICEFILE", service_file)
        .env("PGSERVICE", "exports")
        .run();
    // `service=` in a key=value string and in a URL; the URL's own parameters win.
    for url in ["service=exports", "postgres:///?service=exports"] {
        run_with_url(url, &store)
            .env("PGSERVICEFILE", service_file)
            .run();
    }
    // An undefined service is a usage error naming it and where it was looked for.
    run_with_url("service=nope", &store)
        .env("PGSERVICEFILE", service_file)
        .code(2)
        .one_error_line()
        .stderr_has("\"nope\" is not defined in")
        .run();
}

#[test]
fn unsupported_libpq_settings_are_errors_naming_them_never_ignored() {
    let db = db_with_org();
    let store = TempDir::new();
    let good = url("postgres", "127.0.0.1", &db, "sslmode=disable");
    run_with_url(&good, &store)
        .env("PGSSLCRL", "/tmp/revoked.crl")
        .code(2)
        .stderr_has("PGSSLCRL is set")
        .run();
    run_with_url(
        &url("postgres", "127.0.0.1", &db, "sslcrl=/tmp/revoked.crl"),
        &store,
    )
    .code(2)
    .stderr_has("\"sslcrl\"")
    .run();
    assert!(store.files().is_empty());
}

#[test]
fn several_hosts_are_tried_in_order_and_target_session_attrs_is_honoured() {
    let db = db_with_org();
    let store = TempDir::new();
    // The first host's port has nothing listening (held by the suite, so nobody takes it).
    let dead = support::reserve_port();
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{}?sslmode=disable&target_session_attrs=read-write",
        dead.port, db.port, db.name
    );
    run_with_url(&url, &store).run();
    // A read-only database is refused under read-write (exit 5), accepted under any.
    db.execute(&format!(
        "ALTER DATABASE {} SET default_transaction_read_only = on",
        db.name
    ));
    let list = |url: &str| {
        Orgexport::new()
            .current_dir(store.path())
            .args(["list", "--database-url", url])
    };
    list(&url).code(5).one_error_line().run();
    let plain = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/{}?sslmode=disable",
        dead.port, db.port, db.name
    );
    list(&plain).run();
    list(&plain)
        .env("PGTARGETSESSIONATTRS", "read-write")
        .code(5)
        .run();
    let mut admin = db.client();
    admin
        .batch_execute("SET default_transaction_read_only = off")
        .unwrap();
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} SET default_transaction_read_only = off",
            db.name
        ))
        .unwrap();
}

#[test]
fn a_client_certificate_authenticates_like_libpq() {
    let db = db_with_org();
    let cluster = Cluster::get();
    let (cert, key) = cluster.client_cert_files();
    let ca = cluster.ca_file();
    let store = TempDir::new();
    let base = |params: &str| {
        url(
            CERT_USER,
            "localhost",
            &db,
            &format!("sslmode=verify-full&sslrootcert={}{params}", ca.display()),
        )
    };
    // sslcert/sslkey in the URL
    run_with_url(
        &base(&format!(
            "&sslcert={}&sslkey={}",
            cert.display(),
            key.display()
        )),
        &store,
    )
    .run();
    // PGSSLCERT / PGSSLKEY
    run_with_url(&base(""), &store)
        .env("PGSSLCERT", cert.to_str().unwrap())
        .env("PGSSLKEY", key.to_str().unwrap())
        .run();
    // libpq's defaults: ~/.postgresql/postgresql.crt and postgresql.key
    let home = TempDir::new();
    let dot = home.path().join(".postgresql");
    std::fs::create_dir_all(&dot).unwrap();
    std::fs::copy(&cert, dot.join("postgresql.crt")).unwrap();
    std::fs::copy(&key, dot.join("postgresql.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dot.join("postgresql.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    run_with_url(&base(""), &store)
        .env("HOME", home.path().to_str().unwrap())
        .run();
    // Without a certificate the server refuses: exit 5.
    run_with_url(&base(""), &store)
        .code(5)
        .one_error_line()
        .run();
    // A key others can read is refused before connecting, as libpq does.
    std::fs::set_permissions(
        dot.join("postgresql.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    run_with_url(&base(""), &store)
        .env("HOME", home.path().to_str().unwrap())
        .code(2)
        .stderr_has("chmod 0600")
        .run();
}

/// Runs a shell command (openssl), panicking with its output when it fails.
fn sh(script: &str) -> String {
    let out = std::process::Command::new("sh")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn prefer_and_require_accept_a_self_signed_x509_v1_certificate_like_libpq() {
    // A cluster of its own: its server certificate is replaced by a self-signed X.509 v1 one,
    // what Citus sets up on every node (`openssl x509 -req` without extensions writes v1).
    let cluster = Cluster::start_private();
    let dir = cluster.dir.display().to_string();
    sh(&format!(
        "cd {dir} && openssl req -new -newkey rsa:2048 -nodes -keyout v1.key -subj /CN=localhost -out v1.csr 2>/dev/null \
         && openssl x509 -req -in v1.csr -signkey v1.key -days 2 -out v1.crt 2>/dev/null \
         && cp v1.crt server.crt && cp v1.key server.key && chmod 600 server.key \
         && if [ \"$(id -u)\" = 0 ]; then chown postgres: server.crt server.key; fi"
    ));
    assert!(
        sh(&format!("openssl x509 -in {dir}/v1.crt -noout -text")).contains("Version: 1 (0x0)")
    );
    let db = cluster.database();
    db.execute(
        "CREATE TABLE orgs (id int PRIMARY KEY, slug text); \
         CREATE TABLE notes (org_id int NOT NULL REFERENCES orgs, body text); \
         INSERT INTO orgs VALUES (1, 'acme'); SELECT pg_reload_conf();",
    );
    // The reload is asynchronous: wait until the server presents the new certificate.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let served = sh(&format!(
            "openssl s_client -starttls postgres -connect 127.0.0.1:{} </dev/null 2>/dev/null \
             | openssl x509 -noout -text 2>/dev/null || true",
            cluster.port
        ));
        if served.contains("Version: 1 (0x0)") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server never presented the v1 certificate"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let store = TempDir::new();
    for mode in ["sslmode=require", "sslmode=prefer"] {
        // tls_only is rejected unless the connection is encrypted.
        run_with_url(&url("tls_only", "127.0.0.1", &db, mode), &store).run();
    }
    // Verification is unchanged: a v1 certificate cannot be verified, even as its own root.
    let params = format!("sslmode=verify-ca&sslrootcert={dir}/v1.crt");
    run_with_url(&url("tls_only", "127.0.0.1", &db, &params), &store)
        .code(5)
        .run();
}

/// Removes a file when dropped (a socket link in /tmp, even when the test fails).
struct RemoveOnDrop(std::path::PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn with_no_host_configured_the_local_socket_is_tried_before_localhost() {
    let db = db_with_org();
    let store = TempDir::new();
    let cluster_socket = Cluster::get()
        .socket_dir()
        .join(format!(".s.PGSQL.{}", db.port));
    // A port nothing listens on over TCP, whose socket in /tmp leads to the cluster's: only
    // the socket can reach the server.
    let unused = support::reserve_port();
    let link = RemoveOnDrop(format!("/tmp/.s.PGSQL.{}", unused.port).into());
    std::os::unix::fs::symlink(&cluster_socket, &link.0).unwrap();
    let env = |port: u16| {
        [
            ("PGPORT", port.to_string()),
            ("PGUSER", "postgres".to_string()),
            ("PGDATABASE", db.name.clone()),
        ]
    };
    Orgexport::new()
        .current_dir(store.path())
        .args(["run", "--org", "acme"])
        .store(store.path())
        .envs(env(unused.port))
        .stdout_has("file://")
        .run();
    // No socket for the port: localhost over TCP, as before.
    Orgexport::new()
        .current_dir(store.path())
        .args(["run", "--org", "acme"])
        .store(store.path())
        .envs(env(db.port))
        .stdout_has("file://")
        .run();
    // Neither: the message names both places tried.
    drop(link);
    Orgexport::new()
        .current_dir(store.path())
        .args(["run", "--org", "acme"])
        .store(store.path())
        .envs(env(unused.port))
        .code(5)
        .stderr_has("host=localhost port=")
        .one_error_line()
        .run();
}
