//! Schema-per-tenant tenancy (DESIGN §11): which schemas are tenants' and which tenant
//! `--org` names. Configured by `tenant_schemas = "tenant_*"` (a glob over schema names;
//! the org key is the part the `*` matches), or discovered when no tenancy is configured:
//! two or more schemas other than `public` holding the same set of tables (the Rails
//! `apartment` and `django-tenants` layouts), or the schemas Citus distributes
//! (`citus_schema_distribute`). Also what that means for classification: the current tenant's
//! tables are the org's, whole ([`Role::Schema`]), and the other tenants' take no part. Pure,
//! over the [`Catalog`]; the shared rows they reference are found by `rules.rs`'s steps as
//! for any tenancy.

use std::collections::BTreeMap;

use crate::scope::catalog::{Catalog, TableId};
use crate::scope::config::{ScopeConfig, usage};
use crate::scope::model::{Role, Skipped, TOOL_SCHEMA, toml_string};
use crate::scope::ownership::Roles;
use crate::scope::tenancy::Tenancy;
pub use crate::scope::tenant_schema::{SchemaTenancy, TenantSchema};

/// Schemas never taken for a tenant's when discovering: the shared schema and Citus's own.
const NEVER_TENANT: &[&str] = &[
    "public",
    TOOL_SCHEMA,
    "citus",
    "columnar",
    "columnar_internal",
];

/// Why `plan` leaves out another tenant's table.
pub const OTHER_TENANT: &str = "another tenant's schema: never read";

impl SchemaTenancy {
    /// Another tenant's schema is never read: none of its tables takes part at all.
    pub(super) fn leave_out_others(&self, catalog: &Catalog, eligible: &mut [bool]) {
        for (id, table) in catalog.tables.iter().enumerate() {
            eligible[id] &= !self.is_other_tenant(&table.schema);
        }
    }

    /// `plan`'s reason for the other tenants' tables.
    pub(super) fn explain_skipped(&self, catalog: &Catalog, skipped: &mut [Skipped]) {
        for s in skipped {
            if self.is_other_tenant(&catalog.table(s.table).schema) {
                s.reason = OTHER_TENANT.to_string();
            }
        }
    }

    /// Whether `schema` is a tenant schema other than the one classified for.
    fn is_other_tenant(&self, schema: &str) -> bool {
        schema != self.current.schema && self.tenants.iter().any(|t| t.schema == schema)
    }

    /// Every table of the current tenant's schema is the org's, whole; there is no root row,
    /// no tenant column. The first of those tables stands in as `root` for what needs one
    /// table (an empty key matches no column).
    pub(super) fn roles(
        &self,
        catalog: &Catalog,
        eligible: &[bool],
    ) -> anyhow::Result<(Tenancy, Roles)> {
        let own: Vec<TableId> = (0..catalog.tables.len())
            .filter(|&id| eligible[id] && catalog.table(id).schema == self.current.schema)
            .collect();
        let Some(&first) = own.first() else {
            return Err(usage(format!(
                "the tenant schema {} has no table to export (all excluded by exclude_tables?)",
                self.current.schema
            )));
        };
        let mut roles = Roles::new(catalog.tables.len(), first);
        for &id in &own {
            roles.role[id] = Some(Role::Schema);
        }
        let tenancy = Tenancy {
            root: first,
            key: String::new(),
            names: Vec::new(),
            trusted: Vec::new(),
            guess: None,
        };
        Ok((tenancy, roles))
    }
}

/// The schema tenancy in effect: configured, or discovered when neither `tenant_columns`,
/// `root_table` nor `tenant_schemas` is set; `None` for a row-based database. The scope is
/// classified for `config.tenant_schema` when set (the org being exported), else for the
/// first tenant.
pub fn find(catalog: &Catalog, config: &ScopeConfig) -> anyhow::Result<Option<SchemaTenancy>> {
    let by_rows = !config.tenant_columns.is_empty() || config.root_table.is_some();
    let found = match &config.tenant_schemas {
        Some(_) if by_rows => {
            return Err(usage(
                "tenant_schemas (a schema per tenant) and tenant_columns/root_table (tenants by rows) are two tenancies: set one of them".to_string(),
            ));
        }
        Some(glob) => Some(configured(catalog, glob)?),
        None if !by_rows => discovered(catalog),
        None => None,
    };
    let Some((tenants, how)) = found else {
        return Ok(None);
    };
    let current = match &config.tenant_schema {
        Some(schema) => tenants
            .iter()
            .find(|t| t.schema == *schema)
            .cloned()
            .ok_or_else(|| {
                usage(format!(
                    "{schema:?} is not one of the tenant schemas ({how})"
                ))
            })?,
        None => tenants[0].clone(),
    };
    Ok(Some(SchemaTenancy {
        tenants,
        how,
        current,
    }))
}

/// Every schema holding a table, with its data-holding tables' names, sorted.
fn schema_tables(catalog: &Catalog) -> BTreeMap<&str, Vec<&str>> {
    let mut schemas: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for table in catalog.tables.iter().filter(|t| t.kind.holds_data()) {
        schemas
            .entry(table.schema.as_str())
            .or_default()
            .push(table.name.as_str());
    }
    for names in schemas.values_mut() {
        names.sort_unstable();
    }
    schemas
}

fn configured(catalog: &Catalog, glob: &str) -> anyhow::Result<(Vec<TenantSchema>, String)> {
    let pattern = glob::Pattern::new(glob)
        .map_err(|e| usage(format!("tenant_schemas: invalid pattern {glob:?}: {e}")))?;
    let tenants: Vec<TenantSchema> = schema_tables(catalog)
        .keys()
        .filter(|s| **s != TOOL_SCHEMA && pattern.matches(s))
        .map(|s| TenantSchema {
            schema: s.to_string(),
            key: key_of(glob, s),
        })
        .collect();
    if tenants.is_empty() {
        return Err(usage(format!(
            "tenant_schemas: {} matches no schema holding a table; write a glob over schema names such as \"tenant_*\" (see `orgexport orgs`)",
            toml_string(glob)
        )));
    }
    let mut tenants = tenants;
    tenants.sort_by(|a, b| a.key.cmp(&b.key));
    Ok((tenants, format!("tenant_schemas = {}", toml_string(glob))))
}

/// The part of `schema` the glob's first `*` stands for (`tenant_*` → `acme`): the literal
/// text before and after it is cut off. A glob without `*` keys the tenant by its whole name.
fn key_of(glob: &str, schema: &str) -> String {
    let Some((before, after)) = glob.split_once('*') else {
        return schema.to_string();
    };
    let literal = |part: &str| !part.contains(['*', '?', '[']);
    match (literal(before), literal(after)) {
        (true, true) if schema.len() > before.len() + after.len() => schema
            .strip_prefix(before)
            .and_then(|s| s.strip_suffix(after))
            .map_or_else(|| schema.to_string(), str::to_string),
        _ => schema.to_string(),
    }
}

/// Schemas Citus distributes, else the largest group of two or more schemas (not `public`)
/// with the same non-empty table set; a tie between groups decides nothing.
fn discovered(catalog: &Catalog) -> Option<(Vec<TenantSchema>, String)> {
    let tenant = |schema: &str| TenantSchema {
        schema: schema.to_string(),
        key: schema.to_string(),
    };
    if let Some(citus) = &catalog.citus
        && !citus.distributed_schemas.is_empty()
    {
        let tenants = citus
            .distributed_schemas
            .iter()
            .map(|s| tenant(s))
            .collect();
        return Some((
            tenants,
            "tenant schemas found in Citus's pg_dist_schema (citus_schema_distribute); set tenant_schemas = \"…\" in orgexport.toml to choose".into(),
        ));
    }
    let mut groups: BTreeMap<Vec<&str>, Vec<&str>> = BTreeMap::new();
    for (schema, tables) in schema_tables(catalog) {
        if !NEVER_TENANT.contains(&schema) {
            groups.entry(tables).or_default().push(schema);
        }
    }
    let mut candidates: Vec<(&Vec<&str>, &Vec<&str>)> =
        groups.iter().filter(|(_, s)| s.len() >= 2).collect();
    candidates.sort_by_key(|(tables, schemas)| std::cmp::Reverse((schemas.len(), tables.len())));
    let (tables, schemas) = match candidates[..] {
        [] => return None,
        [one] => one,
        [a, b, ..] if (a.1.len(), a.0.len()) == (b.1.len(), b.0.len()) => return None,
        [one, ..] => one,
    };
    Some((
        schemas.iter().map(|s| tenant(s)).collect(),
        format!(
            "tenant schemas discovered: {} schemas hold the same {} table(s); set tenant_schemas = \"…\" in orgexport.toml to choose",
            schemas.len(),
            tables.len()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::testing::Builder;

    fn apartment() -> Catalog {
        Builder::default()
            .table("public.accounts", &["id", "subdomain$"])
            .table("public.countries", &["id", "name$"])
            .table("acme.projects", &["id", "country_id"])
            .table("acme.tasks", &["id", "project_id!"])
            .table("globex.projects", &["id", "country_id"])
            .table("globex.tasks", &["id", "project_id!"])
            .table("audit.events", &["id"])
            .build()
    }

    #[test]
    fn schemas_with_the_same_tables_are_tenants_and_public_is_shared() {
        let found = find(&apartment(), &ScopeConfig::default())
            .unwrap()
            .unwrap();
        let schemas: Vec<&str> = found.tenants.iter().map(|t| t.schema.as_str()).collect();
        assert_eq!(schemas, ["acme", "globex"]);
        assert_eq!(found.current.schema, "acme");
        assert!(found.how.contains("2 schemas hold the same 2 table(s)"));
        assert_eq!(found.find("globex").unwrap().schema, "globex");
    }

    #[test]
    fn a_row_tenancy_configured_turns_discovery_off() {
        let config = ScopeConfig {
            tenant_columns: vec!["org_id".into()],
            ..ScopeConfig::default()
        };
        assert_eq!(find(&apartment(), &config).unwrap(), None);
    }

    #[test]
    fn the_glob_star_is_the_org_key_and_the_whole_name_also_matches() {
        let catalog = Builder::default()
            .table("public.customers", &["id", "schema_name$"])
            .table("tenant_acme.app_notes", &["id"])
            .table("tenant_globex.app_notes", &["id"])
            .build();
        let config = ScopeConfig {
            tenant_schemas: Some("tenant_*".into()),
            tenant_schema: Some("tenant_globex".into()),
            ..ScopeConfig::default()
        };
        let found = find(&catalog, &config).unwrap().unwrap();
        assert_eq!(found.current.key, "globex");
        assert_eq!(found.find("acme").unwrap().schema, "tenant_acme");
        assert_eq!(found.find("tenant_acme").unwrap().key, "acme");
        assert_eq!(found.find("public"), None);
    }

    #[test]
    fn schemas_and_rows_both_configured_is_a_usage_error() {
        let config = ScopeConfig {
            tenant_schemas: Some("*".into()),
            root_table: Some("public.accounts".into()),
            ..ScopeConfig::default()
        };
        let err = find(&apartment(), &config).unwrap_err().to_string();
        assert!(err.contains("are two tenancies: set one of them"), "{err}");
    }

    #[test]
    fn a_glob_matching_no_schema_is_a_usage_error() {
        let config = ScopeConfig {
            tenant_schemas: Some("tenant_*".into()),
            ..ScopeConfig::default()
        };
        let err = find(&apartment(), &config).unwrap_err().to_string();
        assert!(
            err.contains("tenant_schemas: \"tenant_*\" matches no schema"),
            "{err}"
        );
    }

    #[test]
    fn key_of_cuts_the_literal_parts() {
        assert_eq!(key_of("tenant_*", "tenant_acme"), "acme");
        assert_eq!(key_of("t_*_v2", "t_acme_v2"), "acme");
        assert_eq!(key_of("tenant_*", "tenant_"), "tenant_");
        assert_eq!(key_of("acme", "acme"), "acme");
    }
}
