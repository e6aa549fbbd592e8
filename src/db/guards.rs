//! Server-side limits on the tool's sessions (`lock_timeout`, `statement_timeout`,
//! `idle_in_transaction_session_timeout`), so that an export never waits forever behind DDL
//! nor holds its snapshot — and the locks DDL would wait for — forever. The values are
//! resolved by `config`; applying them to a session is here.

use std::time::Duration;

use anyhow::Context;

use crate::db::connect::Db;

/// Server-side limits on the export's sessions, so that an export never waits forever behind
/// DDL, nor holds its snapshot (and the locks DDL would wait for) forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guards {
    /// `lock_timeout`: how long a statement may wait for a table lock (e.g. behind DDL).
    pub lock_timeout: Duration,
    /// `statement_timeout`: the longest one statement (one section's COPY) may run; 0 = none.
    pub statement_timeout: Duration,
    /// `idle_in_transaction_session_timeout`: the server ends the snapshot if the tool stalls.
    pub idle_in_transaction_timeout: Duration,
}

impl Default for Guards {
    fn default() -> Self {
        Guards {
            lock_timeout: Duration::from_secs(10),
            statement_timeout: Duration::from_secs(6 * 3600),
            idle_in_transaction_timeout: Duration::from_secs(10 * 60),
        }
    }
}

impl Guards {
    /// Applies the session guards to a session.
    pub async fn apply(&self, db: &Db) -> anyhow::Result<()> {
        let ms = |d: std::time::Duration| d.as_millis().to_string();
        db.client
            .execute(
                "SELECT set_config('lock_timeout', $1, false), \
                        set_config('statement_timeout', $2, false), \
                        set_config('idle_in_transaction_session_timeout', $3, false)",
                &[
                    &ms(self.lock_timeout),
                    &ms(self.statement_timeout),
                    &ms(self.idle_in_transaction_timeout),
                ],
            )
            .await
            .context(
                "setting lock_timeout, statement_timeout and idle_in_transaction_session_timeout",
            )?;
        Ok(())
    }
}
