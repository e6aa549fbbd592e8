//! `orgexport restore ID|PATH|URL --target-url URL`: load an archive into a database in one
//! transaction (DESIGN §9). Exit codes as for `run`: 1 when the archive or the load fails
//! (the target unchanged), 2 for usage, 4 when the org's lock is held on the target, 5 when
//! the target cannot be reached, 6 for the store, 130 when interrupted.

use std::time::Instant;

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cli::RestoreArgs;
use crate::commands::{archive_location, load_scope};
use crate::config::Settings;
use crate::db::connect::connect;
use crate::db::lock;
use crate::error::{Kind, fail};
use crate::export::verify::{check_recorded, check_sidecar};
use crate::history::{self, ExportRow};
use crate::output::{Reporter, human_count};
use crate::restore::load::{Event, Loader, SectionOutcome, check_complete, start_reading};
use crate::restore::manifest::{ArchivedManifest, Role};
use crate::restore::plan::{self, LoadPlan, Options, check_fills, map_table, references_of};
use crate::restore::target;
use crate::store::Store;

/// Where the archive came from, and what vouches for it besides its own manifest.
struct Source {
    url: String,
    sidecar: Option<Vec<u8>>,
    recorded: Option<ExportRow>,
}

pub async fn run(
    settings: &Settings,
    args: &RestoreArgs,
    cancel: CancellationToken,
    report: Reporter,
) -> anyhow::Result<()> {
    let restore = settings
        .restore
        .as_ref()
        .expect("restore settings are resolved for the restore command");
    let started = Instant::now();

    // The archive: by export id through the history, or by path or URL.
    let (object_url, recorded) = archive_location(settings, &args.source, &report).await?;
    let (store, key) = Store::locate(&object_url, &settings.store).await?;
    let source = Source {
        url: store.object_url(&key),
        sidecar: store.read_small(&Store::sidecar_of(&key)).await?,
        recorded,
    };
    let reader = store.open_read(&key).await?;

    // The target, and what its catalog says about scope (the references keys flow along).
    let options = restore
        .target
        .clone()
        .map_err(|(kind, message)| fail(kind, format!("--target-url: {message}")))?;
    let target = connect(&options).await?;
    settings.guards.apply(&target).await?;
    if history::is_read_only(&target.client).await? {
        return Err(fail(
            Kind::Connect,
            format!(
                "the target database ({}) is read-only (a replica?); point --target-url at a primary",
                options.describe()
            ),
        ));
    }
    // The same configuration as `run` (--config) says which references keys flow along.
    let (catalog, scope) = load_scope(&target, &settings.scope)
        .await
        .map_err(|e| e.context("reading the target's scope"))?;

    let mut events = start_reading(reader);
    let manifest = match events.recv().await {
        Some(Event::Manifest(manifest)) => ArchivedManifest::parse(&manifest).map_err(|e| {
            fail(
                Kind::ExportFailed,
                format!("{} cannot be restored: {e}", source.url),
            )
        })?,
        Some(Event::Done(verdict)) => {
            return Err(fail(
                Kind::ExportFailed,
                format!(
                    "{} is not a sound archive: {}",
                    source.url,
                    verdict
                        .problems
                        .first()
                        .map_or("no manifest", |p| p.as_str())
                ),
            ));
        }
        _ => anyhow::bail!("the archive reader stopped unexpectedly"),
    };
    check_complete(&manifest, args.allow_partial)?;
    let names: Vec<&str> = manifest.sections.iter().map(|s| s.name.as_str()).collect();
    let columns = target::load(&target.client, &catalog, &names).await?;
    check_fills(&manifest, &columns, &restore.fills).map_err(|e| fail(Kind::Usage, e))?;
    let references = references_of(&scope);
    let plan = plan::plan(
        &manifest,
        &catalog,
        &columns,
        &references,
        &Options {
            remap_keys: args.remap_keys,
            fills: &restore.fills,
        },
    )
    .map_err(|problems| {
        fail(
            Kind::ExportFailed,
            format!(
                "the target ({}) cannot take this archive; nothing was written: {}",
                options.describe(),
                problems.join("; ")
            ),
        )
    })?;

    let loader = Loader {
        client: &target.client,
        canceller: target.canceller(),
        cancel: &cancel,
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
        &source,
        args,
        &mut events,
        &mut outcomes,
    )
    .await;
    let target_key = match loaded {
        Ok(key) => key,
        Err(err) => {
            // The session may be mid-statement (cancelled) or gone: a rollback that cannot
            // be sent is done by the server when the session ends.
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                target.client.batch_execute("ROLLBACK"),
            )
            .await;
            return Err(err.context("restore failed; the target is unchanged (rolled back)"));
        }
    };
    print_summary(
        &report,
        &manifest,
        &outcomes,
        &target_key,
        args.dry_run,
        started,
        &options.describe(),
    )
}

/// The transaction: stage, check, insert, audit, commit (or roll back for a dry run).
/// Returns the org's key in the target.
async fn load(
    loader: &Loader<'_>,
    plan: &LoadPlan,
    manifest: &ArchivedManifest,
    source: &Source,
    args: &RestoreArgs,
    events: &mut mpsc::Receiver<Event>,
    outcomes: &mut [SectionOutcome],
) -> anyhow::Result<String> {
    let begin = || "starting the restore transaction".to_string();
    loader.execute(begin, "BEGIN").await?;
    // The org's lock, as `run` takes it: no export of this org reads the target meanwhile.
    let lock_key = lock::lock_key(&manifest.org_key);
    let taken: bool = loader
        .client
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&lock_key])
        .await?
        .get(0);
    if !taken {
        let holder = lock::holder(loader.client, lock_key).await.ok().flatten();
        return Err(fail(
            Kind::LockBusy,
            format!(
                "org {} is being exported or restored on the target ({}); retry later",
                manifest.org_lookup,
                holder.map_or("its holder just let go".to_string(), |h| h.to_string())
            ),
        ));
    }
    loader
        .execute(
            || "deferring constraints".to_string(),
            "SET CONSTRAINTS ALL DEFERRED",
        )
        .await?;

    let mut verdict = loader.stage(plan, events, outcomes).await?;
    match (&source.sidecar, &source.recorded) {
        (Some(sidecar), _) => check_sidecar(&mut verdict, sidecar),
        (None, Some(export)) => {
            check_recorded(&mut verdict, export.bytes, export.sha256.as_deref())
        }
        (None, None) => {}
    }
    if let Some(problem) = verdict.problems.first() {
        return Err(fail(
            Kind::ExportFailed,
            format!("{} is not a sound archive: {problem}", source.url),
        ));
    }

    loader.prepare(plan, outcomes).await?;
    let conflicts = loader.conflicts(plan).await?;
    if !conflicts.is_empty() {
        let fix = if args.remap_keys {
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

    let root = plan.sections.iter().position(|s| s.role == Role::Root);
    let target_key = match root.filter(|&r| plan.sections[r].remap.is_some()) {
        Some(r) => loader
            .client
            .query_one(
                &format!(
                    "SELECT new::text FROM {} WHERE old::text = $1",
                    map_table(r)
                ),
                &[&manifest.org_key],
            )
            .await?
            .get(0),
        None => manifest.org_key.clone(),
    };
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
            "remap_keys": args.remap_keys,
            "records": manifest.record_count(),
            "sections": outcomes.iter().map(SectionOutcome::to_json).collect::<Vec<_>>(),
        }),
    )
    .await?;
    let end = if args.dry_run { "ROLLBACK" } else { "COMMIT" };
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

fn print_summary(
    report: &Reporter,
    manifest: &ArchivedManifest,
    outcomes: &[SectionOutcome],
    target_key: &str,
    dry_run: bool,
    started: Instant,
    target: &str,
) -> anyhow::Result<()> {
    let total = |f: fn(&SectionOutcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    if report.output.json {
        report.json(&json!({
            "export_id": manifest.export_id,
            "org": {
                "table": manifest.org_table,
                "key": manifest.org_key,
                "lookup": manifest.org_lookup,
            },
            "target_org_key": target_key,
            "dry_run": dry_run,
            "sections": outcomes.iter().map(SectionOutcome::to_json).collect::<Vec<_>>(),
            "inserted": total(|o| o.inserted),
            "matched": total(|o| o.matched),
            "remapped": total(|o| o.remapped),
            "cleared": total(|o| o.cleared),
        }))?;
        return Ok(());
    }
    for o in outcomes {
        let mut line = format!("{}: {} inserted", o.name, o.inserted);
        for (count, what) in [
            (o.matched, "matched"),
            (o.remapped, "remapped"),
            (o.cleared, "references cleared"),
        ] {
            if count > 0 {
                line.push_str(&format!(", {count} {what}"));
            }
        }
        report.info(&line);
    }
    let key = if target_key == manifest.org_key {
        format!("key {target_key}")
    } else {
        format!("key {} → {target_key}", manifest.org_key)
    };
    report.info(&format!(
        "{} org {} ({} {key}) into {target}: {} rows inserted, {} shared rows matched in {:.1}s{}",
        if dry_run {
            "dry run: would restore"
        } else {
            "restored"
        },
        manifest.org_lookup,
        manifest.org_table,
        human_count(total(|o| o.inserted)),
        human_count(total(|o| o.matched)),
        started.elapsed().as_secs_f64(),
        if dry_run {
            " (rolled back; nothing written)"
        } else {
            ""
        }
    ));
    report.stdout_line(target_key)?;
    Ok(())
}
