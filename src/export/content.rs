//! Secrets by content, for one org, inside its snapshot (DESIGN §3): each selected section's
//! text and bytea columns are sampled from the org's own in-scope rows — one bounded query
//! per table — and the columns judged secret are excluded from what is written. Which
//! columns, the query and the judgement are `scope::sampling`'s; `run` and `plan` share this.
//! Key/value settings sections get the org's secret keys here too (`scope::key_values`).

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};

use crate::db::quote_ident;
use crate::export::judging::ToJudge;
use crate::export::snapshot::Snapshot;
use crate::scope::catalog::{Catalog, Column};
use crate::scope::columns::ValueKind;
use crate::scope::model::{Scope, Section};
use crate::scope::plan::{OrgKey, Planner, SectionSql};
use crate::scope::sampling::{
    count_and_sample_sql, exclude_by_content, sample_sql, sampled_columns,
};
use tokio_util::sync::CancellationToken;

/// The sections as they will be written: each with the columns its sampled content shows to
/// be secrets moved to `excluded_columns` (with the reason) — or, with `on_stream` (rows
/// rendered from their binary form), the columns to judge on the section's first rows as
/// its COPY streams them ([`ToJudge`]), when every sampled column arrives as its text or
/// bytes: no sample query then (a thousand of them were half the server's time on a
/// thousand-table catalog, issue 21).
pub async fn exclude_secret_content(
    snapshot: &Snapshot<'_>,
    catalog: &Catalog,
    scope: &Scope,
    planner: &Planner<'_>,
    key: &OrgKey,
    (sections, on_stream): (&[&Section], bool),
) -> anyhow::Result<Vec<(Section, ToJudge)>> {
    // Pipelined (sent without waiting for the previous answer): on a thousand-table
    // catalog the round trips, not the queries, were the samples' cost (issue 21).
    let judged = sections.iter().map(|&section| async move {
        let section = with_secret_keys(snapshot, planner, key, section).await?;
        let columns = sampled_columns(catalog, scope, &section);
        if columns.is_empty() {
            return anyhow::Ok((section, ToJudge::default()));
        }
        let as_stored = |c: &&Column| {
            matches!(
                ValueKind::of(c.type_oid),
                ValueKind::Text | ValueKind::Bytea
            )
        };
        if on_stream && columns.iter().all(as_stored) {
            let columns = columns.into_iter().cloned().collect();
            return Ok((section, ToJudge { columns }));
        }
        let sql = sample_sql(planner, &section, key, &columns);
        let rows = sampled_rows(&snapshot.query(&sql).await?, 0, columns.len());
        Ok((
            exclude_by_content(&section, &columns, &rows),
            ToJudge::default(),
        ))
    });
    futures_util::stream::iter(judged)
        .buffered(PIPELINED)
        .try_collect()
        .await
}

/// Sample queries in flight at once.
const PIPELINED: usize = 32;

/// `plan`'s version: a section's exact count and the section as it will be written, its
/// sample read in the count's own statement (on a thousand-table catalog, a separate sample
/// query per table nearly doubled `plan`'s time).
pub async fn count_and_check(
    snapshot: &Snapshot<'_>,
    catalog: &Catalog,
    scope: &Scope,
    planner: &Planner<'_>,
    key: &OrgKey,
    section: &Section,
    counting: (&SectionSql, &CancellationToken),
) -> anyhow::Result<(u64, Section)> {
    let (sql, cancel) = counting;
    let section = with_secret_keys(snapshot, planner, key, section).await?;
    let columns = sampled_columns(catalog, scope, &section);
    if columns.is_empty() {
        let total = snapshot.count(sql, &sql.count, cancel).await?;
        return Ok((total, section));
    }
    let found = snapshot.query(&count_and_sample_sql(sql, &columns)).await?;
    let row = found.first().context("a count returns one row")?;
    let total = row.get::<_, i64>(0) as u64;
    // One array per column (NULL when the section has no rows), turned into sample rows.
    let arrays: Vec<Vec<Option<Vec<u8>>>> = (1..=columns.len())
        .map(|i| match row.try_get::<_, Option<Vec<Option<String>>>>(i) {
            Ok(texts) => texts
                .unwrap_or_default()
                .into_iter()
                .map(|t| t.map(String::into_bytes))
                .collect(),
            Err(_) => row
                .get::<_, Option<Vec<Option<Vec<u8>>>>>(i)
                .unwrap_or_default(),
        })
        .collect();
    let n = arrays.first().map_or(0, Vec::len);
    let rows: Vec<Vec<Option<Vec<u8>>>> = (0..n)
        .map(|r| arrays.iter().map(|a| a.get(r).cloned().flatten()).collect())
        .collect();
    Ok((total, exclude_by_content(&section, &columns, &rows)))
}

/// Columns `from..from + n` of each row.
fn sampled_rows(rows: &[tokio_postgres::Row], from: usize, n: usize) -> Vec<Vec<Option<Vec<u8>>>> {
    rows.iter()
        .map(|row| (from..from + n).map(|i| sampled_value(row, i)).collect())
        .collect()
}

/// A key/value section with the org's secret keys judged (secrets by row): every distinct
/// key of its in-scope rows is read — not a sample, so that no secret key is missed.
async fn with_secret_keys(
    snapshot: &Snapshot<'_>,
    planner: &Planner<'_>,
    key: &OrgKey,
    section: &Section,
) -> anyhow::Result<Section> {
    let Some(kv) = &section.key_values else {
        return Ok(section.clone());
    };
    let expr = format!("t.{}::text", quote_ident(&kv.key_column));
    let keys: Vec<(String, i64)> = snapshot
        .query(&planner.grouped_sql(section.table, key, &expr))
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    Ok(Section {
        key_values: Some(kv.judged(&keys)),
        ..section.clone()
    })
}

/// A sampled value's bytes: text as UTF-8, bytea as is.
fn sampled_value(row: &tokio_postgres::Row, i: usize) -> Option<Vec<u8>> {
    match row.try_get::<_, Option<String>>(i) {
        Ok(text) => text.map(String::into_bytes),
        Err(_) => row.get::<_, Option<Vec<u8>>>(i),
    }
}
