//! The scope rules of DESIGN §2 as pure functions from a [`Catalog`] and a [`ScopeConfig`] to
//! a [`Scope`]: the root, the tenant columns (verified by their FK target), tenant, child and
//! referenced tables and the references scope flows along, what is skipped and why, and the
//! config lines `plan` proposes. No database here, so every rule is unit-tested on hand-built
//! catalogs; SQL is generated from the result by `plan.rs`, secrets are `secrets.rs`'s.
//!
//! [`classify`] is a sequence of named steps: validate names, collect references, find the
//! tenancy (root, key, tenant columns), assign roles (R, T, C, P), build the edges, order the
//! sections, explain the rest.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::db::{quote_ident, quote_qualified};
use crate::error::{Kind, fail};
use crate::scope::catalog::{Catalog, RelKind, TableId};
use crate::scope::checks::non_null_groups;
use crate::scope::references::{self, PolymorphicConfig, PolymorphicPair, RefId, Reference};
use crate::scope::secrets;

/// The tool's own schema: never exported.
pub const TOOL_SCHEMA: &str = "orgexport";

/// Tenant column names looked for when none are configured (and their camelCase forms).
pub const TENANT_COLUMN_CANDIDATES: &[&str] = &[
    "org_id",
    "organization_id",
    "organisation_id",
    "tenant_id",
    "account_id",
    "workspace_id",
    "team_id",
];

/// Root columns `--org` is matched against after the key (those that exist).
pub const DEFAULT_LOOKUP_COLUMNS: &[&str] = &["slug", "path", "handle", "subdomain", "name"];

/// Scope configuration (the TOML keys of the same names).
#[derive(Debug, Clone)]
pub struct ScopeConfig {
    /// `schema.table` of the root table; discovered when `None`.
    pub root_table: Option<String>,
    /// Columns `--org` is matched against, in order; empty means key, `slug`, `path`, ….
    pub lookup_columns: Vec<String>,
    /// Tenant column names; empty means discover them among [`TENANT_COLUMN_CANDIDATES`].
    pub tenant_columns: Vec<String>,
    /// `schema.table.column` of nullable reference columns to treat as ownership.
    pub follow_nullable: Vec<String>,
    /// Undeclared references, `"schema.table.col -> schema.table.col"`.
    pub references: Vec<String>,
    pub polymorphic: Vec<PolymorphicConfig>,
    /// Adopt every `<name>_id` column whose name matches a table as a reference.
    pub infer_references: bool,
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
            tenant_columns: Vec::new(),
            follow_nullable: Vec::new(),
            references: Vec::new(),
            polymorphic: Vec::new(),
            infer_references: false,
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
    /// Rows whose tenant column equals the org's value of `root_column` (normally the key).
    /// Rows whose tenant column is NULL fall through to their ownership edges, if any.
    Tenant { column: String, root_column: String },
    /// Rows owned by an in-scope row and by no other org's row.
    Child,
    /// Rows of a global table referenced by an in-scope row.
    Referenced,
}

/// A reference along which scope flows from `source` rows to `target` rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub reference: RefId,
    pub source: TableId,
    pub target: TableId,
    pub kind: EdgeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    /// The reference is on the target (a child, or a tenant row with a NULL tenant column)
    /// and points at its owner, the source.
    Owns,
    /// The reference is on the source and points at the target (a global row it references).
    References,
}

#[derive(Debug, Clone)]
pub struct Section {
    pub table: TableId,
    pub role: Role,
    /// Exported columns, in table order.
    pub columns: Vec<String>,
    pub excluded_columns: Vec<String>,
    /// Exported json/jsonb columns whose secret keys are cut out.
    pub redact_json: Vec<String>,
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
    /// Tenant column names in effect, most used first.
    pub tenant_columns: Vec<String>,
    /// The root column that names an org in store paths (slug, path, …, name), if any.
    pub label_column: Option<String>,
    /// Every reference: declared, configured, polymorphic and (if enabled) inferred.
    pub references: Vec<Reference>,
    /// Sections in archive order: root, tenant tables, child tables, referenced tables.
    pub sections: Vec<Section>,
    pub edges: Vec<Edge>,
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<String>,
    /// Ready config lines `plan` proposes (undeclared references found by name).
    pub proposals: Vec<String>,
    /// `*_type`/`*_id` pairs without config; `plan` proposes them with their type values.
    pub polymorphic_pairs: Vec<PolymorphicPair>,
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

    pub fn role_of(&self, table: TableId) -> Option<&Role> {
        self.section_of(table).map(|s| &s.role)
    }

    /// How a section's rows are chosen, in words (the manifest's `scope`), and the references
    /// the rows come through (`via`).
    pub fn describe(&self, catalog: &Catalog, section: &Section) -> (String, Vec<String>) {
        let via: Vec<String> = self
            .incoming(section.table)
            .map(|edge| self.references[edge.reference].describe(catalog))
            .collect();
        let scope = match &section.role {
            Role::Root => format!("root row ({} = org key)", self.root_key),
            Role::Tenant { column, .. } if via.is_empty() => format!("tenant column {column}"),
            Role::Tenant { column, .. } => format!(
                "tenant column {column}; rows where it is NULL: owned via {}",
                via.join(" or ")
            ),
            Role::Child => format!("owned via {}", via.join(" or ")),
            Role::Referenced => format!("referenced via {}", via.join(" or ")),
        };
        (scope, via)
    }

    /// Edges that bring rows into `table`.
    pub fn incoming(&self, table: TableId) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.target == table)
    }

    /// Whether rows of `table` can be owned by two orgs at once (two or more ownership
    /// edges): such rows are exported in neither archive and counted.
    pub fn may_have_cross_tenant_rows(&self, table: TableId) -> bool {
        self.incoming(table)
            .filter(|e| e.kind == EdgeKind::Owns)
            .count()
            >= 2
    }
}

fn glob_matches(patterns: &[String], text: &str) -> bool {
    patterns.iter().any(|p| glob_match(p, text))
}

fn glob_match(pattern: &str, text: &str) -> bool {
    glob::Pattern::new(pattern).is_ok_and(|p| p.matches(text))
}

fn usage(message: String) -> anyhow::Error {
    fail(Kind::Usage, message)
}

/// Classifies the catalog (DESIGN §2).
pub fn classify(catalog: &Catalog, config: &ScopeConfig) -> anyhow::Result<Scope> {
    validate_globs(catalog, config)?;
    let mut warnings = Vec::new();
    let eligible = eligible_tables(catalog, config);
    let (references, naming) = collect_references(catalog, config)?;
    let nulls = NullFacts::new(catalog);
    let ownership = ownership_flags(catalog, config, &references, &nulls)?;
    let tenancy = find_tenancy(catalog, config, &references, &eligible)?;
    let mut roles = Roles::new(catalog.tables.len(), tenancy.root);
    assign_tenant_tables(
        catalog,
        &tenancy,
        &references,
        &eligible,
        &mut roles,
        &mut warnings,
    );
    assign_child_tables(&references, &ownership, &eligible, &mut roles);
    let referenced_but_off = assign_referenced_tables(config, &references, &eligible, &mut roles);
    let edges = build_edges(&references, &ownership, &roles, &nulls);
    let depth = ownership_depth(&edges, catalog.tables.len());
    let sections = ordered_sections(catalog, config, &roles, &depth);
    check_section_names(catalog, &sections)?;
    check_selection(catalog, config, &sections)?;
    warn_unindexed_tenant_columns(catalog, &sections, &mut warnings);
    warn_row_security(catalog, &sections, &mut warnings);
    let skipped = skipped_tables(
        catalog,
        &roles.role,
        &eligible,
        &referenced_but_off,
        &references,
        &mut warnings,
    );
    let lookup_columns = lookup_columns(catalog, config, tenancy.root, &tenancy.key)?;
    let label_column = DEFAULT_LOOKUP_COLUMNS
        .iter()
        .find(|c| catalog.table(tenancy.root).column(c).is_some())
        .map(|c| c.to_string());
    let proposals = propose_references(catalog, config, &naming);
    let polymorphic_pairs = references::polymorphic_pairs(catalog, &references);
    Ok(Scope {
        root: tenancy.root,
        root_key: tenancy.key,
        lookup_columns,
        tenant_columns: tenancy.names,
        label_column,
        references,
        sections,
        edges,
        skipped,
        warnings,
        proposals,
        polymorphic_pairs,
        only_tables: config.only_tables.clone(),
    })
}

/// Every configured glob must parse and match something: a typo is a usage error, never a
/// silent no-match that exports less.
fn validate_globs(catalog: &Catalog, config: &ScopeConfig) -> anyhow::Result<()> {
    let tables: Vec<String> = catalog
        .tables
        .iter()
        .filter(|t| t.kind.holds_data())
        .map(|t| t.qualified_name())
        .collect();
    let columns: Vec<String> = catalog
        .tables
        .iter()
        .filter(|t| t.kind.holds_data())
        .flat_map(|t| {
            t.columns
                .iter()
                .map(move |c| format!("{}.{}", t.qualified_name(), c.name))
        })
        .collect();
    for (key, patterns, names, what) in [
        ("exclude_tables", &config.exclude_tables, &tables, "table"),
        ("tables", &config.only_tables, &tables, "table"),
        (
            "exclude_columns",
            &config.exclude_columns,
            &columns,
            "column",
        ),
        ("allow_columns", &config.allow_columns, &columns, "column"),
    ] {
        for pattern in patterns {
            let parsed = glob::Pattern::new(pattern)
                .map_err(|e| usage(format!("{key}: invalid pattern {pattern:?}: {e}")))?;
            if !names.iter().any(|n| parsed.matches(n)) {
                let shape = if what == "table" {
                    "schema.table"
                } else {
                    "schema.table.column"
                };
                return Err(usage(format!(
                    "{key}: {pattern:?} matches no {what} of this database; write it as {shape} (globs allowed), see `orgexport plan`"
                )));
            }
        }
    }
    Ok(())
}

/// Tables that can take part at all: data-holding, not ours, not excluded.
fn eligible_tables(catalog: &Catalog, config: &ScopeConfig) -> Vec<bool> {
    catalog
        .tables
        .iter()
        .map(|t| {
            t.kind.holds_data()
                && t.schema != TOOL_SCHEMA
                && !glob_matches(&config.exclude_tables, &t.qualified_name())
        })
        .collect()
}

/// Declared, configured, polymorphic and (with `infer_references`) inferred references; also
/// the naming matches not adopted, for `plan` to propose.
fn collect_references(
    catalog: &Catalog,
    config: &ScopeConfig,
) -> anyhow::Result<(Vec<Reference>, Vec<Reference>)> {
    let mut all = references::declared(catalog);
    all.extend(references::configured(catalog, &config.references)?);
    all.extend(references::polymorphic(catalog, &config.polymorphic)?);
    let naming = references::naming_matches(catalog, &all);
    if config.infer_references {
        all.extend(naming.iter().cloned());
    }
    Ok((all, naming))
}

/// What the catalog says about NULLs: `attnotnull`, plus validated CHECK constraints.
struct NullFacts {
    /// Per table: groups of columns at least one of which is non-NULL (one column: NOT NULL).
    groups: Vec<Vec<Vec<String>>>,
}

impl NullFacts {
    fn new(catalog: &Catalog) -> NullFacts {
        let groups = catalog
            .tables
            .iter()
            .map(|t| {
                let mut groups: Vec<Vec<String>> = t
                    .columns
                    .iter()
                    .filter(|c| c.not_null)
                    .map(|c| vec![c.name.clone()])
                    .collect();
                groups.extend(t.checks.iter().flat_map(|c| non_null_groups(c)));
                groups
            })
            .collect();
        NullFacts { groups }
    }

    fn not_null(&self, table: TableId, column: &str) -> bool {
        self.groups[table]
            .iter()
            .any(|g| g.len() == 1 && g[0] == column)
    }

    /// Whether the column takes part in an "at least one of these is non-NULL" group.
    fn in_group(&self, table: TableId, column: &str) -> bool {
        self.groups[table]
            .iter()
            .any(|g| g.len() > 1 && g.iter().any(|c| c == column))
    }
}

/// Which references are ownership (DESIGN §2): NOT NULL columns (by attnotnull or CHECK), a
/// column of an exactly/at-least-one-of CHECK, or named by `follow_nullable`.
fn ownership_flags(
    catalog: &Catalog,
    config: &ScopeConfig,
    references: &[Reference],
    nulls: &NullFacts,
) -> anyhow::Result<Vec<bool>> {
    for entry in &config.follow_nullable {
        let named = references.iter().any(|r| {
            r.columns
                .iter()
                .any(|c| format!("{}.{c}", catalog.table(r.table).qualified_name()) == *entry)
        });
        if !named {
            return Err(usage(format!(
                "follow_nullable: {entry:?} is not a reference column of this database; write it as schema.table.column of a foreign key (or add it to references first)"
            )));
        }
    }
    Ok(references
        .iter()
        .map(|r| {
            let table = catalog.table(r.table);
            r.columns.iter().all(|c| nulls.not_null(r.table, c))
                || r.columns.iter().any(|c| nulls.in_group(r.table, c))
                || r.columns.iter().any(|c| {
                    config
                        .follow_nullable
                        .contains(&format!("{}.{c}", table.qualified_name()))
                })
        })
        .collect())
}

/// The root, its key column and the tenant column names.
struct Tenancy {
    root: TableId,
    key: String,
    /// Tenant column names, most used first.
    names: Vec<String>,
    /// Names trusted as tenant columns even without a reference (configured, or the
    /// discovered one).
    trusted: Vec<String>,
}

/// Single-column, unconditional references `(name, table) → (target, target column)`.
fn tenant_votes(
    references: &[Reference],
    eligible: &[bool],
    names: &[String],
) -> BTreeMap<(String, TableId), HashSet<TableId>> {
    let mut votes: BTreeMap<(String, TableId), HashSet<TableId>> = BTreeMap::new();
    for r in references {
        if r.columns.len() == 1
            && r.when.is_none()
            && eligible[r.table]
            && r.table != r.target
            && names.contains(&r.columns[0])
        {
            votes
                .entry((r.columns[0].clone(), r.target))
                .or_default()
                .insert(r.table);
        }
    }
    votes
}

/// `org_id`, `orgId`, … for every candidate.
fn candidate_names() -> Vec<String> {
    let mut names = Vec::new();
    for snake in TENANT_COLUMN_CANDIDATES {
        names.push(snake.to_string());
        let mut camel = String::new();
        for (i, word) in snake.split('_').enumerate() {
            if i == 0 {
                camel.push_str(word);
            } else {
                camel.push_str(&word[..1].to_uppercase());
                camel.push_str(&word[1..]);
            }
        }
        names.push(camel);
    }
    names
}

fn find_tenancy(
    catalog: &Catalog,
    config: &ScopeConfig,
    references: &[Reference],
    eligible: &[bool],
) -> anyhow::Result<Tenancy> {
    let configured = !config.tenant_columns.is_empty();
    let names = if configured {
        for name in &config.tenant_columns {
            if !catalog.tables.iter().any(|t| t.column(name).is_some()) {
                return Err(usage(format!(
                    "tenant_columns: no table has a column {name:?}; check the spelling (names are case-sensitive)"
                )));
            }
        }
        config.tenant_columns.clone()
    } else {
        candidate_names()
    };
    let votes = tenant_votes(references, eligible, &names);
    let root = match &config.root_table {
        Some(name) => references::table_by_name(catalog, name, "root_table")?,
        None => discover_root(catalog, config, &names, &votes, eligible)?,
    };
    // Names that reference the root, most tables first.
    let mut for_root: Vec<(String, usize)> = votes
        .iter()
        .filter(|((_, target), _)| *target == root)
        .map(|((name, _), tables)| (name.clone(), tables.len()))
        .collect();
    for_root.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut tenant_names: Vec<String> = for_root.iter().map(|(n, _)| n.clone()).collect();
    let trusted = if configured {
        for name in &config.tenant_columns {
            if !tenant_names.contains(name) {
                tenant_names.push(name.clone());
            }
        }
        config.tenant_columns.clone()
    } else {
        tenant_names.first().cloned().into_iter().collect()
    };
    let key = root_key(catalog, references, root, &tenant_names)?;
    Ok(Tenancy {
        root,
        key,
        names: tenant_names,
        trusted,
    })
}

/// The table most tenant-column references point at; ties and absence are usage errors
/// listing the candidates and the config lines to add.
fn discover_root(
    catalog: &Catalog,
    config: &ScopeConfig,
    names: &[String],
    votes: &BTreeMap<(String, TableId), HashSet<TableId>>,
    eligible: &[bool],
) -> anyhow::Result<TableId> {
    let mut ranked: Vec<((String, TableId), usize)> = votes
        .iter()
        .map(|(k, tables)| (k.clone(), tables.len()))
        .collect();
    ranked.sort_by(|a, b| {
        b.1.cmp(&a.1).then_with(|| {
            catalog
                .table(a.0.1)
                .qualified_name()
                .cmp(&catalog.table(b.0.1).qualified_name())
        })
    });
    match ranked.as_slice() {
        [] => Err(usage(no_tenancy_message(catalog, config, names, eligible))),
        [((name, root), count), rest @ ..] => {
            if let Some(((other_name, other), _)) =
                rest.iter().find(|((_, t), c)| *t != *root && *c == *count)
            {
                return Err(usage(format!(
                    "cannot tell the root table: {} tables reference {} through {name} and as many reference {} through {other_name}; add root_table = \"{}\" (or the other) to orgexport.toml",
                    count,
                    catalog.table(*root).qualified_name(),
                    catalog.table(*other).qualified_name(),
                    catalog.table(*root).qualified_name(),
                )));
            }
            Ok(*root)
        }
    }
}

/// "No tenant column has a foreign key": the candidates that exist, with table counts, and
/// the config lines that would make the export work.
fn no_tenancy_message(
    catalog: &Catalog,
    config: &ScopeConfig,
    names: &[String],
    eligible: &[bool],
) -> String {
    let mut counts: Vec<(String, usize)> = names
        .iter()
        .map(|name| {
            let n = catalog
                .tables
                .iter()
                .enumerate()
                .filter(|(id, t)| eligible[*id] && t.column(name).is_some())
                .count();
            (name.clone(), n)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let Some((best, _)) = counts.first() else {
        return format!(
            "cannot find the tenant column: no table has a column named {}; add tenant_columns = [\"…\"] and root_table = \"schema.table\" to orgexport.toml",
            names.join(", ")
        );
    };
    let listed: Vec<String> = counts
        .iter()
        .map(|(n, c)| format!("{n} ({c} tables)"))
        .collect();
    let guess = catalog
        .tables
        .iter()
        .position(|t| t.column(best).is_some())
        .and_then(|id| {
            let stem = best
                .strip_suffix("_id")
                .or_else(|| best.strip_suffix("Id"))
                .unwrap_or(best);
            references::table_for_stem(catalog, &catalog.table(id).schema, stem)
        });
    let root_line = match guess {
        Some(root) => format!("root_table = \"{}\"", catalog.table(root).qualified_name()),
        None => "root_table = \"schema.table\"".to_string(),
    };
    let infer = if config.infer_references || guess.is_none() {
        String::new()
    } else {
        " (or infer_references = true to adopt the foreign keys the schema does not declare)"
            .to_string()
    };
    format!(
        "cannot find the root table: no tenant column has a foreign key; candidates: {}; add tenant_columns = [\"{best}\"] and {root_line} to orgexport.toml{infer}",
        listed.join(", ")
    )
}

/// The root column tenant columns hold: the one most of their references target, else the
/// root's one-column primary key.
fn root_key(
    catalog: &Catalog,
    references: &[Reference],
    root: TableId,
    names: &[String],
) -> anyhow::Result<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in references {
        if r.target == root
            && r.columns.len() == 1
            && r.when.is_none()
            && names.contains(&r.columns[0])
        {
            *counts.entry(r.target_columns[0].as_str()).or_default() += 1;
        }
    }
    let table = catalog.table(root);
    if let [pk] = table.primary_key.as_slice()
        && (counts.is_empty() || counts.contains_key(pk.as_str()))
    {
        return Ok(pk.clone());
    }
    if let Some((column, _)) = counts.iter().max_by_key(|(_, n)| **n) {
        return Ok(column.to_string());
    }
    Err(usage(format!(
        "root table {} needs a single-column primary key (or tenant columns with a foreign key to it)",
        table.qualified_name()
    )))
}

struct Roles {
    role: Vec<Option<Role>>,
}

impl Roles {
    fn new(n: usize, root: TableId) -> Roles {
        let mut role = vec![None; n];
        role[root] = Some(Role::Root);
        Roles { role }
    }

    /// R ∪ T ∪ C: the tables whose rows an org owns.
    fn owned(&self, table: TableId) -> bool {
        matches!(
            self.role[table],
            Some(Role::Root | Role::Tenant { .. } | Role::Child)
        )
    }
}

/// T: tables with a tenant column whose reference, if any, points at the root.
fn assign_tenant_tables(
    catalog: &Catalog,
    tenancy: &Tenancy,
    references: &[Reference],
    eligible: &[bool],
    roles: &mut Roles,
    warnings: &mut Vec<String>,
) {
    for (id, table) in catalog.tables.iter().enumerate() {
        if id == tenancy.root || !eligible[id] {
            continue;
        }
        for name in &tenancy.names {
            if table.column(name).is_none() {
                continue;
            }
            let refs: Vec<&Reference> = references
                .iter()
                .filter(|r| r.table == id && r.columns == [name.clone()] && r.when.is_none())
                .collect();
            let to_root = refs.iter().find(|r| r.target == tenancy.root);
            let root_column = match (to_root, refs.first()) {
                (Some(r), _) => r.target_columns[0].clone(),
                (None, Some(other)) => {
                    warnings.push(format!(
                        "{}.{name} is named like a tenant column but references {}, not the root {}: treated as an ordinary reference",
                        table.qualified_name(),
                        catalog.table(other.target).qualified_name(),
                        catalog.table(tenancy.root).qualified_name()
                    ));
                    continue;
                }
                (None, None) if tenancy.trusted.contains(name) => {
                    warnings.push(format!(
                        "{}.{name} has no foreign key: trusted as the tenant column by its name (declare it, or add references = [\"{}.{name} -> {}.{}\"])",
                        table.qualified_name(),
                        table.qualified_name(),
                        catalog.table(tenancy.root).qualified_name(),
                        tenancy.key
                    ));
                    tenancy.key.clone()
                }
                (None, None) => continue,
            };
            roles.role[id] = Some(Role::Tenant {
                column: name.clone(),
                root_column,
            });
            break;
        }
    }
}

/// C: least fixpoint of "has an ownership reference into R ∪ T ∪ C".
fn assign_child_tables(
    references: &[Reference],
    ownership: &[bool],
    eligible: &[bool],
    roles: &mut Roles,
) {
    loop {
        let mut changed = false;
        for (id, r) in references.iter().enumerate() {
            if ownership[id]
                && roles.role[r.table].is_none()
                && eligible[r.table]
                && roles.owned(r.target)
            {
                roles.role[r.table] = Some(Role::Child);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

/// P: global tables referenced, transitively, by in-scope rows. Returns the tables that would
/// be referenced but `include_referenced = false`.
fn assign_referenced_tables(
    config: &ScopeConfig,
    references: &[Reference],
    eligible: &[bool],
    roles: &mut Roles,
) -> Vec<TableId> {
    let mut off = Vec::new();
    loop {
        let mut changed = false;
        for r in references {
            if roles.role[r.table].is_some() && roles.role[r.target].is_none() && eligible[r.target]
            {
                if config.include_referenced {
                    roles.role[r.target] = Some(Role::Referenced);
                    changed = true;
                } else if !off.contains(&r.target) {
                    off.push(r.target);
                }
            }
        }
        if !changed {
            break;
        }
    }
    off
}

/// Owns edges into C (and into T, for rows whose tenant column is NULL), References edges
/// into P.
fn build_edges(
    references: &[Reference],
    ownership: &[bool],
    roles: &Roles,
    nulls: &NullFacts,
) -> Vec<Edge> {
    let mut edges = Vec::new();
    for (id, r) in references.iter().enumerate() {
        let owns = ownership[id]
            && roles.owned(r.target)
            && match &roles.role[r.table] {
                Some(Role::Child) => true,
                // A tenant row falls through to ownership only when its tenant column can be
                // NULL; the tenant column's own reference is the tenant rule, not an edge.
                Some(Role::Tenant { column, .. }) => {
                    !nulls.not_null(r.table, column) && r.columns != [column.clone()]
                }
                _ => false,
            };
        if owns {
            edges.push(Edge {
                reference: id,
                source: r.target,
                target: r.table,
                kind: EdgeKind::Owns,
            });
        } else if roles.role[r.table].is_some() && roles.role[r.target] == Some(Role::Referenced) {
            edges.push(Edge {
                reference: id,
                source: r.table,
                target: r.target,
                kind: EdgeKind::References,
            });
        }
    }
    edges
}

/// Longest ownership path to each table (children after their owners); bounded for cycles.
fn ownership_depth(edges: &[Edge], n: usize) -> Vec<usize> {
    let mut depth = vec![0usize; n];
    for _ in 0..n {
        let mut changed = false;
        for edge in edges.iter().filter(|e| e.kind == EdgeKind::Owns) {
            if edge.source != edge.target && depth[edge.target] < depth[edge.source] + 1 {
                depth[edge.target] = depth[edge.source] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    depth
}

/// Archive order: root, tenant, child (by depth), referenced; by name within each. Secret
/// columns are left out here.
fn ordered_sections(
    catalog: &Catalog,
    config: &ScopeConfig,
    roles: &Roles,
    depth: &[usize],
) -> Vec<Section> {
    let rank = |id: TableId| match roles.role[id] {
        Some(Role::Root) => (0, 0),
        Some(Role::Tenant { .. }) => (1, depth[id]),
        Some(Role::Child) => (2, depth[id]),
        _ => (3, 0),
    };
    let mut ordered: Vec<TableId> = (0..catalog.tables.len())
        .filter(|&id| roles.role[id].is_some())
        .collect();
    ordered.sort_by_key(|&id| (rank(id), catalog.table(id).qualified_name()));
    ordered
        .into_iter()
        .map(|id| {
            let table = catalog.table(id);
            let mut section = Section {
                table: id,
                role: roles.role[id]
                    .clone()
                    .expect("ordered holds only scoped tables"),
                columns: Vec::new(),
                excluded_columns: Vec::new(),
                redact_json: Vec::new(),
            };
            for column in &table.columns {
                let qualified = format!("{}.{}", table.qualified_name(), column.name);
                let allowed = glob_matches(&config.allow_columns, &qualified);
                let secret = !allowed
                    && (glob_matches(&config.exclude_columns, &qualified)
                        || secrets::is_secret_column(&table.name, &column.name, column.text_like));
                if secret {
                    section.excluded_columns.push(column.name.clone());
                } else {
                    section.columns.push(column.name.clone());
                    if column.json_like && !allowed {
                        section.redact_json.push(column.name.clone());
                    }
                }
            }
            section
        })
        .collect()
}

/// Two sections must not share a name once unquoted (`"a.b".c` vs `a."b.c"`).
fn check_section_names(catalog: &Catalog, sections: &[Section]) -> anyhow::Result<()> {
    let mut seen: HashMap<String, TableId> = HashMap::new();
    for section in sections {
        let table = catalog.table(section.table);
        if let Some(&other) = seen.get(&table.qualified_name()) {
            let other = catalog.table(other);
            return Err(usage(format!(
                "two tables would both be section {:?} ({} and {}); rename one, or exclude it with exclude_tables",
                table.qualified_name(),
                quote_qualified(&other.schema, &other.name),
                quote_qualified(&table.schema, &table.name)
            )));
        }
        seen.insert(table.qualified_name(), section.table);
    }
    Ok(())
}

/// `--tables` globs must each select a section (a table out of scope is a usage error too).
fn check_selection(
    catalog: &Catalog,
    config: &ScopeConfig,
    sections: &[Section],
) -> anyhow::Result<()> {
    for pattern in &config.only_tables {
        let selects = sections
            .iter()
            .any(|s| glob_match(pattern, &catalog.table(s.table).qualified_name()));
        if !selects {
            return Err(usage(format!(
                "tables: {pattern:?} matches no table in the org's scope; see `orgexport plan --org …` for the sections and why other tables are not exported"
            )));
        }
    }
    Ok(())
}

fn warn_unindexed_tenant_columns(
    catalog: &Catalog,
    sections: &[Section],
    warnings: &mut Vec<String>,
) {
    for section in sections {
        if let Role::Tenant { column, .. } = &section.role {
            let table = catalog.table(section.table);
            if !table.indexed_leading_columns.contains(column) {
                warnings.push(format!(
                    "{} has no index on its tenant column {column}: every export scans the whole table (CREATE INDEX ON {} ({}))",
                    table.qualified_name(),
                    quote_qualified(&table.schema, &table.name),
                    quote_ident(column)
                ));
            }
        }
    }
}

fn warn_row_security(catalog: &Catalog, sections: &[Section], warnings: &mut Vec<String>) {
    for section in sections {
        let table = catalog.table(section.table);
        if table.row_security_blocks {
            warnings.push(row_security_message(&table.qualified_name()));
        }
    }
}

/// Why a table with row-level security cannot be exported, and the fix.
pub fn row_security_message(table: &str) -> String {
    format!(
        "{table} has row-level security that hides rows from this role: an export would be incomplete, so it fails; run as a role with BYPASSRLS (ALTER ROLE … BYPASSRLS) or as the table's owner"
    )
}

/// `--org` is matched against these columns of the root, in order.
fn lookup_columns(
    catalog: &Catalog,
    config: &ScopeConfig,
    root: TableId,
    key: &str,
) -> anyhow::Result<Vec<String>> {
    let table = catalog.table(root);
    if !config.lookup_columns.is_empty() {
        for column in &config.lookup_columns {
            if table.column(column).is_none() {
                return Err(usage(format!(
                    "lookup_columns: the root table {} has no column {column:?}; its columns: {}",
                    table.qualified_name(),
                    table
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        return Ok(config.lookup_columns.clone());
    }
    let mut wanted = vec![key.to_string()];
    wanted.extend(table.primary_key.iter().cloned());
    wanted.extend(DEFAULT_LOOKUP_COLUMNS.iter().map(|c| c.to_string()));
    let mut seen = HashSet::new();
    Ok(wanted
        .into_iter()
        .filter(|c| table.column(c).is_some() && seen.insert(c.clone()))
        .collect())
}

/// Config lines for the naming matches not adopted (DESIGN §2, undeclared references).
fn propose_references(
    catalog: &Catalog,
    config: &ScopeConfig,
    naming: &[Reference],
) -> Vec<String> {
    if config.infer_references || naming.is_empty() {
        return Vec::new();
    }
    let mut lines = vec![format!(
        "infer_references = true   # adopts the {} reference(s) below, found by name; or declare them one by one:",
        naming.len()
    )];
    lines.push("references = [".to_string());
    for r in naming {
        lines.push(format!("  {},", references::config_line(catalog, r)));
    }
    lines.push("]".to_string());
    lines
}

fn skipped_tables(
    catalog: &Catalog,
    role: &[Option<Role>],
    eligible: &[bool],
    referenced_but_off: &[TableId],
    references: &[Reference],
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
            let nullable: Vec<String> = references
                .iter()
                .filter(|r| {
                    r.table == id
                        && matches!(
                            role[r.target],
                            Some(Role::Root | Role::Tenant { .. } | Role::Child)
                        )
                })
                .map(|r| format!("{}.{}", table.qualified_name(), r.columns.join(",")))
                .collect();
            if nullable.is_empty() {
                "global table that nothing in scope references".to_string()
            } else {
                warnings.push(format!(
                    "{} is reachable only through nullable references ({}) and is not exported; add follow_nullable = [\"{}\"] to export the rows that point at the org",
                    table.qualified_name(),
                    nullable.join(", "),
                    nullable[0]
                ));
                format!(
                    "reachable only through nullable references ({})",
                    nullable.join(", ")
                )
            }
        };
        skipped.push(Skipped { table: id, reason });
    }
    skipped
}

/// A hand-built catalog for unit tests: `table("public.tasks", &["id", "project_id!"])` —
/// `!` means NOT NULL, `$` a text column (`name$`).
#[cfg(test)]
pub(crate) mod testing {
    use crate::scope::catalog::{Catalog, Column, ForeignKey, RelKind, Table};

    #[derive(Default)]
    pub struct Builder(pub Catalog);

    impl Builder {
        pub fn table(mut self, name: &str, columns: &[&str]) -> Self {
            self.0
                .tables
                .push(make_table(name, columns, RelKind::Table));
            self
        }
        pub fn view(mut self, name: &str) -> Self {
            self.0.tables.push(make_table(name, &["id"], RelKind::View));
            self
        }
        pub fn check(mut self, table: &str, definition: &str) -> Self {
            let id = self.0.find(table).unwrap();
            self.0.tables[id].checks.push(definition.to_string());
            self
        }
        pub fn fk(mut self, from: &str, columns: &[&str], to: &str, to_columns: &[&str]) -> Self {
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
        pub fn build(self) -> Catalog {
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
                .map(|c| {
                    let text = c.contains('$');
                    Column {
                        name: c.trim_end_matches(['!', '$']).into(),
                        type_name: if text { "text" } else { "bigint" }.into(),
                        type_oid: if text { 25 } else { 20 },
                        not_null: c.ends_with('!'),
                        text_like: text,
                        json_like: false,
                    }
                })
                .collect(),
            primary_key: vec!["id".into()],
            indexed_leading_columns: vec!["id".into(), "org_id".into()],
            estimated_rows: None,
            checks: Vec::new(),
            row_security_blocks: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Builder;
    use super::*;

    fn role_of(catalog: &Catalog, scope: &Scope, name: &str) -> Option<Role> {
        let id = catalog.find(name).unwrap();
        scope.section_of(id).map(|s| s.role.clone())
    }

    fn tenant(column: &str) -> Option<Role> {
        Some(Role::Tenant {
            column: column.into(),
            root_column: "id".into(),
        })
    }

    fn saas() -> Catalog {
        Builder::default()
            .table("public.orgs", &["id!", "slug$", "name$"])
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
        assert_eq!(role_of(&catalog, &scope, "public.orgs"), Some(Role::Root));
        assert_eq!(
            role_of(&catalog, &scope, "public.projects"),
            tenant("org_id")
        );
        assert_eq!(
            role_of(&catalog, &scope, "public.memberships"),
            tenant("org_id")
        );
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
        let task_labels = catalog.find("public.task_labels").unwrap();
        assert!(scope.may_have_cross_tenant_rows(task_labels));
        assert!(!scope.may_have_cross_tenant_rows(catalog.find("public.comments").unwrap()));
    }

    #[test]
    fn nullable_reference_never_pulls_the_root_in_and_follow_nullable_makes_it_ownership() {
        let catalog = saas();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert!(scope.edges.iter().all(|e| e.target != scope.root));
        let audit = catalog.find("public.audit").unwrap();
        let skipped = scope.skipped.iter().find(|s| s.table == audit).unwrap();
        assert!(skipped.reason.contains("nullable"), "{}", skipped.reason);
        assert!(
            scope
                .warnings
                .iter()
                .any(|w| w.contains("follow_nullable = [\"public.audit.org_ref\"]"))
        );
        let config = ScopeConfig {
            follow_nullable: vec!["public.audit.org_ref".into()],
            ..ScopeConfig::default()
        };
        let scope = classify(&catalog, &config).unwrap();
        assert_eq!(role_of(&catalog, &scope, "public.audit"), Some(Role::Child));
    }

    #[test]
    fn config_entries_that_name_nothing_are_usage_errors() {
        let catalog = saas();
        for config in [
            ScopeConfig {
                follow_nullable: vec!["public.audit.nope".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                exclude_tables: vec!["public.projetcs".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                only_tables: vec!["public.projetcs".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                only_tables: vec!["public.global".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                exclude_columns: vec!["public.users.nope*".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                lookup_columns: vec!["nope".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                references: vec!["public.audit.org_ref -> public.nope.id".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                tenant_columns: vec!["orgid".into()],
                ..ScopeConfig::default()
            },
            ScopeConfig {
                root_table: Some("public.org".into()),
                ..ScopeConfig::default()
            },
        ] {
            let err = classify(&catalog, &config).unwrap_err();
            assert_eq!(crate::error::kind_of(&err), Kind::Usage, "{err}");
        }
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
        assert_eq!(role_of(&catalog, &scope, "public.comments"), None);
        assert_eq!(
            role_of(&catalog, &scope, "public.task_labels"),
            Some(Role::Child)
        );
    }

    #[test]
    fn same_named_column_pointing_elsewhere_is_not_a_tenant_column() {
        let catalog = Builder::default()
            .table("public.organizations", &["id!"])
            .table("public.customer_organizations", &["id!", "org_id!"])
            .table("public.projects", &["id!", "org_id!"])
            .table("public.members", &["id!", "org_id!"])
            .table("public.contacts", &["id!", "org_id!"])
            .fk(
                "public.customer_organizations",
                &["org_id"],
                "public.organizations",
                &["id"],
            )
            .fk(
                "public.projects",
                &["org_id"],
                "public.organizations",
                &["id"],
            )
            .fk(
                "public.members",
                &["org_id"],
                "public.organizations",
                &["id"],
            )
            .fk(
                "public.contacts",
                &["org_id"],
                "public.customer_organizations",
                &["id"],
            )
            .build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(
            catalog.table(scope.root).qualified_name(),
            "public.organizations"
        );
        // contacts hangs off customer_organizations through a NOT NULL reference: a child.
        assert_eq!(
            role_of(&catalog, &scope, "public.contacts"),
            Some(Role::Child)
        );
        assert!(
            scope
                .warnings
                .iter()
                .any(|w| w.contains("public.contacts.org_id is named like a tenant column"))
        );
    }

    #[test]
    fn zero_config_finds_camel_case_and_british_tenant_columns() {
        let catalog = Builder::default()
            .table("public.Organisation", &["id!", "slug$"])
            .table("public.Project", &["id!", "organisationId!"])
            .table("public.Member", &["id!", "organisationId!"])
            .table("public.Other", &["id!", "accountId"])
            .table("public.Account", &["id!"])
            .fk(
                "public.Project",
                &["organisationId"],
                "public.Organisation",
                &["id"],
            )
            .fk(
                "public.Member",
                &["organisationId"],
                "public.Organisation",
                &["id"],
            )
            .fk("public.Other", &["accountId"], "public.Account", &["id"])
            .build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(
            catalog.table(scope.root).qualified_name(),
            "public.Organisation"
        );
        assert_eq!(scope.tenant_columns, vec!["organisationId"]);
        assert_eq!(
            role_of(&catalog, &scope, "public.Project"),
            tenant("organisationId")
        );
        // accountId references another table: not a tenant column of this root.
        assert_eq!(role_of(&catalog, &scope, "public.Other"), None);
    }

    #[test]
    fn ambiguous_or_missing_tenancy_lists_candidates_and_config_lines() {
        let catalog = Builder::default()
            .table("public.accounts", &["id!"])
            .table("public.projects", &["id!", "account_id!"])
            .table("public.issues", &["id!", "account_id!", "project_id!"])
            .build();
        let err = classify(&catalog, &ScopeConfig::default()).unwrap_err();
        assert_eq!(crate::error::kind_of(&err), Kind::Usage);
        let text = err.to_string();
        assert!(text.contains("account_id (2 tables)"), "{text}");
        assert!(text.contains("tenant_columns = [\"account_id\"]"), "{text}");
        assert!(text.contains("root_table = \"public.accounts\""), "{text}");
        assert!(text.contains("infer_references = true"), "{text}");

        // Rails without foreign keys: infer_references is all it takes.
        let config = ScopeConfig {
            infer_references: true,
            ..ScopeConfig::default()
        };
        let scope = classify(&catalog, &config).unwrap();
        assert_eq!(
            catalog.table(scope.root).qualified_name(),
            "public.accounts"
        );
        assert_eq!(
            role_of(&catalog, &scope, "public.issues"),
            tenant("account_id")
        );

        let tie = Builder::default()
            .table("public.orgs", &["id!"])
            .table("public.teams", &["id!"])
            .table("public.a", &["id!", "org_id!"])
            .table("public.b", &["id!", "team_id!"])
            .fk("public.a", &["org_id"], "public.orgs", &["id"])
            .fk("public.b", &["team_id"], "public.teams", &["id"])
            .build();
        let text = classify(&tie, &ScopeConfig::default())
            .unwrap_err()
            .to_string();
        assert!(text.contains("root_table"), "{text}");
    }

    #[test]
    fn check_constraints_make_ownership_and_null_tenant_rows_fall_through() {
        let catalog = Builder::default()
            .table("public.orgs", &["id!"])
            .table("public.groups", &["id!", "org_id!"])
            .table("public.projects", &["id!", "org_id!"])
            .table(
                "public.issues",
                &["id!", "org_id", "group_id", "project_id"],
            )
            .table("public.notes", &["id!", "issue_id"])
            .table("public.loose", &["id!", "issue_id"])
            .check(
                "public.issues",
                "CHECK ((num_nonnulls(org_id, group_id, project_id) = 1))",
            )
            .check("public.notes", "CHECK ((issue_id IS NOT NULL))")
            .fk("public.groups", &["org_id"], "public.orgs", &["id"])
            .fk("public.projects", &["org_id"], "public.orgs", &["id"])
            .fk("public.issues", &["org_id"], "public.orgs", &["id"])
            .fk("public.issues", &["group_id"], "public.groups", &["id"])
            .fk("public.issues", &["project_id"], "public.projects", &["id"])
            .fk("public.notes", &["issue_id"], "public.issues", &["id"])
            .fk("public.loose", &["issue_id"], "public.issues", &["id"])
            .build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(role_of(&catalog, &scope, "public.issues"), tenant("org_id"));
        let issues = catalog.find("public.issues").unwrap();
        let owners: Vec<String> = scope
            .incoming(issues)
            .map(|e| catalog.table(e.source).qualified_name())
            .collect();
        assert_eq!(owners, vec!["public.groups", "public.projects"]);
        assert_eq!(role_of(&catalog, &scope, "public.notes"), Some(Role::Child));
        assert_eq!(role_of(&catalog, &scope, "public.loose"), None);
    }

    #[test]
    fn configured_and_polymorphic_references_carry_scope() {
        let catalog = Builder::default()
            .table("public.accounts", &["id!"])
            .table("public.issues", &["id!", "account_id!"])
            .table("public.merge_requests", &["id!", "account_id!"])
            .table("public.notes", &["id!", "noteable_type$!", "noteable_id!"])
            .table("public.events", &["id!", "target_id!"])
            .fk("public.issues", &["account_id"], "public.accounts", &["id"])
            .fk(
                "public.merge_requests",
                &["account_id"],
                "public.accounts",
                &["id"],
            )
            .build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(role_of(&catalog, &scope, "public.notes"), None);
        assert_eq!(scope.polymorphic_pairs.len(), 1);
        let config = ScopeConfig {
            references: vec!["public.events.target_id -> public.issues.id".into()],
            polymorphic: vec![PolymorphicConfig {
                column: "public.notes.noteable_id".into(),
                type_column: "noteable_type".into(),
                targets: [
                    ("Issue".to_string(), "public.issues".to_string()),
                    (
                        "MergeRequest".to_string(),
                        "public.merge_requests".to_string(),
                    ),
                ]
                .into(),
            }],
            ..ScopeConfig::default()
        };
        let scope = classify(&catalog, &config).unwrap();
        assert_eq!(role_of(&catalog, &scope, "public.notes"), Some(Role::Child));
        assert_eq!(
            role_of(&catalog, &scope, "public.events"),
            Some(Role::Child)
        );
        let notes = catalog.find("public.notes").unwrap();
        let section = scope.section_of(notes).unwrap();
        let (description, via) = scope.describe(&catalog, section);
        assert_eq!(via.len(), 2);
        assert!(
            description.contains("where noteable_type = 'Issue' [polymorphic]"),
            "{description}"
        );
    }

    #[test]
    fn naming_matches_are_proposed_and_adopted_on_request() {
        let catalog = Builder::default()
            .table("public.orgs", &["id!"])
            .table("public.projects", &["id!", "org_id!"])
            .table("public.categories", &["id!"])
            .table("public.tasks", &["id!", "project_id!", "category_id"])
            .fk("public.projects", &["org_id"], "public.orgs", &["id"])
            .build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(role_of(&catalog, &scope, "public.tasks"), None);
        let text = scope.proposals.join("\n");
        assert!(
            text.contains("\"public.tasks.project_id -> public.projects.id\""),
            "{text}"
        );
        assert!(
            text.contains("\"public.tasks.category_id -> public.categories.id\""),
            "{text}"
        );
        let config = ScopeConfig {
            infer_references: true,
            ..ScopeConfig::default()
        };
        let scope = classify(&catalog, &config).unwrap();
        assert_eq!(role_of(&catalog, &scope, "public.tasks"), Some(Role::Child));
        assert_eq!(
            role_of(&catalog, &scope, "public.categories"),
            Some(Role::Referenced)
        );
    }

    #[test]
    fn secret_columns_are_excluded_by_words_type_and_config() {
        let catalog = Builder::default()
            .table(
                "public.orgs",
                &["id!", "name$", "api_token$", "token_count"],
            )
            .build();
        let config = ScopeConfig {
            root_table: Some("public.orgs".into()),
            ..ScopeConfig::default()
        };
        let scope = classify(&catalog, &config).unwrap();
        let section = &scope.sections[0];
        assert_eq!(section.excluded_columns, vec!["api_token"]);
        assert_eq!(section.columns, vec!["id", "name", "token_count"]);
        let config = ScopeConfig {
            root_table: Some("public.orgs".into()),
            exclude_columns: vec!["public.orgs.name".into()],
            allow_columns: vec!["public.orgs.api_token".into()],
            ..ScopeConfig::default()
        };
        let scope = classify(&catalog, &config).unwrap();
        assert_eq!(scope.sections[0].excluded_columns, vec!["name"]);
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

    #[test]
    fn colliding_section_names_are_an_error() {
        let catalog = Builder::default()
            .table("public.orgs", &["id!"])
            .table("a.b.c", &["id!", "org_id!"])
            .table("a.b.c", &["id!", "org_id!"])
            .build();
        let mut catalog = catalog;
        catalog.tables[2].schema = "a.b".into();
        catalog.tables[2].name = "c".into();
        catalog.tables[1].schema = "a".into();
        catalog.tables[1].name = "b.c".into();
        let config = ScopeConfig {
            tenant_columns: vec!["org_id".into()],
            root_table: Some("public.orgs".into()),
            ..ScopeConfig::default()
        };
        let text = classify(&catalog, &config).unwrap_err().to_string();
        assert!(text.contains("\"a.b.c\""), "{text}");
    }
}
