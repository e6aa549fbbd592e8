//! `restore --target-schema NEW` (schema-per-tenant): the archive of tenant schema `acme`
//! read as if it were of `NEW` — the manifest's org and every section of the tenant's schema
//! renamed, and so every batch of rows — before the plan sees it, so the target's scope,
//! classified for `NEW`, decides every role as for any restore. Shared sections (`public.…`)
//! keep their names. What is renamed is only names: the rows are untouched, and the archive's
//! integrity is checked by the reader on the names it was written with.

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::org::schema_org_table;
use crate::restore::load::Event;

/// The events of `events`, renamed into `target` when the archive is a schema tenant's.
pub fn into_schema(mut events: mpsc::Receiver<Event>, target: String) -> mpsc::Receiver<Event> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut from: Option<String> = None;
        while let Some(mut event) = events.recv().await {
            match &mut event {
                Event::Manifest(manifest) => from = rename_manifest(manifest, &target),
                Event::Rows { section, .. } => {
                    if let Some(from) = &from {
                        *section = renamed(section, from, &target);
                    }
                }
                Event::Done(_) => {}
            }
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    rx
}

/// Renames the manifest's org and the tenant's sections; returns the archive's tenant
/// schema, or `None` (nothing renamed) when the archive is not a schema tenant's — the plan
/// then says why it cannot be restored.
fn rename_manifest(manifest: &mut Value, target: &str) -> Option<String> {
    let from = manifest["org"]["table"]
        .as_str()?
        .strip_prefix("schema ")?
        .to_string();
    manifest["org"]["table"] = json!(schema_org_table(target));
    for section in manifest["sections"].as_array_mut()? {
        if let Some(name) = section["name"].as_str() {
            section["name"] = json!(renamed(name, &from, target));
        }
    }
    Some(from)
}

/// `acme.tasks` → `NEW.tasks`; names of other schemas as they are. A section name is
/// `schema.table` unquoted, and a schema name may itself hold a dot: the prefix is compared
/// whole.
fn renamed(section: &str, from: &str, to: &str) -> String {
    match section.strip_prefix(from).and_then(|t| t.strip_prefix('.')) {
        Some(table) => format!("{to}.{table}"),
        None => section.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_tenants_sections_and_org_are_renamed() {
        let mut manifest = json!({
            "org": {"table": "schema tenant_acme", "key": "acme"},
            "sections": [{"name": "tenant_acme.notes"}, {"name": "public.users"},
                         {"name": "tenant_acme_old.notes"}],
        });
        let from = rename_manifest(&mut manifest, "tenant_new");
        assert_eq!(from.as_deref(), Some("tenant_acme"));
        assert_eq!(manifest["org"]["table"], "schema tenant_new");
        let names: Vec<&str> = manifest["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["tenant_new.notes", "public.users", "tenant_acme_old.notes"]
        );
    }

    #[test]
    fn a_row_tenants_archive_is_left_as_it_is() {
        let mut manifest = json!({"org": {"table": "public.orgs"}, "sections": []});
        assert_eq!(rename_manifest(&mut manifest, "x"), None);
        assert_eq!(manifest["org"]["table"], "public.orgs");
    }
}
