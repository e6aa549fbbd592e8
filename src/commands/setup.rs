//! `orgexport setup`: the one-time step an owner takes for a least-privileged exporter —
//! create (or upgrade) schema `orgexport` on the history database, or, with
//! `--print-grants ROLE`, print the GRANT statements ROLE needs and change nothing. Which
//! privileges those are is `privileges.rs`'s.

use serde_json::json;

use crate::cli::SetupArgs;
use crate::commands::{connect_sessions, load_scope, prepare_history};
use crate::config::Settings;
use crate::output::Reporter;

pub async fn run(settings: &Settings, args: &SetupArgs, report: Reporter) -> anyhow::Result<()> {
    let mut sessions = connect_sessions(settings).await?;
    let Some(role) = &args.print_grants else {
        prepare_history(&mut sessions.history, &report).await?;
        let database = current_database(&sessions.history.client).await?;
        report.info(&format!(
            "schema orgexport is ready in database {database}; `orgexport setup --print-grants ROLE` prints what an exporting role needs"
        ));
        return Ok(());
    };
    let (catalog, scope) = load_scope(&sessions.db, &settings.scope).await?;
    let mut schemas: Vec<String> = scope
        .sections
        .iter()
        .map(|s| catalog.table(s.table).schema.clone())
        .collect();
    schemas.sort();
    schemas.dedup();
    let source = current_database(&sessions.db.client).await?;
    let history = current_database(&sessions.history.client).await?;
    let sql = crate::privileges::all_grants(role, &schemas, &source, &history);
    if report.output.json {
        report.json(&json!({ "role": role, "sql": sql }))?;
    } else {
        for line in sql.lines() {
            report.stdout_line(line)?;
        }
    }
    Ok(())
}

async fn current_database(client: &tokio_postgres::Client) -> anyhow::Result<String> {
    Ok(client
        .query_one("SELECT current_database()::text", &[])
        .await?
        .get(0))
}
