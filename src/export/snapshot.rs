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
                "SELECT set_config($1, $2, true), \
                        to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), \
                        split_part(current_setting('server_version'), ' ', 1)",
                &[&ORG_KEY_SETTING, &org_key],
            )
            .await
            .context("taking the snapshot")?;
        Ok(Snapshot {
            snapshot_at: row.get(1),
            server_version: row.get(2),
            txn,
        })
    }

    pub async fn count(&self, sql: &SectionSql) -> anyhow::Result<u64> {
        let row = self
            .txn
            .query_one(&sql.count, &[])
            .await
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
            let chunk = chunk.with_context(|| format!("reading {}", sql.name))?;
            parser.push(&chunk);
            while let Some(row) = parser.next_row()? {
                writer.row(&row).await?;
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
