//! `orgexport plan --org KEY`: what `run` would write, from the very same scope computation —
//! every table with its decision, row counts, excluded columns, and warnings.

use std::collections::BTreeMap;

use serde_json::json;

use crate::cli::PlanArgs;
use crate::commands::{connect_sessions, load_scope, tidy_history};
use crate::config::Settings;
use crate::export::archive::{Counted, SectionManifest};
use crate::export::narrowing;
use crate::export::preview::{Counting, Preview, preview};
use crate::org::{self, Org};
use crate::output::Reporter;
use crate::scope::catalog::Catalog;
use crate::scope::model::{Scope, Section};
use crate::scope::narrowing::Narrowing;
use crate::scope::placement::Placement;
use crate::scope::plan::Planner;

pub async fn run(
    settings: &Settings,
    args: &PlanArgs,
    cancel: tokio_util::sync::CancellationToken,
    report: Reporter,
) -> anyhow::Result<()> {
    let mut sessions = connect_sessions(settings).await?;
    tidy_history(&sessions.history, &report).await?;
    let (catalog, scope) = load_scope(&sessions.db, &settings.scope).await?;
    narrowing::check(&sessions.db.client, &catalog, &scope).await?;
    let planner = Planner::new(&catalog, &scope);
    let org = org::resolve(&sessions.db.client, &catalog, &scope, &planner, &args.org).await?;
    // Schema-per-tenant: the org's own schema is what `run` would read.
    let tenant = crate::scope::rules::for_tenant(&catalog, &scope, &org.key)?;
    let scope = tenant.unwrap_or(scope);
    let (db, _, observer) = sessions.parts();
    let counting = Counting {
        estimate: args.estimate,
        render: settings.render,
        report: &report,
        cancel: &cancel,
        observer,
    };
    let preview = preview(db, &catalog, &scope, &org, &counting).await?;
    let standby = crate::db::standby::replay_timestamp(&db.client).await?;
    let placement = Placement::read(&db.client, &catalog, &preview.scope, &org.key).await?;
    if report.output.json {
        let mut plan = plan_json(&catalog, &preview.scope, &org, &preview);
        if let Some(at) = &standby {
            plan["standby"] = json!({ "replay_timestamp": at });
        }
        if let Some(placement) = &placement {
            plan["citus"] = serde_json::to_value(placement)?;
        }
        report.json(&plan)?;
        return Ok(());
    }
    let mut lines = plan_text(&catalog, &preview.scope, &org, &preview);
    if let Some(at) = standby {
        lines.insert(
            1,
            format!("read from a hot standby: rows as of its last replayed commit, {at}"),
        );
    }
    if let Some(placement) = &placement {
        lines.push(String::new());
        lines.extend(placement.lines());
    }
    for line in lines {
        report.stdout_line(&line)?;
    }
    Ok(())
}

/// `--subject`, `--since`/`--until`: why each section holds the rows it would hold.
fn narrowing_rules(catalog: &Catalog, scope: &Scope) -> BTreeMap<String, String> {
    Narrowing::new(catalog, scope, &scope.config.narrow)
        .ok()
        .flatten()
        .map(|n| n.rules(catalog, scope))
        .unwrap_or_default()
}

fn plan_json(catalog: &Catalog, scope: &Scope, org: &Org, preview: &Preview) -> serde_json::Value {
    let rules = narrowing_rules(catalog, scope);
    let sections: Vec<_> = preview
        .sections
        .iter()
        .map(|p| {
            let mut entry = SectionManifest::new(catalog, scope, &p.section, Counted::default());
            for (column, reason) in &p.content_excluded {
                entry.columns.retain(|c| c.name != *column);
                entry.excluded_columns.push(column.clone());
                entry
                    .excluded_column_reasons
                    .insert(column.clone(), reason.clone());
            }
            let (_, via) = scope.describe(catalog, &p.section);
            let mut value = json!({
                "name": entry.name,
                "scope": entry.scope,
                "via": via,
                "estimated_rows": p.rows,
                "rows_source": preview.rows_source,
                "cross_tenant_rows": p.cross_tenant_rows,
                "columns": entry.columns,
                "excluded_columns": entry.excluded_columns,
                "excluded_column_reasons": entry.excluded_column_reasons,
                "redacted_json_columns": keyed_columns(catalog, &p.section),
            });
            if let Some(rule) = rules.get(&entry.name) {
                value["rule"] = json!(rule);
            }
            if let Some(kv) = &p.redacted {
                value["redacted_values"] = json!(kv.redacted_values);
                value["redacted_value_keys"] = json!(kv.secret_keys);
            }
            value
        })
        .collect();
    let skipped: Vec<_> = preview
        .skipped
        .iter()
        .map(|(name, reason)| json!({"name": name, "reason": reason}))
        .collect();
    let mut plan = json!({
        "org": { "table": org.table, "key": org.key, "lookup": org.lookup },
        "sections": sections,
        "skipped": skipped,
        "warnings": preview.warnings,
        "proposed_config": preview.proposals,
    });
    if let Some(tenancy) = &scope.schemas {
        plan["tenancy"] = json!({
            "kind": "schema",
            "schema": tenancy.current.schema,
            "tenant_schemas": tenancy.tenants.len(),
            "decided_by": tenancy.how,
        });
    }
    plan
}

/// The redacted columns whose type has keys (json, jsonb, xml, composite): text columns are
/// redacted too, but only where a value holds JSON, which the plan cannot say.
fn keyed_columns<'s>(catalog: &Catalog, section: &'s Section) -> Vec<&'s String> {
    let table = catalog.table(section.table);
    section
        .redact_json
        .iter()
        .filter(|c| table.column(c).is_some_and(|c| c.json_like))
        .collect()
}

fn plan_text(catalog: &Catalog, scope: &Scope, org: &Org, preview: &Preview) -> Vec<String> {
    let mut out = vec![match &scope.schemas {
        Some(tenancy) => format!(
            "org {} = {} ({} sections, rows: {}); tenancy: {}",
            org.lookup,
            org.table,
            preview.sections.len(),
            preview.rows_source,
            tenancy.describe()
        ),
        None => format!(
            "org {} = row {} = {} of {} ({} sections, rows: {})",
            org.lookup,
            scope.root_key,
            org.key,
            org.table,
            preview.sections.len(),
            preview.rows_source
        ),
    }];
    let width = preview
        .sections
        .iter()
        .map(|p| catalog.table(p.section.table).qualified_name().len())
        .chain(preview.skipped.iter().map(|(n, _)| n.len()))
        .max()
        .unwrap_or(10)
        .max(7);
    out.push(format!("{:<width$}  {:>10}  SCOPE", "SECTION", "ROWS"));
    let rules = narrowing_rules(catalog, scope);
    for p in &preview.sections {
        let (mut description, _) = scope.describe(catalog, &p.section);
        if let Some(rule) = rules.get(&catalog.table(p.section.table).qualified_name()) {
            description = format!("{rule} [within the org: {description}]");
        }
        let rows = p.rows.map_or("?".to_string(), |r| r.to_string());
        let excluded: Vec<String> = p
            .section
            .exclusion_reasons
            .iter()
            .chain(&p.content_excluded)
            .map(|(column, reason)| format!("{column} ({reason})"))
            .collect();
        let mut excluded = if excluded.is_empty() {
            String::new()
        } else {
            format!(" [excluded: {}]", excluded.join(", "))
        };
        if let Some(kv) = p.redacted.as_ref().filter(|kv| kv.redacted_values > 0) {
            excluded.push_str(&format!(
                " [{} redacted: {} value(s) of secret keys {}]",
                kv.value_column,
                kv.redacted_values,
                kv.secret_keys.join(", ")
            ));
        }
        out.push(format!(
            "{:<width$}  {rows:>10}  {description}{excluded}",
            catalog.table(p.section.table).qualified_name()
        ));
    }
    // Other tenants' tables are one line: a database may hold thousands of tenant schemas.
    let others = |reason: &str| reason == crate::scope::schemas::OTHER_TENANT;
    let mut skipped: Vec<String> = preview
        .skipped
        .iter()
        .filter(|(_, reason)| !others(reason))
        .map(|(name, reason)| format!("  {name:<width$}  {reason}"))
        .collect();
    if let Some(tenancy) = &scope.schemas {
        let n = preview.skipped.iter().filter(|(_, r)| others(r)).count();
        skipped.push(format!(
            "  {n} tables of the {} other tenant schemas: never read",
            tenancy.tenants.len() - 1
        ));
    }
    let indented = |lines: &[String]| lines.iter().map(|l| format!("  {l}")).collect();
    block(&mut out, "not exported:", skipped);
    block(&mut out, "warnings:", indented(&preview.warnings));
    block(
        &mut out,
        "proposed config (orgexport.toml): references the schema does not declare",
        indented(&preview.proposals),
    );
    out
}

/// A titled block after a blank line, when it has lines.
fn block(out: &mut Vec<String>, title: &str, lines: Vec<String>) {
    if lines.is_empty() {
        return;
    }
    out.push(String::new());
    out.push(title.to_string());
    out.extend(lines);
}
