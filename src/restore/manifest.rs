//! What each section of an archive is in the **target** (DESIGN §9): its role — root, tenant,
//! child or referenced — decided by running the scope rules on the target's catalog with the
//! same configuration, never by the manifest's own `scope` text, which an archive can forge.
//! A section the scope would not export (the tool's own schema, system schemas, excluded or
//! unrelated tables) is refused here, before anything is written. Pure.

pub use crate::export::manifest::{ArchivedManifest, ArchivedSection};
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::model::{Role as ScopeRole, Scope};

/// How a section's rows are loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Root,
    Tenant,
    Child,
    /// `P`: shared rows, matched by content when present, inserted when absent.
    Referenced,
    /// A table of the tenant's own schema (schema-per-tenant): every row is the org's.
    Schema,
}

impl Role {
    /// Rows of `R`, `T` and `C` belong to the org: they must be new to the target.
    pub fn is_owned(self) -> bool {
        self != Role::Referenced
    }
}

/// A section of the archive as the target's scope sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionRole {
    pub table: TableId,
    pub role: Role,
    /// Tenant sections: the tenant column and the root column it holds.
    pub tenant: Option<(String, String)>,
}

/// Each section's role in the target (`None`: the target lacks the table, which the plan
/// lists with the other differences), or every section the target's scope would not export.
/// The archive's org must be the target's root table, and its root section must be there.
pub fn roles(
    manifest: &ArchivedManifest,
    catalog: &Catalog,
    scope: &Scope,
) -> Result<Vec<Option<SectionRole>>, Vec<String>> {
    let mut problems = Vec::new();
    if let Some(tenancy) = &scope.schemas {
        let expected = crate::org::schema_org_table(&tenancy.current.schema);
        if manifest.org_table != expected {
            problems.push(format!(
                "the archive is of {}, but the target is restored as {expected} ({}); pass --target-schema to restore into another tenant schema",
                manifest.org_table, tenancy.how
            ));
        }
    }
    let root = catalog.table(scope.root).qualified_name();
    if scope.schemas.is_none() && manifest.org_table != root {
        problems.push(format!(
            "the archive is of an org of {}, but the target's root table is {root} (set root_table in the config if that is wrong)",
            manifest.org_table
        ));
    }
    let mut roles = Vec::new();
    for section in &manifest.sections {
        match role_of(section, catalog, scope) {
            Ok(role) => roles.push(role),
            Err(problem) => problems.push(problem),
        }
    }
    let has_root = roles.iter().flatten().any(|r| r.role == Role::Root);
    if problems.is_empty() && !has_root && !roles.contains(&None) && scope.schemas.is_none() {
        problems.push(format!(
            "the archive holds no section of the root table {root}"
        ));
    }
    if problems.is_empty() {
        Ok(roles)
    } else {
        Err(problems)
    }
}

fn role_of(
    section: &ArchivedSection,
    catalog: &Catalog,
    scope: &Scope,
) -> Result<Option<SectionRole>, String> {
    let Some(table) = catalog.find(&section.name) else {
        return Ok(None);
    };
    let Some(scoped) = scope.section_of(table) else {
        let why = scope
            .skipped
            .iter()
            .find(|s| s.table == table)
            .map_or("it is outside every org's scope", |s| s.reason.as_str());
        return Err(format!(
            "section {} is not something orgexport exports from the target ({why}); an archive holding it was not made by orgexport, or for another schema",
            section.name
        ));
    };
    let (role, tenant) = match &scoped.role {
        ScopeRole::Root => (Role::Root, None),
        ScopeRole::Tenant {
            column,
            root_column,
        } => (Role::Tenant, Some((column.clone(), root_column.clone()))),
        ScopeRole::Child => (Role::Child, None),
        ScopeRole::Referenced => (Role::Referenced, None),
        ScopeRole::Schema => (Role::Schema, None),
    };
    Ok(Some(SectionRole {
        table,
        role,
        tenant,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::config::ScopeConfig;
    use crate::scope::rules::classify;
    use crate::scope::testing::saas;
    use serde_json::json;

    fn manifest(sections: &[(&str, &str)]) -> ArchivedManifest {
        let sections: Vec<_> = sections
            .iter()
            .map(|(name, scope)| json!({"name": name, "scope": scope, "record_count": 0}))
            .collect();
        ArchivedManifest::parse(&json!({
            "format": "orgexport/1", "export_id": "x",
            "org": {"table": "public.orgs", "key": "1", "lookup": "acme"},
            "sections": sections,
        }))
        .unwrap()
    }

    #[test]
    fn roles_come_from_the_target_scope_not_the_scope_text() {
        let catalog = saas();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        // The text claims the root is shared: the target's scope says otherwise.
        let forged = manifest(&[("public.orgs", "referenced via nothing")]);
        let roles = roles(&forged, &catalog, &scope).unwrap();
        assert_eq!(roles[0].as_ref().unwrap().role, Role::Root);
    }

    #[test]
    fn sections_outside_the_scope_and_foreign_roots_are_refused() {
        let catalog = saas();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        let tool = manifest(&[("public.orgs", ""), ("orgexport.exports", "")]);
        let problems = roles(&tool, &catalog, &scope).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with(
                "section orgexport.exports is not something orgexport exports from the target (the tool's own schema)"
            ),
            "{problems:?}"
        );
        let no_root = manifest(&[]);
        assert_eq!(
            roles(&no_root, &catalog, &scope).unwrap_err(),
            ["the archive holds no section of the root table public.orgs"]
        );
    }
}
