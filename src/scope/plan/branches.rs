//! Which rows of a table are in scope, as SQL conditions on a row `alias`: the root row, the
//! tenant column's typed literal, one semi-join per ownership edge, one per group of
//! references — as branches whose `UNION ALL` is the scope, each excluding the rows of the
//! earlier ones where a row must appear once (never `EXISTS … OR EXISTS …`). The cross-tenant
//! check is `taint.rs`'s, cycle members are `cycles.rs`'s, the `WITH` list the semi-joins read
//! from is `ctes.rs`'s.

use crate::db::{quote_ident, quote_literal};
use crate::scope::catalog::TableId;
use crate::scope::model::{Edge, EdgeKind, Role, Section};
use crate::scope::references::Reference;

use super::{OrgKey, Planner};

impl Planner<'_> {
    /// `alias` is a row of the org's own root row.
    pub(super) fn root_match(&self, alias: &str, org: &OrgKey) -> String {
        let key = &self.scope.root_key;
        match self.literal_for(self.scope.root, key, org) {
            Some(lit) => format!("{alias}.{} = {lit}", quote_ident(key)),
            None => "false".into(),
        }
    }

    /// `alias` (a row of a tenant table) has the org's value in its tenant column.
    pub(super) fn tenant_match(
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

    /// ` AND (alias.other IS NULL OR alias.other = <key>)` for each other tenant column of a
    /// tenant table: a row whose tenant columns name two orgs belongs to neither.
    fn tenant_columns_agree(&self, table: TableId, alias: &str, org: &OrgKey) -> String {
        self.scope
            .other_tenant_columns(table)
            .iter()
            .map(|other| {
                let col = format!("{alias}.{}", quote_ident(other));
                match self.literal_for(table, other, org) {
                    Some(lit) => format!(" AND ({col} IS NULL OR {col} = {lit})"),
                    None => format!(" AND {col} IS NULL"),
                }
            })
            .collect()
    }

    /// `(own OR (alias.column IS NOT NULL AND alias.other = <key>) …)`: the org is named by
    /// any of the tenant columns (a NULL tenant column is the ownership branches' business,
    /// which stay disjoint from this one).
    fn any_tenant_column(
        &self,
        table: TableId,
        column: &str,
        own: String,
        alias: &str,
        org: &OrgKey,
    ) -> String {
        let others: Vec<String> = self
            .scope
            .other_tenant_columns(table)
            .iter()
            .filter_map(|other| {
                self.literal_for(table, other, org)
                    .map(|lit| format!("{alias}.{} = {lit}", quote_ident(other)))
            })
            .collect();
        if others.is_empty() {
            return own;
        }
        format!(
            "({own} OR ({alias}.{} IS NOT NULL AND ({})))",
            quote_ident(column),
            others.join(" OR ")
        )
    }

    /// The in-scope condition of `table`'s rows, as branches whose union is the scope.
    /// `disjoint`: each branch excludes the rows of the earlier ones (for sections, where a
    /// row must appear once); `taint`: apply the cross-tenant check.
    pub(super) fn branches(
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
            return vec![self.cycle_member(cycle, table, alias)];
        }
        self.plain_branches(section, alias, org, disjoint, taint, &|_| true)
    }

    /// Branches of a table that is not in a cycle (or a cycle member's seeds, with `keep`
    /// leaving out the edges from inside the cycle), each narrowed by the section's `--where`
    /// predicate: rows it drops are out of scope, and so are the rows they own.
    pub(super) fn plain_branches(
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
        let branches: Vec<String> = match &section.role {
            Role::Root => vec![self.root_match(alias, org)],
            // The schema is the org's: every row of its tables.
            Role::Schema => vec!["true".into()],
            Role::Tenant {
                column,
                root_column,
            } => {
                let owned = self.owned_terms(table, alias, keep);
                let null = format!("{alias}.{} IS NULL", quote_ident(column));
                let own = self.tenant_match(table, column, root_column, alias, org);
                let own = if self.scope.other_tenant_columns(table).is_empty() {
                    own
                } else if taint {
                    own + &self.tenant_columns_agree(table, alias, org)
                } else {
                    // Candidates: a row any of whose tenant columns names the org, so that
                    // both orgs count a disputed row as cross-tenant.
                    self.any_tenant_column(table, column, own, alias, org)
                };
                std::iter::once(own)
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
                    vec!["false".into()]
                } else {
                    branches_of(&owned, disjoint)
                        .into_iter()
                        .map(with_taint)
                        .collect()
                }
            }
            Role::Referenced => {
                let groups = self.referenced_groups(table, alias, keep);
                if groups.is_empty() {
                    vec!["false".into()]
                } else {
                    branches_of(&groups, disjoint)
                }
            }
        };
        match &section.row_filter {
            Some(filter) => branches
                .into_iter()
                .map(|b| format!("{b} AND ({filter})"))
                .collect(),
            None => branches,
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
                let owner_when = owner_when_condition(r, "s")
                    .map(|w| format!(" AND {w}"))
                    .unwrap_or_default();
                let exists = format!(
                    "EXISTS (SELECT 1 FROM s{} s WHERE {join}{owner_when})",
                    edge.source
                );
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
            // Without its `SELECT`, which is plain or `DISTINCT` by use.
            let select = format!(
                "{} FROM s{} s WHERE {}{}",
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
                let set = selects
                    .iter()
                    .map(|s| format!("SELECT {s}"))
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ");
                Term {
                    exists: format!(
                        "({tuple}) IN ({})",
                        distinct_keys(&selects, self.key_bound, self.outnumbered.contains(&table))
                    ),
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
}

/// The keys of several references as one set. A section's is `… UNION ALL …`, as before:
/// the planner sizes its de-duplication at 200 keys and probes the table's index, which is
/// what a small org in a big shared table needs (3 M users, 50 referenced by 346 k rows:
/// 0.5 s, against 3.3 s for `… UNION …`, which the planner sizes at the sum of its inputs
/// and answers with a scan of the whole table). A big org pays for it instead (1 M keys over
/// a 150,000-row table: a spilling hash and 150,000 probes, about 2× the hand-written
/// `UNION` on the `shared` shape; bench/RESULTS.md, issue 21). Without a distinct-key
/// estimate for one org's subset neither form wins both; the small org is the common case.
/// So a section's keys are one `UNION` only where the org's referencing rows are estimated
/// to outnumber the table's (`outnumbered`, `export::estimate::outnumbered`): `shared`'s
/// users then cost what the hand-written SQL costs.
/// With a `bound` (a content sample), each reference's first keys only, as one `UNION`.
fn distinct_keys(selects: &[String], bound: Option<usize>, outnumbered: bool) -> String {
    match (selects, bound) {
        ([one], None) => format!("SELECT {one}"),
        ([one], Some(n)) => format!("SELECT {one} LIMIT {n}"),
        (_, Some(n)) => selects
            .iter()
            .map(|s| format!("(SELECT {s} LIMIT {n})"))
            .collect::<Vec<_>>()
            .join(" UNION "),
        (_, None) => selects
            .iter()
            .map(|s| format!("SELECT {s}"))
            .collect::<Vec<_>>()
            .join(if outnumbered {
                " UNION "
            } else {
                " UNION ALL "
            }),
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
pub(super) fn union_of(branches: &[String], select: impl Fn(&str) -> String) -> String {
    branches
        .iter()
        .map(|b| select(b))
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

pub(super) fn pairs<'r>(
    a: &'r [String],
    b: &'r [String],
) -> impl Iterator<Item = (&'r String, &'r String)> {
    a.iter().zip(b.iter())
}

/// A polymorphic reference holds for rows whose type column names its target.
pub(super) fn when_condition(r: &Reference, alias: &str) -> Option<String> {
    type_condition(r.when.as_ref(), alias)
}

/// A delegated reference holds for owner rows (`alias`, a row of its target) whose type
/// column names the owned row's table.
pub(super) fn owner_when_condition(r: &Reference, alias: &str) -> Option<String> {
    type_condition(r.target_when.as_ref(), alias)
}

fn type_condition(when: Option<&(String, String)>, alias: &str) -> Option<String> {
    when.map(|(column, value)| {
        format!("{alias}.{} = {}", quote_ident(column), quote_literal(value))
    })
}
