//! The one `REPEATABLE READ, READ ONLY` transaction every section is read in: one consistent
//! point in time, so the counts in the leading manifest are exactly the rows that follow.
//! It runs with `row_security = off`: a table whose row-level security would hide rows from
//! this role fails the export by name instead of exporting part of it (DESIGN §2). The tables
//! it reads are locked before the snapshot is taken, so DDL cannot empty them under it.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, IsolationLevel, Statement, Transaction};
use tokio_util::sync::CancellationToken;

use crate::db::quote_literal;
use crate::error::{Kind, fail};
use crate::export::archive::ArchiveWriter;
use crate::export::copy::{BinaryRows, fields};
use crate::export::drain::Drained;
use crate::export::formats::parquet::ParquetSection;
use crate::export::judging::ToJudge;
use crate::export::locks::ReadLocks;
use crate::export::render::{LARGE_VALUE, RowRenderer};
use crate::output::Reporter;
use crate::scope::plan::SectionSql;
use crate::scope::sampling::SAMPLE_ROWS;
use crate::store::ChunkSink;

/// What streaming a section did.
pub struct Streamed {
    pub rows: u64,
    /// The json keys redacted as secrets.
    pub redacted: Vec<String>,
    /// The columns judged secret on the stream, with the reason: (column, reason).
    pub excluded: Vec<(String, String)>,
    /// From the COPY's start to its last byte received: the server's time for the section.
    pub read: Duration,
    /// From the COPY's start to the last row rendered.
    pub total: Duration,
}

pub struct Snapshot<'c> {
    txn: Transaction<'c>,
    /// The point in time the snapshot shows (RFC 3339, UTC, milliseconds): when it was taken
    /// on a primary; on a hot standby the last replayed commit's time, which is what the data
    /// is as of however far replay lags.
    pub snapshot_at: String,
    /// Read from a hot standby (`pg_is_in_recovery()`).
    pub standby: bool,
    pub server_version: String,
    lock: String,
}

impl<'c> Snapshot<'c> {
    /// Opens the transaction and locks every table the export reads (`locks`) *before* the
    /// first query takes the snapshot (`locks.rs` says why). A lock not granted within
    /// `lock_timeout` fails naming the session in the way, as `observer` (another session)
    /// sees it.
    pub async fn begin(
        client: &'c mut Client,
        locks: &ReadLocks,
        observer: &Client,
        report: &Reporter,
        cancel: &CancellationToken,
    ) -> anyhow::Result<Snapshot<'c>> {
        // Both outside the transaction: any query inside it would take the snapshot.
        let lock = locks.statement(client, report).await?;
        let pid: i32 = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .context("starting the snapshot transaction")?
            .get(0);
        let txn = read_only_transaction(client)
            .await
            .context("starting the snapshot transaction")?;
        if !lock.is_empty() {
            // Simple protocol, a utility statement: no snapshot is taken.
            // Waiting behind DDL is interruptible (the caller cancels the statement server-side).
            let locked = tokio::select! {
                locked = txn.batch_execute(&lock) => locked,
                _ = cancel.cancelled() => return Err(fail(Kind::Interrupted, "interrupted")),
            };
            if let Err(err) = locked {
                if err.code() == Some(&tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE) {
                    return Err(locks.timed_out(observer, pid).await);
                }
                return Err(explain(err).context("locking the tables the export reads"));
            }
        }
        // The first statement takes the snapshot; clock_timestamp() (on a standby, the replay
        // timestamp read in the same statement) is as close to it as we get.
        let mut snapshot = Snapshot::settle(txn).await.context("taking the snapshot")?;
        snapshot.lock = lock;
        Ok(snapshot)
    }

    /// The session settings every reader of the snapshot runs with, read in the transaction
    /// (for the lead, this first query takes the snapshot). `synchronize_seqscans` off, as
    /// pg_dump sets it: a sequential scan that joins another reader's scan of the same table
    /// starts where that one is, and a section without ORDER BY would come out in another row
    /// order at `--jobs 2` than at `--jobs 1` (seen on shared's users: its key set scans the
    /// comments the comments section scans beside it).
    async fn settle(txn: Transaction<'c>) -> Result<Snapshot<'c>, tokio_postgres::Error> {
        let row = txn
            .query_one(
                "SELECT set_config('row_security', 'off', true), set_config('TimeZone', 'UTC', true), \
                        set_config('bytea_output', 'hex', true), \
                        set_config('synchronize_seqscans', 'off', true), \
                        to_char(CASE WHEN pg_is_in_recovery() \
                                     THEN coalesce(pg_last_xact_replay_timestamp(), clock_timestamp()) \
                                     ELSE clock_timestamp() END AT TIME ZONE 'UTC', \
                                'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
                        split_part(current_setting('server_version'), ' ', 1), pg_is_in_recovery()",
                &[],
            )
            .await?;
        Ok(Snapshot {
            snapshot_at: row.get(4),
            server_version: row.get(5),
            standby: row.get(6),
            txn,
            lock: String::new(),
        })
    }

    /// Makes this snapshot joinable by other sessions (`--jobs`, as `pg_dump -j` does): the
    /// id for [`Snapshot::join`], valid while this transaction is open.
    pub async fn export_id(&self) -> anyhow::Result<String> {
        let row = self
            .txn
            .query_one("SELECT pg_export_snapshot()", &[])
            .await
            .map_err(explain)
            .context("exporting the snapshot for parallel readers")?;
        Ok(row.get(0))
    }

    /// Another session reading the same snapshot (`id` from [`Snapshot::export_id`]) with the
    /// same settings, holding the same locks (`lock`, the lead's [`Snapshot::lock`]) — taken
    /// with `NOWAIT`, as pg_dump's workers do: a reader queued behind DDL that itself waits
    /// for the lead would wait forever, unseen by the deadlock detector. `None` when a lock
    /// is not free right away (DDL is queued): the export goes on with fewer readers.
    pub async fn join(
        client: &'c mut Client,
        id: &str,
        lock: &str,
    ) -> anyhow::Result<Option<Snapshot<'c>>> {
        let txn = read_only_transaction(client)
            .await
            .context("starting a parallel reader's transaction")?;
        txn.batch_execute(&format!("SET TRANSACTION SNAPSHOT {}", quote_literal(id)))
            .await
            .map_err(explain)
            .context("joining the export's snapshot")?;
        if !lock.is_empty() {
            match txn.batch_execute(&format!("{lock} NOWAIT")).await {
                Err(err) if err.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => return Ok(None),
                locked => locked
                    .map_err(explain)
                    .context("locking the tables a parallel reader reads")?,
            }
        }
        let mut joined = Snapshot::settle(txn)
            .await
            .context("joining the export's snapshot")?;
        joined.lock = lock.to_string();
        Ok(Some(joined))
    }

    /// The `LOCK TABLE` statement this session ran (empty when there was nothing to lock).
    pub fn lock(&self) -> &str {
        &self.lock
    }

    /// A `SELECT count(*)` of the section (`sql.count`, or `sql.candidates`) in this
    /// snapshot. Interruptible: on cancel the query is abandoned (the caller cancels it
    /// server-side).
    pub async fn count(
        &self,
        sql: &SectionSql,
        query: &str,
        cancel: &CancellationToken,
    ) -> anyhow::Result<u64> {
        let row = tokio::select! {
            row = self.txn.query_one(query, &[]) => row,
            _ = cancel.cancelled() => return Err(fail(Kind::Interrupted, "interrupted")),
        };
        let row = row
            .map_err(explain)
            .with_context(|| format!("counting {}", sql.name))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Prepares a section's COPY. Sent while the section before it streams (pipelined: the
    /// server parses it when that COPY ends), the round trip a COPY by its text costs is gone —
    /// a thousand of them on a thousand-table catalog (issue 21). Parsing may wait for a
    /// table lock (behind DDL): interruptible.
    pub async fn prepare_copy(
        &self,
        sql: &SectionSql,
        cancel: &CancellationToken,
    ) -> anyhow::Result<Statement> {
        tokio::select! {
            prepared = self.txn.prepare(&sql.copy) => prepared
                .map_err(explain)
                .with_context(|| format!("reading {}", sql.name)),
            _ = cancel.cancelled() => Err(fail(Kind::Interrupted, "interrupted")),
        }
    }

    /// Streams one section's rows into the writer, by its COPY as [`Snapshot::prepare_copy`]
    /// made it; returns how many were written, the json keys redacted, the columns excluded
    /// by `judge` and the timings. With columns to judge, the first rows are held (not
    /// written) until their values are judged, and the columns judged secret are left out
    /// of every row. `on_rows` is told the running total now and then (progress). The COPY
    /// stream is drained on a task of its own (`drain.rs`), so that rendering and
    /// compression never hold the server's COPY back.
    pub async fn stream<S: ChunkSink>(
        &self,
        (sql, copy, judge): (&SectionSql, &Statement, &ToJudge),
        (first, whole): (bool, bool),
        writer: &mut ArchiveWriter<S>,
        cancel: &CancellationToken,
        mut on_rows: impl FnMut(u64, u64),
    ) -> anyhow::Result<Streamed> {
        let started = Instant::now();
        // Starting the COPY may wait for a table lock (behind DDL): interruptible too.
        let stream = tokio::select! {
            stream = self.txn.copy_out(copy) => stream,
            _ = cancel.cancelled() => return Err(fail(Kind::Interrupted, "interrupted")),
        };
        let stream = stream
            .map_err(explain)
            .with_context(|| format!("reading {}", sql.name))?;
        let mut drained = Drained::spawn(stream);
        let mut parser = BinaryRows::new();
        let (held, excluded) = match judge.columns.is_empty() {
            true => (Vec::new(), Vec::new()),
            false => {
                let held = hold_first_rows(sql, &mut drained, &mut parser, cancel).await?;
                let names: Vec<&str> = sql.columns.iter().map(|c| c.name.as_str()).collect();
                let excluded = judge
                    .verdicts(&names, &held)
                    .with_context(|| format!("judging the content of {}", sql.name))?;
                (held, excluded)
            }
        };
        let kept = Kept::new(sql, &excluded);
        let sql = kept.sql.as_ref().unwrap_or(sql);
        let renderer = RowRenderer::new(sql.mode, &sql.typed_columns()).as_csv(writer.writes_csv());
        let mut parquet = match writer.writes_parquet() {
            true => Some(ParquetSection::new(&sql.columns)?),
            false => None,
        };
        let (mut rows, mut reported) = (0u64, 0u64);
        let mut redacted = Vec::new();
        let start_bytes = writer.json_bytes();
        writer.begin_section(&sql.name, first).await?;
        if let Some(header) = renderer.csv_header() {
            writer.append(|buf| buf.extend_from_slice(&header)).await?;
        }
        for row in held {
            let to = (&renderer, &mut parquet);
            self.render_row(sql, to, kept.row(row)?, writer, &mut redacted)
                .await?;
            rows += 1;
        }
        while let Some(batch) = next_batch(sql, &mut drained, cancel).await? {
            for chunk in batch {
                parser.push(chunk);
                while let Some(row) = parser.next_row()? {
                    let to = (&renderer, &mut parquet);
                    self.render_row(sql, to, kept.row(row)?, writer, &mut redacted)
                        .await?;
                    rows += 1;
                }
                if rows >= reported + 4096 {
                    reported = rows;
                    on_rows(rows, writer.json_bytes() - start_bytes);
                }
            }
        }
        if !parser.finished() {
            bail!("reading {}: the COPY stream ended early", sql.name);
        }
        if let Some(file) = parquet {
            let rest = file
                .finish()
                .with_context(|| format!("writing {}", sql.name))?;
            writer.append_bytes(&rest).await?;
        }
        writer.end_section(whole).await?;
        on_rows(rows, writer.json_bytes() - start_bytes);
        let read = drained.ended_at().await.unwrap_or_else(Instant::now);
        Ok(Streamed {
            rows,
            redacted,
            excluded,
            read: read.duration_since(started),
            total: started.elapsed(),
        })
    }

    /// Renders one row (as [`crate::export::copy::BinaryRows`] yields it) into the writer, or
    /// into the section's Parquet file when there is one.
    async fn render_row<S: ChunkSink>(
        &self,
        sql: &SectionSql,
        (renderer, parquet): (&RowRenderer, &mut Option<ParquetSection>),
        row: Bytes,
        writer: &mut ArchiveWriter<S>,
        redacted: &mut Vec<String>,
    ) -> anyhow::Result<()> {
        if let Some(file) = parquet {
            return parquet_row(sql, file, &row, writer, redacted).await;
        }
        if row.len() > LARGE_VALUE {
            writer.begin_row();
            renderer
                .render_large(&row, writer, redacted)
                .await
                .with_context(|| format!("rendering a row of {}", sql.name))?;
            writer.end_row();
            return Ok(());
        }
        writer
            .row_with(|buf| {
                renderer
                    .render(&row, buf, redacted)
                    .with_context(|| format!("rendering a row of {}", sql.name))
            })
            .await
    }

    /// A query in the snapshot (`plan`'s look at polymorphic type values).
    pub async fn query(&self, sql: &str) -> anyhow::Result<Vec<tokio_postgres::Row>> {
        self.txn.query(sql, &[]).await.map_err(explain)
    }

    /// Ends the transaction (it wrote nothing; committing just releases the snapshot).
    pub async fn finish(self) -> anyhow::Result<()> {
        self.txn
            .commit()
            .await
            .context("closing the snapshot transaction")
    }
}

/// The rows held for judging: at most [`SAMPLE_ROWS`] (more when one batch brings more) or
/// [`HELD_BYTES`] of them, fewer when the section ends first.
async fn hold_first_rows(
    sql: &SectionSql,
    drained: &mut Drained,
    parser: &mut BinaryRows,
    cancel: &CancellationToken,
) -> anyhow::Result<Vec<Bytes>> {
    let (mut held, mut bytes) = (Vec::new(), 0);
    while held.len() < SAMPLE_ROWS && bytes < HELD_BYTES {
        let Some(batch) = next_batch(sql, drained, cancel).await? else {
            break;
        };
        for chunk in batch {
            parser.push(chunk);
            while let Some(row) = parser.next_row()? {
                bytes += row.len();
                held.push(row);
            }
        }
    }
    Ok(held)
}

/// The next batch of a section's COPY messages (`None` at its end); interruptible.
async fn next_batch(
    sql: &SectionSql,
    drained: &mut Drained,
    cancel: &CancellationToken,
) -> anyhow::Result<Option<Vec<Bytes>>> {
    let batch = tokio::select! {
        batch = drained.next() => batch,
        _ = cancel.cancelled() => return Err(fail(Kind::Interrupted, "interrupted")),
    };
    batch
        .transpose()
        .map_err(explain)
        .with_context(|| format!("reading {}", sql.name))
}

/// Bytes of rows held for judging at most (a single larger row is held whole: it is in
/// memory already).
const HELD_BYTES: usize = 4 << 20;

/// The columns a section writes once some were judged secret on its stream: the section's
/// SQL without them (for the renderer, the CSV header, the Parquet schema), and which of
/// the COPY's fields each row keeps.
struct Kept {
    sql: Option<SectionSql>,
    keep: Vec<bool>,
}

impl Kept {
    fn new(sql: &SectionSql, excluded: &[(String, String)]) -> Kept {
        if excluded.is_empty() {
            return Kept {
                sql: None,
                keep: Vec::new(),
            };
        }
        let keep: Vec<bool> = sql
            .columns
            .iter()
            .map(|c| !excluded.iter().any(|(name, _)| *name == c.name))
            .collect();
        let mut kept = sql.clone();
        kept.columns = sql
            .columns
            .iter()
            .zip(&keep)
            .filter(|(_, keep)| **keep)
            .map(|(c, _)| c.clone())
            .collect();
        Kept {
            sql: Some(kept),
            keep,
        }
    }

    /// The COPY row without the excluded columns' fields (as is when none is excluded).
    fn row(&self, row: Bytes) -> anyhow::Result<Bytes> {
        if self.sql.is_none() {
            return Ok(row);
        }
        let mut out = Vec::with_capacity(row.len());
        let kept = self.keep.iter().filter(|k| **k).count() as i16;
        out.extend_from_slice(&kept.to_be_bytes());
        for (value, keep) in fields(&row).zip(&self.keep) {
            match value? {
                _ if !keep => {}
                Some(value) => {
                    out.extend_from_slice(&(value.len() as i32).to_be_bytes());
                    out.extend_from_slice(value);
                }
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            }
        }
        Ok(Bytes::from(out))
    }
}

/// `--format parquet`: buffers one row into the section's file, and writes a row group when
/// enough is gathered.
async fn parquet_row<S: ChunkSink>(
    sql: &SectionSql,
    file: &mut ParquetSection,
    row: &[u8],
    writer: &mut ArchiveWriter<S>,
    redacted: &mut Vec<String>,
) -> anyhow::Result<()> {
    file.push(row, redacted)
        .with_context(|| format!("writing a row of {} as Parquet", sql.name))?;
    if file.is_full() {
        let group = file
            .write_group()
            .with_context(|| format!("writing {}", sql.name))?;
        writer.append_bytes(&group).await?;
    }
    Ok(())
}

/// A database error with what it means for the operator.
fn explain(err: tokio_postgres::Error) -> anyhow::Error {
    let hint = match err.code() {
        Some(c) if *c == SqlState::LOCK_NOT_AVAILABLE => Some(
            "another session holds a conflicting lock on the table (DDL or maintenance?); retry later or raise lock_timeout",
        ),
        Some(c) if *c == SqlState::QUERY_CANCELED => Some(
            "the statement was cancelled (statement_timeout reached?); raise statement_timeout",
        ),
        Some(c) if *c == SqlState::ADMIN_SHUTDOWN || *c == SqlState::CRASH_SHUTDOWN => {
            Some("the server ended the session (pg_terminate_backend or a shutdown)")
        }
        Some(c) if *c == SqlState::IDLE_IN_TRANSACTION_SESSION_TIMEOUT => Some(
            "the server ended the idle snapshot (idle_in_transaction_timeout); was the store stalled?",
        ),
        _ if err.is_closed() => Some("the connection to the server was lost"),
        _ => None,
    };
    if let Some(db) = err.as_db_error()
        && *db.code() == SqlState::INSUFFICIENT_PRIVILEGE
        && db.message().contains("row-level security")
    {
        // "query would be affected by row-level security policy for table \"x\""
        let table = db
            .message()
            .rsplit('"')
            .nth(1)
            .unwrap_or("a table")
            .to_string();
        return anyhow::anyhow!(crate::scope::model::row_security_message(&table));
    }
    let message = match err.as_db_error() {
        Some(db) => db.message().to_string(),
        None => err.to_string(),
    };
    match hint {
        Some(hint) => anyhow::anyhow!("{message} [{hint}]"),
        None => anyhow::Error::new(err),
    }
}

/// `REPEATABLE READ, READ ONLY`: every reader of an export reads one point in time.
async fn read_only_transaction(
    client: &mut Client,
) -> Result<tokio_postgres::Transaction<'_>, tokio_postgres::Error> {
    client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
}
