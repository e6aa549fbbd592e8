//! One module per subcommand: each wires the pipeline's stages together and reports. The
//! stages they share (connecting, preparing the history, reading the scope) are here.

pub mod check;
pub mod completions;
pub mod delete;
pub mod link;
pub mod list;
pub mod plan;
pub mod prune;
pub mod restore;
pub mod run;
pub mod verify;

use crate::config::Settings;
use crate::db::connect::{Db, connect};
use crate::error::{Kind, fail};
use crate::history::{self, Status};
use crate::output::Reporter;
use crate::scope::catalog::Catalog;
use crate::scope::config::ScopeConfig;
use crate::scope::model::Scope;
use crate::scope::rules;
use crate::store::{ArchiveSource, Store};

/// The two sessions of a command: one reads (and holds the org lock and the snapshot), one
/// writes history — the reading one is inside a read-only transaction most of the time.
pub struct Sessions {
    pub db: Db,
    pub history: Db,
}

pub async fn connect_sessions(settings: &Settings) -> anyhow::Result<Sessions> {
    let options = settings.connect_options()?;
    let db = connect(&options).await?;
    let history = connect(&options).await?;
    settings.guards.apply(&db).await?;
    settings.guards.apply(&history).await?;
    Ok(Sessions { db, history })
}

/// For the commands that write history (`run`, `link`, `prune`): refuses a read-only
/// database, creates or upgrades schema `orgexport`, and reconciles abandoned exports
/// (removing the partial files they left in a local store).
pub async fn prepare_history(history_db: &mut Db, report: &Reporter) -> anyhow::Result<()> {
    if history::is_read_only(&history_db.client).await? {
        return Err(fail(
            Kind::Connect,
            "the database is read-only (a replica?): exports, links and pruning are recorded in its history; point --database-url at the primary",
        ));
    }
    history::migrate(&mut history_db.client).await?;
    reconcile(history_db, report).await
}

/// For the commands that only read (`list`, `plan`, `verify`): never creates the schema, and
/// reconciles abandoned exports only where it can write. Returns whether history exists.
pub async fn read_history(history_db: &Db, report: &Reporter) -> anyhow::Result<bool> {
    if !history::exists(&history_db.client).await? {
        return Ok(false);
    }
    if !history::is_read_only(&history_db.client).await? {
        reconcile(history_db, report).await?;
    }
    Ok(true)
}

async fn reconcile(history_db: &Db, report: &Reporter) -> anyhow::Result<()> {
    for abandoned in history::reconcile(&history_db.client).await? {
        report.warn(&format!(
            "export {} of org {} was abandoned by a process that died; marked failed",
            abandoned.id, abandoned.org_lookup
        ));
        if let Some(url) = &abandoned.object_url {
            Store::remove_partial(url);
        }
    }
    Ok(())
}

/// The org table, for the history commands (`list`, `prune`) to resolve `--org` and name
/// orgs as `run` does; `None`, with a warning, when the scope cannot be read — they then go
/// by what the history recorded.
pub async fn org_table(
    db: &Db,
    settings: &Settings,
    report: &Reporter,
) -> Option<(Catalog, Scope)> {
    match load_scope(db, &settings.scope).await {
        Ok(table) => Some(table),
        Err(err) => {
            report.warn(&format!(
                "orgs are matched and shown as the history recorded them: cannot read the org table: {}",
                crate::error::one_line(&err)
            ));
            None
        }
    }
}

/// The canonical keys `--org` names in the history ([`crate::org::history_keys`]); `None`
/// without `--org`.
pub async fn history_org_keys(
    sessions: &Sessions,
    table: Option<&(Catalog, Scope)>,
    org: Option<&str>,
) -> anyhow::Result<Option<Vec<String>>> {
    let Some(lookup) = org else {
        return Ok(None);
    };
    let table = table.map(|(catalog, scope)| (catalog, scope));
    crate::org::history_keys(&sessions.db.client, &sessions.history.client, table, lookup)
        .await
        .map(Some)
}

/// Reads the catalog and classifies it.
pub async fn load_scope(db: &Db, config: &ScopeConfig) -> anyhow::Result<(Catalog, Scope)> {
    let catalog = Catalog::load(&db.client).await?;
    let scope = rules::classify(&catalog, config)?;
    Ok((catalog, scope))
}

/// An archive named on the command line (`verify`, `restore`): an export id is looked up in
/// the history and acted on only inside the configured store ([`history::ExportRow::owned_key`]),
/// with the row that vouches for it; a path, store address or download link is the operator's
/// explicit choice and taken as is.
pub async fn locate_archive(
    settings: &Settings,
    source: &str,
    report: &Reporter,
) -> anyhow::Result<(ArchiveSource, Option<history::ExportRow>)> {
    if uuid::Uuid::parse_str(source).is_err() {
        return Ok((ArchiveSource::typed(source, &settings.store).await?, None));
    }
    let id = crate::commands::link::parse_export_id(source)?;
    let sessions = connect_sessions(settings).await?;
    read_history(&sessions.history, report).await?;
    let (export, _) = completed_export(&sessions.history, id).await?;
    let store = Store::open(&settings.store)?;
    let key = export.owned_key(&store)?;
    Ok((ArchiveSource::Object { store, key }, Some(export)))
}

/// The archive URL of a completed export, or a usage error saying why there is none.
pub async fn completed_export(
    history_db: &Db,
    id: uuid::Uuid,
) -> anyhow::Result<(history::ExportRow, String)> {
    let export = history::find(&history_db.client, id)
        .await?
        .ok_or_else(|| {
            fail(
                Kind::Usage,
                format!("no export with id {id}; see `orgexport list`"),
            )
        })?;
    match (export.status, export.object_url.clone()) {
        (Status::Completed, Some(url)) => Ok((export, url)),
        (Status::Pruned, _) => Err(fail(
            Kind::Usage,
            format!("export {id} was pruned: its archive has been deleted; run a new export"),
        )),
        (Status::Deleted, _) => Err(fail(
            Kind::Usage,
            format!(
                "export {id} was deleted (`orgexport delete`): its archive is gone; run a new export"
            ),
        )),
        (status, _) => Err(fail(
            Kind::Usage,
            format!("export {id} is {status}, not completed: it has no archive"),
        )),
    }
}
