//! Ownership (DESIGN §2): which references own their rows (NOT NULL by `attnotnull` or CHECK,
//! or named by `follow_nullable`), the roles of the tables — T (tenant), C (child, a fixpoint
//! over ownership), P (referenced) — the edges scope flows along, and how deep each table sits
//! below its owners. The root and the tenant columns come from `tenancy.rs`; putting the
//! tables in archive order is `rules.rs`'s.

use crate::scope::catalog::{Catalog, TableId};
use crate::scope::checks::non_null_groups;
use crate::scope::config::{ScopeConfig, usage};
use crate::scope::model::{Edge, EdgeKind, Role};
use crate::scope::references::{Origin, Reference};
use crate::scope::tenancy::Tenancy;

/// What the catalog says about NULLs: `attnotnull`, plus validated CHECK constraints.
pub(super) struct NullFacts {
    /// Per table: groups of columns at least one of which is non-NULL (one column: NOT NULL).
    groups: Vec<Vec<Vec<String>>>,
}

impl NullFacts {
    pub(super) fn new(catalog: &Catalog) -> NullFacts {
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
pub(super) fn ownership_flags(
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
            // A polymorphic pair (configured, or adopted from the org's values) is a Rails
            // `belongs_to … polymorphic: true` or a Django GenericForeignKey: ownership whatever
            // the column's nullability; a row whose pair is NULL has no owner along it.
            r.origin == Origin::Polymorphic
                || r.columns.iter().all(|c| nulls.not_null(r.table, c))
                || r.columns.iter().any(|c| nulls.in_group(r.table, c))
                || r.columns.iter().any(|c| {
                    config
                        .follow_nullable
                        .contains(&format!("{}.{c}", table.qualified_name()))
                })
        })
        .collect())
}

/// The role of each table; `None` while it has none.
#[derive(Clone)]
pub(super) struct Roles {
    pub(super) role: Vec<Option<Role>>,
}

impl Roles {
    pub(super) fn new(n: usize, root: TableId) -> Roles {
        let mut role = vec![None; n];
        role[root] = Some(Role::Root);
        Roles { role }
    }

    /// R ∪ T ∪ C: the tables whose rows an org owns.
    fn owned(&self, table: TableId) -> bool {
        matches!(
            self.role[table],
            Some(Role::Root | Role::Tenant { .. } | Role::Child | Role::Schema)
        )
    }
}

/// T: tables with a tenant column whose reference, if any, points at the root. Returns, per
/// tenant table, its *other* tenant columns that reference the root's key too: a row whose
/// tenant columns name two orgs belongs to neither (DESIGN §2, `cross_tenant_rows`).
pub(super) fn assign_tenant_tables(
    catalog: &Catalog,
    tenancy: &Tenancy,
    references: &[Reference],
    eligible: &[bool],
    roles: &mut Roles,
    warnings: &mut Vec<String>,
) -> Vec<(TableId, Vec<String>)> {
    let mut others = Vec::new();
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
                (None, None) if composite_tenant_reference(tenancy, references, id, name) => {
                    tenancy.key.clone()
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
            let also: Vec<String> = tenancy
                .names
                .iter()
                .filter(|other| *other != name && root_column == tenancy.key)
                .filter(|other| {
                    references.iter().any(|r| {
                        r.table == id
                            && r.columns == [(*other).clone()]
                            && r.when.is_none()
                            && r.target == tenancy.root
                            && r.target_columns == [tenancy.key.clone()]
                    })
                })
                .cloned()
                .collect();
            if !also.is_empty() {
                others.push((id, also));
            }
            roles.role[id] = Some(Role::Tenant {
                column: name.clone(),
                root_column,
            });
            break;
        }
    }
    others
}

/// A composite reference that carries the tenant column to its target's tenant column (the
/// Citus shape `(org_id, x_id) → x (org_id, id)`) counts as the column's foreign key (DESIGN
/// §2): the column is verified, not merely trusted by its name.
fn composite_tenant_reference(
    tenancy: &Tenancy,
    references: &[Reference],
    table: TableId,
    name: &str,
) -> bool {
    references.iter().any(|r| {
        r.table == table
            && r.when.is_none()
            && r.columns.len() > 1
            && r.columns.iter().zip(&r.target_columns).any(|(c, t)| {
                c == name
                    && (tenancy.names.contains(t)
                        || (r.target == tenancy.root && *t == tenancy.key))
            })
    })
}

/// C: least fixpoint of "has an ownership reference into R ∪ T ∪ C".
pub(super) fn assign_child_tables(
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

/// Rails delegated types (DESIGN §2): a polymorphic pair on a row the org owns
/// (`accounts.accountable_type/_id`, `entries.entryable_type/_id`) that names a table with no
/// owner of its own makes the pair's row the owner of the row it names — an Account owns its
/// Depository, an Entry its Transaction — so the named rows are owned (C), not merely
/// referenced, and their own children follow (`transfers → transactions`). The named table
/// qualifies only when nothing else claims it: not the root, no tenant-named column, not
/// owned by a reference of its own, and no plain reference into it from a row that is owned
/// without it (that is a global table the org's rows point at — `trades.security_id →
/// securities` — whose rows other orgs share; such a table is found by classifying once
/// without it, and left shared). Each pair adopted adds a reversed [`Origin::Delegated`]
/// reference (ownership) and stops being ownership itself, so the two rows do not own each
/// other. A row named by two orgs' pairs is a cross-tenant row like any other: in neither
/// archive. Which class names the org's rows hold matters here, so a restore adopts the
/// pairs the archive records, not every class name a pair could hold.
pub(super) fn delegate_pairs(
    catalog: &Catalog,
    tenancy: &Tenancy,
    references: &mut Vec<Reference>,
    ownership: &mut Vec<bool>,
    eligible: &[bool],
    roles: &mut Roles,
) {
    let plain: Vec<&Reference> = references
        .iter()
        .filter(|r| r.when.is_none() && r.target_when.is_none())
        .collect();
    let delegating = |blocked: &[TableId]| {
        let mut trial = Delegation {
            references: references.clone(),
            ownership: ownership.clone(),
            roles: roles.clone(),
        };
        trial.run(catalog, tenancy, eligible, blocked);
        trial
    };
    let mut blocked: Vec<TableId> = Vec::new();
    loop {
        let trial = delegating(&blocked);
        // A shared table: rows owned without it point at it.
        let shared: Vec<TableId> = trial
            .targets()
            .into_iter()
            .filter(|&x| {
                let without = delegating(&[blocked.as_slice(), &[x]].concat());
                plain
                    .iter()
                    .any(|p| p.target == x && p.table != x && without.roles.owned(p.table))
            })
            .collect();
        if shared.is_empty() {
            *references = trial.references;
            *ownership = trial.ownership;
            *roles = trial.roles;
            return;
        }
        blocked.extend(shared);
    }
}

/// One classification with delegated types adopted (but for the `blocked` targets).
struct Delegation {
    references: Vec<Reference>,
    ownership: Vec<bool>,
    roles: Roles,
}

impl Delegation {
    fn run(
        &mut self,
        catalog: &Catalog,
        tenancy: &Tenancy,
        eligible: &[bool],
        blocked: &[TableId],
    ) {
        loop {
            let delegating: Vec<usize> = (0..self.references.len())
                .filter(|&i| {
                    let r = &self.references[i];
                    !blocked.contains(&r.target)
                        && delegates(catalog, tenancy, r, eligible, &self.roles)
                })
                .collect();
            if delegating.is_empty() {
                return;
            }
            for i in delegating {
                let pair = self.references[i].clone();
                self.ownership[i] = false;
                self.roles.role[pair.target] = Some(Role::Child);
                self.references.push(Reference {
                    table: pair.target,
                    columns: pair.target_columns,
                    target: pair.table,
                    target_columns: pair.columns,
                    when: None,
                    target_when: pair.when,
                    origin: Origin::Delegated,
                });
                self.ownership.push(true);
            }
            assign_child_tables(&self.references, &self.ownership, eligible, &mut self.roles);
        }
    }

    fn targets(&self) -> Vec<TableId> {
        let mut out: Vec<TableId> = self
            .references
            .iter()
            .filter(|r| r.origin == Origin::Delegated)
            .map(|r| r.table)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Whether `r` is a polymorphic pair on an owned row naming a table nothing owns yet, which
/// may be its delegated type (see [`delegate_pairs`]).
fn delegates(
    catalog: &Catalog,
    tenancy: &Tenancy,
    r: &Reference,
    eligible: &[bool],
    roles: &Roles,
) -> bool {
    let target = catalog.table(r.target);
    r.origin == Origin::Polymorphic
        && r.when.is_some()
        && roles.owned(r.table)
        && roles.role[r.target].is_none()
        && eligible[r.target]
        && r.target != r.table
        && r.target != tenancy.root
        && tenancy.names.iter().all(|n| target.column(n).is_none())
}

/// P: global tables referenced, transitively, by in-scope rows. Returns the tables that would
/// be referenced but `include_referenced = false`.
pub(super) fn assign_referenced_tables(
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
pub(super) fn build_edges(
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
pub(super) fn ownership_depth(edges: &[Edge], n: usize) -> Vec<usize> {
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

#[cfg(test)]
mod tests {
    use crate::scope::config::ScopeConfig;
    use crate::scope::model::Role;
    use crate::scope::references::PolymorphicConfig;
    use crate::scope::rules::classify;
    use crate::scope::testing::{Builder, role_of, saas, tenant};

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

    /// maybe-finance's shape: `accounts` (tenant) and `entries` (child) are delegated types
    /// whose pairs name ownerless rows; `addresses` belongs to what it names; `securities`
    /// is a global table owned rows point at by a plain reference; `notes` has a tenant
    /// column of its own.
    fn delegated_catalog() -> crate::scope::catalog::Catalog {
        Builder::default()
            .table("public.families", &["id!"])
            .table(
                "public.accounts",
                &["id!", "family_id!", "accountable_type$", "accountable_id"],
            )
            .table("public.depositories", &["id!"])
            .table("public.properties", &["id!"])
            .table(
                "public.addresses",
                &["id!", "addressable_type$", "addressable_id"],
            )
            .table(
                "public.entries",
                &["id!", "account_id!", "entryable_type$", "entryable_id"],
            )
            .table("public.transactions", &["id!"])
            .table("public.trades", &["id!", "security_id!"])
            .table("public.securities", &["id!"])
            .table("public.transfers", &["id!", "inflow_transaction_id!"])
            .table("public.notes", &["id!", "family_id!"])
            .table(
                "public.pins",
                &["id!", "family_id!", "pinned_type$", "pinned_id"],
            )
            .fk(
                "public.accounts",
                &["family_id"],
                "public.families",
                &["id"],
            )
            .fk("public.notes", &["family_id"], "public.families", &["id"])
            .fk("public.pins", &["family_id"], "public.families", &["id"])
            .fk(
                "public.entries",
                &["account_id"],
                "public.accounts",
                &["id"],
            )
            .fk(
                "public.trades",
                &["security_id"],
                "public.securities",
                &["id"],
            )
            .fk(
                "public.transfers",
                &["inflow_transaction_id"],
                "public.transactions",
                &["id"],
            )
            .build()
    }

    fn pair(column: &str, type_column: &str, targets: &[(&str, &str)]) -> PolymorphicConfig {
        PolymorphicConfig {
            column: column.into(),
            type_column: type_column.into(),
            targets: targets
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn delegated_types_own_the_ownerless_rows_their_pairs_name() {
        let catalog = delegated_catalog();
        let config = ScopeConfig {
            polymorphic: vec![
                pair(
                    "public.accounts.accountable_id",
                    "accountable_type",
                    &[
                        ("Depository", "public.depositories"),
                        ("Property", "public.properties"),
                    ],
                ),
                pair(
                    "public.addresses.addressable_id",
                    "addressable_type",
                    &[("Property", "public.properties")],
                ),
                pair(
                    "public.entries.entryable_id",
                    "entryable_type",
                    &[
                        ("Transaction", "public.transactions"),
                        ("Trade", "public.trades"),
                    ],
                ),
                pair(
                    "public.pins.pinned_id",
                    "pinned_type",
                    &[("Note", "public.notes"), ("Security", "public.securities")],
                ),
            ],
            tenant_columns: vec!["family_id".into()],
            ..ScopeConfig::default()
        };
        let scope = classify(&catalog, &config).unwrap();
        let role = |t: &str| role_of(&catalog, &scope, t);
        for owned in [
            "public.depositories",
            "public.properties",
            "public.transactions",
            "public.trades",
            // Their own children follow: through a declared key, through a pair.
            "public.transfers",
            "public.addresses",
        ] {
            assert_eq!(role(owned), Some(Role::Child), "{owned}");
        }
        // A global table owned rows point at by a plain reference stays shared, even where
        // a pair names it too; a tenant table stays a tenant table.
        assert_eq!(role("public.securities"), Some(Role::Referenced));
        assert_eq!(role("public.notes"), tenant("family_id"));
        let depositories = catalog.find("public.depositories").unwrap();
        let owners: Vec<String> = scope
            .incoming(depositories)
            .map(|e| scope.references[e.reference].describe(&catalog))
            .collect();
        assert_eq!(
            owners,
            [
                "public.accounts(accountable_id) -> public.depositories(id) where accountable_type = 'Depository' [delegated type: owns its target]"
            ]
        );
        // The pairs reversed are not ownership the other way: an entry is owned by its
        // account alone, not also by the transaction it names (no cycle, no second owner).
        let entries = catalog.find("public.entries").unwrap();
        assert_eq!(scope.incoming(entries).count(), 1);
        assert!(!scope.may_have_cross_tenant_rows(entries));
        // An address is owned by the property its pair names (a plain polymorphic owner).
        let addresses = catalog.find("public.addresses").unwrap();
        let via: Vec<String> = scope
            .incoming(addresses)
            .map(|e| catalog.table(e.source).qualified_name())
            .collect();
        assert_eq!(via, ["public.properties"]);
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
}
