//! What classification produces: the [`Scope`] of one root table — its sections with their
//! [`Role`]s, the [`Edge`]s scope flows along, what is skipped and why — and the questions the
//! later stages ask of it. Plain values; how they are computed is `rules.rs`'s, how they become
//! SQL is `plan.rs`'s.

use crate::scope::catalog::{Catalog, TableId};
use crate::scope::config::{ScopeConfig, glob_matches};
use crate::scope::key_values::KeyValues;
use crate::scope::references::{Origin, PolymorphicPair, RefId, Reference};
use crate::scope::tenant_schema::SchemaTenancy;

/// The tool's own schema: never exported.
pub const TOOL_SCHEMA: &str = "orgexport";

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
    /// Every row: a table of the org's own schema (schema-per-tenant, `schemas.rs`).
    Schema,
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
    /// Why each excluded column is out: `(column, reason)` — `name`, `config: …`,
    /// `generated from …`, `content: …`.
    pub exclusion_reasons: Vec<(String, String)>,
    /// Exported columns whose secret json (or xml) keys are cut out: json, jsonb, xml,
    /// composite and text values (text may hold JSON).
    pub redact_json: Vec<String>,
    /// A key/value settings table: the values of the org's rows whose key is a secret are
    /// redacted (the keys are read inside the snapshot).
    pub key_values: Option<KeyValues>,
    /// `--where`: a predicate on the row `t` that narrows the section's scope (and so the
    /// rows its rows own); operator SQL, checked to be one expression (`filters.rs`).
    pub row_filter: Option<String>,
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
    /// How the root was guessed (`root guessed from 14 tables' workspaceId`); `None` when
    /// `root_table` names it. Messages that depend on the root say so, with the fix.
    pub root_guess: Option<String>,
    /// Tenant tables with a second tenant column that also holds the root's key: a row whose
    /// tenant columns disagree belongs to neither org (`cross_tenant_rows`).
    pub other_tenant_columns: Vec<(TableId, Vec<String>)>,
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
    /// `allow_columns`: never excluded, by name or by content.
    pub allow_columns: Vec<String>,
    /// `--tables`: when not empty, only matching sections are written.
    pub only_tables: Vec<String>,
    /// The configuration classified with, polymorphic pairs adopted for an org included:
    /// what [`crate::scope::rules::adopt_pairs`] extends.
    pub config: ScopeConfig,
    /// `polymorphic = […]` lines adopted from the org's own type values
    /// (`infer_references = true`); `plan` shows them.
    pub adopted: Vec<String>,
    /// Schema-per-tenant: the tenant schemas, and the one classified for. Then there is no
    /// root row: `root` is a table of that schema, `root_key` is empty, and every org-owned
    /// section is [`Role::Schema`].
    pub schemas: Option<SchemaTenancy>,
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
            Role::Schema => format!(
                "every row: the tenant's schema {}",
                catalog.table(section.table).schema
            ),
        };
        (scope, via)
    }

    /// Edges that bring rows into `table`.
    pub fn incoming(&self, table: TableId) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.target == table)
    }

    /// Whether rows of `table` can be owned by two orgs at once (two or more ownership
    /// edges, two tenant columns, or a delegated type — several owner rows' pairs may name
    /// one row): such rows are exported in neither archive and counted.
    pub fn may_have_cross_tenant_rows(&self, table: TableId) -> bool {
        let owns = || self.incoming(table).filter(|e| e.kind == EdgeKind::Owns);
        !self.other_tenant_columns(table).is_empty()
            || owns().count() >= 2
            || owns().any(|e| self.references[e.reference].origin == Origin::Delegated)
    }

    /// A tenant table's other tenant columns that hold the root's key too.
    pub fn other_tenant_columns(&self, table: TableId) -> &[String] {
        self.other_tenant_columns
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(&[], |(_, columns)| columns.as_slice())
    }

    /// `; root guessed from …; set root_table = "…" in orgexport.toml to choose` when the root
    /// was guessed, for every message that depends on it; empty otherwise.
    pub fn root_guess_note(&self, catalog: &Catalog) -> String {
        match &self.root_guess {
            Some(guess) => format!(
                " ({guess}; set root_table = {} or another table in orgexport.toml to choose)",
                toml_string(&catalog.table(self.root).qualified_name())
            ),
            None => String::new(),
        }
    }
}

/// A TOML basic string (JSON's escapes are TOML's): config lines stay pasteable whatever the
/// table is called.
pub fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// Why a table with row-level security cannot be exported, and the fix.
pub fn row_security_message(table: &str) -> String {
    format!(
        "{table} has row-level security that hides rows from this role: an export would be incomplete, so it fails; run as a role with BYPASSRLS (ALTER ROLE … BYPASSRLS) or as the table's owner"
    )
}
