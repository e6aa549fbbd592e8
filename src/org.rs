//! Resolving `--org` to the one row of the root table it names (DESIGN §2): matched against
//! the lookup columns in order; a value that does not parse as a column's type simply does
//! not match that column — checked before any query, so the server log stays clean.

use std::collections::HashMap;

use anyhow::Context;
use tokio_postgres::Client;

use crate::error::{Kind, fail};
use crate::scope::catalog::Catalog;
use crate::scope::model::Scope;
use crate::scope::plan::{OrgKey, Planner};
use crate::scope::schemas::{SchemaTenancy, TenantSchema};
use crate::store::layout;

/// The org being exported.
#[derive(Debug, Clone)]
pub struct Org {
    /// `schema.table` of the root.
    pub table: String,
    /// The root key as text: what tenant columns hold.
    pub key: String,
    /// What the operator typed.
    pub lookup: String,
    /// The org's folder in the store, from its canonical key ([`layout::org_dir`]).
    pub dir: String,
}

pub async fn resolve(
    client: &Client,
    catalog: &Catalog,
    scope: &Scope,
    planner: &Planner<'_>,
    lookup: &str,
) -> anyhow::Result<Org> {
    if let Some(tenancy) = &scope.schemas {
        return resolve_schema(tenancy, lookup);
    }
    let table = catalog.table(scope.root).qualified_name();
    for column in &scope.lookup_columns {
        if !fits(client, lookup, &planner.root_column_type(column)).await? {
            continue;
        }
        let rows = match client.query(&planner.lookup_sql(column), &[&lookup]).await {
            Ok(rows) => rows,
            // Class 22 (data exception): the value is not a valid literal of the column's type.
            Err(e) if e.code().is_some_and(|c| c.code().starts_with("22")) => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("looking up org {lookup:?} in {table}"));
            }
        };
        match rows.as_slice() {
            [] => continue,
            [row] => {
                let key: String = row.get(0);
                let label: Option<String> = row.get(1);
                return Ok(Org {
                    table,
                    dir: layout::org_dir(label.as_deref(), &key, planner.key_is_uuid()),
                    key,
                    lookup: lookup.to_string(),
                });
            }
            _ => {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "org {lookup:?} is ambiguous: several rows of {table} have {column} = {lookup:?}; pass the {} instead{}",
                        scope.root_key,
                        scope.root_guess_note(catalog)
                    ),
                ));
            }
        }
    }
    // A suggestion is a courtesy: a failure to compute one leaves the message without it.
    let near = suggestions(client, catalog, scope, lookup)
        .await
        .unwrap_or_default();
    let hint = match near.as_slice() {
        [] => String::new(),
        _ => format!(
            "; did you mean {}? (`orgexport orgs` lists them)",
            near.iter()
                .map(|n| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    };
    Err(fail(
        Kind::OrgNotFound,
        format!(
            "org {lookup:?} not found: no row of {table} has {} equal to it{hint}{}",
            scope.lookup_columns.join(", "),
            scope.root_guess_note(catalog)
        ),
    ))
}

/// What an archive and the history record as a schema tenant's org table: `schema NAME`.
pub fn schema_org_table(schema: &str) -> String {
    format!("schema {schema}")
}

/// A tenant of a schema-per-tenant database, as an [`Org`]: keyed by its tenant key, its
/// folder in the store named after it.
pub fn schema_org(tenant: &TenantSchema, lookup: &str) -> Org {
    Org {
        table: schema_org_table(&tenant.schema),
        key: tenant.key.clone(),
        lookup: lookup.to_string(),
        dir: layout::org_dir(Some(&tenant.key), &tenant.key, false),
    }
}

/// `--org` against the tenant schemas: the tenant key, else the schema's whole name. Read
/// from the catalog: no row is read, and no other tenant's schema.
fn resolve_schema(tenancy: &SchemaTenancy, lookup: &str) -> anyhow::Result<Org> {
    if let Some(tenant) = tenancy.find(lookup) {
        return Ok(schema_org(tenant, lookup));
    }
    let typed = lookup.to_lowercase();
    let mut near: Vec<(usize, &str)> = tenancy
        .tenants
        .iter()
        .map(|t| {
            (
                strsim::levenshtein(&typed, &t.key.to_lowercase()),
                t.key.as_str(),
            )
        })
        .filter(|(d, _)| *d <= (typed.chars().count() / 3).max(1))
        .collect();
    near.sort();
    let hint = match near.as_slice() {
        [] => String::new(),
        _ => format!(
            "; did you mean {}? (`orgexport orgs` lists them)",
            near.iter()
                .take(3)
                .map(|(_, n)| format!("'{n}'"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    };
    Err(fail(
        Kind::OrgNotFound,
        format!(
            "org {lookup:?} not found: no tenant schema is named by it{hint} ({})",
            tenancy.how
        ),
    ))
}

/// Lookup values close to `typed` (a typo, another case): at most three, nearest first.
/// Candidates are narrowed in SQL to values of about the same length that share its first
/// or last two characters, at most 200 per lookup column, and kept only within an edit
/// distance of a third of its length — so an unrelated org is never named.
async fn suggestions(
    client: &Client,
    catalog: &Catalog,
    scope: &Scope,
    typed: &str,
) -> anyhow::Result<Vec<String>> {
    let lower = typed.to_lowercase();
    let chars: Vec<char> = lower.chars().collect();
    if chars.len() < 2 {
        return Ok(Vec::new());
    }
    let like = |part: String| {
        part.replace('\\', r"\\")
            .replace('%', r"\%")
            .replace('_', r"\_")
    };
    let prefix = format!("{}%", like(chars[..2].iter().collect()));
    let suffix = format!("%{}", like(chars[chars.len() - 2..].iter().collect()));
    let (min, max) = (chars.len() as i32 - 3, chars.len() as i32 + 3);
    let limit = (chars.len() / 3).max(1);
    let root = catalog.table(scope.root);
    let mut near: Vec<(usize, String)> = Vec::new();
    for column in &scope.lookup_columns {
        let sql = format!(
            "SELECT DISTINCT v FROM (SELECT t.{}::text AS v FROM {} t) s \
             WHERE length(v) BETWEEN $1 AND $2 AND (lower(v) LIKE $3 OR lower(v) LIKE $4) LIMIT 200",
            crate::db::quote_ident(column),
            root.from_clause()
        );
        let rows = client.query(&sql, &[&min, &max, &prefix, &suffix]).await?;
        for row in rows {
            let value: String = row.get(0);
            let distance = strsim::levenshtein(&lower, &value.to_lowercase());
            if distance <= limit && value != typed && !near.iter().any(|(_, v)| *v == value) {
                near.push((distance, value));
            }
        }
    }
    near.sort();
    Ok(near.into_iter().take(3).map(|(_, v)| v).collect())
}

/// The columns `orgs` shows: the key, then the other lookup columns (the name among them).
pub fn listed_columns(scope: &Scope) -> Vec<String> {
    std::iter::once(scope.root_key.clone())
        .chain(
            scope
                .lookup_columns
                .iter()
                .filter(|c| **c != scope.root_key)
                .cloned(),
        )
        .collect()
}

/// The orgs in key order, at most `limit` (+1, so the caller can tell there are more), each
/// as the text of [`listed_columns`], streamed as the server sends them.
pub async fn listing(
    client: &Client,
    catalog: &Catalog,
    scope: &Scope,
    limit: u32,
) -> anyhow::Result<tokio_postgres::RowStream> {
    let root = catalog.table(scope.root);
    let columns: Vec<String> = listed_columns(scope)
        .iter()
        .map(|c| format!("t.{}::text", crate::db::quote_ident(c)))
        .collect();
    let sql = format!(
        "SELECT {} FROM {} t ORDER BY t.{} LIMIT $1",
        columns.join(", "),
        root.from_clause(),
        crate::db::quote_ident(&scope.root_key)
    );
    let limit = i64::from(limit) + 1;
    client
        .query_raw(&sql, [&limit as &(dyn tokio_postgres::types::ToSql + Sync)])
        .await
        .with_context(|| format!("listing the orgs of {}", root.qualified_name()))
}

/// Every org of the root table, in key order; named by their first lookup column other than
/// the key (the slug, usually), so that store paths read well.
pub async fn all(
    client: &Client,
    catalog: &Catalog,
    scope: &Scope,
    planner: &Planner<'_>,
) -> anyhow::Result<Vec<Org>> {
    if let Some(tenancy) = &scope.schemas {
        return Ok((tenancy.tenants.iter())
            .map(|t| schema_org(t, &t.key))
            .collect());
    }
    let table = catalog.table(scope.root).qualified_name();
    let rows = client
        .query(&planner.all_orgs_sql(name_column(scope)), &[])
        .await
        .with_context(|| format!("listing the orgs of {table}"))?;
    Ok(rows
        .iter()
        .map(|row| {
            let key: String = row.get(0);
            let name: Option<String> = row.get(1);
            let label: Option<String> = row.get(2);
            Org {
                table: table.clone(),
                lookup: name.unwrap_or_else(|| key.clone()),
                dir: layout::org_dir(label.as_deref(), &key, planner.key_is_uuid()),
                key,
            }
        })
        .collect())
}

/// The column that names an org in listings and `--all-orgs` runs: the first lookup column
/// other than the key (the slug, usually), else the key.
pub fn name_column(scope: &Scope) -> &str {
    scope
        .lookup_columns
        .iter()
        .find(|c| **c != scope.root_key)
        .unwrap_or(&scope.root_key)
}

/// The current names ([`name_column`]) of the orgs with these canonical keys; an org deleted
/// since has no entry.
pub async fn names(
    client: &Client,
    scope: &Scope,
    planner: &Planner<'_>,
    keys: &[String],
) -> anyhow::Result<HashMap<String, String>> {
    // A tenant schema is named by its key.
    if scope.schemas.is_some() {
        return Ok(keys.iter().map(|k| (k.clone(), k.clone())).collect());
    }
    // The one SQL that lists orgs, narrowed to these keys.
    let sql = format!(
        "SELECT o.key, o.name FROM ({}) AS o(key, name, label) WHERE o.key = ANY($1)",
        planner.all_orgs_sql(name_column(scope))
    );
    let rows = client
        .query(&sql, &[&keys])
        .await
        .context("reading the orgs' current names")?;
    Ok(rows
        .iter()
        .map(|row| {
            let key: String = row.get(0);
            let name: Option<String> = row.get(1);
            (key.clone(), name.unwrap_or(key))
        })
        .collect())
}

/// The canonical keys whose exports `list --org X` and `prune --org X` act on: X resolved as
/// `run` resolves it ([`resolve`]); when no row of the root table matches (the org was deleted
/// since, or `table` is `None` because the scope cannot be read), the keys recorded for X in
/// the history — as its key or as the lookup typed then. Neither: org not found (exit 3).
pub async fn history_keys(
    db: &Client,
    history_db: &Client,
    table: Option<(&Catalog, &Scope)>,
    lookup: &str,
) -> anyhow::Result<Vec<String>> {
    let mut not_found = None;
    if let Some((catalog, scope)) = table {
        let planner = Planner::new(catalog, scope);
        match resolve(db, catalog, scope, &planner, lookup).await {
            Ok(org) => return Ok(vec![org.key]),
            Err(err) if crate::error::kind_of(&err) == Kind::OrgNotFound => not_found = Some(err),
            Err(err) => return Err(err),
        }
    }
    let recorded = crate::history::recorded_org_keys(history_db, lookup).await?;
    if !recorded.is_empty() {
        return Ok(recorded);
    }
    let why = not_found.map_or(format!("org {lookup:?} not found"), |e| {
        crate::error::one_line(&e)
    });
    Err(fail(
        Kind::OrgNotFound,
        format!("{why}; nor does any export in the history record it as its key or lookup"),
    ))
}

/// The org key with, for every type it is compared with, whether it is a value of that type.
pub async fn key_for(client: &Client, planner: &Planner<'_>, key: &str) -> anyhow::Result<OrgKey> {
    let mut org = OrgKey {
        text: key.to_string(),
        fits: Default::default(),
    };
    for type_name in planner.key_types() {
        let ok = fits(client, key, &type_name).await?;
        org.fits.insert(type_name, ok);
    }
    Ok(org)
}

/// Whether `value` is a valid literal of `type_name`, without an error in the server log:
/// the common key types are checked here, others with `pg_input_is_valid` (PostgreSQL 16+),
/// and only on older servers by trying the cast.
pub async fn fits(client: &Client, value: &str, type_name: &str) -> anyhow::Result<bool> {
    if let Some(known) = fits_locally(value, type_name) {
        return Ok(known);
    }
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .context("reading the server version")?
        .get(0);
    if version >= 160000 {
        let row = client
            .query_one("SELECT pg_input_is_valid($1, $2)", &[&value, &type_name])
            .await
            .context("checking a value against a column type")?;
        return Ok(row.get(0));
    }
    match client
        .query(&format!("SELECT $1::text::{type_name}"), &[&value])
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.code().is_some_and(|c| c.code().starts_with("22")) => Ok(false),
        Err(e) => Err(e).context("checking a value against a column type"),
    }
}

/// The answer for the types keys usually have; `None` for the others.
fn fits_locally(value: &str, type_name: &str) -> Option<bool> {
    let trimmed = value.trim();
    let base = type_name.split('(').next().unwrap_or(type_name).trim();
    match base {
        "smallint" => Some(trimmed.parse::<i16>().is_ok()),
        "integer" => Some(trimmed.parse::<i32>().is_ok()),
        "bigint" => Some(trimmed.parse::<i64>().is_ok()),
        "uuid" => Some(uuid::Uuid::try_parse(trimmed).is_ok()),
        "text" | "citext" | "name" => Some(true),
        "character varying" => Some(match typmod(type_name) {
            Some(n) => value.chars().count() <= n,
            None => true,
        }),
        "character" => Some(match typmod(type_name) {
            Some(n) => value.trim_end_matches(' ').chars().count() <= n,
            None => value.chars().count() <= 1,
        }),
        _ => None,
    }
}

fn typmod(type_name: &str) -> Option<usize> {
    let inner = type_name.split_once('(')?.1.split_once(')')?.0;
    inner.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::fits_locally;

    #[test]
    fn common_key_types_are_checked_without_the_server() {
        assert_eq!(fits_locally("42", "bigint"), Some(true));
        assert_eq!(fits_locally("acme", "bigint"), Some(false));
        assert_eq!(fits_locally("99999999999", "integer"), Some(false));
        assert_eq!(
            fits_locally("0192f6c4-5b1e-7c3a-9d2f-4e8a1b2c3d4e", "uuid"),
            Some(true)
        );
        assert_eq!(fits_locally("acme", "uuid"), Some(false));
        assert_eq!(fits_locally("abcd", "character varying(3)"), Some(false));
        assert_eq!(fits_locally("abc", "character varying(3)"), Some(true));
        assert_eq!(fits_locally("x", "inet"), None);
    }
}
