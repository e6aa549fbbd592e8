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

use crate::config::Fill;
use crate::db::quote_qualified;
use crate::restore::manifest::{ArchivedManifest, ArchivedSection, Role, SectionRole};
use crate::restore::target::TargetColumn;
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::model::{EdgeKind, Role as ScopeRole, Scope};
use crate::scope::references::{Origin, Reference};

pub struct Options<'a> {
    pub remap_keys: bool,
    /// Exact `--fill` entries (globs and `--fill-secrets` already expanded).
    pub fills: &'a [Fill],
}

/// An integer key whose fresh values come from the target's sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remap {
    pub column: String,
    pub type_name: String,
    pub sequence: String,
}

/// A column that holds keys of a section with a key map (`map`): rewritten through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub column: String,
    pub when: Option<(String, String)>,
    pub map: usize,
}

/// Where a reference points: a section of the archive (its staged rows) and/or the target's
/// table (its existing rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Points {
    pub section: Option<usize>,
    /// The referenced table as read (`ONLY "s"."t"`).
    pub table: String,
    pub columns: Vec<String>,
}

/// A reference whose values must point at a row of the archive or of the target. A value
/// pointing at neither is cleared when the reference is a declared foreign key (the insert
/// would fail otherwise) and its columns allow NULL; kept as it was and reported when the
/// reference exists only by configuration or inference (a restore is never stricter than the
/// target's own constraints); an error otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dangling {
    pub columns: Vec<String>,
    pub nullable: Vec<String>,
    pub when: Option<(String, String)>,
    pub points: Points,
    pub declared: bool,
}

/// An ownership reference of an owned row (DESIGN §2): the row belongs to the org when one
/// of them points at a row of the archive, and to another org when one points at a target
/// row the archive does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub columns: Vec<String>,
    pub when: Option<(String, String)>,
    pub points: Points,
}

/// How the shared rows of a `P` section meet the target's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shared {
    /// Columns whose values must be equal for a present row to match: all staged columns but
    /// those that reference the org's own rows (org-relative values).
    pub compare: Vec<String>,
    /// A unique natural key (an e-mail) held whole by the archive, if the target has one:
    /// the same natural key is the same entity.
    pub natural: Vec<String>,
    /// Where fresh keys come from for rows whose key the target holds with other content
    /// (`--remap-keys`).
    pub fresh: Option<Remap>,
}

#[derive(Debug, Clone)]
pub struct LoadSection {
    pub name: String,
    pub role: Role,
    /// `"schema"."table"`: where rows go.
    pub table: String,
    /// How the target's existing rows are read (`ONLY` for old-style inheritance parents).
    pub read: String,
    /// The session's temporary staging table.
    pub stage: String,
    /// The archive's columns that are inserted (generated ones are recomputed instead).
    pub columns: Vec<String>,
    /// Their types in the target, for the staging table's extra columns.
    pub key_type: Option<String>,
    /// `--fill` columns and their SQL.
    pub fills: Vec<(String, String)>,
    /// Primary key, when the archive holds all of it: how existing rows are recognised.
    pub key: Vec<String>,
    /// Root section: the key column the archive's org key must equal.
    pub root_key: Option<String>,
    /// Tenant sections: the tenant column and the root column its values must equal.
    pub tenant: Option<(String, String)>,
    pub owners: Vec<Owner>,
    /// Owned rows with `--remap-keys`: every key gets a fresh value.
    pub remap: Option<Remap>,
    /// `P` sections.
    pub shared: Option<Shared>,
    /// Columns fed by a sequence: the sequence is moved past the restored values.
    pub sequences: Vec<(String, String)>,
    pub rewrites: Vec<Rewrite>,
    pub danglings: Vec<Dangling>,
}

impl LoadSection {
    /// The column whose values a key map translates: the remapped key, or a shared section's
    /// single-column key (shared rows may be matched to, or re-keyed as, other target rows).
    pub fn map_column(&self) -> Option<&str> {
        match (&self.remap, &self.shared, self.key.as_slice()) {
            (Some(remap), _, _) => Some(&remap.column),
            (None, Some(_), [key]) => Some(key),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// In archive order.
    pub sections: Vec<LoadSection>,
    /// Groups of sections loaded by one statement each, referenced groups first.
    pub order: Vec<Vec<usize>>,
}

impl LoadPlan {
    pub fn root(&self) -> Option<usize> {
        self.sections.iter().position(|s| s.role == Role::Root)
    }
}

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
    let linked = Linked {
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
    Ok(LoadPlan { sections, order })
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
    let fills: Vec<(String, String)> = options
        .fills
        .iter()
        .filter(|f| f.table == archived.name)
        .map(|f| (f.column.clone(), f.sql.clone()))
        .collect();
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
    let key = if !table.primary_key.is_empty()
        && table.primary_key.iter().all(|k| inserted.contains(k))
    {
        table.primary_key.clone()
    } else {
        Vec::new()
    };
    let fresh = match key.as_slice() {
        [k] => column(k).and_then(|c| remap_of(c, role.table, references)),
        _ => None,
    };
    let (remap, shared) = match role.role {
        Role::Referenced => {
            let natural = target
                .natural_keys
                .get(&archived.name)
                .and_then(|keys| keys.iter().find(|k| k.iter().all(|c| inserted.contains(c))))
                .cloned()
                .unwrap_or_default();
            let fresh = fresh.filter(|_| options.remap_keys);
            let compare = Vec::new();
            (
                None,
                Some(Shared {
                    compare,
                    natural,
                    fresh,
                }),
            )
        }
        _ => (fresh.filter(|_| options.remap_keys), None),
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

/// The references among the restored sections, and what follows from them.
struct Linked<'a> {
    catalog: &'a Catalog,
    columns: &'a HashMap<String, Vec<TargetColumn>>,
    section_of: &'a HashMap<TableId, usize>,
    references: &'a [Reference],
}

struct Followed {
    rewrites: Vec<Vec<Rewrite>>,
    danglings: Vec<Vec<Dangling>>,
}

impl Linked<'_> {
    /// A reference from a restored section whose columns the archive holds, with the
    /// section it comes from.
    fn outgoing<'r>(
        &'r self,
        sections: &'r [LoadSection],
    ) -> impl Iterator<Item = (&'r Reference, usize)> + 'r {
        self.references.iter().filter_map(move |r| {
            let from = *self.section_of.get(&r.table)?;
            let source = &sections[from];
            let staged = r.columns.iter().all(|c| source.columns.contains(c))
                && r.when
                    .as_ref()
                    .is_none_or(|(type_column, _)| source.columns.contains(type_column));
            staged.then_some((r, from))
        })
    }

    /// Where a reference points; `None` for a restored section that lacks the columns.
    fn points(&self, r: &Reference, sections: &[LoadSection]) -> Option<Points> {
        let section = self.section_of.get(&r.target).copied();
        if let Some(to) = section
            && !r
                .target_columns
                .iter()
                .all(|c| sections[to].columns.contains(c))
        {
            return None;
        }
        Some(Points {
            section,
            table: self.catalog.table(r.target).from_clause(),
            columns: r.target_columns.clone(),
        })
    }

    /// For each section: the columns rewritten through a key map, and the references whose
    /// values must resolve.
    fn follow(&self, sections: &[LoadSection]) -> Followed {
        let restored: Vec<(&Reference, usize, usize)> = self
            .outgoing(sections)
            .filter_map(|(r, from)| Some((r, from, *self.section_of.get(&r.target)?)))
            .collect();
        let mut rewrites = vec![Vec::new(); sections.len()];
        let mut danglings = vec![Vec::new(); sections.len()];
        for (r, from) in self.outgoing(sections) {
            let Some(points) = self.points(r, sections) else {
                continue;
            };
            let source = &sections[from];
            if let Some(to) = points.section {
                for (column, target_column) in r.columns.iter().zip(&r.target_columns) {
                    if source.map_column() == Some(column.as_str()) {
                        continue;
                    }
                    let Some(map) = map_of(sections, &restored, to, target_column, 0) else {
                        continue;
                    };
                    let rewrite = Rewrite {
                        column: column.clone(),
                        when: r.when.clone(),
                        map,
                    };
                    if !rewrites[from]
                        .iter()
                        .any(|w: &Rewrite| w.column == rewrite.column && w.when == rewrite.when)
                    {
                        rewrites[from].push(rewrite);
                    }
                }
            }
            let dangling = Dangling {
                columns: r.columns.clone(),
                nullable: self.nullable(source, &r.columns),
                when: r.when.clone(),
                points,
                declared: r.origin == Origin::Declared,
            };
            if !danglings[from].contains(&dangling) {
                danglings[from].push(dangling);
            }
        }
        Followed {
            rewrites,
            danglings,
        }
    }

    fn nullable(&self, source: &LoadSection, columns: &[String]) -> Vec<String> {
        columns
            .iter()
            .filter(|c| {
                self.columns
                    .get(&source.name)
                    .and_then(|cs| cs.iter().find(|t| &t.name == *c))
                    .is_some_and(|t| !t.not_null)
            })
            .cloned()
            .collect()
    }

    /// For each owned section: its ownership references, from the target scope's edges.
    fn owners(
        &self,
        sections: &[LoadSection],
        scope: &Scope,
        roles: &[&SectionRole],
    ) -> Vec<Vec<Owner>> {
        roles
            .iter()
            .map(|role| {
                scope
                    .edges
                    .iter()
                    .filter(|e| e.kind == EdgeKind::Owns && e.target == role.table)
                    .filter_map(|e| {
                        let r = &self.references[e.reference];
                        Some(Owner {
                            columns: r.columns.clone(),
                            when: r.when.clone(),
                            points: self.points(r, sections)?,
                        })
                    })
                    .collect()
            })
            .collect()
    }

    /// For each shared section: the columns compared with a present row — all staged ones
    /// but those referencing the org's own rows, whose values are relative to the org.
    fn compared_columns(&self, sections: &[LoadSection]) -> Vec<Vec<String>> {
        sections
            .iter()
            .enumerate()
            .map(|(i, section)| {
                let org_relative: Vec<&String> = self
                    .outgoing(sections)
                    .filter(|(r, from)| {
                        *from == i
                            && self
                                .section_of
                                .get(&r.target)
                                .is_some_and(|&to| sections[to].role.is_owned())
                    })
                    .flat_map(|(r, _)| &r.columns)
                    .collect();
                section
                    .columns
                    .iter()
                    .filter(|c| !org_relative.contains(c))
                    .cloned()
                    .collect()
            })
            .collect()
    }
}

/// The key map a column's values follow: its own section's, or — through a reference —
/// the map of the column it points at, transitively (a composite key's tenant column).
fn map_of(
    sections: &[LoadSection],
    restored: &[(&Reference, usize, usize)],
    section: usize,
    column: &str,
    depth: usize,
) -> Option<usize> {
    if sections[section].map_column() == Some(column) {
        return Some(section);
    }
    if depth > sections.len() {
        return None;
    }
    restored
        .iter()
        .filter(|(r, from, _)| *from == section && r.when.is_none())
        .find_map(|(r, _, to)| {
            let k = r.columns.iter().position(|c| c == column)?;
            map_of(sections, restored, *to, &r.target_columns[k], depth + 1)
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
