//! How an archive is loaded into a target (DESIGN §9), as a pure value: what each section
//! stages and inserts, how its rows are proven to be the org's (root key, tenant columns,
//! ownership references into the archive), how shared rows are matched (by content, or by a
//! unique natural key), which keys get fresh values and which references follow them, which
//! references may point outside the archive, and the order the foreign keys allow (one
//! statement per strongly connected group of tables, so cycles load whole). Computed from the
//! manifest, the target's catalog and the target's scope before anything is written;
//! differences between the archive and the target are listed, not discovered halfway. The SQL
//! is `sql.rs`'s.

use std::collections::HashMap;

use crate::db::quote_qualified;
use crate::restore::links;
use crate::restore::manifest::{ArchivedManifest, ArchivedSection, Role, SectionRole};
use crate::restore::model::{LoadPlan, LoadSection, Options, Remap, Shared};
use crate::restore::target::TargetColumn;
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::model::{Role as ScopeRole, Scope};
use crate::scope::references::{Origin, Reference};

/// The references keys flow along in the target: every reference the scope knows (declared,
/// configured, polymorphic, inferred) and the tenant columns, which hold the root's key even
/// where no foreign key says so. The scope's own references keep their indices.
pub fn references_of(scope: &Scope) -> Vec<Reference> {
    let mut references = scope.references.clone();
    for section in &scope.sections {
        if let ScopeRole::Tenant {
            column,
            root_column,
        } = &section.role
            && !references
                .iter()
                .any(|r| r.table == section.table && r.columns == [column.clone()])
        {
            references.push(Reference {
                table: section.table,
                columns: vec![column.clone()],
                target: scope.root,
                target_columns: vec![root_column.clone()],
                when: None,
                target_when: None,
                origin: Origin::Configured,
            });
        }
    }
    references
}

const INTEGER_TYPES: &[&str] = &["smallint", "integer", "bigint"];

/// The target as the plan sees it.
pub struct TargetModel<'a> {
    pub catalog: &'a Catalog,
    pub scope: &'a Scope,
    pub columns: &'a HashMap<String, Vec<TargetColumn>>,
    /// Unique natural keys per table (`schema.table`), primary keys aside.
    pub natural_keys: &'a HashMap<String, Vec<Vec<String>>>,
}

/// Plans the load, or lists every difference between the archive and the target.
pub fn plan(
    manifest: &ArchivedManifest,
    roles: &[Option<SectionRole>],
    target: &TargetModel,
    options: &Options,
) -> Result<LoadPlan, Vec<String>> {
    let references = references_of(target.scope);
    let mut problems = Vec::new();
    let mut sections = Vec::new();
    for (index, (archived, role)) in manifest.sections.iter().zip(roles).enumerate() {
        let Some(role) = role else {
            problems.push(format!(
                "table {} does not exist in the target",
                archived.name
            ));
            continue;
        };
        let planned = plan_section(index, archived, role, target, &references, options);
        match planned {
            Ok(section) => sections.push(section),
            Err(mut found) => problems.append(&mut found),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let roles: Vec<&SectionRole> = roles.iter().flatten().collect();
    let section_of: HashMap<TableId, usize> = roles
        .iter()
        .enumerate()
        .map(|(i, r)| (r.table, i))
        .collect();
    let linked = links::Linked {
        catalog: target.catalog,
        columns: target.columns,
        section_of: &section_of,
        references: &references,
    };
    let followed = linked.follow(&sections);
    let owners = linked.owners(&sections, target.scope, &roles);
    let compare = linked.compared_columns(&sections);
    for (i, section) in sections.iter_mut().enumerate() {
        section.rewrites = followed.rewrites[i].clone();
        section.danglings = followed.danglings[i].clone();
        section.owners = owners[i].clone();
        if let Some(shared) = &mut section.shared {
            shared.compare = compare[i].clone();
        }
    }
    let tables: Vec<TableId> = roles.iter().map(|r| r.table).collect();
    let order = load_order(target.catalog, &tables, &section_of);
    Ok(LoadPlan {
        sections,
        order,
        direct: false,
        mirrors: Vec::new(),
    })
}

/// One section's load: its columns checked against the target's (every problem listed), the
/// key, whether it is remapped or matched, and what is filled.
fn plan_section(
    index: usize,
    archived: &ArchivedSection,
    role: &SectionRole,
    target: &TargetModel,
    references: &[Reference],
    options: &Options,
) -> Result<LoadSection, Vec<String>> {
    let table = target.catalog.table(role.table);
    let Some(target_columns) = target.columns.get(&archived.name) else {
        return Err(vec![format!(
            "table {} does not exist in the target",
            archived.name
        )]);
    };
    let column = |name: &str| target_columns.iter().find(|c| c.name == name);
    let fills = section_fills(options, &archived.name);
    let mut problems = Vec::new();
    column_problems(archived, target_columns, &fills, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    let inserted: Vec<String> = archived
        .columns
        .iter()
        .filter(|c| column(c).is_some_and(|c| !c.generated))
        .cloned()
        .collect();
    // Existing rows are recognised by the primary key, when the archive holds all of it.
    let key = if table.primary_key.iter().all(|k| inserted.contains(k)) {
        table.primary_key.clone()
    } else {
        Vec::new()
    };
    let fresh = match key.as_slice() {
        [k] => column(k).and_then(|c| remap_of(c, role.table, references)),
        _ => None,
    };
    let fresh = fresh.filter(|_| options.remap_keys);
    let (remap, shared) = match role.role {
        Role::Referenced => {
            let natural = natural_key(target, &archived.name, &inserted);
            (
                None,
                Some(Shared {
                    compare: Vec::new(),
                    natural,
                    fresh,
                }),
            )
        }
        _ => (fresh, None),
    };
    Ok(LoadSection {
        name: archived.name.clone(),
        role: role.role,
        table: quote_qualified(&table.schema, &table.name),
        read: table.from_clause(),
        stage: format!("orgexport_restore_{index}"),
        sequences: target_columns
            .iter()
            .filter(|c| inserted.contains(&c.name))
            .filter_map(|c| c.sequence.clone().map(|s| (c.name.clone(), s)))
            .collect(),
        key_type: match key.as_slice() {
            [k] => column(k).map(|c| c.type_name.clone()),
            _ => None,
        },
        columns: inserted,
        fills,
        root_key: (role.role == Role::Root).then(|| target.scope.root_key.clone()),
        tenant: role.tenant.clone(),
        key,
        owners: Vec::new(),
        remap,
        shared,
        rewrites: Vec::new(),
        danglings: Vec::new(),
    })
}

fn section_fills(options: &Options, table: &str) -> Vec<(String, String)> {
    options
        .fills
        .iter()
        .filter(|f| f.table == table)
        .map(|f| (f.column.clone(), f.sql.clone()))
        .collect()
}

/// The first unique natural key of a table whose columns the archive holds, if any.
fn natural_key(target: &TargetModel, table: &str, inserted: &[String]) -> Vec<String> {
    target
        .natural_keys
        .get(table)
        .and_then(|keys| keys.iter().find(|k| k.iter().all(|c| inserted.contains(c))))
        .cloned()
        .unwrap_or_default()
}

/// What the target cannot take of a section: archive columns it lacks, and NOT NULL columns
/// without a default that neither the archive nor a `--fill` supplies.
fn column_problems(
    archived: &ArchivedSection,
    target_columns: &[TargetColumn],
    fills: &[(String, String)],
    problems: &mut Vec<String>,
) {
    for name in &archived.columns {
        if !target_columns.iter().any(|c| c.name == *name) {
            problems.push(format!(
                "column {}.{name} does not exist in the target",
                archived.name
            ));
        }
    }
    for c in target_columns {
        if archived.columns.contains(&c.name)
            || c.may_be_omitted()
            || fills.iter().any(|(f, _)| *f == c.name)
        {
            continue;
        }
        let why = if archived.excluded_columns.contains(&c.name) {
            "was left out of the archive as a secret"
        } else {
            "is not in the archive"
        };
        problems.push(format!(
            "column {}.{} is NOT NULL without a default and {why}: supply its value with --fill {}.{}=SQL (or --fill-secrets=random)",
            archived.name, c.name, archived.name, c.name
        ));
    }
}

/// A single-column integer key fed by a sequence can get fresh values — unless the key is
/// itself a reference (its values are another table's keys).
fn remap_of(key: &TargetColumn, table: TableId, references: &[Reference]) -> Option<Remap> {
    let referencing = references
        .iter()
        .any(|r| r.table == table && r.columns.contains(&key.name));
    if !INTEGER_TYPES.contains(&key.type_name.as_str()) || referencing {
        return None;
    }
    key.sequence.clone().map(|sequence| Remap {
        column: key.name.clone(),
        type_name: key.type_name.clone(),
        sequence,
    })
}

/// Strongly connected groups of the restored tables over the target's foreign keys,
/// referenced groups first.
fn load_order(
    catalog: &Catalog,
    table_ids: &[TableId],
    section_of: &HashMap<TableId, usize>,
) -> Vec<Vec<usize>> {
    let mut edges = vec![Vec::new(); table_ids.len()];
    for fk in &catalog.foreign_keys {
        if let (Some(&from), Some(&to)) =
            (section_of.get(&fk.table), section_of.get(&fk.referenced))
            && from != to
        {
            edges[from].push(to);
        }
    }
    crate::graph::strongly_connected(&edges)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Fill;
    use crate::restore::manifest::roles;
    use crate::restore::sql::insert_group;
    use crate::scope::config::ScopeConfig;
    use crate::scope::rules::classify;
    use crate::scope::testing::Builder;
    use serde_json::json;

    /// orgs ← projects ← tasks (self reference parent_id), tasks → users (shared), users →
    /// orgs (default org, nullable), a cycle projects.lead_task_id → tasks, and users.email
    /// unique.
    fn fixture() -> (Catalog, Scope, HashMap<String, Vec<TargetColumn>>) {
        let catalog = Builder::default()
            .table("public.orgs", &["id!", "name"])
            .table(
                "public.users",
                &["id!", "email!", "default_org_id", "password!"],
            )
            .table("public.projects", &["id!", "org_id!", "lead_task_id"])
            .table(
                "public.tasks",
                &["id!", "project_id!", "parent_id", "assignee_id"],
            )
            .fk("public.users", &["default_org_id"], "public.orgs", &["id"])
            .fk("public.projects", &["org_id"], "public.orgs", &["id"])
            .fk(
                "public.projects",
                &["lead_task_id"],
                "public.tasks",
                &["id"],
            )
            .fk("public.tasks", &["project_id"], "public.projects", &["id"])
            .fk("public.tasks", &["parent_id"], "public.tasks", &["id"])
            .fk("public.tasks", &["assignee_id"], "public.users", &["id"])
            .build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        let mut columns = HashMap::new();
        for table in &catalog.tables {
            let cols = table
                .columns
                .iter()
                .map(|c| TargetColumn {
                    name: c.name.clone(),
                    type_name: "bigint".into(),
                    not_null: c.not_null,
                    has_default: c.name == "id",
                    generated: false,
                    identity: false,
                    sequence: (c.name == "id").then(|| format!("{}_id_seq", table.name)),
                })
                .collect();
            columns.insert(table.qualified_name(), cols);
        }
        (catalog, scope, columns)
    }

    fn manifest(without: &[&str]) -> ArchivedManifest {
        let section = |name: &str, columns: &[&str]| {
            let columns: Vec<_> = columns
                .iter()
                .filter(|c| !without.contains(&format!("{name}.{c}").as_str()))
                .map(|c| json!({"name": c}))
                .collect();
            json!({"name": format!("public.{name}"), "scope": "forged", "record_count": 0,
                   "columns": columns, "excluded_columns": ["password"]})
        };
        ArchivedManifest::parse(&json!({
            "format": "orgexport/1", "export_id": "x",
            "org": {"table": "public.orgs", "key": "1", "lookup": "acme"},
            "sections": [
                section("orgs", &["id", "name"]),
                section("projects", &["id", "org_id", "lead_task_id"]),
                section("tasks", &["id", "project_id", "parent_id", "assignee_id"]),
                section("users", &["id", "email", "default_org_id"]),
            ],
        }))
        .unwrap()
    }

    fn planned(
        manifest: &ArchivedManifest,
        remap_keys: bool,
        fills: &[Fill],
    ) -> Result<LoadPlan, Vec<String>> {
        let (catalog, scope, columns) = fixture();
        let roles = roles(manifest, &catalog, &scope).unwrap();
        let natural_keys =
            HashMap::from([("public.users".to_string(), vec![vec!["email".to_string()]])]);
        let target = TargetModel {
            catalog: &catalog,
            scope: &scope,
            columns: &columns,
            natural_keys: &natural_keys,
        };
        plan(manifest, &roles, &target, &Options { remap_keys, fills })
    }

    fn fill() -> Vec<Fill> {
        vec![Fill::parse("public.users.password=''").unwrap()]
    }

    #[test]
    fn a_not_null_secret_column_is_listed_with_the_fill_that_supplies_it() {
        let problems = planned(&manifest(&[]), false, &[]).unwrap_err();
        assert_eq!(
            problems,
            [
                "column public.users.password is NOT NULL without a default and was left out of the archive as a secret: supply its value with --fill public.users.password=SQL (or --fill-secrets=random)"
            ]
        );
        let plan = planned(&manifest(&[]), false, &fill()).unwrap();
        let users = &plan.sections[3];
        assert_eq!(users.fills, [("password".to_string(), "''".to_string())]);
        assert!(users.insert().contains("('')"));
    }

    #[test]
    fn missing_columns_are_all_listed() {
        let mut archive = manifest(&[]);
        archive.sections[1].columns.push("gone".into());
        archive.sections[2].columns.push("also_gone".into());
        let problems = planned(&archive, false, &fill()).unwrap_err();
        assert_eq!(
            problems,
            [
                "column public.projects.gone does not exist in the target",
                "column public.tasks.also_gone does not exist in the target",
            ]
        );
    }

    #[test]
    fn cycles_load_as_one_group_after_what_they_reference() {
        let plan = planned(&manifest(&[]), false, &fill()).unwrap();
        // orgs first, users (→ orgs) next, then the projects ⇄ tasks cycle in one statement.
        assert_eq!(plan.order, vec![vec![0], vec![3], vec![1, 2]]);
        let sql = insert_group(&plan, &[1, 2]);
        assert!(sql.starts_with("WITH i1 AS (INSERT INTO \"public\".\"projects\""));
        assert!(sql.ends_with("SELECT (SELECT count(*) FROM i1), (SELECT count(*) FROM i2)"));
        assert!(plan.sections.iter().all(|s| s.remap.is_none()));
    }

    #[test]
    fn roles_owners_and_shared_matching_come_from_the_target() {
        let plan = planned(&manifest(&[]), false, &fill()).unwrap();
        let roles: Vec<Role> = plan.sections.iter().map(|s| s.role).collect();
        assert_eq!(
            roles,
            [Role::Root, Role::Tenant, Role::Child, Role::Referenced]
        );
        assert_eq!(plan.sections[0].root_key.as_deref(), Some("id"));
        assert_eq!(
            plan.sections[1].tenant,
            Some(("org_id".to_string(), "id".to_string()))
        );
        let owners = &plan.sections[2].owners;
        assert_eq!(owners.len(), 1, "{owners:?}");
        assert_eq!(owners[0].columns, ["project_id"]);
        assert_eq!(owners[0].points.section, Some(1));
        let shared = plan.sections[3].shared.as_ref().unwrap();
        // default_org_id is relative to the org: not compared.
        assert_eq!(shared.compare, ["id", "email"]);
        assert_eq!(shared.natural, ["email"]);
        assert_eq!(shared.fresh, None, "fresh keys only with --remap-keys");
    }

    #[test]
    fn remapped_keys_are_followed_by_every_reference() {
        let plan = planned(&manifest(&[]), true, &fill()).unwrap();
        let remapped: Vec<bool> = plan.sections.iter().map(|s| s.remap.is_some()).collect();
        assert_eq!(remapped, [true, true, true, false]);
        assert!(plan.sections[3].shared.as_ref().unwrap().fresh.is_some());
        let rewritten = |i: usize| -> Vec<(String, usize)> {
            let mut found: Vec<(String, usize)> = plan.sections[i]
                .rewrites
                .iter()
                .map(|w| (w.column.clone(), w.map))
                .collect();
            found.sort();
            found
        };
        assert_eq!(
            rewritten(1),
            [("lead_task_id".to_string(), 2), ("org_id".to_string(), 0)]
        );
        assert_eq!(
            rewritten(2),
            [
                ("assignee_id".to_string(), 3),
                ("parent_id".to_string(), 2),
                ("project_id".to_string(), 1)
            ]
        );
        assert_eq!(rewritten(3), [("default_org_id".to_string(), 0)]);
    }

    #[test]
    fn every_reference_is_checked_and_only_declared_ones_may_be_cleared() {
        let plan = planned(&manifest(&[]), false, &fill()).unwrap();
        let users = &plan.sections[3].danglings;
        assert_eq!(users.len(), 1);
        assert_eq!(users[0].nullable, ["default_org_id"]);
        assert!(users[0].declared);
        let tasks: Vec<&Vec<String>> = plan.sections[2]
            .danglings
            .iter()
            .map(|d| &d.columns)
            .collect();
        assert_eq!(tasks.len(), 3, "{tasks:?}");
    }
}
