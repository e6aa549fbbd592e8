//! Resolving `--org` to the one row of the root table it names (DESIGN §2): matched against
//! the lookup columns in order; a value that does not parse as a column's type simply does
//! not match that column.

use anyhow::Context;
use tokio_postgres::Client;

use crate::error::{Kind, fail};
use crate::scope::catalog::Catalog;
use crate::scope::plan::Planner;
use crate::scope::rules::Scope;

/// The org being exported.
#[derive(Debug, Clone)]
pub struct Org {
    /// `schema.table` of the root.
    pub table: String,
    /// The root key as text: what tenant columns hold.
    pub key: String,
    /// What the operator typed.
    pub lookup: String,
}

pub async fn resolve(
    client: &Client,
    catalog: &Catalog,
    scope: &Scope,
    planner: &Planner<'_>,
    lookup: &str,
) -> anyhow::Result<Org> {
    let table = catalog.table(scope.root).qualified_name();
    for column in &scope.lookup_columns {
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
                return Ok(Org {
                    table,
                    key: row.get(0),
                    lookup: lookup.to_string(),
                });
            }
            _ => {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "org {lookup:?} is ambiguous: several rows of {table} have {column} = {lookup:?}; pass the {} instead",
                        scope.root_key
                    ),
                ));
            }
        }
    }
    Err(fail(
        Kind::OrgNotFound,
        format!(
            "org {lookup:?} not found: no row of {table} has {} equal to it",
            scope.lookup_columns.join(", ")
        ),
    ))
}

/// Every org of the root table, in key order; named by their first lookup column other than
/// the key (the slug, usually), so that store paths read well.
pub async fn all(
    client: &Client,
    catalog: &Catalog,
    scope: &Scope,
    planner: &Planner<'_>,
) -> anyhow::Result<Vec<Org>> {
    let table = catalog.table(scope.root).qualified_name();
    let name_column = scope
        .lookup_columns
        .iter()
        .find(|c| **c != scope.root_key)
        .unwrap_or(&scope.root_key);
    let rows = client
        .query(&planner.all_orgs_sql(name_column), &[])
        .await
        .with_context(|| format!("listing the orgs of {table}"))?;
    Ok(rows
        .iter()
        .map(|row| {
            let key: String = row.get(0);
            let name: Option<String> = row.get(1);
            Org {
                table: table.clone(),
                lookup: name.unwrap_or_else(|| key.clone()),
                key,
            }
        })
        .collect())
}
