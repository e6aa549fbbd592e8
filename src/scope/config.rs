//! What the operator may say about scope (the TOML keys of [`ScopeConfig`]), its defaults, the
//! names looked for when nothing is said, and the check that every configured glob names
//! something of this database. How the configuration is *applied* is the business of
//! `tenancy.rs`, `ownership.rs` and `rules.rs`; how it is read from flags, environment and the
//! file is `crate::config`'s.

use crate::error::{Kind, fail};
use crate::scope::catalog::Catalog;
use crate::scope::narrow_spec::NarrowConfig;
use crate::scope::references::PolymorphicConfig;

/// Tenant column names looked for when none are configured (and their camelCase forms).
pub const TENANT_COLUMN_CANDIDATES: &[&str] = &[
    "org_id",
    "organization_id",
    "organisation_id",
    "tenant_id",
    "account_id",
    "workspace_id",
    "team_id",
];

/// Root columns `--org` is matched against after the key (those that exist).
pub const DEFAULT_LOOKUP_COLUMNS: &[&str] = &["slug", "path", "handle", "subdomain", "name"];

/// Scope configuration (the TOML keys of the same names).
#[derive(Debug, Clone)]
pub struct ScopeConfig {
    /// `schema.table` of the root table; discovered when `None`.
    pub root_table: Option<String>,
    /// Columns `--org` is matched against, in order; empty means key, `slug`, `path`, ….
    pub lookup_columns: Vec<String>,
    /// Tenant column names; empty means discover them among [`TENANT_COLUMN_CANDIDATES`].
    pub tenant_columns: Vec<String>,
    /// `schema.table.column` of nullable reference columns to treat as ownership.
    pub follow_nullable: Vec<String>,
    /// Undeclared references, `"schema.table.col -> schema.table.col"`.
    pub references: Vec<String>,
    pub polymorphic: Vec<PolymorphicConfig>,
    /// Adopt every `<name>_id` column whose name matches a table as a reference.
    pub infer_references: bool,
    /// Globs over `schema.table`.
    pub exclude_tables: Vec<String>,
    /// Globs over `schema.table.column`.
    pub exclude_columns: Vec<String>,
    /// Globs over `schema.table.column`; wins over every exclusion.
    pub allow_columns: Vec<String>,
    pub include_referenced: bool,
    /// Globs over `schema.table` (`--tables`): which sections are written. Scope still flows
    /// through every table.
    pub only_tables: Vec<String>,
    /// `--subject`, `--since`/`--until`, `--where`, `--columns` and their config keys
    /// (`run` and `plan` only).
    pub narrow: NarrowConfig,
    /// Schema-per-tenant: a glob over schema names (`tenant_*`); `None` discovers them when
    /// no row tenancy is configured (`schemas.rs`).
    pub tenant_schemas: Option<String>,
    /// Schema-per-tenant: the tenant schema to classify for (the org being exported or
    /// restored, `--target-schema`); `None`: the first tenant's. Not a config key.
    pub tenant_schema: Option<String>,
}

impl Default for ScopeConfig {
    fn default() -> Self {
        ScopeConfig {
            root_table: None,
            lookup_columns: Vec::new(),
            tenant_columns: Vec::new(),
            follow_nullable: Vec::new(),
            references: Vec::new(),
            polymorphic: Vec::new(),
            infer_references: false,
            exclude_tables: Vec::new(),
            exclude_columns: Vec::new(),
            allow_columns: Vec::new(),
            include_referenced: true,
            only_tables: Vec::new(),
            narrow: NarrowConfig::default(),
            tenant_schemas: None,
            tenant_schema: None,
        }
    }
}

pub(super) fn glob_matches(patterns: &[String], text: &str) -> bool {
    patterns.iter().any(|p| glob_match(p, text))
}

pub(super) fn glob_match(pattern: &str, text: &str) -> bool {
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches(text))
}

pub(super) fn usage(message: String) -> anyhow::Error {
    fail(Kind::Usage, message)
}

/// Every configured glob must parse and match something: a typo is a usage error, never a
/// silent no-match that exports less.
pub(super) fn validate_globs(catalog: &Catalog, config: &ScopeConfig) -> anyhow::Result<()> {
    let tables: Vec<String> = catalog
        .tables
        .iter()
        .filter(|t| t.kind.holds_data())
        .map(|t| t.qualified_name())
        .collect();
    let columns: Vec<String> = catalog
        .tables
        .iter()
        .filter(|t| t.kind.holds_data())
        .flat_map(|t| {
            t.columns
                .iter()
                .map(move |c| format!("{}.{}", t.qualified_name(), c.name))
        })
        .collect();
    for (key, patterns, names, what) in [
        ("exclude_tables", &config.exclude_tables, &tables, "table"),
        ("tables", &config.only_tables, &tables, "table"),
        (
            "exclude_columns",
            &config.exclude_columns,
            &columns,
            "column",
        ),
        ("allow_columns", &config.allow_columns, &columns, "column"),
    ] {
        for pattern in patterns {
            let parsed = glob::Pattern::new(pattern)
                .map_err(|e| usage(format!("{key}: invalid pattern {pattern:?}: {e}")))?;
            if !names.iter().any(|n| parsed.matches(n)) {
                let shape = if what == "table" {
                    "schema.table"
                } else {
                    "schema.table.column"
                };
                return Err(usage(format!(
                    "{key}: {pattern:?} matches no {what} of this database; write it as {shape} (globs allowed), see `orgexport plan`"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::rules::classify;
    use crate::scope::testing::saas;

    #[test]
    fn config_entries_that_name_nothing_are_usage_errors() {
        let catalog = saas();
        for config in [
            ScopeConfig {
                follow_nullable: vec!["public.audit.nope".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                exclude_tables: vec!["public.projetcs".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                only_tables: vec!["public.projetcs".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                only_tables: vec!["public.global".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                exclude_columns: vec!["public.users.nope*".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                lookup_columns: vec!["nope".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                references: vec!["public.audit.org_ref -> public.nope.id".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                tenant_columns: vec!["orgid".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                root_table: Some("public.org".into()),
                ..ScopeConfig::default()
            },
        ] {
            let err = classify(&catalog, &config).unwrap_err();
            assert_eq!(crate::error::kind_of(&err), Kind::Usage, "{err}");
        }
    }
}
