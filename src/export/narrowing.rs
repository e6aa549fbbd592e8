//! The database's side of narrowing an export (`--where`, `--subject`): the server checks
//! every row filter before anything is recorded — prepared, never run — and the subject's
//! row is looked up among the org's own in-scope rows (before the history row is written,
//! and again inside the snapshot that is exported). What the narrowing selects is
//! `scope::narrowing`'s; the filters' own syntax check is `scope::filters`'.

use tokio_postgres::Client;

use crate::db::quote_literal;
use crate::error::{Kind, fail};
use crate::export::estimate::outnumbered;
use crate::export::snapshot::Snapshot;
use crate::org::{self, Org};
use crate::scope::catalog::Catalog;
use crate::scope::model::{Scope, Section};
use crate::scope::narrowing::{Narrowing, SubjectKey};
use crate::scope::plan::{OrgKey, Planner};
use crate::scope::subject::SubjectSpec;

/// The narrowing of this invocation, checked: each `--where` predicate prepared by the server
/// against its table (a bad one is a usage error naming it), the subject's table resolved.
pub async fn check(
    client: &Client,
    catalog: &Catalog,
    scope: &Scope,
) -> anyhow::Result<Option<Narrowing>> {
    for section in &scope.sections {
        let Some(filter) = &section.row_filter else {
            continue;
        };
        let table = catalog.table(section.table);
        let sql = format!("SELECT 1 FROM {} t WHERE ({filter})", table.from_clause());
        if let Err(err) = client.prepare(&sql).await {
            let why = err
                .as_db_error()
                .map_or_else(|| err.to_string(), |db| db.message().to_string());
            return Err(fail(
                Kind::Usage,
                format!(
                    "--where for {}: the server refuses the predicate {filter:?}: {why}",
                    table.qualified_name()
                ),
            ));
        }
    }
    let narrow = &scope.config.narrow;
    if scope.schemas.is_some() && (narrow.subject.is_some() || narrow.window.is_some()) {
        // Their selection climbs to the root row, which a tenant schema does not have.
        return Err(fail(
            Kind::Usage,
            "--subject, --since and --until are not supported for schema-per-tenant databases yet; export the tenant's schema whole, or narrow it with --where and --tables",
        ));
    }
    Narrowing::new(catalog, scope, narrow)
}

/// `SELECT key::text …` of the org's in-scope rows of the subject table that are the person.
fn subject_sql(
    planner: &Planner<'_>,
    narrowing: &Narrowing,
    key: &OrgKey,
    literal: Option<&str>,
) -> Option<String> {
    let subject = narrowing.subject.as_ref()?;
    let spec = planner_spec(planner)?;
    let key_col = crate::db::quote_ident(&subject.key_column);
    let (exprs, condition) = match (spec, &subject.email_column) {
        (SubjectSpec::Email(address), Some(column)) => (
            format!(
                "t.{key_col} AS k, t.{}::text AS e",
                crate::db::quote_ident(column)
            ),
            format!("lower(r.e) = lower({})", quote_literal(address)),
        ),
        _ => (format!("t.{key_col} AS k"), format!("r.k = {}", literal?)),
    };
    Some(format!(
        "SELECT r.k::text FROM ({}) r WHERE {condition} LIMIT 2",
        planner.all_rows_sql(subject.table, key, &exprs)
    ))
}

fn planner_spec<'p>(planner: &'p Planner<'_>) -> Option<&'p SubjectSpec> {
    planner.scope().config.narrow.subject.as_ref()
}

/// The subject's key among the org's rows: exit 3 when it is not one of them (no such row,
/// or another org's), exit 2 when an e-mail names several.
fn one_subject(org: &Org, spec: &SubjectSpec, keys: Vec<String>) -> anyhow::Result<SubjectKey> {
    let named = match spec {
        SubjectSpec::Key { table, key } => format!("{table}={key}"),
        SubjectSpec::Email(address) => format!("with e-mail {address}"),
    };
    match keys.as_slice() {
        [one] => Ok(SubjectKey(one.clone())),
        [] => Err(fail(
            Kind::OrgNotFound,
            format!(
                "the subject {named} is not among org {}'s rows (no such row, or it belongs to another org); `orgexport plan --org {} --subject …` shows what is",
                org.lookup, org.lookup
            ),
        )),
        _ => Err(fail(
            Kind::Usage,
            format!(
                "several rows of org {}'s people match the subject {named}; name one with --subject TABLE=KEY",
                org.lookup
            ),
        )),
    }
}

/// The typed literal of a `--subject TABLE=KEY` key, or `None` when the key is no value of
/// the key column's type (it then matches nothing).
async fn key_literal(
    client: &Client,
    catalog: &Catalog,
    narrowing: &Narrowing,
    spec: &SubjectSpec,
) -> anyhow::Result<Option<String>> {
    let (SubjectSpec::Key { key, .. }, Some(subject)) = (spec, &narrowing.subject) else {
        return Ok(None);
    };
    let type_name = &catalog
        .table(subject.table)
        .column(&subject.key_column)
        .expect("the key column exists")
        .type_name;
    if !org::fits(client, key, type_name).await? {
        return Ok(None);
    }
    Ok(narrowing.subject_literal(catalog, &SubjectKey(key.clone())))
}

/// Finds the subject among `org`'s rows, outside any snapshot: before an export is recorded.
pub async fn find_subject(
    client: &Client,
    catalog: &Catalog,
    planner: &Planner<'_>,
    narrowing: &Narrowing,
    org: &Org,
) -> anyhow::Result<Option<SubjectKey>> {
    let Some(spec) = planner_spec(planner) else {
        return Ok(None);
    };
    let key = org::key_for(client, planner, &org.key).await?;
    let literal = key_literal(client, catalog, narrowing, spec).await?;
    let keys = match (spec, &literal) {
        (SubjectSpec::Key { .. }, None) => Vec::new(),
        _ => {
            let sql = subject_sql(planner, narrowing, &key, literal.as_deref()).expect("a subject");
            client
                .query(&sql, &[])
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect()
        }
    };
    one_subject(org, spec, keys).map(Some)
}

/// Finds the subject again inside the export's snapshot (the rows that are written).
pub async fn find_subject_in(
    snapshot: &Snapshot<'_>,
    catalog: &Catalog,
    planner: &Planner<'_>,
    narrowing: &Narrowing,
    key: &OrgKey,
    org: &Org,
) -> anyhow::Result<Option<SubjectKey>> {
    let Some(spec) = planner_spec(planner) else {
        return Ok(None);
    };
    let literal = match spec {
        SubjectSpec::Key { key: k, .. } => {
            narrowing.subject_literal(catalog, &SubjectKey(k.clone()))
        }
        SubjectSpec::Email(_) => None,
    };
    let sql = subject_sql(planner, narrowing, key, literal.as_deref()).expect("a subject");
    let keys = snapshot
        .query(&sql)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    one_subject(org, spec, keys).map(Some)
}

/// `--all-orgs --subject`: the orgs the subject has rows in (exit 3 when none).
pub async fn orgs_with_subject(
    client: &Client,
    catalog: &Catalog,
    planner: &Planner<'_>,
    narrowing: &Narrowing,
    orgs: Vec<Org>,
) -> anyhow::Result<Vec<Org>> {
    let mut found = Vec::new();
    for org in orgs {
        match find_subject(client, catalog, planner, narrowing, &org).await {
            Ok(_) => found.push(org),
            Err(err) if crate::error::kind_of(&err) == Kind::OrgNotFound => {}
            Err(err) => return Err(err),
        }
    }
    if found.is_empty() {
        return Err(fail(
            Kind::OrgNotFound,
            "the subject is not among any org's rows (no such row); check the key or e-mail",
        ));
    }
    Ok(found)
}

/// A snapshot's planner with what narrowed it (derefs to the planner).
pub struct NarrowedPlanner<'s> {
    pub planner: Planner<'s>,
    pub narrowing: Option<Narrowing>,
    pub subject: Option<SubjectKey>,
}

impl<'s> std::ops::Deref for NarrowedPlanner<'s> {
    type Target = Planner<'s>;
    fn deref(&self) -> &Planner<'s> {
        &self.planner
    }
}

/// The org's planner for its `sections` in this snapshot (`run` and `plan`): the keys of
/// big shared tables its rows outnumber as one `UNION` ([`outnumbered`]), and narrowed to
/// the subject's or the window's rows when asked — the subject found again inside this
/// snapshot.
pub async fn narrowed_planner<'s>(
    snapshot: &Snapshot<'_>,
    (catalog, scope): (&'s Catalog, &'s Scope),
    sections: &[&Section],
    key: &OrgKey,
    org: &Org,
) -> anyhow::Result<NarrowedPlanner<'s>> {
    let planner = Planner::new(catalog, scope);
    let outnumbered = outnumbered(snapshot, catalog, &planner, key, sections).await;
    let planner = planner.with_outnumbered(outnumbered);
    let Some(narrowing) = Narrowing::new(catalog, scope, &scope.config.narrow)? else {
        return Ok(NarrowedPlanner {
            planner,
            narrowing: None,
            subject: None,
        });
    };
    let subject = find_subject_in(snapshot, catalog, &planner, &narrowing, key, org).await?;
    let within = narrowing.selection(catalog, scope, &planner, key, subject.as_ref());
    Ok(NarrowedPlanner {
        planner: planner.narrowed(within),
        narrowing: Some(narrowing),
        subject,
    })
}
