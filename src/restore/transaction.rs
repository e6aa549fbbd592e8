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
use crate::restore::load::{
    Event, Loader, SectionOutcome, check_complete, per_column, start_reading,
};
use crate::restore::manifest::{ArchivedManifest, roles};
use crate::restore::model::{LoadPlan, Options};
use crate::restore::plan::{self, TargetModel};
use crate::restore::sql::map_table;
use crate::restore::target;
use crate::restore::{direct, fills};
use crate::scope::catalog::Catalog;
use crate::scope::model::Scope;
use crate::scope::rules::adopt_recorded_pairs;
use crate::store::ArchiveSource;

/// Where the archive came from, and what vouches for it besides its own manifest.
pub struct Source {
    pub url: String,
    pub sidecar: Option<Vec<u8>>,
    pub recorded: Option<ExportRow>,
    /// An encrypted archive's stored size and digest, tallied before decryption: what the
    /// history row and the sidecar vouch for. `None`: the verdict's own tally is.
    pub stored: Option<crate::encryption::open::StoredTally>,
}

/// What the operator asked for.
pub struct Request<'a> {
    pub remap_keys: bool,
    pub allow_partial: bool,
    pub dry_run: bool,
    pub fills: &'a [Fill],
    pub fill_secrets: bool,
    pub max_value_bytes: u64,
    /// `--target-schema`: the tenant schema a schema tenant's archive is restored into.
    pub target_schema: Option<&'a str>,
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
    /// Loaded straight into the target's tables (`direct.rs`), not through staging tables.
    pub direct: bool,
}

/// Restores the archive `reader` reads into the target, in one transaction. A direct load
/// (`direct.rs`) that fails is rolled back and done again through staging tables from a
/// fresh read of `archive`, so that a refusal reads as the staged load words it.
pub async fn restore(
    target: &Target<'_>,
    source: &Source,
    archive: &ArchiveSource,
    reader: impl std::io::Read + Send + 'static,
    request: &Request<'_>,
    cancel: &CancellationToken,
    report: Reporter,
) -> anyhow::Result<Restored> {
    let mut direct = true;
    let first = attempt(target, source, reader, request, cancel, report, &mut direct).await;
    match first {
        Err(err) if direct && crate::error::kind_of(&err) != Kind::Interrupted => {
            report.verbose(&format!(
                "the direct load did not go through ({err:#}); loading again through staging tables"
            ));
            let reader = archive.open_read().await?;
            attempt(target, source, reader, request, cancel, report, &mut false).await
        }
        done => done,
    }
}

/// One restore transaction; `direct` says whether a direct load may be tried, and on return
/// whether it was.
async fn attempt(
    target: &Target<'_>,
    source: &Source,
    reader: impl std::io::Read + Send + 'static,
    request: &Request<'_>,
    cancel: &CancellationToken,
    report: Reporter,
    direct: &mut bool,
) -> anyhow::Result<Restored> {
    let allowed = std::mem::replace(direct, false);
    let mut events = start_reading(reader, request.max_value_bytes);
    if let Some(schema) = request.target_schema {
        events = crate::restore::schema_rename::into_schema(events, schema.to_string());
    }
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
    let mut load = Load {
        plan: &plan,
        manifest: &manifest,
        source,
        request,
        outcomes: &mut outcomes,
        direct: allowed,
    };
    let loaded = load.run(&loader, &mut events).await;
    *direct = load.direct;
    match loaded {
        Ok(target_key) => Ok(Restored {
            manifest,
            outcomes,
            target_key,
            direct: *direct,
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
    let cannot = |problems: Vec<String>| {
        fail(
            Kind::ExportFailed,
            format!(
                "the target ({}) cannot take this archive; nothing was written: {}",
                target.describe,
                problems.join("; ")
            ),
        )
    };
    // Schema-per-tenant: the target's scope of the schema the archive is restored into.
    let tenant = tenant_scope(target, manifest, request)?;
    let base = tenant.as_ref().unwrap_or(target.scope);
    // The pairs the export followed, adopted as if configured; roles come from the target's
    // scope so classified, never from the manifest's text.
    let scope = adopt_recorded_pairs(target.catalog, base, manifest.polymorphic.as_deref())
        .map_err(|e| cannot(vec![format!("the archive's polymorphic pairs: {e}")]))?;
    let roles = roles(manifest, target.catalog, &scope).map_err(cannot)?;
    let names: Vec<&str> = manifest.sections.iter().map(|s| s.name.as_str()).collect();
    let columns = target::load(&target.db.client, target.catalog, &names).await?;
    let natural_keys = target::natural_keys(&target.db.client, &names).await?;
    let fills = fills::resolve(manifest, &columns, request.fills, request.fill_secrets)
        .map_err(|e| fail(Kind::Usage, e))?;
    let options = Options {
        remap_keys: request.remap_keys,
        fills: &fills,
    };
    let model = TargetModel {
        catalog: target.catalog,
        scope: &scope,
        columns: &columns,
        natural_keys: &natural_keys,
    };
    let plan = plan::plan(manifest, &roles, &model, &options).map_err(cannot)?;
    Ok(crate::restore::citus::mirror_reads(plan, target.catalog))
}

/// Schema-per-tenant: the target's scope classified for the archive's tenant schema (after
/// `--target-schema` renamed it), when that is not the one `target.scope` was classified
/// for. `--target-schema` on a target whose tenancy is by rows is a usage error.
fn tenant_scope(
    target: &Target<'_>,
    manifest: &ArchivedManifest,
    request: &Request<'_>,
) -> anyhow::Result<Option<crate::scope::model::Scope>> {
    if target.scope.schemas.is_none() {
        return match request.target_schema {
            Some(_) => Err(fail(
                Kind::Usage,
                format!(
                    "--target-schema restores a schema-per-tenant archive into another tenant schema, but the target ({}) has no tenant schemas (set tenant_schemas in orgexport.toml, or leave out --target-schema)",
                    target.describe
                ),
            )),
            None => Ok(None),
        };
    }
    let Some(schema) = manifest.org_table.strip_prefix("schema ") else {
        return Ok(None);
    };
    let tenancy = target.scope.schemas.as_ref().expect("checked above");
    if !tenancy.tenants.iter().any(|t| t.schema == schema) {
        return Err(fail(
            Kind::ExportFailed,
            format!(
                "the target ({}) cannot take this archive; nothing was written: {schema} is not one of its tenant schemas ({}); create the schema's tables first (the app's migrations), or pass --target-schema to restore into another one",
                target.describe, tenancy.how
            ),
        ));
    }
    // The archive's pairs are adopted on it by the caller.
    crate::scope::rules::for_tenant(target.catalog, target.scope, schema)
}

/// What one transaction works from; `direct`: whether a direct load may be tried, then
/// whether it was.
struct Load<'a, 'r> {
    plan: &'a LoadPlan,
    manifest: &'a ArchivedManifest,
    source: &'a Source,
    request: &'a Request<'r>,
    outcomes: &'a mut [SectionOutcome],
    direct: bool,
}

impl Load<'_, '_> {
    /// The transaction: stage, check, insert, audit, commit (or roll back for a dry run).
    /// Returns the org's key in the target.
    async fn run(
        &mut self,
        loader: &Loader<'_>,
        events: &mut mpsc::Receiver<Event>,
    ) -> anyhow::Result<String> {
        let begin = || "starting the restore transaction".to_string();
        loader.execute(begin, "BEGIN").await?;
        lock_org(loader, self.manifest).await?;
        loader.start_citus(self.plan).await?;
        // Up front: a target whose history schema cannot be used fails before the load.
        history::migrate_in(loader.client).await?;
        loader
            .execute(
                || "deferring constraints".to_string(),
                "SET CONSTRAINTS ALL DEFERRED",
            )
            .await?;
        // On Citus the checks read mirrors, not the tables a direct load would fill.
        self.direct = self.direct
            && self.plan.mirrors.is_empty()
            && direct::eligible(self.plan)
            && loader.claim_empty(self.plan).await?;
        let in_place = self.direct.then(|| direct::in_place(self.plan));
        let plan = in_place.as_ref().unwrap_or(self.plan);
        load(
            loader,
            plan,
            self.manifest,
            self.source,
            self.request,
            events,
            self.outcomes,
        )
        .await
    }
}

/// Stage (or, directly, insert), check, insert, audit, commit.
async fn load(
    loader: &Loader<'_>,
    plan: &LoadPlan,
    manifest: &ArchivedManifest,
    source: &Source,
    request: &Request<'_>,
    events: &mut mpsc::Receiver<Event>,
    outcomes: &mut [SectionOutcome],
) -> anyhow::Result<String> {
    let mut verdict = loader.stage(plan, events, outcomes).await?;
    check_source(&mut verdict, source)?;
    loader.mirror_target(plan).await?;
    loader.check_org(plan, &manifest.org_key).await?;
    loader.check_fills(plan, request.dry_run).await?;
    let fresh = fresh_sources(loader, plan, request).await?;
    loader
        .match_shared(plan, request.remap_keys, &fresh, outcomes)
        .await?;
    loader.prepare(plan, &fresh, outcomes).await?;
    loader.mirror_rewritten_keys(plan).await?;
    if manifest.narrowed && !request.remap_keys {
        loader.match_present_owned(plan, outcomes).await?;
    }
    refuse_conflicts(loader.conflicts(plan).await?, request.remap_keys)?;
    loader.insert(plan, request.dry_run, outcomes).await?;

    let target_key = target_key(loader, plan, manifest).await?;
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
            "dry_run": request.dry_run,
            "direct": plan.direct,
            "records": manifest.record_count(),
            "cleared": per_column(outcomes, |o| &o.cleared),
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
/// history row when restoring by export id, else the sidecar (size and digest).
fn check_source(verdict: &mut Verdict, source: &Source) -> anyhow::Result<()> {
    if let Some(stored) = &source.stored {
        (verdict.bytes, verdict.sha256) = stored.result();
    }
    // By export id the history row is the authority: a sidecar can be replaced together
    // with the archive it describes.
    match (&source.recorded, &source.sidecar) {
        (Some(export), _) => check_recorded(verdict, export.bytes, export.sha256.as_deref()),
        (None, Some(sidecar)) => check_sidecar(verdict, sidecar),
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

/// Org rows whose keys the target already holds: an error listing them, with the fix.
fn refuse_conflicts(conflicts: Vec<String>, remap_keys: bool) -> anyhow::Result<()> {
    if conflicts.is_empty() {
        return Ok(());
    }
    let fix = if remap_keys {
        "these keys are not fed by a sequence, so --remap-keys cannot replace them"
    } else {
        "pass --remap-keys to give the org's rows fresh keys, or restore into a database without them"
    };
    Err(fail(
        Kind::ExportFailed,
        format!(
            "the target already holds rows with the archive's keys: {}; {fix}",
            conflicts.join("; ")
        ),
    ))
}

/// Per section, the sequence fresh keys come from: the key's own sequence, or in a dry run a
/// temporary one started past both it and the table's largest key, since `nextval` is not
/// undone by a rollback.
async fn fresh_sources(
    loader: &Loader<'_>,
    plan: &LoadPlan,
    request: &Request<'_>,
) -> anyhow::Result<Vec<Option<String>>> {
    let mut sources = Vec::with_capacity(plan.sections.len());
    for (i, section) in plan.sections.iter().enumerate() {
        let remap = section
            .remap
            .as_ref()
            .or(section.shared.as_ref().and_then(|s| s.fresh.as_ref()));
        let Some(remap) = remap else {
            sources.push(None);
            continue;
        };
        if !request.dry_run {
            sources.push(Some(remap.sequence.clone()));
            continue;
        }
        let temporary = format!("orgexport_dry_run_{i}");
        let sql = format!(
            "CREATE TEMP SEQUENCE {temporary}; \
             SELECT setval('{temporary}', greatest((SELECT coalesce(max({key}), 0) FROM {table}), \
                                                   (SELECT last_value FROM {sequence})) + 1, false)",
            key = crate::db::quote_ident(&remap.column),
            table = section.table,
            sequence = remap.sequence,
        );
        loader
            .batch(
                || format!("preparing the dry run's keys of {}", section.name),
                &sql,
            )
            .await?;
        sources.push(Some(temporary));
    }
    Ok(sources)
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
    match plan.root().filter(|&r| plan.sections[r].remap.is_some()) {
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
