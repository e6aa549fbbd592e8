//! Retention (`prune`): deleting a completed export's archive and sidecar from the store and
//! marking its history row `pruned` — only objects under the configured store and prefix
//! whose names are the row's export id, in the row's org folder, reached through no symbolic
//! link ([`Store::owned_key`]), whatever the row's `object_url` says, and the row is
//! marked only once its objects are confirmed gone. Which exports a rule selects is the
//! history's query; what is printed is the command's.

use crate::error::{Kind, fail};
use crate::history::{self, ExportRow};
use crate::store::Store;

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
    history::mark_pruned(history_db, export).await?;
    Ok(Pruned::Done)
}
