//! The restore transaction (DESIGN §9), from an opened archive to a committed (or, for a dry
//! run, rolled back) load: the manifest read and checked against the target's catalog, the
//! plan, then in one transaction the org's lock, staging (the archive verified while read),
//! conflicts, inserts and the `restore.completed` audit row. Any failure rolls back. Where the
//! archive comes from and how the outcome is shown is the `restore` command's.

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Fill;
use crate::db::connect::Db;
use crate::db::lock;
use crate::error::{Kind, fail};
use crate::export::verify::{Verdict, check_recorded, check_sidecar};
use crate::history::{self, ExportRow};
use crate::output::Reporter;
use crate::restore::load::{Event, Loader, SectionOutcome, check_complete, start_reading};
use crate::restore::manifest::{ArchivedManifest, Role, roles};
use crate::restore::plan::{self, LoadPlan, Options, check_fills, references_of};
use crate::restore::sql::map_table;
use crate::restore::target;
use crate::scope::catalog::Catalog;
use crate::scope::model::Scope;

/// Where the archive came from, and what vouches for it besides its own manifest.
pub struct Source {
    pub url: String,
    pub sidecar: Option<Vec<u8>>,
    pub recorded: Option<ExportRow>,
}

/// What the operator asked for.
pub struct Request<'a> {
    pub remap_keys: bool,
    pub allow_partial: bool,
    pub dry_run: bool,
    pub fills: &'a [Fill],
    pub fill_secrets: bool,
    pub max_value_bytes: u64,
}

/// The target: its session, its catalog and the scope the configuration gives it.
pub struct Target<'a> {
    pub db: &'a Db,
    pub catalog: &'a Catalog,
    pub scope: &'a Scope,
    /// How the target is named in messages (`host=… dbname=…`, no password).
    pub describe: String,
}

/// A finished restore: what was restored, per section, and the org's key in the target.
pub struct Restored {
    pub manifest: ArchivedManifest,
    pub outcomes: Vec<SectionOutcome>,
    pub target_key: String,
}

/// Restores the archive `reader` reads into the target, in one transaction.
pub async fn restore(
    target: &Target<'_>,
    source: &Source,
    reader: impl std::io::Read + Send + 'static,
    request: &Request<'_>,
    cancel: &CancellationToken,
    report: Reporter,
) -> anyhow::Result<Restored> {
    let mut events = start_reading(reader, request.max_value_bytes);
    let manifest = read_manifest(&mut events, source).await?;
    check_complete(&manifest, request.allow_partial)?;
    let plan = plan_load(target, &manifest, request).await?;
    let loader = Loader {
        client: &target.db.client,
        canceller: target.db.canceller(),
        cancel,
        report,
    };
    let mut outcomes: Vec<SectionOutcome> = plan
        .sections
        .iter()
        .map(|s| SectionOutcome {
            name: s.name.clone(),
            ..SectionOutcome::default()
        })
        .collect();
    let loaded = load(
        &loader,
        &plan,
        &manifest,
        source,
        request,
        &mut events,
        &mut outcomes,
    )
    .await;
    match loaded {
        Ok(target_key) => Ok(Restored {
            manifest,
            outcomes,
            target_key,
        }),
        Err(err) => {
            // The session may be mid-statement (cancelled) or gone: a rollback that cannot
            // be sent is done by the server when the session ends.
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                target.db.client.batch_execute("ROLLBACK"),
            )
            .await;
            Err(err.context("restore failed; the target is unchanged (rolled back)"))
        }
    }
}

/// The archive's manifest, the first thing its reader yields.
async fn read_manifest(
    events: &mut mpsc::Receiver<Event>,
    source: &Source,
) -> anyhow::Result<ArchivedManifest> {
    match events.recv().await {
        Some(Event::Manifest(manifest)) => ArchivedManifest::parse(&manifest).map_err(|e| {
            fail(
                Kind::ExportFailed,
                format!("{} cannot be restored: {e}", source.url),
            )
        }),
        Some(Event::Done(verdict)) => Err(fail(
            Kind::ExportFailed,
            format!(
                "{} is not a sound archive: {}",
                source.url,
                verdict
                    .problems
                    .first()
                    .map_or("no manifest", |p| p.as_str())
            ),
        )),
        _ => anyhow::bail!("the archive reader stopped unexpectedly"),
    }
}

/// The load plan, or why the target cannot take the archive (nothing written yet).
async fn plan_load(
    target: &Target<'_>,
    manifest: &ArchivedManifest,
    request: &Request<'_>,
) -> anyhow::Result<LoadPlan> {
    let names: Vec<&str> = manifest.sections.iter().map(|s| s.name.as_str()).collect();
    let columns = target::load(&target.db.client, target.catalog, &names).await?;
    check_fills(manifest, &columns, request.fills).map_err(|e| fail(Kind::Usage, e))?;
    let references = references_of(target.scope);
    let options = Options {
        remap_keys: request.remap_keys,
        fills: request.fills,
    };
    let roles = roles(manifest).map_err(|e| {
        fail(
            Kind::ExportFailed,
            format!("the archive cannot be restored: {e}"),
        )
    })?;
    plan::plan(
        manifest,
        &roles,
        target.catalog,
        &columns,
        &references,
        &options,
    )
    .map_err(|problems| {
        fail(
            Kind::ExportFailed,
            format!(
                "the target ({}) cannot take this archive; nothing was written: {}",
                target.describe,
                problems.join("; ")
            ),
        )
    })
}

/// The transaction: stage, check, insert, audit, commit (or roll back for a dry run).
/// Returns the org's key in the target.
async fn load(
    loader: &Loader<'_>,
    plan: &LoadPlan,
    manifest: &ArchivedManifest,
    source: &Source,
    request: &Request<'_>,
    events: &mut mpsc::Receiver<Event>,
    outcomes: &mut [SectionOutcome],
) -> anyhow::Result<String> {
    let begin = || "starting the restore transaction".to_string();
    loader.execute(begin, "BEGIN").await?;
    lock_org(loader, manifest).await?;
    loader
        .execute(
            || "deferring constraints".to_string(),
            "SET CONSTRAINTS ALL DEFERRED",
        )
        .await?;

    let mut verdict = loader.stage(plan, events, outcomes).await?;
    check_source(&mut verdict, source)?;
    loader.prepare(plan, outcomes).await?;
    let conflicts = loader.conflicts(plan).await?;
    if !conflicts.is_empty() {
        let fix = if request.remap_keys {
            "these keys are not fed by a sequence, so --remap-keys cannot replace them"
        } else {
            "pass --remap-keys to give the org's rows fresh keys, or restore into a database without them"
        };
        return Err(fail(
            Kind::ExportFailed,
            format!(
                "the target already holds rows with the archive's keys: {}; {fix}",
                conflicts.join("; ")
            ),
        ));
    }
    loader.insert(plan, outcomes).await?;

    let target_key = target_key(loader, plan, manifest).await?;
    history::migrate_in(loader.client).await?;
    history::audit(
        loader.client,
        "restore.completed",
        uuid::Uuid::parse_str(&manifest.export_id).ok(),
        Some(&target_key),
        json!({
            "source": source.url,
            "source_org_key": manifest.org_key,
            "org_lookup": manifest.org_lookup,
            "remap_keys": request.remap_keys,
            "records": manifest.record_count(),
            "sections": outcomes.iter().map(SectionOutcome::to_json).collect::<Vec<_>>(),
        }),
    )
    .await?;
    let end = if request.dry_run {
        "ROLLBACK"
    } else {
        "COMMIT"
    };
    loader
        .execute(
            || {
                "committing (a deferred constraint does not hold; the transaction rolled back)"
                    .to_string()
            },
            end,
        )
        .await?;
    Ok(target_key)
}

/// The archive as read against what vouches for it: its own manifest (counts, CRC), then the
/// sidecar or, without one, the history row (size and digest).
fn check_source(verdict: &mut Verdict, source: &Source) -> anyhow::Result<()> {
    match (&source.sidecar, &source.recorded) {
        (Some(sidecar), _) => check_sidecar(verdict, sidecar),
        (None, Some(export)) => check_recorded(verdict, export.bytes, export.sha256.as_deref()),
        (None, None) => {}
    }
    match verdict.problems.first() {
        Some(problem) => Err(fail(
            Kind::ExportFailed,
            format!("{} is not a sound archive: {problem}", source.url),
        )),
        None => Ok(()),
    }
}

/// The org's lock, as `run` takes it (for the transaction): no export of this org reads the
/// target meanwhile.
async fn lock_org(loader: &Loader<'_>, manifest: &ArchivedManifest) -> anyhow::Result<()> {
    let lock_key = lock::lock_key(&manifest.org_key);
    let taken: bool = loader
        .client
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&lock_key])
        .await?
        .get(0);
    if taken {
        return Ok(());
    }
    let holder = lock::holder(loader.client, lock_key).await.ok().flatten();
    Err(fail(
        Kind::LockBusy,
        format!(
            "org {} is being exported or restored on the target ({}); retry later",
            manifest.org_lookup,
            holder.map_or("its holder just let go".to_string(), |h| h.to_string())
        ),
    ))
}

/// The org's key in the target: the remapped root key, or the archive's.
async fn target_key(
    loader: &Loader<'_>,
    plan: &LoadPlan,
    manifest: &ArchivedManifest,
) -> anyhow::Result<String> {
    let root = plan.sections.iter().position(|s| s.role == Role::Root);
    match root.filter(|&r| plan.sections[r].remap.is_some()) {
        Some(r) => Ok(loader
            .client
            .query_one(
                &format!(
                    "SELECT new::text FROM {} WHERE old::text = $1",
                    map_table(r)
                ),
                &[&manifest.org_key],
            )
            .await?
            .get(0)),
        None => Ok(manifest.org_key.clone()),
    }
}
