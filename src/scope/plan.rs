//! Generated SQL for each section of a [`Scope`], for one org: the query that picks the org's
//! rows, its count, and the `COPY` that streams them. Pure string building over the catalog.
//!
//! Shapes, chosen so that every query is a chain of hash or index semi-joins whose cost
//! follows the org's rows (DESIGN §2, last point):
//!
//! - The org key is a typed literal built by [`quote_literal`] (`'42'::bigint`): COPY takes no
//!   bind parameters, and a literal lets the planner prune partitions at plan time. A key
//!   that does not fit a column's type matches nothing there (`false`), it is never cast.
//! - Each table scope flows *from* is a CTE `s<id>` holding the columns its dependants join
//!   on, `NOT MATERIALIZED`: inlined, the planner sees the tables' statistics (a materialized
//!   CTE is estimated at 200 rows, which turns a hash join over a million child rows into a
//!   million index probes — twice as slow, measured in bench/RESULTS.md). A table reached through several references is a disjoint `UNION ALL` of branches,
//!   each one positive `EXISTS` (a semi-join) plus `NOT EXISTS` of the earlier branches
//!   (anti-joins) — never `EXISTS … OR EXISTS …`, which PostgreSQL runs as a subplan per row.
//!   A referenced table is one semi-join over the `UNION ALL` of every referencing key.
//! - Rows with two or more ownership references carry a taint check: `NOT EXISTS` a
//!   referenced owner that belongs to another org (an anti-join per reference, walking up
//!   the owners' own ownership by index lookups). Such rows are exported in neither org and
//!   counted (`cross_tenant_rows`).
//! - A cycle (a self-referencing tree, tables owning each other) is one recursive CTE `c<n>`
//!   over the component, keyed by the join columns and each member's primary key (or
//!   `tableoid, ctid`), following each edge by a lateral index lookup.

use std::collections::{HashMap, HashSet};

use crate::db::{quote_ident, quote_literal};
use crate::export::render::{RenderMode, RowRenderer, ValueKind};
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::model::{Edge, EdgeKind, Role, Scope, Section};
use crate::scope::references::Reference;

/// The org key, and for each column type whether the key is a valid value of it.
#[derive(Debug, Clone)]
pub struct OrgKey {
    pub text: String,
    /// `format_type` name → whether `text` parses as that type.
    pub fits: HashMap<String, bool>,
}

impl OrgKey {
    /// `'value'::type`, or `None` when the key is no value of that type. The type modifier
    /// is dropped (a literal cast to `numeric(10,2)` would round, to `varchar(3)` fail).
    fn literal(&self, type_name: &str) -> Option<String> {
        self.fits.get(type_name).copied().unwrap_or(false).then(|| {
            format!(
                "{}::{}",
                quote_literal(&self.text),
                without_typmod(type_name)
            )
        })
    }
}

/// The SQL of one section.
#[derive(Debug, Clone)]
pub struct SectionSql {
    pub name: String,
    /// `SELECT count(*) …`: one bigint, the section's rows in scope.
    pub count: String,
    /// `SELECT count(*) …` of the rows an ownership reference brings in before the taint
    /// check; minus `count`, the cross-tenant rows. `None` when there can be none.
    pub candidates: Option<String>,
    /// `COPY (SELECT …) TO STDOUT (FORMAT binary)`.
    pub copy: String,
    /// Turns each COPY row into the row's JSON object.
    pub renderer: RowRenderer,
}

/// SQL generation for one scope and one org.
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

    /// Types the org key is compared with: the root key's and every tenant column's.
    pub fn key_types(&self) -> Vec<String> {
        let mut types = Vec::new();
        let root = self.catalog.table(self.scope.root);
        let mut push = |t: &str| {
            if !types.iter().any(|x: &String| x == t) {
                types.push(t.to_string());
            }
        };
        if let Some(c) = root.column(&self.scope.root_key) {
            push(&c.type_name);
        }
        for section in &self.scope.sections {
            if let Role::Tenant { column, .. } = &section.role
                && let Some(c) = self.catalog.table(section.table).column(column)
            {
                push(&c.type_name);
            }
        }
        types
    }

    /// `SELECT <key>::text, <label>::text FROM <root> WHERE <column> = $1::text::<type>`;
    /// `$1` is `--org`, already known to parse as the column's type.
    pub fn lookup_sql(&self, column: &str) -> String {
        let root = self.catalog.table(self.scope.root);
        let type_name = &root.column(column).expect("lookup columns exist").type_name;
        format!(
            "SELECT t.{key}::text, {label} FROM {from} t WHERE t.{col} = $1::text::{type_name} LIMIT 2",
            key = quote_ident(&self.scope.root_key),
            label = self.label_expr(),
            from = root.from_clause(),
            col = quote_ident(column),
        )
    }

    /// The org's label (for store paths) as text, or NULL.
    fn label_expr(&self) -> String {
        match &self.scope.label_column {
            Some(c) => format!("t.{}::text", quote_ident(c)),
            None => "NULL::text".into(),
        }
    }

    /// Whether the root key is a uuid (store paths keep uuids as they are).
    pub fn key_is_uuid(&self) -> bool {
        self.root_column_type(&self.scope.root_key) == "uuid"
    }

    /// The type of a root column (for checking that `--org` parses as it).
    pub fn root_column_type(&self, column: &str) -> String {
        let root = self.catalog.table(self.scope.root);
        root.column(column)
            .map(|c| c.type_name.clone())
            .unwrap_or_else(|| "text".into())
    }

    /// `SELECT <key>::text, <name column>::text, <label>::text FROM <root> ORDER BY <key>`.
    pub fn all_orgs_sql(&self, name_column: &str) -> String {
        let root = self.catalog.table(self.scope.root);
        format!(
            "SELECT t.{key}::text, t.{name}::text, {label} FROM {from} t ORDER BY t.{key}",
            key = quote_ident(&self.scope.root_key),
            name = quote_ident(name_column),
            label = self.label_expr(),
            from = root.from_clause(),
        )
    }

    /// The SQL of a section for one org; `limit` caps the rows COPY writes
    /// (`--max-rows-per-table`), not the count.
    pub fn section_sql(
        &self,
        section: &Section,
        org: &OrgKey,
        limit: Option<u64>,
        mode: RenderMode,
    ) -> SectionSql {
        let table = self.catalog.table(section.table);
        let with = self.with_clause(section.table, org);
        let typed: Vec<(&str, u32, bool)> = section
            .columns
            .iter()
            .map(|c| {
                let oid = table.column(c).map_or(0, |col| col.type_oid);
                (c.as_str(), oid, section.redact_json.contains(c))
            })
            .collect();
        let select_list = match mode {
            RenderMode::Server => section
                .columns
                .iter()
                .map(|c| format!("t.{}", quote_ident(c)))
                .collect::<Vec<_>>()
                .join(", "),
            RenderMode::Client => typed
                .iter()
                .map(|(c, oid, _)| ValueKind::of(*oid).select_expr("t", c))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let select_list = if select_list.is_empty() {
            "NULL".to_string()
        } else {
            select_list
        };
        let branches = self.branches(section.table, "t", org, true, true);
        let from = table.from_clause();
        let rows = union_of(&branches, |cond| {
            format!("SELECT {select_list} FROM {from} t WHERE {cond}")
        });
        let limited = match limit {
            Some(n) => format!("SELECT * FROM ({rows}) r LIMIT {n}"),
            None => rows.clone(),
        };
        let select = match mode {
            // Every column a secret: an empty object, as the client path renders it.
            RenderMode::Server if section.columns.is_empty() => {
                format!("SELECT '{{}}'::text FROM ({limited}) r")
            }
            RenderMode::Server => format!("SELECT row_to_json(r)::text FROM ({limited}) r"),
            RenderMode::Client => limited,
        };
        let count_rows = union_of(&branches, |cond| {
            format!("SELECT 1 FROM {from} t WHERE {cond}")
        });
        let candidates = self
            .scope
            .may_have_cross_tenant_rows(section.table)
            .then(|| {
                let branches = self.branches(section.table, "t", org, true, false);
                format!(
                    "{with}SELECT count(*) FROM ({}) r",
                    union_of(&branches, |cond| format!(
                        "SELECT 1 FROM {from} t WHERE {cond}"
                    ))
                )
            });
        SectionSql {
            name: table.qualified_name(),
            count: format!("{with}SELECT count(*) FROM ({count_rows}) r"),
            candidates,
            copy: format!("COPY ({with}{select}) TO STDOUT (FORMAT binary)"),
            renderer: RowRenderer::new(mode, &typed),
        }
    }

    fn literal_for(&self, table: TableId, column: &str, org: &OrgKey) -> Option<String> {
        let t = self.catalog.table(table);
        org.literal(&t.column(column).expect("column exists").type_name)
    }

    /// `alias` is a row of the org's own root row.
    fn root_match(&self, alias: &str, org: &OrgKey) -> String {
        let key = &self.scope.root_key;
        match self.literal_for(self.scope.root, key, org) {
            Some(lit) => format!("{alias}.{} = {lit}", quote_ident(key)),
            None => "false".into(),
        }
    }

    /// `alias` (a row of a tenant table) has the org's value in its tenant column.
    fn tenant_match(
        &self,
        table: TableId,
        column: &str,
        root_column: &str,
        alias: &str,
        org: &OrgKey,
    ) -> String {
        if root_column == self.scope.root_key {
            return match self.literal_for(table, column, org) {
                Some(lit) => format!("{alias}.{} = {lit}", quote_ident(column)),
                None => "false".into(),
            };
        }
        let root = self.catalog.table(self.scope.root);
        format!(
            "{alias}.{} IN (SELECT r.{} FROM {} r WHERE {})",
            quote_ident(column),
            quote_ident(root_column),
            root.from_clause(),
            self.root_match("r", org)
        )
    }

    /// The in-scope condition of `table`'s rows, as branches whose union is the scope.
    /// `disjoint`: each branch excludes the rows of the earlier ones (for sections, where a
    /// row must appear once); `taint`: apply the cross-tenant check.
    fn branches(
        &self,
        table: TableId,
        alias: &str,
        org: &OrgKey,
        disjoint: bool,
        taint: bool,
    ) -> Vec<String> {
        let section = self
            .scope
            .section_of(table)
            .expect("branches of a scoped table");
        if let Some(&cycle) = self.cycle_of.get(&table) {
            let t = self.catalog.table(table);
            let identity = identity_columns(t);
            let cols: Vec<String> = identity
                .iter()
                .map(|c| format!("{alias}.{}", ident_or_system(c)))
                .collect();
            let slots: Vec<String> = identity
                .iter()
                .map(|c| slot_name(self.member_index(cycle, table), c))
                .collect();
            return vec![format!(
                "({}) IN (SELECT {} FROM c{cycle} WHERE tag = {})",
                cols.join(", "),
                slots.join(", "),
                self.member_index(cycle, table)
            )];
        }
        self.plain_branches(section, alias, org, disjoint, taint, &|_| true)
    }

    /// Branches of a table that is not in a cycle (or a cycle member's seeds, with `keep`
    /// leaving out the edges from inside the cycle).
    fn plain_branches(
        &self,
        section: &Section,
        alias: &str,
        org: &OrgKey,
        disjoint: bool,
        taint: bool,
        keep: &dyn Fn(&Edge) -> bool,
    ) -> Vec<String> {
        let table = section.table;
        let taint = taint && self.scope.may_have_cross_tenant_rows(table);
        let untainted = if taint {
            self.untainted(table, alias, org)
        } else {
            None
        };
        let with_taint = |cond: String| match &untainted {
            Some(check) => format!("{cond} AND {check}"),
            None => cond,
        };
        match &section.role {
            Role::Root => vec![self.root_match(alias, org)],
            Role::Tenant {
                column,
                root_column,
            } => {
                let owned = self.owned_terms(table, alias, keep);
                let null = format!("{alias}.{} IS NULL", quote_ident(column));
                std::iter::once(self.tenant_match(table, column, root_column, alias, org))
                    .chain(
                        branches_of(&owned, disjoint)
                            .into_iter()
                            .map(|cond| with_taint(format!("{null} AND {cond}"))),
                    )
                    .collect()
            }
            Role::Child => {
                let owned = self.owned_terms(table, alias, keep);
                if owned.is_empty() {
                    return vec!["false".into()];
                }
                branches_of(&owned, disjoint)
                    .into_iter()
                    .map(with_taint)
                    .collect()
            }
            Role::Referenced => {
                let groups = self.referenced_groups(table, alias, keep);
                if groups.is_empty() {
                    return vec!["false".into()];
                }
                branches_of(&groups, disjoint)
            }
        }
    }

    /// One term per incoming ownership edge: `EXISTS (SELECT 1 FROM s<owner> …)` and its
    /// negation.
    fn owned_terms(&self, table: TableId, alias: &str, keep: &dyn Fn(&Edge) -> bool) -> Vec<Term> {
        self.scope
            .incoming(table)
            .filter(|e| e.kind == EdgeKind::Owns && keep(e))
            .map(|edge| {
                let r = &self.scope.references[edge.reference];
                let join = pairs(&r.target_columns, &r.columns)
                    .map(|(owner, own)| {
                        format!("s.{} = {alias}.{}", quote_ident(owner), quote_ident(own))
                    })
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let when = when_condition(r, alias);
                let exists = format!("EXISTS (SELECT 1 FROM s{} s WHERE {join})", edge.source);
                Term {
                    exists: match &when {
                        Some(w) => format!("{w} AND {exists}"),
                        None => exists.clone(),
                    },
                    not_exists: match &when {
                        Some(w) => format!("NOT ({w} AND {exists})"),
                        None => format!("NOT {exists}"),
                    },
                }
            })
            .collect()
    }

    /// Incoming reference edges grouped by the target columns they point at: per group
    /// `(alias.cols) IN (SELECT … UNION ALL SELECT …)` and its negation.
    fn referenced_groups(
        &self,
        table: TableId,
        alias: &str,
        keep: &dyn Fn(&Edge) -> bool,
    ) -> Vec<Term> {
        let mut groups: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        for edge in self
            .scope
            .incoming(table)
            .filter(|e| e.kind == EdgeKind::References && keep(e))
        {
            let r = &self.scope.references[edge.reference];
            let select = format!(
                "SELECT {} FROM s{} s WHERE {}{}",
                r.columns
                    .iter()
                    .map(|c| format!("s.{}", quote_ident(c)))
                    .collect::<Vec<_>>()
                    .join(", "),
                edge.source,
                r.columns
                    .iter()
                    .map(|c| format!("s.{} IS NOT NULL", quote_ident(c)))
                    .collect::<Vec<_>>()
                    .join(" AND "),
                when_condition(r, "s")
                    .map(|w| format!(" AND {w}"))
                    .unwrap_or_default()
            );
            match groups
                .iter_mut()
                .find(|(cols, _)| *cols == r.target_columns)
            {
                Some((_, selects)) => selects.push(select),
                None => groups.push((r.target_columns.clone(), vec![select])),
            }
        }
        groups
            .into_iter()
            .map(|(cols, selects)| {
                let tuple = cols
                    .iter()
                    .map(|c| format!("{alias}.{}", quote_ident(c)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let set = selects.join(" UNION ALL ");
                Term {
                    exists: format!("({tuple}) IN ({set})"),
                    not_exists: format!(
                        "NOT EXISTS (SELECT 1 FROM ({set}) u({}) WHERE {})",
                        (0..cols.len())
                            .map(|i| format!("k{i}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        cols.iter()
                            .enumerate()
                            .map(|(i, c)| format!("u.k{i} = {alias}.{}", quote_ident(c)))
                            .collect::<Vec<_>>()
                            .join(" AND ")
                    ),
                }
            })
            .collect()
    }

    /// `NOT EXISTS` an owner, through any ownership reference, that belongs to another org;
    /// `None` when the table has no ownership edges.
    fn untainted(&self, table: TableId, alias: &str, org: &OrgKey) -> Option<String> {
        let mut visiting = vec![table];
        let checks: Vec<String> = self
            .scope
            .incoming(table)
            .filter(|e| e.kind == EdgeKind::Owns)
            .map(|edge| {
                format!(
                    "NOT ({})",
                    self.foreign_owner(edge, alias, org, &mut visiting, 1)
                )
            })
            .collect();
        (!checks.is_empty()).then(|| checks.join(" AND "))
    }

    /// `EXISTS` the row `alias` points at through `edge`, and it belongs to another org.
    fn foreign_owner(
        &self,
        edge: &Edge,
        alias: &str,
        org: &OrgKey,
        visiting: &mut Vec<TableId>,
        depth: usize,
    ) -> String {
        let r = &self.scope.references[edge.reference];
        let owner = self.catalog.table(edge.source);
        let p = format!("p{depth}");
        let join = pairs(&r.target_columns, &r.columns)
            .map(|(o, c)| format!("{p}.{} = {alias}.{}", quote_ident(o), quote_ident(c)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let when = when_condition(r, alias)
            .map(|w| format!("{w} AND "))
            .unwrap_or_default();
        let foreign = self.foreign_row(edge.source, &p, org, visiting, depth + 1);
        format!(
            "{when}EXISTS (SELECT 1 FROM {} {p} WHERE {join} AND ({foreign}))",
            owner.from_clause()
        )
    }

    /// `alias`, a row of `table` (in R ∪ T ∪ C), belongs to another org: the root row of
    /// another org, a tenant row with another org's key, or a row with such an owner. A
    /// cycle is walked once (the walk stops at a table already on the path).
    fn foreign_row(
        &self,
        table: TableId,
        alias: &str,
        org: &OrgKey,
        visiting: &mut Vec<TableId>,
        depth: usize,
    ) -> String {
        let up = |planner: &Self, visiting: &mut Vec<TableId>| -> String {
            if visiting.contains(&table) {
                return "false".into();
            }
            visiting.push(table);
            let terms: Vec<String> = planner
                .scope
                .incoming(table)
                .filter(|e| e.kind == EdgeKind::Owns)
                .map(|e| planner.foreign_owner(e, alias, org, visiting, depth))
                .collect();
            visiting.pop();
            if terms.is_empty() {
                "false".into()
            } else {
                terms.join(" OR ")
            }
        };
        match self.scope.role_of(table) {
            Some(Role::Root) => {
                let key = &self.scope.root_key;
                match self.literal_for(table, key, org) {
                    Some(lit) => format!("{alias}.{} <> {lit}", quote_ident(key)),
                    None => "true".into(),
                }
            }
            Some(Role::Tenant {
                column,
                root_column,
            }) => {
                let col = format!("{alias}.{}", quote_ident(column));
                let other = if *root_column == self.scope.root_key {
                    match self.literal_for(table, column, org) {
                        Some(lit) => format!("{col} <> {lit}"),
                        None => format!("{col} IS NOT NULL"),
                    }
                } else {
                    format!(
                        "{col} IS NOT NULL AND NOT ({})",
                        self.tenant_match(table, column, root_column, alias, org)
                    )
                };
                let up = up(self, visiting);
                if up == "false" {
                    other
                } else {
                    format!("{other} OR ({col} IS NULL AND ({up}))")
                }
            }
            Some(Role::Child) => up(self, visiting),
            _ => "false".into(),
        }
    }

    /// The `WITH` list `table`'s query needs, dependencies first.
    fn with_clause(&self, table: TableId, org: &OrgKey) -> String {
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        for dep in self.dependencies_of_section(table) {
            self.visit(dep, &mut seen, &mut order);
        }
        if order.is_empty() {
            return String::new();
        }
        let recursive = order.iter().any(|c| matches!(c, Cte::Cycle(_)));
        let mut ctes: Vec<String> = Vec::new();
        for &cte in &order {
            ctes.extend(self.cte(cte, org));
        }
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
            Cte::Table(t) => self.sources_of(t),
            Cte::Cycle(c) => {
                let members = &self.cycles[c];
                members
                    .iter()
                    .flat_map(|&m| self.scope.incoming(m))
                    .filter(|e| !members.contains(&e.source))
                    .map(|e| self.unit_of(e.source))
                    .collect()
            }
        };
        for dep in deps {
            self.visit(dep, seen, order);
        }
        order.push(cte);
    }

    fn unit_of(&self, table: TableId) -> Cte {
        match self.cycle_of.get(&table) {
            Some(&c) => Cte::Cycle(c),
            None => Cte::Table(table),
        }
    }

    /// What a section's own query refers to.
    fn dependencies_of_section(&self, table: TableId) -> Vec<Cte> {
        match self.cycle_of.get(&table) {
            Some(&c) => vec![Cte::Cycle(c)],
            None => self.sources_of(table),
        }
    }

    fn sources_of(&self, table: TableId) -> Vec<Cte> {
        self.scope
            .incoming(table)
            .map(|e| self.unit_of(e.source))
            .collect()
    }

    /// Columns of `table` its dependants join on (as a source of edges).
    fn needed_columns(&self, table: TableId) -> Vec<String> {
        let mut columns: Vec<String> = Vec::new();
        let mut add = |c: &String| {
            if !columns.contains(c) {
                columns.push(c.clone());
            }
        };
        for edge in self.scope.edges.iter().filter(|e| e.source == table) {
            let r = &self.scope.references[edge.reference];
            match edge.kind {
                EdgeKind::Owns => r.target_columns.iter().for_each(&mut add),
                EdgeKind::References => {
                    r.columns.iter().for_each(&mut add);
                    if let Some((type_column, _)) = &r.when {
                        add(type_column);
                    }
                }
            }
        }
        columns
    }

    fn cte(&self, cte: Cte, org: &OrgKey) -> Vec<String> {
        match cte {
            Cte::Table(table) => {
                let t = self.catalog.table(table);
                let cols = self.needed_columns(table);
                let select = if cols.is_empty() {
                    "1 AS one".to_string()
                } else {
                    cols.iter()
                        .map(|c| format!("t.{}", quote_ident(c)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let branches = self.branches(table, "t", org, false, true);
                vec![format!(
                    "s{table} AS NOT MATERIALIZED ({})",
                    union_of(&branches, |cond| format!(
                        "SELECT {select} FROM {} t WHERE {cond}",
                        t.from_clause()
                    ))
                )]
            }
            Cte::Cycle(cycle) => self.cycle_ctes(cycle, org),
        }
    }

    fn member_index(&self, cycle: usize, table: TableId) -> usize {
        self.cycles[cycle]
            .iter()
            .position(|&m| m == table)
            .expect("member of the cycle")
    }

    /// Slot columns of a member: its identity, then the columns its edges join on.
    fn member_slots(&self, table: TableId) -> Vec<String> {
        let mut slots = identity_columns(self.catalog.table(table));
        for c in self.needed_columns(table) {
            if !slots.contains(&c) {
                slots.push(c);
            }
        }
        slots
    }

    /// The recursive CTE of a cycle, and one `s<id>` view of it per member.
    fn cycle_ctes(&self, cycle: usize, org: &OrgKey) -> Vec<String> {
        let members = &self.cycles[cycle];
        let all_slots: Vec<(usize, String, String)> = members
            .iter()
            .enumerate()
            .flat_map(|(i, &m)| {
                let t = self.catalog.table(m);
                self.member_slots(m)
                    .into_iter()
                    .map(move |c| (i, c.clone(), slot_type(t, &c)))
            })
            .collect();
        // The select list of member `i` from alias `t`: its slots, NULL for the others'.
        let row_of = |i: usize, alias: &str| -> String {
            let mut list = vec![format!("{i}")];
            for (j, column, type_name) in &all_slots {
                if *j == i {
                    list.push(format!("{alias}.{}", ident_or_system(column)));
                } else {
                    list.push(format!("NULL::{type_name}"));
                }
            }
            list.join(", ")
        };
        let names: Vec<String> = std::iter::once("tag".to_string())
            .chain(all_slots.iter().map(|(i, c, _)| slot_name(*i, c)))
            .collect();
        let inside = |e: &Edge| members.contains(&e.source);
        let mut seeds = Vec::new();
        for (i, &m) in members.iter().enumerate() {
            let section = self
                .scope
                .section_of(m)
                .expect("cycle members are sections");
            let branches = self.plain_branches(section, "t", org, false, true, &|e| !inside(e));
            for cond in branches {
                seeds.push(format!(
                    "SELECT {} FROM {} t WHERE {cond}",
                    row_of(i, "t"),
                    self.catalog.table(m).from_clause()
                ));
            }
        }
        let mut steps = Vec::new();
        for edge in self
            .scope
            .edges
            .iter()
            .filter(|e| members.contains(&e.source) && members.contains(&e.target))
        {
            let r = &self.scope.references[edge.reference];
            let (s, x) = (
                self.member_index(cycle, edge.source),
                self.member_index(cycle, edge.target),
            );
            let target = self.catalog.table(edge.target);
            // (source column, target column) pairs
            let join: Vec<String> = match edge.kind {
                EdgeKind::Owns => pairs(&r.target_columns, &r.columns)
                    .map(|(sc, tc)| format!("t.{} = c.{}", quote_ident(tc), slot_name(s, sc)))
                    .collect(),
                EdgeKind::References => pairs(&r.columns, &r.target_columns)
                    .map(|(sc, tc)| format!("t.{} = c.{}", quote_ident(tc), slot_name(s, sc)))
                    .collect(),
            };
            let mut cond = vec![format!("c.tag = {s}")];
            cond.extend(join);
            match edge.kind {
                EdgeKind::Owns => {
                    if let Some(w) = when_condition(r, "t") {
                        cond.push(w);
                    }
                    if let Some(Role::Tenant { column, .. }) = self.scope.role_of(edge.target) {
                        cond.push(format!("t.{} IS NULL", quote_ident(column)));
                    }
                    if self.scope.may_have_cross_tenant_rows(edge.target)
                        && let Some(check) = self.untainted(edge.target, "t", org)
                    {
                        cond.push(check);
                    }
                }
                EdgeKind::References => {
                    if let Some((type_column, value)) = &r.when {
                        cond.push(format!(
                            "c.{} = {}",
                            slot_name(s, type_column),
                            quote_literal(value)
                        ));
                    }
                }
            }
            steps.push(format!(
                "SELECT {} FROM {} t WHERE {}",
                row_of(x, "t"),
                target.from_clause(),
                cond.join(" AND ")
            ));
        }
        let recursive = format!(
            "c{cycle}({}) AS ({} UNION SELECT e.* FROM c{cycle} c CROSS JOIN LATERAL ({}) e)",
            names.join(", "),
            seeds.join(" UNION ALL "),
            steps.join(" UNION ALL ")
        );
        let mut out = vec![recursive];
        for (i, &m) in members.iter().enumerate() {
            let cols = self.needed_columns(m);
            let select = if cols.is_empty() {
                "1 AS one".to_string()
            } else {
                cols.iter()
                    .map(|c| format!("{} AS {}", slot_name(i, c), quote_ident(c)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            out.push(format!(
                "s{m} AS (SELECT {select} FROM c{cycle} WHERE tag = {i})"
            ));
        }
        out
    }
}

/// `character varying(255)` → `varchar`, `character(2)` → `bpchar`, `numeric(10,2)` →
/// `numeric`: the type without its modifier.
fn without_typmod(type_name: &str) -> String {
    let Some((base, rest)) = type_name.split_once('(') else {
        return type_name.to_string();
    };
    let tail = rest.split_once(')').map_or("", |(_, t)| t);
    match base.trim() {
        "character varying" => "varchar".into(),
        "character" => "bpchar".into(),
        other => format!("{other}{tail}"),
    }
}

/// A condition that brings rows in (an ownership edge, a group of references) and its
/// negation.
struct Term {
    exists: String,
    not_exists: String,
}

/// One branch per term; with `disjoint`, each also excludes the rows of the earlier ones.
fn branches_of(terms: &[Term], disjoint: bool) -> Vec<String> {
    terms
        .iter()
        .enumerate()
        .map(|(i, term)| {
            let mut cond = term.exists.clone();
            if disjoint {
                for earlier in &terms[..i] {
                    cond.push_str(&format!(" AND {}", earlier.not_exists));
                }
            }
            cond
        })
        .collect()
}

/// `SELECT … WHERE b1 UNION ALL SELECT … WHERE b2 …`.
fn union_of(branches: &[String], select: impl Fn(&str) -> String) -> String {
    branches
        .iter()
        .map(|b| select(b))
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

fn pairs<'r>(a: &'r [String], b: &'r [String]) -> impl Iterator<Item = (&'r String, &'r String)> {
    a.iter().zip(b.iter())
}

/// A polymorphic reference holds for rows whose type column names its target.
fn when_condition(r: &Reference, alias: &str) -> Option<String> {
    r.when.as_ref().map(|(column, value)| {
        format!("{alias}.{} = {}", quote_ident(column), quote_literal(value))
    })
}

/// The columns identifying a row: the primary key, else `tableoid` and `ctid`.
fn identity_columns(table: &crate::scope::catalog::Table) -> Vec<String> {
    if table.primary_key.is_empty() {
        vec!["tableoid".into(), "ctid".into()]
    } else {
        table.primary_key.clone()
    }
}

/// System columns are written bare, user columns quoted.
fn ident_or_system(column: &str) -> String {
    match column {
        "tableoid" | "ctid" => column.to_string(),
        _ => quote_ident(column),
    }
}

fn slot_type(table: &crate::scope::catalog::Table, column: &str) -> String {
    match column {
        "tableoid" => "oid".into(),
        "ctid" => "tid".into(),
        _ => table
            .column(column)
            .map_or("text".into(), |c| c.type_name.clone()),
    }
}

fn slot_name(member: usize, column: &str) -> String {
    quote_ident(&format!("m{member}.{column}"))
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
    use crate::scope::config::ScopeConfig;
    use crate::scope::rules::classify;
    use crate::scope::testing::Builder;

    fn org(types: &[&str]) -> OrgKey {
        OrgKey {
            text: "7".into(),
            fits: types.iter().map(|t| (t.to_string(), true)).collect(),
        }
    }

    fn saas() -> Catalog {
        Builder::default()
            .table("public.orgs", &["id!"])
            .table("public.projects", &["id!", "org_id!"])
            .table(
                "public.tasks",
                &["id!", "project_id!", "label_project_id!", "assignee_id"],
            )
            .table("public.users", &["id!", "invited_by"])
            .table("public.folders", &["id!", "org_id!", "parent_id"])
            .fk("public.projects", &["org_id"], "public.orgs", &["id"])
            .fk("public.tasks", &["project_id"], "public.projects", &["id"])
            .fk(
                "public.tasks",
                &["label_project_id"],
                "public.projects",
                &["id"],
            )
            .fk("public.tasks", &["assignee_id"], "public.users", &["id"])
            .fk("public.users", &["invited_by"], "public.users", &["id"])
            .build()
    }

    fn sql_of(catalog: &Catalog, scope: &Scope, name: &str) -> SectionSql {
        let planner = Planner::new(catalog, scope);
        let section = scope.section_of(catalog.find(name).unwrap()).unwrap();
        planner.section_sql(section, &org(&["bigint"]), None, RenderMode::Client)
    }

    #[test]
    fn tenant_predicate_is_a_typed_literal() {
        let catalog = saas();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        let sql = sql_of(&catalog, &scope, "public.projects");
        assert!(
            sql.copy
                .contains(r#"FROM ONLY "public"."projects" t WHERE t."org_id" = '7'::bigint"#),
            "{}",
            sql.copy
        );
        let planner = Planner::new(&catalog, &scope);
        let section = scope
            .section_of(catalog.find("public.projects").unwrap())
            .unwrap();
        let no_fit = OrgKey {
            text: "x".into(),
            fits: HashMap::new(),
        };
        let sql = planner.section_sql(section, &no_fit, Some(3), RenderMode::Client);
        assert!(sql.copy.contains("WHERE false) r LIMIT 3"), "{}", sql.copy);
    }

    #[test]
    fn two_owners_are_disjoint_semi_joins_with_a_taint_check_never_or_exists() {
        let catalog = saas();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        let sql = sql_of(&catalog, &scope, "public.tasks");
        assert!(!sql.copy.contains(") OR EXISTS"), "{}", sql.copy);
        assert!(sql.copy.contains(" UNION ALL "), "{}", sql.copy);
        assert!(
            sql.copy.contains(r#"NOT (EXISTS (SELECT 1 FROM ONLY "public"."projects" p1 WHERE p1."id" = t."project_id" AND (p1."org_id" <> '7'::bigint)))"#),
            "{}",
            sql.copy
        );
        assert!(sql.candidates.is_some());
        assert!(
            sql_of(&catalog, &scope, "public.projects")
                .candidates
                .is_none()
        );
    }

    #[test]
    fn referenced_tables_are_one_semi_join_and_cycles_recurse_by_key() {
        let catalog = saas();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        let sql = sql_of(&catalog, &scope, "public.users");
        assert!(sql.count.starts_with("WITH RECURSIVE "), "{}", sql.count);
        assert!(sql.count.contains("CROSS JOIN LATERAL"), "{}", sql.count);
        assert!(
            sql.count
                .contains(r#"(t."id") IN (SELECT "m0.id" FROM c0 WHERE tag = 0)"#),
            "{}",
            sql.count
        );
    }
}
