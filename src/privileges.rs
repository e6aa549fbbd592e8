//! What a least-privileged role needs, which of it a role lacks, and the `GRANT` that fixes
//! each gap: SELECT (and schema USAGE) on the tables an export reads, and on the history
//! database the use of schema `orgexport` — created once by its owner (`orgexport setup`),
//! then written by the exporting role. One list of requirements feeds `check` (each missing
//! privilege with its GRANT, one line each), `setup --print-grants` (all of them) and the
//! history commands' refusal. Reading the catalog and the scope is not done here.

use anyhow::Context;
use tokio_postgres::Client;

use crate::db::{quote_ident, quote_qualified};

/// One privilege a role lacks: what, in words, and the statement that grants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub what: String,
    pub grant: String,
    /// Needed to read the history at all (`list`, `verify` by id), not only to write it.
    pub to_read: bool,
}

/// The history's objects (in schema `orgexport`) and what the exporting role does with
/// each: it reads the schema version, inserts and updates export rows, appends audit events.
/// Nothing is deleted.
const HISTORY_NEEDS: &[(&str, &str, &[&str])] = &[
    ("SCHEMA", "orgexport", &["USAGE"]),
    ("TABLE", "schema_version", &["SELECT"]),
    ("TABLE", "exports", &["SELECT", "INSERT", "UPDATE"]),
    ("TABLE", "audit_log", &["SELECT", "INSERT"]),
    ("SEQUENCE", "audit_log_id_seq", &["USAGE"]),
];

/// `orgexport.exports`, or `orgexport` for the schema itself.
fn history_object(kind: &str, name: &str) -> String {
    if kind == "SCHEMA" {
        name.to_string()
    } else {
        format!("orgexport.{name}")
    }
}

fn grant(kind: &str, object: &str, privileges: &[&str], role: &str) -> String {
    format!(
        "GRANT {} ON {kind} {object} TO {};",
        privileges.join(", "),
        quote_ident(role)
    )
}

/// Whether the current role holds `privilege` on a schema or a relation of schema
/// `orgexport`, found by name in the catalog (never through a regclass cast, which itself
/// fails without USAGE on the schema); `None` when there is no such object.
async fn holds(
    client: &Client,
    kind: &str,
    name: &str,
    privilege: &str,
) -> anyhow::Result<Option<bool>> {
    let sql = if kind == "SCHEMA" {
        "SELECT has_schema_privilege(oid, $2::text) FROM pg_namespace WHERE nspname = $1::text"
    } else {
        "SELECT CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, $2::text) \
                     ELSE has_table_privilege(c.oid, $2::text) END \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'orgexport' AND c.relname = $1::text"
    };
    let row = client
        .query_opt(sql, &[&name, &privilege])
        .await
        .with_context(|| format!("reading the privileges on {}", history_object(kind, name)))?;
    Ok(row.map(|r| r.get(0)))
}

/// The current role and database.
async fn whoami(client: &Client) -> anyhow::Result<(String, String)> {
    let row = client
        .query_one("SELECT current_user::text, current_database()::text", &[])
        .await
        .context("reading the current role")?;
    Ok((row.get(0), row.get(1)))
}

/// The history privileges the current role lacks on this (history) database. Schema
/// `orgexport` not there yet: the role must be able to create it, else the owner creates it.
pub async fn history_missing(client: &Client) -> anyhow::Result<Vec<Missing>> {
    let (role, database) = whoami(client).await?;
    if holds(client, "SCHEMA", "orgexport", "USAGE")
        .await?
        .is_none()
    {
        let can_create: bool = client
            .query_one(
                "SELECT has_database_privilege(current_database(), 'CREATE')",
                &[],
            )
            .await
            .context("reading the privileges on the database")?
            .get(0);
        if can_create {
            return Ok(Vec::new());
        }
        return Ok(vec![Missing {
            what: format!(
                "schema orgexport does not exist and role {role} lacks CREATE on database {database} to create it (or create it once as an owner: `orgexport setup`)"
            ),
            grant: format!(
                "GRANT CREATE ON DATABASE {} TO {};",
                quote_ident(&database),
                quote_ident(&role)
            ),
            to_read: false,
        }]);
    }
    let mut missing = Vec::new();
    for (kind, name, privileges) in HISTORY_NEEDS {
        let mut lacking = Vec::new();
        for privilege in *privileges {
            // An object an older schema version lacks is the migration's business.
            if holds(client, kind, name, privilege).await? == Some(false) {
                lacking.push(*privilege);
            }
        }
        if !lacking.is_empty() {
            let object = history_object(kind, name);
            missing.push(Missing {
                what: format!(
                    "role {role} lacks {} on {} {object}",
                    lacking.join(", "),
                    kind.to_lowercase()
                ),
                grant: grant(kind, &object, &lacking, &role),
                to_read: lacking
                    .iter()
                    .any(|p| matches!(*p, "SELECT" | "USAGE") && *kind != "SEQUENCE"),
            });
        }
    }
    Ok(missing)
}

/// The read privileges the current role lacks on `tables` (`(schema, name)`): USAGE on each
/// schema, SELECT on each table.
pub async fn source_missing(
    client: &Client,
    tables: &[(String, String)],
) -> anyhow::Result<Vec<Missing>> {
    let (role, _) = whoami(client).await?;
    let mut schemas: Vec<&str> = tables.iter().map(|(s, _)| s.as_str()).collect();
    schemas.sort();
    schemas.dedup();
    let mut missing = Vec::new();
    for schema in schemas {
        let usage: Option<bool> = client
            .query_opt(
                "SELECT has_schema_privilege(oid, 'USAGE') FROM pg_namespace WHERE nspname = $1",
                &[&schema],
            )
            .await
            .context("reading schema privileges")?
            .map(|r| r.get(0));
        if usage == Some(false) {
            missing.push(Missing {
                what: format!("role {role} lacks USAGE on schema {schema}"),
                grant: grant("SCHEMA", &quote_ident(schema), &["USAGE"], &role),
                to_read: true,
            });
        }
    }
    for (schema, name) in tables {
        let select: Option<bool> = client
            .query_opt(
                "SELECT has_table_privilege(c.oid, 'SELECT') FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2",
                &[schema, name],
            )
            .await
            .context("reading table privileges")?
            .map(|r| r.get(0));
        if select == Some(false) {
            missing.push(Missing {
                what: format!("role {role} lacks SELECT on {schema}.{name}"),
                grant: grant("TABLE", &quote_qualified(schema, name), &["SELECT"], &role),
                to_read: true,
            });
        }
    }
    Ok(missing)
}

/// Every statement that lets `role` export from `source_db` (the application's `schemas`)
/// and record in `history_db`, as `setup --print-grants` prints them.
pub fn all_grants(role: &str, schemas: &[String], source_db: &str, history_db: &str) -> String {
    let r = quote_ident(role);
    let mut sql = vec![
        format!("-- orgexport: the privileges of role {role}"),
        format!("-- On the source database ({source_db}): read the application's tables."),
        format!(
            "GRANT CONNECT ON DATABASE {} TO {r};",
            quote_ident(source_db)
        ),
    ];
    for schema in schemas {
        let s = quote_ident(schema);
        sql.push(format!("GRANT USAGE ON SCHEMA {s} TO {r};"));
        sql.push(format!("GRANT SELECT ON ALL TABLES IN SCHEMA {s} TO {r};"));
        sql.push(format!(
            "-- Tables created later: run as the role that creates them.\nALTER DEFAULT PRIVILEGES IN SCHEMA {s} GRANT SELECT ON TABLES TO {r};"
        ));
    }
    sql.push(format!(
        "-- On the history database ({history_db}): schema orgexport is created (and upgraded) by its owner with `orgexport setup`; then:"
    ));
    if history_db != source_db {
        sql.push(format!(
            "GRANT CONNECT ON DATABASE {} TO {r};",
            quote_ident(history_db)
        ));
    }
    sql.extend(HISTORY_NEEDS.iter().map(|(kind, name, privileges)| {
        grant(kind, &history_object(kind, name), privileges, role)
    }));
    sql.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_quote_the_role_and_cover_every_history_object() {
        let sql = all_grants("Exporter", &["public".into()], "app", "app");
        assert!(sql.contains("GRANT SELECT ON ALL TABLES IN SCHEMA \"public\" TO \"Exporter\";"));
        assert!(sql.contains("GRANT USAGE ON SCHEMA orgexport TO \"Exporter\";"));
        assert!(
            sql.contains("GRANT USAGE ON SEQUENCE orgexport.audit_log_id_seq TO \"Exporter\";")
        );
        assert!(!sql.contains("DELETE"));
        // One CONNECT when history and source are one database.
        assert_eq!(sql.matches("GRANT CONNECT").count(), 1);
    }
}
