//! `orgexport run`: export one or more orgs, one after another, one lock each.

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::commands::{connect_sessions, load_scope, prepare_history};
use crate::config::Settings;
use crate::db::connect::Db;
use crate::db::options::ConnectOptions;
use crate::error::{Kind, fail, kind_of, one_line};
use crate::export;
use crate::export::job::{Exported, Job, Request, Unexported, default_jobs};
use crate::export::narrowing;
use crate::export::outcome;
use crate::hooks::Hook;
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
    let mut sessions = connect_sessions(settings).await?;
    prepare_history(&mut sessions.history, &report).await?;
    let (db, history_db, observer) = sessions.parts();
    let (catalog, scope) = load_scope(db, &settings.scope).await?;
    // Scope warnings are `plan`'s to show; a nightly run repeats them only with -v.
    for warning in &scope.warnings {
        report.verbose(&format!("warning: {warning}"));
    }
    let narrowing = narrowing::check(&db.client, &catalog, &scope).await?;
    let planner = Planner::new(&catalog, &scope);
    let job = Job {
        store: &store,
        history: history_db,
        observer,
        catalog: &catalog,
        scope: &scope,
        planner: &planner,
        cancel: &cancel,
        report,
        compression_level: settings.compression_level,
        format: settings.format,
        max_rows: args.max_rows_per_table,
        link_ttl,
        render: settings.render,
        jobs: args.jobs.map_or_else(default_jobs, |n| n as usize),
        narrowing: narrowing.as_ref(),
        encryption: settings.encryption.as_deref(),
    };

    let requests: Vec<Request> = if args.all_orgs {
        let mut orgs = org::all(&db.client, &catalog, &scope, &planner).await?;
        if let Some(n) = narrowing.as_ref().filter(|n| n.subject.is_some()) {
            // One archive per org the subject has rows in.
            orgs = narrowing::orgs_with_subject(&db.client, &catalog, &planner, n, orgs).await?;
        }
        orgs.into_iter().map(Request::Resolved).collect()
    } else {
        args.org.iter().cloned().map(Request::Lookup).collect()
    };
    let hook = settings.on_complete.as_ref();
    let direct = args
        .direct
        .then(|| settings.connect_options())
        .transpose()?;
    let (done, failed) = export_all(&job, db, direct.as_ref(), &requests, args.wait, hook).await;
    print_results(&report, &done, &failed)?;
    outcome(done.len(), failed)
}

/// The failed exports: the org as typed, the `--json` entry, the error.
type Failed = Vec<(String, serde_json::Value, anyhow::Error)>;

/// Exports the orgs one after another: a failure does not stop the others (Ctrl-C does).
/// After each export recorded in the history, completed or failed, the completion hook runs
/// (not after Ctrl-C: the operator asked to stop).
async fn export_all(
    job: &Job<'_>,
    db: &mut Db,
    direct: Option<&ConnectOptions>,
    requests: &[Request],
    wait: Option<std::time::Duration>,
    hook: Option<&Hook>,
) -> (Vec<Exported>, Failed) {
    let mut done = Vec::new();
    let mut failed: Failed = Vec::new();
    for request in requests {
        let lookup = request.name();
        if job.cancel.is_cancelled() {
            let err = fail(Kind::Interrupted, "interrupted");
            failed.push((lookup.to_string(), outcome::failed(lookup, None, &err), err));
            break;
        }
        let result = match direct {
            Some(options) => export::direct::export(job, db, options, request, wait).await,
            None => job.export(db, request, wait).await,
        };
        let (entry, recorded) = match result {
            Ok(exported) => {
                let entry = outcome::completed(&exported);
                done.push(exported);
                (entry, true)
            }
            Err(Unexported { recorded, error }) => {
                let err = error.context(format!("export of org {lookup} failed"));
                if requests.len() > 1 {
                    // Shown with -q too: each failure keeps its reason.
                    job.report.error(&one_line(&err));
                }
                let entry = outcome::failed(lookup, recorded.as_ref(), &err);
                failed.push((lookup.to_string(), entry.clone(), err));
                (entry, recorded.is_some())
            }
        };
        if job.cancel.is_cancelled() {
            break;
        }
        if let (Some(hook), true) = (hook, recorded) {
            hook.run_after(&entry, &job.history.client, &job.report, job.cancel)
                .await;
        }
    }
    (done, failed)
}

/// Ok when every export succeeded; one failure is returned as it is; several are summed up
/// under the worst exit code among them.
fn outcome(done: usize, mut failed: Failed) -> anyhow::Result<()> {
    match failed.len() {
        0 => Ok(()),
        1 if done == 0 => Err(failed.pop().unwrap().2),
        _ => {
            let worst = failed
                .iter()
                .map(|(_, _, e)| kind_of(e))
                .max_by_key(|k| k.exit_code())
                .unwrap();
            let names: Vec<&str> = failed.iter().map(|(o, _, _)| o.as_str()).collect();
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

fn print_results(report: &Reporter, done: &[Exported], failed: &Failed) -> anyhow::Result<()> {
    if report.output.json {
        if done.is_empty() && failed.len() == 1 {
            return Ok(()); // main prints the error object
        }
        // Several orgs: the exports list (failures included) is the one JSON object.
        let mut exports: Vec<serde_json::Value> = done.iter().map(outcome::completed).collect();
        exports.extend(failed.iter().map(|(_, entry, _)| entry.clone()));
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
