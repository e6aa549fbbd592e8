//! `orgexport run`: export one or more orgs, one after another, one lock each.

use std::time::Instant;

use anyhow::Context;
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cli::RunArgs;
use crate::commands::{Sessions, connect_sessions, load_scope, prepare_history};
use crate::config::Settings;
use crate::db::connect::Db;
use crate::db::lock::{self, Acquired};
use crate::error::{Kind, fail, kind_of, one_line};
use crate::export::archive::{
    ArchiveInfo, ArchiveWriter, Counted, FORMAT, Manifest, OrgRef, SectionManifest, Sidecar, Spool,
    assemble,
};
use crate::export::snapshot::Snapshot;
use crate::history::{self, Completed, NewExport, Status};
use crate::org::{self, Org};
use crate::output::{ExportProgress, Reporter, human_bytes};
use crate::scope::catalog::Catalog;
use crate::scope::model::{Scope, Section, row_security_message};
use crate::scope::plan::{Planner, SectionSql};
use crate::store::{Link, Store};

/// The result of one successful export.
#[derive(Debug)]
struct Exported {
    id: Uuid,
    org: Org,
    object_url: String,
    link: Link,
    bytes: u64,
    sha256: String,
    record_count: u64,
    sections: usize,
}

/// Everything an export of one org needs, opened once per invocation.
struct Job<'a> {
    store: &'a Store,
    history: &'a Db,
    catalog: &'a Catalog,
    scope: &'a Scope,
    planner: &'a Planner<'a>,
    cancel: &'a CancellationToken,
    report: Reporter,
    compression_level: u32,
    max_rows: Option<u64>,
    link_ttl: std::time::Duration,
    render: crate::scope::columns::RenderMode,
}

pub async fn run(
    settings: &Settings,
    args: &RunArgs,
    cancel: CancellationToken,
    report: Reporter,
) -> anyhow::Result<()> {
    let store = Store::open(&settings.store)?;
    let link_ttl = settings.link_ttl;
    // A link the store cannot honour is refused before anything is exported.
    store.check_link_ttl(link_ttl)?;
    store.preflight().await?;
    let Sessions {
        mut db,
        history: mut history_db,
    } = connect_sessions(settings).await?;
    prepare_history(&mut history_db, &report).await?;
    let (catalog, scope) = load_scope(&db, &settings.scope).await?;
    // Scope warnings are `plan`'s to show; a nightly run repeats them only with -v.
    for warning in &scope.warnings {
        report.verbose(&format!("warning: {warning}"));
    }
    let planner = Planner::new(&catalog, &scope);
    let ctx = Job {
        store: &store,
        history: &history_db,
        catalog: &catalog,
        scope: &scope,
        planner: &planner,
        cancel: &cancel,
        report,
        compression_level: settings.compression_level,
        max_rows: args.max_rows_per_table,
        link_ttl,
        render: settings.render,
    };

    let requests: Vec<Request> = if args.all_orgs {
        org::all(&db.client, &catalog, &scope, &planner)
            .await?
            .into_iter()
            .map(Request::Resolved)
            .collect()
    } else {
        args.org.iter().cloned().map(Request::Lookup).collect()
    };
    let mut done = Vec::new();
    let mut failed: Vec<(String, anyhow::Error)> = Vec::new();
    for request in &requests {
        let lookup = request.name();
        if cancel.is_cancelled() {
            failed.push((lookup.to_string(), fail(Kind::Interrupted, "interrupted")));
            break;
        }
        match export_one(&ctx, &mut db, request, args.wait).await {
            Ok(exported) => done.push(exported),
            Err(err) => {
                let err = err.context(format!("export of org {lookup} failed"));
                if requests.len() > 1 {
                    // Shown with -q too: each failure keeps its reason.
                    report.error(&one_line(&err));
                }
                failed.push((lookup.to_string(), err));
                if kind_of(&failed.last().unwrap().1) == Kind::Interrupted {
                    break;
                }
            }
        }
    }

    print_results(&report, &done, &failed)?;
    match failed.len() {
        0 => Ok(()),
        1 if done.is_empty() => Err(failed.pop().unwrap().1),
        _ => {
            let worst = failed
                .iter()
                .map(|(_, e)| kind_of(e))
                .max_by_key(|k| k.exit_code())
                .unwrap();
            let names: Vec<&str> = failed.iter().map(|(o, _)| o.as_str()).collect();
            Err(fail(
                worst,
                format!(
                    "{} of {} exports failed: {}",
                    failed.len(),
                    failed.len() + done.len(),
                    names.join(", ")
                ),
            ))
        }
    }
}

fn print_results(
    report: &Reporter,
    done: &[Exported],
    failed: &[(String, anyhow::Error)],
) -> anyhow::Result<()> {
    if report.output.json {
        if done.is_empty() && failed.len() == 1 {
            return Ok(()); // main prints the error object
        }
        // Several orgs: the exports list (failures included) is the one JSON object.
        let mut exports: Vec<serde_json::Value> = done
            .iter()
            .map(|e| {
                json!({
                    "export_id": e.id.to_string(),
                    "org": e.org.lookup,
                    "status": "completed",
                    "object_url": e.object_url,
                    "link": e.link.url,
                    "link_expires_at": e.link.expires_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                    "bytes": e.bytes,
                    "sha256": e.sha256,
                    "record_count": e.record_count,
                    "sections": e.sections,
                })
            })
            .collect();
        exports.extend(failed.iter().map(|(org, err)| {
            json!({
                "org": org,
                "status": "failed",
                "error": { "code": kind_of(err).name(), "message": one_line(err) },
            })
        }));
        report.json(&json!({ "exports": exports }))?;
    } else {
        for e in done {
            // The export is complete and recorded: a stdout that cannot take the link (a
            // closed pipe, a full disk) does not make it a failure.
            if let Err(err) = report.stdout_line(&e.link.url) {
                report.error(&format!(
                    "could not write the link of export {} to stdout ({err}); `orgexport link {}` issues it again",
                    e.id, e.id
                ));
            }
        }
    }
    Ok(())
}

/// One org to export: as typed by the operator, or already resolved (`--all-orgs`).
enum Request {
    Lookup(String),
    Resolved(Org),
}

impl Request {
    fn name(&self) -> &str {
        match self {
            Request::Lookup(lookup) => lookup,
            Request::Resolved(org) => &org.lookup,
        }
    }
}

async fn export_one(
    ctx: &Job<'_>,
    db: &mut Db,
    request: &Request,
    wait: Option<std::time::Duration>,
) -> anyhow::Result<Exported> {
    let org = match request {
        Request::Lookup(lookup) => {
            org::resolve(&db.client, ctx.catalog, ctx.scope, ctx.planner, lookup).await?
        }
        Request::Resolved(org) => org.clone(),
    };
    let id = Uuid::now_v7();
    history::create(
        &ctx.history.client,
        &NewExport {
            id,
            org_key: &org.key,
            org_lookup: &org.lookup,
            org_table: &org.table,
        },
    )
    .await?;
    let started = Instant::now();
    let key = lock::lock_key(&org.key);
    let outcome = match lock::acquire(&db.client, key, wait, ctx.cancel).await {
        Ok(Acquired::Taken) => {
            let outcome = export_locked(ctx, db, &org, id).await;
            match &outcome {
                // A statement may still run on the session (a COPY, or a count waiting for a
                // lock): cancel it server-side; the lock goes with the session at exit.
                Err(err) if kind_of(err) == Kind::Interrupted => db.cancel_running().await,
                // The lock also goes with the session; a dead connection has released it.
                _ => {
                    let _ = lock::release(&db.client, key).await;
                }
            }
            outcome
        }
        Ok(Acquired::Busy(holder)) => Err(fail(
            Kind::LockBusy,
            format!(
                "another export of org {} is in progress ({}); {}",
                org.lookup,
                match (
                    history::running_export_of(&ctx.history.client, &org.key, id)
                        .await
                        .ok()
                        .flatten(),
                    holder,
                ) {
                    (Some(export), Some(h)) => format!("{export}; database session {h}"),
                    (Some(export), None) => export,
                    (None, Some(h)) => format!("held by {h}"),
                    (None, None) => "its holder just let go".to_string(),
                },
                match wait {
                    Some(w) => format!("gave up after waiting {}", humantime::format_duration(w)),
                    None => "retry later or pass --wait=DURATION to queue behind it".to_string(),
                }
            ),
        )),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(exported) => {
            ctx.report.info(&format!(
                "exported org {} ({} {}): {} sections, {} rows, {} in {:.1}s",
                org.lookup,
                org.table,
                org.key,
                exported.sections,
                exported.record_count,
                human_bytes(exported.bytes),
                started.elapsed().as_secs_f64()
            ));
            match exported.link.expires_at {
                Some(at) => ctx.report.info(&format!(
                    "download link valid until {}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )),
                None => ctx
                    .report
                    .info("local file: the link is an unsigned file:// URL"),
            }
            Ok(exported)
        }
        Err(err) => {
            let status = if kind_of(&err) == Kind::Interrupted {
                Status::Cancelled
            } else {
                Status::Failed
            };
            if let Err(history_err) =
                history::mark_failed(&ctx.history.client, id, &org.key, status, &one_line(&err))
                    .await
            {
                ctx.report.warn(&format!(
                    "could not record the failure in orgexport.exports: {}",
                    one_line(&history_err)
                ));
            }
            Err(err)
        }
    }
}

/// The export proper, with the org's lock held.
async fn export_locked(
    ctx: &Job<'_>,
    db: &mut Db,
    org: &Org,
    id: Uuid,
) -> anyhow::Result<Exported> {
    history::mark_running(&ctx.history.client, id).await?;
    let selected: Vec<&Section> = ctx
        .scope
        .sections
        .iter()
        .filter(|s| ctx.scope.is_selected(ctx.catalog, s))
        .collect();
    // Row-level security would hide rows: fail before anything is written.
    if let Some(blocked) = selected
        .iter()
        .map(|s| ctx.catalog.table(s.table))
        .find(|t| t.row_security_blocks)
    {
        anyhow::bail!(row_security_message(&blocked.qualified_name()));
    }
    let key = org::key_for(&db.client, ctx.planner, &org.key).await?;
    let sqls: Vec<SectionSql> = selected
        .iter()
        .map(|s| ctx.planner.section_sql(s, &key, ctx.max_rows, ctx.render))
        .collect();
    let snapshot = Snapshot::begin(&mut db.client).await?;
    let snapshot_at = snapshot.snapshot_at.clone();
    let server_version = snapshot.server_version.clone();

    // Sections first, into the spool: the manifest that leads the archive then holds exact
    // counts (and the redacted json keys) without a separate counting pass.
    let mut writer = ArchiveWriter::new(Spool::new()?, ctx.compression_level);
    let mut sections = Vec::with_capacity(sqls.len());
    let progress = ctx.report.export_progress(sqls.len());
    for (section, sql) in selected.iter().zip(&sqls) {
        ctx.report.verbose(&format!("{}: {}", sql.name, sql.copy));
        let counted = stream_section(ctx, &snapshot, sql, &mut writer, &progress).await?;
        sections.push(SectionManifest::new(
            ctx.catalog,
            ctx.scope,
            section,
            counted,
        ));
    }
    writer.finish().await?;
    let spool = writer.into_sink();
    snapshot.finish().await?;
    let manifest = Manifest {
        format: FORMAT,
        export_id: id.to_string(),
        org: OrgRef {
            table: org.table.clone(),
            key: org.key.clone(),
            lookup: org.lookup.clone(),
        },
        generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        snapshot_at,
        server_version,
        tool_version: env!("CARGO_PKG_VERSION"),
        sections,
    };

    let key = ctx.store.archive_key(&org.dir, &id.to_string());
    let object_url = ctx.store.object_url(&key);
    // Recorded before the first byte: a run killed mid-upload leaves a row that says where
    // to clean up.
    history::mark_uploading(&ctx.history.client, id, &object_url).await?;
    let mut upload = ctx.store.upload(&key).await?;
    let written = tokio::select! {
        written = assemble(&manifest, spool, ctx.compression_level, &mut upload) => written,
        _ = ctx.cancel.cancelled() => Err(fail(Kind::Interrupted, "interrupted")),
    };
    if let Err(err) = written {
        upload.abort().await;
        return Err(err);
    }
    let uploaded = upload.finish().await?;
    ctx.store.restrict(&key)?;

    let sidecar_key = ctx.store.sidecar_key(&org.dir, &id.to_string());
    let manifest_json = serde_json::to_value(&manifest).context("serializing the manifest")?;
    let sidecar = Sidecar {
        manifest: &manifest,
        archive: ArchiveInfo {
            object_url: object_url.clone(),
            bytes: uploaded.bytes,
            sha256: uploaded.sha256.clone(),
        },
    };
    if let Err(err) = ctx
        .store
        .put(&sidecar_key, serde_json::to_vec_pretty(&sidecar)?)
        .await
    {
        // Nothing partial: an archive without its sidecar is removed again.
        let _ = ctx.store.delete(&key).await;
        return Err(err);
    }
    ctx.store.restrict(&sidecar_key)?;
    let recorded = history::mark_completed(
        &ctx.history.client,
        id,
        &org.key,
        &Completed {
            object_url: &object_url,
            bytes: uploaded.bytes,
            sha256: &uploaded.sha256,
            record_count: manifest.record_count(),
            manifest: manifest_json,
        },
    )
    .await;
    if let Err(err) = recorded {
        // An archive the history does not know about would never be pruned nor linked.
        let _ = ctx.store.delete(&sidecar_key).await;
        let _ = ctx.store.delete(&key).await;
        return Err(err);
    }
    let link = ctx.store.link(&key, ctx.link_ttl).await?;
    Ok(Exported {
        id,
        org: org.clone(),
        object_url,
        link,
        bytes: uploaded.bytes,
        sha256: uploaded.sha256,
        record_count: manifest.record_count(),
        sections: manifest.sections.len(),
    })
}

/// Streams one section into the spool and counts what the manifest needs: the rows written,
/// the total when capped, and the cross-tenant rows left out.
async fn stream_section(
    ctx: &Job<'_>,
    snapshot: &Snapshot<'_>,
    sql: &SectionSql,
    writer: &mut ArchiveWriter<Spool>,
    export: &ExportProgress,
) -> anyhow::Result<Counted> {
    let progress = export.section(&sql.name);
    let streamed = snapshot
        .stream(sql, writer, ctx.cancel, |rows, bytes| {
            progress.set(rows, bytes)
        })
        .await;
    let (written, redacted_json_keys) = match streamed {
        Ok(streamed) => streamed,
        Err(err) => {
            progress.abandon();
            return Err(err);
        }
    };
    progress.finish(written);
    let mut redacted_json_keys = redacted_json_keys;
    redacted_json_keys.sort();
    let total = match ctx.max_rows {
        Some(cap) if written >= cap => snapshot.count(sql, &sql.count, ctx.cancel).await?,
        _ => written,
    };
    let cross_tenant = match &sql.candidates {
        Some(query) => {
            let candidates = snapshot.count(sql, query, ctx.cancel).await?;
            Some(candidates.saturating_sub(total))
        }
        None => None,
    };
    Ok(Counted {
        written,
        total,
        cross_tenant,
        redacted_json_keys,
    })
}
