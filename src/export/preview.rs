//! What `run` would write, without writing it (`orgexport plan`): the selected sections with
//! their row counts — exact, in one snapshot, or the catalog's estimates — the rows owned by
//! two orgs, and the `polymorphic = […]` config lines for the `*_type`/`*_id` pairs found. The
//! scope computation is `run`'s own; how the preview is shown is the command's.

use tokio_util::sync::CancellationToken;

use crate::db::connect::Db;
use crate::db::quote_ident;
use crate::error::{Kind, kind_of};
use crate::export::content::exclude_secret_content;
use crate::export::locks::ReadLocks;
use crate::export::snapshot::Snapshot;
use crate::org::{self, Org};
use crate::output::Reporter;
use crate::scope::catalog::Catalog;
use crate::scope::columns::RenderMode;
use crate::scope::model::{Scope, Section};
use crate::scope::plan::{OrgKey, Planner};
use crate::scope::references::table_for_class;

/// One section of the preview: its rows (`None`: unknown) and cross-tenant rows.
pub struct PreviewSection<'s> {
    pub section: &'s Section,
    pub rows: Option<i64>,
    pub cross_tenant_rows: Option<u64>,
    /// Columns the org's sampled rows show to be secrets: `(column, reason)` (not with
    /// `--estimate`, which reads no rows).
    pub content_excluded: Vec<(String, String)>,
}

pub struct Preview<'s> {
    pub sections: Vec<PreviewSection<'s>>,
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
pub async fn preview<'s>(
    db: &mut Db,
    catalog: &Catalog,
    scope: &'s Scope,
    org: &Org,
    counting: &Counting<'_>,
) -> anyhow::Result<Preview<'s>> {
    let planner = Planner::new(catalog, scope);
    let mut warnings = scope.warnings.clone();
    let mut proposals = scope.proposals.clone();
    let sections = if counting.estimate {
        proposals.extend(polymorphic_proposals(catalog, scope, None));
        scope
            .selected(catalog)
            .into_iter()
            .map(|section| PreviewSection {
                section,
                rows: catalog.table(section.table).estimated_rows,
                cross_tenant_rows: None,
                content_excluded: Vec::new(),
            })
            .collect()
    } else {
        let selected = scope.selected_sections(catalog)?;
        let key = org::key_for(&db.client, &planner, &org.key).await?;
        let what = Counted {
            catalog,
            scope,
            planner: &planner,
            selected: &selected,
            key: &key,
        };
        let (counts, values, content) = count_in_snapshot(db, &what, counting).await?;
        proposals.extend(polymorphic_proposals(catalog, scope, Some(&values)));
        selected
            .into_iter()
            .zip(counts)
            .zip(content)
            .map(|((section, (total, cross_tenant_rows)), content_excluded)| {
                if let Some(n) = cross_tenant_rows.filter(|n| *n > 0) {
                    warnings.push(format!(
                        "{}: {n} row(s) are owned by this org and another one at once; they are exported in neither (cross_tenant_rows)",
                        catalog.table(section.table).qualified_name()
                    ));
                }
                PreviewSection {
                    section,
                    rows: Some(total as i64),
                    cross_tenant_rows,
                    content_excluded,
                }
            })
            .collect()
    };
    Ok(Preview {
        sections,
        rows_source: if counting.estimate {
            "pg_class.reltuples (whole table, not just the org)"
        } else {
            "exact count in one snapshot"
        },
        warnings,
        proposals,
        skipped: skipped(catalog, scope),
    })
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

/// `polymorphic = [...]` lines for the `*_type`/`*_id` pairs not configured, with targets
/// mapped from the type values found (`MergeRequest` → the `merge_requests` table).
fn polymorphic_proposals(
    catalog: &Catalog,
    scope: &Scope,
    values: Option<&[Vec<String>]>,
) -> Vec<String> {
    if scope.polymorphic_pairs.is_empty() {
        return Vec::new();
    }
    let mut lines = vec!["polymorphic = [".to_string()];
    for (i, pair) in scope.polymorphic_pairs.iter().enumerate() {
        let table = catalog.table(pair.table);
        let targets: Vec<String> = values
            .and_then(|v| v.get(i))
            .into_iter()
            .flatten()
            .map(|value| {
                let target = table_for_class(catalog, &table.schema, value)
                    .map(|t| catalog.table(t).qualified_name())
                    .unwrap_or_else(|| "schema.table".to_string());
                format!("{} = \"{target}\"", toml_key(value))
            })
            .collect();
        lines.push(format!(
            "  {{ column = \"{}.{}\", type_column = \"{}\", targets = {{ {} }} }},",
            table.qualified_name(),
            pair.id_column,
            pair.type_column,
            targets.join(", ")
        ));
    }
    lines.push("]".to_string());
    lines
}

/// A TOML key: bare when it can be, quoted otherwise (`"Ci::Build"`).
fn toml_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_string()
    } else {
        serde_json::to_string(key).unwrap_or_default()
    }
}

/// What is counted: the org's selected sections, and the scope's polymorphic pairs.
struct Counted<'a> {
    catalog: &'a Catalog,
    scope: &'a Scope,
    planner: &'a Planner<'a>,
    selected: &'a [&'a Section],
    key: &'a OrgKey,
}

/// Per section: (rows, cross-tenant rows) and the columns excluded by content; and the type
/// values of each polymorphic pair — all in one snapshot. Ctrl-C while a count runs cancels
/// it server-side, not just locally.
async fn count_in_snapshot(
    db: &mut Db,
    what: &Counted<'_>,
    counting: &Counting<'_>,
) -> anyhow::Result<Counts> {
    let counted = count_sections(&mut db.client, what, counting).await;
    if let Err(err) = &counted
        && kind_of(err) == Kind::Interrupted
    {
        db.cancel_running().await;
    }
    counted
}

/// Per section (rows, cross-tenant rows); type values per pair; per section the columns
/// excluded by content.
type Counts = (
    Vec<(u64, Option<u64>)>,
    Vec<Vec<String>>,
    Vec<Vec<(String, String)>>,
);

async fn count_sections(
    client: &mut tokio_postgres::Client,
    what: &Counted<'_>,
    counting: &Counting<'_>,
) -> anyhow::Result<Counts> {
    let Counted {
        catalog,
        scope,
        planner,
        selected,
        key,
    } = *what;
    let cancel = counting.cancel;
    let locks = ReadLocks::of(catalog, scope);
    let snapshot =
        Snapshot::begin(client, &locks, counting.observer, counting.report, cancel).await?;
    let mut counts = Vec::with_capacity(selected.len());
    for section in selected {
        let sql = planner.section_sql(section, key, None, counting.render);
        counting
            .report
            .verbose(&format!("{}: {}", sql.name, sql.count));
        let total = snapshot.count(&sql, &sql.count, cancel).await?;
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
    let mut values = Vec::new();
    for pair in &scope.polymorphic_pairs {
        let table = catalog.table(pair.table);
        let sql = format!(
            "SELECT DISTINCT {col}::text FROM {from} WHERE {col} IS NOT NULL ORDER BY 1 LIMIT 50",
            col = quote_ident(&pair.type_column),
            from = table.from_clause()
        );
        let found: Vec<String> = snapshot
            .query(&sql)
            .await?
            .iter()
            .map(|r| r.get::<_, String>(0))
            .collect();
        values.push(found);
    }
    let checked = exclude_secret_content(&snapshot, catalog, scope, planner, key, selected).await?;
    let content = selected
        .iter()
        .zip(&checked)
        .map(|(before, after)| {
            after
                .exclusion_reasons
                .iter()
                .filter(|(c, _)| !before.excluded_columns.contains(c))
                .cloned()
                .collect()
        })
        .collect();
    snapshot.finish().await?;
    Ok((counts, values, content))
}
