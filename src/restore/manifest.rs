//! What `restore` needs from an archive's manifest (DESIGN §4): the org, and each section's
//! name, role, columns and counts. Read from the JSON the archive opens with; pure.

use serde_json::Value;

use crate::export::archive::FORMAT;

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

#[derive(Debug, Clone)]
pub struct ArchivedSection {
    /// `schema.table`, unquoted.
    pub name: String,
    pub role: Role,
    pub columns: Vec<String>,
    /// Secret and configured exclusions: never in the archive.
    pub excluded_columns: Vec<String>,
    pub record_count: u64,
    pub capped: bool,
}

#[derive(Debug, Clone)]
pub struct ArchivedManifest {
    pub export_id: String,
    pub org_table: String,
    pub org_key: String,
    pub org_lookup: String,
    pub sections: Vec<ArchivedSection>,
}

impl ArchivedManifest {
    pub fn parse(manifest: &Value) -> Result<ArchivedManifest, String> {
        if manifest["format"] != FORMAT {
            return Err(format!(
                "unknown archive format {}; this orgexport restores {FORMAT}",
                manifest["format"]
            ));
        }
        let text = |value: &Value, what: &str| {
            value
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("the manifest has no {what}"))
        };
        let sections = manifest["sections"]
            .as_array()
            .ok_or("the manifest has no sections list")?
            .iter()
            .map(|s| {
                let name = text(&s["name"], "section name")?;
                let scope = s["scope"].as_str().unwrap_or_default();
                let role = Role::of_scope(scope)
                    .ok_or_else(|| format!("section {name}: unknown scope {scope:?}"))?;
                let names = |key: &str| -> Vec<String> {
                    s[key]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|c| c["name"].as_str().or(c.as_str()))
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default()
                };
                Ok(ArchivedSection {
                    columns: names("columns"),
                    excluded_columns: names("excluded_columns"),
                    record_count: s["record_count"]
                        .as_u64()
                        .ok_or_else(|| format!("section {name} has no record_count"))?,
                    capped: s["capped"].as_bool().unwrap_or(false),
                    name,
                    role,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(ArchivedManifest {
            export_id: text(&manifest["export_id"], "export_id")?,
            org_table: text(&manifest["org"]["table"], "org table")?,
            org_key: text(&manifest["org"]["key"], "org key")?,
            org_lookup: text(&manifest["org"]["lookup"], "org lookup")?,
            sections,
        })
    }

    pub fn record_count(&self) -> u64 {
        self.sections.iter().map(|s| s.record_count).sum()
    }
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
                {"name": "public.orgs", "scope": "root row (id = org key)", "record_count": 1,
                 "columns": [{"name": "id", "type": "bigint"}], "excluded_columns": []},
                {"name": "public.users", "scope": "referenced via public.x(u) -> public.users(id)",
                 "record_count": 2, "capped": true, "columns": [], "excluded_columns": ["password"]}
            ]
        });
        let parsed = ArchivedManifest::parse(&manifest).unwrap();
        assert_eq!(parsed.sections[0].role, Role::Root);
        assert_eq!(parsed.sections[0].columns, ["id"]);
        assert_eq!(parsed.sections[1].role, Role::Referenced);
        assert!(parsed.sections[1].capped);
        assert_eq!(parsed.sections[1].excluded_columns, ["password"]);
        let mut other = manifest.clone();
        other["format"] = json!("orgexport/9");
        assert!(
            ArchivedManifest::parse(&other)
                .unwrap_err()
                .contains("unknown archive format")
        );
    }
}
