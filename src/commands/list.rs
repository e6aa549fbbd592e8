//! `orgexport list`: the export history, newest first (abandoned runs reconciled first).

use serde_json::json;

use crate::cli::ListArgs;
use crate::commands::{connect_sessions, read_history};
use crate::config::Settings;
use crate::history;
use crate::output::{Reporter, human_bytes};

pub async fn run(settings: &Settings, args: &ListArgs, report: Reporter) -> anyhow::Result<()> {
    let sessions = connect_sessions(settings).await?;
    // A database that never ran an export (or a replica of one) has no history: nothing to
    // list, and nothing is created.
    let exports = if read_history(&sessions.history, &report).await? {
        history::list(
            &sessions.history.client,
            args.org.as_deref(),
            settings.status_filter,
            args.limit,
        )
        .await?
    } else {
        Vec::new()
    };

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
