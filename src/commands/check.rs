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
    let mut outcomes = database_checks(settings).await;
    outcomes.extend(store_checks(settings).await);
    outcomes.push(Outcome::new("encryption", encryption(settings)));
    print(&report, &outcomes)?;
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    let Some(first) = failed.first() else {
        return Ok(());
    };
    let kind = first
        .result
        .as_ref()
        .err()
        .map(kind_of)
        .unwrap_or(Kind::ExportFailed);
    let names: Vec<&str> = failed.iter().map(|o| o.name).collect();
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

/// The database, the read privileges, the history schema and advisory locks.
async fn database_checks(settings: &Settings) -> Vec<Outcome> {
    let sessions = match connect_sessions(settings).await {
        Ok(sessions) => sessions,
        Err(err) => return vec![Outcome::new("database", Err(err))],
    };
    let db = &sessions.db;
    vec![
        Outcome::new("database", db.server_identity().await),
        Outcome::new("read privileges", read_privileges(settings, db).await),
        Outcome::new("history schema", history_privileges(db).await),
        Outcome::new(
            "advisory locks",
            crate::db::lock::probe(&db.client)
                .await
                .map(|()| "pg_try_advisory_lock works".to_string()),
        ),
    ]
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

/// SELECT on every table an export reads (all the scope's tables).
async fn read_privileges(settings: &Settings, db: &Db) -> anyhow::Result<String> {
    let (catalog, scope) = load_scope(db, &settings.scope).await?;
    let mut missing = Vec::new();
    for section in &scope.sections {
        let t = catalog.table(section.table);
        if !db
            .can_select(&crate::db::quote_qualified(&t.schema, &t.name))
            .await?
        {
            missing.push(t.qualified_name());
        }
    }
    let hidden: Vec<String> = scope
        .sections
        .iter()
        .map(|s| catalog.table(s.table))
        .filter(|t| t.row_security_blocks)
        .map(|t| t.qualified_name())
        .collect();
    if !hidden.is_empty() {
        return Err(fail(
            Kind::ExportFailed,
            format!(
                "row-level security hides rows of {} from this role, so an export would fail; run as a role with BYPASSRLS (ALTER ROLE … BYPASSRLS) or as the tables' owner",
                hidden.join(", ")
            ),
        ));
    }
    if !missing.is_empty() {
        return Err(fail(
            Kind::Connect,
            format!(
                "no SELECT privilege on {}; GRANT SELECT to this role",
                missing.join(", ")
            ),
        ));
    }
    Ok(format!(
        "SELECT on all {} in-scope tables (root {})",
        scope.sections.len(),
        catalog.table(scope.root).qualified_name()
    ))
}

/// Schema `orgexport`: writable if it exists, creatable if not; never on a read-only database.
async fn history_privileges(db: &Db) -> anyhow::Result<String> {
    if crate::history::is_read_only(&db.client).await? {
        return Err(fail(
            Kind::Connect,
            "the database is read-only (a replica?): exports could not be recorded; point --database-url at the primary",
        ));
    }
    let access = crate::history::access(&db.client).await?;
    match (access.exists, access.can_create, access.can_write) {
        (true, _, true) => Ok("schema orgexport exists and is writable".into()),
        (true, _, false) => Err(fail(
            Kind::Connect,
            "schema orgexport exists but this role cannot write orgexport.exports and orgexport.audit_log",
        )),
        (false, true, _) => Ok("schema orgexport will be created on first run".into()),
        (false, false, _) => Err(fail(
            Kind::Connect,
            "schema orgexport does not exist and this role lacks CREATE on the database; GRANT CREATE or create it once as an owner",
        )),
    }
}
