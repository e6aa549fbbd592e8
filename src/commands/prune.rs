//! `orgexport prune --older-than DUR | --keep N [--org KEY] [--dry-run]`: retention. Deletes
//! archives and sidecars from the configured store; their history rows stay, marked `pruned`,
//! and each deletion is audited. Only objects under the configured store and prefix whose
//! names are the row's export id are deleted — whatever the row's `object_url` says — and a
//! row is marked `pruned` only once its objects are confirmed gone.

use serde_json::json;

use crate::cli::PruneArgs;
use crate::commands::{connect_sessions, prepare_history};
use crate::config::Settings;
use crate::error::{Kind, fail, one_line};
use crate::history;
use crate::output::{Reporter, human_bytes};
use crate::store::Store;

pub async fn run(settings: &Settings, args: &PruneArgs, report: Reporter) -> anyhow::Result<()> {
    let mut sessions = connect_sessions(settings).await?;
    prepare_history(&mut sessions.history, &report).await?;
    let store = Store::open(&settings.store)?;
    let mut refused = Vec::new();
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
        let id = export.id.to_string();
        let key = match export
            .object_url
            .as_deref()
            .map(|url| store.owned_key(url, &id))
        {
            Some(Ok(key)) => Some(key),
            Some(Err(err)) => {
                report.error(&one_line(&err));
                refused.push(id);
                continue;
            }
            None => None,
        };
        if !args.dry_run {
            if let Some(key) = &key {
                let sidecar = Store::sidecar_of(key);
                store.delete(key).await?;
                store.delete(&sidecar).await?;
                if store.exists(key).await? || store.exists(&sidecar).await? {
                    return Err(fail(
                        Kind::Store,
                        format!(
                            "export {id}: {} is still there after deleting it; not marked pruned",
                            store.object_url(key)
                        ),
                    ));
                }
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
