//! `orgexport run`: export one or more orgs, one after another, one lock each.

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::commands::{Sessions, connect_sessions, load_scope, prepare_history};
use crate::config::Settings;
use crate::db::connect::Db;
use crate::db::options::ConnectOptions;
use crate::error::{Kind, fail, kind_of, one_line};
use crate::export;
use crate::export::job::{Exported, Job, Request, default_jobs};
use crate::org;
use crate::output::Reporter;
use crate::scope::plan::Planner;
use crate::store::Store;

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
    let job = Job {
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
        jobs: args.jobs.map_or_else(default_jobs, |n| n as usize),
    };

    let requests: Vec<Request> = if args.all_orgs {
        let orgs = org::all(&db.client, &catalog, &scope, &planner).await?;
        orgs.into_iter().map(Request::Resolved).collect()
    } else {
        args.org.iter().cloned().map(Request::Lookup).collect()
    };
    let direct = args
        .direct
        .then(|| settings.connect_options())
        .transpose()?;
    let (done, failed) = export_all(&job, &mut db, direct.as_ref(), &requests, args.wait).await;
    print_results(&report, &done, &failed)?;
    outcome(done.len(), failed)
}

type Failed = Vec<(String, anyhow::Error)>;

/// Exports the orgs one after another: a failure does not stop the others (Ctrl-C does).
async fn export_all(
    job: &Job<'_>,
    db: &mut Db,
    direct: Option<&ConnectOptions>,
    requests: &[Request],
    wait: Option<std::time::Duration>,
) -> (Vec<Exported>, Failed) {
    let mut done = Vec::new();
    let mut failed: Failed = Vec::new();
    for request in requests {
        let lookup = request.name();
        if job.cancel.is_cancelled() {
            failed.push((lookup.to_string(), fail(Kind::Interrupted, "interrupted")));
            break;
        }
        let result = match direct {
            Some(options) => export::direct::export(job, db, options, request, wait).await,
            None => job.export(db, request, wait).await,
        };
        match result {
            Ok(exported) => done.push(exported),
            Err(err) => {
                let err = err.context(format!("export of org {lookup} failed"));
                let interrupted = kind_of(&err) == Kind::Interrupted;
                if requests.len() > 1 {
                    // Shown with -q too: each failure keeps its reason.
                    job.report.error(&one_line(&err));
                }
                failed.push((lookup.to_string(), err));
                if interrupted {
                    break;
                }
            }
        }
    }
    (done, failed)
}

/// Ok when every export succeeded; one failure is returned as it is; several are summed up
/// under the worst exit code among them.
fn outcome(done: usize, mut failed: Vec<(String, anyhow::Error)>) -> anyhow::Result<()> {
    match failed.len() {
        0 => Ok(()),
        1 if done == 0 => Err(failed.pop().unwrap().1),
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
                    failed.len() + done,
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
