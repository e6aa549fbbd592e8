//! Tenancy (DESIGN §2): which table is the root, which column of it tenant columns hold (the
//! key), which column names are tenant columns — verified by the foreign keys they carry, not
//! by their names alone — and which root columns `--org` is matched against. When nothing
//! says, the usage error lists the candidates and the config lines to add. Which tables *are*
//! tenant tables is `ownership.rs`'s role assignment.

use std::collections::{BTreeMap, HashSet};

use crate::scope::catalog::{Catalog, TableId};
use crate::scope::config::{DEFAULT_LOOKUP_COLUMNS, ScopeConfig, TENANT_COLUMN_CANDIDATES, usage};
use crate::scope::references::{self, Reference};

/// The root, its key column and the tenant column names.
pub(super) struct Tenancy {
    pub(super) root: TableId,
    pub(super) key: String,
    /// Tenant column names, most used first.
    pub(super) names: Vec<String>,
    /// Names trusted as tenant columns even without a reference (configured, or the
    /// discovered one).
    pub(super) trusted: Vec<String>,
    /// How the root was guessed, when it was not configured: every message that depends on
    /// it says so (`root guessed from 14 tables' workspaceId`).
    pub(super) guess: Option<String>,
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

/// The root (configured or discovered), its key and the tenant column names in effect.
pub(super) fn find_tenancy(
    catalog: &Catalog,
    config: &ScopeConfig,
    references: &[Reference],
    eligible: &[bool],
) -> anyhow::Result<Tenancy> {
    if config.tenant_columns.is_empty()
        && config.root_table.is_none()
        && let Some(found) = crate::scope::citus::tenancy(catalog, references)
    {
        // As if configured, but every message says it was found, not chosen.
        let config = ScopeConfig {
            tenant_columns: found.columns,
            root_table: Some(catalog.table(found.root).qualified_name()),
            ..config.clone()
        };
        let mut tenancy = find_tenancy(catalog, &config, references, eligible)?;
        tenancy.guess = Some(found.guess);
        return Ok(tenancy);
    }
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
    let mut names = names;
    let mut votes = tenant_votes(references, eligible, &names);
    let (root, guess) = match &config.root_table {
        Some(name) => (
            references::table_by_name(catalog, name, "root_table")?,
            None,
        ),
        None if configured && votes.is_empty() => {
            let (root, guess) = root_named_by_column(catalog, config, &names, eligible)?;
            (root, Some(guess))
        }
        None => {
            let found = discover_root(catalog, config, &names, &votes, references, eligible)?;
            if let Some(column) = &found.via_column
                && !names.contains(column)
            {
                names.push(column.clone());
                votes = tenant_votes(references, eligible, &names);
            }
            (found.root, Some(found.guess))
        }
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
        guess,
    })
}

/// A discovered root: the table, how it was found, and the column
/// it was reached through when that is not a tenant candidate name (`organizer_id`).
struct Discovered {
    root: TableId,
    guess: String,
    via_column: Option<String>,
}

/// The root by hierarchy (DESIGN §2): every table tenant-column references point at is a
/// candidate; each candidate is followed upward through its own references to the top of
/// the ownership hierarchy (`Workspace.organizationId → Organization`; `teams.organizer_id
/// NOT NULL → organizers`), and the top the most references lead to is the root. Two tops
/// with as many references are a usage error listing both and the config line to add.
fn discover_root(
    catalog: &Catalog,
    config: &ScopeConfig,
    names: &[String],
    votes: &BTreeMap<(String, TableId), HashSet<TableId>>,
    references: &[Reference],
    eligible: &[bool],
) -> anyhow::Result<Discovered> {
    if votes.is_empty() {
        return Err(usage(no_tenancy_message(catalog, config, names, eligible)));
    }
    let mut count: BTreeMap<TableId, usize> = BTreeMap::new();
    for ((_, target), tables) in votes {
        *count.entry(*target).or_default() += tables.len();
    }
    // Each candidate's top, the path to it, and the non-candidate column that led there.
    let mut tops: BTreeMap<TableId, (usize, Vec<TableId>, Option<String>)> = BTreeMap::new();
    for (&candidate, &n) in &count {
        let (top, path, via) = climb(catalog, names, &count, references, eligible, candidate);
        let entry = tops.entry(top).or_insert((0, Vec::new(), None));
        entry.0 += n;
        entry.1.extend(path.into_iter().filter(|&t| t != top));
        if via.is_some() {
            entry.2 = via;
        }
    }
    let name = |t: TableId| catalog.table(t).qualified_name();
    let mut ranked: Vec<(TableId, usize)> = tops.iter().map(|(t, (n, _, _))| (*t, *n)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| name(a.0).cmp(&name(b.0))));
    let (root, n) = ranked[0];
    if let Some((other, _)) = ranked.get(1).filter(|(_, m)| *m == n) {
        return Err(usage(format!(
            "cannot tell the root table: {n} tenant-column references lead to {} and as many to {}, and neither belongs to the other; add root_table = \"{}\" (or the other) to orgexport.toml",
            name(root),
            name(*other),
            name(root),
        )));
    }
    let (_, below_root, via_column) = tops.remove(&root).expect("ranked from tops");
    let mut leading: Vec<(&String, usize)> = votes
        .iter()
        .map(|((column, _), tables)| (column, tables.len()))
        .collect();
    leading.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let (column, tables) = leading[0];
    let mut guess = match tables {
        1 => format!("root guessed from 1 table's {column}"),
        n => format!("root guessed from {n} tables' {column}"),
    };
    if !below_root.is_empty() {
        let below: Vec<String> = below_root.iter().map(|&t| name(t)).collect();
        guess.push_str(&format!(
            ", up the hierarchy from {} to {}",
            below.join(", "),
            name(root)
        ));
    }
    Ok(Discovered {
        root,
        guess,
        via_column,
    })
}

/// Follows a candidate root upward: through a single-column reference named like a tenant
/// column to another candidate, or through a NOT NULL reference to a table that at least as
/// many tables reference NOT NULL as the candidate has tenant references (an owner, not a
/// lookup table such as `plans`). Stops at a table with no such reference, or at a cycle.
fn climb(
    catalog: &Catalog,
    names: &[String],
    count: &BTreeMap<TableId, usize>,
    references: &[Reference],
    eligible: &[bool],
    start: TableId,
) -> (TableId, Vec<TableId>, Option<String>) {
    // The climbing candidate's own reference does not count as evidence for its owner.
    let not_null_refs_to = |target: TableId, at_start: TableId| {
        references
            .iter()
            .filter(|r| r.target == target && r.columns.len() == 1 && r.when.is_none())
            .filter(|r| eligible[r.table] && r.table != target && r.table != at_start)
            .filter(|r| {
                catalog
                    .table(r.table)
                    .column(&r.columns[0])
                    .is_some_and(|c| c.not_null)
            })
            .map(|r| r.table)
            .collect::<HashSet<_>>()
            .len()
    };
    let mut path = vec![start];
    let mut via = None;
    let mut at = start;
    loop {
        let weight = count.get(&at).copied().unwrap_or(0);
        let up = references
            .iter()
            .filter(|r| r.table == at && r.target != at && r.columns.len() == 1)
            .filter(|r| r.when.is_none() && eligible[r.target] && !path.contains(&r.target))
            .find_map(|r| {
                let column = &r.columns[0];
                if names.contains(column) && count.contains_key(&r.target) {
                    return Some((r.target, None));
                }
                let not_null = catalog.table(at).column(column).is_some_and(|c| c.not_null);
                (not_null
                    && weight > 0
                    && !names_a_top_level_tenant(&catalog.table(at).name)
                    && not_null_refs_to(r.target, at) >= weight)
                    .then(|| (r.target, Some(column.clone())))
            });
        match up {
            Some((target, column)) => {
                if column.is_some() {
                    via = column;
                }
                path.push(target);
                at = target;
            }
            None => return (at, path, via),
        }
    }
}

/// Tenants that nothing owns: an organisation's NOT NULL `ownerUserId → User` (Documenso)
/// names who owns it, not a tenant above it, so the climb stops at tables named like these
/// (`Organisation`, `organizations`, `accounts`; not `teams` or `workspaces`, which may
/// belong to one).
fn names_a_top_level_tenant(table: &str) -> bool {
    const TOP: &[&str] = &["org", "organization", "organisation", "tenant", "account"];
    let lower = table.to_lowercase();
    let singular = lower.strip_suffix('s').unwrap_or(&lower);
    TOP.contains(&singular)
}

/// `tenant_columns` without a foreign key: the root is the table the first column's name
/// points at (`account_id` → `accounts`), by the naming rule of `infer_references`.
fn root_named_by_column(
    catalog: &Catalog,
    config: &ScopeConfig,
    names: &[String],
    eligible: &[bool],
) -> anyhow::Result<(TableId, String)> {
    for name in names {
        let stem = name
            .strip_suffix("_id")
            .or_else(|| name.strip_suffix("Id"))
            .unwrap_or(name);
        let schemas = catalog
            .tables
            .iter()
            .enumerate()
            .filter(|(id, t)| eligible[*id] && t.column(name).is_some())
            .map(|(_, t)| t.schema.as_str());
        for schema in schemas {
            if let Some(root) = references::table_for_stem(catalog, schema, stem) {
                return Ok((
                    root,
                    format!(
                        "root guessed from the name of tenant column {name} (no foreign key says so)"
                    ),
                ));
            }
        }
    }
    Err(usage(no_tenancy_message(catalog, config, names, eligible)))
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

/// `--org` is matched against these columns of the root, in order.
pub(super) fn lookup_columns(
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

#[cfg(test)]
mod tests {
    use crate::error::Kind;
    use crate::scope::config::ScopeConfig;
    use crate::scope::model::Role;
    use crate::scope::rules::classify;
    use crate::scope::testing::{Builder, role_of, tenant};

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
    fn the_root_is_the_top_of_the_candidates_hierarchy() {
        // Prisma: Organization → Workspace (renamed Project), most tables on workspaceId.
        let mut b = Builder::default()
            .table("public.Organization", &["id!", "slug$"])
            .table("public.Workspace", &["id!", "organizationId!"])
            .table("public.Plan", &["id!"])
            .fk(
                "public.Workspace",
                &["organizationId"],
                "public.Organization",
                &["id"],
            );
        for i in 0..5 {
            let name = format!("public.T{i}");
            b = b.table(&name, &["id!", "workspaceId!"]).fk(
                &name,
                &["workspaceId"],
                "public.Workspace",
                &["id"],
            );
        }
        let catalog = b.build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(
            catalog.table(scope.root).qualified_name(),
            "public.Organization"
        );
        let guess = scope.root_guess.clone().unwrap();
        assert!(guess.contains("5 tables' workspaceId"), "{guess}");
        assert!(scope.warnings[0].contains("root_table = \"public.Organization\""));
        assert_eq!(
            role_of(&catalog, &scope, "public.Workspace"),
            tenant("organizationId")
        );
        assert_eq!(role_of(&catalog, &scope, "public.T3"), Some(Role::Child));

        // Organisation and Team, as many tables on each: Team belongs to Organisation.
        let catalog = Builder::default()
            .table("public.Organisation", &["id!"])
            .table("public.Team", &["id!", "organisationId!"])
            .table("public.A", &["id!", "teamId!"])
            .table("public.B", &["id!", "organisationId!"])
            .fk(
                "public.Team",
                &["organisationId"],
                "public.Organisation",
                &["id"],
            )
            .fk("public.A", &["teamId"], "public.Team", &["id"])
            .fk(
                "public.B",
                &["organisationId"],
                "public.Organisation",
                &["id"],
            )
            .build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(
            catalog.table(scope.root).qualified_name(),
            "public.Organisation"
        );
    }

    #[test]
    fn an_organisation_does_not_climb_to_its_owner_user() {
        // Documenso: Organisation.ownerUserId NOT NULL → User, which every table references.
        let mut b = Builder::default()
            .table("public.User", &["id!"])
            .table("public.Organisation", &["id!", "ownerUserId!"])
            .table("public.Team", &["id!", "organisationId!"])
            .fk(
                "public.Organisation",
                &["ownerUserId"],
                "public.User",
                &["id"],
            )
            .fk(
                "public.Team",
                &["organisationId"],
                "public.Organisation",
                &["id"],
            );
        for i in 0..4 {
            let name = format!("public.T{i}");
            b = b
                .table(&name, &["id!", "teamId!", "userId!"])
                .fk(&name, &["teamId"], "public.Team", &["id"])
                .fk(&name, &["userId"], "public.User", &["id"]);
        }
        let catalog = b.build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(
            catalog.table(scope.root).qualified_name(),
            "public.Organisation"
        );
    }

    #[test]
    fn a_child_named_like_a_tenant_climbs_to_its_owner_but_not_to_a_lookup_table() {
        // pretix: teams.organizer_id NOT NULL → organizers, which many tables own rows of.
        let catalog = Builder::default()
            .table("public.organizers", &["id!", "slug$"])
            .table("public.plans", &["id!"])
            .table("public.teams", &["id!", "organizer_id!", "plan_id!"])
            .table("public.team_members", &["id!", "team_id!"])
            .table("public.team_invites", &["id!", "team_id!"])
            .table("public.events", &["id!", "organizer_id!"])
            .table("public.gift_cards", &["id!", "organizer_id!"])
            .fk(
                "public.teams",
                &["organizer_id"],
                "public.organizers",
                &["id"],
            )
            .fk("public.teams", &["plan_id"], "public.plans", &["id"])
            .fk("public.team_members", &["team_id"], "public.teams", &["id"])
            .fk("public.team_invites", &["team_id"], "public.teams", &["id"])
            .fk(
                "public.events",
                &["organizer_id"],
                "public.organizers",
                &["id"],
            )
            .fk(
                "public.gift_cards",
                &["organizer_id"],
                "public.organizers",
                &["id"],
            )
            .build();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        assert_eq!(
            catalog.table(scope.root).qualified_name(),
            "public.organizers"
        );
        assert_eq!(
            role_of(&catalog, &scope, "public.events"),
            tenant("organizer_id")
        );
        assert_eq!(
            role_of(&catalog, &scope, "public.teams"),
            tenant("organizer_id")
        );
        assert_eq!(
            role_of(&catalog, &scope, "public.team_members"),
            Some(Role::Child)
        );
        // Only teams references plans: a lookup table, not an owner.
        assert_eq!(
            role_of(&catalog, &scope, "public.plans"),
            Some(Role::Referenced)
        );
    }

    #[test]
    fn tenant_columns_alone_name_the_root_without_a_foreign_key() {
        let catalog = Builder::default()
            .table("public.accounts", &["id!", "name$"])
            .table("public.projects", &["id!", "account_id!"])
            .table("public.issues", &["id!", "account_id!"])
            .build();
        let config = ScopeConfig {
            tenant_columns: vec!["account_id".into()],
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
        assert!(
            scope.warnings[0].contains("name of tenant column account_id"),
            "{:?}",
            scope.warnings
        );
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
}
