//! `orgexport list`: the export history, newest first (abandoned runs reconciled first).

use serde_json::json;

use crate::archive_format::Format;
use crate::cli::ListArgs;
use crate::commands::{connect_sessions, history_org_keys, org_table, read_history};
use crate::config::Settings;
use crate::db::connect::Db;
use crate::history;
use crate::output::{Reporter, human_bytes};
use crate::scope::catalog::Catalog;
use crate::scope::model::Scope;
use crate::scope::plan::Planner;

pub async fn run(settings: &Settings, args: &ListArgs, report: Reporter) -> anyhow::Result<()> {
    let sessions = connect_sessions(settings).await?;
    // A database that never ran an export (or a replica of one) has no history: nothing to
    // list, and nothing is created.
    let mut exports = Vec::new();
    if read_history(&sessions.history, &report).await? {
        let table = org_table(&sessions.db, settings, &report).await;
        let keys = history_org_keys(&sessions, table.as_ref(), args.org.as_deref()).await?;
        exports = history::list(
            &sessions.history.client,
            keys.as_deref(),
            settings.status_filter,
            args.limit,
        )
        .await?;
        name_orgs(&sessions.db, table.as_ref(), &mut exports).await?;
        for export in &mut exports {
            export["format"] = format_of(export).map_or(serde_json::Value::Null, Into::into);
        }
    }

    if report.output.json {
        report.json(&json!({ "exports": exports }))?;
        return Ok(());
    }
    report.stdout_line(&format!(
        "{:<36}  {:<16}  {:<9}  {:<20}  {:>8}  {:>9}  {:>9}  {:<7}  BY",
        "ID", "ORG", "STATUS", "STARTED (UTC)", "DURATION", "ROWS", "SIZE", "FORMAT"
    ))?;
    for e in &exports {
        let text = |key: &str| e[key].as_str().unwrap_or("").to_string();
        let started = e["started_at"]
            .as_str()
            .or(e["created_at"].as_str())
            .map(|t| t.chars().take(19).collect::<String>().replace('T', " "))
            .unwrap_or_default();
        let duration = e["duration_seconds"]
            .as_f64()
            .map(|s| format!("{s:.1}s"))
            .unwrap_or_default();
        let rows = e["record_count"]
            .as_i64()
            .map(|n| n.to_string())
            .unwrap_or_default();
        let size = e["bytes"].as_u64().map(human_bytes).unwrap_or_default();
        report.stdout_line(&format!(
            "{:<36}  {:<16}  {:<9}  {:<20}  {:>8}  {:>9}  {:>9}  {:<7}  {}{}",
            text("id"),
            text("org"),
            text("status"),
            started,
            duration,
            rows,
            size,
            text("format"),
            text("requested_by"),
            encrypted_to(&e["encryption"])
        ))?;
    }
    Ok(())
}

/// `  encrypted (age) to x25519 3f2a…, ssh-ed25519 9b01…` after an encrypted export's row.
fn encrypted_to(encryption: &serde_json::Value) -> String {
    let Some(recipients) = encryption["recipients"].as_array() else {
        return String::new();
    };
    let named: Vec<String> = recipients
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["type"].as_str().unwrap_or("?"),
                r["fingerprint"].as_str().unwrap_or("?")
            )
        })
        .collect();
    format!("  encrypted (age) to {}", named.join(", "))
}

/// The archive's format, as its object name says (none before the upload began).
fn format_of(export: &serde_json::Value) -> Option<&'static str> {
    let url = export["object_url"].as_str()?;
    let name = url.rsplit('/').next()?;
    Format::of_file_name(name).map(|(format, _)| format.name())
}

/// Sets each export's `org` to the org's current name ([`crate::org::names`]); an org deleted
/// since (or an unreadable org table) keeps the lookup recorded then.
async fn name_orgs(
    db: &Db,
    table: Option<&(Catalog, Scope)>,
    exports: &mut [serde_json::Value],
) -> anyhow::Result<()> {
    let names = match table {
        Some((catalog, scope)) => {
            let keys: Vec<String> = exports
                .iter()
                .filter_map(|e| e["org_key"].as_str().map(String::from))
                .collect();
            crate::org::names(&db.client, scope, &Planner::new(catalog, scope), &keys).await?
        }
        None => Default::default(),
    };
    for export in exports {
        let current = export["org_key"]
            .as_str()
            .and_then(|k| names.get(k))
            .cloned();
        export["org"] = current.map_or_else(|| export["org_lookup"].clone(), Into::into);
    }
    Ok(())
}
