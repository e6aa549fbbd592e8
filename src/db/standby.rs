//! Whether a session reads a hot standby, and as of when its data is: the last replayed
//! commit's time (`pg_last_xact_replay_timestamp()`), which lags the primary by the replay
//! delay. For `plan`, which says so; the export's snapshot reads the same facts in the
//! statement that takes it (`export::snapshot`). Where history goes is not decided here.

use anyhow::Context;
use tokio_postgres::Client;

/// `Some(replay timestamp)` (RFC 3339, UTC) on a hot standby, `None` on a primary. A standby
/// that has replayed no commit since it started gives `"unknown"`.
pub async fn replay_timestamp(client: &Client) -> anyhow::Result<Option<String>> {
    let row = client
        .query_one(
            "SELECT pg_is_in_recovery(), \
                    to_char(pg_last_xact_replay_timestamp() AT TIME ZONE 'UTC', \
                            'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')",
            &[],
        )
        .await
        .context("asking whether the database is a hot standby")?;
    let standby: bool = row.get(0);
    let at: Option<String> = row.get(1);
    Ok(standby.then(|| at.unwrap_or_else(|| "unknown".to_string())))
}
