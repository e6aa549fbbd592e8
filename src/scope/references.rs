//! The references scope flows along (DESIGN §2): the foreign keys the catalog declares, plus
//! those the schema never declared — configured ones (`references = ["a.b.c -> a.d.e"]`),
//! Rails-style polymorphic pairs (`polymorphic = [{ column, type_column, targets }]`) and,
//! with `infer_references = true`, every `<name>_id` column whose name matches a table. Pure
//! functions over the catalog; configuration that names nothing is a usage error.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::db::quote_literal;
use crate::error::{Kind, fail};
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::secrets::words;

/// Index of a reference in [`crate::scope::model::Scope::references`].
pub type RefId = usize;

/// Where a reference comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Declared,
    Configured,
    Polymorphic,
    Inferred,
    /// The reverse of a polymorphic pair on an owned row whose target has no owner of its
    /// own (Rails `delegated_type`): the pair's row owns the row it names
    /// (`ownership::delegate_pairs`).
    Delegated,
}

/// `table(columns)` points at `target(target_columns)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub table: TableId,
    pub columns: Vec<String>,
    pub target: TableId,
    pub target_columns: Vec<String>,
    /// Polymorphic: the reference holds only for rows whose type column has this value.
    pub when: Option<(String, String)>,
    /// Delegated: the reference holds only for target rows whose type column has this value
    /// (`depositories(id) -> accounts(accountable_id)` where `accountable_type = 'Depository'`).
    pub target_when: Option<(String, String)>,
    pub origin: Origin,
}

impl Reference {
    /// `public.notes(noteable_id) -> public.issues(id) where noteable_type = 'Issue' [configured]`.
    /// A delegated reference is described as the pair it reverses:
    /// `public.accounts(accountable_id) -> public.depositories(id) where accountable_type =
    /// 'Depository' [delegated type: owns its target]`.
    pub fn describe(&self, catalog: &Catalog) -> String {
        if let Some((column, value)) = &self.target_when {
            return format!(
                "{}({}) -> {}({}) where {column} = {} [delegated type: owns its target]",
                catalog.table(self.target).qualified_name(),
                self.target_columns.join(", "),
                catalog.table(self.table).qualified_name(),
                self.columns.join(", "),
                quote_literal(value)
            );
        }
        let mut text = format!(
            "{}({}) -> {}({})",
            catalog.table(self.table).qualified_name(),
            self.columns.join(", "),
            catalog.table(self.target).qualified_name(),
            self.target_columns.join(", ")
        );
        if let Some((column, value)) = &self.when {
            text.push_str(&format!(" where {column} = {}", quote_literal(value)));
        }
        match self.origin {
            Origin::Declared => {}
            Origin::Configured => text.push_str(" [configured]"),
            Origin::Polymorphic => text.push_str(" [polymorphic]"),
            Origin::Inferred => text.push_str(" [inferred]"),
            Origin::Delegated => text.push_str(" [delegated type]"),
        }
        text
    }
}

/// One `polymorphic = [{ … }]` entry of the config.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct PolymorphicConfig {
    /// `schema.table.column` of the id column.
    pub column: String,
    /// The type column, in the same table.
    pub type_column: String,
    /// Type value → `schema.table`.
    pub targets: BTreeMap<String, String>,
}

/// Every declared foreign key.
pub fn declared(catalog: &Catalog) -> Vec<Reference> {
    catalog
        .foreign_keys
        .iter()
        .map(|fk| Reference {
            table: fk.table,
            columns: fk.columns.clone(),
            target: fk.referenced,
            target_columns: fk.referenced_columns.clone(),
            when: None,
            target_when: None,
            origin: Origin::Declared,
        })
        .collect()
}

fn usage(message: String) -> anyhow::Error {
    fail(Kind::Usage, message)
}

/// A table by its `schema.table` name, or a usage error naming the config entry.
pub fn table_by_name(catalog: &Catalog, name: &str, entry: &str) -> anyhow::Result<TableId> {
    catalog.find(name).ok_or_else(|| {
        usage(format!(
            "{entry}: no table {name:?} in this database; write it as schema.table (see `orgexport plan`)"
        ))
    })
}

/// `schema.table.col1,col2` → (table, columns), every column checked.
fn columns_of(
    catalog: &Catalog,
    side: &str,
    entry: &str,
) -> anyhow::Result<(TableId, Vec<String>)> {
    let side = side.trim();
    let mut parts = side.splitn(3, '.');
    let (Some(schema), Some(table), Some(columns)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(usage(format!(
            "{entry}: {side:?} is not schema.table.column"
        )));
    };
    let id = table_by_name(catalog, &format!("{schema}.{table}"), entry)?;
    let columns: Vec<String> = columns.split(',').map(|c| c.trim().to_string()).collect();
    for column in &columns {
        if catalog.table(id).column(column).is_none() {
            return Err(usage(format!(
                "{entry}: table {schema}.{table} has no column {column:?}"
            )));
        }
    }
    Ok((id, columns))
}

/// `references = ["schema.table.col -> schema.table.col", …]` (composite: comma-separated).
pub fn configured(catalog: &Catalog, lines: &[String]) -> anyhow::Result<Vec<Reference>> {
    lines
        .iter()
        .map(|line| {
            let entry = format!("references entry {line:?}");
            let Some((from, to)) = line.split_once("->") else {
                return Err(usage(format!(
                    "{entry}: write it as \"schema.table.column -> schema.table.column\""
                )));
            };
            let (table, columns) = columns_of(catalog, from, &entry)?;
            let (target, target_columns) = columns_of(catalog, to, &entry)?;
            if columns.len() != target_columns.len() {
                return Err(usage(format!(
                    "{entry}: {} column(s) on the left, {} on the right",
                    columns.len(),
                    target_columns.len()
                )));
            }
            Ok(Reference {
                table,
                columns,
                target,
                target_columns,
                when: None,
                target_when: None,
                origin: Origin::Configured,
            })
        })
        .collect()
}

/// `polymorphic = [{ column = "s.t.c", type_column = "c_type", targets = { T = "s.t" } }]`:
/// one reference per target, each holding for its type value.
pub fn polymorphic(
    catalog: &Catalog,
    configs: &[PolymorphicConfig],
) -> anyhow::Result<Vec<Reference>> {
    let mut out = Vec::new();
    for config in configs {
        let entry = format!("polymorphic entry for {:?}", config.column);
        let (table, columns) = columns_of(catalog, &config.column, &entry)?;
        if columns.len() != 1 {
            return Err(usage(format!("{entry}: name one id column")));
        }
        if catalog.table(table).column(&config.type_column).is_none() {
            return Err(usage(format!(
                "{entry}: table {} has no type column {:?}",
                catalog.table(table).qualified_name(),
                config.type_column
            )));
        }
        if config.targets.is_empty() {
            return Err(usage(format!(
                "{entry}: targets is empty; map each type value to its table, e.g. targets = {{ Issue = \"public.issues\" }}"
            )));
        }
        for (value, target_name) in &config.targets {
            let target = table_by_name(catalog, target_name, &entry)?;
            let [key] = catalog.table(target).primary_key.as_slice() else {
                return Err(usage(format!(
                    "{entry}: target {target_name} needs a single-column primary key"
                )));
            };
            out.push(Reference {
                table,
                columns: columns.clone(),
                target,
                target_columns: vec![key.clone()],
                when: Some((config.type_column.clone(), value.clone())),
                target_when: None,
                origin: Origin::Polymorphic,
            });
        }
    }
    Ok(out)
}

/// Tables by their name as lowercase words joined by `_` (`MergeRequest` → `merge_request`).
pub struct TableNames(HashMap<String, Vec<TableId>>);

impl TableNames {
    pub fn new(catalog: &Catalog) -> TableNames {
        let mut map: HashMap<String, Vec<TableId>> = HashMap::new();
        for (id, t) in catalog.tables.iter().enumerate() {
            if t.kind.holds_data() {
                map.entry(words(&t.name).join("_")).or_default().push(id);
            }
        }
        TableNames(map)
    }
}

/// The table a stem names (`project` → `projects`, `Project`; `category` → `categories`;
/// `person` → `people`), preferring `schema`; `None` when there is none or several.
pub fn table_for_stem(catalog: &Catalog, schema: &str, stem: &str) -> Option<TableId> {
    table_for_stem_in(catalog, &TableNames::new(catalog), schema, stem)
}

fn table_for_stem_in(
    catalog: &Catalog,
    names: &TableNames,
    schema: &str,
    stem: &str,
) -> Option<TableId> {
    let stem = stem.to_lowercase();
    let mut forms = vec![stem.clone(), format!("{stem}s"), format!("{stem}es")];
    if let Some(base) = stem.strip_suffix('y') {
        forms.push(format!("{base}ies"));
    }
    for (singular, plural) in [("person", "people"), ("child", "children"), ("man", "men")] {
        if let Some(base) = stem.strip_suffix(singular) {
            forms.push(format!("{base}{plural}"));
        }
    }
    let mut matching: Vec<TableId> = forms
        .iter()
        .filter_map(|f| names.0.get(f))
        .flatten()
        .copied()
        .collect();
    matching.sort_unstable();
    matching.dedup();
    let same_schema: Vec<TableId> = matching
        .iter()
        .copied()
        .filter(|&id| catalog.table(id).schema == schema)
        .collect();
    match (same_schema.as_slice(), matching.as_slice()) {
        ([one], _) => Some(*one),
        ([], [one]) => Some(*one),
        _ => None,
    }
}

/// The table a polymorphic type value names: Rails class names (`MergeRequest` →
/// `merge_requests`, `Ci::Build` → `ci_builds`).
pub fn table_for_class(catalog: &Catalog, schema: &str, class: &str) -> Option<TableId> {
    table_for_stem(catalog, schema, &words(class).join("_"))
}

/// `<stem>_id` / `<stem>Id` → `stem` (words joined by `_`).
fn id_stem(column: &str) -> Option<String> {
    let words = words(column);
    match words.split_last() {
        Some((last, stem)) if last == "id" && !stem.is_empty() => Some(stem.join("_")),
        _ => None,
    }
}

pub fn compatible_types(a: &str, b: &str) -> bool {
    const INTEGERS: &[&str] = &["smallint", "integer", "bigint"];
    a == b || (INTEGERS.contains(&a) && INTEGERS.contains(&b))
}

/// `<name>_id` columns without any reference whose name matches a table with a one-column
/// primary key of a compatible type (DESIGN §2, undeclared references).
pub fn naming_matches(catalog: &Catalog, existing: &[Reference]) -> Vec<Reference> {
    let names = TableNames::new(catalog);
    let referenced: HashSet<(TableId, &str)> = existing
        .iter()
        .flat_map(|r| r.columns.iter().map(move |c| (r.table, c.as_str())))
        .collect();
    let mut out = Vec::new();
    for (id, table) in catalog.tables.iter().enumerate() {
        if !table.kind.holds_data() {
            continue;
        }
        for column in &table.columns {
            if referenced.contains(&(id, column.name.as_str())) {
                continue;
            }
            let Some(stem) = id_stem(&column.name) else {
                continue;
            };
            let Some(target) = table_for_stem_in(catalog, &names, &table.schema, &stem) else {
                continue;
            };
            let target_table = catalog.table(target);
            let [key] = target_table.primary_key.as_slice() else {
                continue;
            };
            let key_type = target_table.column(key).map(|c| c.type_name.as_str());
            if !key_type.is_some_and(|t| compatible_types(t, &column.type_name)) {
                continue;
            }
            out.push(Reference {
                table: id,
                columns: vec![column.name.clone()],
                target,
                target_columns: vec![key.clone()],
                when: None,
                target_when: None,
                origin: Origin::Inferred,
            });
        }
    }
    out
}

/// How a pair's type column names its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairKind {
    /// `<x>_type` holds a Rails class name.
    Rails,
    /// `content_type_id` references Django's `django_content_type (id, app_label, model)`.
    Django { content_types: TableId },
}

/// A polymorphic pair not yet configured: Rails' `<name>_type` + `<name>_id`, or Django's
/// `GenericForeignKey` (`content_type_id` → `django_content_type` + `object_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolymorphicPair {
    pub table: TableId,
    pub id_column: String,
    pub type_column: String,
    pub kind: PairKind,
}

pub fn polymorphic_pairs(catalog: &Catalog, existing: &[Reference]) -> Vec<PolymorphicPair> {
    let mut out = Vec::new();
    let configured = |id: TableId, column: &str| {
        existing
            .iter()
            .any(|r| r.table == id && r.columns == [column] && r.when.is_some())
    };
    for (id, table) in catalog.tables.iter().enumerate() {
        if !table.kind.holds_data() {
            continue;
        }
        for column in &table.columns {
            let (id_column, kind) = if let Some(base) = column.name.strip_suffix("_type") {
                (format!("{base}_id"), PairKind::Rails)
            } else if let Some(base) = column.name.strip_suffix("content_type_id")
                && let Some(content_types) = content_type_target(catalog, existing, id, column)
            {
                (
                    format!("{base}object_id"),
                    PairKind::Django { content_types },
                )
            } else {
                continue;
            };
            let declared = existing
                .iter()
                .any(|r| r.table == id && r.columns == [id_column.clone()] && r.when.is_none());
            if table.column(&id_column).is_none() || declared || configured(id, &id_column) {
                continue;
            }
            out.push(PolymorphicPair {
                table: id,
                id_column,
                type_column: column.name.clone(),
                kind,
            });
        }
    }
    out
}

/// `django_content_type`, when `column` references it (declared, configured or by name).
fn content_type_target(
    catalog: &Catalog,
    existing: &[Reference],
    table: TableId,
    column: &crate::scope::catalog::Column,
) -> Option<TableId> {
    existing
        .iter()
        .find(|r| r.table == table && r.columns == [column.name.clone()])
        .map(|r| r.target)
        .or_else(|| table_for_stem(catalog, &catalog.table(table).schema, "django_content_type"))
        .filter(|&t| catalog.table(t).name == "django_content_type")
}

/// The config line that declares a reference (`"s.t.c -> s.t.c"`).
pub fn config_line(catalog: &Catalog, reference: &Reference) -> String {
    format!(
        "\"{}.{} -> {}.{}\"",
        catalog.table(reference.table).qualified_name(),
        reference.columns.join(","),
        catalog.table(reference.target).qualified_name(),
        reference.target_columns.join(",")
    )
}
