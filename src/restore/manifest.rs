//! What a section's scope text means to `restore` (DESIGN §9): its role — root, tenant,
//! child or referenced — which decides how its rows are loaded. Pure; the manifest itself is
//! parsed by `export::manifest`.

pub use crate::export::manifest::{ArchivedManifest, ArchivedSection};

/// How a section's rows were scoped: decides how they are loaded (DESIGN §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Root,
    Tenant,
    Child,
    /// `P`: shared rows, matched when present, inserted when absent.
    Referenced,
}

impl Role {
    /// From the manifest's `scope` text, which `Scope::describe` writes.
    fn of_scope(scope: &str) -> Option<Role> {
        [
            ("root row", Role::Root),
            ("tenant column", Role::Tenant),
            ("owned via", Role::Child),
            ("referenced via", Role::Referenced),
        ]
        .into_iter()
        .find(|(prefix, _)| scope.starts_with(prefix))
        .map(|(_, role)| role)
    }

    /// Rows of `R`, `T` and `C` belong to the org: they must be new to the target.
    pub fn is_owned(self) -> bool {
        self != Role::Referenced
    }
}

/// Each section's role, from its scope text.
pub fn roles(manifest: &ArchivedManifest) -> Result<Vec<Role>, String> {
    manifest
        .sections
        .iter()
        .map(|s| {
            Role::of_scope(&s.scope)
                .ok_or_else(|| format!("section {}: unknown scope {:?}", s.name, s.scope))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_come_from_the_scope_text() {
        let manifest = json!({
            "format": "orgexport/1", "export_id": "x",
            "org": {"table": "public.orgs", "key": "1", "lookup": "acme"},
            "sections": [
                {"name": "public.orgs", "scope": "root row (id = org key)", "record_count": 1},
                {"name": "public.users", "scope": "referenced via public.x(u) -> public.users(id)",
                 "record_count": 2},
                {"name": "public.x", "scope": "something else", "record_count": 2}
            ]
        });
        let mut parsed = ArchivedManifest::parse(&manifest).unwrap();
        assert_eq!(
            roles(&parsed).unwrap_err(),
            "section public.x: unknown scope \"something else\""
        );
        parsed.sections.pop();
        assert_eq!(roles(&parsed).unwrap(), [Role::Root, Role::Referenced]);
    }
}
