//! The data subject of a per-person export (`--subject TABLE=KEY`, `--subject-email ADDR`,
//! config `subject_table` / `subject_email_column`): which table and which of its columns
//! name the person, resolved against the catalog and the scope. Pure; finding the person's
//! row among the org's is `export::narrowing`'s, and which rows come with it `narrowing.rs`'s.

use crate::error::{Kind, fail};
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::model::{Scope, toml_string};
pub use crate::scope::narrow_spec::SubjectSpec;

/// E-mail column names looked for when `subject_email_column` does not name one.
pub const EMAIL_COLUMN_CANDIDATES: &[&str] =
    &["email", "email_address", "emailAddress", "mail", "e_mail"];

/// The subject's table as the export sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectTable {
    pub table: TableId,
    /// The single-column primary key the subject is named by.
    pub key_column: String,
    /// For `--subject-email`: the column the address is looked up in.
    pub email_column: Option<String>,
}

/// Resolves the table: `--subject`'s, else `subject_table`, else the one section with an
/// e-mail column (preferring one called `users`). It must be a section with a one-column
/// primary key.
pub fn subject_table(
    catalog: &Catalog,
    scope: &Scope,
    spec: &SubjectSpec,
    configured_table: Option<&str>,
    configured_email: Option<&str>,
) -> anyhow::Result<SubjectTable> {
    let named = match spec {
        SubjectSpec::Key { table, .. } => Some(table.as_str()),
        SubjectSpec::Email(_) => configured_table,
    };
    let table = match named {
        Some(name) => catalog
            .find(name)
            .filter(|&t| scope.section_of(t).is_some())
            .ok_or_else(|| {
                fail(
                    Kind::Usage,
                    format!("the subject table {name} is not a section of this org's export (see `orgexport plan`)"),
                )
            })?,
        None => discover(catalog, scope)?,
    };
    let t = catalog.table(table);
    let [key_column] = t.primary_key.as_slice() else {
        return Err(fail(
            Kind::Usage,
            format!(
                "the subject table {} has no single-column primary key to name a person by",
                t.qualified_name()
            ),
        ));
    };
    let email_column = match spec {
        SubjectSpec::Key { .. } => None,
        SubjectSpec::Email(_) => Some(email_column(catalog, table, configured_email)?),
    };
    Ok(SubjectTable {
        table,
        key_column: key_column.clone(),
        email_column,
    })
}

fn email_column(
    catalog: &Catalog,
    table: TableId,
    configured: Option<&str>,
) -> anyhow::Result<String> {
    let t = catalog.table(table);
    let found = match configured {
        Some(name) => t.column(name).map(|c| c.name.clone()),
        None => EMAIL_COLUMN_CANDIDATES
            .iter()
            .filter_map(|name| t.column(name))
            .find(|c| c.text_like)
            .map(|c| c.name.clone()),
    };
    found.ok_or_else(|| {
        fail(
            Kind::Usage,
            format!(
                "{} has no e-mail column{}; set subject_email_column = \"…\" in orgexport.toml",
                t.qualified_name(),
                configured.map(|c| format!(" {c}")).unwrap_or_default()
            ),
        )
    })
}

/// The one section with an e-mail column (several: the one named `users`/`User`).
fn discover(catalog: &Catalog, scope: &Scope) -> anyhow::Result<TableId> {
    let candidates: Vec<TableId> = scope
        .sections
        .iter()
        .map(|s| s.table)
        .filter(|&t| email_column(catalog, t, None).is_ok())
        .collect();
    let users: Vec<TableId> = candidates
        .iter()
        .copied()
        .filter(|&t| {
            matches!(
                catalog.table(t).name.to_lowercase().as_str(),
                "users" | "user"
            )
        })
        .collect();
    match (candidates.as_slice(), users.as_slice()) {
        ([one], _) | (_, [one]) => Ok(*one),
        _ => Err(fail(
            Kind::Usage,
            format!(
                "cannot tell which table holds the people ({}); set subject_table = {} in orgexport.toml",
                if candidates.is_empty() {
                    "no section has an e-mail column".to_string()
                } else {
                    candidates
                        .iter()
                        .map(|&t| catalog.table(t).qualified_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                toml_string("public.users")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_table_equals_key() {
        assert_eq!(
            SubjectSpec::parse_key("users=42").unwrap(),
            SubjectSpec::Key {
                table: "public.users".into(),
                key: "42".into()
            }
        );
        assert_eq!(
            SubjectSpec::parse_key("app.people=a=b").unwrap(),
            SubjectSpec::Key {
                table: "app.people".into(),
                key: "a=b".into()
            }
        );
        assert!(SubjectSpec::parse_key("42").is_err());
        assert!(SubjectSpec::parse_key("users=").is_err());
    }
}
