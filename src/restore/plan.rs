//! How an archive is loaded into a target (DESIGN §9), as a pure value with its SQL: what each
//! section stages and inserts, which keys are remapped and which references follow them,
//! which references point outside the archive, and the order the foreign keys allow (one
//! statement per strongly connected group of tables, so cycles load whole). Computed from the
//! manifest and the target's catalog before anything is written; differences between the two
//! are listed, not discovered halfway.

use std::collections::HashMap;

use crate::config::Fill;
use crate::db::{quote_ident, quote_literal, quote_qualified};
use crate::restore::manifest::{ArchivedManifest, Role};
use crate::restore::target::TargetColumn;
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::references::{Origin, Reference};
use crate::scope::rules::{Role as ScopeRole, Scope};

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
    for (index, archived) in manifest.sections.iter().enumerate() {
        let role = roles[index];
        let (Some(id), Some(target_columns)) =
            (catalog.find(&archived.name), columns.get(&archived.name))
        else {
            problems.push(format!(
                "table {} does not exist in the target",
                archived.name
            ));
            continue;
        };
        let table = catalog.table(id);
        let column = |name: &str| target_columns.iter().find(|c| c.name == name);
        for name in &archived.columns {
            if column(name).is_none() {
                problems.push(format!(
                    "column {}.{name} does not exist in the target",
                    archived.name
                ));
            }
        }
        let fills: Vec<(String, String)> = options
            .fills
            .iter()
            .filter(|f| f.table == archived.name)
            .map(|f| (f.column.clone(), f.sql.clone()))
            .collect();
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
            [k] if options.remap_keys && role.is_owned() => column(k).and_then(|c| {
                let referencing = references
                    .iter()
                    .any(|r| r.table == id && r.columns.contains(k));
                (INTEGER_TYPES.contains(&c.type_name.as_str()) && !referencing)
                    .then(|| {
                        c.sequence.clone().map(|sequence| Remap {
                            column: k.clone(),
                            type_name: c.type_name.clone(),
                            sequence,
                        })
                    })
                    .flatten()
            }),
            _ => None,
        };
        sections.push(LoadSection {
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
        });
        table_ids.push(id);
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
    // The key map a column's values follow: its own section's, or — through a reference —
    // the map of the column it points at, transitively (a composite key's tenant column).
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
            let clear = Clear {
                columns: r.columns.clone(),
                nullable,
                when: r.when.clone(),
                target: *to,
                target_columns: r.target_columns.clone(),
            };
            if !clears[*from].contains(&clear) {
                clears[*from].push(clear);
            }
        }
    }
    (rewrites, clears)
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
    struct Tarjan<'e> {
        edges: &'e [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        groups: Vec<Vec<usize>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: usize) {
            self.index[v] = Some(self.next);
            self.low[v] = self.next;
            self.next += 1;
            self.stack.push(v);
            self.on_stack[v] = true;
            for &w in &self.edges[v] {
                match self.index[w] {
                    None => {
                        self.visit(w);
                        self.low[v] = self.low[v].min(self.low[w]);
                    }
                    Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                    Some(_) => {}
                }
            }
            if Some(self.low[v]) == self.index[v] {
                let mut group = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack[w] = false;
                    group.push(w);
                    if w == v {
                        break;
                    }
                }
                group.sort_unstable();
                self.groups.push(group);
            }
        }
    }
    let mut tarjan = Tarjan {
        edges: &edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        groups: Vec::new(),
    };
    for v in 0..n {
        if tarjan.index[v].is_none() {
            tarjan.visit(v);
        }
    }
    tarjan.groups
}

fn idents(columns: &[String], alias: &str) -> String {
    columns
        .iter()
        .map(|c| {
            if alias.is_empty() {
                quote_ident(c)
            } else {
                format!("{alias}.{}", quote_ident(c))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn equal(columns: &[String], left: &str, right_columns: &[String], right: &str) -> String {
    columns
        .iter()
        .zip(right_columns)
        .map(|(l, r)| format!("{left}.{} = {right}.{}", quote_ident(l), quote_ident(r)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn when_sql(when: &Option<(String, String)>, alias: &str) -> String {
    match when {
        Some((column, value)) => format!(
            " AND {alias}.{} = {}",
            quote_ident(column),
            quote_literal(value)
        ),
        None => String::new(),
    }
}

/// The key map of a remapped section: old key → fresh key.
pub fn map_table(section: usize) -> String {
    format!("orgexport_map_{section}")
}

impl LoadSection {
    /// The staging table: the target's column types, no constraints, gone at the end.
    pub fn create_stage(&self) -> String {
        format!(
            "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA",
            self.stage,
            idents(&self.columns, ""),
            self.table
        )
    }

    /// One batch of rows (`$1`, a JSON array of the archive's row objects) into the stage,
    /// converted by PostgreSQL's own input functions for the target's column types.
    pub fn stage_batch(&self) -> String {
        format!(
            "INSERT INTO {} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{}, $1::text::json)",
            self.stage,
            self.table,
            cols = idents(&self.columns, "")
        )
    }

    /// Fresh keys from the target's sequence, handed out in the order of the old keys.
    pub fn create_map(&self, index: usize) -> Option<String> {
        let remap = self.remap.as_ref()?;
        let map = map_table(index);
        Some(format!(
            "CREATE TEMP TABLE {map} ON COMMIT DROP AS \
             SELECT old, nextval({})::{} AS new FROM (SELECT {} AS old FROM {} ORDER BY 1) o; \
             ALTER TABLE {map} ADD PRIMARY KEY (old); ANALYZE {map}",
            quote_literal(&remap.sequence),
            remap.type_name,
            quote_ident(&remap.column),
            self.stage
        ))
    }

    /// Rewrites the staged rows' remapped key and the columns that point at remapped keys.
    pub fn rewrite_statements(&self, index: usize) -> Vec<String> {
        let own = self.remap.as_ref().map(|remap| Rewrite {
            column: remap.column.clone(),
            when: None,
            map: index,
        });
        own.iter()
            .chain(&self.rewrites)
            .map(|w| {
                let column = quote_ident(&w.column);
                format!(
                    "UPDATE {} s SET {column} = m.new FROM {} m WHERE s.{column} = m.old{}",
                    self.stage,
                    map_table(w.map),
                    when_sql(&w.when, "s")
                )
            })
            .collect()
    }

    /// The staged rows whose reference `clear` points at no row of the archive.
    pub fn dangling(&self, clear: &Clear, target: &LoadSection) -> String {
        let not_null: Vec<String> = clear
            .columns
            .iter()
            .map(|c| format!("s.{} IS NOT NULL", quote_ident(c)))
            .collect();
        format!(
            "{}{} AND NOT EXISTS (SELECT 1 FROM {} t WHERE {})",
            not_null.join(" AND "),
            when_sql(&clear.when, "s"),
            target.stage,
            equal(&clear.target_columns, "t", &clear.columns, "s")
        )
    }

    pub fn count_dangling(&self, clear: &Clear, target: &LoadSection) -> String {
        format!(
            "SELECT count(*) FROM {} s WHERE {}",
            self.stage,
            self.dangling(clear, target)
        )
    }

    pub fn clear_dangling(&self, clear: &Clear, target: &LoadSection) -> String {
        let sets: Vec<String> = clear
            .nullable
            .iter()
            .map(|c| format!("{} = NULL", quote_ident(c)))
            .collect();
        format!(
            "UPDATE {} s SET {} WHERE {}",
            self.stage,
            sets.join(", "),
            self.dangling(clear, target)
        )
    }

    /// Staged rows whose key the target already holds: up to 5 keys and how many in all.
    pub fn conflicts(&self) -> Option<String> {
        if self.key.is_empty() {
            return None;
        }
        let key_text = self
            .key
            .iter()
            .map(|k| format!("s.{}::text", quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" || ', ' || ");
        Some(format!(
            "SELECT {key_text}, count(*) OVER () FROM {} s WHERE {} LIMIT 5",
            self.stage,
            self.exists_in_target()
        ))
    }

    fn exists_in_target(&self) -> String {
        format!(
            "EXISTS (SELECT 1 FROM {} t WHERE {})",
            self.read,
            equal(&self.key, "t", &self.key, "s")
        )
    }

    /// The insert of the staged rows; shared rows (`P`) already present are skipped.
    pub fn insert(&self) -> String {
        let mut columns = self.columns.clone();
        let mut values = vec![idents(&self.columns, "s")];
        for (column, sql) in &self.fills {
            columns.push(column.clone());
            values.push(format!("({sql})"));
        }
        let values: Vec<&String> = values.iter().filter(|v| !v.is_empty()).collect();
        let skip_present = if self.role == Role::Referenced && !self.key.is_empty() {
            format!(" WHERE NOT {}", self.exists_in_target())
        } else {
            String::new()
        };
        format!(
            "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {} s{skip_present}",
            self.table,
            idents(&columns, ""),
            values
                .iter()
                .map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            self.stage
        )
    }

    /// Moves each sequence past the largest value now in its column.
    pub fn advance_sequences(&self) -> Vec<String> {
        self.sequences
            .iter()
            .map(|(column, sequence)| {
                format!(
                    "SELECT setval({}, m) FROM (SELECT max({})::bigint AS m FROM {}) x \
                     WHERE m >= (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM {sequence})",
                    quote_literal(sequence),
                    quote_ident(column),
                    self.table
                )
            })
            .collect()
    }
}

/// One statement inserting a group of sections: a single insert, or writable CTEs whose
/// foreign-key checks all run at the end of the one statement (a cycle of NOT NULL,
/// non-deferrable references loads this way). Returns the rows inserted per section.
pub fn insert_group(plan: &LoadPlan, group: &[usize]) -> String {
    let ctes: Vec<String> = group
        .iter()
        .map(|&i| format!("i{i} AS ({} RETURNING 1)", plan.sections[i].insert()))
        .collect();
    let counts: Vec<String> = group
        .iter()
        .map(|&i| format!("(SELECT count(*) FROM i{i})"))
        .collect();
    format!("WITH {} SELECT {}", ctes.join(", "), counts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::manifest::{ArchivedSection, roles};
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
        let options = Options {
            remap_keys: false,
            fills: &[],
        };
        let problems = plan(&manifest, &roles(&manifest).unwrap(), &catalog, &columns, &references, &options).unwrap_err();
        assert_eq!(
            problems,
            [
                "column public.users.password is NOT NULL without a default and was left out of the archive as a secret: supply its value with --fill public.users.password=SQL"
            ]
        );
        let fills = [Fill::parse("public.users.password='!'").unwrap()];
        assert_eq!(fills[0].sql, "'!'");
        let options = Options {
            remap_keys: false,
            fills: &fills,
        };
        let plan = plan(&manifest, &roles(&manifest).unwrap(), &catalog, &columns, &references, &options).unwrap();
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
        let options = Options {
            remap_keys: false,
            fills: &[Fill::parse("public.users.password=''").unwrap()],
        };
        let problems = plan(&manifest, &roles(&manifest).unwrap(), &catalog, &columns, &references, &options).unwrap_err();
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
        let options = Options {
            remap_keys: false,
            fills: &fills,
        };
        let plan = plan(&manifest, &roles(&manifest).unwrap(), &catalog, &columns, &references, &options).unwrap();
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
        let options = Options {
            remap_keys: true,
            fills: &fills,
        };
        let plan = plan(&manifest, &roles(&manifest).unwrap(), &catalog, &columns, &references, &options).unwrap();
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
