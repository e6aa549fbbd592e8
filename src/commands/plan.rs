//! `orgexport plan --org KEY`: what `run` would write, from the very same scope computation —
//! every table with its decision, row counts, excluded columns, and warnings.

use serde_json::json;

use crate::cli::PlanArgs;
use crate::commands::{connect_sessions, load_scope, prepare_history, scope_config};
use crate::config::Settings;
use crate::export::archive::SectionManifest;
use crate::export::snapshot::Snapshot;
use crate::org;
use crate::output::Reporter;
use crate::scope::plan::Planner;

pub async fn run(
    settings: &Settings,
    args: &PlanArgs,
    cancel: tokio_util::sync::CancellationToken,
    report: Reporter,
) -> anyhow::Result<()> {
    let mut sessions = connect_sessions(settings).await?;
    prepare_history(&mut sessions.history, None, &report).await?;
    let (catalog, scope) = load_scope(&sessions.db, &scope_config(settings, &args.scope)).await?;
    let planner = Planner::new(&catalog, &scope);
    let org = org::resolve(&sessions.db.client, &catalog, &scope, &planner, &args.org).await?;

    let selected: Vec<_> = scope
        .sections
        .iter()
        .filter(|s| scope.is_selected(&catalog, s))
        .collect();
    let mut rows = Vec::with_capacity(selected.len());
    if args.estimate {
        for section in &selected {
            rows.push(catalog.table(section.table).estimated_rows);
        }
    } else {
        let snapshot = Snapshot::begin(&mut sessions.db.client, &org.key).await?;
        for section in &selected {
            let sql = planner.section_sql(section, None, settings.render);
            report.verbose(&format!("{}: {}", sql.name, sql.count));
            rows.push(Some(snapshot.count(&sql, &cancel).await? as i64));
        }
        snapshot.finish().await?;
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
            .zip(&rows)
            .map(|(section, rows)| {
                let entry = SectionManifest::new(&catalog, &scope, section, 0, None);
                let (_, via) = scope.describe(&catalog, section);
                json!({
                    "name": entry.name,
                    "scope": entry.scope,
                    "via": via,
                    "estimated_rows": rows,
                    "rows_source": rows_source,
                    "columns": entry.columns,
                    "excluded_columns": entry.excluded_columns,
                })
            })
            .collect();
        report.json(&json!({
            "org": { "table": org.table, "key": org.key, "lookup": org.lookup },
            "sections": sections,
            "skipped": skipped.iter().map(|(name, reason)| json!({"name": name, "reason": reason})).collect::<Vec<_>>(),
            "warnings": scope.warnings,
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
    if !scope.warnings.is_empty() {
        out.push(String::new());
        out.push("warnings:".to_string());
        for warning in &scope.warnings {
            out.push(format!("  {warning}"));
        }
    }
    for line in out {
        report.stdout_line(&line)?;
    }
    Ok(())
}
