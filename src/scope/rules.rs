//! The scope rules of DESIGN §2 as pure functions from a [`Catalog`] and a [`ScopeConfig`] to
//! a [`Scope`]. No database here, so every rule is unit-tested on hand-built catalogs; SQL is
//! generated from the result by `plan.rs`, secrets are `secrets.rs`'s.
//!
//! [`classify`] is a sequence of named steps: validate names (`config.rs`), collect
//! references, find the tenancy — root, key, tenant columns (`tenancy.rs`) — assign roles R, T,
//! C, P and build the edges (`ownership.rs`), then, here: order the sections with their
//! exported columns, check and warn about them, explain what is skipped and propose the config
//! lines `plan` prints.

use std::collections::{HashMap, HashSet};

use crate::db::{quote_ident, quote_qualified};
use crate::scope::catalog::{Catalog, Column, RelKind, TableId};
use crate::scope::config::{
    DEFAULT_LOOKUP_COLUMNS, ScopeConfig, glob_match, glob_matches, usage, validate_globs,
};
use crate::scope::filters;
use crate::scope::model::{
    Role, Scope, Section, Skipped, TOOL_SCHEMA, row_security_message, toml_string,
};
use crate::scope::ownership::{
    NullFacts, Roles, assign_child_tables, assign_referenced_tables, assign_tenant_tables,
    build_edges, delegate_pairs, ownership_depth, ownership_flags,
};
use crate::scope::references::{self, PolymorphicConfig, Reference};
use crate::scope::schemas::{self, SchemaTenancy};
use crate::scope::tenancy::{Tenancy, find_tenancy, lookup_columns};
use crate::scope::{key_values, polymorphism, secrets};

/// Classifies the catalog (DESIGN §2).
pub fn classify(catalog: &Catalog, config: &ScopeConfig) -> anyhow::Result<Scope> {
    validate_globs(catalog, config)?;
    let mut warnings = Vec::new();
    let schemas = schemas::find(catalog, config)?;
    let mut eligible = eligible_tables(catalog, config);
    if let Some(tenancy) = &schemas {
        tenancy.leave_out_others(catalog, &mut eligible);
    }
    let (mut references, naming) = collect_references(catalog, config)?;
    let nulls = NullFacts::new(catalog);
    let mut ownership = ownership_flags(catalog, config, &references, &nulls)?;
    let (tenancy, mut roles, other_tenant_columns) = owned_tables(
        catalog,
        config,
        schemas.as_ref(),
        &references,
        &eligible,
        &mut warnings,
    )?;
    assign_child_tables(&references, &ownership, &eligible, &mut roles);
    delegate_pairs(
        catalog,
        &tenancy,
        &mut references,
        &mut ownership,
        &eligible,
        &mut roles,
    );
    let referenced_but_off = assign_referenced_tables(config, &references, &eligible, &mut roles);
    let edges = build_edges(&references, &ownership, &roles, &nulls);
    let depth = ownership_depth(&edges, catalog.tables.len());
    let keys = reference_columns(&references, &naming);
    let sections = ordered_sections(catalog, config, &roles, &depth, &keys);
    check_section_names(catalog, &sections)?;
    check_selection(catalog, config, &sections)?;
    warn_unindexed_tenant_columns(catalog, &sections, &mut warnings);
    warn_row_security(catalog, &sections, &mut warnings);
    let mut skipped = skipped_tables(
        catalog,
        &roles.role,
        &eligible,
        &referenced_but_off,
        &references,
        &mut warnings,
    );
    if let Some(tenancy) = &schemas {
        tenancy.explain_skipped(catalog, &mut skipped);
    }
    if let Some(guess) = &tenancy.guess {
        warnings.insert(
            0,
            format!(
                "the root table {} was not configured: {guess}; set root_table = {} (or another table) in orgexport.toml to choose",
                catalog.table(tenancy.root).qualified_name(),
                toml_string(&catalog.table(tenancy.root).qualified_name())
            ),
        );
    }
    let (lookup_columns, label_column) = org_lookup(catalog, config, &tenancy, schemas.is_some())?;
    let proposals = propose_references(catalog, config, &naming);
    let polymorphic_pairs = references::polymorphic_pairs(catalog, &references);
    let mut scope = Scope {
        root: tenancy.root,
        root_key: tenancy.key,
        root_guess: tenancy.guess,
        other_tenant_columns,
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
        allow_columns: config.allow_columns.clone(),
        only_tables: config.only_tables.clone(),
        config: config.clone(),
        adopted: Vec::new(),
        schemas,
    };
    // `--where` and `--columns` narrow the scope itself, on every classification (an org's
    // adopted pairs included).
    filters::apply_row_filters(catalog, &mut scope, &config.narrow.filters)?;
    filters::apply_column_choices(catalog, &mut scope, &config.narrow.columns)?;
    Ok(scope)
}

/// Schema-per-tenant: the scope of the tenant `org_key` names when `scope` was classified
/// for another tenant's schema; `None` when it is this one, or the tenancy is by rows.
pub fn for_tenant(
    catalog: &Catalog,
    scope: &Scope,
    org_key: &str,
) -> anyhow::Result<Option<Scope>> {
    let Some(tenant) = (scope.schemas.as_ref())
        .and_then(|t| t.find(org_key))
        .filter(|t| scope.schemas.as_ref().is_some_and(|s| s.current != **t))
    else {
        return Ok(None);
    };
    let config = ScopeConfig {
        tenant_schema: Some(tenant.schema.clone()),
        ..scope.config.clone()
    };
    classify(catalog, &config).map(Some)
}

/// The scope a restore checks an archive against under `infer_references = true`: every
/// Rails pair adopted with every class name it could hold, so a section an export adopted for
/// its org (`taggings`, reached through its pair) is a section here too.
pub fn adopt_every_pair(catalog: &Catalog, scope: &Scope) -> anyhow::Result<Scope> {
    if !scope.config.infer_references {
        return Ok(scope.clone());
    }
    let entries = scope
        .polymorphic_pairs
        .iter()
        .filter_map(|pair| polymorphism::every_class_entry(catalog, pair))
        .collect();
    adopt_for_restore(catalog, scope, entries)
}

/// The scope a restore checks an archive against: under `infer_references = true`, the pairs
/// the export recorded as followed (which class names the org's rows hold decides which
/// tables are delegated types, so every class name a pair could hold would not do), or, for
/// an archive that predates the record, [`adopt_every_pair`].
pub fn adopt_recorded_pairs(
    catalog: &Catalog,
    scope: &Scope,
    recorded: Option<&[PolymorphicConfig]>,
) -> anyhow::Result<Scope> {
    let Some(recorded) = recorded else {
        return adopt_every_pair(catalog, scope);
    };
    if !scope.config.infer_references {
        return Ok(scope.clone());
    }
    let entries = recorded
        .iter()
        .filter(|entry| !scope.config.polymorphic.contains(entry))
        .cloned()
        .collect();
    adopt_for_restore(catalog, scope, entries)
}

/// `entries` classified as if configured, with no config lines to show.
fn adopt_for_restore(
    catalog: &Catalog,
    scope: &Scope,
    entries: Vec<PolymorphicConfig>,
) -> anyhow::Result<Scope> {
    if entries.is_empty() {
        return Ok(scope.clone());
    }
    let adopted = entries.into_iter().map(|e| (e, String::new())).collect();
    let mut out = adopt_pairs(catalog, scope, adopted, Vec::new())?;
    out.adopted.clear();
    Ok(out)
}

/// The scope again with polymorphic pairs adopted from one org's type values
/// (`infer_references = true`): each entry is classified as if configured, and `plan` shows
/// its config line. `notes` (values that name no table) become warnings.
pub fn adopt_pairs(
    catalog: &Catalog,
    scope: &Scope,
    adopted: Vec<(PolymorphicConfig, String)>,
    notes: Vec<String>,
) -> anyhow::Result<Scope> {
    let mut config = scope.config.clone();
    let mut lines = scope.adopted.clone();
    for (entry, line) in adopted {
        config.polymorphic.push(entry);
        lines.push(line);
    }
    let mut out = classify(catalog, &config)?;
    out.adopted = lines;
    out.warnings.extend(notes);
    Ok(out)
}

/// Per tenant table, its other tenant columns holding the root's key (`Scope::other_tenant_columns`).
type OtherTenantColumns = Vec<(TableId, Vec<String>)>;

/// The root, key and tenant columns, and the tables the org owns (R, T — or, for a tenant
/// schema, its tables); also each tenant table's other tenant columns.
fn owned_tables(
    catalog: &Catalog,
    config: &ScopeConfig,
    schemas: Option<&SchemaTenancy>,
    references: &[Reference],
    eligible: &[bool],
    warnings: &mut Vec<String>,
) -> anyhow::Result<(Tenancy, Roles, OtherTenantColumns)> {
    if let Some(tenancy) = schemas {
        if config.tenant_schemas.is_none() {
            warnings.push(tenancy.how.clone());
        }
        let (tenancy, roles) = tenancy.roles(catalog, eligible)?;
        return Ok((tenancy, roles, Vec::new()));
    }
    let tenancy = find_tenancy(catalog, config, references, eligible)?;
    let mut roles = Roles::new(catalog.tables.len(), tenancy.root);
    let others = assign_tenant_tables(
        catalog, &tenancy, references, eligible, &mut roles, warnings,
    );
    Ok((tenancy, roles, others))
}

/// The root's lookup columns and the column that names an org in store paths. A tenant
/// schema has no root row to look an org up in or to name it by.
fn org_lookup(
    catalog: &Catalog,
    config: &ScopeConfig,
    tenancy: &Tenancy,
    by_schema: bool,
) -> anyhow::Result<(Vec<String>, Option<String>)> {
    if by_schema {
        return Ok((Vec::new(), None));
    }
    Ok((
        lookup_columns(catalog, config, tenancy.root, &tenancy.key)?,
        DEFAULT_LOOKUP_COLUMNS
            .iter()
            .find(|c| catalog.table(tenancy.root).column(c).is_some())
            .map(|c| c.to_string()),
    ))
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
    // The tool's own schema is invisible to scope: nothing there is inferred or proposed.
    let naming: Vec<Reference> = references::naming_matches(catalog, &all)
        .into_iter()
        .filter(|r| {
            [r.table, r.target]
                .iter()
                .all(|&t| catalog.table(t).schema != TOOL_SCHEMA)
        })
        .collect();
    if config.infer_references {
        all.extend(naming.iter().cloned());
    }
    Ok((all, naming))
}

/// The columns that take part in a reference, on either side — declared, configured,
/// polymorphic, inferred, or a naming match `plan` proposes: keys, never secrets by their
/// name (`apiKeyId → ApiKey.id`). Dropping one would lose the link and break a restore.
fn reference_columns(references: &[Reference], naming: &[Reference]) -> HashSet<(TableId, String)> {
    references
        .iter()
        .chain(naming)
        .flat_map(|r| {
            let source = r.columns.iter().map(move |c| (r.table, c.clone()));
            let target = r.target_columns.iter().map(move |c| (r.target, c.clone()));
            source.chain(target)
        })
        .collect()
}

/// Archive order: root, tenant, child (by depth), referenced; by name within each. Secret
/// columns are left out here (`secret_columns`).
fn ordered_sections(
    catalog: &Catalog,
    config: &ScopeConfig,
    roles: &Roles,
    depth: &[usize],
    keys: &HashSet<(TableId, String)>,
) -> Vec<Section> {
    let rank = |id: TableId| match roles.role[id] {
        Some(Role::Root) => (0, 0),
        Some(Role::Tenant { .. } | Role::Schema) => (1, depth[id]),
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
            let role = roles.role[id]
                .clone()
                .expect("ordered holds only scoped tables");
            secret_columns(catalog, config, id, role, keys)
        })
        .collect()
}

/// A section with its columns split into exported and excluded (DESIGN §3): by config glob,
/// by name and type unless the column is a key, and, for a generated column, by the secret
/// columns its expression reads. Exported text and json-like columns get their secret json
/// (and xml) keys cut out; `allow_columns` wins over everything.
fn secret_columns(
    catalog: &Catalog,
    config: &ScopeConfig,
    id: TableId,
    role: Role,
    keys: &HashSet<(TableId, String)>,
) -> Section {
    let table = catalog.table(id);
    let mut section = Section {
        table: id,
        role,
        columns: Vec::new(),
        excluded_columns: Vec::new(),
        exclusion_reasons: Vec::new(),
        redact_json: Vec::new(),
        key_values: None,
        row_filter: None,
    };
    let allowed = |column: &str| {
        glob_matches(
            &config.allow_columns,
            &format!("{}.{column}", table.qualified_name()),
        )
    };
    let reason_of = |column: &Column| -> Option<String> {
        let qualified = format!("{}.{}", table.qualified_name(), column.name);
        if glob_matches(&config.exclude_columns, &qualified) {
            Some("config: exclude_columns".to_string())
        } else if !keys.contains(&(id, column.name.clone()))
            && secrets::is_secret_column(&table.name, &column.name, column.text_like)
        {
            Some(if secrets::is_secret_name(&column.name) {
                "name".to_string()
            } else {
                format!("name: a value column of {}, a table of secrets", table.name)
            })
        } else {
            None
        }
    };
    let mut reasons: Vec<Option<String>> = table
        .columns
        .iter()
        .map(|c| (!allowed(&c.name)).then(|| reason_of(c)).flatten())
        .collect();
    // A generated column that reads a secret is a copy of it (`preview GENERATED ALWAYS AS
    // (api_token)`); to a fixpoint, so the rule does not depend on what generated columns
    // may read.
    while let Some((i, source)) = table.columns.iter().enumerate().find_map(|(i, c)| {
        let source = c.generated_from.iter().find(|from| {
            table
                .columns
                .iter()
                .position(|o| o.name == **from)
                .is_some_and(|j| reasons[j].is_some())
        })?;
        (reasons[i].is_none() && !allowed(&c.name)).then_some((i, source))
    }) {
        reasons[i] = Some(format!("generated from the secret column {source}"));
    }
    for (column, reason) in table.columns.iter().zip(reasons) {
        match reason {
            Some(reason) => {
                section.excluded_columns.push(column.name.clone());
                section
                    .exclusion_reasons
                    .push((column.name.clone(), reason));
            }
            None => section.columns.push(column.name.clone()),
        }
    }
    section.redact_json = section
        .columns
        .iter()
        .filter(|c| !allowed(c))
        .filter(|c| table.column(c).is_some_and(redactable))
        .cloned()
        .collect();
    section.key_values =
        key_values::detect(table, &section.columns).filter(|kv| !allowed(&kv.value_column));
    section
}

/// Whether a column's values can hold secret json (or xml) keys: json, jsonb, xml and
/// composite values, and text, which may hold JSON (bytea is not rendered as text).
fn redactable(column: &Column) -> bool {
    column.json_like || (column.text_like && !column.type_name.starts_with("bytea"))
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
                            Some(Role::Root | Role::Tenant { .. } | Role::Child | Role::Schema)
                        )
                })
                .map(|r| format!("{}.{}", table.qualified_name(), r.columns.join(",")))
                .fold(Vec::new(), |mut seen: Vec<String>, c| {
                    if !seen.contains(&c) {
                        seen.push(c);
                    }
                    seen
                });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::testing::{Builder, role_of, saas, tenant};

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
    fn a_column_that_takes_part_in_a_reference_is_never_a_secret_by_its_name() {
        let catalog = Builder::default()
            .table("public.orgs", &["id!"])
            .table("public.ApiKey", &["id$!", "org_id!", "hashedKey$"])
            .table("public.ApiKeyWorkspace", &["id!", "org_id!", "apiKeyId$!"])
            .table("public.token_uses", &["id!", "org_id!", "access_token_id$"])
            .table("public.access_tokens", &["id$!", "org_id!", "token$"])
            .fk("public.ApiKey", &["org_id"], "public.orgs", &["id"])
            .fk(
                "public.ApiKeyWorkspace",
                &["org_id"],
                "public.orgs",
                &["id"],
            )
            .fk("public.token_uses", &["org_id"], "public.orgs", &["id"])
            .fk("public.access_tokens", &["org_id"], "public.orgs", &["id"])
            .fk(
                "public.ApiKeyWorkspace",
                &["apiKeyId"],
                "public.ApiKey",
                &["id"],
            )
            .build();
        let mut catalog = catalog;
        let tokens = catalog.find("public.access_tokens").unwrap();
        catalog.tables[tokens].columns[0].type_name = "text".into();
        let scope = classify(&catalog, &ScopeConfig::default()).unwrap();
        let excluded = |name: &str| {
            scope
                .section_of(catalog.find(name).unwrap())
                .unwrap()
                .excluded_columns
                .clone()
        };
        assert!(excluded("public.ApiKeyWorkspace").is_empty());
        assert_eq!(excluded("public.ApiKey"), ["hashedKey"]);
        // A naming match (proposed, not declared) is a key too.
        assert!(excluded("public.token_uses").is_empty());
        assert_eq!(excluded("public.access_tokens"), ["token"]);
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
