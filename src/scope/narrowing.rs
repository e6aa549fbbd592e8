//! Narrowing an org's export to one person (`--subject`) or a date window (`--since`,
//! `--until`): which of the org's in-scope rows are written, as one recursive query per
//! export that every section's query filters by. Never more than the org's scope: every row
//! the selection takes is checked to be an in-scope row of the org (the org planner's own
//! query for its table), so a narrowing can only narrow.
//!
//! The selection, as a least fixpoint over the sections' references:
//! - seeds: the org's root row; with `--subject`, the person's row and every in-scope row
//!   that references it by any reference the scope knows (declared, configured, polymorphic,
//!   inferred) — but not other rows of the person's own table, which are other people; with a
//!   window and no subject, every in-scope row in the window (tables without a time column
//!   whole);
//! - down (subject only): rows owned, by the ownership rule, by a subject row (a comment's
//!   attachments), transitively, in the window when there is one;
//! - up: rows an exported row references (its task, its project, the users it names), so the
//!   archive stays referentially complete, whatever their time.
//!
//! Rows of the recursive CTE are `(phase, tag, k)`: `d` (subject rows) or `e` (completeness),
//! the table's position among the sections, and the row's identity and join columns as
//! text — a fixed width whatever the catalog's size; each join casts back to the column's
//! type, so lookups use the target's indexes. `--where`/`--columns` are `filters.rs`'s (they
//! narrow the scope itself); finding the subject's key among the org's rows is
//! `export::narrowing`'s.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::db::{quote_ident, quote_literal};
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::model::{EdgeKind, Role, Scope};
pub use crate::scope::narrow_spec::NarrowConfig;
use crate::scope::plan::{OrgKey, Planner, without_typmod};
use crate::scope::references::Reference;
use crate::scope::subject::{SubjectTable, subject_table};
use crate::scope::window::{Window, time_columns};

/// A subject or window resolved against the catalog and the scope.
#[derive(Debug, Clone)]
pub struct Narrowing {
    pub subject: Option<SubjectTable>,
    pub window: Option<Window>,
    /// The time column of each section that has one (window only).
    pub time_columns: Vec<(TableId, String)>,
}

/// A step's marker: its target row is in scope by the scope's own rule (no `in<i>` check).
const IN_SCOPE_BY_EDGE: &str = "-- in scope by its edge";

/// The subject's row, found among the org's: its key as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectKey(pub String);

impl Narrowing {
    /// `None` when neither a subject nor a window is asked for.
    pub fn new(
        catalog: &Catalog,
        scope: &Scope,
        config: &NarrowConfig,
    ) -> anyhow::Result<Option<Narrowing>> {
        if config.subject.is_none() && config.window.is_none() {
            return Ok(None);
        }
        let subject = config
            .subject
            .as_ref()
            .map(|spec| {
                subject_table(
                    catalog,
                    scope,
                    spec,
                    config.subject_table.as_deref(),
                    config.subject_email_column.as_deref(),
                )
            })
            .transpose()?;
        let tables: Vec<TableId> = scope.sections.iter().map(|s| s.table).collect();
        let time_columns = match config.window {
            Some(_) => time_columns(catalog, &tables, &config.time_columns)?,
            None => Vec::new(),
        };
        Ok(Some(Narrowing {
            subject,
            window: config.window,
            time_columns,
        }))
    }

    fn time_column(&self, table: TableId) -> Option<&str> {
        self.time_columns
            .iter()
            .find(|(t, _)| *t == table)
            .map(|(_, c)| c.as_str())
    }

    /// The subject's key as a typed literal of its key column.
    pub fn subject_literal(&self, catalog: &Catalog, key: &SubjectKey) -> Option<String> {
        let subject = self.subject.as_ref()?;
        let column = catalog.table(subject.table).column(&subject.key_column)?;
        Some(format!(
            "{}::{}",
            quote_literal(&key.0),
            without_typmod(&column.type_name)
        ))
    }

    /// For each section: the condition (on its row `t`) that it is among the selected rows.
    pub fn selection(
        &self,
        catalog: &Catalog,
        scope: &Scope,
        planner: &Planner<'_>,
        org: &OrgKey,
        subject: Option<&SubjectKey>,
    ) -> Vec<(TableId, String)> {
        let query = Selection::new(self, catalog, scope, planner, org, subject);
        let with = query.with_clause();
        scope
            .sections
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let layout = &query.slots[i];
                let identity = layout.identity;
                let cols: Vec<String> = layout.columns[..identity]
                    .iter()
                    .map(|c| format!("t.{}", column_sql(c)))
                    .collect();
                let casts: Vec<String> = (0..identity)
                    .map(|j| query.cast(i, j, &layout.columns[j]))
                    .collect();
                (
                    s.table,
                    format!(
                        "({}) IN ({with} SELECT {} FROM sel x WHERE x.tag = {i})",
                        cols.join(", "),
                        casts.join(", ")
                    ),
                )
            })
            .collect()
    }

    /// Why each section holds the rows it holds, for the manifest and `plan`.
    pub fn rules(&self, catalog: &Catalog, scope: &Scope) -> BTreeMap<String, String> {
        let referenced: Vec<TableId> = section_references(scope).map(|r| r.target).collect();
        let direct = self
            .subject
            .as_ref()
            .map(|s| direct_references(scope, s.table));
        let owned = direct.as_ref().map(|d| {
            owned_tables(
                scope,
                d.iter()
                    .map(|r| r.table)
                    .chain(self.subject.iter().map(|s| s.table)),
            )
        });
        let mut rules = BTreeMap::new();
        for section in &scope.sections {
            let t = section.table;
            let mut why: Vec<String> = Vec::new();
            if section.role == Role::Root {
                why.push("the org's row".into());
            }
            match (&self.subject, &direct, &owned) {
                (Some(subject), Some(direct), Some(owned)) => {
                    if t == subject.table {
                        why.push("the subject's row".into());
                    }
                    for r in direct.iter().filter(|r| r.table == t) {
                        why.push(format!("references the subject: {}", r.describe(catalog)));
                    }
                    if owned.contains(&t) {
                        why.push("owned by the subject's rows".into());
                    }
                }
                _ if section.role == Role::Referenced => {}
                _ => why.push(match self.time_column(t) {
                    Some(column) => format!("window on {column}"),
                    None => "whole: no time column".into(),
                }),
            }
            if referenced.contains(&t) {
                why.push("rows the exported rows reference (completeness)".into());
            }
            if why.is_empty() {
                why.push("none: nothing selected reaches this table".into());
            }
            rules.insert(catalog.table(t).qualified_name(), why.join("; "));
        }
        rules
    }
}

/// The manifest's `selection` object: the subject, the window, the filters, the column
/// choices and each section's rule.
pub fn manifest_selection(
    catalog: &Catalog,
    scope: &Scope,
    config: &NarrowConfig,
    narrowing: Option<&Narrowing>,
    subject: Option<&SubjectKey>,
) -> Option<Value> {
    if !config.any() {
        return None;
    }
    let mut out = json!({});
    if let (Some(n), Some(key)) = (narrowing, subject)
        && let Some(s) = &n.subject
    {
        out["subject"] = json!({
            "table": catalog.table(s.table).qualified_name(),
            "key_column": s.key_column,
            "key": key.0,
        });
    }
    if let Some(n) = narrowing {
        if let Some(w) = &n.window {
            let mut window = w.to_json();
            window["time_columns"] = n
                .time_columns
                .iter()
                .map(|(t, c)| (catalog.table(*t).qualified_name(), json!(c)))
                .collect::<serde_json::Map<_, _>>()
                .into();
            out["window"] = window;
        }
        out["rules"] = json!(n.rules(catalog, scope));
    }
    if !config.filters.is_empty() {
        out["where"] = json!(
            config
                .filters
                .iter()
                .map(|f| json!({"table": f.table, "predicate": f.predicate}))
                .collect::<Vec<_>>()
        );
    }
    if !config.columns.is_empty() {
        out["columns"] = json!(
            config
                .columns
                .iter()
                .map(|c| json!({"table": c.table, "columns": c.columns}))
                .collect::<Vec<_>>()
        );
    }
    Some(out)
}

/// References whose both ends are sections.
fn section_references(scope: &Scope) -> impl Iterator<Item = &Reference> {
    scope
        .references
        .iter()
        .filter(|r| scope.section_of(r.table).is_some() && scope.section_of(r.target).is_some())
}

/// References into the subject's table from the org's own rows (not shared rows, not other
/// rows of the subject's table: those are other people).
fn direct_references(scope: &Scope, subject: TableId) -> Vec<&Reference> {
    section_references(scope)
        .filter(|r| {
            r.target == subject
                && r.table != subject
                && scope.role_of(r.table) != Some(&Role::Referenced)
        })
        .collect()
}

/// Tables reachable by ownership edges from `from`.
fn owned_tables(scope: &Scope, from: impl Iterator<Item = TableId>) -> Vec<TableId> {
    let mut seen: Vec<TableId> = from.collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < seen.len() {
        let owner = seen[i];
        for e in scope
            .edges
            .iter()
            .filter(|e| e.kind == EdgeKind::Owns && e.source == owner)
        {
            if !seen.contains(&e.target) {
                seen.push(e.target);
                out.push(e.target);
            }
        }
        i += 1;
    }
    out
}

/// System columns are written bare, user columns quoted.
fn column_sql(column: &str) -> String {
    match column {
        "tableoid" | "ctid" => column.to_string(),
        _ => quote_ident(column),
    }
}

/// A section's slots in `k`: its identity columns first, then the columns its references
/// and ownership edges join on.
struct Slots {
    columns: Vec<String>,
    identity: usize,
}

/// The recursive query, for one org (and subject).
struct Selection<'a> {
    narrowing: &'a Narrowing,
    catalog: &'a Catalog,
    scope: &'a Scope,
    planner: &'a Planner<'a>,
    org: &'a OrgKey,
    subject: Option<String>,
    slots: Vec<Slots>,
}

impl<'a> Selection<'a> {
    fn new(
        narrowing: &'a Narrowing,
        catalog: &'a Catalog,
        scope: &'a Scope,
        planner: &'a Planner<'a>,
        org: &'a OrgKey,
        subject: Option<&SubjectKey>,
    ) -> Selection<'a> {
        let slots = scope
            .sections
            .iter()
            .map(|s| {
                let t = catalog.table(s.table);
                let mut columns = if t.primary_key.is_empty() {
                    vec!["tableoid".to_string(), "ctid".to_string()]
                } else {
                    t.primary_key.clone()
                };
                let identity = columns.len();
                let mut add = |c: &String| {
                    if !columns.contains(c) {
                        columns.push(c.clone());
                    }
                };
                for r in section_references(scope) {
                    if r.table == s.table {
                        r.columns.iter().for_each(&mut add);
                        r.when.iter().for_each(|(c, _)| add(c));
                    }
                }
                for e in scope
                    .edges
                    .iter()
                    .filter(|e| e.kind == EdgeKind::Owns && e.source == s.table)
                {
                    let r = &scope.references[e.reference];
                    r.target_columns.iter().for_each(&mut add);
                    r.target_when.iter().for_each(|(c, _)| add(c));
                }
                Slots { columns, identity }
            })
            .collect();
        Selection {
            narrowing,
            catalog,
            scope,
            planner,
            org,
            subject: subject.and_then(|k| narrowing.subject_literal(catalog, k)),
            slots,
        }
    }

    fn index_of(&self, table: TableId) -> usize {
        self.scope
            .sections
            .iter()
            .position(|s| s.table == table)
            .expect("a section")
    }

    /// `(x.k[n])::type`: slot `j` of section `i` as its column's type.
    fn cast(&self, i: usize, j: usize, column: &str) -> String {
        let type_name = match column {
            "tableoid" => "oid".to_string(),
            "ctid" => "tid".to_string(),
            _ => {
                let t = self.catalog.table(self.scope.sections[i].table);
                without_typmod(
                    &t.column(column)
                        .map_or("text".into(), |c| c.type_name.clone()),
                )
            }
        };
        format!("(x.k[{}])::{type_name}", j + 1)
    }

    fn slot(&self, i: usize, column: &str) -> usize {
        self.slots[i]
            .columns
            .iter()
            .position(|c| c == column)
            .expect("a slot")
    }

    /// `'phase'::text, i, ARRAY[t.a::text, …]`.
    fn row_of(&self, phase: char, i: usize) -> String {
        let k: Vec<String> = self.slots[i]
            .columns
            .iter()
            .map(|c| format!("t.{}::text", column_sql(c)))
            .collect();
        format!("'{phase}'::text, {i}, ARRAY[{}]", k.join(", "))
    }

    /// `t` is an in-scope row of the org (`in<i>`, the org planner's rows of the table).
    fn member(&self, i: usize) -> String {
        let cols: Vec<String> = self.slots[i].columns[..self.slots[i].identity]
            .iter()
            .map(|c| format!("t.{}", column_sql(c)))
            .collect();
        format!("({}) IN (SELECT * FROM in{i})", cols.join(", "))
    }

    fn from(&self, i: usize) -> String {
        self.catalog
            .table(self.scope.sections[i].table)
            .from_clause()
    }

    fn window_of(&self, i: usize) -> Option<String> {
        let window = self.narrowing.window.as_ref()?;
        let table = self.scope.sections[i].table;
        let column = self.narrowing.time_column(table)?;
        Some(window.condition(self.catalog.table(table), column, "t"))
    }

    fn select(&self, phase: char, i: usize, conditions: Vec<String>) -> String {
        let mut all = conditions;
        if !all.iter().any(|c| c == IN_SCOPE_BY_EDGE) {
            all.push(self.member(i));
        }
        all.retain(|c| c != IN_SCOPE_BY_EDGE);
        if phase == 'd'
            && let Some(w) = self.window_of(i)
        {
            all.push(w);
        }
        format!(
            "SELECT {} FROM {} t WHERE {}",
            self.row_of(phase, i),
            self.from(i),
            all.join(" AND ")
        )
    }

    fn seeds(&self) -> Vec<String> {
        let mut seeds = Vec::new();
        let root = self.index_of(self.scope.root);
        seeds.push(self.select('e', root, vec![]));
        match (&self.narrowing.subject, &self.subject) {
            (Some(subject), Some(literal)) => {
                let s = self.index_of(subject.table);
                let key = |alias: &str| {
                    format!("{alias}.{} = {literal}", quote_ident(&subject.key_column))
                };
                seeds.push(format!(
                    "SELECT {} FROM {} t WHERE {} AND {}",
                    self.row_of('d', s),
                    self.from(s),
                    key("t"),
                    self.member(s)
                ));
                for r in direct_references(self.scope, subject.table) {
                    let u = self.index_of(r.table);
                    let mut cond = vec![format!(
                        "({}) IN (SELECT {} FROM {} p WHERE {})",
                        idents("t", &r.columns),
                        idents("p", &r.target_columns),
                        self.from(s),
                        key("p")
                    )];
                    cond.extend(when("t", r));
                    seeds.push(self.select('d', u, cond));
                }
            }
            (Some(_), None) => {}
            (None, _) => {
                for (i, section) in self.scope.sections.iter().enumerate() {
                    if matches!(section.role, Role::Referenced | Role::Root) {
                        continue;
                    }
                    let cond = self.window_of(i).into_iter().collect();
                    seeds.push(self.select('e', i, cond));
                }
            }
        }
        seeds
    }

    fn steps(&self) -> Vec<String> {
        let mut steps = Vec::new();
        for r in section_references(self.scope) {
            let (u, t) = (self.index_of(r.table), self.index_of(r.target));
            let mut cond = vec![format!("x.tag = {u}")];
            for (c, tc) in r.columns.iter().zip(&r.target_columns) {
                let j = self.slot(u, c);
                cond.push(format!("t.{} = {}", quote_ident(tc), self.cast(t, j, tc)));
            }
            if let Some((type_column, value)) = &r.when {
                let j = self.slot(u, type_column);
                cond.push(format!("x.k[{}] = {}", j + 1, quote_literal(value)));
            }
            cond.extend(target_when("t", r));
            if self.follows_scope_edge(r) {
                cond.push(IN_SCOPE_BY_EDGE.to_string());
            }
            steps.push(self.select('e', t, cond));
        }
        if self.narrowing.subject.is_some() {
            for e in self.scope.edges.iter().filter(|e| e.kind == EdgeKind::Owns) {
                let r = &self.scope.references[e.reference];
                let (o, c) = (self.index_of(e.source), self.index_of(e.target));
                let mut cond = vec![format!("x.phase = 'd' AND x.tag = {o}")];
                for (col, tc) in r.columns.iter().zip(&r.target_columns) {
                    let j = self.slot(o, tc);
                    cond.push(format!("t.{} = {}", quote_ident(col), self.cast(c, j, col)));
                }
                cond.extend(when("t", r));
                if let Some((type_column, value)) = &r.target_when {
                    let j = self.slot(o, type_column);
                    cond.push(format!("x.k[{}] = {}", j + 1, quote_literal(value)));
                }
                steps.push(self.select('d', c, cond));
            }
        }
        steps
    }

    /// Whether a row `r` leads to from a selected (so in-scope) row is in scope by the
    /// scope's own rule: `r` is a reference edge into a shared table, which holds exactly the
    /// rows in-scope rows reference that way (unless a `--where` narrows it). Its check
    /// against the org's rows can go: those are the costliest to compute.
    fn follows_scope_edge(&self, r: &Reference) -> bool {
        self.scope
            .section_of(r.target)
            .is_some_and(|s| s.row_filter.is_none())
            && self
                .scope
                .edges
                .iter()
                .any(|e| e.kind == EdgeKind::References && self.scope.references[e.reference] == *r)
    }

    /// `WITH RECURSIVE in0 AS (…), …, sel(phase, tag, k) AS (…)`.
    fn with_clause(&self) -> String {
        let mut ctes: Vec<String> = Vec::new();
        for (i, section) in self.scope.sections.iter().enumerate() {
            let identity: Vec<String> = self.slots[i].columns[..self.slots[i].identity]
                .iter()
                .map(|c| format!("t.{}", column_sql(c)))
                .collect();
            // Materialized: computed once per query. Inlined, the org's rows of the table
            // would be computed again for every row the recursion looks up.
            ctes.push(format!(
                "in{i} AS MATERIALIZED ({})",
                self.planner
                    .all_rows_sql(section.table, self.org, &identity.join(", "))
            ));
        }
        let steps = self.steps();
        let body = if steps.is_empty() {
            self.seeds().join(" UNION ")
        } else {
            format!(
                "{} UNION SELECT n.* FROM sel x CROSS JOIN LATERAL ({}) n",
                self.seeds().join(" UNION "),
                steps.join(" UNION ALL ")
            )
        };
        ctes.push(format!("sel(phase, tag, k) AS ({body})"));
        format!("WITH RECURSIVE {}", ctes.join(", "))
    }
}

fn idents(alias: &str, columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!("{alias}.{}", quote_ident(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A polymorphic reference holds for rows whose type column names its target.
fn when(alias: &str, r: &Reference) -> Option<String> {
    type_condition(alias, r.when.as_ref())
}

/// A delegated reference holds for owner rows (its target's) whose type names the owned
/// row's table.
fn target_when(alias: &str, r: &Reference) -> Option<String> {
    type_condition(alias, r.target_when.as_ref())
}

fn type_condition(alias: &str, when: Option<&(String, String)>) -> Option<String> {
    when.map(|(c, v)| format!("{alias}.{} = {}", quote_ident(c), quote_literal(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::config::ScopeConfig;
    use crate::scope::narrow_spec::SubjectSpec;
    use crate::scope::rules::classify;
    use crate::scope::testing::saas;

    #[test]
    fn a_subject_seeds_the_rows_referencing_it_and_org_rows_are_checked_against_the_org() {
        let catalog = saas();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        let config = NarrowConfig {
            subject: Some(SubjectSpec::Key {
                table: "public.users".into(),
                key: "7".into(),
            }),
            ..NarrowConfig::default()
        };
        let narrowing = Narrowing::new(&catalog, &scope, &config).unwrap().unwrap();
        let planner = Planner::new(&catalog, &scope);
        let org = OrgKey {
            text: "1".into(),
            fits: [("bigint".to_string(), true)].into_iter().collect(),
        };
        let subject = SubjectKey("7".into());
        let within = narrowing.selection(&catalog, &scope, &planner, &org, Some(&subject));
        let memberships = catalog.find("public.memberships").unwrap();
        let (_, sql) = within.iter().find(|(t, _)| *t == memberships).unwrap();
        assert!(
            sql.contains("WITH RECURSIVE in0 AS MATERIALIZED ("),
            "{sql}"
        );
        assert!(
            sql.contains(
                r#"IN (SELECT p."id" FROM ONLY "public"."users" p WHERE p."id" = '7'::bigint)"#
            ),
            "{sql}"
        );
        // A step into an org table is checked against the org's rows; one along the scope's
        // own reference edge into a shared table needs no check.
        assert!(
            sql.contains(r#"FROM ONLY "public"."tasks" t WHERE x.tag = 5 AND t."id" = (x.k[2])::bigint AND (t."id") IN (SELECT * FROM in4)"#),
            "{sql}"
        );
        assert!(
            sql.contains(r#"FROM ONLY "public"."users" t WHERE x.tag = 2 AND t."id" = (x.k[3])::bigint UNION ALL"#),
            "{sql}"
        );
        let rules = narrowing.rules(&catalog, &scope);
        assert!(
            rules["public.memberships"].starts_with(
                "references the subject: public.memberships(user_id) -> public.users(id)"
            ),
            "{rules:?}"
        );
        assert!(
            rules["public.comments"].contains("owned by the subject's rows"),
            "{rules:?}"
        );
        assert!(
            rules["public.users"].starts_with("the subject's row"),
            "{rules:?}"
        );
    }
}
