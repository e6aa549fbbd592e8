//! Polymorphic pairs adopted by their values, for one org, inside its snapshot (DESIGN §2,
//! `infer_references = true`). Classification reads no rows; this step sits between it and
//! the export: read each pair's type values from the org's own in-scope rows, map them to
//! tables (`scope::polymorphism`), and classify again with the pairs whose values name tables
//! as if they were configured — until no new pair is adopted. `run` and `plan` both call it,
//! so what `plan` shows is what `run` writes.
//!
//! A pair whose table holds none of the org's rows yet (`taggings`, reached only through the
//! pair) has no values of the org's to read: the class names of the org's own tables are
//! asked instead, and a name is taken only when a row with it points at one of the org's rows
//! of that table. Nothing read from another org's rows is adopted or shown.

use crate::db::{quote_ident, quote_literal};
use crate::export::snapshot::Snapshot;
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::model::{Role, Scope};
use crate::scope::plan::{OrgKey, Planner};
use crate::scope::polymorphism::{
    PairValues, TypeValue, adopted_entry, class_names, config_line, django_target, rails_target,
};
use crate::scope::references::{PairKind, PolymorphicPair, compatible_types};
use crate::scope::rules::adopt_pairs;

/// Type values read per pair.
const TYPE_VALUES: usize = 100;
/// Rounds of adoption: a pair adopted can bring a table whose own pairs are then read.
const ROUNDS: usize = 3;

/// The scope with the org's polymorphic pairs adopted, or `None` when nothing is adopted
/// (`infer_references` off, no pair, or no value naming a table).
pub async fn adopt_for_org(
    snapshot: &Snapshot<'_>,
    catalog: &Catalog,
    scope: &Scope,
    key: &OrgKey,
) -> anyhow::Result<Option<Scope>> {
    if !scope.config.infer_references {
        return Ok(None);
    }
    let mut current: Option<Scope> = None;
    for _ in 0..ROUNDS {
        let now = current.as_ref().unwrap_or(scope);
        let planner = Planner::new(catalog, now);
        let values = pair_values(snapshot, catalog, now, &planner, key).await?;
        let mut adopted = Vec::new();
        let mut notes = Vec::new();
        for (pair, found) in now.polymorphic_pairs.iter().zip(&values) {
            let Some(entry) = adopted_entry(catalog, pair, found) else {
                continue;
            };
            let unmapped: Vec<&str> = found
                .values
                .iter()
                .filter(|v| v.target.is_none())
                .map(|v| v.label.as_str())
                .collect();
            if !unmapped.is_empty() {
                notes.push(format!(
                    "{}.{}: type value(s) {} of this org's rows name no table (or one whose key does not fit {}): those rows' {} is not followed",
                    catalog.table(pair.table).qualified_name(),
                    pair.type_column,
                    unmapped.join(", "),
                    pair.id_column,
                    pair.id_column
                ));
            }
            let line = config_line(&entry, found);
            adopted.push((entry, line));
        }
        if adopted.is_empty() {
            break;
        }
        current = Some(adopt_pairs(catalog, now, adopted, notes)?);
    }
    Ok(current)
}

/// The type values of each of `scope.polymorphic_pairs` found for the org: from its in-scope
/// rows when the pair's table is a section, else confirmed against its rows of the target.
pub async fn pair_values(
    snapshot: &Snapshot<'_>,
    catalog: &Catalog,
    scope: &Scope,
    planner: &Planner<'_>,
    key: &OrgKey,
) -> anyhow::Result<Vec<PairValues>> {
    let mut out = Vec::with_capacity(scope.polymorphic_pairs.len());
    for pair in &scope.polymorphic_pairs {
        let found = if scope.section_of(pair.table).is_some() {
            section_values(snapshot, catalog, planner, key, pair).await?
        } else {
            confirmed_values(snapshot, catalog, scope, planner, key, pair).await?
        };
        out.push(PairValues { values: found });
    }
    Ok(out)
}

/// The distinct type values of the org's own rows of the pair's table, with their targets.
async fn section_values(
    snapshot: &Snapshot<'_>,
    catalog: &Catalog,
    planner: &Planner<'_>,
    key: &OrgKey,
    pair: &PolymorphicPair,
) -> anyhow::Result<Vec<TypeValue>> {
    let expr = format!("t.{}::text", quote_ident(&pair.type_column));
    let sql = planner.distinct_sql(pair.table, key, &expr, TYPE_VALUES);
    let values: Vec<String> = snapshot
        .query(&sql)
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let schema = &catalog.table(pair.table).schema;
    Ok(match pair.kind {
        PairKind::Rails => values
            .into_iter()
            .map(|value| TypeValue {
                target: rails_target(catalog, schema, &value).filter(|&t| fits(catalog, pair, t)),
                label: value.clone(),
                value,
            })
            .collect(),
        PairKind::Django { content_types } => {
            let known = content_type_rows(snapshot, catalog, content_types).await?;
            values
                .into_iter()
                .map(|value| match known.iter().find(|(id, ..)| *id == value) {
                    Some((_, app, model)) => TypeValue {
                        target: django_target(catalog, schema, app, model)
                            .filter(|&t| fits(catalog, pair, t)),
                        label: format!("{app}.{model}"),
                        value,
                    },
                    None => TypeValue {
                        label: value.clone(),
                        value,
                        target: None,
                    },
                })
                .collect()
        }
    })
}

/// For a pair whose table holds none of the org's rows yet: the values naming one of the
/// org's tables (root, tenant, child) that some row with that value points into — the
/// org's rows of that table, never another org's.
async fn confirmed_values(
    snapshot: &Snapshot<'_>,
    catalog: &Catalog,
    scope: &Scope,
    planner: &Planner<'_>,
    key: &OrgKey,
    pair: &PolymorphicPair,
) -> anyhow::Result<Vec<TypeValue>> {
    let owners: Vec<TableId> = scope
        .sections
        .iter()
        .filter(|s| {
            matches!(
                s.role,
                Role::Root | Role::Tenant { .. } | Role::Child | Role::Schema
            )
        })
        .map(|s| s.table)
        .filter(|&t| fits(catalog, pair, t))
        .collect();
    let schema = catalog.table(pair.table).schema.clone();
    let candidates: Vec<TypeValue> = match pair.kind {
        PairKind::Rails => {
            let names: Vec<(String, TableId)> = owners
                .iter()
                .flat_map(|&t| class_names(catalog, t).into_iter().map(move |n| (n, t)))
                .collect();
            if names.is_empty() {
                return Ok(Vec::new());
            }
            // Only which of our own names occur: nothing of the rows is kept but a name.
            let list: Vec<String> = names.iter().map(|(n, _)| quote_literal(n)).collect();
            let sql = format!(
                "SELECT DISTINCT p.{col}::text FROM {from} p WHERE p.{col}::text IN ({})",
                list.join(", "),
                col = quote_ident(&pair.type_column),
                from = catalog.table(pair.table).from_clause()
            );
            let occurring: Vec<String> = snapshot
                .query(&sql)
                .await?
                .iter()
                .map(|r| r.get(0))
                .collect();
            names
                .into_iter()
                .filter(|(n, _)| occurring.contains(n))
                .map(|(value, t)| TypeValue {
                    label: value.clone(),
                    value,
                    target: Some(t),
                })
                .collect()
        }
        PairKind::Django { content_types } => content_type_rows(snapshot, catalog, content_types)
            .await?
            .into_iter()
            .filter_map(|(id, app, model)| {
                let t = django_target(catalog, &schema, &app, &model)?;
                owners.contains(&t).then(|| TypeValue {
                    value: id,
                    label: format!("{app}.{model}"),
                    target: Some(t),
                })
            })
            .collect(),
    };
    let mut out = Vec::new();
    for candidate in candidates {
        let target = candidate.target.expect("candidates have a target");
        let key_column = &catalog.table(target).primary_key[0];
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {from} p WHERE p.{ty} = {value} AND p.{id} IN ({rows}))",
            from = catalog.table(pair.table).from_clause(),
            ty = quote_ident(&pair.type_column),
            value = quote_literal(&candidate.value),
            id = quote_ident(&pair.id_column),
            rows = planner.all_rows_sql(target, key, &format!("t.{}", quote_ident(key_column)))
        );
        let points: bool = snapshot.query(&sql).await?[0].get(0);
        if points {
            out.push(candidate);
        }
    }
    Ok(out)
}

/// `django_content_type` rows as `(id, app_label, model)`: a global table of model names,
/// not any org's data.
async fn content_type_rows(
    snapshot: &Snapshot<'_>,
    catalog: &Catalog,
    table: TableId,
) -> anyhow::Result<Vec<(String, String, String)>> {
    let sql = format!(
        "SELECT id::text, app_label::text, model::text FROM {} ORDER BY id",
        catalog.table(table).from_clause()
    );
    Ok(snapshot
        .query(&sql)
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

/// Whether the pair's id column can hold the target's one-column key.
fn fits(catalog: &Catalog, pair: &PolymorphicPair, target: TableId) -> bool {
    let table = catalog.table(target);
    let [key] = table.primary_key.as_slice() else {
        return false;
    };
    let id_type = catalog
        .table(pair.table)
        .column(&pair.id_column)
        .map(|c| c.type_name.as_str());
    let key_type = table.column(key).map(|c| c.type_name.as_str());
    matches!((id_type, key_type), (Some(a), Some(b)) if compatible_types(a, b))
}
