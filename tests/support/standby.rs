//! A hot standby of the test binary's cluster: `pg_basebackup -R` of it (as the `postgres` OS
//! user when running as root, like `cluster.rs`), streaming from it, started once per test
//! binary on a port of its own. Every database a test creates on the primary appears here
//! once replay has caught up ([`Standby::caught_up`]). It does not start the primary
//! (`cluster.rs`) nor run the tool (`cli.rs`).
//!
//! Like the cluster, it runs under a watchdog shell whose stdin is a pipe from the test
//! process: when the test binary exits the standby stops and its directory is removed.

use std::process::{Child, ChildStdin};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use super::cluster::{
    Cluster, PortReservation, TestDb, find_bin, reserve_port, shell_as_server_user, shell_quote,
    start_watched,
};

/// The tables of a database, by count.
const TABLES: &str = "SELECT count(*) FROM pg_class WHERE relkind IN ('r', 'p')";

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
            let log = primary.dir.join("standby.log");
            if let Some(watchdog) = start_watched(&bin, &data, &options, &log, &data) {
                return Standby {
                    port: reservation.port,
                    _port: reservation,
                    _watchdog: Mutex::new(watchdog),
                };
            }
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
        // The cluster commits asynchronously: one synchronous commit flushes every WAL
        // record written so far (an uncommitted one, a lock, included), and the standby can
        // replay up to that point.
        let mut client = db.client();
        client.batch_execute("SET synchronous_commit = on").unwrap();
        client.batch_execute("SELECT txid_current()").unwrap();
        let lsn: String = client
            .query_one("SELECT pg_current_wal_flush_lsn()::text", &[])
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
            // Seen replayed past the commit is not always seen visible at once: the tables
            // the primary has must be there too (the catalog, which the primary's table
            // locks do not block).
            if replayed && replica.scalar_i64(TABLES) == db.scalar_i64(TABLES) {
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
