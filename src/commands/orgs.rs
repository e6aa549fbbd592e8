//! `orgexport orgs`: the orgs of the root table — key and lookup columns, the name among them
//! — so that an operator finds the value to pass to `--org`. Bounded by `--limit`: the rows
//! are fetched as a stream and never more than the limit (and one, to say there are more). It shows org names to whoever runs it: it is an
//! operator's tool, run with the export role's privileges.

use futures_util::TryStreamExt;
use serde_json::{Map, Value, json};

use crate::cli::OrgsArgs;
use crate::commands::{connect_sessions, load_scope};
use crate::config::Settings;
use crate::inspect::table::TextTable;
use crate::org::{listed_columns, listing};
use crate::output::Reporter;
use crate::scope::schemas::SchemaTenancy;

pub async fn run(settings: &Settings, args: &OrgsArgs, report: Reporter) -> anyhow::Result<()> {
    let sessions = connect_sessions(settings).await?;
    let (catalog, scope) = load_scope(&sessions.db, &settings.scope).await?;
    if let Some(tenancy) = &scope.schemas {
        return list_schemas(tenancy, args.limit, &report);
    }
    let columns = listed_columns(&scope);
    let rows = listing(&sessions.db.client, &catalog, &scope, args.limit).await?;
    let mut rows = std::pin::pin!(rows);
    let mut orgs: Vec<Vec<Option<String>>> = Vec::new();
    let mut more = false;
    while let Some(row) = rows.try_next().await? {
        if orgs.len() == args.limit as usize {
            more = true;
            break;
        }
        orgs.push((0..columns.len()).map(|i| row.get(i)).collect());
    }
    let table = catalog.table(scope.root).qualified_name();
    if report.output.json {
        let listed: Vec<Value> = orgs
            .iter()
            .map(|org| {
                let values: Map<String, Value> = columns
                    .iter()
                    .zip(org)
                    .map(|(c, v)| (c.clone(), json!(v)))
                    .collect();
                json!({"key": org[0], "columns": values})
            })
            .collect();
        report.json(
            &json!({"table": table, "key_column": scope.root_key, "orgs": listed, "more": more}),
        )?;
        return Ok(());
    }
    let header: Vec<String> = columns.iter().map(|c| c.to_uppercase()).collect();
    let mut text = TextTable::new(&header.iter().map(String::as_str).collect::<Vec<_>>());
    for org in &orgs {
        text.row(org.iter().map(|v| v.clone().unwrap_or_default()).collect());
    }
    for line in text.lines() {
        report.stdout_line(&line)?;
    }
    let note = if more {
        format!("; more than {} — raise --limit", args.limit)
    } else {
        String::new()
    };
    report.info(&format!("{} orgs of {table}{note}", orgs.len()));
    Ok(())
}

/// Schema-per-tenant: the tenant schemas, from the catalog (no tenant's rows are read).
fn list_schemas(tenancy: &SchemaTenancy, limit: u32, report: &Reporter) -> anyhow::Result<()> {
    let shown = &tenancy.tenants[..tenancy.tenants.len().min(limit as usize)];
    let more = shown.len() < tenancy.tenants.len();
    if report.output.json {
        let listed: Vec<Value> = shown
            .iter()
            .map(|t| json!({"key": t.key, "columns": {"key": t.key, "schema": t.schema}}))
            .collect();
        report.json(&json!({
            "table": "tenant schemas", "key_column": "key", "tenancy": "schema",
            "decided_by": tenancy.how, "orgs": listed, "more": more,
        }))?;
        return Ok(());
    }
    let mut text = TextTable::new(&["KEY", "SCHEMA"]);
    for t in shown {
        text.row(vec![t.key.clone(), t.schema.clone()]);
    }
    for line in text.lines() {
        report.stdout_line(&line)?;
    }
    let note = if more {
        format!("; more than {limit} — raise --limit")
    } else {
        String::new()
    };
    report.info(&format!(
        "{} tenant schemas ({}){note}",
        shown.len(),
        tenancy.how
    ));
    Ok(())
}
