//! Test harness: a real PostgreSQL started from the local server binaries (initdb + pg_ctl in a
//! temporary directory, as the `postgres` OS user when running as root), one cluster per test
//! binary and one database per test; running the real `orgexport` binary; reading archives.
//!
//! The cluster is started by a small watchdog shell whose stdin is a pipe from the test
//! process: when the test binary exits, for whatever reason, the pipe closes and the shell
//! stops the server and removes its directory. No stray servers, no leftover data.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
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

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The server binaries: `$ORGEXPORT_PG_BIN`, the newest `/usr/lib/postgresql/*/bin`, or PATH.
fn find_bin() -> PathBuf {
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

/// Starts a server on a reserved port with `spawn(port)`, again on another port if it exits
/// before listening (its port was taken by something outside the suite).
fn start_server(what: &str, spawn: impl Fn(u16) -> Child) -> (PortReservation, Child) {
    for _ in 0..5 {
        let reservation = reserve_port();
        let mut child = spawn(reservation.port);
        if wait_for_port(reservation.port, what, &mut child) {
            return (reservation, child);
        }
    }
    panic!("{what} could not start on any of five ports");
}

/// Runs a shell script as the postgres OS user when we are root.
fn shell_as_server_user(script: &str) -> Command {
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

fn shell_quote(s: &str) -> String {
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
             hostnossl all tls_only 127.0.0.1/32 reject\n\
             host all postgres 127.0.0.1/32 trust\n\
             host all tls_only 127.0.0.1/32 trust\n\
             hostssl all cert_user 127.0.0.1/32 cert\n\
             host all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
        let pg_ctl = shell_quote(bin.join("pg_ctl").to_str().unwrap());
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
            let script = format!(
                "{pg_ctl} -D {data} -o {options} -l {log} -w -t 60 start >/dev/null || exit 1\n\
                 echo ready\n\
                 read _ignored\n\
                 {pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1\n\
                 rm -rf {dir}\n",
                data = shell_quote(data.to_str().unwrap()),
                options = shell_quote(&options),
                log = shell_quote(dir.join("server.log").to_str().unwrap()),
                dir = shell_quote(dir.to_str().unwrap()),
            );
            let mut child = shell_as_server_user(&script)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("starting the test cluster");
            let stdin = child.stdin.take().unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            if line.trim() == "ready" {
                break (reservation, options, child, stdin);
            }
            let _ = child.wait();
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
        let name = format!(
            "t{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
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

pub struct TestDb {
    pub url: String,
    pub name: String,
    pub port: u16,
}

impl TestDb {
    pub fn new() -> TestDb {
        Cluster::get().database()
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
        let copy = Cluster::get().database();
        let bin = find_bin();
        let dump = Command::new(bin.join("pg_dump"))
            .args([
                "--schema-only",
                "--no-owner",
                "--exclude-schema=orgexport",
                "--dbname",
            ])
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
        let name = format!(
            "t{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
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

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let path =
            std::env::temp_dir().join(format!("orgexport-store-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Every file below the directory, relative paths.
    pub fn files(&self) -> Vec<String> {
        fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(base, &path, out);
                } else {
                    out.push(path.strip_prefix(base).unwrap().display().to_string());
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.0, &self.0, &mut out);
        out.sort();
        out
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The real binary, with a clean environment (no DATABASE_URL or PG* leaking in from the
/// developer's shell) and a scratch working directory.
pub fn orgexport(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orgexport"));
    cmd.current_dir(cwd);
    for (key, _) in std::env::vars() {
        if key.starts_with("PG") || key == "DATABASE_URL" || key.starts_with("ORGEXPORT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("PGCONNECT_TIMEOUT", "5");
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// The failure is reported as exactly one line, the last one on stderr.
    pub fn assert_one_error_line(&self) {
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.contains("orgexport: error:"))
            .collect();
        assert_eq!(errors.len(), 1, "one error line: {}", self.stderr);
        assert_eq!(
            self.stderr.trim_end().lines().last(),
            Some(errors[0]),
            "{}",
            self.stderr
        );
    }

    pub fn last_stdout_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }
}

/// Waits until a running export's backend streams the COPY of `table` (the unquoted table
/// name); returns the backend's pid.
pub fn wait_for_copy(db: &TestDb, table: &str) -> i32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let pattern = format!("COPY%\"{table}\"%");
    loop {
        let pid: Option<i32> = db
            .client()
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'orgexport' AND query LIKE $1 LIMIT 1",
                &[&pattern],
            )
            .unwrap()
            .map(|r| r.get(0));
        if let Some(pid) = pid {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the export never reached the COPY of {table}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `orgexport run --org <org> --store <store> --database-url <db>` plus `extra`.
pub fn run_export(db: &TestDb, store: &TempDir, org: &str, extra: &[&str]) -> Run {
    let output = orgexport(store.path())
        .args(["run", "--org", org, "--database-url", &db.url, "--store"])
        .arg(store.path())
        .args(extra)
        .output()
        .unwrap();
    Run::from(output)
}

/// A decoded archive.
pub struct Archive {
    /// The whole decompressed document, for "this string appears nowhere" checks.
    pub text: String,
    pub manifest: Value,
    pub sections: BTreeMap<String, Vec<Value>>,
    /// Top-level keys in document order.
    pub keys: Vec<String>,
    /// Section names in document order.
    pub section_order: Vec<String>,
}

impl Archive {
    pub fn read(path: &Path) -> Archive {
        let file = std::fs::File::open(path).unwrap();
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(file)
            .read_to_string(&mut text)
            .expect("the archive is valid gzip holding UTF-8");
        let doc: serde_json::Map<String, Value> =
            serde_json::from_str(&text).expect("the archive is one valid JSON object");
        let keys: Vec<String> = doc.keys().cloned().collect();
        let manifest = doc["manifest"].clone();
        let sections_obj = doc["sections"].as_object().expect("sections is an object");
        let section_order = sections_obj.keys().cloned().collect();
        let sections = sections_obj
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_array().expect("a section is an array").clone(),
                )
            })
            .collect();
        Archive {
            text,
            manifest,
            sections,
            keys,
            section_order,
        }
    }

    /// The archive a successful run printed the link of.
    pub fn from_run(run: &Run) -> Archive {
        assert_eq!(run.code, 0, "export failed: {}", run.stderr);
        let link = run.last_stdout_line();
        let path = url::Url::parse(link)
            .unwrap_or_else(|_| panic!("the last stdout line is not a URL: {link:?}"))
            .to_file_path()
            .unwrap();
        Archive::read(&path)
    }

    pub fn section(&self, name: &str) -> &Vec<Value> {
        self.sections
            .get(name)
            .unwrap_or_else(|| panic!("no section {name}; have {:?}", self.section_order))
    }

    pub fn manifest_section(&self, name: &str) -> &Value {
        self.manifest["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no manifest section {name}"))
    }

    /// Structural checks every archive must pass: manifest first, sections in manifest order,
    /// every count exact.
    pub fn assert_well_formed(&self) {
        assert_eq!(
            self.keys,
            vec!["manifest", "sections"],
            "manifest first, then sections"
        );
        assert_eq!(self.manifest["format"], "orgexport/1");
        let names: Vec<String> = self.manifest["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names, self.section_order,
            "payload sections follow the manifest's order"
        );
        for s in self.manifest["sections"].as_array().unwrap() {
            let name = s["name"].as_str().unwrap();
            assert_eq!(
                s["record_count"].as_u64().unwrap() as usize,
                self.sections[name].len(),
                "record_count of {name}"
            );
        }
    }

    /// The section holds exactly the rows of `sql` (an independent query), in any order.
    pub fn assert_section_equals(&self, db: &TestDb, name: &str, sql: &str) {
        let mut expected: Vec<String> = db.json_rows(sql).iter().map(|v| v.to_string()).collect();
        let mut actual: Vec<String> = self.section(name).iter().map(|v| v.to_string()).collect();
        expected.sort();
        actual.sort();
        assert_eq!(
            actual.len(),
            expected.len(),
            "{name}: {} rows in the archive, {} by independent SQL",
            actual.len(),
            expected.len()
        );
        assert_eq!(actual, expected, "{name}: rows differ from independent SQL");
    }

    /// The archive holds exactly these sections.
    pub fn assert_sections(&self, expected: &[&str]) {
        let mut have: Vec<&str> = self.section_order.iter().map(String::as_str).collect();
        let mut want = expected.to_vec();
        have.sort();
        want.sort();
        assert_eq!(have, want, "sections of the archive");
    }
}

/// Finds a test server's binary: `$<env>`, PATH, or where `scripts/test.sh` installs it.
fn find_tool(env: &str, name: &str, installed: &[PathBuf]) -> PathBuf {
    if let Ok(path) = std::env::var(env) {
        return PathBuf::from(path);
    }
    let which = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .expect("sh");
    let found = String::from_utf8_lossy(&which.stdout).trim().to_string();
    if !found.is_empty() {
        return PathBuf::from(found);
    }
    installed
        .iter()
        .find(|p| p.exists())
        .cloned()
        .unwrap_or_else(|| {
            panic!("{name} not found: run `bash scripts/test.sh`, which installs it, or set {env}")
        })
}

fn home() -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into()))
}

/// Waits until `child` listens on `port`; false when it exited first (the port was taken).
fn wait_for_port(port: u16, what: &str, child: &mut Child) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // Ours, not a stranger's: the child is still alive once the port answers.
            return child.try_wait().is_ok_and(|status| status.is_none());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not start listening on {port}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// An S3-compatible server on loopback (s3s-fs: validates SigV4 signatures, presigned URLs
/// and their expiry), one per test, storing objects as files under `dir`.
pub struct S3Server {
    pub port: u16,
    _port: PortReservation,
    pub dir: TempDir,
    child: Child,
}

pub const S3_ACCESS_KEY: &str = "orgexport-test-key";
pub const S3_SECRET_KEY: &str = "orgexport-test-secret-Zx81";
pub const S3_BUCKET: &str = "exports";

impl S3Server {
    pub fn start() -> S3Server {
        let bin = find_tool(
            "ORGEXPORT_S3S_FS",
            "s3s-fs",
            &[home().join(".cargo/bin/s3s-fs")],
        );
        let dir = TempDir::new();
        std::fs::create_dir_all(dir.path().join(S3_BUCKET)).unwrap();
        let (reservation, child) = start_server("s3s-fs", |port| {
            Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting s3s-fs")
        });
        S3Server {
            port: reservation.port,
            _port: reservation,
            dir,
            child,
        }
    }

    /// The environment the tool reads its S3 settings from.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY.to_string()),
            ("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY.to_string()),
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ALLOW_HTTP", "true".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
        ]
    }

    /// Where s3s-fs keeps an object.
    pub fn object_file(&self, bucket: &str, key: &str) -> PathBuf {
        self.dir.path().join(bucket).join(key)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Azurite's blob service on loopback (validates SAS signatures and expiry).
pub struct Azurite {
    pub port: u16,
    _port: PortReservation,
    child: Child,
}

/// Azurite's well-known development account.
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

impl Azurite {
    pub fn start() -> Azurite {
        let bin = find_tool(
            "ORGEXPORT_AZURITE",
            "azurite-blob",
            &[home().join(".cache/orgexport-test-tools/node_modules/.bin/azurite-blob")],
        );
        let (reservation, child) = start_server("azurite", |port| {
            Command::new(&bin)
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                .args([
                    "--inMemoryPersistence",
                    "--disableTelemetry",
                    "--silent",
                    "--skipApiVersionCheck",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting azurite-blob")
        });
        Azurite {
            port: reservation.port,
            _port: reservation,
            child,
        }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AZURE_STORAGE_USE_EMULATOR", "true".to_string()),
            (
                "AZURITE_BLOB_STORAGE_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
        ]
    }

    /// Creates a container with the account key (object_store cannot create containers).
    pub fn create_container(&self, name: &str) {
        use base64::Engine;
        use hmac::{Hmac, KeyInit, Mac};
        let date = httpdate::fmt_http_date(std::time::SystemTime::now());
        let version = "2021-08-06";
        // Shared Key string-to-sign for "Create Container": verb, 11 standard headers (all
        // empty here but Content-Length "0"… which the 2015+ rules want empty), canonical
        // x-ms headers, canonical resource.
        let string_to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{name}\nrestype:container"
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(AZURITE_KEY)
            .unwrap();
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(string_to_sign.as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let response = agent
            .put(&format!(
                "http://127.0.0.1:{}/{AZURITE_ACCOUNT}/{name}?restype=container",
                self.port
            ))
            .header("x-ms-date", &date)
            .header("x-ms-version", version)
            .header(
                "Authorization",
                &format!("SharedKey {AZURITE_ACCOUNT}:{signature}"),
            )
            .send_empty()
            .unwrap();
        assert_eq!(response.status().as_u16(), 201, "creating container {name}");
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP GET, as a person clicking the link would do: (status, body).
pub fn http_get(url: &str) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(url).call().unwrap();
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    (status, body)
}

/// moto's S3 server on loopback. It checks no signatures, but it implements
/// ListMultipartUploads, which s3s-fs lacks: the way to prove an aborted upload left no parts.
pub struct MotoServer {
    pub port: u16,
    _port: PortReservation,
    child: Child,
}

impl MotoServer {
    pub fn start() -> MotoServer {
        let bin = find_tool(
            "ORGEXPORT_MOTO_SERVER",
            "moto_server",
            &[home().join(".cache/orgexport-test-tools/moto/bin/moto_server")],
        );
        let (reservation, child) = start_server("moto_server", |port| {
            Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting moto_server")
        });
        MotoServer {
            port: reservation.port,
            _port: reservation,
            child,
        }
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "moto".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "moto".to_string()),
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ALLOW_HTTP", "true".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
        ]
    }

    pub fn create_bucket(&self, bucket: &str) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let status = agent
            .put(&format!("http://127.0.0.1:{}/{bucket}", self.port))
            .send_empty()
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 200, "creating bucket {bucket}");
    }

    /// The ListMultipartUploads response (XML) of a bucket.
    pub fn multipart_uploads(&self, bucket: &str) -> String {
        let (status, body) = http_get(&format!("http://127.0.0.1:{}/{bucket}?uploads", self.port));
        assert_eq!(status, 200);
        String::from_utf8(body).unwrap()
    }

    /// The ListObjectsV2 response (XML) of a bucket.
    pub fn objects(&self, bucket: &str) -> String {
        let (status, body) = http_get(&format!(
            "http://127.0.0.1:{}/{bucket}?list-type=2",
            self.port
        ));
        assert_eq!(status, 200);
        String::from_utf8(body).unwrap()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
