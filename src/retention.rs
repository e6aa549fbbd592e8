//! Retention (`prune`) and deletion on request (`delete`): deleting a completed export's
//! archive and sidecar from the store and marking its history row `pruned` (or `deleted`) —
//! only objects under the configured store and prefix
//! whose names are the row's export id, in the row's org folder, reached through no symbolic
//! link ([`Store::owned_key`]), whatever the row's `object_url` says, and the row is
//! marked only once its objects are confirmed gone. Retention is per store: a rule selects
//! among the exports under the configured store only ([`select`]: `--keep` counts there);
//! the others are another store's, skipped. `delete` judges every export it is given before
//! it deletes any ([`judge`]). What is printed is the command's.

use std::collections::HashMap;

use object_store::path::Path;

use crate::error::{Kind, fail};
use crate::history::{self, CompletedExport, ExportRow, Status};
use crate::store::Store;

/// What a retention rule does with the completed exports it is given.
#[derive(Default)]
pub struct Selection {
    /// Under the configured store and selected by the rule: oldest first.
    pub prune: Vec<ExportRow>,
    /// Selected by the age rule (every one, without it) but another store's, with why it is
    /// not this store's: oldest first.
    pub skipped: Vec<(ExportRow, &'static str)>,
}

/// Applies `--older-than` (already in `old_enough`) and `--keep N` (the newest N of each
/// org *under this store* stay) to completed exports given newest first within each org;
/// `outside` says why an address is not under the configured store ([`Store::outside`]).
pub fn select(
    completed: Vec<CompletedExport>,
    keep: Option<u32>,
    outside: impl Fn(&str) -> Option<&'static str>,
) -> Selection {
    let mut kept: HashMap<String, u32> = HashMap::new();
    let mut selection = Selection::default();
    for CompletedExport { export, old_enough } in completed {
        if let Some(why) = export.object_url.as_deref().and_then(&outside) {
            if old_enough {
                selection.skipped.push((export, why));
            }
            continue;
        }
        let newer = kept.entry(export.org_key.clone()).or_default();
        let beyond_keep = keep.is_none_or(|n| *newer >= n);
        *newer += 1;
        if old_enough && beyond_keep {
            selection.prune.push(export);
        }
    }
    let oldest_first = |e: &ExportRow| (e.finished_at, e.id);
    selection.prune.sort_by_key(oldest_first);
    selection.skipped.sort_by_key(|(e, _)| oldest_first(e));
    selection
}

/// What became of one export.
pub enum Pruned {
    /// Deleted (or, for a dry run, would be) and marked `pruned`.
    Done,
    /// Not acted on: its archive is not this store's to delete.
    Refused(anyhow::Error),
}

/// Prunes one export: its objects deleted and confirmed gone, then its row marked. A dry run
/// checks that it could and changes nothing.
pub async fn prune(
    store: &Store,
    history_db: &tokio_postgres::Client,
    export: &ExportRow,
    dry_run: bool,
) -> anyhow::Result<Pruned> {
    let id = export.id.to_string();
    let key = match export.object_url.as_ref().map(|_| export.owned_key(store)) {
        Some(Ok(key)) => Some(key),
        Some(Err(err)) => return Ok(Pruned::Refused(err)),
        None => None,
    };
    if dry_run {
        return Ok(Pruned::Done);
    }
    if let Some(key) = &key {
        remove_archive(store, key, &id, Status::Pruned).await?;
    }
    history::mark_pruned(history_db, export).await?;
    Ok(Pruned::Done)
}

/// Deletes an archive and its sidecar and confirms both are gone (a HEAD finds neither), so
/// that the row is never marked `status` while its archive is still there.
async fn remove_archive(store: &Store, key: &Path, id: &str, status: Status) -> anyhow::Result<()> {
    let sidecar = Store::sidecar_of(key);
    store.delete(key).await?;
    store.delete(&sidecar).await?;
    if store.exists(key).await? || store.exists(&sidecar).await? {
        return Err(fail(
            Kind::Store,
            format!(
                "export {id}: {} is still there after deleting it; not marked {status}",
                store.object_url(key)
            ),
        ));
    }
    Ok(())
}

/// What `delete` makes of one export, decided before anything is deleted.
pub enum Deletion {
    /// A completed export of this store: its archive and sidecar go, its row becomes
    /// `deleted` (a row without an address, only the latter).
    Archive(ExportRow, Option<Path>),
    /// Nothing to delete, and why: already deleted or pruned, or it never had an archive.
    Nothing(ExportRow, String),
}

/// Judges one export for `delete`: a completed export is deleted only inside the store
/// boundary ([`ExportRow::owned_key`]: exit 2, or 6 for a symlink); one in progress cannot
/// be (exit 4, as for an org whose export holds the lock); the rest have nothing to delete.
pub fn judge(export: ExportRow, store: &Store) -> anyhow::Result<Deletion> {
    let id = export.id;
    let why = match export.status {
        Status::Completed => {
            let key = match export.object_url {
                Some(_) => Some(export.owned_key(store)?),
                None => None,
            };
            return Ok(Deletion::Archive(export, key));
        }
        Status::Pending | Status::Running => {
            return Err(fail(
                Kind::LockBusy,
                format!(
                    "export {id} of org {} is {}: an export in progress cannot be deleted; nothing was deleted — delete it once `orgexport list` shows it completed",
                    export.org_lookup, export.status
                ),
            ));
        }
        Status::Deleted => "it was already deleted".to_string(),
        Status::Pruned => "it was already pruned: its archive is gone".to_string(),
        Status::Failed => "it failed: it has no archive".to_string(),
        Status::Cancelled => "it was cancelled: it has no archive".to_string(),
    };
    Ok(Deletion::Nothing(export, why))
}

/// Carries out a [`Deletion::Archive`]: the objects deleted and confirmed gone, then the row
/// marked `deleted` and audited. A dry run changes nothing.
pub async fn delete(
    store: &Store,
    history_db: &tokio_postgres::Client,
    export: &ExportRow,
    key: Option<&Path>,
) -> anyhow::Result<()> {
    if let Some(key) = key {
        remove_archive(store, key, &export.id.to_string(), Status::Deleted).await?;
    }
    history::mark_deleted(history_db, export).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Status;

    fn export(org: &str, minute: u32, url: &str) -> CompletedExport {
        CompletedExport {
            export: ExportRow {
                id: uuid::Uuid::from_u128(u128::from(minute)),
                org_key: org.into(),
                org_lookup: org.into(),
                status: Status::Completed,
                object_url: Some(url.into()),
                bytes: Some(1),
                sha256: None,
                finished_at: Some(
                    chrono::DateTime::from_timestamp(i64::from(minute) * 60, 0).unwrap(),
                ),
            },
            old_enough: minute < 50,
        }
    }

    fn outside_local(url: &str) -> Option<&'static str> {
        (!url.starts_with("file:///local/")).then_some("another store or bucket")
    }

    fn minutes(rows: &[ExportRow]) -> Vec<u128> {
        rows.iter().map(|e| e.id.as_u128()).collect()
    }

    #[test]
    fn keep_counts_only_the_exports_under_the_configured_store() {
        // Newest first within the org, as the history returns them.
        let rows = vec![
            export("1", 40, "s3://exports/prod/acme-1/x.json.gz"),
            export("1", 30, "file:///local/acme-1/c.json.gz"),
            export("1", 20, "file:///local/acme-1/b.json.gz"),
            export("1", 10, "file:///local/acme-1/a.json.gz"),
        ];
        let chosen = select(rows, Some(2), outside_local);
        assert_eq!(
            minutes(&chosen.prune),
            vec![10],
            "the S3 export is not one of the 2"
        );
        assert_eq!(
            minutes(
                &chosen
                    .skipped
                    .iter()
                    .map(|(e, _)| e.clone())
                    .collect::<Vec<_>>()
            ),
            vec![40]
        );
    }

    #[test]
    fn older_than_selects_old_exports_of_this_store_and_skips_the_others() {
        let rows = vec![
            export("1", 55, "file:///local/acme-1/new.json.gz"),
            export("1", 40, "s3://exports/prod/acme-1/x.json.gz"),
            export("1", 30, "file:///local/acme-1/c.json.gz"),
            export("2", 60, "s3://exports/prod/two-2/y.json.gz"),
        ];
        let chosen = select(rows, None, outside_local);
        assert_eq!(minutes(&chosen.prune), vec![30]);
        assert_eq!(chosen.skipped.len(), 1, "only the old S3 export is listed");
        assert_eq!(chosen.skipped[0].1, "another store or bucket");
    }
}
