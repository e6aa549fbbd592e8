//! One module per subcommand: each wires the pipeline's stages together and reports. The
//! stages they share (connecting, preparing the history, reading the scope) are here.

pub mod check;
pub mod completions;
pub mod link;
pub mod list;
pub mod plan;
pub mod prune;
pub mod run;
pub mod verify;

use crate::cli::ScopeArgs;
use crate::config::Settings;
use crate::db::connect::{ConnectOptions, Db, connect};
use crate::history;
use crate::output::Reporter;
use crate::scope::catalog::Catalog;
use crate::scope::rules::{self, Scope, ScopeConfig};
use crate::store::Store;

/// The two sessions of a command: one reads (and holds the org lock and the snapshot), one
/// writes history — the reading one is inside a read-only transaction most of the time.
pub struct Sessions {
    pub db: Db,
    pub history: Db,
}

pub async fn connect_sessions(settings: &Settings) -> anyhow::Result<Sessions> {
    let options = ConnectOptions::resolve(settings.database_url.as_deref())?;
    let db = connect(&options).await?;
    let history = connect(&options).await?;
    db.apply_guards(&settings.guards).await?;
    history.apply_guards(&settings.guards).await?;
    Ok(Sessions { db, history })
}

/// Creates or upgrades schema `orgexport` and reconciles abandoned exports (removing what they
/// left in `store`, when given).
pub async fn prepare_history(
    history_db: &mut Db,
    store: Option<&Store>,
    report: &Reporter,
) -> anyhow::Result<()> {
    history::migrate(&mut history_db.client).await?;
    for abandoned in history::reconcile(&history_db.client).await? {
        report.warn(&format!(
            "export {} of org {} was abandoned by a process that died; marked failed",
            abandoned.id, abandoned.org_lookup
        ));
        if let Some(store) = store {
            store.remove_partial(&abandoned.org_lookup, &abandoned.id.to_string());
        }
    }
    Ok(())
}

/// The scope configuration with the command line's `--tables` / `--exclude-tables` applied.
pub fn scope_config(settings: &Settings, args: &ScopeArgs) -> ScopeConfig {
    let mut config = settings.scope.clone();
    config
        .exclude_tables
        .extend(args.exclude_tables.iter().cloned());
    config.only_tables = args.tables.clone();
    config
}

/// Reads the catalog and classifies it.
pub async fn load_scope(db: &Db, config: &ScopeConfig) -> anyhow::Result<(Catalog, Scope)> {
    let catalog = Catalog::load(&db.client).await?;
    let scope = rules::classify(&catalog, config)?;
    Ok((catalog, scope))
}

/// The archive URL of a completed export, or a usage error saying why there is none.
pub async fn completed_export(
    history_db: &Db,
    id: uuid::Uuid,
) -> anyhow::Result<(history::ExportRow, String)> {
    use crate::error::{Kind, fail};
    let export = history::find(&history_db.client, id)
        .await?
        .ok_or_else(|| {
            fail(
                Kind::Usage,
                format!("no export with id {id}; see `orgexport list`"),
            )
        })?;
    match (export.status.as_str(), export.object_url.clone()) {
        ("completed", Some(url)) => Ok((export, url)),
        ("pruned", _) => Err(fail(
            Kind::Usage,
            format!("export {id} was pruned: its archive has been deleted; run a new export"),
        )),
        (status, _) => Err(fail(
            Kind::Usage,
            format!("export {id} is {status}, not completed: it has no archive"),
        )),
    }
}
