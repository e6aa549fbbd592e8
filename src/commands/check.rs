//! `orgexport check` ("Test Connection"): the database, the privileges an export needs, the
//! store and link signing — one line per check, exit 0 only when all pass.

use serde_json::json;

use crate::commands::{connect_sessions, load_scope};
use crate::config::Settings;
use crate::db::connect::Db;
use crate::error::{Kind, fail, kind_of, one_line};
use crate::output::Reporter;
use crate::store::Store;

struct Outcome {
    name: &'static str,
    result: Result<String, anyhow::Error>,
}

impl Outcome {
    fn new(name: &'static str, result: anyhow::Result<String>) -> Outcome {
        Outcome { name, result }
    }
}

pub async fn run(settings: &Settings, report: Reporter) -> anyhow::Result<()> {
    let database = database_checks(settings).await;
    let mut store = store_checks(settings).await;
    store.push(Outcome::new("encryption", encryption(settings)));
    let failed_in = |outcomes: &[Outcome]| {
        outcomes
            .iter()
            .find_map(|o| o.result.as_ref().err().map(kind_of))
    };
    // The exit code says which side failed, whatever the order of the checks: the database
    // (5; 2 for a malformed setting), else the store (6).
    let kind = match (failed_in(&database), failed_in(&store)) {
        (Some(Kind::Usage), _) => Some(Kind::Usage),
        (Some(_), _) => Some(Kind::Connect),
        (None, Some(_)) => Some(Kind::Store),
        (None, None) => None,
    };
    let mut outcomes = database;
    outcomes.extend(store);
    print(&report, &outcomes)?;
    let Some(kind) = kind else {
        return Ok(());
    };
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    let mut names: Vec<&str> = failed.iter().map(|o| o.name).collect();
    names.dedup();
    Err(fail(
        kind,
        format!(
            "{} of {} checks failed: {}",
            failed.len(),
            outcomes.len(),
            names.join(", ")
        ),
    ))
}

/// The database, the read privileges, the history schema and advisory locks. Each missing
/// privilege is a check of its own, with the GRANT that fixes it.
async fn database_checks(settings: &Settings) -> Vec<Outcome> {
    let sessions = match connect_sessions(settings).await {
        Ok(sessions) => sessions,
        Err(err) => return vec![Outcome::new("database", Err(err))],
    };
    let db = &sessions.db;
    let mut outcomes = vec![Outcome::new("database", db.server_identity().await)];
    outcomes.extend(read_privileges(settings, db).await);
    outcomes.extend(history_privileges(&sessions.history).await);
    outcomes.push(Outcome::new(
        "advisory locks",
        crate::db::lock::probe(&sessions.history.client)
            .await
            .map(|()| "pg_try_advisory_lock works".to_string()),
    ));
    outcomes
}

/// One failed `privilege` check per missing privilege: what, and the GRANT.
fn missing_outcomes(missing: Vec<crate::privileges::Missing>) -> Vec<Outcome> {
    missing
        .into_iter()
        .map(|m| {
            Outcome::new(
                "privilege",
                Err(fail(Kind::Connect, format!("{}: {}", m.what, m.grant))),
            )
        })
        .collect()
}

/// The store (a probe written, read back and deleted) and, when it works, link signing. A
/// local store directory that does not exist is not created (check changes nothing): it is
/// enough that the first `run` can create it.
async fn store_checks(settings: &Settings) -> Vec<Outcome> {
    match Store::local_dir_to_create(&settings.store) {
        Ok(None) => {}
        Ok(Some(parent)) => {
            return vec![
                Outcome::new(
                    "store",
                    Ok(format!(
                        "{} does not exist yet; the first run creates it ({} is writable)",
                        settings.store.url,
                        parent.display()
                    )),
                ),
                Outcome::new(
                    "links",
                    Ok("local store: links are unsigned file:// URLs".to_string()),
                ),
            ];
        }
        Err(err) => return vec![Outcome::new("store", Err(err))],
    }
    let opened = async {
        let store = Store::open(&settings.store)?;
        store.preflight().await?;
        Ok::<_, anyhow::Error>(store)
    }
    .await;
    let store = match opened {
        Ok(store) => store,
        Err(err) => return vec![Outcome::new("store", Err(err))],
    };
    let probe = store.archive_key("check", "probe");
    let links = store
        .link(&probe, settings.link_ttl)
        .await
        .map(|link| match link.expires_at {
            Some(_) => "signed links can be issued".to_string(),
            None => "local store: links are unsigned file:// URLs".to_string(),
        });
    vec![
        Outcome::new(
            "store",
            Ok(format!(
                "{} is writable (probe written, read back, deleted)",
                store.display()
            )),
        ),
        Outcome::new("links", links),
    ]
}

/// What protects an archive at rest: age recipients (`encrypt_to` in the config) and what
/// the store applies.
fn encryption(settings: &Settings) -> anyhow::Result<String> {
    let client_side = match &settings.encryption {
        Some(recipients) => format!("archives encrypted with age to {}", recipients.summary()),
        None => "archives not encrypted client-side (--encrypt-to)".to_string(),
    };
    Ok(format!(
        "{client_side}; {}",
        Store::at_rest(&settings.store)?
    ))
}

fn print(report: &Reporter, outcomes: &[Outcome]) -> anyhow::Result<()> {
    if report.output.json {
        let checks: Vec<_> = outcomes
            .iter()
            .map(|o| match &o.result {
                Ok(detail) => json!({"name": o.name, "ok": true, "detail": detail}),
                Err(e) => json!({"name": o.name, "ok": false, "detail": one_line(e)}),
            })
            .collect();
        let ok = outcomes.iter().all(|o| o.result.is_ok());
        report.json(&json!({ "ok": ok, "checks": checks }))?;
        return Ok(());
    }
    for o in outcomes {
        let line = match &o.result {
            Ok(detail) => format!("✔ {}: {detail}", o.name),
            Err(e) => format!("✘ {}: {}", o.name, one_line(e)),
        };
        report.stdout_line(&line)?;
    }
    Ok(())
}

/// SELECT on every table an export reads (all the scope's tables), USAGE on their schemas,
/// and no row-level security in the way.
async fn read_privileges(settings: &Settings, db: &Db) -> Vec<Outcome> {
    let (catalog, scope) = match load_scope(db, &settings.scope).await {
        Ok(loaded) => loaded,
        Err(err) => return vec![Outcome::new("read privileges", Err(err))],
    };
    let tables: Vec<(String, String)> = scope
        .sections
        .iter()
        .map(|s| catalog.table(s.table))
        .map(|t| (t.schema.clone(), t.name.clone()))
        .collect();
    let missing = match crate::privileges::source_missing(&db.client, &tables).await {
        Ok(missing) => missing,
        Err(err) => return vec![Outcome::new("read privileges", Err(err))],
    };
    if !missing.is_empty() {
        return missing_outcomes(missing);
    }
    let hidden: Vec<String> = scope
        .sections
        .iter()
        .map(|s| catalog.table(s.table))
        .filter(|t| t.row_security_blocks)
        .map(|t| t.qualified_name())
        .collect();
    if !hidden.is_empty() {
        return vec![Outcome::new(
            "read privileges",
            Err(fail(
                Kind::Connect,
                format!(
                    "row-level security hides rows of {} from this role, so an export would fail; run as a role with BYPASSRLS (ALTER ROLE … BYPASSRLS) or as the tables' owner",
                    hidden.join(", ")
                ),
            )),
        )];
    }
    vec![Outcome::new(
        "read privileges",
        Ok(format!(
            "SELECT on all {} in-scope tables ({})",
            scope.sections.len(),
            match &scope.schemas {
                Some(tenancy) => format!("tenant schema {}", tenancy.current.schema),
                None => format!("root {}", catalog.table(scope.root).qualified_name()),
            }
        )),
    )]
}

/// Schema `orgexport` on the history database: usable if it exists, creatable if not; never
/// on a read-only database.
async fn history_privileges(history: &Db) -> Vec<Outcome> {
    let checked = async {
        if crate::history::is_read_only(&history.client).await? {
            return Err(fail(
                Kind::Connect,
                "the history database is read-only (a hot standby?): exports could not be recorded; pass --history-url naming the primary, or point --database-url at it",
            ));
        }
        let missing = crate::privileges::history_missing(&history.client).await?;
        let exists = crate::history::exists(&history.client).await?;
        Ok((missing, exists))
    }
    .await;
    match checked {
        Err(err) => vec![Outcome::new("history schema", Err(err))],
        Ok((missing, _)) if !missing.is_empty() => missing_outcomes(missing),
        Ok((_, true)) => vec![Outcome::new(
            "history schema",
            Ok("schema orgexport exists and is writable".into()),
        )],
        Ok((_, false)) => vec![Outcome::new(
            "history schema",
            Ok("schema orgexport will be created on first run".into()),
        )],
    }
}
