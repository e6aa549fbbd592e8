//! How many rows each section will hold, for the progress bars and their ETA (the exact
//! counts come only from reading): the planner's estimate of the section's own query
//! (`EXPLAIN`, no execution) for the biggest tables, the table's `pg_class.reltuples` (every
//! org's rows: too many, but small) for the rest. Inside the snapshot, under a savepoint, so
//! that an estimate that fails costs the export nothing but its bar.

use std::collections::{HashMap, HashSet};

use crate::export::snapshot::Snapshot;
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::model::{EdgeKind, Section};
use crate::scope::plan::{OrgKey, Planner};

/// Sections planned with EXPLAIN, the biggest tables first (≈1 ms each; one per section of
/// a thousand-table catalog would cost more than the progress is worth).
const EXPLAINED: usize = 50;

/// Each section's estimated rows, capped at `max_rows`; `None` where there is none.
pub async fn section_estimates(
    snapshot: &Snapshot<'_>,
    catalog: &Catalog,
    planner: &Planner<'_>,
    key: &OrgKey,
    sections: &[Section],
    max_rows: Option<u64>,
) -> Vec<Option<u64>> {
    let table_rows: Vec<Option<i64>> = sections
        .iter()
        .map(|s| catalog.table(s.table).estimated_rows)
        .collect();
    // Unknown sizes (never analyzed) count as big.
    let mut by_size: Vec<usize> = (0..sections.len()).collect();
    by_size.sort_by_key(|&i| std::cmp::Reverse(table_rows[i].unwrap_or(i64::MAX)));
    let explained: Vec<usize> = by_size.into_iter().take(EXPLAINED).collect();
    let mut estimates = Vec::with_capacity(sections.len());
    // Not on Citus: an EXPLAIN there may execute a reference table's placement locally, and
    // a transaction that did cannot later read that table through the coordinator ("cannot
    // switch local execution status").
    let mut planning =
        catalog.citus.is_none() && snapshot.query("SAVEPOINT orgexport_estimate").await.is_ok();
    for (i, section) in sections.iter().enumerate() {
        let whole_table = table_rows[i].map(|n| n as u64);
        let estimate = match whole_table {
            Some(0) => Some(0),
            _ if planning && explained.contains(&i) => {
                let sql = planner.all_rows_sql(section.table, key, "1");
                match explain_rows(snapshot, &sql).await {
                    Some(rows) => Some(rows),
                    None => {
                        planning = false;
                        let _ = snapshot
                            .query("ROLLBACK TO SAVEPOINT orgexport_estimate")
                            .await;
                        whole_table
                    }
                }
            }
            _ => whole_table,
        };
        estimates.push(estimate.map(|n| max_rows.map_or(n, |cap| n.min(cap))));
    }
    if planning {
        let _ = snapshot.query("RELEASE SAVEPOINT orgexport_estimate").await;
    }
    estimates
}

/// The top plan node's row estimate.
async fn explain_rows(snapshot: &Snapshot<'_>, sql: &str) -> Option<u64> {
    let rows = snapshot
        .query(&format!("EXPLAIN (FORMAT JSON) {sql}"))
        .await
        .ok()?;
    let plan: serde_json::Value = rows.first()?.get(0);
    plan[0]["Plan"]["Plan Rows"].as_f64().map(|n| n as u64)
}

/// Referenced tables whose rows this org's referencing rows outnumber: a table of at least
/// [`OUTNUMBERED_FROM`] rows that several references bring keys into, where the planner's
/// estimates of the referencing sections' rows (`EXPLAIN`, no execution; each section once)
/// add up to the table's `reltuples` or more. Their keys are then one `UNION` (sized by the
/// planner at the sum of its inputs: a scan of the table with a merge or hash join) rather
/// than the `UNION ALL` that suits a few keys in a big table (sized at 200: index probes).
/// `shared`'s users section: 601 → 313 ms of server time, the hand-written SQL's 322 (issue 21).
/// Nothing on Citus (see [`section_estimates`]) or when an `EXPLAIN` fails.
pub async fn outnumbered(
    snapshot: &Snapshot<'_>,
    catalog: &Catalog,
    planner: &Planner<'_>,
    key: &OrgKey,
    sections: &[&Section],
) -> HashSet<TableId> {
    let scope = planner.scope();
    let candidates: Vec<(TableId, i64, Vec<TableId>)> = sections
        .iter()
        .filter_map(|s| {
            let rows = catalog.table(s.table).estimated_rows?;
            let sources: Vec<TableId> = scope
                .incoming(s.table)
                .filter(|e| e.kind == EdgeKind::References)
                .map(|e| e.source)
                .collect();
            (rows >= OUTNUMBERED_FROM && sources.len() > 1).then_some((s.table, rows, sources))
        })
        .collect();
    let mut found = HashSet::new();
    if candidates.is_empty()
        || catalog.citus.is_some()
        || snapshot
            .query("SAVEPOINT orgexport_outnumbered")
            .await
            .is_err()
    {
        return found;
    }
    let mut rows_of: HashMap<TableId, Option<u64>> = HashMap::new();
    'tables: for (table, rows, sources) in candidates {
        let mut referencing = 0u64;
        for source in sources {
            let estimate = match rows_of.get(&source) {
                Some(&estimate) => estimate,
                None => {
                    let sql = planner.all_rows_sql(source, key, "1");
                    let estimate = explain_rows(snapshot, &sql).await;
                    rows_of.insert(source, estimate);
                    estimate
                }
            };
            let Some(estimate) = estimate else {
                // A failed EXPLAIN aborted the savepoint: keep what was found.
                let _ = snapshot
                    .query("ROLLBACK TO SAVEPOINT orgexport_outnumbered")
                    .await;
                break 'tables;
            };
            referencing += estimate;
        }
        if referencing >= rows as u64 {
            found.insert(table);
        }
    }
    let _ = snapshot
        .query("RELEASE SAVEPOINT orgexport_outnumbered")
        .await;
    found
}

/// Referenced tables smaller than this are left to `UNION ALL` without an estimate: either
/// form is quick there.
const OUTNUMBERED_FROM: i64 = 10_000;
