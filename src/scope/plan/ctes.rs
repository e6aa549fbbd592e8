//! The `WITH` list of a section's queries: each table scope flows *from* is a CTE `s<id>`
//! (`NOT MATERIALIZED`, so the planner sees the tables' statistics) holding the columns its
//! dependants join on, a cycle is one recursive CTE; listed dependencies first. What each CTE
//! selects is `branches.rs`'s and, for cycles, `cycles.rs`'s.

use std::collections::HashSet;

use crate::db::quote_ident;
use crate::scope::catalog::TableId;
use crate::scope::model::EdgeKind;

use super::branches::union_of;
use super::{OrgKey, Planner};

/// A unit of the `WITH` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Cte {
    Table(TableId),
    Cycle(usize),
}

impl Planner<'_> {
    /// The `WITH` list `table`'s query needs, dependencies first.
    pub(super) fn with_clause(&self, table: TableId, org: &OrgKey) -> String {
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
    pub(super) fn needed_columns(&self, table: TableId) -> Vec<String> {
        let mut columns: Vec<String> = Vec::new();
        let mut add = |c: &String| {
            if !columns.contains(c) {
                columns.push(c.clone());
            }
        };
        for edge in self.scope.edges.iter().filter(|e| e.source == table) {
            let r = &self.scope.references[edge.reference];
            match edge.kind {
                EdgeKind::Owns => {
                    r.target_columns.iter().for_each(&mut add);
                    if let Some((type_column, _)) = &r.target_when {
                        add(type_column);
                    }
                }
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
}
