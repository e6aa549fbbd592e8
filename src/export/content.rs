//! Secrets by content, for one org, inside its snapshot (DESIGN §3): each selected section's
//! text and bytea columns are sampled from the org's own in-scope rows — one bounded query
//! per table — and the columns judged secret are excluded from what is written. Which
//! columns, the query and the judgement are `scope::sampling`'s; `run` and `plan` share this.

use futures_util::{StreamExt, TryStreamExt};

use crate::export::snapshot::Snapshot;
use crate::scope::catalog::Catalog;
use crate::scope::model::{Scope, Section};
use crate::scope::plan::{OrgKey, Planner};
use crate::scope::sampling::{exclude_by_content, sample_sql, sampled_columns};

/// The sections as they will be written: each with the columns its sampled content shows to
/// be secrets moved to `excluded_columns` (with the reason).
pub async fn exclude_secret_content(
    snapshot: &Snapshot<'_>,
    catalog: &Catalog,
    scope: &Scope,
    planner: &Planner<'_>,
    key: &OrgKey,
    sections: &[&Section],
) -> anyhow::Result<Vec<Section>> {
    // The queries are pipelined (sent without waiting for the previous answer): with a
    // thousand sections, round trips, not the queries, were their cost (issue 21).
    let judged = sections.iter().map(|&section| async move {
        let columns = sampled_columns(catalog, scope, section);
        if columns.is_empty() {
            return anyhow::Ok(section.clone());
        }
        let sql = sample_sql(planner, section, key, &columns);
        let rows: Vec<Vec<Option<Vec<u8>>>> = snapshot
            .query(&sql)
            .await?
            .iter()
            .map(|row| (0..columns.len()).map(|i| sampled_value(row, i)).collect())
            .collect();
        Ok(exclude_by_content(section, &columns, &rows))
    });
    futures_util::stream::iter(judged)
        .buffered(PIPELINED)
        .try_collect()
        .await
}

/// Sample queries in flight at once.
const PIPELINED: usize = 32;

/// A sampled value's bytes: text as UTF-8, bytea as is.
fn sampled_value(row: &tokio_postgres::Row, i: usize) -> Option<Vec<u8>> {
    match row.try_get::<_, Option<String>>(i) {
        Ok(text) => text.map(String::into_bytes),
        Err(_) => row.get::<_, Option<Vec<u8>>>(i),
    }
}
