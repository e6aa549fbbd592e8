//! `orgexport prune --older-than DUR | --keep N [--org KEY] [--dry-run]`: retention. Deletes
//! archives and sidecars from the store; their history rows stay, marked `pruned`, and each
//! deletion is audited.

use serde_json::json;

use crate::cli::PruneArgs;
use crate::commands::{connect_sessions, prepare_history};
use crate::config::Settings;
use crate::history;
use crate::output::{Reporter, human_bytes};
use crate::store::Store;

pub async fn run(settings: &Settings, args: &PruneArgs, report: Reporter) -> anyhow::Result<()> {
    let mut sessions = connect_sessions(settings).await?;
    prepare_history(&mut sessions.history, None, &report).await?;
    let client = &sessions.history.client;
    let candidates =
        history::prune_candidates(client, args.older_than, args.keep, args.org.as_deref()).await?;
    let mut pruned = Vec::new();
    for export in &candidates {
        let line = format!(
            "{} {} {} {} {}",
            if args.dry_run {
                "would prune"
            } else {
                "pruned"
            },
            export.id,
            export.org_lookup,
            export
                .finished_at
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default(),
            export
                .bytes
                .map(|b| human_bytes(b as u64))
                .unwrap_or_default()
        );
        if !args.dry_run {
            if let Some(url) = &export.object_url {
                let (store, key) = Store::locate(url, &settings.store).await?;
                store.delete(&key).await?;
                store.delete(&Store::sidecar_of(&key)).await?;
            }
            history::mark_pruned(client, export).await?;
        }
        if !report.output.json {
            report.stdout_line(&line)?;
        }
        pruned.push(json!({
            "export_id": export.id.to_string(),
            "org": export.org_lookup,
            "object_url": export.object_url,
            "bytes": export.bytes,
        }));
    }
    if report.output.json {
        report.json(&json!({ "dry_run": args.dry_run, "pruned": pruned }))?;
    } else {
        report.info(&format!(
            "{} {} export(s)",
            if args.dry_run {
                "would prune"
            } else {
                "pruned"
            },
            pruned.len()
        ));
    }
    Ok(())
}
