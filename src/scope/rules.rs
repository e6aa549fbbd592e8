//! The scope rules of DESIGN §2 and the secret-column rules of §3, as pure functions from a
//! [`Catalog`] and a [`ScopeConfig`] to a [`Scope`]: which table is the root, which tables are
//! tenant, child or referenced tables and through which foreign keys, what is skipped and why,
//! which columns are left out. No database here, so every rule is unit-tested on hand-built
//! catalogs; SQL is generated from the result by `plan.rs`.

use std::collections::{BTreeMap, HashSet};

use crate::error::{Kind, fail};
use crate::scope::catalog::{Catalog, FkId, RelKind, TableId};

/// The tool's own schema: never exported.
pub const TOOL_SCHEMA: &str = "orgexport";

/// Words that make a column a secret (DESIGN §3), matched case-insensitively anywhere in the name.
pub const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private_key",
    "encryption_key",
    "access_key",
    "hmac",
    "salt",
    "otp",
    "credential",
];

/// In a table whose own name holds a secret word (`api_keys`, `oauth_tokens`), these columns
/// hold the secret itself.
pub const SECRET_TABLE_COLUMNS: &[&str] = &["value", "key", "hash", "digest"];

/// Scope configuration (the TOML keys of the same names).
#[derive(Debug, Clone)]
pub struct ScopeConfig {
    /// `schema.table` of the root table; discovered when `None`.
    pub root_table: Option<String>,
    /// Columns `--org` is matched against, in order; empty means primary key, `slug`, `name`.
    pub lookup_columns: Vec<String>,
    pub tenant_columns: Vec<String>,
    /// `schema.table.column` of nullable FK columns to treat as ownership.
    pub follow_nullable: Vec<String>,
    /// Globs over `schema.table`.
    pub exclude_tables: Vec<String>,
    /// Globs over `schema.table.column`.
    pub exclude_columns: Vec<String>,
    /// Globs over `schema.table.column`; wins over every exclusion.
    pub allow_columns: Vec<String>,
    pub include_referenced: bool,
    /// Globs over `schema.table` (`--tables`): which sections are written. Scope still flows
    /// through every table.
    pub only_tables: Vec<String>,
}

impl Default for ScopeConfig {
    fn default() -> Self {
        ScopeConfig {
            root_table: None,
            lookup_columns: Vec::new(),
            tenant_columns: vec!["org_id".to_string()],
            follow_nullable: Vec::new(),
            exclude_tables: Vec::new(),
            exclude_columns: Vec::new(),
            allow_columns: Vec::new(),
            include_referenced: true,
            only_tables: Vec::new(),
        }
    }
}

/// How a section's rows are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The org's own row of the root table.
    Root,
    /// Rows whose tenant column equals the org key.
    Tenant { column: String },
    /// Rows owned (through a NOT NULL foreign key) by an in-scope row.
    Child,
    /// Rows of a global table referenced by an in-scope row.
    Referenced,
}

/// A foreign key along which scope flows from `source` rows to `target` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub fk: FkId,
    pub source: TableId,
    pub target: TableId,
    pub kind: EdgeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// The FK is on the target (a child) and points at its owner, the source.
    Owns,
    /// The FK is on the source and points at the target (a global row it references).
    References,
}

#[derive(Debug, Clone)]
pub struct Section {
    pub table: TableId,
    pub role: Role,
    /// Exported columns, in table order.
    pub columns: Vec<String>,
    pub excluded_columns: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Skipped {
    pub table: TableId,
    pub reason: String,
}

/// The classified catalog for one root table; independent of which org is exported.
#[derive(Debug, Clone)]
pub struct Scope {
    pub root: TableId,
    /// The root's key column: what tenant columns hold and what the lock is derived from.
    pub root_key: String,
    /// Existing columns of the root that `--org` is matched against, in order.
    pub lookup_columns: Vec<String>,
    /// Sections in archive order: root, tenant tables, child tables, referenced tables.
    pub sections: Vec<Section>,
    pub edges: Vec<Edge>,
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<String>,
    /// `--tables`: when not empty, only matching sections are written.
    pub only_tables: Vec<String>,
}

impl Scope {
    /// Whether a section is written (`--tables`).
    pub fn is_selected(&self, catalog: &Catalog, section: &Section) -> bool {
        self.only_tables.is_empty()
            || glob_matches(
                &self.only_tables,
                &catalog.table(section.table).qualified_name(),
            )
    }

    pub fn section_of(&self, table: TableId) -> Option<&Section> {
        self.sections.iter().find(|s| s.table == table)
    }

    /// How a section's rows are chosen, in words (the manifest's `scope`), and the foreign
    /// keys the rows come through (`plan`'s `via`).
    pub fn describe(&self, catalog: &Catalog, section: &Section) -> (String, Vec<String>) {
        let via: Vec<String> = self
            .incoming(section.table)
            .map(|edge| {
                let fk = &catalog.foreign_keys[edge.fk];
                format!(
                    "{}({}) -> {}({})",
                    catalog.table(fk.table).qualified_name(),
                    fk.columns.join(", "),
                    catalog.table(fk.referenced).qualified_name(),
                    fk.referenced_columns.join(", ")
                )
            })
            .collect();
        let scope = match &section.role {
            Role::Root => format!("root row ({} = org key)", self.root_key),
            Role::Tenant { column } => format!("tenant column {column}"),
            Role::Child => format!("child via {}", via.join(" or ")),
            Role::Referenced => format!("referenced via {}", via.join(" or ")),
        };
        (scope, via)
    }

    /// Edges that bring rows into `table`.
    pub fn incoming(&self, table: TableId) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.target == table)
    }
}

fn glob_matches(patterns: &[String], text: &str) -> bool {
    patterns.iter().any(|p| {
        glob::Pattern::new(p)
            .map(|pattern| pattern.matches(text))
            .unwrap_or(false)
    })
}

/// Checks the configured globs once, so that a typo is a usage error, not a silent no-match.
fn validate_globs(config: &ScopeConfig) -> anyhow::Result<()> {
    for (key, patterns) in [
        ("exclude_tables", &config.exclude_tables),
        ("exclude_columns", &config.exclude_columns),
        ("allow_columns", &config.allow_columns),
        ("tables", &config.only_tables),
    ] {
        for pattern in patterns {
            glob::Pattern::new(pattern).map_err(|e| {
                fail(
                    Kind::Usage,
                    format!("{key}: invalid pattern {pattern:?}: {e}"),
                )
            })?;
        }
    }
    Ok(())
}

/// Whether a column is left out of the archive (DESIGN §3).
pub fn is_secret_column(config: &ScopeConfig, schema: &str, table: &str, column: &str) -> bool {
    let qualified = format!("{schema}.{table}.{column}");
    if glob_matches(&config.allow_columns, &qualified) {
        return false;
    }
    if glob_matches(&config.exclude_columns, &qualified) {
        return true;
    }
    let column_lower = column.to_lowercase();
    let table_lower = table.to_lowercase();
    SECRET_WORDS.iter().any(|w| column_lower.contains(w))
        || (SECRET_WORDS.iter().any(|w| table_lower.contains(w))
            && SECRET_TABLE_COLUMNS.contains(&column_lower.as_str()))
}

/// Classifies the catalog (DESIGN §2).
pub fn classify(catalog: &Catalog, config: &ScopeConfig) -> anyhow::Result<Scope> {
    validate_globs(config)?;
    let mut warnings = Vec::new();
    let n = catalog.tables.len();

    // Tables that can take part at all: data-holding, not ours, not excluded.
    let eligible: Vec<bool> = catalog
        .tables
        .iter()
        .map(|t| {
            t.kind.holds_data()
                && t.schema != TOOL_SCHEMA
                && !glob_matches(&config.exclude_tables, &t.qualified_name())
        })
        .collect();
    let tenant_column = |id: TableId| -> Option<String> {
        let table = catalog.table(id);
        config
            .tenant_columns
            .iter()
            .find(|c| table.column(c).is_some())
            .cloned()
    };

    let (root, root_key) = find_root(catalog, config, &eligible, &tenant_column, &mut warnings)?;

    let mut role: Vec<Option<Role>> = vec![None; n];
    role[root] = Some(Role::Root);
    for id in 0..n {
        if id != root
            && eligible[id]
            && let Some(column) = tenant_column(id)
        {
            role[id] = Some(Role::Tenant { column });
        }
    }

    let follows = |fk: FkId| -> bool {
        let fk = &catalog.foreign_keys[fk];
        if catalog.fk_is_not_null(fk) {
            return true;
        }
        let table = catalog.table(fk.table);
        fk.columns.iter().any(|c| {
            config
                .follow_nullable
                .contains(&format!("{}.{}", table.qualified_name(), c))
        })
    };

    // Child tables: least fixpoint of "has an owning FK into R ∪ T ∪ C". `depth` orders them.
    let mut depth = vec![0usize; n];
    loop {
        let mut changed = false;
        for (fk_id, fk) in catalog.foreign_keys.iter().enumerate() {
            if role[fk.table].is_none()
                && eligible[fk.table]
                && role[fk.referenced].is_some()
                && role[fk.referenced] != Some(Role::Referenced)
                && follows(fk_id)
            {
                role[fk.table] = Some(Role::Child);
                depth[fk.table] = depth[fk.referenced] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let mut edges: Vec<Edge> = catalog
        .foreign_keys
        .iter()
        .enumerate()
        .filter(|(fk_id, fk)| {
            role[fk.table] == Some(Role::Child) && role[fk.referenced].is_some() && follows(*fk_id)
        })
        .map(|(fk_id, fk)| Edge {
            fk: fk_id,
            source: fk.referenced,
            target: fk.table,
            kind: EdgeKind::Owns,
        })
        .collect();

    // Children come after all their owners (longest ownership path); bounded for cycles.
    for _ in 0..n {
        let mut changed = false;
        for edge in &edges {
            if depth[edge.target] < depth[edge.source] + 1 && edge.source != edge.target {
                depth[edge.target] = depth[edge.source] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    // Referenced tables: global tables reachable upward through any FK from the scope.
    let mut referenced_but_off = Vec::new();
    loop {
        let mut changed = false;
        for fk in &catalog.foreign_keys {
            if role[fk.table].is_some() && role[fk.referenced].is_none() && eligible[fk.referenced]
            {
                if config.include_referenced {
                    role[fk.referenced] = Some(Role::Referenced);
                    changed = true;
                } else if !referenced_but_off.contains(&fk.referenced) {
                    referenced_but_off.push(fk.referenced);
                }
            }
        }
        if !changed {
            break;
        }
    }
    edges.extend(
        catalog
            .foreign_keys
            .iter()
            .enumerate()
            .filter(|(_, fk)| {
                role[fk.table].is_some() && role[fk.referenced] == Some(Role::Referenced)
            })
            .map(|(fk_id, fk)| Edge {
                fk: fk_id,
                source: fk.table,
                target: fk.referenced,
                kind: EdgeKind::References,
            }),
    );

    // Archive order: root, tenant, child (by depth), referenced; by name within each.
    let rank = |id: TableId| match role[id] {
        Some(Role::Root) => (0, 0),
        Some(Role::Tenant { .. }) => (1, 0),
        Some(Role::Child) => (2, depth[id]),
        _ => (3, 0),
    };
    let mut ordered: Vec<TableId> = (0..n).filter(|&id| role[id].is_some()).collect();
    ordered.sort_by_key(|&id| (rank(id), catalog.table(id).qualified_name()));
    let sections = ordered
        .into_iter()
        .map(|id| {
            let table = catalog.table(id);
            let (excluded, columns): (Vec<_>, Vec<_>) = table
                .columns
                .iter()
                .map(|c| c.name.clone())
                .partition(|c| is_secret_column(config, &table.schema, &table.name, c));
            Section {
                table: id,
                role: role[id].clone().expect("ordered holds only scoped tables"),
                columns,
                excluded_columns: excluded,
            }
        })
        .collect::<Vec<_>>();

    for section in &sections {
        if let Role::Tenant { column } = &section.role {
            let table = catalog.table(section.table);
            if !table.indexed_leading_columns.contains(column) {
                warnings.push(format!(
                    "{} has no index on its tenant column {column}: every export scans the whole table (CREATE INDEX ON {} ({}))",
                    table.qualified_name(),
                    crate::db::quote_qualified(&table.schema, &table.name),
                    crate::db::quote_ident(column)
                ));
            }
        }
    }

    let skipped = skipped_tables(
        catalog,
        &role,
        &eligible,
        &referenced_but_off,
        &mut warnings,
    );

    let lookup_columns = lookup_columns(catalog, config, root, &root_key);
    Ok(Scope {
        root,
        root_key,
        lookup_columns,
        sections,
        edges,
        skipped,
        warnings,
        only_tables: config.only_tables.clone(),
    })
}

type TenantColumnOf<'a> = dyn Fn(TableId) -> Option<String> + 'a;

/// The root table and its key column: configured, or the table most tenant columns reference.
fn find_root(
    catalog: &Catalog,
    config: &ScopeConfig,
    eligible: &[bool],
    tenant_column: &TenantColumnOf<'_>,
    warnings: &mut Vec<String>,
) -> anyhow::Result<(TableId, String)> {
    // (root, key column) → number of tenant-column FKs pointing there.
    let mut votes: BTreeMap<(TableId, String), usize> = BTreeMap::new();
    for fk in &catalog.foreign_keys {
        if fk.columns.len() == 1
            && eligible[fk.table]
            && tenant_column(fk.table).as_deref() == Some(fk.columns[0].as_str())
        {
            *votes
                .entry((fk.referenced, fk.referenced_columns[0].clone()))
                .or_default() += 1;
        }
    }

    let root = match &config.root_table {
        Some(name) => catalog.find(name).ok_or_else(|| {
            fail(
                Kind::Usage,
                format!("root_table = {name:?} is not a table of this database; write it as schema.table"),
            )
        })?,
        None => {
            let mut by_table: BTreeMap<TableId, usize> = BTreeMap::new();
            for ((table, _), count) in &votes {
                *by_table.entry(*table).or_default() += count;
            }
            let mut ranked: Vec<(TableId, usize)> = by_table.into_iter().collect();
            ranked.sort_by_key(|&(id, count)| (std::cmp::Reverse(count), catalog.table(id).qualified_name()));
            match ranked.as_slice() {
                [] => {
                    let candidates: Vec<String> = catalog
                        .tables
                        .iter()
                        .filter(|t| t.kind.holds_data() && t.schema != TOOL_SCHEMA)
                        .map(|t| t.qualified_name())
                        .filter(|name| {
                            ["org", "tenant", "account", "compan", "team", "workspace"]
                                .iter()
                                .any(|w| name.to_lowercase().contains(w))
                        })
                        .collect();
                    return Err(fail(
                        Kind::Usage,
                        format!(
                            "cannot find the root table: no tenant column ({}) has a foreign key to it; candidates: {}; add root_table = \"schema.table\" to orgexport.toml",
                            config.tenant_columns.join(", "),
                            if candidates.is_empty() { "none".to_string() } else { candidates.join(", ") }
                        ),
                    ));
                }
                [(only, _)] => *only,
                [(first, count), rest @ ..] => {
                    let others: Vec<String> = rest
                        .iter()
                        .map(|(id, c)| format!("{} ({c})", catalog.table(*id).qualified_name()))
                        .collect();
                    warnings.push(format!(
                        "tenant columns reference several tables; using {} ({count} foreign keys) as the root over {}; set root_table to choose",
                        catalog.table(*first).qualified_name(),
                        others.join(", ")
                    ));
                    *first
                }
            }
        }
    };

    let table = catalog.table(root);
    let voted_key = votes
        .iter()
        .filter(|((t, _), _)| *t == root)
        .max_by_key(|(_, count)| **count)
        .map(|((_, column), _)| column.clone());
    let key = match voted_key {
        Some(key) => key,
        None => match table.primary_key.as_slice() {
            [single] => single.clone(),
            _ => {
                return Err(fail(
                    Kind::Usage,
                    format!(
                        "root table {} needs a single-column primary key (or tenant columns with a foreign key to it)",
                        table.qualified_name()
                    ),
                ));
            }
        },
    };
    Ok((root, key))
}

fn lookup_columns(
    catalog: &Catalog,
    config: &ScopeConfig,
    root: TableId,
    key: &str,
) -> Vec<String> {
    let table = catalog.table(root);
    let wanted: Vec<String> = if config.lookup_columns.is_empty() {
        let mut columns = vec![key.to_string()];
        columns.extend(table.primary_key.iter().cloned());
        columns.extend(["slug".to_string(), "name".to_string()]);
        columns
    } else {
        config.lookup_columns.clone()
    };
    let mut seen = HashSet::new();
    wanted
        .into_iter()
        .filter(|c| table.column(c).is_some() && seen.insert(c.clone()))
        .collect()
}

fn skipped_tables(
    catalog: &Catalog,
    role: &[Option<Role>],
    eligible: &[bool],
    referenced_but_off: &[TableId],
    warnings: &mut Vec<String>,
) -> Vec<Skipped> {
    let mut skipped = Vec::new();
    for (id, table) in catalog.tables.iter().enumerate() {
        if role[id].is_some() {
            continue;
        }
        let reason = if table.schema == TOOL_SCHEMA {
            "the tool's own schema".to_string()
        } else if !table.kind.holds_data() {
            match table.kind {
                RelKind::View => "a view holds no data of its own",
                RelKind::MaterializedView => "a materialized view holds no data of its own",
                _ => "a foreign table holds no data of its own",
            }
            .to_string()
        } else if !eligible[id] {
            "excluded by exclude_tables".to_string()
        } else if referenced_but_off.contains(&id) {
            "referenced by in-scope rows, but include_referenced = false".to_string()
        } else {
            let nullable: Vec<String> = catalog
                .foreign_keys
                .iter()
                .filter(|fk| {
                    fk.table == id
                        && role[fk.referenced]
                            .as_ref()
                            .is_some_and(|r| *r != Role::Referenced)
                })
                .map(|fk| format!("{}.{}", table.qualified_name(), fk.columns.join(",")))
                .collect();
            if nullable.is_empty() {
                "global table that nothing in scope references".to_string()
            } else {
                warnings.push(format!(
                    "{} is reachable only through nullable foreign keys ({}) and is not exported; add follow_nullable = [\"{}\"] to export the rows that point at the org",
                    table.qualified_name(),
                    nullable.join(", "),
                    nullable[0]
                ));
                format!(
                    "reachable only through nullable foreign keys ({})",
                    nullable.join(", ")
                )
            }
        };
        skipped.push(Skipped { table: id, reason });
    }
    skipped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::catalog::{Column, ForeignKey, Table};

    /// A hand-built catalog: `table("public.tasks", &["id", "project_id!"])` — `!` means NOT NULL.
    #[derive(Default)]
    struct Builder(Catalog);

    impl Builder {
        fn table(mut self, name: &str, columns: &[&str]) -> Self {
            self.0
                .tables
                .push(make_table(name, columns, RelKind::Table));
            self
        }
        fn view(mut self, name: &str) -> Self {
            self.0.tables.push(make_table(name, &["id"], RelKind::View));
            self
        }
        fn fk(mut self, from: &str, columns: &[&str], to: &str, to_columns: &[&str]) -> Self {
            let table = self.0.find(from).unwrap();
            let referenced = self.0.find(to).unwrap();
            self.0.foreign_keys.push(ForeignKey {
                name: format!("{from}_fk"),
                table,
                columns: columns.iter().map(|s| s.to_string()).collect(),
                referenced,
                referenced_columns: to_columns.iter().map(|s| s.to_string()).collect(),
            });
            self
        }
        fn build(self) -> Catalog {
            self.0
        }
    }

    fn make_table(name: &str, columns: &[&str], kind: RelKind) -> Table {
        let (schema, name) = name.split_once('.').unwrap();
        Table {
            schema: schema.into(),
            name: name.into(),
            kind,
            columns: columns
                .iter()
                .map(|c| Column {
                    name: c.trim_end_matches('!').into(),
                    type_name: "bigint".into(),
                    type_oid: 20,
                    not_null: c.ends_with('!'),
                })
                .collect(),
            primary_key: vec!["id".into()],
            indexed_leading_columns: vec!["id".into(), "org_id".into()],
            estimated_rows: None,
        }
    }

    fn role_of(catalog: &Catalog, scope: &Scope, name: &str) -> Option<Role> {
        let id = catalog.find(name).unwrap();
        scope.section_of(id).map(|s| s.role.clone())
    }

    fn saas() -> Catalog {
        Builder::default()
            .table("public.orgs", &["id!", "slug", "name"])
            .table("public.users", &["id!", "default_org_id", "country"])
            .table("public.countries", &["id!"])
            .table("public.memberships", &["id!", "org_id!", "user_id!"])
            .table("public.projects", &["id!", "org_id!"])
            .table("public.tasks", &["id!", "project_id!", "assignee_id"])
            .table("public.comments", &["id!", "task_id!"])
            .table("public.labels", &["id!", "org_id!"])
            .table("public.task_labels", &["task_id!", "label_id!"])
            .table("public.audit", &["id!", "org_ref"])
            .table("public.global", &["id!"])
            .view("public.v")
            .table("orgexport.exports", &["id!"])
            .fk("public.users", &["default_org_id"], "public.orgs", &["id"])
            .fk("public.users", &["country"], "public.countries", &["id"])
            .fk("public.memberships", &["org_id"], "public.orgs", &["id"])
            .fk("public.memberships", &["user_id"], "public.users", &["id"])
            .fk("public.projects", &["org_id"], "public.orgs", &["id"])
            .fk("public.tasks", &["project_id"], "public.projects", &["id"])
            .fk("public.tasks", &["assignee_id"], "public.users", &["id"])
            .fk("public.comments", &["task_id"], "public.tasks", &["id"])
            .fk("public.labels", &["org_id"], "public.orgs", &["id"])
            .fk("public.task_labels", &["task_id"], "public.tasks", &["id"])
            .fk(
                "public.task_labels",
                &["label_id"],
                "public.labels",
                &["id"],
            )
            .fk("public.audit", &["org_ref"], "public.orgs", &["id"])
            .build()
    }

    #[test]
    fn classifies_root_tenant_child_and_referenced_tables() {
        let catalog = saas();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(catalog.table(scope.root).qualified_name(), "public.orgs");
        assert_eq!(scope.root_key, "id");
        assert_eq!(scope.lookup_columns, vec!["id", "slug", "name"]);
        let tenant = Some(Role::Tenant {
            column: "org_id".into(),
        });
        assert_eq!(role_of(&catalog, &scope, "public.orgs"), Some(Role::Root));
        assert_eq!(role_of(&catalog, &scope, "public.projects"), tenant);
        assert_eq!(role_of(&catalog, &scope, "public.memberships"), tenant);
        assert_eq!(role_of(&catalog, &scope, "public.tasks"), Some(Role::Child));
        assert_eq!(
            role_of(&catalog, &scope, "public.comments"),
            Some(Role::Child)
        );
        assert_eq!(
            role_of(&catalog, &scope, "public.task_labels"),
            Some(Role::Child)
        );
        assert_eq!(
            role_of(&catalog, &scope, "public.users"),
            Some(Role::Referenced)
        );
        assert_eq!(
            role_of(&catalog, &scope, "public.countries"),
            Some(Role::Referenced)
        );
        for skipped in [
            "public.audit",
            "public.global",
            "public.v",
            "orgexport.exports",
        ] {
            assert_eq!(role_of(&catalog, &scope, skipped), None, "{skipped}");
        }
    }

    #[test]
    fn join_table_is_owned_through_both_parents() {
        let catalog = saas();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        let task_labels = catalog.find("public.task_labels").unwrap();
        let owners: Vec<String> = scope
            .incoming(task_labels)
            .map(|e| catalog.table(e.source).qualified_name())
            .collect();
        assert_eq!(owners, vec!["public.tasks", "public.labels"]);
        assert!(
            scope
                .incoming(task_labels)
                .all(|e| e.kind == EdgeKind::Owns)
        );
    }

    #[test]
    fn nullable_fk_is_a_reference_and_never_pulls_the_root_in() {
        let catalog = saas();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        let users = catalog.find("public.users").unwrap();
        // users is reached from memberships and tasks; its default_org_id adds no edge to orgs.
        assert!(scope.edges.iter().all(|e| e.target != scope.root));
        let sources: Vec<String> = scope
            .incoming(users)
            .map(|e| catalog.table(e.source).qualified_name())
            .collect();
        assert_eq!(sources, vec!["public.memberships", "public.tasks"]);
        // audit points at orgs only through a nullable column: skipped with a warning.
        let audit = catalog.find("public.audit").unwrap();
        let skipped = scope.skipped.iter().find(|s| s.table == audit).unwrap();
        assert!(skipped.reason.contains("nullable"), "{}", skipped.reason);
        assert!(
            scope
                .warnings
                .iter()
                .any(|w| w.contains("follow_nullable = [\"public.audit.org_ref\"]"))
        );
    }

    #[test]
    fn follow_nullable_turns_a_reference_into_ownership() {
        let catalog = saas();
        let config = ScopeConfig {
            follow_nullable: vec!["public.audit.org_ref".into()],
            ..ScopeConfig::default()
        };
        let scope = classify(&catalog, &config).unwrap();
        assert_eq!(role_of(&catalog, &scope, "public.audit"), Some(Role::Child));
    }

    #[test]
    fn include_referenced_off_leaves_global_tables_out() {
        let catalog = saas();
        let config = ScopeConfig {
            include_referenced: false,
            ..ScopeConfig::default()
        };
        let scope = classify(&catalog, &config).unwrap();
        assert_eq!(role_of(&catalog, &scope, "public.users"), None);
        assert!(scope.edges.iter().all(|e| e.kind == EdgeKind::Owns));
    }

    #[test]
    fn excluded_tables_do_not_carry_scope() {
        let catalog = saas();
        let config = ScopeConfig {
            exclude_tables: vec!["public.tasks".into()],
            ..ScopeConfig::default()
        };
        let scope = classify(&catalog, &config).unwrap();
        assert_eq!(role_of(&catalog, &scope, "public.tasks"), None);
        // comments were owned only through tasks
        assert_eq!(role_of(&catalog, &scope, "public.comments"), None);
        // task_labels is still owned through labels
        assert_eq!(
            role_of(&catalog, &scope, "public.task_labels"),
            Some(Role::Child)
        );
    }

    #[test]
    fn root_is_the_table_most_tenant_columns_reference() {
        let catalog = Builder::default()
            .table("public.orgs", &["id!"])
            .table("public.regions", &["id!"])
            .table("public.a", &["id!", "org_id!"])
            .table("public.b", &["id!", "org_id!"])
            .table("public.c", &["id!", "org_id!"])
            .fk("public.a", &["org_id"], "public.orgs", &["id"])
            .fk("public.b", &["org_id"], "public.orgs", &["id"])
            .fk("public.c", &["org_id"], "public.regions", &["id"])
            .build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(catalog.table(scope.root).qualified_name(), "public.orgs");
        assert!(scope.warnings.iter().any(|w| w.contains("several tables")));
        // c has the tenant column: a tenant table by name, whatever its FK says
        assert!(matches!(
            role_of(&catalog, &scope, "public.c"),
            Some(Role::Tenant { .. })
        ));
    }

    #[test]
    fn no_root_is_a_usage_error_naming_candidates_and_the_fix() {
        let catalog = Builder::default()
            .table("public.organizations", &["id!"])
            .table("public.a", &["id!", "org_id!"])
            .build();
        let err = classify(&catalog, &ScopeConfig::default()).unwrap_err();
        assert_eq!(crate::error::kind_of(&err), Kind::Usage);
        let text = err.to_string();
        assert!(
            text.contains("public.organizations") && text.contains("root_table"),
            "{text}"
        );
        let config = ScopeConfig {
            root_table: Some("public.organizations".into()),
            ..ScopeConfig::default()
        };
        let scope = classify(&catalog, &config).unwrap();
        assert_eq!(scope.root_key, "id");
    }

    #[test]
    fn secret_columns_follow_the_deny_list_and_config() {
        let config = ScopeConfig::default();
        for (table, column) in [
            ("users", "password_hash"),
            ("users", "TOTP_SECRET"),
            ("users", "otp_seed"),
            ("integrations", "oauth_token"),
            ("integrations", "apiKey"),
            ("api_keys", "value"),
            ("webhook_secrets", "digest"),
            ("oauth_tokens", "hash"),
        ] {
            assert!(
                is_secret_column(&config, "public", table, column),
                "{table}.{column}"
            );
        }
        for (table, column) in [
            ("users", "email"),
            ("settings", "value"),
            ("api_keys", "label"),
        ] {
            assert!(
                !is_secret_column(&config, "public", table, column),
                "{table}.{column}"
            );
        }
        let config = ScopeConfig {
            exclude_columns: vec!["public.users.phone*".into()],
            allow_columns: vec!["public.api_keys.hash".into()],
            ..ScopeConfig::default()
        };
        assert!(is_secret_column(&config, "public", "users", "phone_number"));
        assert!(!is_secret_column(&config, "public", "api_keys", "hash"));
    }

    #[test]
    fn sections_are_ordered_root_tenant_child_referenced() {
        let catalog = saas();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        let names: Vec<String> = scope
            .sections
            .iter()
            .map(|s| catalog.table(s.table).qualified_name())
            .collect();
        assert_eq!(
            names,
            vec![
                "public.orgs",
                "public.labels",
                "public.memberships",
                "public.projects",
                "public.tasks",
                "public.comments",
                "public.task_labels",
                "public.countries",
                "public.users",
            ]
        );
    }
}
