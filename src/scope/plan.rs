//! Generated SQL for each section of a [`Scope`]: the predicate that picks an org's rows, the
//! count, and the `COPY` that streams them as JSON. Pure string building over the catalog.
//!
//! Scope flows along foreign keys. Each table that scope flows *from* becomes a CTE
//! `s<id>` holding the join columns of its in-scope rows, so a long chain or a diamond is
//! written once, not nested exponentially. A cycle among child or referenced tables (a
//! self-referencing `users.invited_by`, two tables owning each other) is one recursive CTE
//! `c<n>(tag, tab, tid)` over the strongly connected component: the least fixpoint, tracked by
//! row identity (`tableoid`, `ctid` — stable inside the one snapshot), so it terminates.
//!
//! `COPY` takes no bind parameters, so the org key is bound once per transaction with
//! `set_config('orgexport.org_key', $1, true)` and read back as
//! `current_setting('orgexport.org_key')::<column type>`: still a parameter (never spliced
//! into SQL), and STABLE, so the planner uses the tenant column's index.

use std::collections::{HashMap, HashSet};

use crate::db::quote_ident;
use crate::export::render::{RenderMode, RowRenderer, ValueKind};
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::rules::{Edge, EdgeKind, Role, Scope, Section};

/// The transaction-local setting holding the org key.
pub const ORG_KEY_SETTING: &str = "orgexport.org_key";

/// The org key as a value of `type_name`.
fn org_key_as(type_name: &str) -> String {
    format!("current_setting('{ORG_KEY_SETTING}')::text::{type_name}")
}

/// The SQL of one section.
#[derive(Debug, Clone)]
pub struct SectionSql {
    pub name: String,
    /// `SELECT count(*) …`: one bigint.
    pub count: String,
    /// `COPY (SELECT … ) TO STDOUT (FORMAT binary)`: `row_to_json(r)::text` (server
    /// rendering) or the columns themselves (client rendering).
    pub copy: String,
    /// Turns each COPY row into the row's JSON object.
    pub renderer: RowRenderer,
}

/// SQL generation for one scope.
pub struct Planner<'a> {
    catalog: &'a Catalog,
    scope: &'a Scope,
    /// Cyclic strongly connected components, each a list of tables.
    cycles: Vec<Vec<TableId>>,
    cycle_of: HashMap<TableId, usize>,
}

/// A unit of the `WITH` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Cte {
    Table(TableId),
    Cycle(usize),
}

impl<'a> Planner<'a> {
    pub fn new(catalog: &'a Catalog, scope: &'a Scope) -> Planner<'a> {
        let nodes: Vec<TableId> = scope.sections.iter().map(|s| s.table).collect();
        let cycles: Vec<Vec<TableId>> = strongly_connected(&nodes, &scope.edges)
            .into_iter()
            .filter(|component| {
                component.len() > 1
                    || scope
                        .edges
                        .iter()
                        .any(|e| e.source == component[0] && e.target == component[0])
            })
            .collect();
        let cycle_of = cycles
            .iter()
            .enumerate()
            .flat_map(|(i, c)| c.iter().map(move |&t| (t, i)))
            .collect();
        Planner {
            catalog,
            scope,
            cycles,
            cycle_of,
        }
    }

    /// `SELECT <key>::text FROM <root> WHERE <column> = $1::text::<type>`; `$1` is `--org`.
    pub fn lookup_sql(&self, column: &str) -> String {
        let root = self.catalog.table(self.scope.root);
        let type_name = &root.column(column).expect("lookup columns exist").type_name;
        format!(
            "SELECT t.{key}::text FROM {from} t WHERE t.{col} = $1::text::{type_name} LIMIT 2",
            key = quote_ident(&self.scope.root_key),
            from = root.from_clause(),
            col = quote_ident(column),
        )
    }

    /// `SELECT <key>::text, <name column>::text FROM <root> ORDER BY <key>`.
    pub fn all_orgs_sql(&self, name_column: &str) -> String {
        let root = self.catalog.table(self.scope.root);
        format!(
            "SELECT t.{key}::text, t.{name}::text FROM {from} t ORDER BY t.{key}",
            key = quote_ident(&self.scope.root_key),
            name = quote_ident(name_column),
            from = root.from_clause(),
        )
    }

    /// The SQL of a section; `limit` caps the rows COPY writes (`--max-rows-per-table`), not
    /// the count.
    pub fn section_sql(
        &self,
        section: &Section,
        limit: Option<u64>,
        mode: RenderMode,
    ) -> SectionSql {
        let table = self.catalog.table(section.table);
        let with = self.with_clause(section.table);
        let predicate = self.predicate(section.table, "t");
        let typed: Vec<(&str, u32)> = section
            .columns
            .iter()
            .map(|c| {
                let oid = table.column(c).map_or(0, |col| col.type_oid);
                (c.as_str(), oid)
            })
            .collect();
        let from = table.from_clause();
        let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
        let select = match mode {
            RenderMode::Server => {
                let columns = section
                    .columns
                    .iter()
                    .map(|c| format!("t.{}", quote_ident(c)))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "SELECT row_to_json(r)::text FROM (SELECT {columns} FROM {from} t WHERE {predicate}{limit}) r"
                )
            }
            RenderMode::Client => {
                let exprs = typed
                    .iter()
                    .map(|(c, oid)| ValueKind::of(*oid).select_expr("t", c))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("SELECT {exprs} FROM {from} t WHERE {predicate}{limit}")
            }
        };
        SectionSql {
            name: table.qualified_name(),
            count: format!("{with}SELECT count(*) FROM {from} t WHERE {predicate}"),
            copy: format!("COPY ({with}{select}) TO STDOUT (FORMAT binary)"),
            renderer: RowRenderer::new(mode, &typed),
        }
    }

    /// The condition that `alias` (a row of `table`) is in scope.
    fn predicate(&self, table: TableId, alias: &str) -> String {
        let section = self
            .scope
            .section_of(table)
            .expect("predicate of a scoped table");
        let t = self.catalog.table(table);
        match &section.role {
            Role::Root => {
                let key = &self.scope.root_key;
                let type_name = &t.column(key).expect("root key exists").type_name;
                format!("{alias}.{} = {}", quote_ident(key), org_key_as(type_name))
            }
            Role::Tenant { column } => {
                let type_name = &t.column(column).expect("tenant column exists").type_name;
                format!(
                    "{alias}.{} = {}",
                    quote_ident(column),
                    org_key_as(type_name)
                )
            }
            Role::Child | Role::Referenced => match self.cycle_of.get(&table) {
                Some(&cycle) => format!(
                    "({alias}.tableoid, {alias}.ctid) IN (SELECT tab, tid FROM c{cycle} WHERE tag = {tag})",
                    tag = self.cycles[cycle].iter().position(|&m| m == table).unwrap()
                ),
                None => self.incoming_predicate(table, alias, |_| true),
            },
        }
    }

    /// OR over the incoming edges accepted by `keep`: "some in-scope source row is joined".
    fn incoming_predicate(
        &self,
        table: TableId,
        alias: &str,
        keep: impl Fn(&Edge) -> bool,
    ) -> String {
        let terms: Vec<String> = self
            .scope
            .incoming(table)
            .filter(|e| keep(e))
            .map(|edge| {
                format!(
                    "EXISTS (SELECT 1 FROM s{} s WHERE {})",
                    edge.source,
                    self.edge_condition(edge, "s", alias)
                )
            })
            .collect();
        if terms.is_empty() {
            "false".to_string()
        } else {
            format!("({})", terms.join(" OR "))
        }
    }

    /// `source.a = target.b AND …` for an edge.
    fn edge_condition(&self, edge: &Edge, source: &str, target: &str) -> String {
        self.edge_column_pairs(edge)
            .map(|(s, t)| format!("{source}.{} = {target}.{}", quote_ident(s), quote_ident(t)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// (source column, target column) pairs of an edge.
    fn edge_column_pairs(&self, edge: &Edge) -> impl Iterator<Item = (&'a str, &'a str)> {
        let fk = &self.catalog.foreign_keys[edge.fk];
        let (source, target) = match edge.kind {
            // The FK is on the target, pointing at the source's referenced columns.
            EdgeKind::Owns => (&fk.referenced_columns, &fk.columns),
            // The FK is on the source, pointing at the target's referenced columns.
            EdgeKind::References => (&fk.columns, &fk.referenced_columns),
        };
        source
            .iter()
            .map(String::as_str)
            .zip(target.iter().map(String::as_str))
    }

    /// The `WITH` list `table`'s predicate needs, dependencies first.
    fn with_clause(&self, table: TableId) -> String {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        for dep in self.dependencies_of_table(table) {
            self.visit(dep, &mut seen, &mut order);
        }
        if order.is_empty() {
            return String::new();
        }
        let recursive = order.iter().any(|c| matches!(c, Cte::Cycle(_)));
        let ctes: Vec<String> = order.iter().map(|&c| self.cte(c)).collect();
        format!(
            "WITH {}{} ",
            if recursive { "RECURSIVE " } else { "" },
            ctes.join(", ")
        )
    }

    fn visit(&self, cte: Cte, seen: &mut HashSet<Cte>, order: &mut Vec<Cte>) {
        if !seen.insert(cte) {
            return;
        }
        let deps = match cte {
            Cte::Table(t) => self.dependencies_of_table(t),
            Cte::Cycle(c) => self.dependencies_of_cycle(c),
        };
        for dep in deps {
            self.visit(dep, seen, order);
        }
        order.push(cte);
    }

    /// What `predicate(table)` refers to.
    fn dependencies_of_table(&self, table: TableId) -> Vec<Cte> {
        if let Some(&cycle) = self.cycle_of.get(&table) {
            return vec![Cte::Cycle(cycle)];
        }
        match self.scope.section_of(table).map(|s| &s.role) {
            Some(Role::Child | Role::Referenced) => self
                .scope
                .incoming(table)
                .map(|e| Cte::Table(e.source))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A cycle's seeds come from its members' incoming edges from outside the cycle.
    fn dependencies_of_cycle(&self, cycle: usize) -> Vec<Cte> {
        let members = &self.cycles[cycle];
        members
            .iter()
            .flat_map(|&m| self.scope.incoming(m))
            .filter(|e| !members.contains(&e.source))
            .map(|e| Cte::Table(e.source))
            .collect()
    }

    fn cte(&self, cte: Cte) -> String {
        match cte {
            Cte::Table(table) => {
                let columns: Vec<&str> = {
                    let mut columns = Vec::new();
                    for edge in self.scope.edges.iter().filter(|e| e.source == table) {
                        for (s, _) in self.edge_column_pairs(edge) {
                            if !columns.contains(&s) {
                                columns.push(s);
                            }
                        }
                    }
                    columns
                };
                let select = columns
                    .iter()
                    .map(|c| format!("t.{}", quote_ident(c)))
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(
                    "s{table} AS (SELECT {select} FROM {} t WHERE {})",
                    self.catalog.table(table).from_clause(),
                    self.predicate(table, "t")
                )
            }
            Cte::Cycle(cycle) => self.cycle_cte(cycle),
        }
    }

    /// The recursive CTE of a cycle: seeds from outside, then follow the cycle's own edges.
    fn cycle_cte(&self, cycle: usize) -> String {
        let members = &self.cycles[cycle];
        let tag = |t: TableId| members.iter().position(|&m| m == t).unwrap();
        let seeds: Vec<String> = members
            .iter()
            .map(|&m| {
                format!(
                    "SELECT {} AS tag, t.tableoid AS tab, t.ctid AS tid FROM {} t WHERE {}",
                    tag(m),
                    self.catalog.table(m).from_clause(),
                    self.incoming_predicate(m, "t", |e| !members.contains(&e.source))
                )
            })
            .collect();
        let steps: Vec<String> = self
            .scope
            .edges
            .iter()
            .filter(|e| members.contains(&e.source) && members.contains(&e.target))
            .map(|e| {
                format!(
                    "SELECT {} AS from_tag, y.tableoid AS from_tab, y.ctid AS from_tid, \
                            {} AS to_tag, x.tableoid AS to_tab, x.ctid AS to_tid \
                     FROM {} y JOIN {} x ON {}",
                    tag(e.source),
                    tag(e.target),
                    self.catalog.table(e.source).from_clause(),
                    self.catalog.table(e.target).from_clause(),
                    self.edge_condition(e, "y", "x")
                )
            })
            .collect();
        format!(
            "c{cycle}(tag, tab, tid) AS (SELECT * FROM ({seeds}) seeds \
             UNION SELECT e.to_tag, e.to_tab, e.to_tid FROM c{cycle} c JOIN ({steps}) e \
             ON e.from_tag = c.tag AND e.from_tab = c.tab AND e.from_tid = c.tid)",
            seeds = seeds.join(" UNION ALL "),
            steps = steps.join(" UNION ALL "),
        )
    }
}

/// Tarjan's algorithm over the scope graph; components in reverse topological order.
fn strongly_connected(nodes: &[TableId], edges: &[Edge]) -> Vec<Vec<TableId>> {
    struct State<'e> {
        edges: &'e [Edge],
        index: HashMap<TableId, usize>,
        low: HashMap<TableId, usize>,
        stack: Vec<TableId>,
        on_stack: HashSet<TableId>,
        next: usize,
        out: Vec<Vec<TableId>>,
    }
    fn connect(v: TableId, st: &mut State<'_>) {
        st.index.insert(v, st.next);
        st.low.insert(v, st.next);
        st.next += 1;
        st.stack.push(v);
        st.on_stack.insert(v);
        let successors: Vec<TableId> = st
            .edges
            .iter()
            .filter(|e| e.source == v)
            .map(|e| e.target)
            .collect();
        for w in successors {
            if !st.index.contains_key(&w) {
                connect(w, st);
                let low = st.low[&v].min(st.low[&w]);
                st.low.insert(v, low);
            } else if st.on_stack.contains(&w) {
                let low = st.low[&v].min(st.index[&w]);
                st.low.insert(v, low);
            }
        }
        if st.low[&v] == st.index[&v] {
            let mut component = Vec::new();
            while let Some(w) = st.stack.pop() {
                st.on_stack.remove(&w);
                component.push(w);
                if w == v {
                    break;
                }
            }
            component.sort_unstable();
            st.out.push(component);
        }
    }
    let mut st = State {
        edges,
        index: HashMap::new(),
        low: HashMap::new(),
        stack: Vec::new(),
        on_stack: HashSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for &v in nodes {
        if !st.index.contains_key(&v) {
            connect(v, &mut st);
        }
    }
    st.out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::catalog::{Catalog, Column, ForeignKey, RelKind, Table};
    use crate::scope::rules::{ScopeConfig, classify};

    fn table(name: &str, columns: &[(&str, u32, bool)], kind: RelKind) -> Table {
        let (schema, name) = name.split_once('.').unwrap();
        Table {
            schema: schema.into(),
            name: name.into(),
            kind,
            columns: columns
                .iter()
                .map(|(n, oid, not_null)| Column {
                    name: n.to_string(),
                    type_name: if *oid == 2950 {
                        "uuid".into()
                    } else {
                        "bigint".into()
                    },
                    type_oid: *oid,
                    not_null: *not_null,
                })
                .collect(),
            primary_key: vec!["id".into()],
            indexed_leading_columns: vec!["org_id".into()],
            estimated_rows: None,
        }
    }

    fn fk(catalog: &mut Catalog, from: &str, cols: &[&str], to: &str) {
        let table = catalog.find(from).unwrap();
        let referenced = catalog.find(to).unwrap();
        catalog.foreign_keys.push(ForeignKey {
            name: "fk".into(),
            table,
            columns: cols.iter().map(|c| c.to_string()).collect(),
            referenced,
            referenced_columns: vec!["id".into()],
        });
    }

    /// orgs(uuid) ← "Order Items"(org_id) ← notes(item_id); people referenced by notes and
    /// inviting each other (a cycle).
    fn catalog() -> Catalog {
        let mut c = Catalog::default();
        c.tables
            .push(table("public.orgs", &[("id", 2950, true)], RelKind::Table));
        c.tables.push(table(
            "sales.Order Items",
            &[
                ("id", 20, true),
                ("org_id", 2950, true),
                ("weird\"col", 700, false),
            ],
            RelKind::Partitioned,
        ));
        c.tables.push(table(
            "public.notes",
            &[
                ("id", 20, true),
                ("item_id", 20, true),
                ("author", 20, false),
            ],
            RelKind::Table,
        ));
        c.tables.push(table(
            "public.people",
            &[("id", 20, true), ("invited_by", 20, false)],
            RelKind::Table,
        ));
        fk(&mut c, "sales.Order Items", &["org_id"], "public.orgs");
        fk(&mut c, "public.notes", &["item_id"], "sales.Order Items");
        fk(&mut c, "public.notes", &["author"], "public.people");
        fk(&mut c, "public.people", &["invited_by"], "public.people");
        c
    }

    #[test]
    fn tenant_predicate_binds_the_key_typed_and_quotes_identifiers() {
        let catalog = catalog();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        let planner = Planner::new(&catalog, &scope);
        let items = scope
            .section_of(catalog.find("sales.Order Items").unwrap())
            .unwrap();
        let sql = planner.section_sql(items, Some(10), RenderMode::Client);
        assert!(sql.copy.contains(r#"FROM "sales"."Order Items" t WHERE t."org_id" = current_setting('orgexport.org_key')::text::uuid LIMIT 10"#), "{}", sql.copy);
        // float4 is rendered by the server, the rest from binary; the quote is doubled
        assert!(
            sql.copy.contains(r#"to_json(t."weird""col")::text"#),
            "{}",
            sql.copy
        );
        assert!(!sql.count.contains("LIMIT"), "the count is the total");
        let server = planner.section_sql(items, None, RenderMode::Server);
        assert!(
            server
                .copy
                .starts_with("COPY (SELECT row_to_json(r)::text FROM (SELECT")
        );
    }

    #[test]
    fn children_reference_their_owners_through_ctes_and_cycles_recurse() {
        let catalog = catalog();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        let planner = Planner::new(&catalog, &scope);
        let notes = scope
            .section_of(catalog.find("public.notes").unwrap())
            .unwrap();
        let sql = planner.section_sql(notes, None, RenderMode::Client);
        assert!(
            sql.copy
                .starts_with("COPY (WITH s1 AS (SELECT t.\"id\" FROM \"sales\".\"Order Items\" t"),
            "{}",
            sql.copy
        );
        assert!(sql.copy.contains("ONLY \"public\".\"notes\" t WHERE (EXISTS (SELECT 1 FROM s1 s WHERE s.\"id\" = t.\"item_id\"))"), "{}", sql.copy);
        let people = scope
            .section_of(catalog.find("public.people").unwrap())
            .unwrap();
        let sql = planner.section_sql(people, None, RenderMode::Client);
        assert!(sql.count.starts_with("WITH RECURSIVE "), "{}", sql.count);
        assert!(sql.count.contains("UNION SELECT e.to_tag"), "{}", sql.count);
        assert!(
            sql.count
                .contains("(t.tableoid, t.ctid) IN (SELECT tab, tid FROM c0 WHERE tag = 0)"),
            "{}",
            sql.count
        );
    }
}
