//! The tables an export reads, locked `ACCESS SHARE` inside the snapshot transaction *before*
//! its first query (DESIGN §1). TRUNCATE, table-rewriting ALTER, DROP COLUMN/TABLE,
//! `VACUUM FULL` and `CLUSTER` are not MVCC-safe: a snapshot taken before they commit sees an
//! empty (or vanished) table. In PostgreSQL a `REPEATABLE READ` transaction's snapshot is
//! taken by its first SELECT, and `LOCK TABLE` does not take it, so lock-then-snapshot leaves
//! no window at all (pg_dump locks right *after* its snapshot and lives with the race). Such
//! DDL then waits for the export; a lock the export cannot get within `lock_timeout` fails it
//! naming the table and the session in the way. Here: what to lock and how; the transaction
//! is `snapshot.rs`'s.

use anyhow::Context;
use tokio_postgres::Client;

use crate::db::quote_qualified;
use crate::error::{Kind, fail};
use crate::output::Reporter;
use crate::scope::catalog::{Catalog, RelKind};
use crate::scope::model::Scope;

/// The relations an export reads: every section's table (a superset of the selected
/// sections, whose predicates walk up through the other sections' tables).
pub struct ReadLocks {
    tables: Vec<Locked>,
}

struct Locked {
    /// `schema.table`, unquoted: how messages name it.
    name: String,
    /// `"schema"."table"`.
    quoted: String,
    partitioned: bool,
}

impl ReadLocks {
    /// The scope's tables that `LOCK TABLE` accepts (tables, partitioned tables, views — a
    /// view locks its base tables). Materialized views and foreign tables cannot be locked;
    /// their contents are not rewritten under a reader by the DDL above anyway.
    pub fn of(catalog: &Catalog, scope: &Scope) -> ReadLocks {
        // With `infer_references`, a pair's table may become a section once the org's type
        // values are read inside the snapshot: locked with the sections.
        let pair_tables = scope
            .polymorphic_pairs
            .iter()
            .filter(|_| scope.config.infer_references)
            .map(|p| p.table);
        let mut tables: Vec<Locked> = scope
            .sections
            .iter()
            .map(|s| s.table)
            .chain(pair_tables)
            .map(|t| catalog.table(t))
            .filter(|t| {
                matches!(
                    t.kind,
                    RelKind::Table | RelKind::Partitioned | RelKind::View
                )
            })
            .map(|t| Locked {
                name: t.qualified_name(),
                quoted: quote_qualified(&t.schema, &t.name),
                partitioned: t.kind == RelKind::Partitioned,
            })
            .collect();
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        tables.dedup_by(|a, b| a.name == b.name);
        ReadLocks { tables }
    }

    /// The `LOCK TABLE` statement, decided outside the transaction (any query inside it
    /// would take the snapshot). A partitioned table's lock recurses into every partition,
    /// one lock each; when that is more than `max_locks_per_transaction`, the parents are
    /// locked `ONLY`: DROP and DETACH of a partition lock the parent and still wait, but
    /// TRUNCATE or ALTER of a single partition by name does not.
    pub async fn statement(&self, client: &Client, report: &Reporter) -> anyhow::Result<String> {
        if self.tables.is_empty() {
            return Ok(String::new());
        }
        let parents: Vec<&str> = self
            .tables
            .iter()
            .filter(|t| t.partitioned)
            .map(|t| t.quoted.as_str())
            .collect();
        if parents.is_empty() {
            // `ONLY` changes nothing without partitioned tables: no need to count.
            return Ok(lock_statement(&self.tables, false));
        }
        // The trees walked in `pg_inherits` by its parent index: `pg_partition_tree` locks
        // every partition it lists (10,000 partitions: 0.2-0.3 s against ~15 ms).
        let row = client
            .query_one(
                "WITH RECURSIVE tree(oid) AS ( \
                     SELECT p::regclass::oid FROM unnest($1::text[]) p \
                     UNION ALL SELECT i.inhrelid FROM pg_inherits i JOIN tree ON i.inhparent = tree.oid) \
                 SELECT (SELECT count(*) FROM tree), \
                        current_setting('max_locks_per_transaction')::int8",
                &[&parents],
            )
            .await
            .context("counting the partitions to lock")?;
        let (in_trees, max_locks): (i64, i64) = (row.get(0), row.get(1));
        let relations = (self.tables.len() - parents.len()) as i64 + in_trees;
        let only = relations > max_locks;
        if only {
            report.verbose(&format!(
                "locking {} partitioned table(s) without their partitions ({relations} relations > max_locks_per_transaction = {max_locks}): partitions are protected through their parent (DROP/DETACH wait; TRUNCATE or ALTER of one partition by name does not)",
                parents.len()
            ));
        }
        Ok(lock_statement(&self.tables, only))
    }

    /// Exit 1 after `lock_timeout`: which table, held (or queued for) by which session, seen
    /// from another session (`observer`, the history's) — the export's own is aborted.
    pub async fn timed_out(&self, observer: &Client, export_pid: i32) -> anyhow::Error {
        let names: Vec<&str> = self.tables.iter().map(|t| t.quoted.as_str()).collect();
        // Granted locks first; else a queued ACCESS EXCLUSIVE (DDL waiting behind a reader,
        // which every later reader queues behind too).
        let blocker = observer
            .query_opt(
                "WITH locked AS (SELECT l.pid, l.granted, \
                                        coalesce(pg_partition_root(l.relation), l.relation) AS rel \
                                   FROM pg_locks l \
                                  WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' \
                                    AND l.database = (SELECT oid FROM pg_database \
                                                       WHERE datname = current_database()) \
                                    AND l.pid <> $2) \
                 SELECT n.nspname || '.' || c.relname, a.pid, a.application_name, \
                        a.usename::text, a.state, \
                        to_char(coalesce(a.state_change, a.query_start) AT TIME ZONE 'UTC', \
                                'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') \
                   FROM locked k JOIN pg_stat_activity a ON a.pid = k.pid \
                   JOIN pg_class c ON c.oid = k.rel JOIN pg_namespace n ON n.oid = c.relnamespace \
                  WHERE k.rel IN (SELECT to_regclass(q) FROM unnest($1::text[]) q) \
                  ORDER BY k.granted DESC, a.state_change LIMIT 1",
                &[&names, &export_pid],
            )
            .await
            .ok()
            .flatten();
        let message = match blocker {
            Some(row) => {
                let (table, pid, app, user, state, since): (
                    String,
                    i32,
                    String,
                    Option<String>,
                    Option<String>,
                    Option<String>,
                ) = (
                    row.get(0),
                    row.get(1),
                    row.get(2),
                    row.get(3),
                    row.get(4),
                    row.get(5),
                );
                let app = if app.is_empty() {
                    "no application_name".into()
                } else {
                    app
                };
                format!(
                    "lock timeout: {table} is locked by pid {pid} ({app}, user {}, {} since {}): its TRUNCATE/ALTER/DROP/VACUUM FULL must finish first; retry, or raise lock_timeout",
                    user.unwrap_or_default(),
                    state.unwrap_or_else(|| "state unknown".into()),
                    since.unwrap_or_default()
                )
            }
            None => format!(
                "lock timeout locking the {} table(s) the export reads (the session holding the lock has let go since); retry, or raise lock_timeout",
                self.tables.len()
            ),
        };
        fail(Kind::ExportFailed, message)
    }
}

/// `LOCK TABLE …`, partitioned tables `ONLY` when `only`.
fn lock_statement(tables: &[Locked], only: bool) -> String {
    let names: Vec<String> = tables
        .iter()
        .map(|t| match (only, t.partitioned) {
            (true, true) => format!("ONLY {}", t.quoted),
            _ => t.quoted.clone(),
        })
        .collect();
    format!("LOCK TABLE {} IN ACCESS SHARE MODE", names.join(", "))
}
