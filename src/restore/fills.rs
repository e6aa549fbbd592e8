//! Values for the columns an archive lacks (DESIGN §9): secrets were never exported, so a
//! NOT NULL secret column without a default needs a value. `--fill schema.table.column=SQL`
//! names one column, `--fill '*.token=SQL'` every such column a glob matches, and
//! `--fill-secrets=random` gives the secret columns left a random value of their type. The
//! result is one exact fill per column. Pure.

use std::collections::HashMap;

use crate::config::Fill;
use crate::restore::manifest::ArchivedManifest;
use crate::restore::target::TargetColumn;

/// The exact fills for this archive and target, or why a `--fill` is wrong.
pub fn resolve(
    manifest: &ArchivedManifest,
    columns: &HashMap<String, Vec<TargetColumn>>,
    fills: &[Fill],
    random_secrets: bool,
) -> Result<Vec<Fill>, String> {
    let mut resolved = Vec::new();
    for fill in fills.iter().filter(|f| !f.is_glob()) {
        check_exact(manifest, columns, fill)?;
        resolved.push(fill.clone());
    }
    let needed = needed(manifest, columns);
    for fill in fills.iter().filter(|f| f.is_glob()) {
        let pattern = format!("{}.{}", fill.table, fill.column);
        let glob = glob::Pattern::new(&pattern)
            .map_err(|e| format!("--fill {pattern}: not a valid glob ({e})"))?;
        let matched: Vec<&Needed> = needed
            .iter()
            .filter(|n| glob.matches(&format!("{}.{}", n.table, n.column)))
            .collect();
        if matched.is_empty() {
            return Err(format!(
                "--fill {pattern} matches no NOT NULL column the archive lacks"
            ));
        }
        for n in matched {
            if !is_filled(&resolved, n) {
                resolved.push(n.fill(fill.sql.clone()));
            }
        }
    }
    if random_secrets {
        let left: Vec<&Needed> = needed
            .iter()
            .filter(|n| n.secret && !is_filled(&resolved, n))
            .collect();
        for n in left {
            let sql = random_value(&n.type_name).ok_or_else(|| {
                format!(
                    "--fill-secrets=random: no random value for {}.{} of type {}; supply it with --fill",
                    n.table, n.column, n.type_name
                )
            })?;
            resolved.push(n.fill(sql));
        }
    }
    Ok(resolved)
}

/// A NOT NULL column without a default that the archive does not hold.
struct Needed {
    table: String,
    column: String,
    type_name: String,
    /// Left out of the archive as a secret (not merely absent).
    secret: bool,
}

impl Needed {
    fn fill(&self, sql: String) -> Fill {
        Fill {
            table: self.table.clone(),
            column: self.column.clone(),
            sql,
        }
    }
}

fn is_filled(fills: &[Fill], needed: &Needed) -> bool {
    fills
        .iter()
        .any(|f| f.table == needed.table && f.column == needed.column)
}

fn needed(
    manifest: &ArchivedManifest,
    columns: &HashMap<String, Vec<TargetColumn>>,
) -> Vec<Needed> {
    let mut needed = Vec::new();
    for section in &manifest.sections {
        for c in columns.get(&section.name).into_iter().flatten() {
            if section.columns.contains(&c.name) || c.may_be_omitted() {
                continue;
            }
            needed.push(Needed {
                table: section.name.clone(),
                column: c.name.clone(),
                type_name: c.type_name.clone(),
                secret: section.excluded_columns.contains(&c.name),
            });
        }
    }
    needed
}

/// An exact `--fill` must name a column of a restored table that the archive does not hold.
fn check_exact(
    manifest: &ArchivedManifest,
    columns: &HashMap<String, Vec<TargetColumn>>,
    fill: &Fill,
) -> Result<(), String> {
    let named = format!("{}.{}", fill.table, fill.column);
    let Some(section) = manifest.sections.iter().find(|s| s.name == fill.table) else {
        return Err(format!(
            "--fill {named}: {} is not a section of the archive",
            fill.table
        ));
    };
    if section.columns.contains(&fill.column) {
        return Err(format!(
            "--fill {named}: the archive holds this column; --fill is for columns it lacks (secrets)"
        ));
    }
    let exists = columns
        .get(&fill.table)
        .is_some_and(|cs| cs.iter().any(|c| c.name == fill.column && !c.generated));
    if !exists {
        return Err(format!(
            "--fill {named}: the target has no such column (or it is generated)"
        ));
    }
    Ok(())
}

/// A random value of a column type (as `format_type` writes it), or `None`.
fn random_value(type_name: &str) -> Option<String> {
    let text = "md5(random()::text || clock_timestamp()::text)";
    let base = type_name.split('(').next().unwrap_or(type_name).trim();
    let sql = match base {
        "text" | "character varying" | "character" | "citext" | "name" => {
            format!("{text}::{type_name}")
        }
        "bytea" => format!("decode({text}, 'hex')"),
        "json" | "jsonb" => format!("to_json({text})::{type_name}"),
        "uuid" => "gen_random_uuid()".to_string(),
        "text[]" | "character varying[]" => format!("ARRAY[{text}]::{type_name}"),
        "smallint" | "integer" | "bigint" => format!("(random() * 32767)::{type_name}"),
        _ => return None,
    };
    Some(sql)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn setup() -> (ArchivedManifest, HashMap<String, Vec<TargetColumn>>) {
        let manifest = ArchivedManifest::parse(&json!({
            "format": "orgexport/1", "export_id": "x",
            "org": {"table": "public.orgs", "key": "1", "lookup": "acme"},
            "sections": [
                {"name": "public.users", "record_count": 0, "columns": [{"name": "id"}],
                 "excluded_columns": ["api_token", "password_hash"]},
                {"name": "public.bots", "record_count": 0, "columns": [{"name": "id"}],
                 "excluded_columns": ["token", "cipher"]},
            ],
        }))
        .unwrap();
        let column = |name: &str, type_name: &str| TargetColumn {
            name: name.into(),
            type_name: type_name.into(),
            not_null: true,
            has_default: name == "id",
            generated: false,
            identity: false,
            sequence: None,
        };
        let columns = HashMap::from([
            (
                "public.users".to_string(),
                vec![
                    column("id", "bigint"),
                    column("api_token", "text"),
                    column("password_hash", "character varying(60)"),
                ],
            ),
            (
                "public.bots".to_string(),
                vec![
                    column("id", "bigint"),
                    column("token", "text"),
                    column("cipher", "point"),
                ],
            ),
        ]);
        (manifest, columns)
    }

    fn fill(text: &str) -> Fill {
        Fill::parse(text).unwrap()
    }

    #[test]
    fn globs_expand_to_the_lacking_not_null_columns_and_exact_fills_win() {
        let (manifest, columns) = setup();
        let fills = [
            fill("public.users.api_token='x'"),
            fill("*.*token=gen_random_uuid()::text"),
        ];
        let resolved = resolve(&manifest, &columns, &fills, false).unwrap();
        let named: Vec<(String, String)> = resolved
            .iter()
            .map(|f| (format!("{}.{}", f.table, f.column), f.sql.clone()))
            .collect();
        assert_eq!(
            named,
            [
                ("public.users.api_token".into(), "'x'".into()),
                ("public.bots.token".into(), "gen_random_uuid()::text".into()),
            ]
        );
        let nothing = [fill("*.nope=1")];
        assert_eq!(
            resolve(&manifest, &columns, &nothing, false).unwrap_err(),
            "--fill *.nope matches no NOT NULL column the archive lacks"
        );
    }

    #[test]
    fn random_secrets_fill_every_secret_column_of_a_known_type() {
        let (manifest, columns) = setup();
        let unknown = resolve(&manifest, &columns, &[], true).unwrap_err();
        assert!(
            unknown.contains("public.bots.cipher of type point"),
            "{unknown}"
        );
        let fills = [fill("public.bots.cipher=point(0,0)")];
        let resolved = resolve(&manifest, &columns, &fills, true).unwrap();
        assert_eq!(resolved.len(), 4);
        let hash = resolved
            .iter()
            .find(|f| f.column == "password_hash")
            .unwrap();
        assert!(
            hash.sql.ends_with("::character varying(60)"),
            "{}",
            hash.sql
        );
    }
}
