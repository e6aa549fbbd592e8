//! `orgexport prune --older-than DUR | --keep N [--org KEY] [--dry-run]`: retention. Deletes
//! archives and sidecars from the configured store (`retention`); their history rows stay,
//! marked `pruned`, and each deletion is audited.

use serde_json::json;

use crate::cli::PruneArgs;
use crate::commands::{connect_sessions, prepare_history};
use crate::config::Settings;
use crate::error::{Kind, fail, one_line};
use crate::history::{self, ExportRow};
use crate::output::{Reporter, human_bytes};
use crate::retention::{self, Pruned};
use crate::store::Store;

pub async fn run(settings: &Settings, args: &PruneArgs, report: Reporter) -> anyhow::Result<()> {
    let mut sessions = connect_sessions(settings).await?;
    prepare_history(&mut sessions.history, &report).await?;
    let store = Store::open(&settings.store)?;
    let client = &sessions.history.client;
    let candidates =
        history::prune_candidates(client, args.older_than, args.keep, args.org.as_deref()).await?;
    let verb = if args.dry_run {
        "would prune"
    } else {
        "pruned"
    };
    let mut refused = Vec::new();
    let mut pruned = Vec::new();
    for export in &candidates {
        match retention::prune(&store, client, export, args.dry_run).await? {
            Pruned::Refused(err) => {
                report.error(&one_line(&err));
                refused.push(export.id.to_string());
                continue;
            }
            Pruned::Done => {}
        }
        if !report.output.json {
            report.stdout_line(&format!("{verb} {}", describe(export)))?;
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
        report.info(&format!("{verb} {} export(s)", pruned.len()));
    }
    if !refused.is_empty() {
        return Err(fail(
            Kind::ExportFailed,
            format!(
                "{} export(s) not pruned: their archives are not under the configured store ({})",
                refused.len(),
                refused.join(", ")
            ),
        ));
    }
    Ok(())
}

/// `ID ORG FINISHED SIZE`, one line of the listing.
fn describe(export: &ExportRow) -> String {
    format!(
        "{} {} {} {}",
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
    )
}
