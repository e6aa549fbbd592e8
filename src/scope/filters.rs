//! Row filters and column choices (`--where 'schema.table: SQL'`, `--columns 'schema.table:
//! a,b'`, and the config keys `where` and `columns`): parsing them, the check that a predicate
//! is one expression that cannot leave the parentheses it is put in, and applying both to a
//! classified [`Scope`]. A row filter narrows the org's scope itself — rows it drops, and the
//! rows they own, are not exported and not brought back for completeness. Asking the server
//! whether the predicate is valid SQL is `export::narrowing`'s; how the filter becomes a
//! condition of every branch is `plan/branches.rs`'s.

use crate::error::{Kind, fail};
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::model::{Role, Scope, Section};
pub use crate::scope::narrow_spec::{ColumnChoice, RowFilter, check_one_expression};

/// The section a `--where`/`--columns` entry names: an exported table, or a usage error.
fn section_table(
    catalog: &Catalog,
    scope: &Scope,
    flag: &str,
    table: &str,
) -> anyhow::Result<TableId> {
    catalog
        .find(table)
        .filter(|&t| scope.section_of(t).is_some())
        .ok_or_else(|| {
            fail(
                Kind::Usage,
                format!("{flag} names {table}, which is not a section of the export (see `orgexport plan`)"),
            )
        })
}

fn section_mut(scope: &mut Scope, table: TableId) -> &mut Section {
    scope
        .sections
        .iter_mut()
        .find(|s| s.table == table)
        .expect("a section")
}

/// Sets each named section's row filter; two filters on one table are AND-ed.
pub fn apply_row_filters(
    catalog: &Catalog,
    scope: &mut Scope,
    filters: &[RowFilter],
) -> anyhow::Result<()> {
    for filter in filters {
        let table = section_table(catalog, scope, "--where", &filter.table)?;
        let section = section_mut(scope, table);
        section.row_filter = Some(match section.row_filter.take() {
            Some(earlier) => format!("{earlier}) AND ({}", filter.predicate),
            None => filter.predicate.clone(),
        });
    }
    Ok(())
}

/// Keeps only the chosen columns of each named section — plus its primary key and every
/// column a reference between sections joins on (and a polymorphic type column), so that the
/// archive stays referentially complete and restorable. The others are excluded like secrets
/// (`excluded_columns`, reason `--columns`): a restore leaves them to the target's defaults.
pub fn apply_column_choices(
    catalog: &Catalog,
    scope: &mut Scope,
    choices: &[ColumnChoice],
) -> anyhow::Result<()> {
    for choice in choices {
        let table = section_table(catalog, scope, "--columns", &choice.table)?;
        let t = catalog.table(table);
        if let Some(missing) = choice.columns.iter().find(|c| t.column(c).is_none()) {
            return Err(fail(
                Kind::Usage,
                format!(
                    "--columns names {}.{missing}, which does not exist",
                    choice.table
                ),
            ));
        }
        let keys = key_columns(catalog, scope, table);
        let section = section_mut(scope, table);
        let (kept, dropped): (Vec<String>, Vec<String>) = section
            .columns
            .iter()
            .cloned()
            .partition(|c| choice.columns.contains(c) || keys.contains(c));
        section.columns = kept;
        for column in dropped {
            section.excluded_columns.push(column.clone());
            section.exclusion_reasons.push((column, "--columns".into()));
        }
    }
    Ok(())
}

/// The primary key and the columns references between sections join on, at either end.
fn key_columns(catalog: &Catalog, scope: &Scope, table: TableId) -> Vec<String> {
    let mut keys = catalog.table(table).primary_key.clone();
    let is_section = |t: TableId| scope.section_of(t).is_some();
    for r in &scope.references {
        if !(is_section(r.table) && is_section(r.target)) {
            continue;
        }
        if r.table == table {
            keys.extend(r.columns.iter().cloned());
            keys.extend(r.when.iter().map(|(c, _)| c.clone()));
        }
        if r.target == table {
            keys.extend(r.target_columns.iter().cloned());
        }
    }
    if let Some(Role::Tenant { column, .. }) = scope.role_of(table) {
        keys.push(column.clone());
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_predicate_cannot_leave_its_parentheses() {
        assert!(check_one_expression("status <> 'done' AND (x = ')')").is_ok());
        assert!(check_one_expression("title ~ $$(\\d+$$ AND \"odd)name\" > 1").is_ok());
        assert!(check_one_expression("tags[1] = 'a'").is_ok());
        for bad in [
            "true) OR (true",
            "x = 1; DELETE FROM users",
            "x = 1 -- )",
            "x = 1 /* ) */",
            "(x = 1",
        ] {
            assert!(check_one_expression(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn entries_name_a_table_and_default_to_public() {
        let f = RowFilter::parse("tasks: status = 'open'").unwrap();
        assert_eq!(
            (f.table.as_str(), f.predicate.as_str()),
            ("public.tasks", "status = 'open'")
        );
        let c = ColumnChoice::parse("app.users: id, email ,").unwrap();
        assert_eq!(
            (c.table.as_str(), c.columns.clone()),
            ("app.users", vec!["id".to_string(), "email".to_string()])
        );
        assert!(RowFilter::parse("no table here").is_err());
        assert!(ColumnChoice::parse("public.users:").is_err());
        assert!(RowFilter::parse("public.x: a::int = 1").is_ok());
    }
}
