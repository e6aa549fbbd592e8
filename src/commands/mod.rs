//! One module per subcommand: each wires the pipeline's stages together and reports. The
//! stages they share (connecting, preparing the history, reading the scope) are here.

pub mod cat;
pub mod check;
pub mod completions;
pub mod delete;
pub mod diff;
pub mod inspect;
pub mod link;
pub mod list;
pub mod orgs;
pub mod plan;
pub mod prune;
pub mod restore;
pub mod run;
pub mod setup;
pub mod verify;

use crate::config::Settings;
use crate::db::connect::{Db, connect};
use crate::error::{Kind, fail};
use crate::history::{self, Status};
use crate::output::Reporter;
use crate::privileges::{Missing, history_missing};
use crate::scope::catalog::Catalog;
use crate::scope::config::ScopeConfig;
use crate::scope::model::Scope;
use crate::scope::rules;
use crate::store::{ArchiveSource, Store};

/// The sessions of a command: one reads the source (and holds the snapshot), one writes
/// history and holds the org locks — on the history database (`--history-url`), which is
/// the source database unless told otherwise. `observer` is a second session on the source
/// when the history is elsewhere: it names the session in the way when a table lock times
/// out (the history session does that when it is on the source).
pub struct Sessions {
    pub db: Db,
    pub history: Db,
    observer: Option<Db>,
}

impl Sessions {
    /// The reading session, the history session, and a session on the source other than
    /// the reading one, borrowed side by side.
    pub fn parts(&mut self) -> (&mut Db, &Db, &tokio_postgres::Client) {
        let observer = &self.observer.as_ref().unwrap_or(&self.history).client;
        (&mut self.db, &self.history, observer)
    }
}

pub async fn connect_sessions(settings: &Settings) -> anyhow::Result<Sessions> {
    let options = settings.connect_options()?;
    let db = connect(&options).await?;
    let (history, observer) = match &settings.history {
        None => (connect(&options).await?, None),
        Some(_) => {
            let history = connect(&settings.history_options()?)
                .await
                .map_err(|e| e.context("connecting to the history database (--history-url)"))?;
            (history, Some(connect(&options).await?))
        }
    };
    for session in [Some(&db), Some(&history), observer.as_ref()]
        .into_iter()
        .flatten()
    {
        settings.guards.apply(session).await?;
    }
    Ok(Sessions {
        db,
        history,
        observer,
    })
}

/// For the commands that write history (`run`, `link`, `prune`): refuses a read-only
/// database, creates or upgrades schema `orgexport`, and reconciles abandoned exports
/// (removing the partial files they left in a local store).
pub async fn prepare_history(history_db: &mut Db, report: &Reporter) -> anyhow::Result<()> {
    if history::is_read_only(&history_db.client).await? {
        return Err(fail(
            Kind::Connect,
            "the history database is read-only (a hot standby?): exports, links and pruning are recorded in it; pass --history-url (or history_url, ORGEXPORT_HISTORY_URL) naming the primary, or point --database-url at the primary",
        ));
    }
    refuse_missing(&history_missing(&history_db.client).await?, false)?;
    history::migrate(&mut history_db.client).await?;
    reconcile(history_db, report).await
}

/// A one-line refusal naming each missing history privilege with its GRANT (`to_read`: only
/// those reading needs).
fn refuse_missing(missing: &[Missing], to_read: bool) -> anyhow::Result<()> {
    let missing: Vec<&Missing> = missing.iter().filter(|m| m.to_read || !to_read).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let what: Vec<&str> = missing.iter().map(|m| m.what.as_str()).collect();
    let grants: Vec<&str> = missing.iter().map(|m| m.grant.as_str()).collect();
    Err(fail(
        Kind::Connect,
        format!(
            "the history database refuses this role: {}; as an owner run: {} (`orgexport setup --print-grants ROLE` prints every grant)",
            what.join("; "),
            grants.join(" ")
        ),
    ))
}

/// For the commands that only read (`list`, `verify` and `restore` by id): never creates the
/// schema; reconciles abandoned exports only where it can write. Returns whether history
/// exists.
pub async fn read_history(history_db: &Db, report: &Reporter) -> anyhow::Result<bool> {
    if !history::exists(&history_db.client).await? {
        return Ok(false);
    }
    refuse_missing(&history_missing(&history_db.client).await?, true)?;
    tidy_history(history_db, report).await?;
    Ok(true)
}

/// Reconciles abandoned exports when the history exists and this role may write it, and
/// does nothing otherwise: `plan` needs no history privilege at all.
pub async fn tidy_history(history_db: &Db, report: &Reporter) -> anyhow::Result<()> {
    let client = &history_db.client;
    if history::exists(client).await?
        && !history::is_read_only(client).await?
        && history_missing(client).await?.is_empty()
    {
        reconcile(history_db, report).await?;
    }
    Ok(())
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

/// The archive's plaintext for `verify` and `restore`: an age-encrypted archive is decrypted
/// with the `--identity` files ([`crate::encryption::open`]), with the tally of its stored
/// bytes; a plain one is read as it is.
pub async fn open_archive(
    source: &ArchiveSource,
    identity_files: &[std::path::PathBuf],
) -> anyhow::Result<(
    Box<dyn std::io::Read + Send>,
    Option<crate::encryption::open::StoredTally>,
)> {
    let identities = crate::encryption::open::Identities::load(identity_files)?;
    let raw = source.open_read().await?;
    let describe = source.describe();
    tokio::task::spawn_blocking(move || {
        crate::encryption::open::open_archive(raw, identities.as_ref(), &describe)
    })
    .await?
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
