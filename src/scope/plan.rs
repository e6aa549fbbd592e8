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
//!   A referenced table is one semi-join over the `UNION ALL` of every referencing key (a
//!   `UNION` where the org's referencing rows outnumber the table's: `with_outnumbered`).
//! - Rows with two or more ownership references carry a taint check: `NOT EXISTS` a
//!   referenced owner that belongs to another org (an anti-join per reference, walking up
//!   the owners' own ownership by index lookups). Such rows are exported in neither org and
//!   counted (`cross_tenant_rows`).
//! - A cycle (a self-referencing tree, tables owning each other) is one recursive CTE `c<n>`
//!   over the component, keyed by the join columns and each member's primary key (or
//!   `tableoid, ctid`), following each edge by a lateral index lookup.
//!
//! Here: the org key, the lookup queries, and each section's count and COPY. The conditions
//! are `plan/branches.rs`'s, the cross-tenant check `plan/taint.rs`'s, the `WITH` list
//! `plan/ctes.rs`'s, cycles `plan/cycles.rs`'s.

mod branches;
mod ctes;
mod cycles;
mod taint;

use std::collections::{HashMap, HashSet};

use crate::db::{quote_ident, quote_literal};
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::columns::{ExportedColumn, RenderMode, ValueKind};
use crate::scope::model::{Role, Scope, Section};

use branches::union_of;

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
    /// The mode `copy` selects for: how each COPY row becomes the row's JSON object.
    pub mode: RenderMode,
    /// The exported columns, in COPY order.
    pub columns: Vec<ExportedColumn>,
    /// The pieces every query over the section's rows is made of — the `WITH` list, the
    /// `FROM` item and the branch conditions on `t` — kept so that `plan`'s count-and-sample
    /// query does not generate them a second time per section.
    rows: RowParts,
}

#[derive(Debug, Clone)]
struct RowParts {
    with: String,
    from: String,
    branches: Vec<String>,
}

impl SectionSql {
    /// `plan`'s count and content sample of the section in one pass: `count(*)` beside one
    /// `aggregates` expression per sampled column over `r` — the section's rows with
    /// `columns` as `c0, c1, …` and their row number `rn_` (`array_agg(…) FILTER (WHERE
    /// r.rn_ <= 200)`). One statement planned once: a separate sample query per table nearly
    /// doubled `plan`'s time on a thousand-table catalog.
    pub fn count_and_sample(&self, columns: &str, aggregates: &str) -> String {
        let RowParts {
            with,
            from,
            branches,
        } = &self.rows;
        let rows = union_of(branches, |cond| {
            format!("SELECT {columns} FROM {from} t WHERE {cond}")
        });
        format!(
            "{with}SELECT count(*), {aggregates} FROM \
             (SELECT r0.*, row_number() OVER () AS rn_ FROM ({rows}) r0) r"
        )
    }

    /// The exported columns as the row renderer takes them: (name, type OID, redact json).
    pub fn typed_columns(&self) -> Vec<(&str, u32, bool)> {
        self.columns
            .iter()
            .map(|c| (c.name.as_str(), c.type_oid, c.redact_json))
            .collect()
    }
}

/// SQL generation for one scope and one org.
#[derive(Clone)]
pub struct Planner<'a> {
    catalog: &'a Catalog,
    scope: &'a Scope,
    /// Cyclic strongly connected components, each a list of tables.
    cycles: Vec<Vec<TableId>>,
    cycle_of: HashMap<TableId, usize>,
    /// A subject or window export: per section, the condition that a row is among the
    /// selected ones (`scope::narrowing`), applied to the section's own rows only.
    within: HashMap<TableId, String>,
    /// A sample's bound on the keys each reference brings into a referenced table (its
    /// first `n` referencing rows); `None` for sections, which take every key.
    key_bound: Option<usize>,
    /// Referenced tables that this org's referencing rows outnumber
    /// (`export::estimate::outnumbered`): their keys are one `UNION`, not `UNION ALL`.
    outnumbered: HashSet<TableId>,
}

impl<'a> Planner<'a> {
    pub fn new(catalog: &'a Catalog, scope: &'a Scope) -> Planner<'a> {
        let cycles = cycles::cyclic_components(scope);
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
            within: HashMap::new(),
            key_bound: None,
            outnumbered: HashSet::new(),
        }
    }

    /// This planner with the keys of several references into each of `tables` as one
    /// `UNION` (see `branches::distinct_keys`).
    pub fn with_outnumbered(mut self, tables: HashSet<TableId>) -> Planner<'a> {
        self.outnumbered = tables;
        self
    }

    /// This planner with each section's rows narrowed to the selected ones (`--subject`,
    /// `--since`/`--until`). Cross-tenant rows are then not counted: the count compares
    /// with the whole org's candidates.
    pub fn narrowed(mut self, within: Vec<(TableId, String)>) -> Planner<'a> {
        self.within = within.into_iter().collect();
        self
    }

    /// The scope this planner generates SQL for.
    pub fn scope(&self) -> &'a Scope {
        self.scope
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
        let columns: Vec<ExportedColumn> = section
            .columns
            .iter()
            .map(|c| ExportedColumn {
                name: c.clone(),
                type_oid: table.column(c).map_or(0, |col| col.type_oid),
                type_name: table
                    .column(c)
                    .map(|col| col.type_name.clone())
                    .unwrap_or_default(),
                dimensions: table.column(c).map_or(0, |col| col.dimensions),
                redact_json: section.redact_json.contains(c),
                value_expr: section
                    .key_values
                    .as_ref()
                    .and_then(|kv| kv.value_expr("t", c)),
            })
            .collect();
        let select_list = select_list(&columns, mode);
        let mut branches = self.branches(section.table, "t", org, true, true);
        if let Some(within) = self.within.get(&section.table) {
            branches = branches
                .iter()
                .map(|b| format!("{b} AND {within}"))
                .collect();
        }
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
        SectionSql {
            name: table.qualified_name(),
            count: format!("{with}SELECT count(*) FROM ({count_rows}) r"),
            candidates: self.candidates_sql(section.table, &with, &from, org),
            copy: format!("COPY ({with}{select}) TO STDOUT (FORMAT binary)"),
            mode,
            columns,
            rows: RowParts {
                with,
                from,
                branches,
            },
        }
    }

    /// `WITH … SELECT <exprs> FROM (<the section's rows>) LIMIT <limit>`: expressions over
    /// some of the org's in-scope rows of a section (content sampling). A referenced table's
    /// rows are those the first `keys` rows of each reference point at: a subset of the
    /// section's (bounded sets only ever stand where they bring rows in), found without
    /// de-duplicating every key first — on 1 M referencing rows the unbounded sample took as
    /// long as the section itself (bench/RESULTS.md, issue 21).
    pub fn rows_sql(
        &self,
        section: &Section,
        org: &OrgKey,
        exprs: &str,
        (limit, keys): (usize, usize),
    ) -> String {
        let bounded = Planner {
            key_bound: Some(keys),
            ..self.clone()
        };
        let (with, rows) = bounded.rows_of(section.table, org, exprs);
        format!("{with}SELECT * FROM ({rows}) r LIMIT {limit}")
    }

    /// `WITH … SELECT DISTINCT v FROM (<expr AS v over the section's rows>) … LIMIT <limit>`:
    /// the distinct non-null values of an expression over the org's in-scope rows only (a
    /// polymorphic pair's type values; never another org's).
    pub fn distinct_sql(&self, table: TableId, org: &OrgKey, expr: &str, limit: usize) -> String {
        let (with, rows) = self.rows_of(table, org, &format!("{expr} AS v"));
        format!(
            "{with}SELECT DISTINCT r.v FROM ({rows}) r WHERE r.v IS NOT NULL ORDER BY 1 LIMIT {limit}"
        )
    }

    /// `WITH … SELECT v, count(*) … GROUP BY v`: each value of an expression over the org's
    /// in-scope rows with its number of rows (a settings table's keys).
    pub fn grouped_sql(&self, table: TableId, org: &OrgKey, expr: &str) -> String {
        let (with, rows) = self.rows_of(table, org, &format!("{expr} AS v"));
        format!("{with}SELECT r.v, count(*) FROM ({rows}) r WHERE r.v IS NOT NULL GROUP BY r.v")
    }

    /// `WITH … SELECT <expr> FROM …`: every in-scope row's value, to be used as a subquery
    /// (`x IN (…)`).
    pub fn all_rows_sql(&self, table: TableId, org: &OrgKey, expr: &str) -> String {
        let (with, rows) = self.rows_of(table, org, expr);
        format!("{with}{rows}")
    }

    fn rows_of(&self, table_id: TableId, org: &OrgKey, exprs: &str) -> (String, String) {
        let table = self.catalog.table(table_id);
        let with = self.with_clause(table_id, org);
        let branches = self.branches(table_id, "t", org, true, true);
        let from = table.from_clause();
        let rows = union_of(&branches, |cond| {
            format!("SELECT {exprs} FROM {from} t WHERE {cond}")
        });
        (with, rows)
    }

    /// The count of the rows before the taint check, when the table can have cross-tenant
    /// rows at all.
    fn candidates_sql(
        &self,
        table: TableId,
        with: &str,
        from: &str,
        org: &OrgKey,
    ) -> Option<String> {
        (self.within.is_empty() && self.scope.may_have_cross_tenant_rows(table)).then(|| {
            let branches = self.branches(table, "t", org, true, false);
            format!(
                "{with}SELECT count(*) FROM ({}) r",
                union_of(&branches, |cond| format!(
                    "SELECT 1 FROM {from} t WHERE {cond}"
                ))
            )
        })
    }

    fn literal_for(&self, table: TableId, column: &str, org: &OrgKey) -> Option<String> {
        let t = self.catalog.table(table);
        org.literal(&t.column(column).expect("column exists").type_name)
    }
}

/// `character varying(255)` → `varchar`, `character(2)` → `bpchar`, `numeric(10,2)` →
/// `numeric`: the type without its modifier.
pub(crate) fn without_typmod(type_name: &str) -> String {
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

/// The COPY's select list: the columns as they are for server rendering, in binary or as
/// `to_json` text (by their value kind) for client rendering; `NULL` when every column is a
/// secret.
fn select_list(columns: &[ExportedColumn], mode: RenderMode) -> String {
    let list = match mode {
        RenderMode::Server => columns
            .iter()
            .map(|c| match &c.value_expr {
                Some(expr) => format!("{expr} AS {}", quote_ident(&c.name)),
                None => format!("t.{}", quote_ident(&c.name)),
            })
            .collect::<Vec<_>>()
            .join(", "),
        RenderMode::Client => columns
            .iter()
            .map(|c| {
                let plain = format!("t.{}", quote_ident(&c.name));
                ValueKind::of(c.type_oid).select_expr(c.value_expr.as_deref().unwrap_or(&plain))
            })
            .collect::<Vec<_>>()
            .join(", "),
    };
    if list.is_empty() {
        "NULL".to_string()
    } else {
        list
    }
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

    #[test]
    fn several_references_are_one_key_set_and_a_sample_reads_bounded_keys() {
        let catalog = Builder::default()
            .table("public.orgs", &["id!"])
            .table("public.users", &["id!", "name"])
            .table(
                "public.tasks",
                &["id!", "org_id!", "assignee_id", "reviewer_id"],
            )
            .fk("public.tasks", &["org_id"], "public.orgs", &["id"])
            .fk("public.tasks", &["assignee_id"], "public.users", &["id"])
            .fk("public.tasks", &["reviewer_id"], "public.users", &["id"])
            .build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        let sql = sql_of(&catalog, &scope, "public.users");
        // Index probes for the keys: what a small org in a big shared table needs.
        let keys = r#"(t."id") IN (SELECT s."assignee_id" FROM s2 s WHERE s."assignee_id" IS NOT NULL UNION ALL SELECT s."reviewer_id" FROM s2 s WHERE s."reviewer_id" IS NOT NULL)"#;
        assert!(sql.copy.contains(keys), "{}", sql.copy);
        let planner = Planner::new(&catalog, &scope);
        let section = scope
            .section_of(catalog.find("public.users").unwrap())
            .unwrap();
        let sample = planner.rows_sql(section, &org(&["bigint"]), "t.name", (200, 2000));
        let bounded = r#"(t."id") IN ((SELECT s."assignee_id" FROM s2 s WHERE s."assignee_id" IS NOT NULL LIMIT 2000) UNION (SELECT s."reviewer_id" FROM s2 s WHERE s."reviewer_id" IS NOT NULL LIMIT 2000))) r LIMIT 200"#;
        assert!(sample.ends_with(bounded), "{sample}");
        // The bound is the sample's only: the planner's sections still read every key.
        assert_eq!(sql_of(&catalog, &scope, "public.users").copy, sql.copy);
    }
}
