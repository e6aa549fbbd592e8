//! `orgexport prune --older-than DUR | --keep N [--org KEY] [--dry-run]`: retention. Deletes
//! archives and sidecars from the configured store (`retention`); their history rows stay,
//! marked `pruned`, and each deletion is audited.

use serde_json::json;

use crate::cli::PruneArgs;
use crate::commands::{connect_sessions, history_org_keys, org_table, prepare_history};
use crate::config::Settings;
use crate::error::{Kind, fail, kind_of, one_line};
use crate::history::{self, ExportRow};
use crate::output::{Reporter, human_bytes};
use crate::redact::redact_url;
use crate::retention::{self, Pruned};
use crate::store::Store;

pub async fn run(settings: &Settings, args: &PruneArgs, report: Reporter) -> anyhow::Result<()> {
    let mut sessions = connect_sessions(settings).await?;
    prepare_history(&mut sessions.history, &report).await?;
    let store = Store::open(&settings.store)?;
    let keys = match &args.org {
        Some(_) => {
            let table = org_table(&sessions.db, settings, &report).await;
            history_org_keys(&sessions, table.as_ref(), args.org.as_deref()).await?
        }
        None => None,
    };
    let client = &sessions.history.client;
    let completed = history::completed(client, args.older_than, keys.as_deref()).await?;
    let chosen = retention::select(completed, args.keep, |url| store.outside(url));
    let verb = if args.dry_run {
        "would prune"
    } else {
        "pruned"
    };
    let mut refused = Vec::new();
    let mut pruned = Vec::new();
    for export in &chosen.prune {
        match retention::prune(&store, client, export, args.dry_run).await? {
            Pruned::Refused(err) => {
                report.error(&one_line(&err));
                refused.push((export.id.to_string(), kind_of(&err)));
                continue;
            }
            Pruned::Done => {}
        }
        if !report.output.json {
            report.stdout_line(&format!("{verb} {}", describe(export)))?;
        }
        pruned.push(summary(export));
    }
    let mut skipped = Vec::new();
    for (export, why) in &chosen.skipped {
        if !report.output.json {
            report.stdout_line(&format!(
                "skipped {}: {} is another store's ({why}), not {}'s",
                describe(export),
                redact_url(export.object_url.as_deref().unwrap_or_default()),
                store.display()
            ))?;
        }
        skipped.push(summary(export));
    }
    if report.output.json {
        report.json(&json!({ "dry_run": args.dry_run, "pruned": pruned, "skipped": skipped }))?;
    } else {
        report.info(&format!(
            "{verb} {} export(s); {} in other stores skipped",
            pruned.len(),
            skipped.len()
        ));
    }
    if !refused.is_empty() {
        // The exit code of the store boundary, as for link, verify and restore (2 or 6).
        let kind = refused
            .iter()
            .map(|(_, kind)| *kind)
            .max_by_key(|k| k.exit_code())
            .unwrap_or(Kind::Usage);
        let ids: Vec<&str> = refused.iter().map(|(id, _)| id.as_str()).collect();
        return Err(fail(
            kind,
            format!(
                "{} export(s) not pruned: their history rows are refused by the store boundary ({})",
                refused.len(),
                ids.join(", ")
            ),
        ));
    }
    Ok(())
}

/// One export in `--json`'s `pruned` and `skipped` lists (and `delete`'s `deleted`).
pub(crate) fn summary(export: &ExportRow) -> serde_json::Value {
    json!({
        "export_id": export.id.to_string(),
        "org": export.org_lookup,
        "org_key": export.org_key,
        "object_url": export.object_url.as_deref().map(redact_url),
        "bytes": export.bytes,
    })
}

/// `ID ORG FINISHED SIZE`, one line of the listing (`prune`'s and `delete`'s).
pub(crate) fn describe(export: &ExportRow) -> String {
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
