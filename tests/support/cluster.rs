//! A real PostgreSQL for the tests: one cluster per test binary, started from the local
//! server binaries (initdb + pg_ctl in a temporary directory, as the `postgres` OS user when
//! running as root), with TLS files and the roles the connection tests use, and one fresh
//! database per test ([`TestDb`]). Also the port reservations every test server binds to.
//! It does not run the tool (see `cli.rs`) nor start object stores (see `stores.rs`).
//!
//! The cluster is started by a small watchdog shell whose stdin is a pipe from the test
//! process: when the test binary exits, for whatever reason, the pipe closes and the shell
//! stops the server and removes its directory. No stray servers, no leftover data.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

pub struct Cluster {
    pub port: u16,
    _port: PortReservation,
    pub dir: PathBuf,
    pub bin: PathBuf,
    options: String,
    _watchdog: Mutex<(Child, ChildStdin)>,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub(super) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The server binaries: `$ORGEXPORT_PG_BIN`, the newest `/usr/lib/postgresql/*/bin`, or PATH.
pub(super) fn find_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("ORGEXPORT_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    candidates.sort();
    if let Some((_, bin)) = candidates.pop() {
        return bin;
    }
    let which = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .expect("sh");
    let path = String::from_utf8_lossy(&which.stdout).trim().to_string();
    assert!(
        !path.is_empty(),
        "PostgreSQL server binaries not found: install the postgresql package or set ORGEXPORT_PG_BIN"
    );
    Path::new(&path).parent().unwrap().to_path_buf()
}

/// A port reserved for one test server for as long as this value lives. `bind(0)` lets the
/// kernel pick a free port; an exclusive lock on a per-port file (released when the value is
/// dropped, or when the process dies) keeps every other test — in this process or in another
/// test binary — from picking the same port before the server binds it. A process outside
/// the suite could still take it in between: servers are then started again on another port.
pub struct PortReservation {
    pub port: u16,
    _lock: std::fs::File,
}

pub fn reserve_port() -> PortReservation {
    let dir = std::env::temp_dir().join("orgexport-test-ports");
    std::fs::create_dir_all(&dir).unwrap();
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(port.to_string()))
            .unwrap();
        if file.try_lock().is_ok() {
            return PortReservation { port, _lock: file };
        }
    }
}

/// Runs a shell script as the postgres OS user when we are root.
pub(super) fn shell_as_server_user(script: &str) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--", "sh", "-c", script]);
        cmd
    } else {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script]);
        cmd
    }
}

/// Runs a watchdog script (as the server user) that prints `ready` once its servers are up
/// and stops them when its stdin closes: the child and that stdin, or `None` (reaped) when
/// the servers did not start.
pub(super) fn spawn_watchdog(script: &str) -> Option<(Child, ChildStdin)> {
    let mut child = shell_as_server_user(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting a test server's watchdog");
    let stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if line.trim() == "ready" {
        return Some((child, stdin));
    }
    let _ = child.wait();
    None
}

pub(super) fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The role that authenticates with a client certificate (`hostssl … cert`).
pub const CERT_USER: &str = "cert_user";

/// The password of role `app` (password authentication tests).
pub const APP_PASSWORD: &str = "app-pw-Zq9";

/// A CA, a server certificate for `localhost` signed by it, and an unrelated CA.
fn write_tls_files(dir: &Path) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let make_ca = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    };
    let ca = make_ca("orgexport test CA");
    let wrong = make_ca("some other CA");
    let server_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let server = params.signed_by(&server_key, &ca).unwrap();
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    std::fs::write(dir.join("wrong-ca.crt"), wrong.pem()).unwrap();
    std::fs::write(dir.join("server.crt"), server.pem()).unwrap();
    let key_path = dir.join("server.key");
    std::fs::write(&key_path, server_key.serialize_pem()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    // A client certificate for role cert_user (`hostssl … cert` authenticates by its CN).
    let client_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, CERT_USER);
    let client = params.signed_by(&client_key, &ca).unwrap();
    std::fs::write(dir.join("client.crt"), client.pem()).unwrap();
    let client_key_path = dir.join("client.key");
    std::fs::write(&client_key_path, client_key.serialize_pem()).unwrap();
    std::fs::set_permissions(&client_key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:", dir.to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Cluster {
    pub fn get() -> &'static Cluster {
        CLUSTER.get_or_init(Cluster::start)
    }

    /// A cluster of one's own, for tests that stop the server (dropped with the test binary).
    pub fn start_private() -> Cluster {
        Cluster::start()
    }

    fn pg_ctl(&self, action: &str) {
        let status = shell_as_server_user(&format!(
            "{} -D {} -o {} -l {} -w -t 60 {action} >/dev/null",
            shell_quote(self.bin.join("pg_ctl").to_str().unwrap()),
            shell_quote(self.dir.join("data").to_str().unwrap()),
            shell_quote(&self.options),
            shell_quote(self.dir.join("server.log").to_str().unwrap()),
        ))
        .status()
        .unwrap();
        assert!(status.success(), "pg_ctl {action} failed");
    }

    /// Stops the server at once, as a crash or an operator would.
    pub fn stop_immediately(&self) {
        self.pg_ctl("-m immediate stop");
    }

    pub fn start_again(&self) {
        self.pg_ctl("start");
    }

    fn start() -> Cluster {
        let bin = find_bin();
        let dir = std::env::temp_dir().join(format!(
            "orgexport-test-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:", dir.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(
                status.success(),
                "chown of the test cluster directory failed"
            );
        }
        let data = dir.join("data");
        let init = shell_as_server_user(&format!(
            "{} -D {} -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >{}/initdb.log 2>&1",
            shell_quote(bin.join("initdb").to_str().unwrap()),
            shell_quote(data.to_str().unwrap()),
            shell_quote(dir.to_str().unwrap()),
        ))
        .status()
        .unwrap();
        assert!(
            init.success(),
            "initdb failed; see {}/initdb.log",
            dir.display()
        );

        write_tls_files(&dir);
        // Password auth for every role but the superuser (authentication tests); role
        // tls_only may connect only over TLS (proves a connection really is encrypted).
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             local replication postgres trust\n\
             hostnossl all tls_only 127.0.0.1/32 reject\n\
             host all postgres 127.0.0.1/32 trust\n\
             host all tls_only 127.0.0.1/32 trust\n\
             hostssl all cert_user 127.0.0.1/32 cert\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
        // A taken port (by a process outside the suite) fails the start: try another.
        let mut attempt = 0;
        let (reservation, options, child, stdin) = loop {
            attempt += 1;
            let reservation = reserve_port();
            let port = reservation.port;
            let options = format!(
                "-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_connections=200 -c shared_buffers=64MB \
                 -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key \
                 -c ssl_ca_file={dir}/ca.crt",
                dir = dir.display()
            );
            if let Some((child, stdin)) =
                start_watched(&bin, &data, &options, &dir.join("server.log"), &dir)
            {
                break (reservation, options, child, stdin);
            }
            assert!(
                attempt < 5,
                "the test cluster did not start; see {}/server.log",
                dir.display()
            );
        };
        let cluster = Cluster {
            port: reservation.port,
            _port: reservation,
            dir,
            bin,
            options,
            _watchdog: Mutex::new((child, stdin)),
        };
        let mut admin = postgres::Client::connect(&cluster.admin_url(), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!(
                "CREATE ROLE app LOGIN SUPERUSER PASSWORD '{APP_PASSWORD}';
                 CREATE ROLE tls_only LOGIN SUPERUSER;
                 CREATE ROLE {CERT_USER} LOGIN SUPERUSER;"
            ))
            .unwrap();
        cluster
    }

    /// The client certificate and key of role [`CERT_USER`], signed by the test CA.
    pub fn client_cert_files(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("client.crt"), self.dir.join("client.key"))
    }

    /// The directory of the server's Unix socket (`.s.PGSQL.<port>`).
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// The CA that signed the server's certificate (for `sslrootcert`).
    pub fn ca_file(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// A CA that signed nothing the server presents.
    pub fn wrong_ca_file(&self) -> PathBuf {
        self.dir.join("wrong-ca.crt")
    }

    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A fresh, empty database for one test.
    pub fn database(&self) -> TestDb {
        self.create_database()
    }

    fn create_database(&self) -> TestDb {
        let name = next_database_name();
        let mut admin = postgres::Client::connect(&self.admin_url(), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        TestDb {
            url: format!("postgres://postgres@127.0.0.1:{}/{name}", self.port),
            name,
            port: self.port,
        }
    }
}

/// Starts a server (`data`, `options`) under a watchdog shell whose stdin is a pipe from this
/// process: when the pipe closes, the shell stops the server and removes `remove`. `None`
/// when it did not start (a port taken by a process outside the suite).
pub(super) fn start_watched(
    bin: &Path,
    data: &Path,
    options: &str,
    log: &Path,
    remove: &Path,
) -> Option<(Child, ChildStdin)> {
    let pg_ctl = shell_quote(bin.join("pg_ctl").to_str().unwrap());
    let script = format!(
        "{pg_ctl} -D {data} -o {options} -l {log} -w -t 60 start >/dev/null || exit 1\n\
         echo ready\n\
         read _ignored\n\
         {pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1\n\
         rm -rf {remove}\n",
        data = shell_quote(data.to_str().unwrap()),
        options = shell_quote(options),
        log = shell_quote(log.to_str().unwrap()),
        remove = shell_quote(remove.to_str().unwrap()),
    );
    spawn_watchdog(&script)
}

/// A name no other database of this test binary has (the pid keeps binaries apart).
pub(super) fn next_database_name() -> String {
    format!(
        "t{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub struct TestDb {
    pub url: String,
    pub name: String,
    pub port: u16,
}

impl TestDb {
    pub fn new() -> TestDb {
        Cluster::get().database()
    }

    /// Org `big` (key 1) of 120,000 wide rows — seconds to export, long enough to act on
    /// while it runs — and org `small` (key 2) of one.
    pub fn one_big_org() -> TestDb {
        let db = TestDb::new();
        db.execute(
            "CREATE TABLE orgs (id int PRIMARY KEY, slug text, name text);
             CREATE TABLE rows (id int PRIMARY KEY, org_id int NOT NULL REFERENCES orgs, body text);
             INSERT INTO orgs VALUES (1, 'big', 'Big'), (2, 'small', 'Small');
             INSERT INTO rows SELECT i, 1, repeat(md5(i::text), 30) FROM generate_series(1, 120000) i;
             INSERT INTO rows VALUES (0, 2, 'small');
             CREATE INDEX ON rows (org_id);
             ANALYZE;",
        );
        db
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }

    pub fn execute(&self, sql: &str) {
        self.client()
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{e}: {e:?}\n{sql}"));
    }

    /// Rows of an independent query, as JSON values (rendered by the server, in UTC like the
    /// archive).
    pub fn json_rows(&self, sql: &str) -> Vec<Value> {
        let mut client = self.client();
        client.batch_execute("SET TimeZone = 'UTC'").unwrap();
        client
            .query(&format!("SELECT row_to_json(x)::text FROM ({sql}) x"), &[])
            .unwrap_or_else(|e| panic!("{e}: {e:?}\n{sql}"))
            .iter()
            .map(|r| serde_json::from_str(r.get::<_, &str>(0)).unwrap())
            .collect()
    }

    /// A new database holding this one's schema and nothing else (`pg_dump --schema-only`,
    /// the tool's own schema left out): what a restore starts from.
    pub fn schema_copy(&self) -> TestDb {
        self.dump_schema_into_copy(&["--exclude-schema=orgexport"])
    }

    /// A `pg_dump --schema-only` copy as an operator makes one: the tool's history tables
    /// come along, without their rows.
    pub fn schema_copy_with_history(&self) -> TestDb {
        self.dump_schema_into_copy(&[])
    }

    fn dump_schema_into_copy(&self, extra: &[&str]) -> TestDb {
        let copy = Cluster::get().database();
        let bin = find_bin();
        let dump = Command::new(bin.join("pg_dump"))
            .args(["--schema-only", "--no-owner"])
            .args(extra)
            .arg("--dbname")
            .arg(&self.url)
            .output()
            .unwrap();
        assert!(
            dump.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&dump.stderr)
        );
        // Without psql's meta-commands (`\restrict`, which newer pg_dump writes).
        let sql: String = String::from_utf8(dump.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with('\\'))
            .map(|l| format!("{l}\n"))
            .collect();
        copy.client().batch_execute(&sql).unwrap();
        copy
    }

    /// A new database that is a copy of this one, rows included (`CREATE DATABASE … TEMPLATE`).
    pub fn copy(&self) -> TestDb {
        let cluster = Cluster::get();
        let name = next_database_name();
        let mut admin = postgres::Client::connect(&cluster.admin_url(), postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {}", self.name))
            .unwrap();
        TestDb {
            url: format!("postgres://postgres@127.0.0.1:{}/{name}", cluster.port),
            name,
            port: cluster.port,
        }
    }

    /// A digest of a query's rows (their text, in the query's order).
    pub fn digest_of(&self, sql: &str) -> String {
        self.scalar_text(&format!(
            "SELECT md5(coalesce(string_agg(x::text, '|'), '')) FROM ({sql}) x"
        ))
        .unwrap()
    }

    /// A digest of every row of every table outside the system schemas (and whether schema
    /// `orgexport` exists): equal before and after means the database is unchanged.
    pub fn digest(&self) -> String {
        let mut client = self.client();
        let tables: Vec<String> = client
            .query(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables \
                 WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut digest = String::new();
        for table in tables {
            let row = client
                .query_one(
                    &format!(
                        "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t"
                    ),
                    &[],
                )
                .unwrap();
            digest.push_str(&format!(
                "{table}: {} {}\n",
                row.get::<_, i64>(0),
                row.get::<_, String>(1)
            ));
        }
        digest
    }

    pub fn scalar_i64(&self, sql: &str) -> i64 {
        self.client().query_one(sql, &[]).unwrap().get(0)
    }

    pub fn scalar_text(&self, sql: &str) -> Option<String> {
        self.client().query_one(sql, &[]).unwrap().get(0)
    }
}
