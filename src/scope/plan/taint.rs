//! The cross-tenant check (DESIGN §2): a row with two or more ownership references is in
//! scope only if no owner it references belongs to another org — `NOT EXISTS` such an owner,
//! an anti-join per reference, walking up the owners' own ownership by index lookups. Which
//! rows a table's references bring in at all is `branches.rs`'s.

use crate::db::quote_ident;
use crate::scope::catalog::TableId;
use crate::scope::model::{Edge, EdgeKind, Role};

use super::branches::{owner_when_condition, pairs, when_condition};
use super::{OrgKey, Planner};

impl Planner<'_> {
    /// `NOT EXISTS` an owner, through any ownership reference, that belongs to another org;
    /// `None` when the table has no ownership edges.
    pub(super) fn untainted(&self, table: TableId, alias: &str, org: &OrgKey) -> Option<String> {
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
        let owner_when = owner_when_condition(r, &p)
            .map(|w| format!(" AND {w}"))
            .unwrap_or_default();
        let foreign = self.foreign_row(edge.source, &p, org, visiting, depth + 1);
        format!(
            "{when}EXISTS (SELECT 1 FROM {} {p} WHERE {join}{owner_when} AND ({foreign}))",
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
                    // Any tenant column naming another org makes the row another org's.
                    std::iter::once(column)
                        .chain(self.scope.other_tenant_columns(table))
                        .map(|c| {
                            let c_sql = format!("{alias}.{}", quote_ident(c));
                            match self.literal_for(table, c, org) {
                                Some(lit) => format!("{c_sql} <> {lit}"),
                                None => format!("{c_sql} IS NOT NULL"),
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(" OR ")
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
}
