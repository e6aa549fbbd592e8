//! How an archive is loaded into a target (DESIGN §9), as a pure value with its SQL: what each
//! section stages and inserts, which keys are remapped and which references follow them,
//! which references point outside the archive, and the order the foreign keys allow (one
//! statement per strongly connected group of tables, so cycles load whole). Computed from the
//! manifest and the target's catalog before anything is written; differences between the two
//! are listed, not discovered halfway.

use std::collections::HashMap;

use crate::config::Fill;
use crate::db::quote_qualified;
use crate::restore::manifest::{ArchivedManifest, ArchivedSection, Role};
use crate::restore::target::TargetColumn;
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::model::{Role as ScopeRole, Scope};
use crate::scope::references::{Origin, Reference};

pub struct Options<'a> {
    pub remap_keys: bool,
    pub fills: &'a [Fill],
}

/// An integer key that gets fresh values from the target's sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remap {
    pub column: String,
    pub type_name: String,
    pub sequence: String,
}

/// A column that holds keys of a remapped section (`map`): rewritten through its key map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    pub column: String,
    pub when: Option<(String, String)>,
    pub map: usize,
}

/// A reference into an org-owned section (`target`): its values must be rows of the archive.
/// Those that are not (a shared user's default org that is another org) are cleared when the
/// columns allow it, and are an error otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clear {
    pub columns: Vec<String>,
    pub nullable: Vec<String>,
    pub when: Option<(String, String)>,
    pub target: usize,
    pub target_columns: Vec<String>,
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
    /// `--fill` columns and their SQL.
    pub fills: Vec<(String, String)>,
    /// Primary key, when the archive holds all of it: how existing rows are recognised.
    pub key: Vec<String>,
    pub remap: Option<Remap>,
    /// Columns fed by a sequence: the sequence is moved past the restored values.
    pub sequences: Vec<(String, String)>,
    pub rewrites: Vec<Rewrite>,
    pub clears: Vec<Clear>,
}

#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// In archive order.
    pub sections: Vec<LoadSection>,
    /// Groups of sections loaded by one statement each, referenced groups first.
    pub order: Vec<Vec<usize>>,
}

/// The references keys flow along in the target: every reference the scope knows (declared,
/// configured, polymorphic, inferred) and the tenant columns, which hold the root's key even
/// where no foreign key says so.
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

/// `--fill` entries must name a column of a restored table that the archive does not hold.
pub fn check_fills(
    manifest: &ArchivedManifest,
    columns: &HashMap<String, Vec<TargetColumn>>,
    fills: &[Fill],
) -> Result<(), String> {
    for fill in fills {
        let named = format!("{}.{}", fill.table, fill.column);
        let Some(section) = manifest.sections.iter().find(|s| s.name == fill.table) else {
            return Err(format!(
                "--fill {named}: {} is not a section of the archive",
                fill.table
            ));
        };
        if section.columns.contains(&fill.column) {
            return Err(format!(
                "--fill {named}: the archive holds this column; --fill is for columns it lacks (secrets)"
            ));
        }
        let exists = columns
            .get(&fill.table)
            .is_some_and(|cs| cs.iter().any(|c| c.name == fill.column && !c.generated));
        if !exists {
            return Err(format!(
                "--fill {named}: the target has no such column (or it is generated)"
            ));
        }
    }
    Ok(())
}

const INTEGER_TYPES: &[&str] = &["smallint", "integer", "bigint"];

/// Plans the load, or lists every difference between the archive and the target.
pub fn plan(
    manifest: &ArchivedManifest,
    roles: &[Role],
    catalog: &Catalog,
    columns: &HashMap<String, Vec<TargetColumn>>,
    references: &[Reference],
    options: &Options,
) -> Result<LoadPlan, Vec<String>> {
    let mut problems = Vec::new();
    let mut sections = Vec::new();
    let mut table_ids = Vec::new();
    for (index, (archived, role)) in manifest.sections.iter().zip(roles).enumerate() {
        let planned = plan_section(
            index,
            archived,
            *role,
            catalog,
            columns,
            references,
            options,
            &mut problems,
        );
        if let Some((section, id)) = planned {
            sections.push(section);
            table_ids.push(id);
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let section_of: HashMap<TableId, usize> = table_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (*id, i))
        .collect();
    let (rewrites, clears) = follow_references(&sections, &section_of, references, columns);
    for (section, (rewrites, clears)) in sections.iter_mut().zip(rewrites.into_iter().zip(clears)) {
        section.rewrites = rewrites;
        section.clears = clears;
    }
    let order = load_order(catalog, &table_ids, &section_of);
    Ok(LoadPlan { sections, order })
}

/// One section's load: its columns checked against the target's (every problem listed), the
/// key, whether it is remapped, and what is filled. `None` when the table is missing.
#[allow(clippy::too_many_arguments)]
fn plan_section(
    index: usize,
    archived: &ArchivedSection,
    role: Role,
    catalog: &Catalog,
    columns: &HashMap<String, Vec<TargetColumn>>,
    references: &[Reference],
    options: &Options,
    problems: &mut Vec<String>,
) -> Option<(LoadSection, TableId)> {
    let (Some(id), Some(target_columns)) =
        (catalog.find(&archived.name), columns.get(&archived.name))
    else {
        problems.push(format!(
            "table {} does not exist in the target",
            archived.name
        ));
        return None;
    };
    let table = catalog.table(id);
    let column = |name: &str| target_columns.iter().find(|c| c.name == name);
    let fills: Vec<(String, String)> = options
        .fills
        .iter()
        .filter(|f| f.table == archived.name)
        .map(|f| (f.column.clone(), f.sql.clone()))
        .collect();
    column_problems(archived, target_columns, &fills, problems);
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
    let remap = match key.as_slice() {
        [k] if options.remap_keys && role.is_owned() => {
            column(k).and_then(|c| remap_of(c, id, references))
        }
        _ => None,
    };
    let section = LoadSection {
        name: archived.name.clone(),
        role,
        table: quote_qualified(&table.schema, &table.name),
        read: table.from_clause(),
        stage: format!("orgexport_restore_{index}"),
        sequences: target_columns
            .iter()
            .filter(|c| inserted.contains(&c.name))
            .filter_map(|c| c.sequence.clone().map(|s| (c.name.clone(), s)))
            .collect(),
        columns: inserted,
        fills,
        key,
        remap,
        rewrites: Vec::new(),
        clears: Vec::new(),
    };
    Some((section, id))
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
            "column {}.{} is NOT NULL without a default and {why}: supply its value with --fill {}.{}=SQL",
            archived.name, c.name, archived.name, c.name
        ));
    }
}

/// A single-column integer key fed by a sequence gets fresh values — unless the key is itself
/// a reference (its values are another table's keys).
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

type Followed = (Vec<Vec<Rewrite>>, Vec<Vec<Clear>>);

/// For each section: the columns rewritten through a key map, and the references into
/// org-owned sections whose values must be in the archive.
fn follow_references(
    sections: &[LoadSection],
    section_of: &HashMap<TableId, usize>,
    references: &[Reference],
    columns: &HashMap<String, Vec<TargetColumn>>,
) -> Followed {
    let restored: Vec<(&Reference, usize, usize)> = references
        .iter()
        .filter_map(|r| Some((r, *section_of.get(&r.table)?, *section_of.get(&r.target)?)))
        .collect();
    let mut rewrites = vec![Vec::new(); sections.len()];
    let mut clears = vec![Vec::new(); sections.len()];
    for (r, from, to) in &restored {
        let source = &sections[*from];
        let staged = |cs: &[String], s: &LoadSection| cs.iter().all(|c| s.columns.contains(c));
        if !staged(&r.columns, source) || !staged(&r.target_columns, &sections[*to]) {
            continue;
        }
        if let Some((type_column, _)) = &r.when
            && !source.columns.contains(type_column)
        {
            continue;
        }
        for (column, target_column) in r.columns.iter().zip(&r.target_columns) {
            if source.remap.as_ref().is_some_and(|m| &m.column == column) {
                continue;
            }
            let Some(map) = map_of(sections, &restored, *to, target_column, 0) else {
                continue;
            };
            let rewrite = Rewrite {
                column: column.clone(),
                when: r.when.clone(),
                map,
            };
            let list: &mut Vec<Rewrite> = &mut rewrites[*from];
            if !list
                .iter()
                .any(|w| w.column == rewrite.column && w.when == rewrite.when)
            {
                list.push(rewrite);
            }
        }
        if sections[*to].role.is_owned() && !(from == to && source.role == Role::Root) {
            let clear = clear_of(r, source, *to, columns);
            if !clears[*from].contains(&clear) {
                clears[*from].push(clear);
            }
        }
    }
    (rewrites, clears)
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
    if sections[section]
        .remap
        .as_ref()
        .is_some_and(|r| r.column == column)
    {
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

/// A reference into an org-owned section: which of its columns may be cleared when a value
/// points outside the archive.
fn clear_of(
    r: &Reference,
    source: &LoadSection,
    target: usize,
    columns: &HashMap<String, Vec<TargetColumn>>,
) -> Clear {
    let nullable = r
        .columns
        .iter()
        .filter(|c| {
            columns
                .get(&source.name)
                .and_then(|cs| cs.iter().find(|t| &t.name == *c))
                .is_some_and(|t| !t.not_null)
        })
        .cloned()
        .collect();
    Clear {
        columns: r.columns.clone(),
        nullable,
        when: r.when.clone(),
        target,
        target_columns: r.target_columns.clone(),
    }
}

/// Strongly connected groups of the restored tables over the target's foreign keys,
/// referenced groups first (Tarjan's algorithm emits a group after every group it reaches).
fn load_order(
    catalog: &Catalog,
    table_ids: &[TableId],
    section_of: &HashMap<TableId, usize>,
) -> Vec<Vec<usize>> {
    let n = table_ids.len();
    let mut edges = vec![Vec::new(); n];
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
    use crate::restore::manifest::{ArchivedSection, roles};
    use crate::restore::sql::insert_group;
    use crate::scope::catalog::{Column, ForeignKey, RelKind, Table};

    fn table(name: &str, columns: &[&str]) -> Table {
        Table {
            schema: "public".into(),
            name: name.into(),
            kind: RelKind::Table,
            columns: columns
                .iter()
                .map(|c| Column {
                    name: c.to_string(),
                    type_name: "bigint".into(),
                    type_oid: 20,
                    not_null: false,
                    text_like: false,
                    json_like: false,
                    generated_from: Vec::new(),
                })
                .collect(),
            primary_key: vec!["id".into()],
            indexed_leading_columns: vec![],
            estimated_rows: None,
            checks: vec![],
            row_security_blocks: false,
        }
    }

    fn column(name: &str, not_null: bool, sequence: Option<&str>) -> TargetColumn {
        TargetColumn {
            name: name.into(),
            type_name: "bigint".into(),
            not_null,
            has_default: sequence.is_some(),
            generated: false,
            identity: false,
            sequence: sequence.map(str::to_string),
        }
    }

    fn section(name: &str, role: Role, columns: &[&str]) -> ArchivedSection {
        let scope = match role {
            Role::Root => "root row",
            Role::Tenant => "tenant column org_id",
            Role::Child => "owned via",
            Role::Referenced => "referenced via",
        };
        ArchivedSection {
            name: format!("public.{name}"),
            scope: scope.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            excluded_columns: vec![],
            record_count: 0,
            capped: false,
        }
    }

    /// orgs ← projects ← tasks (self reference parent_id), tasks → users (shared), users →
    /// orgs (default org, nullable), and a cycle projects.lead_task_id → tasks.
    fn fixture() -> (
        ArchivedManifest,
        Catalog,
        HashMap<String, Vec<TargetColumn>>,
        Vec<Reference>,
    ) {
        let catalog = Catalog {
            tables: vec![
                table("orgs", &["id"]),
                table("projects", &["id", "org_id", "lead_task_id"]),
                table("tasks", &["id", "project_id", "parent_id", "user_id"]),
                table("users", &["id", "default_org_id", "password"]),
            ],
            foreign_keys: vec![
                fk(1, "org_id", 0),
                fk(2, "project_id", 1),
                fk(2, "parent_id", 2),
                fk(2, "user_id", 3),
                fk(3, "default_org_id", 0),
                fk(1, "lead_task_id", 2),
            ],
        };
        let references = crate::scope::references::declared(&catalog);
        let seq = |t: &str| Some(format!("{t}_id_seq"));
        let mut columns = HashMap::new();
        columns.insert(
            "public.orgs".to_string(),
            vec![column("id", true, seq("orgs").as_deref())],
        );
        columns.insert(
            "public.projects".to_string(),
            vec![
                column("id", true, seq("projects").as_deref()),
                column("org_id", true, None),
                column("lead_task_id", false, None),
            ],
        );
        columns.insert(
            "public.tasks".to_string(),
            vec![
                column("id", true, seq("tasks").as_deref()),
                column("project_id", true, None),
                column("parent_id", false, None),
                column("user_id", false, None),
            ],
        );
        columns.insert(
            "public.users".to_string(),
            vec![
                column("id", true, seq("users").as_deref()),
                column("default_org_id", false, None),
                column("password", true, None),
            ],
        );
        let mut users = section("users", Role::Referenced, &["id", "default_org_id"]);
        users.excluded_columns = vec!["password".into()];
        let manifest = ArchivedManifest {
            export_id: "x".into(),
            org_table: "public.orgs".into(),
            org_key: "1".into(),
            org_lookup: "acme".into(),
            sections: vec![
                section("orgs", Role::Root, &["id"]),
                section("projects", Role::Tenant, &["id", "org_id", "lead_task_id"]),
                section(
                    "tasks",
                    Role::Child,
                    &["id", "project_id", "parent_id", "user_id"],
                ),
                users,
            ],
        };
        (manifest, catalog, columns, references)
    }

    fn planned(
        manifest: &ArchivedManifest,
        catalog: &Catalog,
        columns: &HashMap<String, Vec<TargetColumn>>,
        references: &[Reference],
        remap_keys: bool,
        fills: &[Fill],
    ) -> Result<LoadPlan, Vec<String>> {
        let options = Options { remap_keys, fills };
        let roles = roles(manifest).unwrap();
        plan(manifest, &roles, catalog, columns, references, &options)
    }

    fn fk(table: usize, column: &str, referenced: usize) -> ForeignKey {
        ForeignKey {
            name: format!("fk_{column}"),
            table,
            columns: vec![column.into()],
            referenced,
            referenced_columns: vec!["id".into()],
        }
    }

    #[test]
    fn a_not_null_secret_column_is_listed_with_the_fill_that_supplies_it() {
        let (manifest, catalog, columns, references) = fixture();
        let problems = planned(&manifest, &catalog, &columns, &references, false, &[]).unwrap_err();
        assert_eq!(
            problems,
            [
                "column public.users.password is NOT NULL without a default and was left out of the archive as a secret: supply its value with --fill public.users.password=SQL"
            ]
        );
        let fills = [Fill::parse("public.users.password='!'").unwrap()];
        assert_eq!(fills[0].sql, "'!'");
        let plan = planned(&manifest, &catalog, &columns, &references, false, &fills).unwrap();
        assert!(
            plan.sections[3]
                .insert()
                .contains("(\"id\", \"default_org_id\", \"password\") OVERRIDING SYSTEM VALUE SELECT s.\"id\", s.\"default_org_id\", ('!')")
        );
        assert!(check_fills(&manifest, &columns, &fills).is_ok());
        let wrong = [Fill::parse("public.users.id=1").unwrap()];
        assert!(check_fills(&manifest, &columns, &wrong).is_err());
        assert!(Fill::parse("password='x'").is_err());
    }

    #[test]
    fn missing_tables_and_columns_are_all_listed() {
        let (mut manifest, catalog, columns, references) = fixture();
        manifest.sections[1].columns.push("color".into());
        manifest
            .sections
            .push(section("gone", Role::Child, &["id"]));
        let problems = planned(
            &manifest,
            &catalog,
            &columns,
            &references,
            false,
            &[Fill::parse("public.users.password=''").unwrap()],
        )
        .unwrap_err();
        assert_eq!(
            problems,
            [
                "column public.projects.color does not exist in the target",
                "table public.gone does not exist in the target"
            ]
        );
    }

    #[test]
    fn cycles_load_as_one_group_after_what_they_reference() {
        let (manifest, catalog, columns, references) = fixture();
        let fills = [Fill::parse("public.users.password=''").unwrap()];
        let plan = planned(&manifest, &catalog, &columns, &references, false, &fills).unwrap();
        // orgs first, users (→ orgs) next, then the projects ⇄ tasks cycle in one statement.
        assert_eq!(plan.order, vec![vec![0], vec![3], vec![1, 2]]);
        let sql = insert_group(&plan, &[1, 2]);
        assert!(sql.starts_with("WITH i1 AS (INSERT INTO \"public\".\"projects\""));
        assert!(sql.ends_with("SELECT (SELECT count(*) FROM i1), (SELECT count(*) FROM i2)"));
        // Shared rows already present are skipped, owned rows are not.
        assert!(plan.sections[3].insert().contains("WHERE NOT EXISTS"));
        assert!(!plan.sections[1].insert().contains("WHERE NOT EXISTS"));
        assert!(plan.sections.iter().all(|s| s.remap.is_none()));
    }

    #[test]
    fn remapped_keys_are_followed_by_every_reference_and_shared_rows_keep_theirs() {
        let (manifest, catalog, columns, references) = fixture();
        let fills = [Fill::parse("public.users.password=''").unwrap()];
        let plan = planned(&manifest, &catalog, &columns, &references, true, &fills).unwrap();
        let remapped: Vec<bool> = plan.sections.iter().map(|s| s.remap.is_some()).collect();
        assert_eq!(remapped, [true, true, true, false]);
        let rewritten = |i: usize| -> Vec<(String, usize)> {
            plan.sections[i]
                .rewrites
                .iter()
                .map(|w| (w.column.clone(), w.map))
                .collect()
        };
        assert_eq!(
            rewritten(1),
            [("org_id".to_string(), 0), ("lead_task_id".to_string(), 2)]
        );
        assert_eq!(
            rewritten(2),
            [("project_id".to_string(), 1), ("parent_id".to_string(), 2)]
        );
        // The shared user's default org follows the org's new key when it is this org.
        assert_eq!(rewritten(3), [("default_org_id".to_string(), 0)]);
        let statements = plan.sections[2].rewrite_statements(2);
        assert_eq!(
            statements[0],
            "UPDATE orgexport_restore_2 s SET \"id\" = m.new FROM orgexport_map_2 m WHERE s.\"id\" = m.old"
        );
        assert!(
            plan.sections[0]
                .create_map(0)
                .unwrap()
                .contains("nextval('orgs_id_seq')::bigint")
        );
        // A shared user's default org that is not in the archive is cleared, not kept.
        let clear = &plan.sections[3].clears[0];
        assert_eq!(
            (clear.target, clear.nullable.clone()),
            (0, vec!["default_org_id".to_string()])
        );
        assert_eq!(
            plan.sections[3].clear_dangling(clear, &plan.sections[0]),
            "UPDATE orgexport_restore_3 s SET \"default_org_id\" = NULL WHERE s.\"default_org_id\" IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orgexport_restore_0 t WHERE t.\"id\" = s.\"default_org_id\")"
        );
    }
}
