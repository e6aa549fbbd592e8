//! `orgexport restore ID|PATH|URL --target-url URL`: load an archive into a database in one
//! transaction (DESIGN §9). Exit codes as for `run`: 1 when the archive or the load fails
//! (the target unchanged), 2 for usage, 4 when the org's lock is held on the target, 5 when
//! the target cannot be reached, 6 for the store, 130 when interrupted.

use std::time::Instant;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::cli::RestoreArgs;
use crate::commands::{load_scope, locate_archive, open_archive};
use crate::config::Settings;
use crate::db::connect::connect;
use crate::error::{Kind, fail};
use crate::history;
use crate::output::{Reporter, human_count};
use crate::restore::load::{SectionOutcome, per_column};
use crate::restore::transaction::{self, Request, Restored, Source, Target};

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
    let (archive, recorded) = locate_archive(settings, &args.source, &report).await?;
    let (reader, stored) = open_archive(&archive, &settings.identities).await?;
    let source = Source {
        url: archive.describe(),
        sidecar: archive.sidecar().await?,
        recorded,
        stored,
    };

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
    // Pairs `run` adopted from the org's values (`infer_references`) are adopted once the
    // archive's manifest says which (`restore::transaction`).

    let target = Target {
        db: &target,
        catalog: &catalog,
        scope: &scope,
        describe: options.describe(),
    };
    let request = Request {
        remap_keys: args.remap_keys,
        allow_partial: args.allow_partial,
        dry_run: args.dry_run,
        fills: &restore.fills,
        fill_secrets: restore.fill_secrets,
        max_value_bytes: restore.max_value_bytes,
        target_schema: args.target_schema.as_deref(),
    };
    let restored = transaction::restore(
        &target, &source, &archive, reader, &request, &cancel, report,
    )
    .await?;
    print_summary(&report, &restored, args.dry_run, started, &target.describe)
}

fn print_summary(
    report: &Reporter,
    restored: &Restored,
    dry_run: bool,
    started: Instant,
    target: &str,
) -> anyhow::Result<()> {
    if report.output.json {
        report.json(&summary_json(restored, dry_run))?;
        return Ok(());
    }
    let Restored {
        manifest,
        outcomes,
        target_key,
        ..
    } = restored;
    for o in outcomes {
        let mut line = format!("{}: {} inserted", o.name, o.inserted);
        for (count, what) in [(o.matched, "matched"), (o.remapped, "remapped")] {
            if count > 0 {
                line.push_str(&format!(", {count} {what}"));
            }
        }
        report.info(&line);
    }
    for (column, n) in per_column(outcomes, |o| &o.cleared) {
        report.info(&format!(
            "{column}: {n} value(s) cleared: they pointed at rows of neither the archive nor the target"
        ));
    }
    for (column, n) in per_column(outcomes, |o| &o.unresolved) {
        report.warn(&format!(
            "{column}: {n} value(s) kept as they were, pointing at rows of neither the archive nor the target (a reference known only by configuration or inference)"
        ));
    }
    let total = |f: fn(&SectionOutcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    let key = if *target_key == manifest.org_key {
        format!("key {target_key}")
    } else {
        format!("key {} → {target_key}", manifest.org_key)
    };
    let (verb, tail) = if dry_run {
        ("dry run: would restore", " (rolled back; nothing written)")
    } else {
        ("restored", "")
    };
    report.info(&format!(
        "{verb} org {} ({} {key}) into {target}: {} rows inserted, {} shared rows matched in {:.1}s{tail}",
        manifest.org_lookup,
        manifest.org_table,
        human_count(total(|o| o.inserted)),
        human_count(total(|o| o.matched)),
        started.elapsed().as_secs_f64(),
    ));
    report.stdout_line(target_key)?;
    Ok(())
}

fn summary_json(restored: &Restored, dry_run: bool) -> serde_json::Value {
    let Restored {
        manifest,
        outcomes,
        target_key,
        direct,
    } = restored;
    let total = |f: fn(&SectionOutcome) -> u64| outcomes.iter().map(f).sum::<u64>();
    json!({
        // How the rows went in: straight into the target's tables, or through staging tables.
        "load": if *direct { "direct" } else { "staged" },
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
        "cleared": per_column(outcomes, |o| &o.cleared),
        "unresolved": per_column(outcomes, |o| &o.unresolved),
    })
}
