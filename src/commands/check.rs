//! `orgexport check` ("Test Connection"): the database, the privileges an export needs, the
//! store and link signing — one line per check, exit 0 only when all pass.

use serde_json::json;

use crate::commands::{connect_sessions, load_scope};
use crate::config::Settings;
use crate::error::{Kind, fail, kind_of, one_line};
use crate::output::Reporter;
use crate::store::Store;

struct Outcome {
    name: &'static str,
    result: Result<String, anyhow::Error>,
}

pub async fn run(settings: &Settings, report: Reporter) -> anyhow::Result<()> {
    let mut outcomes = Vec::new();
    match connect_sessions(settings).await {
        Err(err) => outcomes.push(Outcome {
            name: "database",
            result: Err(err),
        }),
        Ok(sessions) => {
            let client = &sessions.db.client;
            let version = client
                .query_one(
                    "SELECT split_part(current_setting('server_version'), ' ', 1), current_user::text, current_database()::text",
                    &[],
                )
                .await;
            outcomes.push(Outcome {
                name: "database",
                result: version
                    .map(|r| {
                        format!(
                            "{} — PostgreSQL {} as role {} on {}",
                            sessions.db.options.describe(),
                            r.get::<_, String>(0),
                            r.get::<_, String>(1),
                            r.get::<_, String>(2)
                        )
                    })
                    .map_err(anyhow::Error::new),
            });
            outcomes.push(Outcome {
                name: "read privileges",
                result: read_privileges(settings, &sessions.db).await,
            });
            outcomes.push(Outcome {
                name: "history schema",
                result: history_privileges(client).await,
            });
            outcomes.push(Outcome {
                name: "advisory locks",
                result: client
                    .query_one(
                        "SELECT pg_try_advisory_lock(-1), pg_advisory_unlock(-1)",
                        &[],
                    )
                    .await
                    .map(|_| "pg_try_advisory_lock works".to_string())
                    .map_err(anyhow::Error::new),
            });
        }
    }
    let store = async {
        let store = Store::open(&settings.store)?;
        store.preflight().await?;
        Ok::<_, anyhow::Error>(store)
    }
    .await;
    match store {
        Err(err) => {
            outcomes.push(Outcome {
                name: "store",
                result: Err(err),
            });
        }
        Ok(store) => {
            outcomes.push(Outcome {
                name: "store",
                result: Ok(format!(
                    "{} is writable (probe written, read back, deleted)",
                    store.display()
                )),
            });
            let probe = store.archive_key("check", "probe");
            outcomes.push(Outcome {
                name: "links",
                result: store.link(&probe, settings.link_ttl).await.map(|link| {
                    match link.expires_at {
                        Some(_) => "signed links can be issued".to_string(),
                        None => "local store: links are unsigned file:// URLs".to_string(),
                    }
                }),
            });
        }
    }

    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    if report.output.json {
        let checks: Vec<_> = outcomes
            .iter()
            .map(|o| match &o.result {
                Ok(detail) => json!({"name": o.name, "ok": true, "detail": detail}),
                Err(e) => json!({"name": o.name, "ok": false, "detail": one_line(e)}),
            })
            .collect();
        report.json(&json!({ "ok": failed.is_empty(), "checks": checks }))?;
    } else {
        for o in &outcomes {
            let line = match &o.result {
                Ok(detail) => format!("✔ {}: {detail}", o.name),
                Err(e) => format!("✘ {}: {}", o.name, one_line(e)),
            };
            report.stdout_line(&line)?;
        }
    }
    match failed.first() {
        None => Ok(()),
        Some(first) => {
            let kind = first
                .result
                .as_ref()
                .err()
                .map(kind_of)
                .unwrap_or(Kind::ExportFailed);
            Err(fail(
                kind,
                format!(
                    "{} of {} checks failed: {}",
                    failed.len(),
                    outcomes.len(),
                    failed.iter().map(|o| o.name).collect::<Vec<_>>().join(", ")
                ),
            ))
        }
    }
}

/// SELECT on every table an export reads (all the scope's tables).
async fn read_privileges(
    settings: &Settings,
    db: &crate::db::connect::Db,
) -> anyhow::Result<String> {
    let (catalog, scope) = load_scope(db, &settings.scope).await?;
    let mut missing = Vec::new();
    for section in &scope.sections {
        let t = catalog.table(section.table);
        let qualified = crate::db::quote_qualified(&t.schema, &t.name);
        let ok: bool = db
            .client
            .query_one("SELECT has_table_privilege($1, 'SELECT')", &[&qualified])
            .await?
            .get(0);
        if !ok {
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
    if missing.is_empty() {
        Ok(format!(
            "SELECT on all {} in-scope tables (root {})",
            scope.sections.len(),
            catalog.table(scope.root).qualified_name()
        ))
    } else {
        Err(fail(
            Kind::Connect,
            format!(
                "no SELECT privilege on {}; GRANT SELECT to this role",
                missing.join(", ")
            ),
        ))
    }
}

/// Schema `orgexport`: writable if it exists, creatable if not; never on a read-only database.
async fn history_privileges(client: &tokio_postgres::Client) -> anyhow::Result<String> {
    if crate::history::is_read_only(client).await? {
        return Err(fail(
            Kind::Connect,
            "the database is read-only (a replica?): exports could not be recorded; point --database-url at the primary",
        ));
    }
    let row = client
        .query_one(
            "SELECT to_regclass('orgexport.exports') IS NOT NULL, \
                    has_database_privilege(current_database(), 'CREATE'), \
                    CASE WHEN to_regclass('orgexport.exports') IS NOT NULL \
                         THEN has_table_privilege('orgexport.exports', 'INSERT,UPDATE') \
                          AND has_table_privilege('orgexport.audit_log', 'INSERT') ELSE false END",
            &[],
        )
        .await?;
    let (exists, can_create, can_write): (bool, bool, bool) = (row.get(0), row.get(1), row.get(2));
    match (exists, can_create, can_write) {
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
