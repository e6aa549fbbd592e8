//! `orgexport list`: the export history, newest first (abandoned runs reconciled first).

use anyhow::Context;
use serde_json::{Value, json};

use crate::cli::ListArgs;
use crate::commands::{connect_sessions, read_history};
use crate::config::Settings;
use crate::output::{Reporter, human_bytes};

pub async fn run(settings: &Settings, args: &ListArgs, report: Reporter) -> anyhow::Result<()> {
    let sessions = connect_sessions(settings).await?;
    // A database that never ran an export (or a replica of one) has no history: nothing to
    // list, and nothing is created.
    let rows = if !read_history(&sessions.history, &report).await? {
        Vec::new()
    } else {
        sessions
            .history
            .client
            .query(
                "SELECT row_to_json(e)::text FROM ( \
                SELECT id, org_lookup, org_key, org_table, status, requested_by, host, \
                       created_at, started_at, finished_at, \
                       extract(epoch FROM finished_at - started_at)::float8 AS duration_seconds, \
                       record_count, bytes, sha256, object_url, error \
                FROM orgexport.exports \
                WHERE ($1::text IS NULL OR org_lookup = $1 OR org_key = $1) \
                  AND ($2::text IS NULL OR status = $2) \
                ORDER BY created_at DESC, id DESC LIMIT $3) e",
                &[&args.org, &args.status, &(args.limit as i64)],
            )
            .await
            .context("reading orgexport.exports")?
    };
    let exports: Vec<Value> = rows
        .iter()
        .map(|r| serde_json::from_str(r.get::<_, &str>(0)))
        .collect::<Result<_, _>>()
        .context("decoding history rows")?;

    if report.output.json {
        report.json(&json!({ "exports": exports }))?;
        return Ok(());
    }
    report.stdout_line(&format!(
        "{:<36}  {:<16}  {:<9}  {:<20}  {:>8}  {:>9}  {:>9}  BY",
        "ID", "ORG", "STATUS", "STARTED (UTC)", "DURATION", "ROWS", "SIZE"
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
            "{:<36}  {:<16}  {:<9}  {:<20}  {:>8}  {:>9}  {:>9}  {}",
            text("id"),
            text("org_lookup"),
            text("status"),
            started,
            duration,
            rows,
            size,
            text("requested_by")
        ))?;
    }
    Ok(())
}
