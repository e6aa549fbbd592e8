//! The archive's manifest as read back (DESIGN §4): the format name, the org, and each
//! section's name, scope text, columns, exclusions and counts — parsed once from the JSON an
//! archive opens with, for `verify` and `restore`. Pure; writing the manifest is
//! `archive.rs`'s, and what a section's scope text means to a restore is `restore`'s.

use serde_json::Value;

/// The archive format this tool writes and reads.
pub const FORMAT: &str = "orgexport/1";

#[derive(Debug, Clone)]
pub struct ArchivedSection {
    /// `schema.table`, unquoted.
    pub name: String,
    /// How the export scoped the section, in words (`Scope::describe`).
    pub scope: String,
    pub columns: Vec<String>,
    /// The primary key's columns; empty when the archive does not record one.
    pub primary_key: Vec<String>,
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
    /// The export was narrowed (`selection`: a subject, a window, row filters or column
    /// choices): its org rows may already be in a restore's target.
    pub narrowed: bool,
    /// The polymorphic pairs the export's scope followed; `None` in archives that predate
    /// the record (a restore then adopts every class name a pair could hold).
    pub polymorphic: Option<Vec<crate::scope::references::PolymorphicConfig>>,
}

impl ArchivedManifest {
    pub fn parse(manifest: &Value) -> Result<ArchivedManifest, String> {
        if manifest["format"] != FORMAT {
            return Err(format!(
                "unknown archive format {}; this orgexport reads {FORMAT}",
                manifest["format"]
            ));
        }
        let sections = manifest["sections"]
            .as_array()
            .ok_or("the manifest has no sections list")?
            .iter()
            .map(ArchivedSection::parse)
            .collect::<Result<Vec<_>, String>>()?;
        for (i, section) in sections.iter().enumerate() {
            if sections[..i].iter().any(|s| s.name == section.name) {
                return Err(format!("the manifest lists section {} twice", section.name));
            }
        }
        Ok(ArchivedManifest {
            export_id: text(&manifest["export_id"], "export_id")?,
            org_table: text(&manifest["org"]["table"], "org table")?,
            org_key: text(&manifest["org"]["key"], "org key")?,
            org_lookup: text(&manifest["org"]["lookup"], "org lookup")?,
            sections,
            narrowed: manifest.get("selection").is_some_and(|s| !s.is_null()),
            polymorphic: match manifest.get("polymorphic") {
                None | Some(Value::Null) => None,
                Some(pairs) => Some(
                    serde_json::from_value(pairs.clone())
                        .map_err(|e| format!("the manifest's polymorphic list: {e}"))?,
                ),
            },
        })
    }

    pub fn record_count(&self) -> u64 {
        self.sections.iter().map(|s| s.record_count).sum()
    }
}

impl ArchivedSection {
    fn parse(s: &Value) -> Result<ArchivedSection, String> {
        let name = text(&s["name"], "section name")?;
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
            scope: s["scope"].as_str().unwrap_or_default().to_string(),
            columns: names("columns"),
            primary_key: names("primary_key"),
            excluded_columns: names("excluded_columns"),
            record_count: s["record_count"]
                .as_u64()
                .ok_or_else(|| format!("section {name} has no record_count"))?,
            capped: s["capped"].as_bool().unwrap_or(false),
            name,
        })
    }
}

fn text(value: &Value, what: &str) -> Result<String, String> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("the manifest has no {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sections_columns_and_caps_are_read() {
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
        assert_eq!(parsed.sections[0].columns, ["id"]);
        assert_eq!(parsed.sections[0].scope, "root row (id = org key)");
        assert!(parsed.sections[1].capped);
        assert_eq!(parsed.sections[1].excluded_columns, ["password"]);
        assert_eq!(parsed.record_count(), 3);
        let mut other = manifest.clone();
        other["format"] = json!("orgexport/9");
        assert!(
            ArchivedManifest::parse(&other)
                .unwrap_err()
                .contains("unknown archive format")
        );
        let mut twice = manifest.clone();
        twice["sections"][1]["name"] = json!("public.orgs");
        assert_eq!(
            ArchivedManifest::parse(&twice).unwrap_err(),
            "the manifest lists section public.orgs twice"
        );
        let mut uncounted = manifest.clone();
        uncounted["sections"][1]["record_count"] = json!(null);
        assert_eq!(
            ArchivedManifest::parse(&uncounted).unwrap_err(),
            "section public.users has no record_count"
        );
    }
}
