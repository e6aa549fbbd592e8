//! Polymorphic pairs inferred by their values (DESIGN §2, `infer_references = true`): which
//! table a Rails type value names (`Conversation` → `conversations`, `AgentBot` →
//! `agent_bots`, `Channel::Api` → `channel_api`, an STI subclass → its base table with a
//! `type` column), which table a Django content type names (`(app_label, model)` →
//! `app_label_model`), the class names an in-scope table may be stored under, and the
//! `polymorphic = […]` entries adopted from the values found. Pure: reading the values — only
//! from the org's own in-scope rows, inside its snapshot — is `export::adoption`'s.

use std::collections::BTreeMap;

use crate::scope::catalog::{Catalog, TableId};
use crate::scope::references::{
    PairKind, PolymorphicConfig, PolymorphicPair, compatible_types, table_for_stem,
};
use crate::scope::secrets::words;

/// One type value found in the org's rows (or confirmed by them) and the table it names,
/// `None` when it names none. `label` is how the operator knows it (`pretixbase.event` for a
/// content type id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeValue {
    pub value: String,
    pub label: String,
    pub target: Option<TableId>,
}

/// The type values found for one pair of `Scope::polymorphic_pairs`.
#[derive(Debug, Clone, Default)]
pub struct PairValues {
    pub values: Vec<TypeValue>,
}

/// The table a Rails class name is stored in: its tableized name (`Channel::Api` →
/// `channel_api(s)`, `AgentBot` → `agent_bots`), else the last segment's (`Api` → `apis`), else
/// — single-table inheritance — the base table of a namespace or of a trailing part of the
/// name, when that table has a `type` column (`Channel::Sms` → `channels`, `AdminUser` →
/// `users`).
pub fn rails_target(catalog: &Catalog, schema: &str, class: &str) -> Option<TableId> {
    let all = words(class);
    if all.is_empty() {
        return None;
    }
    if let Some(t) = table_for_stem(catalog, schema, &all.join("_")) {
        return Some(t);
    }
    let segments: Vec<&str> = class.split("::").filter(|s| !s.is_empty()).collect();
    if let Some(last) = segments.last().filter(|_| segments.len() > 1)
        && let Some(t) = table_for_stem(catalog, schema, &words(last).join("_"))
    {
        return Some(t);
    }
    let has_type = |t: TableId| catalog.table(t).column("type").is_some();
    let namespaces = segments[..segments.len().saturating_sub(1)]
        .iter()
        .rev()
        .map(|s| words(s).join("_"));
    let suffixes = (1..all.len()).map(|i| all[i..].join("_"));
    namespaces
        .chain(suffixes)
        .filter_map(|stem| table_for_stem(catalog, schema, &stem))
        .find(|&t| has_type(t))
}

/// The table of a Django model: `db_table` defaults to `<app_label>_<model>`.
pub fn django_target(
    catalog: &Catalog,
    schema: &str,
    app_label: &str,
    model: &str,
) -> Option<TableId> {
    let name = format!("{app_label}_{model}").to_lowercase();
    let matching: Vec<TableId> = (0..catalog.tables.len())
        .filter(|&t| catalog.table(t).kind.holds_data() && catalog.table(t).name == name)
        .collect();
    matching
        .iter()
        .copied()
        .find(|&t| catalog.table(t).schema == schema)
        .or_else(|| (matching.len() == 1).then(|| matching[0]))
}

/// The Rails class names rows of `table` may be stored under (the inverse of
/// [`rails_target`], checked by it): `agent_bots` → `AgentBot`, `channel_api` →
/// `Channel::Api`, `ChannelApi`. Asked of a pair's table that holds none of the org's rows
/// yet, to confirm which of them point at the org's rows.
pub fn class_names(catalog: &Catalog, table: TableId) -> Vec<String> {
    let t = catalog.table(table);
    let parts = words(&t.name);
    let Some((last, init)) = parts.split_last() else {
        return Vec::new();
    };
    let mut singulars = vec![last.clone()];
    for (plural, singular) in [
        ("ies", "y"),
        ("ses", "s"),
        ("xes", "x"),
        ("es", ""),
        ("s", ""),
    ] {
        if let Some(base) = last.strip_suffix(plural) {
            singulars.push(format!("{base}{singular}"));
        }
    }
    for (plural, singular) in [("people", "person"), ("children", "child"), ("men", "man")] {
        if let Some(base) = last.strip_suffix(plural) {
            singulars.push(format!("{base}{singular}"));
        }
    }
    let camel = |w: &str| {
        let mut c = w.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    let mut names = Vec::new();
    for singular in &singulars {
        let mut all: Vec<String> = init.iter().map(|w| camel(w)).collect();
        all.push(camel(singular));
        names.push(all.concat());
        for split in 1..all.len() {
            names.push(format!(
                "{}::{}",
                all[..split].concat(),
                all[split..].concat()
            ));
        }
    }
    names.sort();
    names.dedup();
    names.retain(|n| rails_target(catalog, &t.schema, n) == Some(table));
    names
}

/// The `polymorphic = […]` entry a pair's mapped values make, or `None` when no value maps
/// to a table (an OAuth `client_type` beside `client_id`: not a polymorphic pair).
pub fn adopted_entry(
    catalog: &Catalog,
    pair: &PolymorphicPair,
    values: &PairValues,
) -> Option<PolymorphicConfig> {
    let targets: BTreeMap<String, String> = values
        .values
        .iter()
        .filter_map(|v| Some((v.value.clone(), catalog.table(v.target?).qualified_name())))
        .collect();
    entry(catalog, pair, targets)
}

/// For a restore, which has no org rows to read before it checks the archive's sections: a
/// Rails pair adopted with every class name of every table whose key its id column can hold
/// (what any org's values could name). Django pairs need the target's content types: `None`.
pub fn every_class_entry(catalog: &Catalog, pair: &PolymorphicPair) -> Option<PolymorphicConfig> {
    if pair.kind != PairKind::Rails {
        return None;
    }
    let id_type = &catalog.table(pair.table).column(&pair.id_column)?.type_name;
    let mut targets = BTreeMap::new();
    for (t, table) in catalog.tables.iter().enumerate() {
        let [key] = table.primary_key.as_slice() else {
            continue;
        };
        let fits = table
            .column(key)
            .is_some_and(|k| compatible_types(&k.type_name, id_type));
        if table.kind.holds_data() && fits {
            for name in class_names(catalog, t) {
                targets.insert(name, table.qualified_name());
            }
        }
    }
    entry(catalog, pair, targets)
}

/// The `polymorphic = [...]` entry of a pair with these targets; `None` without any.
fn entry(
    catalog: &Catalog,
    pair: &PolymorphicPair,
    targets: BTreeMap<String, String>,
) -> Option<PolymorphicConfig> {
    (!targets.is_empty()).then(|| PolymorphicConfig {
        column: format!(
            "{}.{}",
            catalog.table(pair.table).qualified_name(),
            pair.id_column
        ),
        type_column: pair.type_column.clone(),
        targets,
    })
}

/// The config line of an adopted (or proposed) entry, labels as a trailing comment when
/// they differ from the values (Django content type ids).
pub fn config_line(entry: &PolymorphicConfig, values: &PairValues) -> String {
    let targets: Vec<String> = entry
        .targets
        .iter()
        .map(|(value, table)| format!("{} = {}", toml_key(value), toml_string(table)))
        .collect();
    let labels: Vec<&str> = values
        .values
        .iter()
        .filter(|v| v.label != v.value && entry.targets.contains_key(&v.value))
        .map(|v| v.label.as_str())
        .collect();
    let comment = if labels.is_empty() {
        String::new()
    } else {
        format!("   # {}", labels.join(", "))
    };
    format!(
        "  {{ column = {}, type_column = {}, targets = {{ {} }} }},{comment}",
        toml_string(&entry.column),
        toml_string(&entry.type_column),
        targets.join(", ")
    )
}

fn toml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// A TOML key: bare when it can be, quoted otherwise (`"Ci::Build"`).
pub fn toml_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_string()
    } else {
        toml_string(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::testing::Builder;

    fn catalog() -> Catalog {
        Builder::default()
            .table("public.conversations", &["id!"])
            .table("public.agent_bots", &["id!"])
            .table("public.channel_api", &["id!"])
            .table("public.users", &["id!", "type$"])
            .table("public.channels", &["id!", "type$"])
            .table("public.people", &["id!"])
            .table("public.pretixbase_event", &["id!"])
            .build()
    }

    #[test]
    fn rails_class_names_map_to_tables_by_convention() {
        let c = catalog();
        let name =
            |class: &str| rails_target(&c, "public", class).map(|t| c.table(t).qualified_name());
        assert_eq!(name("Conversation").unwrap(), "public.conversations");
        assert_eq!(name("AgentBot").unwrap(), "public.agent_bots");
        assert_eq!(name("Channel::Api").unwrap(), "public.channel_api");
        assert_eq!(name("Person").unwrap(), "public.people");
        // STI: stored in the base table, which has a `type` column.
        assert_eq!(name("Channel::Sms").unwrap(), "public.channels");
        assert_eq!(name("AdminUser").unwrap(), "public.users");
        assert_eq!(name("confidential"), None);
        assert_eq!(name("Doorkeeper::Application"), None);
    }

    #[test]
    fn class_names_invert_the_mapping() {
        let c = catalog();
        let names = |t: &str| class_names(&c, c.find(t).unwrap());
        let bots = names("public.agent_bots");
        assert!(bots.contains(&"AgentBot".to_string()), "{bots:?}");
        assert!(bots.contains(&"Agent::Bot".to_string()), "{bots:?}");
        assert!(names("public.channel_api").contains(&"Channel::Api".to_string()));
        assert!(names("public.people").contains(&"Person".to_string()));
    }

    #[test]
    fn django_content_types_name_app_label_model_tables() {
        let c = catalog();
        let t = django_target(&c, "public", "pretixbase", "event").unwrap();
        assert_eq!(c.table(t).name, "pretixbase_event");
        assert_eq!(django_target(&c, "public", "auth", "user"), None);
    }
}
