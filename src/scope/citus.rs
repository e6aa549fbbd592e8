//! What Citus's metadata says about the catalog's tables (DESIGN §2, §11) — read with the
//! catalog (`catalog::Citus`, from `pg_dist_partition`: distributed and co-located tables,
//! reference tables, Citus local and single-shard tables) — implies: the tenancy when nothing is
//! configured: the distribution column of the tables co-located with the root is the tenant
//! column. Where a tenant's shards are placed (workers, shard ids) is `db::citus`'s; the
//! scope rules themselves do not change on Citus.

use std::collections::BTreeMap;

use crate::scope::catalog::{Catalog, CitusKind, TableId};
use crate::scope::references::Reference;

/// The tenancy Citus's metadata implies, for a catalog without `tenant_columns` or
/// `root_table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitusTenancy {
    pub root: TableId,
    /// Distribution columns of the root's co-located tables, most used first.
    pub columns: Vec<String>,
    /// How it was found, for the messages that depend on it.
    pub guess: String,
}

/// The largest co-location group of distributed tables; its root is the table distributed by
/// its own one-column primary key (`companies.id`) that the others' distribution columns
/// reference (`campaigns.company_id → companies.id`), or, without such a reference, the only
/// such table. `None` when the metadata says nothing conclusive: discovery by name applies.
pub fn tenancy(catalog: &Catalog, references: &[Reference]) -> Option<CitusTenancy> {
    let citus = catalog.citus.as_ref()?;
    let mut groups: BTreeMap<i32, Vec<(TableId, &str)>> = BTreeMap::new();
    for (&table, kind) in &citus.kinds {
        if let CitusKind::Distributed { column, colocation } = kind {
            groups
                .entry(*colocation)
                .or_default()
                .push((table, column.as_str()));
        }
    }
    let (_, group) = groups
        .iter()
        .max_by(|a, b| a.1.len().cmp(&b.1.len()).then(b.0.cmp(a.0)))?;
    let by_own_key = |(table, column): &(TableId, &str)| {
        catalog.table(*table).primary_key.as_slice() == [column.to_string()]
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in group.iter().filter(|e| !by_own_key(e)) {
        *counts.entry(entry.1).or_default() += 1;
    }
    let mut columns: Vec<(&str, usize)> = counts.into_iter().collect();
    columns.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let roots: Vec<TableId> = group
        .iter()
        .filter(|e| by_own_key(e))
        .map(|e| e.0)
        .collect();
    let referenced = |root: &TableId| {
        references.iter().any(|r| {
            r.target == *root
                && r.columns.len() == 1
                && columns.iter().any(|(c, _)| r.columns[0] == *c)
        })
    };
    let (root, how) = match roots.iter().filter(|r| referenced(r)).collect::<Vec<_>>()[..] {
        [one] => (*one, "distributed by its key"),
        _ => match roots[..] {
            [one] => (one, "distributed by its key"),
            [] => (
                referenced_by_distribution_column(references, group)?,
                "which their distribution column references",
            ),
            _ => return None,
        },
    };
    let (first, n) = *columns.first()?;
    Some(CitusTenancy {
        root,
        columns: columns.iter().map(|(c, _)| c.to_string()).collect(),
        guess: format!(
            "root found in Citus's metadata: {n} table(s) distributed by {first} co-located, root {} ({how})",
            catalog.table(root).qualified_name()
        ),
    })
}

/// A root that is not in the group (a reference table `companies` the distributed tables'
/// `company_id` references): the one table their distribution columns reference.
fn referenced_by_distribution_column(
    references: &[Reference],
    group: &[(TableId, &str)],
) -> Option<TableId> {
    let mut targets: Vec<TableId> = references
        .iter()
        .filter(|r| r.when.is_none() && r.target_when.is_none() && r.columns.len() == 1)
        .filter(|r| {
            group
                .iter()
                .any(|(t, c)| *t == r.table && r.columns[0] == *c)
        })
        .map(|r| r.target)
        .collect();
    targets.sort_unstable();
    targets.dedup();
    match targets[..] {
        [one] => Some(one),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::scope::catalog::{Catalog, Citus, CitusKind};
    use crate::scope::config::ScopeConfig;
    use crate::scope::model::Role;
    use crate::scope::rules::classify;
    use crate::scope::testing::{Builder, role_of, tenant};

    /// The Citus tutorial's shape: only campaigns has a one-column key to companies; ads and
    /// clicks reach their parents through composite keys that include company_id.
    fn ad_platform() -> Catalog {
        let mut catalog = Builder::default()
            .table("public.countries", &["id!", "name$"])
            .table("public.companies", &["id!", "name$", "country_id"])
            .table("public.campaigns", &["company_id!", "id!", "name$"])
            .table("public.ads", &["company_id!", "id!", "campaign_id!"])
            .table(
                "public.clicks",
                &["company_id!", "id!", "ad_id!", "country_id"],
            )
            .fk(
                "public.companies",
                &["country_id"],
                "public.countries",
                &["id"],
            )
            .fk(
                "public.campaigns",
                &["company_id"],
                "public.companies",
                &["id"],
            )
            .fk(
                "public.ads",
                &["company_id", "campaign_id"],
                "public.campaigns",
                &["company_id", "id"],
            )
            .fk(
                "public.clicks",
                &["company_id", "ad_id"],
                "public.ads",
                &["company_id", "id"],
            )
            .fk(
                "public.clicks",
                &["country_id"],
                "public.countries",
                &["id"],
            )
            .build();
        for name in ["public.campaigns", "public.ads", "public.clicks"] {
            let id = catalog.find(name).unwrap();
            catalog.tables[id].primary_key = vec!["company_id".into(), "id".into()];
        }
        catalog
    }

    fn distributed(column: &str) -> CitusKind {
        CitusKind::Distributed {
            column: column.into(),
            colocation: 1,
        }
    }

    /// The ad platform on Citus: countries a reference table, the others distributed by
    /// company_id, companies as `companies`.
    fn with_kinds(companies: CitusKind) -> Catalog {
        let mut catalog = ad_platform();
        let mut citus = Citus::default();
        for (name, kind) in [
            ("public.countries", CitusKind::Reference),
            ("public.companies", companies),
            ("public.campaigns", distributed("company_id")),
            ("public.ads", distributed("company_id")),
            ("public.clicks", distributed("company_id")),
        ] {
            citus.kinds.insert(catalog.find(name).unwrap(), kind);
        }
        catalog.citus = Some(citus);
        catalog
    }

    #[test]
    fn citus_metadata_names_the_tenant_column_and_the_root_without_config() {
        let catalog = with_kinds(distributed("id"));
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(
            catalog.table(scope.root).qualified_name(),
            "public.companies"
        );
        for table in ["public.campaigns", "public.ads", "public.clicks"] {
            assert_eq!(role_of(&catalog, &scope, table), tenant("company_id"));
        }
        assert_eq!(
            role_of(&catalog, &scope, "public.countries"),
            Some(Role::Referenced)
        );
        assert!(
            scope.root_guess.as_deref().unwrap().contains("Citus"),
            "{:?}",
            scope.root_guess
        );
        assert!(
            !scope.warnings.iter().any(|w| w.contains("no foreign key")),
            "{:?}",
            scope.warnings
        );
    }

    #[test]
    fn a_root_kept_as_a_reference_table_is_the_one_the_distribution_column_references() {
        let catalog = with_kinds(CitusKind::Reference);
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(
            catalog.table(scope.root).qualified_name(),
            "public.companies"
        );
        assert_eq!(
            role_of(&catalog, &scope, "public.ads"),
            tenant("company_id")
        );
    }

    #[test]
    fn composite_keys_that_include_the_tenant_column_are_its_foreign_key() {
        // The same shape on plain PostgreSQL, tenant column configured.
        let catalog = ad_platform();
        let config = ScopeConfig {
            tenant_columns: vec!["company_id".into()],
            ..ScopeConfig::default()
        };
        let scope = classify(&catalog, &config).unwrap();
        assert_eq!(
            role_of(&catalog, &scope, "public.clicks"),
            tenant("company_id")
        );
        assert!(
            !scope.warnings.iter().any(|w| w.contains("no foreign key")),
            "{:?}",
            scope.warnings
        );
        // Without Citus metadata company_id is not a candidate name: configuration is needed.
        assert!(classify(&catalog, &ScopeConfig::default()).is_err());
    }
}
