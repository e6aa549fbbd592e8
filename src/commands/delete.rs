//! `orgexport delete EXPORT_ID… [--dry-run]`: removes exports' archives and sidecars from the
//! configured store now, by id (the API's DELETE), where `prune` goes by age. Every id is
//! looked up and judged first (`retention::judge`): an unknown id, an export in progress or an
//! archive outside the store refuses the whole command before anything is deleted. The rows
//! stay, marked `deleted`, and each deletion is audited. What deleting means for the store is
//! `retention`'s.

use serde_json::json;

use crate::cli::DeleteArgs;
use crate::commands::link::parse_export_id;
use crate::commands::prune::{describe, summary};
use crate::commands::{connect_sessions, prepare_history};
use crate::config::Settings;
use crate::error::{Kind, fail};
use crate::history;
use crate::output::Reporter;
use crate::retention::{self, Deletion};
use crate::store::Store;

pub async fn run(settings: &Settings, args: &DeleteArgs, report: Reporter) -> anyhow::Result<()> {
    let mut ids = Vec::new();
    for text in &args.export_ids {
        let id = parse_export_id(text)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    let store = Store::open(&settings.store)?;
    let mut sessions = connect_sessions(settings).await?;
    prepare_history(&mut sessions.history, &report).await?;
    let client = &sessions.history.client;
    let judged = judge_all(client, &store, ids).await?;
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let (mut deleted, mut unchanged) = (Vec::new(), Vec::new());
    for deletion in &judged {
        match deletion {
            Deletion::Archive(export, key) => {
                if !args.dry_run {
                    retention::delete(&store, client, export, key.as_ref()).await?;
                }
                if !report.output.json {
                    report.stdout_line(&format!("{verb} {}", describe(export)))?;
                }
                deleted.push(summary(export));
            }
            Deletion::Nothing(export, why) => {
                report.info(&format!("export {} left as it is: {why}", export.id));
                unchanged.push(json!({
                    "export_id": export.id.to_string(),
                    "status": export.status.as_str(),
                    "reason": why,
                }));
            }
        }
    }
    if report.output.json {
        report.json(
            &json!({ "dry_run": args.dry_run, "deleted": deleted, "unchanged": unchanged }),
        )?;
    } else {
        report.info(&format!(
            "{verb} {} export(s); {} left as they were",
            deleted.len(),
            unchanged.len()
        ));
    }
    Ok(())
}

/// Every export looked up and judged before any is deleted: the first that cannot be
/// (unknown, in progress, outside the store) refuses the whole command.
async fn judge_all(
    client: &tokio_postgres::Client,
    store: &Store,
    ids: Vec<uuid::Uuid>,
) -> anyhow::Result<Vec<Deletion>> {
    let mut judged = Vec::with_capacity(ids.len());
    for id in ids {
        let export = history::find(client, id).await?.ok_or_else(|| {
            fail(
                Kind::Usage,
                format!("no export with id {id}; nothing was deleted — see `orgexport list`"),
            )
        })?;
        judged.push(retention::judge(export, store)?);
    }
    Ok(judged)
}
