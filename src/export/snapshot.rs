//! The one `REPEATABLE READ, READ ONLY` transaction every section is read in: one consistent
//! point in time, so the counts in the leading manifest are exactly the rows that follow.

use anyhow::{Context, bail};
use futures_util::StreamExt;
use tokio_postgres::{Client, IsolationLevel, Transaction};
use tokio_util::sync::CancellationToken;

use crate::error::{Kind, fail};
use crate::export::archive::{ArchiveWriter, ChunkSink};
use crate::export::copy::BinaryRows;
use crate::scope::plan::{ORG_KEY_SETTING, SectionSql};

pub struct Snapshot<'c> {
    txn: Transaction<'c>,
    /// When the snapshot was taken (RFC 3339, UTC, milliseconds).
    pub snapshot_at: String,
    pub server_version: String,
}

impl<'c> Snapshot<'c> {
    /// Opens the transaction and binds the org key for the generated predicates.
    pub async fn begin(client: &'c mut Client, org_key: &str) -> anyhow::Result<Snapshot<'c>> {
        let txn = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .context("starting the snapshot transaction")?;
        // The first statement takes the snapshot; clock_timestamp() is as close to it as we get.
        let row = txn
            .query_one(
                "SELECT set_config($1, $2, true), set_config('TimeZone', 'UTC', true), \
                        to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
                        split_part(current_setting('server_version'), ' ', 1)",
                &[&ORG_KEY_SETTING, &org_key],
            )
            .await
            .context("taking the snapshot")?;
        Ok(Snapshot {
            snapshot_at: row.get(2),
            server_version: row.get(3),
            txn,
        })
    }

    /// The section's row count in this snapshot. Interruptible: on cancel the query is
    /// abandoned (the session ends with the process, which ends the query).
    pub async fn count(&self, sql: &SectionSql, cancel: &CancellationToken) -> anyhow::Result<u64> {
        let row = tokio::select! {
            row = self.txn.query_one(&sql.count, &[]) => row,
            _ = cancel.cancelled() => return Err(fail(Kind::Interrupted, "interrupted")),
        };
        let row = row
            .map_err(explain)
            .with_context(|| format!("counting {}", sql.name))?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    /// Streams one section's rows into the writer; returns how many were written. `on_rows`
    /// is told the running total now and then (progress).
    pub async fn stream<S: ChunkSink>(
        &self,
        sql: &SectionSql,
        writer: &mut ArchiveWriter<S>,
        cancel: &CancellationToken,
        mut on_rows: impl FnMut(u64),
    ) -> anyhow::Result<u64> {
        let stream = self
            .txn
            .copy_out(&sql.copy)
            .await
            .map_err(explain)
            .with_context(|| format!("reading {}", sql.name))?;
        let mut stream = std::pin::pin!(stream);
        let mut parser = BinaryRows::new();
        let mut rows = 0u64;
        writer.begin_section(&sql.name).await?;
        loop {
            let chunk = tokio::select! {
                chunk = stream.next() => chunk,
                _ = cancel.cancelled() => return Err(fail(Kind::Interrupted, "interrupted")),
            };
            let Some(chunk) = chunk else { break };
            let chunk = chunk
                .map_err(explain)
                .with_context(|| format!("reading {}", sql.name))?;
            parser.push(&chunk);
            while let Some(row) = parser.next_row()? {
                writer
                    .row_with(|buf| {
                        sql.renderer
                            .render(&row, buf)
                            .with_context(|| format!("rendering a row of {}", sql.name))
                    })
                    .await?;
                rows += 1;
                if rows.is_multiple_of(4096) {
                    on_rows(rows);
                }
            }
        }
        if !parser.finished() {
            bail!("reading {}: the COPY stream ended early", sql.name);
        }
        writer.end_section().await?;
        on_rows(rows);
        Ok(rows)
    }

    /// Ends the transaction (it wrote nothing; committing just releases the snapshot).
    pub async fn finish(self) -> anyhow::Result<()> {
        self.txn
            .commit()
            .await
            .context("closing the snapshot transaction")
    }
}

/// A database error with what it means for the operator.
fn explain(err: tokio_postgres::Error) -> anyhow::Error {
    use tokio_postgres::error::SqlState;
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
    let message = match err.as_db_error() {
        Some(db) => db.message().to_string(),
        None => err.to_string(),
    };
    match hint {
        Some(hint) => anyhow::anyhow!("{message} [{hint}]"),
        None => anyhow::Error::new(err),
    }
}
