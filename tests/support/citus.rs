//! A real Citus cluster for the tests: a coordinator and two workers on loopback, started
//! once per test binary from the local server binaries with `shared_preload_libraries=citus`
//! (the extension is built into them by `scripts/test.sh`), and one database per test created
//! on every node with the workers registered ([`CitusDb`]). A database without the extension
//! on the same coordinator is a plain single-node PostgreSQL, for "the same fixture without
//! Citus" comparisons. Stopped and removed by a watchdog shell when the test binary exits,
//! like `cluster.rs`'s single node, whose helpers it reuses. It does not run the tool.

use std::path::PathBuf;
use std::process::{Child, ChildStdin};
use std::sync::{Mutex, OnceLock};

use super::cluster::{
    PortReservation, TestDb, find_bin, is_root, next_database_name, reserve_port,
    shell_as_server_user, shell_quote, spawn_watchdog,
};

pub struct CitusCluster {
    /// Coordinator first, then the workers.
    pub ports: Vec<u16>,
    _ports: Vec<PortReservation>,
    pub dir: PathBuf,
    /// One database set up at a time: the first `CREATE EXTENSION citus` on a node turns on
    /// TLS and reloads it, which breaks a concurrent `citus_add_node`'s connection.
    setup: Mutex<()>,
    _watchdog: Mutex<(Child, ChildStdin)>,
}

static CITUS: OnceLock<CitusCluster> = OnceLock::new();

/// Nodes: the coordinator and two workers.
const NODES: usize = 3;

/// A database on every node of the cluster, the workers registered with the coordinator.
pub struct CitusDb {
    /// The coordinator's database: what the tool connects to.
    pub coordinator: TestDb,
    pub workers: Vec<TestDb>,
}

impl CitusCluster {
    pub fn get() -> &'static CitusCluster {
        CITUS.get_or_init(CitusCluster::start)
    }

    fn start() -> CitusCluster {
        let bin = find_bin();
        let libdir = std::process::Command::new(bin.join("pg_config"))
            .arg("--pkglibdir")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default();
        assert!(
            std::path::Path::new(&libdir).join("citus.so").exists(),
            "citus.so is not installed in {libdir:?}: run scripts/test.sh (it builds Citus once per machine)"
        );
        let dir = std::env::temp_dir().join(format!(
            "orgexport-citus-{}-{}",
            std::process::id(),
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let status = std::process::Command::new("chown")
                .args(["postgres:", dir.to_str().unwrap()])
                .status()
                .unwrap();
            assert!(status.success());
        }
        let initdb = shell_quote(bin.join("initdb").to_str().unwrap());
        let pg_ctl = shell_quote(bin.join("pg_ctl").to_str().unwrap());
        let mut script = String::new();
        for node in 0..NODES {
            script.push_str(&format!(
                "{initdb} -D {d}/n{node} -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >{d}/initdb{node}.log 2>&1 &\n",
                d = shell_quote(dir.to_str().unwrap())
            ));
        }
        script.push_str("wait\n");
        let init = shell_as_server_user(&script).status().unwrap();
        assert!(init.success(), "initdb failed; see {}", dir.display());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let reservations: Vec<PortReservation> = (0..NODES).map(|_| reserve_port()).collect();
            let mut start = String::new();
            let mut stop = String::new();
            for (node, reservation) in reservations.iter().enumerate() {
                // Few shards: every test distributes its tables into a fresh database.
                let options = format!(
                    "-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=off \
                     -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
                     -c shared_buffers=32MB -c shared_preload_libraries=citus \
                     -c max_prepared_transactions=100 -c citus.shard_count=4",
                    port = reservation.port,
                    d = dir.display()
                );
                let data = shell_quote(dir.join(format!("n{node}")).to_str().unwrap());
                let log = shell_quote(dir.join(format!("n{node}.log")).to_str().unwrap());
                start.push_str(&format!(
                    "{pg_ctl} -D {data} -o {} -l {log} -w -t 60 start >/dev/null || fail=1\n",
                    shell_quote(&options)
                ));
                stop.push_str(&format!(
                    "{pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1\n"
                ));
            }
            let script = format!(
                "fail=0\n{start}\
                 if [ $fail = 1 ]; then {stop} echo failed; exit 1; fi\n\
                 echo ready\nread _ignored\n{stop}rm -rf {dir}\n",
                dir = shell_quote(dir.to_str().unwrap())
            );
            if let Some((child, stdin)) = spawn_watchdog(&script) {
                return CitusCluster {
                    ports: reservations.iter().map(|r| r.port).collect(),
                    _ports: reservations,
                    dir,
                    setup: Mutex::new(()),
                    _watchdog: Mutex::new((child, stdin)),
                };
            }
            assert!(
                attempt < 5,
                "the Citus test cluster did not start; see {}/n*.log",
                dir.display()
            );
        }
    }

    fn create_on(&self, port: u16, name: &str) -> TestDb {
        let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        TestDb {
            url: format!("postgres://postgres@127.0.0.1:{port}/{name}"),
            name: name.to_string(),
            port,
        }
    }

    /// A database on every node with the extension, the workers added to the coordinator.
    pub fn database(&self) -> CitusDb {
        let _one_at_a_time = self.setup.lock().unwrap_or_else(|e| e.into_inner());
        let name = next_database_name();
        let nodes: Vec<TestDb> = self
            .ports
            .iter()
            .map(|&port| self.create_on(port, &name))
            .collect();
        for node in &nodes {
            node.execute("CREATE EXTENSION citus");
        }
        let mut sql = format!(
            "SELECT citus_set_coordinator_host('127.0.0.1', {});",
            self.ports[0]
        );
        for port in &self.ports[1..] {
            sql.push_str(&format!("SELECT citus_add_node('127.0.0.1', {port});"));
        }
        nodes[0].execute(&sql);
        let mut nodes = nodes.into_iter();
        CitusDb {
            coordinator: nodes.next().unwrap(),
            workers: nodes.collect(),
        }
    }

    /// A database on the coordinator without the extension: a plain single-node PostgreSQL.
    pub fn plain_database(&self) -> TestDb {
        self.create_on(self.ports[0], &next_database_name())
    }
}

/// The Citus tutorial's ad platform (`fixtures/citus/`): tables, their distribution (Citus
/// only), foreign keys, rows. Company 1 is acme; the others' rows carry `MARKER-OTHER-ORG`.
pub mod fixture {
    use super::super::{CitusCluster, CitusDb, TempDir, TestDb};

    pub const TABLES: &str = include_str!("../fixtures/citus/tables.sql");
    pub const DISTRIBUTE: &str = include_str!("../fixtures/citus/distribute.sql");
    pub const KEYS: &str = include_str!("../fixtures/citus/keys.sql");
    pub const DATA: &str = include_str!("../fixtures/citus/data.sql");

    /// A new database on the cluster with the fixture's tables distributed, and its rows when
    /// `rows`.
    pub fn on_citus(rows: bool) -> CitusDb {
        let db = CitusCluster::get().database();
        for sql in [TABLES, DISTRIBUTE, KEYS] {
            db.coordinator.execute(sql);
        }
        if rows {
            db.coordinator.execute(DATA);
        }
        db
    }

    /// A new single-node database (no Citus) with the fixture's tables, and its rows when
    /// `rows`.
    pub fn on_single_node(rows: bool) -> TestDb {
        let db = CitusCluster::get().plain_database();
        for sql in [TABLES, KEYS] {
            db.execute(sql);
        }
        if rows {
            db.execute(DATA);
        }
        db
    }

    /// Without Citus's metadata company_id is configured, not discovered: a directory holding
    /// that orgexport.toml, to run the tool in (on Citus it changes nothing).
    pub fn company_config() -> TempDir {
        let config = TempDir::new();
        std::fs::write(
            config.path().join("orgexport.toml"),
            "tenant_columns = [\"company_id\"]\n",
        )
        .unwrap();
        config
    }
}
