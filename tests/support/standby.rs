//! A hot standby of the test binary's cluster: `pg_basebackup -R` of it (as the `postgres` OS
//! user when running as root, like `cluster.rs`), streaming from it, started once per test
//! binary on a port of its own. Every database a test creates on the primary appears here
//! once replay has caught up ([`Standby::caught_up`]). It does not start the primary
//! (`cluster.rs`) nor run the tool (`cli.rs`).
//!
//! Like the cluster, it runs under a watchdog shell whose stdin is a pipe from the test
//! process: when the test binary exits the standby stops and its directory is removed.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::cluster::{
    Cluster, PortReservation, TestDb, find_bin, reserve_port, shell_as_server_user, shell_quote,
};

pub struct Standby {
    pub port: u16,
    _port: PortReservation,
    _watchdog: Mutex<(Child, ChildStdin)>,
}

static STANDBY: OnceLock<Standby> = OnceLock::new();

impl Standby {
    /// The standby of [`Cluster::get`], started on first use.
    pub fn get() -> &'static Standby {
        STANDBY.get_or_init(Standby::start)
    }

    fn start() -> Standby {
        let primary = Cluster::get();
        let bin = find_bin();
        let data = primary.dir.join("standby");
        // Streaming from the primary through its socket directory (`local replication`).
        let backup = shell_as_server_user(&format!(
            "{} -h {} -p {} -U postgres -D {} -R -X stream -c fast >{}/basebackup.log 2>&1",
            shell_quote(bin.join("pg_basebackup").to_str().unwrap()),
            shell_quote(primary.dir.to_str().unwrap()),
            primary.port,
            shell_quote(data.to_str().unwrap()),
            shell_quote(primary.dir.to_str().unwrap()),
        ))
        .status()
        .unwrap();
        assert!(
            backup.success(),
            "pg_basebackup failed; see {}/basebackup.log",
            primary.dir.display()
        );
        let pg_ctl = shell_quote(bin.join("pg_ctl").to_str().unwrap());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let reservation = reserve_port();
            // hot_standby_feedback: the primary's vacuum never cancels a test's snapshot here.
            let options = format!(
                "-p {port} -k {dir} -c listen_addresses=127.0.0.1 -c hot_standby=on \
                 -c hot_standby_feedback=on -c max_connections=200 -c shared_buffers=32MB",
                port = reservation.port,
                dir = data.display()
            );
            let script = format!(
                "{pg_ctl} -D {data} -o {options} -l {log} -w -t 60 start >/dev/null || exit 1\n\
                 echo ready\n\
                 read _ignored\n\
                 {pg_ctl} -D {data} -m immediate stop >/dev/null 2>&1\n\
                 rm -rf {data}\n",
                data = shell_quote(data.to_str().unwrap()),
                options = shell_quote(&options),
                log = shell_quote(primary.dir.join("standby.log").to_str().unwrap()),
            );
            let mut child = shell_as_server_user(&script)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("starting the standby");
            let stdin = child.stdin.take().unwrap();
            let mut line = String::new();
            BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            if line.trim() == "ready" {
                return Standby {
                    port: reservation.port,
                    _port: reservation,
                    _watchdog: Mutex::new((child, stdin)),
                };
            }
            let _ = child.wait();
            assert!(
                attempt < 5,
                "the standby did not start; see {}/standby.log",
                primary.dir.display()
            );
        }
    }

    /// `db` as read on the standby (the same name, the standby's port), once replay has
    /// caught up with everything the primary wrote so far.
    pub fn caught_up(&self, db: &TestDb) -> TestDb {
        let lsn: String = db
            .client()
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .unwrap()
            .get(0);
        let replica = self.of(db);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let replayed = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
                .unwrap()
                .query_one(
                    "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)",
                    &[&lsn],
                )
                .unwrap()
                .get::<_, bool>(0);
            if replayed {
                return replica;
            }
            assert!(
                Instant::now() < deadline,
                "the standby never replayed {lsn}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `db` on the standby, as it is now (no waiting for replay).
    pub fn of(&self, db: &TestDb) -> TestDb {
        TestDb {
            url: self.url(&db.name),
            name: db.name.clone(),
            port: self.port,
        }
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}
