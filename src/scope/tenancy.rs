//! Tenancy (DESIGN §2): which table is the root, which column of it tenant columns hold (the
//! key), which column names are tenant columns — verified by the foreign keys they carry, not
//! by their names alone — and which root columns `--org` is matched against. When nothing
//! says, the usage error lists the candidates and the config lines to add. Which tables *are*
//! tenant tables is `ownership.rs`'s role assignment.

use std::collections::{BTreeMap, HashSet};

use crate::scope::catalog::{Catalog, TableId};
use crate::scope::config::{DEFAULT_LOOKUP_COLUMNS, ScopeConfig, TENANT_COLUMN_CANDIDATES, usage};
use crate::scope::references::{self, Reference};

/// The root, its key column and the tenant column names.
pub(super) struct Tenancy {
    pub(super) root: TableId,
    pub(super) key: String,
    /// Tenant column names, most used first.
    pub(super) names: Vec<String>,
    /// Names trusted as tenant columns even without a reference (configured, or the
    /// discovered one).
    pub(super) trusted: Vec<String>,
}

/// Single-column, unconditional references `(name, table) → (target, target column)`.
fn tenant_votes(
    references: &[Reference],
    eligible: &[bool],
    names: &[String],
) -> BTreeMap<(String, TableId), HashSet<TableId>> {
    let mut votes: BTreeMap<(String, TableId), HashSet<TableId>> = BTreeMap::new();
    for r in references {
        if r.columns.len() == 1
            && r.when.is_none()
            && eligible[r.table]
            && r.table != r.target
            && names.contains(&r.columns[0])
        {
            votes
                .entry((r.columns[0].clone(), r.target))
                .or_default()
                .insert(r.table);
        }
    }
    votes
}

/// `org_id`, `orgId`, … for every candidate.
fn candidate_names() -> Vec<String> {
    let mut names = Vec::new();
    for snake in TENANT_COLUMN_CANDIDATES {
        names.push(snake.to_string());
        let mut camel = String::new();
        for (i, word) in snake.split('_').enumerate() {
            if i == 0 {
                camel.push_str(word);
            } else {
                camel.push_str(&word[..1].to_uppercase());
                camel.push_str(&word[1..]);
            }
        }
        names.push(camel);
    }
    names
}

/// The root (configured or discovered), its key and the tenant column names in effect.
pub(super) fn find_tenancy(
    catalog: &Catalog,
    config: &ScopeConfig,
    references: &[Reference],
    eligible: &[bool],
) -> anyhow::Result<Tenancy> {
    let configured = !config.tenant_columns.is_empty();
    let names = if configured {
        for name in &config.tenant_columns {
            if !catalog.tables.iter().any(|t| t.column(name).is_some()) {
                return Err(usage(format!(
                    "tenant_columns: no table has a column {name:?}; check the spelling (names are case-sensitive)"
                )));
            }
        }
        config.tenant_columns.clone()
    } else {
        candidate_names()
    };
    let votes = tenant_votes(references, eligible, &names);
    let root = match &config.root_table {
        Some(name) => references::table_by_name(catalog, name, "root_table")?,
        None => discover_root(catalog, config, &names, &votes, eligible)?,
    };
    // Names that reference the root, most tables first.
    let mut for_root: Vec<(String, usize)> = votes
        .iter()
        .filter(|((_, target), _)| *target == root)
        .map(|((name, _), tables)| (name.clone(), tables.len()))
        .collect();
    for_root.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut tenant_names: Vec<String> = for_root.iter().map(|(n, _)| n.clone()).collect();
    let trusted = if configured {
        for name in &config.tenant_columns {
            if !tenant_names.contains(name) {
                tenant_names.push(name.clone());
            }
        }
        config.tenant_columns.clone()
    } else {
        tenant_names.first().cloned().into_iter().collect()
    };
    let key = root_key(catalog, references, root, &tenant_names)?;
    Ok(Tenancy {
        root,
        key,
        names: tenant_names,
        trusted,
    })
}

/// The table most tenant-column references point at; ties and absence are usage errors
/// listing the candidates and the config lines to add.
fn discover_root(
    catalog: &Catalog,
    config: &ScopeConfig,
    names: &[String],
    votes: &BTreeMap<(String, TableId), HashSet<TableId>>,
    eligible: &[bool],
) -> anyhow::Result<TableId> {
    let mut ranked: Vec<((String, TableId), usize)> = votes
        .iter()
        .map(|(k, tables)| (k.clone(), tables.len()))
        .collect();
    ranked.sort_by(|a, b| {
        b.1.cmp(&a.1).then_with(|| {
            catalog
                .table(a.0.1)
                .qualified_name()
                .cmp(&catalog.table(b.0.1).qualified_name())
        })
    });
    match ranked.as_slice() {
        [] => Err(usage(no_tenancy_message(catalog, config, names, eligible))),
        [((name, root), count), rest @ ..] => {
            if let Some(((other_name, other), _)) =
                rest.iter().find(|((_, t), c)| *t != *root && *c == *count)
            {
                return Err(usage(format!(
                    "cannot tell the root table: {} tables reference {} through {name} and as many reference {} through {other_name}; add root_table = \"{}\" (or the other) to orgexport.toml",
                    count,
                    catalog.table(*root).qualified_name(),
                    catalog.table(*other).qualified_name(),
                    catalog.table(*root).qualified_name(),
                )));
            }
            Ok(*root)
        }
    }
}

/// "No tenant column has a foreign key": the candidates that exist, with table counts, and
/// the config lines that would make the export work.
fn no_tenancy_message(
    catalog: &Catalog,
    config: &ScopeConfig,
    names: &[String],
    eligible: &[bool],
) -> String {
    let mut counts: Vec<(String, usize)> = names
        .iter()
        .map(|name| {
            let n = catalog
                .tables
                .iter()
                .enumerate()
                .filter(|(id, t)| eligible[*id] && t.column(name).is_some())
                .count();
            (name.clone(), n)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let Some((best, _)) = counts.first() else {
        return format!(
            "cannot find the tenant column: no table has a column named {}; add tenant_columns = [\"…\"] and root_table = \"schema.table\" to orgexport.toml",
            names.join(", ")
        );
    };
    let listed: Vec<String> = counts
        .iter()
        .map(|(n, c)| format!("{n} ({c} tables)"))
        .collect();
    let guess = catalog
        .tables
        .iter()
        .position(|t| t.column(best).is_some())
        .and_then(|id| {
            let stem = best
                .strip_suffix("_id")
                .or_else(|| best.strip_suffix("Id"))
                .unwrap_or(best);
            references::table_for_stem(catalog, &catalog.table(id).schema, stem)
        });
    let root_line = match guess {
        Some(root) => format!("root_table = \"{}\"", catalog.table(root).qualified_name()),
        None => "root_table = \"schema.table\"".to_string(),
    };
    let infer = if config.infer_references || guess.is_none() {
        String::new()
    } else {
        " (or infer_references = true to adopt the foreign keys the schema does not declare)"
            .to_string()
    };
    format!(
        "cannot find the root table: no tenant column has a foreign key; candidates: {}; add tenant_columns = [\"{best}\"] and {root_line} to orgexport.toml{infer}",
        listed.join(", ")
    )
}

/// The root column tenant columns hold: the one most of their references target, else the
/// root's one-column primary key.
fn root_key(
    catalog: &Catalog,
    references: &[Reference],
    root: TableId,
    names: &[String],
) -> anyhow::Result<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in references {
        if r.target == root
            && r.columns.len() == 1
            && r.when.is_none()
            && names.contains(&r.columns[0])
        {
            *counts.entry(r.target_columns[0].as_str()).or_default() += 1;
        }
    }
    let table = catalog.table(root);
    if let [pk] = table.primary_key.as_slice()
        && (counts.is_empty() || counts.contains_key(pk.as_str()))
    {
        return Ok(pk.clone());
    }
    if let Some((column, _)) = counts.iter().max_by_key(|(_, n)| **n) {
        return Ok(column.to_string());
    }
    Err(usage(format!(
        "root table {} needs a single-column primary key (or tenant columns with a foreign key to it)",
        table.qualified_name()
    )))
}

/// `--org` is matched against these columns of the root, in order.
pub(super) fn lookup_columns(
    catalog: &Catalog,
    config: &ScopeConfig,
    root: TableId,
    key: &str,
) -> anyhow::Result<Vec<String>> {
    let table = catalog.table(root);
    if !config.lookup_columns.is_empty() {
        for column in &config.lookup_columns {
            if table.column(column).is_none() {
                return Err(usage(format!(
                    "lookup_columns: the root table {} has no column {column:?}; its columns: {}",
                    table.qualified_name(),
                    table
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        return Ok(config.lookup_columns.clone());
    }
    let mut wanted = vec![key.to_string()];
    wanted.extend(table.primary_key.iter().cloned());
    wanted.extend(DEFAULT_LOOKUP_COLUMNS.iter().map(|c| c.to_string()));
    let mut seen = HashSet::new();
    Ok(wanted
        .into_iter()
        .filter(|c| table.column(c).is_some() && seen.insert(c.clone()))
        .collect())
}

#[cfg(test)]
mod tests {
    use crate::error::Kind;
    use crate::scope::config::ScopeConfig;
    use crate::scope::model::Role;
    use crate::scope::rules::classify;
    use crate::scope::testing::{Builder, role_of, tenant};

    #[test]
    fn same_named_column_pointing_elsewhere_is_not_a_tenant_column() {
        let catalog = Builder::default()
            .table("public.organizations", &["id!"])
            .table("public.customer_organizations", &["id!", "org_id!"])
            .table("public.projects", &["id!", "org_id!"])
            .table("public.members", &["id!", "org_id!"])
            .table("public.contacts", &["id!", "org_id!"])
            .fk(
                "public.customer_organizations",
                &["org_id"],
                "public.organizations",
                &["id"],
            )
            .fk(
                "public.projects",
                &["org_id"],
                "public.organizations",
                &["id"],
            )
            .fk(
                "public.members",
                &["org_id"],
                "public.organizations",
                &["id"],
            )
            .fk(
                "public.contacts",
                &["org_id"],
                "public.customer_organizations",
                &["id"],
            )
            .build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(
            catalog.table(scope.root).qualified_name(),
            "public.organizations"
        );
        // contacts hangs off customer_organizations through a NOT NULL reference: a child.
        assert_eq!(
            role_of(&catalog, &scope, "public.contacts"),
            Some(Role::Child)
        );
        assert!(
            scope
                .warnings
                .iter()
                .any(|w| w.contains("public.contacts.org_id is named like a tenant column"))
        );
    }

    #[test]
    fn zero_config_finds_camel_case_and_british_tenant_columns() {
        let catalog = Builder::default()
            .table("public.Organisation", &["id!", "slug$"])
            .table("public.Project", &["id!", "organisationId!"])
            .table("public.Member", &["id!", "organisationId!"])
            .table("public.Other", &["id!", "accountId"])
            .table("public.Account", &["id!"])
            .fk(
                "public.Project",
                &["organisationId"],
                "public.Organisation",
                &["id"],
            )
            .fk(
                "public.Member",
                &["organisationId"],
                "public.Organisation",
                &["id"],
            )
            .fk("public.Other", &["accountId"], "public.Account", &["id"])
            .build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(
            catalog.table(scope.root).qualified_name(),
            "public.Organisation"
        );
        assert_eq!(scope.tenant_columns, vec!["organisationId"]);
        assert_eq!(
            role_of(&catalog, &scope, "public.Project"),
            tenant("organisationId")
        );
        // accountId references another table: not a tenant column of this root.
        assert_eq!(role_of(&catalog, &scope, "public.Other"), None);
    }

    #[test]
    fn ambiguous_or_missing_tenancy_lists_candidates_and_config_lines() {
        let catalog = Builder::default()
            .table("public.accounts", &["id!"])
            .table("public.projects", &["id!", "account_id!"])
            .table("public.issues", &["id!", "account_id!", "project_id!"])
            .build();
        let err = classify(&catalog, &ScopeConfig::default()).unwrap_err();
        assert_eq!(crate::error::kind_of(&err), Kind::Usage);
        let text = err.to_string();
        assert!(text.contains("account_id (2 tables)"), "{text}");
        assert!(text.contains("tenant_columns = [\"account_id\"]"), "{text}");
        assert!(text.contains("root_table = \"public.accounts\""), "{text}");
        assert!(text.contains("infer_references = true"), "{text}");

        // Rails without foreign keys: infer_references is all it takes.
        let config = ScopeConfig {
            infer_references: true,
            ..ScopeConfig::default()
        };
        let scope = classify(&catalog, &config).unwrap();
        assert_eq!(
            catalog.table(scope.root).qualified_name(),
            "public.accounts"
        );
        assert_eq!(
            role_of(&catalog, &scope, "public.issues"),
            tenant("account_id")
        );

        let tie = Builder::default()
            .table("public.orgs", &["id!"])
            .table("public.teams", &["id!"])
            .table("public.a", &["id!", "org_id!"])
            .table("public.b", &["id!", "team_id!"])
            .fk("public.a", &["org_id"], "public.orgs", &["id"])
            .fk("public.b", &["team_id"], "public.teams", &["id"])
            .build();
        let text = classify(&tie, &ScopeConfig::default())
            .unwrap_err()
            .to_string();
        assert!(text.contains("root_table"), "{text}");
    }
}
