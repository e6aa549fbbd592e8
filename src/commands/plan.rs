//! `orgexport plan --org KEY`: what `run` would write, from the very same scope computation —
//! every table with its decision, row counts, excluded columns, and warnings.

use serde_json::json;

use crate::cli::PlanArgs;
use crate::commands::{connect_sessions, load_scope, read_history};
use crate::config::Settings;
use crate::db::quote_ident;
use crate::error::{Kind, fail, kind_of};
use crate::export::archive::{Counted, SectionManifest};
use crate::export::snapshot::Snapshot;
use crate::org;
use crate::output::Reporter;
use crate::scope::catalog::Catalog;
use crate::scope::model::{Scope, row_security_message};
use crate::scope::plan::Planner;
use crate::scope::references::table_for_class;

pub async fn run(
    settings: &Settings,
    args: &PlanArgs,
    cancel: tokio_util::sync::CancellationToken,
    report: Reporter,
) -> anyhow::Result<()> {
    let mut sessions = connect_sessions(settings).await?;
    read_history(&sessions.history, &report).await?;
    let (catalog, scope) = load_scope(&sessions.db, &settings.scope).await?;
    let planner = Planner::new(&catalog, &scope);
    let org = org::resolve(&sessions.db.client, &catalog, &scope, &planner, &args.org).await?;

    let selected: Vec<_> = scope
        .sections
        .iter()
        .filter(|s| scope.is_selected(&catalog, s))
        .collect();
    let mut rows = Vec::with_capacity(selected.len());
    let mut cross = Vec::with_capacity(selected.len());
    let mut warnings = scope.warnings.clone();
    let mut proposals = scope.proposals.clone();
    if args.estimate {
        for section in &selected {
            rows.push(catalog.table(section.table).estimated_rows);
            cross.push(None);
        }
        proposals.extend(polymorphic_proposals(&catalog, &scope, None));
    } else {
        if let Some(blocked) = selected
            .iter()
            .map(|s| catalog.table(s.table))
            .find(|t| t.row_security_blocks)
        {
            return Err(fail(
                Kind::ExportFailed,
                row_security_message(&blocked.qualified_name()),
            ));
        }
        let key = org::key_for(&sessions.db.client, &planner, &org.key).await?;
        let counted = count_in_snapshot(
            &mut sessions.db.client,
            &catalog,
            &scope,
            &planner,
            &selected,
            &key,
            settings,
            &report,
            &cancel,
        )
        .await;
        let (counts, values) = match counted {
            Ok(counted) => counted,
            Err(err) => {
                // Ctrl-C while a count runs: cancel it server-side, not just locally.
                if kind_of(&err) == Kind::Interrupted {
                    sessions.db.cancel_running().await;
                }
                return Err(err);
            }
        };
        for (total, cross_tenant, name) in counts {
            rows.push(Some(total as i64));
            if let Some(n) = cross_tenant.filter(|n| *n > 0) {
                warnings.push(format!(
                    "{name}: {n} row(s) are owned by this org and another one at once; they are exported in neither (cross_tenant_rows)"
                ));
            }
            cross.push(cross_tenant);
        }
        proposals.extend(polymorphic_proposals(&catalog, &scope, Some(&values)));
    }
    let rows_source = if args.estimate {
        "pg_class.reltuples (whole table, not just the org)"
    } else {
        "exact count in one snapshot"
    };

    let mut skipped: Vec<(String, String)> = scope
        .skipped
        .iter()
        .map(|s| (catalog.table(s.table).qualified_name(), s.reason.clone()))
        .collect();
    skipped.extend(
        scope
            .sections
            .iter()
            .filter(|s| !scope.is_selected(&catalog, s))
            .map(|s| {
                (
                    catalog.table(s.table).qualified_name(),
                    "in scope, but not selected by --tables".to_string(),
                )
            }),
    );

    if report.output.json {
        let sections: Vec<_> = selected
            .iter()
            .zip(rows.iter().zip(&cross))
            .map(|(section, (rows, cross))| {
                let entry = SectionManifest::new(&catalog, &scope, section, Counted::default());
                let (_, via) = scope.describe(&catalog, section);
                json!({
                    "name": entry.name,
                    "scope": entry.scope,
                    "via": via,
                    "estimated_rows": rows,
                    "rows_source": rows_source,
                    "cross_tenant_rows": cross,
                    "columns": entry.columns,
                    "excluded_columns": entry.excluded_columns,
                    "redacted_json_columns": section.redact_json,
                })
            })
            .collect();
        report.json(&json!({
            "org": { "table": org.table, "key": org.key, "lookup": org.lookup },
            "sections": sections,
            "skipped": skipped.iter().map(|(name, reason)| json!({"name": name, "reason": reason})).collect::<Vec<_>>(),
            "warnings": warnings,
            "proposed_config": proposals,
        }))?;
        return Ok(());
    }

    let mut out = Vec::new();
    out.push(format!(
        "org {} = row {} = {} of {} ({} sections, rows: {rows_source})",
        org.lookup,
        scope.root_key,
        org.key,
        org.table,
        selected.len()
    ));
    let width = selected
        .iter()
        .map(|s| catalog.table(s.table).qualified_name().len())
        .chain(skipped.iter().map(|(n, _)| n.len()))
        .max()
        .unwrap_or(10)
        .max(7);
    out.push(format!("{:<width$}  {:>10}  SCOPE", "SECTION", "ROWS"));
    for (section, rows) in selected.iter().zip(&rows) {
        let (description, _) = scope.describe(&catalog, section);
        let rows = rows.map_or("?".to_string(), |r| r.to_string());
        let excluded = if section.excluded_columns.is_empty() {
            String::new()
        } else {
            format!(" [excluded: {}]", section.excluded_columns.join(", "))
        };
        out.push(format!(
            "{:<width$}  {rows:>10}  {description}{excluded}",
            catalog.table(section.table).qualified_name()
        ));
    }
    if !skipped.is_empty() {
        out.push(String::new());
        out.push("not exported:".to_string());
        for (name, reason) in &skipped {
            out.push(format!("  {name:<width$}  {reason}"));
        }
    }
    if !warnings.is_empty() {
        out.push(String::new());
        out.push("warnings:".to_string());
        for warning in &warnings {
            out.push(format!("  {warning}"));
        }
    }
    if !proposals.is_empty() {
        out.push(String::new());
        out.push(
            "proposed config (orgexport.toml): references the schema does not declare".to_string(),
        );
        for line in &proposals {
            out.push(format!("  {line}"));
        }
    }
    for line in out {
        report.stdout_line(&line)?;
    }
    Ok(())
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

/// Per section: (rows, cross-tenant rows, name); and the type values of each polymorphic
/// pair — all in one snapshot.
#[allow(clippy::too_many_arguments)]
async fn count_in_snapshot(
    client: &mut tokio_postgres::Client,
    catalog: &Catalog,
    scope: &Scope,
    planner: &Planner<'_>,
    selected: &[&crate::scope::model::Section],
    key: &crate::scope::plan::OrgKey,
    settings: &Settings,
    report: &Reporter,
    cancel: &tokio_util::sync::CancellationToken,
) -> anyhow::Result<(Vec<(u64, Option<u64>, String)>, Vec<Vec<String>>)> {
    let snapshot = Snapshot::begin(client).await?;
    let mut counts = Vec::with_capacity(selected.len());
    for section in selected {
        let sql = planner.section_sql(section, key, None, settings.render);
        report.verbose(&format!("{}: {}", sql.name, sql.count));
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
        counts.push((total, cross_tenant, sql.name));
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
    snapshot.finish().await?;
    Ok((counts, values))
}
