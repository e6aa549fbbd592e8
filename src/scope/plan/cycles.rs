//! Cycles of the scope graph (a self-referencing tree, tables owning each other): each cyclic
//! component is one recursive CTE `c<n>` whose rows carry a `tag` (which member) and every
//! member's slots — its identity (the primary key, or `tableoid, ctid`) and the columns its
//! edges join on — seeded by the rows that come in from outside the cycle and following each
//! edge inside it by a lateral index lookup; one `s<id>` view of it per member. Finding the
//! components is `crate::graph`'s; a member's seed conditions are `branches.rs`'s.

use std::collections::HashMap;

use crate::db::{quote_ident, quote_literal};
use crate::graph::strongly_connected;
use crate::scope::catalog::{Table, TableId};
use crate::scope::model::{Edge, EdgeKind, Role, Scope};

use super::branches::{pairs, when_condition};
use super::{OrgKey, Planner};

/// The cyclic strongly connected components of the scope graph — two or more tables that
/// reach each other, or one with an edge to itself — each a list of tables in table order;
/// a component comes after every component it reaches.
pub(super) fn cyclic_components(scope: &Scope) -> Vec<Vec<TableId>> {
    // Edges join scoped tables only, so every endpoint is a section.
    let nodes: Vec<TableId> = scope.sections.iter().map(|s| s.table).collect();
    let node_of: HashMap<TableId, usize> = nodes.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    let mut successors = vec![Vec::new(); nodes.len()];
    for edge in &scope.edges {
        successors[node_of[&edge.source]].push(node_of[&edge.target]);
    }
    strongly_connected(&successors)
        .into_iter()
        .map(|component| {
            let mut tables: Vec<TableId> = component.into_iter().map(|i| nodes[i]).collect();
            tables.sort_unstable();
            tables
        })
        .filter(|component| {
            component.len() > 1
                || scope
                    .edges
                    .iter()
                    .any(|e| e.source == component[0] && e.target == component[0])
        })
        .collect()
}

impl Planner<'_> {
    /// `alias`, a row of `table`, is among the rows of its cycle's recursive CTE.
    pub(super) fn cycle_member(&self, cycle: usize, table: TableId, alias: &str) -> String {
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
        format!(
            "({}) IN (SELECT {} FROM c{cycle} WHERE tag = {})",
            cols.join(", "),
            slots.join(", "),
            self.member_index(cycle, table)
        )
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
    pub(super) fn cycle_ctes(&self, cycle: usize, org: &OrgKey) -> Vec<String> {
        let members = &self.cycles[cycle];
        let rows = CycleRows::new(self, members);
        let seeds = self.cycle_seeds(members, &rows, org);
        let steps: Vec<String> = self
            .scope
            .edges
            .iter()
            .filter(|e| members.contains(&e.source) && members.contains(&e.target))
            .map(|edge| self.cycle_step(cycle, edge, &rows, org))
            .collect();
        let recursive = format!(
            "c{cycle}({}) AS ({} UNION SELECT e.* FROM c{cycle} c CROSS JOIN LATERAL ({}) e)",
            rows.names().join(", "),
            seeds.join(" UNION ALL "),
            steps.join(" UNION ALL ")
        );
        let mut out = vec![recursive];
        out.extend(self.member_views(cycle));
        out
    }

    /// The rows that enter the cycle from outside: each member's branches, leaving out the
    /// edges from inside the cycle.
    fn cycle_seeds(&self, members: &[TableId], rows: &CycleRows, org: &OrgKey) -> Vec<String> {
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
                    rows.row_of(i, "t"),
                    self.catalog.table(m).from_clause()
                ));
            }
        }
        seeds
    }

    /// One step of the recursion: the rows of `edge`'s target that a row of its source,
    /// already in the CTE as `c`, brings in.
    fn cycle_step(&self, cycle: usize, edge: &Edge, rows: &CycleRows, org: &OrgKey) -> String {
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
                if let Some((type_column, value)) = &r.target_when {
                    cond.push(format!(
                        "c.{} = {}",
                        slot_name(s, type_column),
                        quote_literal(value)
                    ));
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
        if let Some(filter) = self
            .scope
            .section_of(edge.target)
            .and_then(|s| s.row_filter.as_ref())
        {
            cond.push(format!("({filter})"));
        }
        format!(
            "SELECT {} FROM {} t WHERE {}",
            rows.row_of(x, "t"),
            target.from_clause(),
            cond.join(" AND ")
        )
    }

    /// One `s<id>` per member: its rows of the cycle, with the columns its dependants join on.
    fn member_views(&self, cycle: usize) -> Vec<String> {
        let mut out = Vec::new();
        for (i, &m) in self.cycles[cycle].iter().enumerate() {
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

/// The columns of a cycle's CTE: `tag`, then every member's slots, members in order.
struct CycleRows {
    /// (member, column, type) of each slot.
    slots: Vec<(usize, String, String)>,
}

impl CycleRows {
    fn new(planner: &Planner<'_>, members: &[TableId]) -> CycleRows {
        let slots = members
            .iter()
            .enumerate()
            .flat_map(|(i, &m)| {
                let t = planner.catalog.table(m);
                planner
                    .member_slots(m)
                    .into_iter()
                    .map(move |c| (i, c.clone(), slot_type(t, &c)))
            })
            .collect();
        CycleRows { slots }
    }

    fn names(&self) -> Vec<String> {
        std::iter::once("tag".to_string())
            .chain(self.slots.iter().map(|(i, c, _)| slot_name(*i, c)))
            .collect()
    }

    /// The select list of member `i` from `alias`: its slots, NULL for the others'.
    fn row_of(&self, i: usize, alias: &str) -> String {
        let mut list = vec![format!("{i}")];
        for (j, column, type_name) in &self.slots {
            if *j == i {
                list.push(format!("{alias}.{}", ident_or_system(column)));
            } else {
                list.push(format!("NULL::{type_name}"));
            }
        }
        list.join(", ")
    }
}

/// The columns identifying a row: the primary key, else `tableoid` and `ctid`.
fn identity_columns(table: &Table) -> Vec<String> {
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

fn slot_type(table: &Table, column: &str) -> String {
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
