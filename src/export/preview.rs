//! What `run` would write, without writing it (`orgexport plan`): the selected sections with
//! their row counts — exact, in one snapshot, or the catalog's estimates — the rows owned by
//! two orgs, and the `polymorphic = […]` config lines for the pairs found, with the type
//! values of the org's own in-scope rows only (never another org's). The scope computation —
//! pairs adopted for the org included — is `run`'s own; how the preview is shown is the
//! command's.

use tokio_util::sync::CancellationToken;

use crate::db::connect::Db;
use crate::error::{Kind, kind_of};
use crate::export::adoption::{adopt_for_org, pair_values};
use crate::export::content::count_and_check;
use crate::export::locks::ReadLocks;
use crate::export::narrowing::narrowed_planner;
use crate::export::snapshot::Snapshot;
use crate::org::{self, Org};
use crate::output::Reporter;
use crate::scope::catalog::Catalog;
use crate::scope::columns::RenderMode;
use crate::scope::key_values::KeyValues;
use crate::scope::model::{Scope, Section};
use crate::scope::plan::{OrgKey, Planner};
use crate::scope::polymorphism::{PairValues, adopted_entry, config_line};

/// One section of the preview: its rows (`None`: unknown) and cross-tenant rows.
pub struct PreviewSection {
    pub section: Section,
    pub rows: Option<i64>,
    pub cross_tenant_rows: Option<u64>,
    /// Columns the org's sampled rows show to be secrets: `(column, reason)` (not with
    /// `--estimate`, which reads no rows).
    pub content_excluded: Vec<(String, String)>,
    /// A key/value settings section: the org's secret keys and the values redacted.
    pub redacted: Option<KeyValues>,
}

pub struct Preview {
    /// The scope previewed: the configured one, with the pairs adopted for this org
    /// (`infer_references`).
    pub scope: Scope,
    pub sections: Vec<PreviewSection>,
    /// Where the row counts come from, in words.
    pub rows_source: &'static str,
    /// The scope's warnings, plus one per section with cross-tenant rows.
    pub warnings: Vec<String>,
    /// Config lines the schema does not declare: inferred references and polymorphic pairs.
    pub proposals: Vec<String>,
    /// Tables not exported and why (the scope's, plus those `--tables` leaves out).
    pub skipped: Vec<(String, String)>,
}

/// How to count: the catalog's estimates, or exactly in one snapshot.
pub struct Counting<'a> {
    pub estimate: bool,
    pub render: RenderMode,
    pub report: &'a Reporter,
    pub cancel: &'a CancellationToken,
    /// Another session than the counting one: who blocks the snapshot's table locks.
    pub observer: &'a tokio_postgres::Client,
}

/// The preview of an export of `org`.
pub async fn preview(
    db: &mut Db,
    catalog: &Catalog,
    scope: &Scope,
    org: &Org,
    counting: &Counting<'_>,
) -> anyhow::Result<Preview> {
    if counting.estimate {
        let sections = scope
            .selected(catalog)
            .into_iter()
            .map(|section| PreviewSection {
                section: section.clone(),
                rows: catalog.table(section.table).estimated_rows,
                cross_tenant_rows: None,
                content_excluded: Vec::new(),
                redacted: None,
            })
            .collect();
        let mut proposals = scope.proposals.clone();
        proposals.extend(polymorphic_proposals(catalog, scope, None));
        return Ok(Preview {
            scope: scope.clone(),
            sections,
            rows_source: "pg_class.reltuples (whole table, not just the org)",
            warnings: scope.warnings.clone(),
            proposals,
            skipped: skipped(catalog, scope),
        });
    }
    let planner = Planner::new(catalog, scope);
    let key = org::key_for(&db.client, &planner, &org.key).await?;
    let counted = count_in_snapshot(db, catalog, scope, (&key, org), counting).await?;
    let scope = counted.scope;
    let mut warnings = scope.warnings.clone();
    let mut proposals = scope.proposals.clone();
    proposals.extend(adopted_lines(&scope));
    proposals.extend(polymorphic_proposals(
        catalog,
        &scope,
        Some(&counted.values),
    ));
    let selected = scope.selected(catalog);
    let sections = selected
        .into_iter()
        .zip(counted.counts)
        .zip(counted.content)
        .map(|((section, (total, cross_tenant_rows)), (content_excluded, redacted))| {
            if let Some(n) = cross_tenant_rows.filter(|n| *n > 0) {
                warnings.push(format!(
                    "{}: {n} row(s) are owned by this org and another one at once; they are exported in neither (cross_tenant_rows)",
                    catalog.table(section.table).qualified_name()
                ));
            }
            PreviewSection {
                section: section.clone(),
                rows: Some(total as i64),
                cross_tenant_rows,
                content_excluded,
                redacted,
            }
        })
        .collect();
    Ok(Preview {
        skipped: skipped(catalog, &scope),
        scope,
        sections,
        rows_source: "exact count in one snapshot",
        warnings,
        proposals,
    })
}

/// The pairs adopted for this org by `infer_references = true`, as the config lines that
/// would pin them.
fn adopted_lines(scope: &Scope) -> Vec<String> {
    if scope.adopted.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "# adopted by infer_references = true from this org's own type values ({} pair(s)); to pin them:",
        scope.adopted.len()
    )];
    lines.push("polymorphic = [".to_string());
    lines.extend(scope.adopted.iter().cloned());
    lines.push("]".to_string());
    lines
}

/// The tables not exported, with the reason: the scope's, then those `--tables` leaves out.
fn skipped(catalog: &Catalog, scope: &Scope) -> Vec<(String, String)> {
    let mut skipped: Vec<(String, String)> = scope
        .skipped
        .iter()
        .map(|s| (catalog.table(s.table).qualified_name(), s.reason.clone()))
        .collect();
    skipped.extend(
        scope
            .sections
            .iter()
            .filter(|s| !scope.is_selected(catalog, s))
            .map(|s| {
                (
                    catalog.table(s.table).qualified_name(),
                    "in scope, but not selected by --tables".to_string(),
                )
            }),
    );
    skipped
}

/// `polymorphic = [...]` lines for the pairs not configured nor adopted, with targets mapped
/// from the org's own type values (`MergeRequest` → the `merge_requests` table). A pair whose
/// values name no table is not proposed (an OAuth `client_type` beside `client_id`); with no
/// values read (`--estimate`), every pair is listed with its targets to fill in.
fn polymorphic_proposals(
    catalog: &Catalog,
    scope: &Scope,
    values: Option<&[PairValues]>,
) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, pair) in scope.polymorphic_pairs.iter().enumerate() {
        let table = catalog.table(pair.table);
        let line = match values.and_then(|v| v.get(i)) {
            Some(found) => match adopted_entry(catalog, pair, found) {
                Some(entry) => config_line(&entry, found),
                None => continue,
            },
            None => format!(
                "  {{ column = \"{}.{}\", type_column = \"{}\", targets = {{ }} }},",
                table.qualified_name(),
                pair.id_column,
                pair.type_column,
            ),
        };
        lines.push(line);
    }
    if lines.is_empty() {
        return lines;
    }
    lines.insert(0, "polymorphic = [".to_string());
    lines.push("]".to_string());
    lines
}

/// What the snapshot found: the scope (pairs adopted for the org), per selected section
/// (rows, cross-tenant rows) and the columns excluded by content, and the type values of the
/// org's rows per remaining polymorphic pair.
struct CountedPreview {
    scope: Scope,
    counts: Vec<(u64, Option<u64>)>,
    values: Vec<PairValues>,
    content: Vec<ContentFound>,
}

/// Per section: the columns excluded by content, and the settings values redacted.
type ContentFound = (Vec<(String, String)>, Option<KeyValues>);

/// Counts in one snapshot. Ctrl-C while a count runs cancels it server-side, not just
/// locally.
async fn count_in_snapshot(
    db: &mut Db,
    catalog: &Catalog,
    scope: &Scope,
    key: (&OrgKey, &Org),
    counting: &Counting<'_>,
) -> anyhow::Result<CountedPreview> {
    let counted = count_sections(&mut db.client, catalog, scope, key, counting).await;
    if let Err(err) = &counted
        && kind_of(err) == Kind::Interrupted
    {
        db.cancel_running().await;
    }
    counted
}

async fn count_sections(
    client: &mut tokio_postgres::Client,
    catalog: &Catalog,
    scope: &Scope,
    (key, org): (&OrgKey, &Org),
    counting: &Counting<'_>,
) -> anyhow::Result<CountedPreview> {
    let cancel = counting.cancel;
    let locks = ReadLocks::of(catalog, scope);
    let snapshot =
        Snapshot::begin(client, &locks, counting.observer, counting.report, cancel).await?;
    let scope = adopt_for_org(&snapshot, catalog, scope, key)
        .await?
        .unwrap_or_else(|| scope.clone());
    // `--subject`, `--since`/`--until`: the counts are the narrowed export's.
    let selected = scope.selected_sections(catalog)?;
    let planner = narrowed_planner(&snapshot, (catalog, &scope), &selected, key, org).await?;
    let mut counts = Vec::with_capacity(selected.len());
    let mut checked = Vec::with_capacity(selected.len());
    for section in &selected {
        let sql = planner.section_sql(section, key, None, counting.render);
        counting
            .report
            .verbose(&format!("{}: {}", sql.name, sql.count));
        let (total, written) = count_and_check(
            &snapshot,
            catalog,
            &scope,
            &planner,
            key,
            section,
            (&sql, cancel),
        )
        .await?;
        // The content sample reads the whole org's rows; a narrowed section counts its own.
        let total = match &planner.narrowing {
            Some(_) => snapshot.count(&sql, &sql.count, cancel).await?,
            None => total,
        };
        checked.push(written);
        let cross_tenant = match &sql.candidates {
            Some(query) => Some(
                snapshot
                    .count(&sql, query, cancel)
                    .await?
                    .saturating_sub(total),
            ),
            None => None,
        };
        counts.push((total, cross_tenant));
    }
    let values = pair_values(&snapshot, catalog, &scope, &planner, key).await?;
    let content = selected
        .iter()
        .zip(&checked)
        .map(|(before, after)| {
            let excluded = after
                .exclusion_reasons
                .iter()
                .filter(|(c, _)| !before.excluded_columns.contains(c))
                .cloned()
                .collect();
            (excluded, after.key_values.clone())
        })
        .collect();
    snapshot.finish().await?;
    Ok(CountedPreview {
        scope,
        counts,
        values,
        content,
    })
}
