//! Hand-built catalogs for unit tests: `table("public.tasks", &["id", "project_id!"])` — `!`
//! means NOT NULL, `$` a text column (`name$`) — and the small SaaS schema most classification
//! tests start from. Test code only; the real catalog is read by `catalog.rs`.

use crate::scope::catalog::{Catalog, Column, ForeignKey, RelKind, Table};
use crate::scope::model::{Role, Scope};

#[derive(Default)]
pub struct Builder(pub Catalog);

impl Builder {
    pub fn table(mut self, name: &str, columns: &[&str]) -> Self {
        self.0
            .tables
            .push(make_table(name, columns, RelKind::Table));
        self
    }
    pub fn view(mut self, name: &str) -> Self {
        self.0.tables.push(make_table(name, &["id"], RelKind::View));
        self
    }
    pub fn check(mut self, table: &str, definition: &str) -> Self {
        let id = self.0.find(table).unwrap();
        self.0.tables[id].checks.push(definition.to_string());
        self
    }
    pub fn fk(mut self, from: &str, columns: &[&str], to: &str, to_columns: &[&str]) -> Self {
        let table = self.0.find(from).unwrap();
        let referenced = self.0.find(to).unwrap();
        self.0.foreign_keys.push(ForeignKey {
            name: format!("{from}_fk"),
            table,
            columns: columns.iter().map(|s| s.to_string()).collect(),
            referenced,
            referenced_columns: to_columns.iter().map(|s| s.to_string()).collect(),
        });
        self
    }
    pub fn build(self) -> Catalog {
        self.0
    }
}

fn make_table(name: &str, columns: &[&str], kind: RelKind) -> Table {
    let (schema, name) = name.split_once('.').unwrap();
    Table {
        schema: schema.into(),
        name: name.into(),
        kind,
        columns: columns
            .iter()
            .map(|c| {
                let text = c.contains('$');
                Column {
                    name: c.trim_end_matches(['!', '$']).into(),
                    type_name: if text { "text" } else { "bigint" }.into(),
                    type_oid: if text { 25 } else { 20 },
                    not_null: c.ends_with('!'),
                    text_like: text,
                    json_like: false,
                    generated_from: Vec::new(),
                    dimensions: 0,
                }
            })
            .collect(),
        primary_key: vec!["id".into()],
        indexed_leading_columns: vec!["id".into(), "org_id".into()],
        estimated_rows: None,
        checks: Vec::new(),
        row_security_blocks: false,
    }
}

/// The role of the section of table `name`, if it is in scope.
pub fn role_of(catalog: &Catalog, scope: &Scope, name: &str) -> Option<Role> {
    let id = catalog.find(name).unwrap();
    scope.section_of(id).map(|s| s.role.clone())
}

/// A tenant table's role through `column`, holding the root's `id`.
pub fn tenant(column: &str) -> Option<Role> {
    Some(Role::Tenant {
        column: column.into(),
        root_column: "id".into(),
    })
}

/// Root `orgs`; tenant, child and referenced tables; a row two owners share (`task_labels`);
/// a nullable reference to the root (`audit`); a global table, a view and the tool's schema.
pub fn saas() -> Catalog {
    Builder::default()
        .table("public.orgs", &["id!", "slug$", "name$"])
        .table("public.users", &["id!", "default_org_id", "country"])
        .table("public.countries", &["id!"])
        .table("public.memberships", &["id!", "org_id!", "user_id!"])
        .table("public.projects", &["id!", "org_id!"])
        .table("public.tasks", &["id!", "project_id!", "assignee_id"])
        .table("public.comments", &["id!", "task_id!"])
        .table("public.labels", &["id!", "org_id!"])
        .table("public.task_labels", &["task_id!", "label_id!"])
        .table("public.audit", &["id!", "org_ref"])
        .table("public.global", &["id!"])
        .view("public.v")
        .table("orgexport.exports", &["id!"])
        .fk("public.users", &["default_org_id"], "public.orgs", &["id"])
        .fk("public.users", &["country"], "public.countries", &["id"])
        .fk("public.memberships", &["org_id"], "public.orgs", &["id"])
        .fk("public.memberships", &["user_id"], "public.users", &["id"])
        .fk("public.projects", &["org_id"], "public.orgs", &["id"])
        .fk("public.tasks", &["project_id"], "public.projects", &["id"])
        .fk("public.tasks", &["assignee_id"], "public.users", &["id"])
        .fk("public.comments", &["task_id"], "public.tasks", &["id"])
        .fk("public.labels", &["org_id"], "public.orgs", &["id"])
        .fk("public.task_labels", &["task_id"], "public.tasks", &["id"])
        .fk(
            "public.task_labels",
            &["label_id"],
            "public.labels",
            &["id"],
        )
        .fk("public.audit", &["org_ref"], "public.orgs", &["id"])
        .build()
}
